//! The notification routes (R26-R28): preferences, the low-balance notice, webhook
//! endpoints, deliveries and replays.

use super::body::{parse, read_body};
use super::idempotency::{create, idempotent};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use refill_service::accounts::Caller;
use refill_service::api_objects::Page;
use refill_service::notifications::{NewWebhookEndpoint, NotificationSettingsUpdate};
use serde::Deserialize;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/accounts/{id}/low-balance-notice", put(put_low_balance))
        .route(
            "/v1/accounts/{id}/notification-settings",
            get(get_settings).put(put_settings),
        )
        .route(
            "/v1/webhook-endpoints",
            post(create_endpoint).get(list_endpoints),
        )
        .route("/v1/webhook-endpoints/{id}", delete(remove_endpoint))
        .route("/v1/events/{id}/deliveries", get(list_deliveries))
        .route("/v1/events/{id}/redeliver", post(redeliver))
}

async fn get_settings(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    ok(api.app.notification_settings(&caller, &id).await?)
}

async fn put_settings(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (_, body) = read_body(&api, req).await?;
    let update: NotificationSettingsUpdate = parse(&body)?;
    ok(api
        .app
        .put_notification_settings(&caller, &id, update)
        .await?)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LowBalance {
    #[schemars(range(min = 0))]
    threshold: i64,
}

/// R27: the low-balance notice's own threshold (0 turns it off).
async fn put_low_balance(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (_, body) = read_body(&api, req).await?;
    let lb: LowBalance = parse(&body)?;
    ok(api
        .app
        .set_low_balance_threshold(&caller, &id, lb.threshold)
        .await?)
}

async fn create_endpoint(State(api): State<Api>, caller: Caller, req: Request) -> ApiResult {
    let app = api.app.clone();
    let c = caller.clone();
    create(
        &api,
        &caller,
        req,
        "webhook-endpoints",
        |new: NewWebhookEndpoint, idem| async move {
            app.create_webhook_endpoint(&c, new, idem.as_ref()).await
        },
    )
    .await
}

async fn list_endpoints(State(api): State<Api>, caller: Caller) -> ApiResult {
    let data = api.app.list_webhook_endpoints(&caller).await?;
    ok(Page::whole(data))
}

async fn remove_endpoint(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    api.app.remove_webhook_endpoint(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_deliveries(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    ok(api.app.deliveries(&caller, &id).await?)
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedeliverBody {
    /// Only the dead-lettered deliveries (default: every delivery of the event).
    only_dead: Option<bool>,
}

async fn redeliver(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(&api, req).await?;
    let r: RedeliverBody = if body.is_empty() {
        RedeliverBody::default()
    } else {
        parse(&body)?
    };
    let route = format!("events/{id}/redeliver");
    let only_dead = r.only_dead.unwrap_or(false);
    let (app, c) = (api.app.clone(), caller.clone());
    idempotent(
        &api,
        &caller,
        &route,
        &headers,
        &body,
        StatusCode::OK,
        |idem| async move { app.redeliver(&c, &id, only_dead, idem.as_ref()).await },
    )
    .await
}
