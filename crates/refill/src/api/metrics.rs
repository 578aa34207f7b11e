//! `/metrics` in Prometheus' text format: this node's request and debit counters, its
//! notification deliveries, and the backlog of all nodes. For the operator key only
//! (the counters span every tenant): without a key 401, with an account key the
//! route is not there (404).

use super::Api;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use refill_service::Refill;
use refill_service::accounts::Caller;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters the API keeps itself.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub debits_accepted: AtomicU64,
    pub debits_refused: AtomicU64,
    pub top_ups: AtomicU64,
}

pub(super) fn routes() -> Router<Api> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(api): State<Api>, caller: Caller) -> Response {
    if !caller.is_operator() {
        return super::route_not_found().into_response();
    }
    let m = &api.metrics;
    let mut text = format!(
        "# TYPE refill_http_requests_total counter\nrefill_http_requests_total {}\n\
         # TYPE refill_debits_accepted_total counter\nrefill_debits_accepted_total {}\n\
         # TYPE refill_debits_refused_total counter\nrefill_debits_refused_total {}\n\
         # TYPE refill_top_ups_requested_total counter\nrefill_top_ups_requested_total {}\n\
         # TYPE refill_api_key_rereads_failed_total counter\nrefill_api_key_rereads_failed_total {}\n\
         # TYPE refill_gateway_requests_rejected_total counter\nrefill_gateway_requests_rejected_total {}\n",
        m.requests.load(Ordering::Relaxed),
        m.debits_accepted.load(Ordering::Relaxed),
        m.debits_refused.load(Ordering::Relaxed),
        m.top_ups.load(Ordering::Relaxed),
        api.app.caches.rereads_failed.load(Ordering::Relaxed),
        // R23: requests the gateway refused as malformed: an operator's error.
        refill_gateway::rejected_requests(),
    );
    text.push_str(&delivery_metrics(&api.app).await);
    // R14: verification charges whose refund the gateway failed, still owed.
    if let Ok(n) = refill_store::count_failing_verification_refunds(&api.app.db.pool).await {
        text.push_str(&format!(
            "# TYPE refill_verification_refunds_failing gauge\nrefill_verification_refunds_failing {n}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// R28: deliveries made and failed by this node, and the backlog of all nodes.
async fn delivery_metrics(app: &Refill) -> String {
    let c = &app.counters;
    let mut text = format!(
        "# TYPE refill_notifications_delivered_total counter\nrefill_notifications_delivered_total {}\n\
         # TYPE refill_notification_attempts_failed_total counter\nrefill_notification_attempts_failed_total {}\n\
         # TYPE refill_notifications_dead_lettered_total counter\nrefill_notifications_dead_lettered_total {}\n",
        c.delivered.load(Ordering::Relaxed),
        c.failed_attempts.load(Ordering::Relaxed),
        c.dead.load(Ordering::Relaxed),
    );
    if let Ok(s) = refill_store::delivery_stats(&app.db.pool).await {
        let age = s.oldest_waiting.map_or(0, |t| (app.now() - t).max(0)) as f64 / 1000.0;
        text.push_str(&format!(
            "# TYPE refill_notifications_pending gauge\nrefill_notifications_pending {}\n\
             # TYPE refill_notifications_dead gauge\nrefill_notifications_dead {}\n\
             # TYPE refill_events_undispatched gauge\nrefill_events_undispatched {}\n\
             # TYPE refill_notification_backlog_age_seconds gauge\nrefill_notification_backlog_age_seconds {age}\n",
            s.pending, s.dead, s.undispatched_events
        ));
    }
    text
}
