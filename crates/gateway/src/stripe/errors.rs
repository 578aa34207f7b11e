//! Stripe's errors: its error object, and how each answer that is not an object maps
//! to refill's outcomes (R23): an outage to retry, a malformed request, a decline and
//! its class.

use super::*;

/// Stripe's error object (`{"error": {...}}`), also found as `last_payment_error`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct ApiErrorBody {
    #[serde(rename = "type", default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) decline_code: Option<String>,
    #[serde(default)]
    pub(super) param: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) payment_intent: Option<Value>,
    #[serde(default)]
    pub(super) setup_intent: Option<Value>,
    #[serde(default)]
    pub(super) charge: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ErrorEnvelope {
    pub(super) error: ApiErrorBody,
}

/// Why a request did not return an object.
#[derive(Debug)]
pub(super) enum ApiError {
    /// No answer: connection refused, timeout, broken body. Outcome unknown.
    Transport(String),
    Status {
        status: u16,
        error: ApiErrorBody,
    },
}

impl From<ApiError> for GatewayError {
    fn from(e: ApiError) -> GatewayError {
        match e {
            ApiError::Transport(m) => GatewayError::Outage(format!("stripe: {m}")),
            ApiError::Status { status, error } => status_error(status, &error),
        }
    }
}

pub(super) fn status_error(status: u16, e: &ApiErrorBody) -> GatewayError {
    let what = format!(
        "stripe {status} {}/{}: {}",
        e.kind,
        e.code.as_deref().unwrap_or("-"),
        e.message.as_deref().unwrap_or("")
    );
    match status {
        // 401/403: a revoked or wrong key is the operator's problem, never the
        // customer's failure (R23), so it is retried like an outage. 409: the same
        // idempotency key is still being processed by another request.
        401 | 403 | 409 | 429 | 500.. => GatewayError::Outage(what),
        _ => GatewayError::Invalid(what),
    }
}

/// R23: a charge Stripe refused as malformed (400 `invalid_request_error`: an amount
/// it does not take, a missing parameter), as opposed to one naming a card that is
/// gone, which stays the card's problem.
pub(super) fn malformed(status: u16, e: &ApiErrorBody) -> bool {
    let about_the_card = e.code.as_deref() == Some("resource_missing")
        || e.param
            .as_deref()
            .is_some_and(|p| p.starts_with("payment_method"));
    status == 400 && e.kind == "invalid_request_error" && !about_the_card
}

/// R23: Stripe's decline codes sorted into the classes the engine acts on.
pub fn decline_class(code: Option<&str>, decline_code: Option<&str>) -> DeclineClass {
    let codes = [decline_code, code];
    let any = |set: &[&str]| codes.iter().flatten().any(|c| set.contains(c));
    if any(&["lost_card", "stolen_card", "fraudulent", "pickup_card"]) {
        DeclineClass::Hard
    } else if any(&["authentication_required"]) {
        DeclineClass::AuthenticationRequired
    } else {
        DeclineClass::Soft
    }
}

pub(super) fn declined(e: &ApiErrorBody) -> ChargeStatus {
    let code = e.decline_code.as_deref().or(e.code.as_deref());
    ChargeStatus::Declined {
        class: decline_class(e.code.as_deref(), e.decline_code.as_deref()),
        code: code.unwrap_or("card_declined").to_string(),
        message: e.message.clone().unwrap_or_else(|| "card declined".into()),
    }
}

pub(super) fn auth_required() -> ChargeStatus {
    ChargeStatus::Declined {
        class: DeclineClass::AuthenticationRequired,
        code: "authentication_required".into(),
        message: "The card requires authentication (3-D Secure).".into(),
    }
}

pub(super) fn setup_declined(e: &ApiErrorBody) -> SetupStatus {
    SetupStatus::Declined {
        code: e
            .decline_code
            .clone()
            .or_else(|| e.code.clone())
            .unwrap_or_else(|| "card_declined".into()),
        message: e.message.clone().unwrap_or_else(|| "card declined".into()),
    }
}

/// Connection refused, timeout, reset: never includes the URL's secrets (there are none
/// in it), but does say which it was.
pub(super) fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!("{kind}: {e}")
}
