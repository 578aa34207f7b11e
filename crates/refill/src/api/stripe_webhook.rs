//! Stripe's webhooks. No API key: the `Stripe-Signature` header, made with
//! REFILL_STRIPE_WEBHOOK_SECRET, authenticates the event. Any answer but 2xx makes
//! Stripe deliver the event again later (for up to three days).

use super::body::read_body;
use super::problem::ApiError;
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::atomic::Ordering;

/// A Stripe event as Stripe signs and sends it: the handler verifies the signature of
/// the raw body before it reads it (this type is its schema).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub(crate) struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
    data: serde_json::Map<String, serde_json::Value>,
}

pub(super) fn routes() -> Router<Api> {
    Router::new().route("/v1/webhooks/stripe", post(stripe_webhook))
}

async fn stripe_webhook(State(api): State<Api>, req: Request) -> ApiResult {
    api.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let (headers, body) = read_body(&api, req).await?;
    // Without a secret no event can be verified: the endpoint is not there (a 4xx:
    // Stripe keeps the event and delivers it again once it is configured).
    let Some(secret) = api.app.config.stripe_webhook_secret.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_not_configured",
            "this server has no Stripe webhook secret: set REFILL_STRIPE_WEBHOOK_SECRET",
        ));
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    ok(api
        .app
        .receive_stripe_event(&body, signature, &secret.0)
        .await?)
}
