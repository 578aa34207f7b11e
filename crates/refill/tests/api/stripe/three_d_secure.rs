//! 3-D Secure on Stripe top-ups (R23, R25): the customer completes it on the first
//! PaymentIntent, with its `client_secret`; confirming reads that PaymentIntent back,
//! never a new attempt or key, and Stripe's event for it credits once.

use super::*;
use serde_json::json;

/// A manual top-up by a card that asks for 3-D Secure: (account, top-up, its
/// PaymentIntent, the client secret answered).
async fn waiting_top_up(h: &StripeApp) -> (String, String, String, String) {
    let id = h.account("acme").await;
    let pm = h
        .card_used_once(&id, "pm_card_authenticationRequired")
        .await;
    let r = h
        .post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 2_000, "payment_method": pm}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (402, "authentication_required"),
        "{}",
        r.body
    );
    let top = r.body["top_up_id"].as_str().unwrap().to_string();
    let pi = h.payment_intent(&top, 1).await;
    let secret = r.body["client_secret"]
        .as_str()
        .expect("the PaymentIntent's client secret")
        .to_string();
    assert!(secret.starts_with(&format!("{pi}_secret_")), "{secret}");
    (id, top, pi, secret)
}

/// PaymentIntents refill created: one per attempt.
fn intents_created(h: &StripeApp) -> usize {
    (h.fake.requests().iter())
        .filter(|r| r.method == "POST" && r.path == "/v1/payment_intents")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r25_3ds_confirms_the_first_payment_intent_and_credits_once() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        let (id, top, pi, secret) = waiting_top_up(&h).await;
        let confirm = format!("/v1/top-ups/{top}/confirm");
        // Confirmed before the customer completed it: still waiting, the same secret.
        let c = h.post(&confirm, json!({})).await;
        assert_eq!((c.status, c.code()), (402, "authentication_required"));
        assert_eq!(c.body["client_secret"], secret.as_str());
        // The customer completes 3-D Secure in the browser, on that PaymentIntent.
        let paid = h.fake.authenticate_payment_intent(&pi).unwrap();
        let c = h.post(&confirm, json!({})).await;
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(c.body["status"], "succeeded");
        assert_eq!(c.body["transaction_id"], pi.as_str());
        assert_eq!(c.body["attempt"], 1, "no new attempt");
        assert_eq!(h.balance(&id).await, 2_000);
        // Stripe's event for it finds it recorded.
        let event = FakeStripe::event("payment_intent.succeeded", paid);
        assert_eq!(h.outcome(&event).await, "ignored");
        assert_eq!(h.balance(&id).await, 2_000, "credited once");
        assert_eq!(intents_created(&h), 1, "no new PaymentIntent, no new key");
        assert_eq!(h.fake.charges().len(), 1);
        h.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r25_3ds_completed_on_the_payment_intent_is_credited_by_its_event_once() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        let (id, top, pi, _) = waiting_top_up(&h).await;
        let paid = h.fake.authenticate_payment_intent(&pi).unwrap();
        let event = FakeStripe::event("payment_intent.succeeded", paid);
        assert_eq!(h.outcome(&event).await, "processed");
        assert_eq!(h.balance(&id).await, 2_000);
        // The customer's page confirms afterwards: the receipt, nothing more.
        let c = h
            .post(&format!("/v1/top-ups/{top}/confirm"), json!({}))
            .await;
        assert_eq!(
            (c.status, &c.body["status"]),
            (200, &json!("succeeded")),
            "{}",
            c.body
        );
        assert_eq!(h.outcome(&event).await, "duplicate");
        assert_eq!(h.balance(&id).await, 2_000, "credited once");
        assert_eq!(intents_created(&h), 1);
        h.assert_ledger_ok().await;
    }
}
