//! Debits: one (`{amount, kind, reference}`) or a batch, all or nothing (R6, R18).
//! Both go through the debit pipeline with the caller's idempotency key, which the
//! pipeline's write checks (no read of the key before it). A reference
//! is checked as all text is, at the edge (api::text: at most 255 characters).

use super::body::{currency, parse, read_body};
use super::idempotency::idempotent_write_first;
use super::problem::ApiError;
use super::{Api, ApiResult};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use refill_domain::Currency;
use refill_domain::debit::DebitKind;
use refill_service::accounts::Caller;
use refill_service::debit_pipeline::{DebitItem, DebitRequest};
use serde::Deserialize;
use std::sync::atomic::Ordering;

pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/accounts/{id}/debits", post(post_debit))
        .route("/v1/accounts/{id}/debits/batch", post(post_batch))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DebitBody {
    #[schemars(range(min = 1))]
    amount: i64,
    currency: Option<String>,
    /// What the debit pays for (default usage).
    #[schemars(extend("enum" = ["usage", "fee", null]))]
    kind: Option<String>,
    reference: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    currency: Option<String>,
    #[schemars(length(min = 1, max = 1000))]
    items: Vec<DebitBody>,
}

fn item(b: &DebitBody) -> Result<DebitItem, ApiError> {
    let kind = b.kind.as_deref().unwrap_or("usage");
    let kind = DebitKind::parse(kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_kind",
            format!("kind {kind:?} is not usage or fee"),
        )
    })?;
    Ok(DebitItem {
        amount: b.amount,
        kind,
        reference: b.reference.clone(),
    })
}

async fn debit(
    api: &Api,
    caller: Caller,
    id: String,
    headers: HeaderMap,
    body: Bytes,
    route: &str,
    (items, cur): (Vec<DebitItem>, Option<Currency>),
) -> ApiResult {
    api.app.check_account_access(&caller, &id).await?;
    let result = idempotent_write_first(
        api,
        &caller,
        route,
        (&headers, &body),
        StatusCode::CREATED,
        |idem| async move {
            api.app
                .debit_pipeline
                .post(DebitRequest {
                    account_id: id,
                    currency: cur,
                    items,
                    idem,
                })
                .await
        },
    )
    .await;
    let counter = if result.is_ok() {
        &api.metrics.debits_accepted
    } else {
        &api.metrics.debits_refused
    };
    counter.fetch_add(1, Ordering::Relaxed);
    result
}

async fn post_debit(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(&api, req).await?;
    let b: DebitBody = parse(&body)?;
    let (items, cur) = (vec![item(&b)?], currency(&b.currency)?);
    let route = format!("POST debits {id}");
    debit(&api, caller, id, headers, body, &route, (items, cur)).await
}

async fn post_batch(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(&api, req).await?;
    let b: BatchBody = parse(&body)?;
    if b.items.is_empty() || b.items.len() > 1_000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_batch",
            "a batch has 1 to 1000 items",
        ));
    }
    let items = b.items.iter().map(item).collect::<Result<Vec<_>, _>>()?;
    let cur = currency(&b.currency)?;
    let route = format!("POST debits/batch {id}");
    debit(&api, caller, id, headers, body, &route, (items, cur)).await
}
