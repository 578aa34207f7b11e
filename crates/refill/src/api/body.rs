//! Request bodies: read with a size limit, parsed as JSON into the route's type.

use super::problem::ApiError;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use refill_domain::Currency;
use refill_service::ServiceError;
use serde::de::DeserializeOwned;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Reads the body, at most BODY_LIMIT bytes.
pub(super) async fn read_body(req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
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

pub(super) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if let Some(hint) = not_whole(&e) {
            return hint;
        }
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

/// R1: a number with a fraction where refill takes minor units (`9.99`): said so in
/// the caller's terms, not the parser's.
fn not_whole(e: &serde_json::Error) -> Option<ApiError> {
    let text = e.to_string();
    let number = text
        .strip_prefix("invalid type: floating point `")?
        .split('`')
        .next()?;
    Some(ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_amount",
        format!(
            "{number} is not a whole number: amounts are integers in the currency's minor \
             unit (send 999 for 9.99 GBP, 500 for 500 JPY, 1500 for 1.500 KWD)"
        ),
    ))
}

/// An optional `currency` field of a body, as a known ISO 4217 code.
pub(super) fn currency(c: &Option<String>) -> Result<Option<Currency>, ApiError> {
    c.as_deref()
        .map(Currency::parse)
        .transpose()
        .map_err(|e| ServiceError::Domain(e).into())
}
