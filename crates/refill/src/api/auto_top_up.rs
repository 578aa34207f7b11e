//! The auto top-up settings of an account, with their state, last and next attempt
//! and why not (R12-R24); versioned, so a lost race answers 412 (R16).

use super::body::{parse, read_body};
use super::versioning::{if_match, versioned};
use super::{Api, ApiResult};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::routing::get;
use refill_service::accounts::Caller;
use refill_service::auto_top_up::AutoTopUpRequest;

pub(super) fn routes() -> Router<Api> {
    Router::new().route(
        "/v1/accounts/{id}/auto-top-up",
        get(get_auto_top_up).put(put_auto_top_up),
    )
}

async fn get_auto_top_up(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let view = api.app.get_auto_top_up(&caller, &id).await?;
    Ok(versioned(view.version, view))
}

async fn put_auto_top_up(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(&api, req).await?;
    let new: AutoTopUpRequest = parse(&body)?;
    let version = if_match(&headers)?;
    let view = api.app.put_auto_top_up(&caller, &id, new, version).await?;
    Ok(versioned(view.version, view))
}
