//! `Idempotency-Key` on every POST: a replay returns the stored response with the same
//! status; the same key with another body is refused (409 idempotency_key_reused).

use super::body::{parse, read_body};
use super::problem::ApiError;
use super::{Api, ApiResult};
use axum::Json;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use refill_service::accounts::Caller;
use refill_service::{Idem, ServiceError};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// The caller's idempotency key, if the request has one, with the hash of the route
/// and body that a replay must match.
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
        .filter(|k| !k.is_empty() && k.len() <= 255 && !k.contains(char::is_control))
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

/// The response kept under `idem`'s key, if any: replayed when the request is the
/// same, refused (409) when the key was used with another request.
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
pub(super) async fn idempotent<T, F, Fut>(
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

/// `idempotent` without reading the key first, for a write that keeps its response
/// under the key in its own transaction and is refused when the key is taken
/// (`IdempotentReplay`): the debit pipeline. The key is read only when the write did
/// not apply, whatever refused it: a replay, or a key used with another body, is
/// then answered as `idempotent` answers it (a replayed debit that the balance could
/// no longer pay gets its stored answer, not the refusal).
pub(super) async fn idempotent_write_first<T, F, Fut>(
    api: &Api,
    caller: &Caller,
    route: &str,
    (headers, body): (&HeaderMap, &Bytes),
    status: StatusCode,
    f: F,
) -> ApiResult
where
    T: serde::Serialize,
    F: FnOnce(Option<Idem>) -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let idem = idem_of(headers, caller, route, body)?;
    let refused = match f(idem.clone()).await {
        Ok(v) => return Ok((status, Json(v)).into_response()),
        Err(e) => e,
    };
    let Some(idem) = idem else {
        return Err(refused.into());
    };
    match stored(api, &idem).await {
        Ok(Some(resp)) => Ok(resp),
        Err(reused) if reused.code == "idempotency_key_reused" => Err(reused),
        // No kept response (or none readable): the write's own refusal.
        _ => Err(refused.into()),
    }
}

/// A POST that creates something: reads and parses the body, then runs `f` with
/// idempotency; answers 201.
pub(super) async fn create<B, T, F, Fut>(
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
    parsed_and_idempotent(api, caller, req, route, StatusCode::CREATED, f).await
}

/// Reads and parses the body, then runs `f` with idempotency; answers `status`.
pub(super) async fn parsed_and_idempotent<B, T, F, Fut>(
    api: &Api,
    caller: &Caller,
    req: Request,
    route: &str,
    status: StatusCode,
    f: F,
) -> ApiResult
where
    B: DeserializeOwned,
    T: serde::Serialize,
    F: FnOnce(B, Option<Idem>) -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    let (headers, body) = read_body(api, req).await?;
    let parsed: B = parse(&body)?;
    idempotent(api, caller, route, &headers, &body, status, |i| {
        f(parsed, i)
    })
    .await
}
