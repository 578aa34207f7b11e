//! Recurring-fee resources (a dedicated number): bought, listed and removed (R17);
//! their fees are deducted from the balance each period (R29).

use super::idempotency::create;
use super::pagination::{Listing, Q, check_cursor, list_params};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::routing::{delete, post};
use refill_service::accounts::Caller;
use refill_service::recurring_fees::NewResource;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/v1/accounts/{id}/resources",
            post(buy_resource).get(list_resources),
        )
        .route(
            "/v1/accounts/{id}/resources/{resource_id}",
            delete(remove_resource),
        )
}

async fn buy_resource(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (app, c, route) = (&api.app, &caller, format!("POST resources {id}"));
    create(&api, c, req, &route, |new: NewResource, i| async move {
        app.buy_resource(c, &id, new, i.as_ref()).await
    })
    .await
}

async fn list_resources(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    q: Q,
) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    let after = q.starting_after.as_deref();
    check_cursor(&api, &caller, Listing::Resources(&id), after).await?;
    ok(api
        .app
        .list_resources(&caller, &id, q.starting_after.as_deref(), limit)
        .await?)
}

async fn remove_resource(
    State(api): State<Api>,
    caller: Caller,
    Path((id, resource_id)): Path<(String, String)>,
) -> ApiResult {
    ok(api.app.remove_resource(&caller, &id, &resource_id).await?)
}
