//! The scheduled recharge of an account (R30); versioned like the auto top-up
//! settings (R16).

use super::body::{parse, read_body};
use super::versioning::{if_match, versioned};
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::routing::get;
use refill_service::accounts::Caller;
use refill_service::scheduled_recharge::ScheduledRechargeRequest;

pub(super) fn routes() -> Router<Api> {
    Router::new().route(
        "/v1/accounts/{id}/scheduled-recharge",
        get(get_scheduled_recharge)
            .put(put_scheduled_recharge)
            .delete(delete_scheduled_recharge),
    )
}

async fn get_scheduled_recharge(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let view = api.app.get_scheduled_recharge(&caller, &id).await?;
    Ok(versioned(view.version, view))
}

async fn put_scheduled_recharge(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(&api, req).await?;
    let new: ScheduledRechargeRequest = parse(&body)?;
    let version = if_match(&headers)?;
    let view = api
        .app
        .put_scheduled_recharge(&caller, &id, new, version)
        .await?;
    Ok(versioned(view.version, view))
}

async fn delete_scheduled_recharge(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    ok(api.app.delete_scheduled_recharge(&caller, &id).await?)
}
