//! The events of the caller's accounts, newest first, by account and type (R26):
//! `account_id` alone is that account's own events; `include=sub_accounts` adds its
//! sub-accounts'. Without `account_id`: everything the key sees (an account key, its
//! account and its sub-accounts). An unknown `type` is refused, not read as "none".

use super::pagination::{Include, Listing, Q, check_cursor, list_params};
use super::problem::ApiError;
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use refill_domain::events::EventType;
use refill_service::ServiceError;
use refill_service::accounts::Caller;
use refill_store::EventsOf;

pub(super) fn routes() -> Router<Api> {
    Router::new().route("/v1/events", get(list_events))
}

async fn list_events(State(api): State<Api>, caller: Caller, q: Q) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    if let Some(t) = &q.event_type
        && t.parse::<EventType>().is_err()
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_event_type",
            format!("type {t:?} is not an event type (see EventType in /v1/openapi.json)"),
        ));
    }
    let account = match &q.account_id {
        Some(a) => Some(api.app.account(&caller, a).await?.id),
        None => None,
    };
    let of = match (&account, q.include, caller.root()) {
        (Some(a), None, _) => EventsOf::Account(a),
        (Some(a), Some(Include::SubAccounts), _) => EventsOf::Tree(a),
        (None, _, Some(root)) => EventsOf::Tree(root),
        (None, _, None) => EventsOf::All,
    };
    let after = q.starting_after.as_deref();
    let root = match &of {
        EventsOf::Account(a) | EventsOf::Tree(a) => Some(*a),
        EventsOf::All => None,
    };
    check_cursor(&api, &caller, Listing::Events(root), after).await?;
    let rows = refill_store::list_events(
        &api.app.db.pool,
        of,
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
