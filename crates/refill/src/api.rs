//! The HTTP API under /v1 (conventions.md): bearer keys, Idempotency-Key on every
//! POST, problem+json errors, cursor pagination, ETag/If-Match on settings.

use crate::errors::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use refill_domain::Currency;
use refill_domain::debit::DebitKind;
use refill_service::accounts::{Caller, NewAccount, NewTransfer};
use refill_service::auto_top_up::AutoTopUpRequest;
use refill_service::debit_pipeline::{DebitItem, DebitRequest};
use refill_service::recurring_fees::NewResource;
use refill_service::scheduled_recharge::ScheduledRechargeRequest;
use refill_service::top_ups::{NewPaymentMethod, NewTopUp};
use refill_service::{Idem, Refill, ServiceError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 256 * 1024;

#[derive(Clone)]
pub struct Api {
    pub app: Refill,
    pub metrics: Arc<Metrics>,
}

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub debits_accepted: AtomicU64,
    pub debits_refused: AtomicU64,
    pub top_ups: AtomicU64,
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub fn router(app: Refill) -> Router {
    let api = Api {
        app,
        metrics: Arc::new(Metrics::default()),
    };
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .route("/v1/accounts", post(create_account).get(list_accounts))
        .route("/v1/accounts/{id}", get(get_account))
        .route("/v1/accounts/{id}/keys", post(create_key))
        .route(
            "/v1/accounts/{id}/low-balance-notice",
            axum::routing::put(put_low_balance),
        )
        .route("/v1/accounts/{id}/entries", get(list_entries))
        .route("/v1/accounts/{id}/debits", post(post_debit))
        .route("/v1/accounts/{id}/debits/batch", post(post_batch))
        .route("/v1/accounts/{id}/estimate", post(estimate))
        .route(
            "/v1/accounts/{id}/payment-methods",
            post(add_payment_method).get(list_payment_methods),
        )
        .route(
            "/v1/accounts/{id}/payment-methods/{pm}",
            axum::routing::delete(remove_payment_method),
        )
        .route("/v1/accounts/{id}/checkout", post(checkout))
        .route(
            "/v1/accounts/{id}/top-ups",
            post(create_top_up).get(list_top_ups),
        )
        .route("/v1/top-ups/{id}", get(get_top_up))
        .route("/v1/top-ups/{id}/confirm", post(confirm_top_up))
        .route("/v1/transfers", post(create_transfer))
        .route(
            "/v1/accounts/{id}/auto-top-up",
            get(get_auto_top_up).put(put_auto_top_up),
        )
        .route("/v1/events", get(list_events))
        .merge(crate::notify_api::routes())
        .route(
            "/v1/accounts/{id}/resources",
            post(buy_resource).get(list_resources),
        )
        .route(
            "/v1/accounts/{id}/resources/{resource_id}",
            axum::routing::delete(remove_resource),
        )
        .route(
            "/v1/accounts/{id}/scheduled-recharge",
            get(get_scheduled_recharge)
                .put(put_scheduled_recharge)
                .delete(delete_scheduled_recharge),
        )
        .route(
            "/v1/accounts/{id}/payment-methods/{pm}/confirm",
            post(confirm_payment_method),
        )
        .route("/v1/webhooks/stripe", post(stripe_webhook))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_found",
                "no such route: see /v1/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .with_state(api)
}

// ---------------------------------------------------------------- plumbing

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Caller, ApiError> {
        api.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let key = value.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_api_key",
                "send your API key as Authorization: Bearer <key>",
            ));
        };
        api.app
            .authenticate(key)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_api_key",
                    "the API key is not valid",
                )
            })
    }
}

/// Reads the body, at most BODY_LIMIT bytes.
pub(crate) async fn read_body(req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {BODY_LIMIT} bytes"),
        )
    })?;
    Ok((parts.headers, bytes))
}

pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() {
            "invalid_json"
        } else {
            "invalid_request"
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("the request body is not valid: {e}"),
        )
    })
}

fn idem_of(
    headers: &HeaderMap,
    caller: &Caller,
    route: &str,
    body: &Bytes,
) -> Result<Option<Idem>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible characters",
            )
        })?;
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(body);
    Ok(Some(Idem {
        scope: caller.key_id().to_string(),
        key: key.to_string(),
        request_hash: hex::encode(h.finalize()),
    }))
}

fn replay(stored: refill_store::StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, stored.body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

async fn stored(api: &Api, idem: &Idem) -> Result<Option<Response>, ApiError> {
    let found = refill_store::get_idempotent(&api.app.db.pool, &idem.scope, &idem.key)
        .await
        .map_err(|e| ApiError::from(ServiceError::Store(e)))?;
    match found {
        Some(s) if s.request_hash == idem.request_hash => Ok(Some(replay(s))),
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request",
        )),
        None => Ok(None),
    }
}

/// Runs a POST with idempotency: a replay returns the stored response; a race with a
/// concurrent twin returns the twin's response.
pub(crate) async fn idempotent<T, F, Fut>(
    api: &Api,
    caller: &Caller,
    route: &str,
    headers: &HeaderMap,
    body: &Bytes,
    status: StatusCode,
    f: F,
) -> ApiResult
where
    T: serde::Serialize,
    F: FnOnce(Option<Idem>) -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let idem = idem_of(headers, caller, route, body)?;
    if let Some(i) = &idem
        && let Some(resp) = stored(api, i).await?
    {
        return Ok(resp);
    }
    match f(idem.clone()).await {
        Ok(v) => Ok((status, Json(v)).into_response()),
        Err(ServiceError::IdempotentReplay) if idem.is_some() => {
            match stored(api, idem.as_ref().unwrap()).await? {
                Some(resp) => Ok(resp),
                None => Err(ServiceError::IdempotentReplay.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// A POST that creates something: reads and parses the body, then runs `f` with
/// idempotency; answers 201.
pub(crate) async fn create<B, T, F, Fut>(
    api: &Api,
    caller: &Caller,
    req: Request,
    route: &str,
    f: F,
) -> ApiResult
where
    B: DeserializeOwned,
    T: serde::Serialize,
    F: FnOnce(B, Option<Idem>) -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let (headers, body) = read_body(req).await?;
    let new: B = parse(&body)?;
    idempotent(
        api,
        caller,
        route,
        &headers,
        &body,
        StatusCode::CREATED,
        |i| f(new, i),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    starting_after: Option<String>,
    account_id: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
}

fn list_params(
    q: &Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(&ListQuery, i64), ApiError> {
    let q = q
        .as_ref()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    Ok((&q.0, limit))
}

type Q = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

pub(crate) fn ok<T: serde::Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}

// ---------------------------------------------------------------- health

async fn readyz(State(api): State<Api>) -> Response {
    if api.app.db.ping().await {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database does not answer",
        )
        .into_response()
    }
}

async fn metrics(State(api): State<Api>) -> Response {
    let m = &api.metrics;
    let mut text = format!(
        "# TYPE refill_http_requests_total counter\nrefill_http_requests_total {}\n\
         # TYPE refill_debits_accepted_total counter\nrefill_debits_accepted_total {}\n\
         # TYPE refill_debits_refused_total counter\nrefill_debits_refused_total {}\n\
         # TYPE refill_top_ups_requested_total counter\nrefill_top_ups_requested_total {}\n\
         # TYPE refill_api_key_rereads_failed_total counter\nrefill_api_key_rereads_failed_total {}\n",
        m.requests.load(Ordering::Relaxed),
        m.debits_accepted.load(Ordering::Relaxed),
        m.debits_refused.load(Ordering::Relaxed),
        m.top_ups.load(Ordering::Relaxed),
        api.app.caches.rereads_failed.load(Ordering::Relaxed),
    );
    text.push_str(&delivery_metrics(&api.app).await);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// R28: deliveries made and failed by this node, and the backlog of all nodes.
async fn delivery_metrics(app: &Refill) -> String {
    let c = &app.counters;
    let mut text = format!(
        "# TYPE refill_notifications_delivered_total counter\nrefill_notifications_delivered_total {}\n\
         # TYPE refill_notification_attempts_failed_total counter\nrefill_notification_attempts_failed_total {}\n\
         # TYPE refill_notifications_dead_lettered_total counter\nrefill_notifications_dead_lettered_total {}\n",
        c.delivered.load(Ordering::Relaxed),
        c.failed_attempts.load(Ordering::Relaxed),
        c.dead.load(Ordering::Relaxed),
    );
    if let Ok(s) = refill_store::delivery_stats(&app.db.pool).await {
        let age = s.oldest_waiting.map_or(0, |t| (app.now() - t).max(0)) as f64 / 1000.0;
        text.push_str(&format!(
            "# TYPE refill_notifications_pending gauge\nrefill_notifications_pending {}\n\
             # TYPE refill_notifications_dead gauge\nrefill_notifications_dead {}\n\
             # TYPE refill_events_undispatched gauge\nrefill_events_undispatched {}\n\
             # TYPE refill_notification_backlog_age_seconds gauge\nrefill_notification_backlog_age_seconds {age}\n",
            s.pending, s.dead, s.undispatched_events
        ));
    }
    text
}

// ---------------------------------------------------------------- accounts

async fn create_account(State(api): State<Api>, caller: Caller, req: Request) -> ApiResult {
    let (app, c) = (&api.app, &caller);
    create(
        &api,
        c,
        req,
        "POST /v1/accounts",
        |new: NewAccount, i| async move { app.create_account(c, new, i.as_ref()).await },
    )
    .await
}

async fn list_accounts(State(api): State<Api>, caller: Caller, q: Q) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    ok(api
        .app
        .list_accounts(&caller, q.starting_after.as_deref(), limit)
        .await?)
}

async fn get_account(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let row = api.app.account(&caller, &id).await?;
    ok(refill_service::api_objects::AccountView::from(&row))
}

async fn create_key(State(api): State<Api>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let key = api.app.create_account_key(&caller, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"object": "api_key", "account_id": id, "key": key})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LowBalance {
    threshold: i64,
}

async fn put_low_balance(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (_, body) = read_body(req).await?;
    let lb: LowBalance = parse(&body)?;
    ok(api
        .app
        .set_low_balance_threshold(&caller, &id, lb.threshold)
        .await?)
}

async fn list_entries(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    q: Q,
) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    ok(api
        .app
        .entries(&caller, &id, q.starting_after.as_deref(), limit)
        .await?)
}

// ---------------------------------------------------------------- debits

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DebitBody {
    amount: i64,
    currency: Option<String>,
    kind: Option<String>,
    reference: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    currency: Option<String>,
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
    if b.reference.as_ref().is_some_and(|r| r.len() > 255) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_reference",
            "reference is at most 255 characters",
        ));
    }
    Ok(DebitItem {
        amount: b.amount,
        kind,
        reference: b.reference.clone(),
    })
}

fn currency(c: &Option<String>) -> Result<Option<Currency>, ApiError> {
    c.as_deref()
        .map(Currency::parse)
        .transpose()
        .map_err(|e| ServiceError::Domain(e).into())
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
    let result = idempotent(
        api,
        &caller,
        route,
        &headers,
        &body,
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
    let (headers, body) = read_body(req).await?;
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
    let (headers, body) = read_body(req).await?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EstimateBody {
    items: Vec<EstimateItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EstimateItem {
    quantity: i64,
    /// Price per unit in minor units (the rate card).
    unit_price: i64,
    description: Option<String>,
}

/// R7: the price of planned usage, the balance it would leave, the top-up it needs.
async fn estimate(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (_, body) = read_body(req).await?;
    let b: EstimateBody = parse(&body)?;
    let account = api.app.account(&caller, &id).await?;
    let lines: Vec<(i64, i64)> = b.items.iter().map(|i| (i.quantity, i.unit_price)).collect();
    let est = refill_domain::checkout::estimate(
        &lines,
        account.balance,
        account.credit_limit,
        api.app.config.limits.minimum_top_up,
    )
    .map_err(ServiceError::Domain)?;
    let described: Vec<_> = b.items.iter().map(|i| json!({"quantity": i.quantity, "unit_price": i.unit_price, "description": i.description})).collect();
    ok(
        json!({"object": "estimate", "account_id": id, "currency": account.currency, "items": described,
        "cost": est.cost, "balance": account.balance, "balance_after": est.balance_after,
        "sufficient": est.top_up_needed == 0, "top_up_needed": est.top_up_needed}),
    )
}

// ---------------------------------------------------------------- payment methods, top-ups

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
    ok(json!({"object": "list", "data": data, "has_more": false}))
}

async fn remove_payment_method(
    State(api): State<Api>,
    caller: Caller,
    Path((id, pm)): Path<(String, String)>,
) -> ApiResult {
    ok(api.app.remove_payment_method(&caller, &id, &pm).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutBody {
    amount: i64,
    currency: Option<String>,
}

async fn checkout(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (_, body) = read_body(req).await?;
    let b: CheckoutBody = parse(&body)?;
    let account = api.app.account(&caller, &id).await?;
    if let Some(c) = currency(&b.currency)?
        && c.code() != account.currency
    {
        return Err(
            ServiceError::Domain(refill_domain::DomainError::CurrencyMismatch {
                expected: account.currency,
                got: c.code().into(),
            })
            .into(),
        );
    }
    let s = api.app.checkout(&caller, &id, b.amount).await?;
    ok(
        json!({"object": "checkout", "account_id": id, "currency": account.currency, "amount": s.amount,
        "tax_rate_bps": s.tax_rate_bps, "tax": s.tax, "total": s.total}),
    )
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

// ---------------------------------------------------------------- auto top-up, events

async fn get_auto_top_up(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let view = api.app.get_auto_top_up(&caller, &id).await?;
    Ok(versioned(view.version, view))
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .unwrap_or("")
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    s.parse().map(Some).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_if_match",
            "If-Match takes the ETag of the settings, such as \"3\"",
        )
    })
}

async fn put_auto_top_up(
    State(api): State<Api>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult {
    let (headers, body) = read_body(req).await?;
    let new: AutoTopUpRequest = parse(&body)?;
    let version = if_match(&headers)?;
    let view = api.app.put_auto_top_up(&caller, &id, new, version).await?;
    Ok(versioned(view.version, view))
}

async fn list_events(State(api): State<Api>, caller: Caller, q: Q) -> ApiResult {
    let (q, limit) = list_params(&q)?;
    let root = match (&q.account_id, caller.root()) {
        (Some(a), _) => Some(api.app.account(&caller, a).await?.id),
        (None, r) => r.map(str::to_string),
    };
    let rows = refill_store::list_events(
        &api.app.db.pool,
        root.as_deref(),
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

// ---------------------------------------------------------------- recurring fees, scheduled recharges

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

/// A settings object (auto top-up, scheduled recharge) with its version as ETag (R16).
fn versioned<T: serde::Serialize>(version: i64, view: T) -> Response {
    let mut resp = Json(view).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
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
    let (headers, body) = read_body(req).await?;
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
// ---------------------------------------------------------------- Stripe

async fn confirm_payment_method(
    State(api): State<Api>,
    caller: Caller,
    Path((id, pm)): Path<(String, String)>,
) -> ApiResult {
    ok(api.app.confirm_payment_method(&caller, &id, &pm).await?)
}

/// Stripe's webhooks. No API key: the `Stripe-Signature` header, made with
/// REFILL_STRIPE_WEBHOOK_SECRET, authenticates the event. Any answer but 2xx makes
/// Stripe deliver the event again later (for up to three days).
async fn stripe_webhook(State(api): State<Api>, req: Request) -> ApiResult {
    api.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let (headers, body) = read_body(req).await?;
    // Without a secret no event can be verified: the endpoint is not there (a 4xx:
    // Stripe keeps the event and delivers it again once it is configured).
    let Some(secret) = api.app.config.stripe_webhook_secret.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_not_configured",
            "this server has no Stripe webhook secret: set REFILL_STRIPE_WEBHOOK_SECRET",
        ));
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    ok(api
        .app
        .receive_stripe_event(&body, signature, &secret.0)
        .await?)
}
