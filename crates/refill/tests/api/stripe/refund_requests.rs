//! Refunds with approval on Stripe (R31): the approved refund is a `POST /v1/refunds`
//! keyed by the refund's id (also in its metadata), followed by Stripe's refund
//! webhooks or the periodic job; refunds made in Stripe's dashboard and refunds made
//! through refill are each reversed once.

use super::*;
use crate::checks::{assert_created, assert_problem, assert_rule};
use crate::fixtures::no_verification;
use refill_gateway::RefundRequest;
use refill_gateway::fake_stripe::FakeFault;
use serde_json::json;

/// An account paid 5,000 (6,000 charged, 20% tax) by a card of `token`: the account,
/// the top-up and its PaymentIntent.
async fn paid(h: &StripeApp, token: &str) -> (String, String, String) {
    let id = h.account("acme").await;
    h.save_card(&id, token).await;
    let r = h.manual_top_up(&id, 5_000).await;
    assert_eq!(r.body["total"], 6_000);
    let pi = r.body["transaction_id"].as_str().unwrap().to_string();
    (id, r.id(), pi)
}

async fn ask(h: &StripeApp, top_up: &str, amount: i64) -> String {
    let body = json!({"amount": amount, "reason": "not needed"});
    let r = h.post(&format!("/v1/top-ups/{top_up}/refunds"), body).await;
    assert_created(&r);
    r.id()
}

async fn approve(h: &StripeApp, refund: &str, body: Value) -> Value {
    let r = h.post(&format!("/v1/refunds/{refund}/approve"), body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn refund(h: &StripeApp, id: &str) -> Value {
    h.get(&format!("/v1/refunds/{id}")).await.body
}

/// Refunds `amount` of the PaymentIntent in Stripe's dashboard (no refill key).
async fn dashboard_refund(h: &StripeApp, pi: &str, key: &str, amount: i64) -> Value {
    let req = RefundRequest {
        idempotency_key: key.into(),
        charge_id: pi.into(),
        amount,
    };
    h.stripe.refund(&req).await.unwrap();
    FakeStripe::event("charge.refunded", h.fake.charge_object(pi).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r31_an_approved_refund_is_refunded_at_stripe_under_its_key() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, t, pi) = paid(&h, "pm_card_visa").await;
        let rfd = ask(&h, &t, 1_800).await;
        let r = approve(&h, &rfd, json!({"amount": 1_200})).await;
        assert_eq!(
            (&r["status"], &r["amount"]),
            (&json!("succeeded"), &json!(1_200))
        );
        assert_eq!(h.balance(&id).await, 4_000);
        let at_stripe = h.fake.refunds(&pi);
        assert_eq!(at_stripe.len(), 1);
        assert_eq!(at_stripe[0]["id"], r["transaction_id"]);
        assert_eq!(at_stripe[0]["amount"], 1_200);
        let key = format!("refund:{rfd}");
        assert_eq!(at_stripe[0]["metadata"]["idempotency_key"], key);
        let sent = h.fake.requests();
        let post = sent.iter().find(|q| q.path == "/v1/refunds").unwrap();
        assert_eq!(post.idempotency_key.as_deref(), Some(key.as_str()));
        // Stripe's charge.refunded for refill's own refund changes nothing.
        let e = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&e).await, "ignored");
        assert_eq!(h.balance(&id).await, 4_000);
        assert_eq!(h.top_up(&t).await["refunded"], 1_200);
        assert!(h.events(&id, "top_up.refunded").await.is_empty());
        assert_eq!(h.events(&id, "refund.succeeded").await.len(), 1);
        h.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r31_a_rejected_request_sends_nothing_to_stripe() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, t, pi) = paid(&h, "pm_card_visa").await;
        let rfd = ask(&h, &t, 6_000).await;
        let r = h
            .post(
                &format!("/v1/refunds/{rfd}/reject"),
                json!({"reason": "used"}),
            )
            .await;
        assert_eq!(r.body["status"], "rejected", "{}", r.body);
        let again = h
            .post(&format!("/v1/refunds/{rfd}/approve"), json!({}))
            .await;
        assert_problem(&again, 409, "refund_not_awaiting_decision");
        assert_rule(&again, "R31");
        assert!(h.fake.refunds(&pi).is_empty());
        assert_eq!(h.balance(&id).await, 5_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r31_a_pending_refund_that_fails_is_restored_once() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, t, pi) = paid(&h, "pm_card_refundFail").await;
        let rfd = ask(&h, &t, 6_000).await;
        let r = approve(&h, &rfd, json!({})).await;
        assert_eq!(r["status"], "pending", "{r}");
        assert_eq!(h.balance(&id).await, 0);
        let refunded = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(
            h.outcome(&refunded).await,
            "ignored",
            "refill's own, pending"
        );
        assert_eq!(h.running.app.settle_refunds().await.unwrap(), 0);

        let re = r["transaction_id"].as_str().unwrap();
        let failed = h.fake.settle_refund(re, false).unwrap();
        let e = FakeStripe::event("charge.refund.updated", failed);
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(refund(&h, &rfd).await["status"], "failed");
        assert_eq!(h.balance(&id).await, 5_000, "restored");
        assert_eq!(h.outcome(&e).await, "duplicate");
        let same = FakeStripe::event("refund.failed", h.fake.object(re).unwrap());
        assert_eq!(h.outcome(&same).await, "ignored", "restored once");
        let late = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&late).await, "ignored");
        h.clock.advance(3 * refill_domain::DAY);
        assert_eq!(h.running.app.settle_refunds().await.unwrap(), 0);
        assert_eq!(h.balance(&id).await, 5_000);
        assert_eq!(h.top_up(&t).await["refunded"], 0);
        assert_eq!(h.events(&id, "refund.failed").await.len(), 1);

        // The periodic job follows a pending refund without webhooks, too.
        let rfd = ask(&h, &t, 1_200).await;
        let r = approve(&h, &rfd, json!({})).await;
        h.fake
            .settle_refund(r["transaction_id"].as_str().unwrap(), true)
            .unwrap();
        assert_eq!(h.running.app.settle_refunds().await.unwrap(), 1);
        assert_eq!(refund(&h, &rfd).await["status"], "succeeded");
        assert_eq!(h.balance(&id).await, 4_000);
        h.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r31_dashboard_and_refill_refunds_are_each_reversed_once() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, t, pi) = paid(&h, "pm_card_visa").await;
        let e = dashboard_refund(&h, &pi, "dash-1", 1_200).await;
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&id).await, 4_000, "1,000 of credit");

        let rfd = ask(&h, &t, 2_400).await;
        assert_eq!(approve(&h, &rfd, json!({})).await["status"], "succeeded");
        assert_eq!(h.balance(&id).await, 2_000);
        let e = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(
            h.outcome(&e).await,
            "ignored",
            "refill's refund is not reversed again"
        );
        assert_eq!(h.balance(&id).await, 2_000);

        let e = dashboard_refund(&h, &pi, "dash-2", 600).await;
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&id).await, 1_500, "only the new dashboard refund");

        // A refill refund whose answer was lost: the webhook recognises it by the key
        // in its metadata, records it, and reverses nothing more.
        let lost = ask(&h, &t, 600).await;
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        assert_eq!(approve(&h, &lost, json!({})).await["status"], "approved");
        assert_eq!(h.balance(&id).await, 1_000);
        let e = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(refund(&h, &lost).await["status"], "succeeded");
        assert_eq!(h.balance(&id).await, 1_000);
        h.clock.advance(2 * refill_domain::MINUTE);
        assert_eq!(h.running.app.settle_refunds().await.unwrap(), 0);

        // What is left of the charge since the dashboard refunds bounds an approval.
        let rest = ask(&h, &t, 1_200).await;
        let e = dashboard_refund(&h, &pi, "dash-3", 600).await;
        assert_eq!(h.outcome(&e).await, "processed");
        let r = h
            .post(&format!("/v1/refunds/{rest}/approve"), json!({}))
            .await;
        assert_problem(&r, 422, "refund_exceeds_charge");
        assert_rule(&r, "R31");

        let at_stripe: i64 = (h.fake.refunds(&pi).iter())
            .map(|r| r["amount"].as_i64().unwrap())
            .sum();
        assert_eq!(at_stripe, 5_400);
        assert_eq!(h.top_up(&t).await["refunded"], at_stripe);
        assert_eq!(h.balance(&id).await, 500, "4,500 of credit reversed in all");
        assert_eq!(h.events(&id, "top_up.refunded").await.len(), 3);
        h.assert_ledger_ok().await;
    }
}
