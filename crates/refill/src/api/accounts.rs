//! Accounts and sub-accounts (R2, R4) and their ledger entries, newest first (R3);
//! an account's name and payer changed (R5, R22), and its closing (R4).

use super::body::{parse, read_body};
use super::idempotency::{create, idempotent, parsed_and_idempotent};
use super::pagination::{Listing, Q, check_cursor, list_params};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use refill_service::account_changes::AccountChanges;
use refill_service::accounts::{Caller, NewAccount};
use serde::Deserialize;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/accounts", post(create_account).get(list_accounts))
        .route("/v1/accounts/{id}", get(get_account).patch(update_account))
        .route("/v1/accounts/{id}/close", post(close_account))
        .route("/v1/accounts/{id}/entries", get(list_entries))
}

async fn create_account(State(api): State<Api>, caller: Caller, req: Request) -> ApiResult {
    let (app, c) = (&api.app, &caller);
    create(
        &api,
        c,
        req,
        "POST /v1/accounts",
        |new: NewAccount, i| async move { app.create_account(c, new, i.as_ref()).await },
    )
    .await
}

async fn list_accounts(State(api): State<Api>, caller: Caller, q: Q) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    let after = q.starting_after.as_deref();
    check_cursor(&api, &caller, Listing::Accounts, after).await?;
    ok(api
        .app
        .list_accounts(&caller, q.starting_after.as_deref(), limit)
        .await?)
}

async fn get_account(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let row = api.app.account(&caller, &id).await?;
    ok(refill_service::api_objects::AccountView::from(&row))
}

/// A JSON merge patch of the name and the payer, with Idempotency-Key as a POST.
async fn update_account(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (app, c, route) = (&api.app, &caller, format!("PATCH /v1/accounts/{id}"));
    let status = StatusCode::OK;
    parsed_and_idempotent(
        &api,
        c,
        req,
        &route,
        status,
        |changes: AccountChanges, i| async move {
            app.update_account(c, &id, changes, i.as_ref()).await
        },
    )
    .await
}

/// Closing takes no options: an empty body, or `{}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Close {}

/// A POST, not a DELETE: the account is not deleted; it stays readable, closed.
async fn close_account(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(&api, req).await?;
    if !body.is_empty() {
        parse::<Close>(&body)?;
    }
    let (app, c, route) = (&api.app, &caller, format!("POST /v1/accounts/{id}/close"));
    idempotent(
        &api,
        c,
        &route,
        &headers,
        &body,
        StatusCode::OK,
        |i| async move { app.close_account(c, &id, i.as_ref()).await },
    )
    .await
}

async fn list_entries(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    q: Q,
) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    let after = q.starting_after.as_deref();
    check_cursor(&api, &caller, Listing::Entries(&id), after).await?;
    ok(api
        .app
        .entries(&caller, &id, q.starting_after.as_deref(), limit)
        .await?)
}
