//! The checks every request passes before its route: HTTP framing and headers the
//! API does not take (a Content-Length beside a Transfer-Encoding, no Host, two
//! Authorization headers, a body that is not JSON), the text of the path and the
//! query (api::text), and the connections past the server's cap, which may only ask
//! for /healthz and /readyz.

use super::problem::ApiError;
use super::text::{URL_PART_MAX, check_text};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the server knows of the connection a request came on (an extension of the
/// request; absent when the router is called directly).
#[derive(Debug, Default)]
pub struct Connection {
    /// Opened past the cap on connections, within the headroom kept for health checks.
    pub over_cap: bool,
    /// A request head on this connection had both Content-Length and
    /// Transfer-Encoding (hyper drops the Content-Length before the router sees it).
    pub ambiguous_length: AtomicBool,
}

/// A refusal, and whether the connection closes after it.
struct Refusal(ApiError, bool);

pub(super) async fn check(req: Request, next: Next) -> Response {
    match check_request(&req) {
        Ok(()) => next.run(req).await,
        Err(Refusal(e, close)) => {
            let mut resp = e.into_response();
            if close {
                let h = resp.headers_mut();
                h.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    }
}

fn check_request(req: &Request) -> Result<(), Refusal> {
    let headers = req.headers();
    let conn = req.extensions().get::<Arc<Connection>>();
    if conn.is_some_and(|c| c.ambiguous_length.load(Ordering::Relaxed))
        && headers.contains_key(header::TRANSFER_ENCODING)
    {
        return Err(Refusal(
            bad(
                "ambiguous_length",
                "send Content-Length or Transfer-Encoding, not both",
            ),
            true,
        ));
    }
    if !headers.contains_key(header::HOST) {
        return Err(Refusal(
            bad("missing_host", "a request needs a Host header"),
            true,
        ));
    }
    if conn.is_some_and(|c| c.over_cap) && !matches!(req.uri().path(), "/healthz" | "/readyz") {
        let e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "the server holds as many connections as it takes: retry shortly",
        );
        return Err(Refusal(e, true));
    }
    if headers.get_all(header::AUTHORIZATION).iter().count() > 1 {
        let e = bad("invalid_authorization", "send one Authorization header");
        return Err(Refusal(e, false));
    }
    check_url(req).map_err(|e| Refusal(e, false))?;
    if has_body(headers) && !is_json(headers) {
        let e = ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        );
        return Err(Refusal(e, false));
    }
    Ok(())
}

fn bad(code: &str, detail: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, detail)
}

/// The path's segments and the query's names and values, percent-decoded.
fn check_url(req: &Request) -> Result<(), ApiError> {
    for segment in req.uri().path().split('/') {
        check_text("path", &decoded(segment)?, URL_PART_MAX)?;
    }
    let Some(query) = req.uri().query() else {
        return Ok(());
    };
    // A query that does not parse is refused by the route that reads it.
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default();
    for (name, value) in pairs {
        let field = format!("query parameter {}", name.escape_debug());
        check_text(&field, &name, URL_PART_MAX)?;
        check_text(&field, &value, URL_PART_MAX)?;
    }
    Ok(())
}

/// A path segment without its percent-encoding.
fn decoded(segment: &str) -> Result<std::borrow::Cow<'_, str>, ApiError> {
    if !segment.contains('%') {
        return Ok(segment.into());
    }
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Into::into)
        .map_err(|_| ApiError {
            extra: Some(serde_json::json!({"field": "path"})),
            ..bad("invalid_text", "the path is not UTF-8 once decoded")
        })
}

fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    headers.contains_key(header::TRANSFER_ENCODING) || length.is_some_and(|n| n > 0)
}

/// `application/json`, with no parameter but `charset=utf-8`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let media_type = parts.next().unwrap_or("");
    media_type.eq_ignore_ascii_case("application/json")
        && parts.all(|p| {
            let p = p.to_ascii_lowercase().replace('"', "");
            p == "charset=utf-8"
        })
}
