//! The events of the caller's accounts, newest first, by account and type (R26).

use super::pagination::{Q, list_params};
use super::problem::ApiError;
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use refill_service::ServiceError;
use refill_service::accounts::Caller;

pub(super) fn routes() -> Router<Api> {
    Router::new().route("/v1/events", get(list_events))
}

async fn list_events(State(api): State<Api>, caller: Caller, q: Q) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    let root = match (&q.account_id, caller.root()) {
        (Some(a), _) => Some(api.app.account(&caller, a).await?.id),
        (None, r) => r.map(str::to_string),
    };
    let rows = refill_store::list_events(
        &api.app.db.pool,
        root.as_deref(),
        q.event_type.as_deref(),
        q.starting_after.as_deref(),
        limit + 1,
    )
    .await
    .map_err(|e| ApiError::from(ServiceError::Store(e)))?;
    ok(refill_service::api_objects::Page::from_rows(
        rows,
        limit,
        |r| refill_service::api_objects::EventView::from(r),
    ))
}
