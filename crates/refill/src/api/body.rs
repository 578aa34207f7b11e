//! Request bodies: read with a size limit and a time limit, parsed as JSON, checked
//! (api::text), then read into the route's type (api::json).

use super::problem::ApiError;
use super::{Api, json, text};
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use refill_domain::Currency;
use refill_service::ServiceError;
use serde::de::DeserializeOwned;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Reads the body, at most BODY_LIMIT bytes, within the body timeout: a client that
/// trickles its body holds a connection and a task no longer than that.
pub(super) async fn read_body(api: &Api, req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, BODY_LIMIT);
    let bytes = match tokio::time::timeout(api.body_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {BODY_LIMIT} bytes"),
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    api.body_timeout.as_secs()
                ),
            ));
        }
    };
    Ok((parts.headers, bytes))
}

/// The body as `T`: valid JSON, its text and amounts checked, objects where `T` has
/// them.
pub(super) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let value = json::parse_value(body).map_err(refused)?;
    text::check_body(&value)?;
    json::from_value(&value).map_err(refused)
}

fn refused(e: serde_json::Error) -> ApiError {
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
