//! For operators and tooling: `/healthz` (the process is up), `/readyz` (the database
//! answers) and the OpenAPI document. None takes an API key.

use super::Api;
use super::problem::ApiError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(crate::openapi::served()) }),
        )
}

async fn readyz(State(api): State<Api>) -> Response {
    if api.app.db.ping().await {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database does not answer",
        )
        .into_response()
    }
}
