//! What a client may send as text and as an amount, checked once at the edge, the
//! same for both stores: no control character (a NUL in one debit's reference made
//! PostgreSQL refuse the whole group commit, other tenants' debits with it), lengths
//! bounded, and every amount or threshold at most MAX_AMOUNT (R1), as the domain
//! bounds what a debit or top-up moves.
//!
//! Bounds, in characters: a body's `url` 2048, `reference` 255 (its own code,
//! `invalid_reference`), any other string of a body 1024, an object key 64; a path
//! segment or query parameter 255 (api::edge); the Idempotency-Key 255
//! (api::idempotency).

use super::problem::ApiError;
use axum::http::StatusCode;
use refill_domain::DomainError;
use refill_domain::money::MAX_AMOUNT;
use refill_service::ServiceError;
use serde_json::{Value, json};

/// The longest string of a body, unless `field_bound` says otherwise.
const BODY_TEXT_MAX: usize = 1024;
const KEY_MAX: usize = 64;
/// A path segment, a query parameter's name or value.
pub(crate) const URL_PART_MAX: usize = 255;

/// The fields that hold an amount of money or a balance threshold, in minor units.
pub(crate) const AMOUNT_FIELDS: &[&str] = &[
    "amount",
    "threshold",
    "target_balance",
    "low_balance_threshold",
    "credit_limit",
    "fee",
    "unit_price",
];

/// A field's longest text and the code that refuses more.
fn field_bound(field: &str) -> (usize, &'static str) {
    match field {
        "url" => (2048, "invalid_text"),
        "reference" => (255, "invalid_reference"),
        _ => (BODY_TEXT_MAX, "invalid_text"),
    }
}

/// The longest text a body's field of this name takes.
pub(crate) fn field_text_max(field: &str) -> usize {
    field_bound(field).0
}

/// Refuses text with a control character, or longer than `max` characters.
pub(super) fn check_text(field: &str, s: &str, max: usize) -> Result<(), ApiError> {
    check_bounded(field, s, max, "invalid_text")
}

fn check_bounded(field: &str, s: &str, max: usize, code: &str) -> Result<(), ApiError> {
    if s.chars().any(char::is_control) {
        return Err(refused(
            "invalid_text",
            field,
            format!("{field} holds a control character"),
        ));
    }
    if s.chars().count() > max {
        return Err(refused(
            code,
            field,
            format!("{field} is at most {max} characters"),
        ));
    }
    Ok(())
}

fn refused(code: &str, field: &str, detail: String) -> ApiError {
    ApiError {
        extra: Some(json!({ "field": field })),
        ..ApiError::new(StatusCode::BAD_REQUEST, code, detail)
    }
}

/// Every string, key and amount of a parsed body.
pub(super) fn check_body(body: &Value) -> Result<(), ApiError> {
    walk(body, "", "")
}

/// `path` names the value for the client (`items[2].reference`); `name` is the key
/// that holds it (the array's key for its items).
fn walk(v: &Value, path: &str, name: &str) -> Result<(), ApiError> {
    match v {
        Value::String(s) => {
            let (max, code) = field_bound(name);
            check_bounded(path, s, max, code)
        }
        Value::Number(n) => match n.as_i64() {
            Some(amount) if AMOUNT_FIELDS.contains(&name) => check_amount(path, amount),
            _ => Ok(()),
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| walk(item, &format!("{path}[{i}]"), name)),
        Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            check_text(&path, key, KEY_MAX)?;
            walk(item, &path, key)
        }),
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

/// R1: no amount above what one operation may move (the lower bounds, positive or
/// not negative, are the domain's, field by field).
fn check_amount(field: &str, amount: i64) -> Result<(), ApiError> {
    if amount <= MAX_AMOUNT {
        return Ok(());
    }
    let mut e = ApiError::from(ServiceError::Domain(DomainError::AmountOverflow));
    e.detail = format!("{field} is above {MAX_AMOUNT}, the most one operation may move");
    e.extra = Some(json!({ "field": field }));
    Err(e)
}
