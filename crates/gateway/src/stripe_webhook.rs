//! Stripe webhooks: checking the `Stripe-Signature` header and reading the event.
//!
//! A valid signature proves who sent the event, not that it is new: Stripe delivers
//! at least once, sometimes twice, and in any order. Deduplicating by event id and
//! trusting the object's current state over the event order is the caller's job.

use crate::Charge;
use crate::GatewayError;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's own libraries accept signatures up to 5 minutes old.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    #[error("malformed Stripe-Signature header (expected t=...,v1=...)")]
    MalformedHeader,
    #[error("no v1 signature matches the payload")]
    SignatureMismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    OutsideTolerance,
    #[error("unreadable event: {0}")]
    InvalidPayload(String),
}

fn mac(payload: &[u8], secret: &str, t: i64) -> HmacSha256 {
    let mut m =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(payload);
    m
}

/// The `Stripe-Signature` header value Stripe would send for this payload at time `t`.
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    let sig = mac(payload, secret, t).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

/// The timestamp and every v1 signature (several while a secret is being rolled).
fn parse_header(header: &str) -> Result<(i64, Vec<Vec<u8>>), WebhookError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for (k, v) in header.split(',').filter_map(|kv| kv.trim().split_once('=')) {
        match k {
            "t" if t.is_none() => t = v.parse::<i64>().ok(),
            // Other schemes (v0, test-mode extras) are ignored, as Stripe says to.
            "v1" => sigs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    match t {
        Some(t) if !sigs.is_empty() => Ok((t, sigs)),
        _ => Err(WebhookError::MalformedHeader),
    }
}

/// Checks that `payload` was signed with `secret` within `tolerance_secs` of `now_unix`.
/// The comparison is constant-time (hmac's `verify_slice`).
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookError> {
    let (t, sigs) = parse_header(header)?;
    let expected = mac(payload, secret, t);
    if !sigs
        .iter()
        .any(|s| expected.clone().verify_slice(s).is_ok())
    {
        return Err(WebhookError::SignatureMismatch);
    }
    // Both ways: a timestamp far in the future is as suspect as an old one.
    if now_unix.abs_diff(t) > tolerance_secs.max(0).unsigned_abs() {
        return Err(WebhookError::OutsideTolerance);
    }
    Ok(())
}

/// The event types refill acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    PaymentIntentSucceeded,
    PaymentIntentPaymentFailed,
    PaymentIntentProcessing,
    ChargeRefunded,
    /// R31: a refund was made or changed (a pending one succeeded or failed):
    /// charge.refund.updated, refund.created, refund.updated, refund.failed.
    RefundUpdated,
    SetupIntentSucceeded,
    PaymentMethodDetached,
    /// Anything else: acknowledge and ignore.
    Other,
}

/// A Stripe event, reduced to what refill reads.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub livemode: bool,
    /// `data.object`: the object as it was when the event happened.
    pub object: Value,
    /// `data.previous_attributes`, on `*.updated` and `payment_method.detached`.
    pub previous_attributes: Option<Value>,
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
    #[serde(default)]
    livemode: bool,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: Value,
    #[serde(default)]
    previous_attributes: Option<Value>,
}

/// Reads an event body (after `verify_signature`).
pub fn parse_event(payload: &[u8]) -> Result<StripeEvent, WebhookError> {
    let raw: RawEvent =
        serde_json::from_slice(payload).map_err(|e| WebhookError::InvalidPayload(e.to_string()))?;
    Ok(StripeEvent {
        id: raw.id,
        event_type: raw.event_type,
        created: raw.created,
        livemode: raw.livemode,
        object: raw.data.object,
        previous_attributes: raw.data.previous_attributes,
    })
}

impl StripeEvent {
    pub fn kind(&self) -> EventKind {
        match self.event_type.as_str() {
            "payment_intent.succeeded" => EventKind::PaymentIntentSucceeded,
            "payment_intent.payment_failed" => EventKind::PaymentIntentPaymentFailed,
            "payment_intent.processing" => EventKind::PaymentIntentProcessing,
            "charge.refunded" => EventKind::ChargeRefunded,
            "charge.refund.updated" | "refund.created" | "refund.updated" | "refund.failed" => {
                EventKind::RefundUpdated
            }
            "setup_intent.succeeded" => EventKind::SetupIntentSucceeded,
            "payment_method.detached" => EventKind::PaymentMethodDetached,
            _ => EventKind::Other,
        }
    }

    fn object_type(&self) -> &str {
        self.object["object"].as_str().unwrap_or_default()
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.object[name].as_str()
    }

    /// The PaymentIntent the event is about (a charge or a refund names its
    /// PaymentIntent).
    pub fn payment_intent_id(&self) -> Option<&str> {
        match self.object_type() {
            "payment_intent" => self.field("id"),
            "charge" | "refund" => self.field("payment_intent"),
            _ => None,
        }
    }

    pub fn payment_intent_status(&self) -> Option<&str> {
        (self.object_type() == "payment_intent")
            .then(|| self.field("status"))
            .flatten()
    }

    /// The object's metadata (a charge carries its PaymentIntent's).
    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.object["metadata"].as_object()
    }

    /// refill's idempotency key, written on every PaymentIntent it creates.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.metadata()?
            .get(crate::stripe::IDEMPOTENCY_METADATA_KEY)?
            .as_str()
    }

    /// The PaymentIntent as a refill charge, for payment_intent.* events.
    pub fn charge(&self) -> Option<Result<Charge, GatewayError>> {
        (self.object_type() == "payment_intent")
            .then(|| crate::stripe::charge_from_payment_intent(&self.object))
    }

    pub fn setup_intent_id(&self) -> Option<&str> {
        (self.object_type() == "setup_intent")
            .then(|| self.field("id"))
            .flatten()
    }

    /// The payment method: the object itself, or the one a PaymentIntent/SetupIntent used.
    pub fn payment_method_id(&self) -> Option<&str> {
        match self.object_type() {
            "payment_method" => self.field("id"),
            _ => self.field("payment_method"),
        }
    }

    /// The customer; for payment_method.detached, the one it was detached from.
    pub fn customer_id(&self) -> Option<&str> {
        let before = self.previous_attributes.as_ref();
        self.field("customer")
            .or_else(|| before.and_then(|p| p["customer"].as_str()))
    }

    /// For charge.refunded: how much of the charge has been refunded in all.
    pub fn amount_refunded(&self) -> Option<i64> {
        self.object["amount_refunded"].as_i64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn verify(header: &str, now: i64) -> Result<(), WebhookError> {
        verify_signature(BODY, header, SECRET, now, DEFAULT_TOLERANCE_SECS)
    }

    #[test]
    fn a_valid_signature_is_accepted() {
        assert_eq!(verify(&sign(BODY, SECRET, NOW), NOW + 10), Ok(()));
    }

    #[test]
    fn a_tampered_payload_or_wrong_secret_is_refused() {
        let header = sign(BODY, SECRET, NOW);
        let tampered = br#"{"id":"evt_1","type":"payment_intent.payment_failed"}"#;
        assert_eq!(
            verify_signature(tampered, &header, SECRET, NOW, 300),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(
            verify(&sign(BODY, "whsec_other", NOW), NOW),
            Err(WebhookError::SignatureMismatch)
        );
        // Re-stamping the time without re-signing breaks the signature too.
        let restamped = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(
            verify(&restamped, NOW),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn an_expired_signature_is_refused() {
        let header = sign(BODY, SECRET, NOW);
        assert_eq!(verify(&header, NOW + 300), Ok(()));
        assert_eq!(
            verify(&header, NOW + 301),
            Err(WebhookError::OutsideTolerance)
        );
        assert_eq!(
            verify(&header, NOW - 301),
            Err(WebhookError::OutsideTolerance)
        );
    }

    #[test]
    fn one_valid_among_several_v1_signatures_is_enough() {
        let good = sign(BODY, SECRET, NOW);
        let good_sig = good.split_once(",v1=").unwrap().1;
        let old = sign(BODY, "whsec_rolled", NOW);
        let old_sig = old.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW},v1={old_sig},v0=abc,v1=zz-not-hex,v1={good_sig}");
        assert_eq!(verify(&header, NOW), Ok(()));
        let none_valid = format!("t={NOW},v1={old_sig}");
        assert_eq!(
            verify(&none_valid, NOW),
            Err(WebhookError::SignatureMismatch)
        );
    }

    /// A replay inside the tolerance verifies: dropping duplicate event ids is the
    /// caller's job (Stripe itself delivers some events twice).
    #[test]
    fn a_replayed_event_still_verifies() {
        let header = sign(BODY, SECRET, NOW);
        assert_eq!(verify(&header, NOW + 1), Ok(()));
        assert_eq!(verify(&header, NOW + 2), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for h in ["", "t=abc,v1=00", &format!("t={NOW}"), "v1=00", "garbage"] {
            assert_eq!(verify(h, NOW), Err(WebhookError::MalformedHeader), "{h}");
        }
    }

    fn event(kind: &str, object: Value) -> StripeEvent {
        let body = json!({"id": "evt_9", "object": "event", "type": kind, "created": NOW,
            "livemode": false, "data": {"object": object}});
        parse_event(body.to_string().as_bytes()).unwrap()
    }

    fn intent(status: &str) -> Value {
        json!({"id": "pi_1", "object": "payment_intent", "amount": 1500, "currency": "gbp",
            "status": status, "payment_method": "pm_1", "customer": "cus_1",
            "metadata": {"idempotency_key": "top_1:1"}})
    }

    #[test]
    fn payment_intent_events_name_their_intent_and_key() {
        let e = event("payment_intent.succeeded", intent("succeeded"));
        assert_eq!((e.id.as_str(), e.created), ("evt_9", NOW));
        assert_eq!(e.kind(), EventKind::PaymentIntentSucceeded);
        assert_eq!(e.payment_intent_id(), Some("pi_1"));
        assert_eq!(e.payment_intent_status(), Some("succeeded"));
        assert_eq!(e.idempotency_key(), Some("top_1:1"));
        assert_eq!(
            e.charge().unwrap().unwrap().status,
            crate::ChargeStatus::Succeeded
        );
        let p = event("payment_intent.processing", intent("processing"));
        assert_eq!(p.kind(), EventKind::PaymentIntentProcessing);
        assert_eq!(
            p.charge().unwrap().unwrap().status,
            crate::ChargeStatus::Pending
        );
        let mut failed = intent("requires_payment_method");
        failed["last_payment_error"] = json!({"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"});
        let f = event("payment_intent.payment_failed", failed);
        assert_eq!(f.kind(), EventKind::PaymentIntentPaymentFailed);
        assert!(matches!(
            f.charge().unwrap().unwrap().status,
            crate::ChargeStatus::Declined {
                class: crate::DeclineClass::Soft,
                ..
            }
        ));
    }

    #[test]
    fn other_events_give_their_ids() {
        let r = event(
            "charge.refunded",
            json!({"id": "ch_1", "object": "charge",
            "payment_intent": "pi_1", "amount_refunded": 400, "metadata": {"idempotency_key": "k"}}),
        );
        assert_eq!(r.kind(), EventKind::ChargeRefunded);
        assert_eq!(
            (r.payment_intent_id(), r.amount_refunded()),
            (Some("pi_1"), Some(400))
        );
        assert!(r.charge().is_none() && r.payment_intent_status().is_none());
        let u = event(
            "charge.refund.updated",
            json!({"id": "re_1", "object": "refund", "payment_intent": "pi_1",
            "status": "failed"}),
        );
        assert_eq!(
            (u.kind(), u.payment_intent_id()),
            (EventKind::RefundUpdated, Some("pi_1"))
        );
        let s = event(
            "setup_intent.succeeded",
            json!({"id": "seti_1", "object": "setup_intent",
            "status": "succeeded", "customer": "cus_1", "payment_method": "pm_2"}),
        );
        assert_eq!(s.kind(), EventKind::SetupIntentSucceeded);
        assert_eq!(
            (s.setup_intent_id(), s.payment_method_id()),
            (Some("seti_1"), Some("pm_2"))
        );
        assert_eq!(s.customer_id(), Some("cus_1"));
        let body = json!({"id": "evt_8", "type": "payment_method.detached", "created": NOW,
            "data": {"object": {"id": "pm_2", "object": "payment_method", "customer": null},
                     "previous_attributes": {"customer": "cus_1"}}});
        let d = parse_event(body.to_string().as_bytes()).unwrap();
        assert_eq!(d.customer_id(), Some("cus_1"));
        assert_eq!(
            (d.kind(), d.payment_method_id()),
            (EventKind::PaymentMethodDetached, Some("pm_2"))
        );
        assert_eq!(
            event("customer.created", json!({})).kind(),
            EventKind::Other
        );
        assert!(matches!(
            parse_event(b"{}"),
            Err(WebhookError::InvalidPayload(_))
        ));
    }
}
