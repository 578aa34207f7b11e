//! The HTTP API under /v1 (conventions.md): bearer keys, Idempotency-Key on every
//! POST, problem+json errors, cursor pagination, ETag/If-Match on settings.
//!
//! One module per resource, each with its routes; the request plumbing they share
//! (edge, text, auth, body, json, idempotency, pagination, versioning) and the
//! problem+json mapping (problem) beside them.

mod accounts;
mod auth;
mod auto_top_up;
mod body;
mod checkout;
mod debits;
mod edge;
mod events;
mod health;
mod idempotency;
mod json;
mod keys;
mod metrics;
mod notifications;
mod pagination;
mod payment_methods;
mod portal_sessions;
mod problem;
mod refunds;
mod resources;
mod scheduled_recharge;
mod stripe_webhook;
mod text;
mod top_ups;
mod transfers;
mod versioning;

pub use body::BODY_LIMIT;
pub(crate) use text::{AMOUNT_FIELDS, URL_PART_MAX, field_text_max};

/// The types of the bodies the routes read and answer that are the edge's own, for
/// the OpenAPI document.
pub(crate) mod types {
    pub(crate) use super::accounts::Close;
    pub(crate) use super::checkout::{CheckoutBody, CheckoutView, EstimateBody, EstimateView};
    pub(crate) use super::debits::{BatchBody, DebitBody};
    pub(crate) use super::notifications::{LowBalance, RedeliverBody};
    pub(crate) use super::stripe_webhook::StripeEvent;
}
pub use edge::Connection;
pub use metrics::Metrics;
pub use problem::ApiError;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use refill_service::Refill;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Api {
    pub app: Refill,
    pub metrics: Arc<Metrics>,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub fn router(app: Refill, body_timeout: Duration) -> Router {
    let api = Api {
        app,
        metrics: Arc::new(Metrics::default()),
        body_timeout,
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
        .merge(portal_sessions::routes())
        .merge(transfers::routes())
        .merge(auto_top_up::routes())
        .merge(events::routes())
        .merge(notifications::routes())
        .merge(resources::routes())
        .merge(scheduled_recharge::routes())
        .merge(stripe_webhook::routes())
        .fallback(|| async { route_not_found() })
        // After every route: it applies to the routes already there.
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        // Last: every route and fallback above passes the edge's checks first.
        .layer(axum::middleware::from_fn(edge::check))
        .with_state(api)
}

/// The answer to a route that is not there (or not there for this caller).
pub(crate) fn route_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "no such route: see /v1/openapi.json",
    )
}

/// 200 with `v` as JSON.
pub(crate) fn ok<T: serde::Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}
