//! Settings objects (auto top-up, scheduled recharge) carry a version: sent as the
//! `ETag`, taken back in `If-Match`, so that a lost race answers 412 (R16).

use super::problem::ApiError;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A settings object with its version as ETag (R16).
pub(super) fn versioned<T: serde::Serialize>(version: i64, view: T) -> Response {
    let mut resp = Json(view).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// The version the caller's `If-Match` names, if it sent one.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
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
