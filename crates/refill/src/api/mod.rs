//! The HTTP API under /v1 (conventions.md): bearer keys, Idempotency-Key on every
//! POST, problem+json errors, cursor pagination, ETag/If-Match on settings.
//!
//! One module per resource, each with its routes; the request plumbing they share
//! (auth, body, idempotency, pagination, versioning) and the problem+json mapping
//! (problem) beside them.

mod accounts;
mod auth;
mod auto_top_up;
mod body;
mod checkout;
mod debits;
mod events;
mod health;
mod idempotency;
mod keys;
mod metrics;
mod notifications;
mod pagination;
mod payment_methods;
mod problem;
mod refunds;
mod resources;
mod scheduled_recharge;
mod stripe_webhook;
mod top_ups;
mod transfers;
mod versioning;

pub use body::BODY_LIMIT;
pub use metrics::Metrics;
pub use problem::ApiError;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use refill_service::Refill;
use std::sync::Arc;

#[derive(Clone)]
pub struct Api {
    pub app: Refill,
    pub metrics: Arc<Metrics>,
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub fn router(app: Refill) -> Router {
    let api = Api {
        app,
        metrics: Arc::new(Metrics::default()),
    };
    Router::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(accounts::routes())
        .merge(keys::routes())
        .merge(debits::routes())
        .merge(checkout::routes())
        .merge(payment_methods::routes())
        .merge(top_ups::routes())
        .merge(refunds::routes())
        .merge(transfers::routes())
        .merge(auto_top_up::routes())
        .merge(events::routes())
        .merge(notifications::routes())
        .merge(resources::routes())
        .merge(scheduled_recharge::routes())
        .merge(stripe_webhook::routes())
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_found",
                "no such route: see /v1/openapi.json",
            )
        })
        // After every route: it applies to the routes already there.
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .with_state(api)
}

/// 200 with `v` as JSON.
pub(crate) fn ok<T: serde::Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}
