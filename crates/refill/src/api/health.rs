//! For operators and tooling: `/healthz` (the process is up), `/readyz` (the database
//! answers), the OpenAPI document and its reference page (`/docs`, its style sheet
//! beside it: the page runs no script and loads nothing from elsewhere, which its
//! Content-Security-Policy enforces). None takes an API key.

use super::Api;
use super::problem::ApiError;
use axum::extract::State;
use axum::http::{StatusCode, header};
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
        .route("/docs", get(reference))
        .route("/docs/style.css", get(style))
}

/// Only this origin's style sheet; no script, frame, form or image.
const DOCS_POLICY: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

fn page(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, DOCS_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, body).into_response()
}

async fn reference() -> Response {
    page("text/html; charset=utf-8", crate::openapi::reference_page())
}

async fn style() -> Response {
    page("text/css; charset=utf-8", crate::openapi::html::STYLE)
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
