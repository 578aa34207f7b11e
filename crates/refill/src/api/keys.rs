//! API keys: made for an account (by the operator), listed, revoked, rotated. An
//! account key manages the keys of its own tree.

use super::body::{parse, read_body};
use super::idempotency::idempotent;
use super::pagination::{Q, list_params};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use refill_service::accounts::Caller;
use refill_service::api_keys::{NewApiKey, Rotation};
use serde::de::DeserializeOwned;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/accounts/{id}/keys", post(create_key))
        .route("/v1/keys", get(list_keys))
        .route("/v1/keys/{id}", delete(revoke_key))
        .route("/v1/keys/{id}/rotate", post(rotate_key))
}

/// A body that may be left out: none is the defaults.
fn parse_or_default<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, super::ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(body)
}

async fn create_key(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(&api, req).await?;
    let new: NewApiKey = parse_or_default(&body)?;
    let (app, c, route) = (&api.app, &caller, format!("POST keys {id}"));
    idempotent(
        &api,
        c,
        &route,
        &headers,
        &body,
        StatusCode::CREATED,
        |i| async move { app.create_account_key(c, &id, new, i.as_ref()).await },
    )
    .await
}

async fn list_keys(State(api): State<Api>, caller: Caller, q: Q) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    ok(api
        .app
        .list_keys(&caller, q.starting_after.as_deref(), limit)
        .await?)
}

async fn revoke_key(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    ok(api.app.revoke_key(&caller, &id).await?)
}

async fn rotate_key(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(&api, req).await?;
    let rotation: Rotation = parse_or_default(&body)?;
    let (app, c, route) = (&api.app, &caller, format!("POST rotate {id}"));
    idempotent(
        &api,
        c,
        &route,
        &headers,
        &body,
        StatusCode::OK,
        |i| async move { app.rotate_key(c, &id, rotation, i.as_ref()).await },
    )
    .await
}
