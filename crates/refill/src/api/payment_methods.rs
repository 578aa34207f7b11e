//! Saved cards, by gateway token (R5), and the confirmation of a card whose saving
//! asked for 3-D Secure (R14).

use super::idempotency::create;
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::routing::{delete, post};
use refill_service::accounts::Caller;
use refill_service::api_objects::Page;
use refill_service::top_ups::NewPaymentMethod;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/v1/accounts/{id}/payment-methods",
            post(add_payment_method).get(list_payment_methods),
        )
        .route(
            "/v1/accounts/{id}/payment-methods/{pm}",
            delete(remove_payment_method),
        )
        .route(
            "/v1/accounts/{id}/payment-methods/{pm}/confirm",
            post(confirm_payment_method),
        )
}

async fn add_payment_method(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (app, c, route) = (&api.app, &caller, format!("POST pm {id}"));
    create(&api, c, req, &route, |new: NewPaymentMethod, i| async move {
        app.add_payment_method(c, &id, new, i.as_ref()).await
    })
    .await
}

async fn list_payment_methods(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let data = api.app.payment_methods(&caller, &id).await?;
    ok(Page::whole(data))
}

async fn remove_payment_method(
    State(api): State<Api>,
    caller: Caller,
    Path((id, pm)): Path<(String, String)>,
) -> ApiResult {
    ok(api.app.remove_payment_method(&caller, &id, &pm).await?)
}

async fn confirm_payment_method(
    State(api): State<Api>,
    caller: Caller,
    Path((id, pm)): Path<(String, String)>,
) -> ApiResult {
    ok(api.app.confirm_payment_method(&caller, &id, &pm).await?)
}
