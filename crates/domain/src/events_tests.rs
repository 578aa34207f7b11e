//! Each payload against the JSON the service builds by hand today (its `json!`
//! literals, copied): the same bytes, key for key.

use super::*;
use serde_json::{Value, json};

const NOW: Millis = 1_795_283_164_123;

fn same<P: Serialize>(payload: &P, today: Value) {
    assert_eq!(serde_json::to_string(payload).unwrap(), today.to_string());
    assert_eq!(serde_json::to_value(payload).unwrap(), today);
}

#[test]
fn r26_event_types_round_trip_and_are_the_routed_list() {
    let listed: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(listed, crate::notifications::EVENT_TYPES);
    for t in EventType::ALL {
        assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
    }
    assert!("top_up.done".parse::<EventType>().is_err());
}

#[test]
fn r10_top_up_succeeded_is_todays_receipt() {
    let p = TopUpSucceeded {
        amount: 1_000,
        balance_after: 1_400,
        card_brand: Some("visa".into()),
        card_last4: None,
        currency: "GBP".into(),
        origin: Origin::Auto,
        paid_at: NOW,
        source: SourceKind::Card,
        status: TopUpStatus::Pending,
        tax: 200,
        top_up_id: "top_1".into(),
        total: 1_200,
        transaction_id: None,
    };
    let (brand, last4): (Option<String>, Option<String>) = (Some("visa".into()), None);
    same(
        &p,
        json!({
            "top_up_id": "top_1", "origin": "auto", "source": "card", "status": "pending",
            "amount": 1_000, "tax": 200, "total": 1_200, "currency": "GBP",
            "transaction_id": Option::<String>::None, "balance_after": 1_400,
            "card_brand": brand, "card_last4": last4,
            "paid_at": "2026-11-21T17:46:04.123Z",
        }),
    );
    assert_eq!(
        <TopUpSucceeded as Payload>::TYPE.as_str(),
        "top_up.succeeded"
    );
}

#[test]
fn r11_a_pending_payment_is_told_as_pending_never_as_a_success() {
    let receipt = TopUpSucceeded {
        amount: 1_000,
        balance_after: 1_400,
        card_brand: Some("visa".into()),
        card_last4: Some("4242".into()),
        currency: "GBP".into(),
        origin: Origin::Manual,
        paid_at: NOW,
        source: SourceKind::Card,
        status: TopUpStatus::Pending,
        tax: 200,
        top_up_id: "top_1".into(),
        total: 1_200,
        transaction_id: Some("ch_1".into()),
    };
    let p = TopUpPending::of(receipt.clone(), true);
    same(
        &p,
        json!({
            "top_up_id": "top_1", "origin": "manual", "source": "card",
            "amount": 1_000, "tax": 200, "total": 1_200, "currency": "GBP",
            "transaction_id": "ch_1", "balance_after": 1_400, "credited": true,
            "card_brand": "visa", "card_last4": "4242",
            "message": TopUpPending::CREDITED,
        }),
    );
    assert_eq!(<TopUpPending as Payload>::TYPE.as_str(), "top_up.pending");
    let withheld = TopUpPending::of(receipt, false);
    assert_eq!(
        (withheld.credited, withheld.message),
        (false, TopUpPending::WITHHELD)
    );
}

fn failed() -> FailedTopUp<'static> {
    FailedTopUp {
        top_up_id: "top_1",
        origin: Origin::Auto,
        amount: 2_000,
        currency: "GBP",
        reason: "card_declined",
        message: "Your card was declined.",
    }
}

#[test]
fn r23_top_up_failed_after_an_attempt_has_every_field() {
    let retry = TopUpFailed::after_attempt(&failed(), Some(NOW), false);
    let none: Option<String> = None;
    same(
        &retry,
        json!({
            "top_up_id": "top_1", "origin": "auto", "amount": 2_000, "currency": "GBP",
            "reason": "card_declined", "message": "Your card was declined.",
            "next_attempt": "2026-11-21T17:46:04.123Z", "next_attempt_ms": NOW,
            "action_required": none,
        }),
    );
    let waiting = TopUpFailed::after_attempt(&failed(), None, true);
    same(
        &waiting,
        json!({
            "top_up_id": "top_1", "origin": "auto", "amount": 2_000, "currency": "GBP",
            "reason": "card_declined", "message": "Your card was declined.",
            "next_attempt": Option::<String>::None, "next_attempt_ms": Option::<i64>::None,
            "action_required": "POST /v1/top-ups/top_1/confirm",
        }),
    );
}

#[test]
fn r30_r11_the_other_two_builders_of_top_up_failed() {
    let t = FailedTopUp {
        origin: Origin::Scheduled,
        reason: "payment_method_required",
        ..failed()
    };
    same(
        &TopUpFailed::not_started(&t),
        json!({
            "top_up_id": "top_1", "origin": "scheduled", "amount": 2_000, "currency": "GBP",
            "reason": "payment_method_required", "message": "Your card was declined.",
            "next_attempt": null,
        }),
    );
    same(
        &TopUpFailed::at_settlement(&failed()),
        json!({"top_up_id": "top_1", "origin": "auto", "amount": 2_000,
            "currency": "GBP", "reason": "card_declined", "message": "Your card was declined."}),
    );
}

#[test]
fn r24_auto_top_up_disabled_says_the_reasons_code_and_message() {
    let reason = StateReason::ConsecutiveFailures {
        failures: 3,
        last: "card_declined".into(),
    };
    let p = AutoTopUpDisabled::new(3, &reason);
    let message = "3 failed attempts in a row (last: card_declined)";
    same(
        &p,
        json!({"reason": "consecutive_failures", "message": message, "failures": 3}),
    );
    let r = Reason::from(&reason);
    assert_eq!(
        (r.code, r.message.as_str()),
        ("consecutive_failures", message)
    );
}

#[test]
fn r27_r26_balance_notices_with_and_without_a_resource() {
    let low = Notice::Low {
        balance: 300,
        threshold: 500,
    };
    same(
        &low.event("GBP", None),
        json!({"balance": 300, "currency": "GBP", "low_balance_threshold": 500}),
    );
    same(
        &low.event("GBP", Some("res_1")),
        json!({"balance": 300, "currency": "GBP", "resource_id": "res_1", "low_balance_threshold": 500}),
    );
    let near = Notice::Approaching {
        balance: 1_050,
        threshold: 1_000,
    };
    same(
        &near.event("EUR", None),
        json!({"balance": 1_050, "currency": "EUR", "threshold": Some(1_000)}),
    );
    let e = near.event("EUR", Some("res_2"));
    assert_eq!(e.event_type(), EventType::BalanceApproachingThreshold);
    same(
        &e,
        json!({"balance": 1_050, "currency": "EUR", "resource_id": "res_2", "threshold": 1_000}),
    );
}

#[test]
fn r21_cap_reached() {
    same(
        &CapReached::new(Cap::Daily, NOW, "top_1"),
        json!({"cap": "daily", "until": "2026-11-21T17:46:04.123Z", "until_ms": NOW, "top_up_id": "top_1"}),
    );
}

#[test]
fn r11_r31_reversals_and_refunds() {
    same(
        &PaymentReversed::new("top_1", 1_000, "GBP", -200),
        json!({"top_up_id": "top_1", "amount": 1_000, "currency": "GBP", "balance_after": -200,
            "message": "A pending card payment failed; its credit was reversed. Usage is blocked while the balance is below zero."}),
    );
    let p = TopUpRefunded {
        balance_after: 400,
        credit_reversed: 500,
        currency: "GBP".into(),
        refunded: 600,
        refunded_total: 600,
        tax_reversed: 100,
        top_up_id: "top_1".into(),
        transaction_id: Some("pi_1".into()),
    };
    same(
        &p,
        json!({"top_up_id": "top_1", "refunded": 600, "refunded_total": 600,
            "credit_reversed": 500, "tax_reversed": 100, "currency": "GBP",
            "balance_after": 400, "transaction_id": Some("pi_1")}),
    );
}

#[test]
fn r29_resource_events() {
    let r = UnpaidResource {
        resource_id: "res_1",
        name: "+44 7700 900123",
        fee: 500,
        currency: "GBP",
        balance: 100,
        due: NOW,
    };
    let base = json!({
        "resource_id": "res_1", "name": "+44 7700 900123", "fee": 500, "currency": "GBP",
        "balance": 100, "due": "2026-11-21T17:46:04.123Z",
    });
    let mut failed = base.clone();
    failed["suspend_at"] = json!("2026-11-21T17:46:05.123Z");
    failed["message"] = json!(
        "The balance cannot cover this renewal. Top up before suspend_at, or the resource is suspended."
    );
    same(&ResourceRenewalFailed::new(&r, NOW + 1_000), failed);
    let mut suspended = base;
    suspended["reason"] = json!("renewal_unpaid");
    let e = Event::from(ResourceSuspended::new(&r));
    assert_eq!(e.event_type().as_str(), "resource.suspended");
    same(&e, suspended);
}

#[test]
fn r31_refund_events_name_the_refund_and_its_top_up() {
    let approved = RefundApproved {
        amount: 1_200,
        balance_after: 4_000,
        credit_reversed: 1_000,
        currency: "GBP".into(),
        refund_id: "rfd_1".into(),
        requested_amount: 1_800,
        tax_reversed: 200,
        top_up_id: "top_1".into(),
    };
    same(
        &approved,
        json!({"refund_id": "rfd_1", "top_up_id": "top_1", "amount": 1_200,
            "requested_amount": 1_800, "currency": "GBP", "credit_reversed": 1_000,
            "tax_reversed": 200, "balance_after": 4_000}),
    );
    let failed = Event::from(RefundFailed {
        amount: 1_200,
        balance_after: 5_000,
        credit_restored: 1_000,
        currency: "GBP".into(),
        failure_code: "refund_failed".into(),
        message: "the bank returned the refund".into(),
        refund_id: "rfd_1".into(),
        tax_restored: 200,
        top_up_id: "top_1".into(),
    });
    assert_eq!(failed.event_type().as_str(), "refund.failed");
    let e = serde_json::to_value(&failed).unwrap();
    assert_eq!(
        (&e["credit_restored"], &e["tax_restored"]),
        (&json!(1_000), &json!(200))
    );
    for (t, s) in [
        (<RefundRequested as Payload>::TYPE, "refund.requested"),
        (<RefundApproved as Payload>::TYPE, "refund.approved"),
        (<RefundRejected as Payload>::TYPE, "refund.rejected"),
        (<RefundSucceeded as Payload>::TYPE, "refund.succeeded"),
    ] {
        assert_eq!(t.as_str(), s);
    }
}
