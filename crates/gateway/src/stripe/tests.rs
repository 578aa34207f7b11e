use super::*;
use serde_json::json;

#[test]
fn r23_decline_codes_are_classed() {
    let c = |code, dc| decline_class(Some(code), dc);
    assert_eq!(c("card_declined", Some("lost_card")), DeclineClass::Hard);
    assert_eq!(c("card_declined", Some("pickup_card")), DeclineClass::Hard);
    assert_eq!(c("card_declined", Some("fraudulent")), DeclineClass::Hard);
    assert_eq!(
        c("authentication_required", Some("authentication_required")),
        DeclineClass::AuthenticationRequired
    );
    for soft in ["insufficient_funds", "generic_decline", "processing_error"] {
        assert_eq!(c("card_declined", Some(soft)), DeclineClass::Soft);
    }
    assert_eq!(c("expired_card", None), DeclineClass::Soft);
    assert_eq!(c("incorrect_cvc", None), DeclineClass::Soft);
}

#[test]
fn payment_intent_statuses_map_to_charges() {
    let pi = |status: &str, err: Value| {
        let v = json!({"id": "pi_1", "amount": 500, "currency": "gbp",
            "status": status, "last_payment_error": err});
        charge_from_payment_intent(&v).unwrap()
    };
    let ok = pi("succeeded", Value::Null);
    assert_eq!(
        (ok.status, ok.currency.as_str()),
        (ChargeStatus::Succeeded, "GBP")
    );
    assert_eq!(pi("processing", Value::Null).status, ChargeStatus::Pending);
    assert_eq!(pi("requires_action", Value::Null).status, auth_required());
    let failed = pi(
        "requires_payment_method",
        json!({"type": "card_error", "code": "card_declined", "decline_code": "stolen_card"}),
    );
    assert!(matches!(
        failed.status,
        ChargeStatus::Declined { class: DeclineClass::Hard, ref code, .. } if code == "stolen_card"
    ));
}

#[test]
fn the_charge_form_carries_the_key_in_metadata() {
    let req = ChargeRequest {
        idempotency_key: "top_1:1".into(),
        payment_method: "pm_card_visa".into(),
        customer: Some("cus_1".into()),
        amount: 1500,
        currency: "GBP".into(),
        description: "Top-up".into(),
        metadata: vec![("refill_top_up".into(), "top_1".into())],
        off_session: true,
        authenticated: false,
    };
    let f = charge_form(&req);
    let has = |k: &str, v: &str| f.iter().any(|(a, b)| a == k && b == v);
    assert!(has("currency", "gbp") && has("off_session", "true") && has("customer", "cus_1"));
    assert!(has("metadata[refill_top_up]", "top_1"));
    assert!(has("metadata[idempotency_key]", "top_1:1"));
}

#[test]
fn ids_and_search_values_are_escaped() {
    assert!(path_id("pi_3Nabc").is_ok());
    assert!(path_id("../v1/charges").is_err());
    assert_eq!(search_literal(r"a'b\c"), r"a\'b\\c");
    assert!(!format!("{:?}", StripeConfig::new("sk_test_123")).contains("sk_test"));
}
