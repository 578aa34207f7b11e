//! The ceiling: what the HTTP stack, the key check and the JSON cost without the
//! store. A route of the bench's own server only (`refill serve` never has it):
//! an authenticated debit-sized JSON request, parsed, answered 201 with a debit's
//! answer made up in memory, the same shape and size as the real one. The phases
//! are read as shares of its rate: what the store and the pipeline take.

use crate::api::{Api, Metrics};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use refill_service::Refill;
use refill_service::accounts::Caller;
use refill_service::debit_pipeline::{DebitLine, DebitResult};
use serde::Deserialize;
use std::sync::Arc;

/// The ceiling's path (`{id}`: the hot account, as a debit's).
pub fn path(account: &str) -> String {
    format!("/bench/accounts/{account}/debits")
}

/// refill's API with the ceiling's route merged in.
pub fn router(app: Refill, body_timeout: std::time::Duration) -> Router {
    let api = Api {
        app: app.clone(),
        metrics: Arc::new(Metrics::default()),
        body_timeout,
    };
    let ceiling = Router::new()
        .route(&path("{id}"), post(answer))
        .with_state(api);
    crate::api::router(app, body_timeout).merge(ceiling)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DebitBody {
    amount: i64,
}

/// Checks the key (the `Caller` extractor, as every route), reads and parses the
/// body, and answers what a debit of it would.
async fn answer(_: State<Api>, _: Caller, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(debit) = serde_json::from_slice::<DebitBody>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let now = refill_store::wall_clock_ms();
    let answer = DebitResult {
        object: "debit",
        account_id: id,
        currency: "GBP".into(),
        total: debit.amount,
        balance_after: 99_999_999_999_999,
        items: vec![DebitLine {
            entry_id: refill_store::new_id("ent"),
            amount: debit.amount,
            kind: "usage",
            reference: None,
            balance_after: 99_999_999_999_999,
        }],
        created: refill_service::api_objects::rfc3339(now),
    };
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}
