//! Accounts and sub-accounts (R2, R4) and their ledger entries, newest first (R3).

use super::idempotency::create;
use super::pagination::{Listing, Q, check_cursor, list_params};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::routing::{get, post};
use refill_service::accounts::{Caller, NewAccount};

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/accounts", post(create_account).get(list_accounts))
        .route("/v1/accounts/{id}", get(get_account))
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
