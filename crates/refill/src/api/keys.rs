//! API keys for one account and its sub-accounts (an operator makes them).

use super::{Api, ApiResult};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use refill_service::accounts::Caller;
use serde_json::json;

pub(super) fn routes() -> Router<Api> {
    Router::new().route("/v1/accounts/{id}/keys", post(create_key))
}

async fn create_key(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let key = api.app.create_account_key(&caller, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"object": "api_key", "account_id": id, "key": key})),
    )
        .into_response())
}
