//! Manual top-ups and their receipts (R8, R10), and the confirmation of one that
//! asked for 3-D Secure (R23).

use super::idempotency::create;
use super::pagination::{Listing, Q, check_cursor, list_params};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::routing::{get, post};
use refill_service::accounts::Caller;
use refill_service::top_ups::NewTopUp;
use std::sync::atomic::Ordering;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/v1/accounts/{id}/top-ups",
            post(create_top_up).get(list_top_ups),
        )
        .route("/v1/top-ups/{id}", get(get_top_up))
        .route("/v1/top-ups/{id}/confirm", post(confirm_top_up))
}

async fn create_top_up(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (app, c, route) = (&api.app, &caller, format!("POST top-ups {id}"));
    let requested = &api.metrics.top_ups;
    create(&api, c, req, &route, |new: NewTopUp, i| async move {
        requested.fetch_add(1, Ordering::Relaxed);
        app.top_up(c, &id, new, i.as_ref()).await
    })
    .await
}

async fn list_top_ups(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    q: Q,
) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    let after = q.starting_after.as_deref();
    check_cursor(&api, &caller, Listing::TopUps(&id), after).await?;
    ok(api
        .app
        .list_top_ups(&caller, &id, q.starting_after.as_deref(), limit)
        .await?)
}

async fn get_top_up(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    ok(api.app.get_top_up(&caller, &id).await?)
}

async fn confirm_top_up(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    ok(api.app.confirm_top_up(&caller, &id).await?)
}
