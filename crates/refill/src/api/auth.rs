//! Who is calling: the API key of `Authorization: Bearer <key>`, checked against the
//! stored (hashed) keys. Every authenticated route takes a `Caller`. The header is
//! read strictly (RFC 6750): the scheme, one space, the key, nothing else; another
//! scheme reads as no key, a malformed Bearer is refused (400).

use super::Api;
use super::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use refill_service::accounts::Caller;
use std::sync::atomic::Ordering;

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Caller, ApiError> {
        api.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let key = bearer(&parts.headers)?;
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

/// The key of the (one, api::edge) Authorization header.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_api_key",
            "send your API key as Authorization: Bearer <key>",
        )
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| malformed())?;
    // The scheme ends at the first blank; a Bearer takes exactly one space after it.
    let scheme_end = value.find([' ', '\t']).unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    let key = value[scheme_end..]
        .strip_prefix(' ')
        .ok_or_else(malformed)?;
    let body = key.trim_end_matches('=');
    if body.is_empty() || !body.bytes().all(is_token68) || key.len() > 255 {
        return Err(malformed());
    }
    Ok(key)
}

/// RFC 6750's b64token, less the '=' that may only end it.
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

fn malformed() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_authorization",
        "the Authorization header is not `Bearer <key>` (one space, then the key alone)",
    )
}
