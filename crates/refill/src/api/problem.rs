//! Every refusal leaves as `application/problem+json` (RFC 9457) with a stable
//! snake_case `code` and, where a domain rule refused it, the `rule`. This is the one
//! place where service errors become HTTP statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use refill_domain::{DomainError, ErrorKind};
use refill_gateway::GatewayError;
use refill_service::ServiceError;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
    pub rule: Option<&'static str>,
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            detail: detail.into(),
            rule: None,
            extra: None,
        }
    }
}

/// A domain refusal's status, by its kind: 400 bad input, 402 the money is not
/// there, 403 not for this caller, 409 not in this state, 422 refused by a rule, 500
/// a bug.
fn domain_status(e: &DomainError) -> StatusCode {
    match e.kind() {
        ErrorKind::BadInput => StatusCode::BAD_REQUEST,
        ErrorKind::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Refused => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        let detail = e.to_string();
        match e {
            ServiceError::Domain(d) if d.kind() == ErrorKind::Internal => {
                eprintln!("refill: internal error: {d}");
                internal_error()
            }
            ServiceError::Domain(d) => ApiError {
                rule: d.rule(),
                extra: amounts(&d),
                ..ApiError::new(domain_status(&d), d.code(), detail)
            },
            ServiceError::NotFound { what, .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                &format!("{}_not_found", what.replace([' ', '-'], "_")),
                detail,
            ),
            ServiceError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail),
            ServiceError::Invalid { code, .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, detail)
            }
            ServiceError::Conflict { code, .. } => {
                ApiError::new(StatusCode::CONFLICT, code, detail)
            }
            ServiceError::VersionMismatch { .. } => ApiError {
                rule: Some("R16"),
                ..ApiError::new(StatusCode::PRECONDITION_FAILED, "version_mismatch", detail)
            },
            ServiceError::CardDeclined {
                code, top_up_id, ..
            } => ApiError {
                extra: Some(
                    json!({"decline_code": code, "top_up_id": (!top_up_id.is_empty()).then_some(top_up_id)}),
                ),
                ..ApiError::new(StatusCode::PAYMENT_REQUIRED, "card_declined", detail)
            },
            ServiceError::AuthenticationRequired {
                top_up_id,
                confirm_path,
                client_secret,
            } => ApiError {
                extra: Some(match client_secret {
                    Some(secret) => json!({"top_up_id": top_up_id, "confirm": confirm_path,
                        "client_secret": secret}),
                    None => json!({"top_up_id": top_up_id, "confirm": confirm_path}),
                }),
                rule: Some("R23"),
                ..ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "authentication_required",
                    detail,
                )
            },
            ServiceError::Gateway(GatewayError::Outage(_)) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "gateway_unavailable",
                detail,
            ),
            ServiceError::Gateway(GatewayError::Invalid(_)) => {
                ApiError::new(StatusCode::BAD_REQUEST, "gateway_refused", detail)
            }
            // R23: refill's request was malformed (the operator is alerted): not the
            // caller's input, nor the customer's card.
            ServiceError::Gateway(GatewayError::Rejected(_)) => ApiError {
                rule: Some("R23"),
                ..ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "gateway_rejected",
                    "the payment gateway refused refill's request; the operator has been \
                     alerted and nothing was charged",
                )
            },
            ServiceError::Store(s) if s.is_unavailable() => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                detail,
            ),
            ServiceError::Store(s) => {
                eprintln!("refill: internal error: {s}");
                internal_error()
            }
            ServiceError::IdempotentReplay => {
                ApiError::new(StatusCode::CONFLICT, "idempotency_key_in_use", detail)
            }
        }
    }
}

/// A bug or broken data: logged, never shown.
fn internal_error() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "an internal error occurred; it was logged",
    )
}

/// The amounts a refusal names, for machines: minor units and the currency (the
/// detail tells them to people in major units).
fn amounts(d: &DomainError) -> Option<serde_json::Value> {
    let (currency, fields) = d.amounts()?;
    let mut extra = serde_json::Map::new();
    extra.insert("currency".into(), json!(currency.code()));
    for (name, minor) in fields {
        extra.insert(name.into(), json!(minor));
    }
    Some(serde_json::Value::Object(extra))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut body = json!({
            "type": format!("https://refill.dev/problems/{}", self.code),
            "title": title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
        });
        if let Some(rule) = self.rule {
            body["rule"] = json!(rule);
        }
        if let (Some(extra), Some(map)) = (self.extra, body.as_object_mut())
            && let Some(e) = extra.as_object()
        {
            map.extend(e.clone());
        }
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}
