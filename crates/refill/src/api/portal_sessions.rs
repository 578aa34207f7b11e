//! Sessions of the customer page: created for an account (by the operator or an
//! account key of its tree), read, revoked. The page itself is `crate::portal`.

use super::idempotency::create;
use super::{Api, ApiResult, ok};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use refill_service::accounts::Caller;
use refill_service::portal_sessions::NewPortalSession;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/portal-sessions", post(create_session))
        .route(
            "/v1/portal-sessions/{id}",
            get(get_session).delete(revoke_session),
        )
}

/// Where the one-time link points: the configured public address, else the Host
/// this request was sent to.
fn base_url(api: &Api, headers: &HeaderMap) -> String {
    if let Some(url) = &api.app.config.portal.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

async fn create_session(State(api): State<Api>, caller: Caller, req: Request) -> ApiResult {
    let base = base_url(&api, req.headers());
    let (app, c) = (&api.app, &caller);
    create(
        &api,
        c,
        req,
        "POST portal-sessions",
        |new: NewPortalSession, i| {
            let base = base.clone();
            async move { app.create_portal_session(c, new, &base, i.as_ref()).await }
        },
    )
    .await
}

async fn get_session(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    ok(api.app.get_portal_session(&caller, &id).await?)
}

async fn revoke_session(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    ok(api.app.revoke_portal_session(&caller, &id).await?)
}
