//! Refunds of top-ups (R31): asked for by an account key or the operator, approved
//! (possibly for less) or rejected by the operator, then followed at the gateway.

use super::body::{parse, read_body};
use super::idempotency::{create, idempotent};
use super::pagination::{Listing, Q, check_cursor, list_params};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use refill_service::accounts::Caller;
use refill_service::refunds::{ApproveRefund, NewRefund, RefundQuery, RejectRefund};
use serde::de::DeserializeOwned;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/top-ups/{id}/refunds", post(request_refund))
        .route("/v1/refunds", get(list_refunds))
        .route("/v1/refunds/{id}", get(get_refund))
        .route("/v1/refunds/{id}/approve", post(approve_refund))
        .route("/v1/refunds/{id}/reject", post(reject_refund))
}

async fn request_refund(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (app, c, route) = (&api.app, &caller, format!("POST refunds of {id}"));
    create(&api, c, req, &route, |new: NewRefund, i| async move {
        app.request_refund(c, &id, new, i.as_ref()).await
    })
    .await
}

/// A decision's body; an empty body is `{}` (approve all that was asked).
async fn decision<B: DeserializeOwned + Default>(
    api: &Api,
    req: Request,
) -> Result<(axum::http::HeaderMap, axum::body::Bytes, B), super::ApiError> {
    let (headers, body) = read_body(api, req).await?;
    let parsed = match body.iter().all(u8::is_ascii_whitespace) {
        true => B::default(),
        false => parse(&body)?,
    };
    Ok((headers, body, parsed))
}

async fn approve_refund(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body, b) = decision::<ApproveRefund>(&api, req).await?;
    let (app, c, route) = (&api.app, &caller, format!("POST approve {id}"));
    idempotent(
        &api,
        c,
        &route,
        &headers,
        &body,
        StatusCode::OK,
        |i| async move { app.approve_refund(c, &id, b, i.as_ref()).await },
    )
    .await
}

async fn reject_refund(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body, b) = decision::<RejectRefund>(&api, req).await?;
    let (app, c, route) = (&api.app, &caller, format!("POST reject {id}"));
    idempotent(
        &api,
        c,
        &route,
        &headers,
        &body,
        StatusCode::OK,
        |i| async move { app.reject_refund(c, &id, b, i.as_ref()).await },
    )
    .await
}

async fn get_refund(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    ok(api.app.get_refund(&caller, &id).await?)
}

async fn list_refunds(State(api): State<Api>, caller: Caller, q: Q) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    let cursor = q.starting_after.as_deref();
    check_cursor(&api, &caller, Listing::Refunds, cursor).await?;
    let query = RefundQuery {
        status: q.status.clone(),
        account_id: q.account_id.clone(),
        starting_after: q.starting_after.clone(),
        limit,
    };
    ok(api.app.list_refunds(&caller, &query).await?)
}
