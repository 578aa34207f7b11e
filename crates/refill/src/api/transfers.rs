//! Transfers of credit between a main account and its sub-account (R18: a transfer
//! never triggers an auto top-up).

use super::idempotency::create;
use super::{Api, ApiResult};
use axum::Router;
use axum::extract::{Request, State};
use axum::routing::post;
use refill_service::accounts::{Caller, NewTransfer};

pub(super) fn routes() -> Router<Api> {
    Router::new().route("/v1/transfers", post(create_transfer))
}

async fn create_transfer(State(api): State<Api>, caller: Caller, req: Request) -> ApiResult {
    let (app, c) = (&api.app, &caller);
    create(
        &api,
        c,
        req,
        "POST /v1/transfers",
        |new: NewTransfer, i| async move { app.transfer(c, new, i.as_ref()).await },
    )
    .await
}
