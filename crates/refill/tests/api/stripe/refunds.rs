//! Refunds made in Stripe (R31): the refunded share of the credit reversed once.

use super::*;
use crate::fixtures::no_verification;
use refill_domain::MINUTE;
use refill_gateway::RefundRequest;
use refill_gateway::fake_stripe::FakeFault;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r31_a_refund_reverses_its_share_of_the_credit_once() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, _) = h.funded("acme", "pm_card_visa", 0).await;
        let r = h.manual_top_up(&id, 5_000).await;
        assert_eq!(r.body["total"], 6_000, "R9: 20% tax in GB");
        let pi = r.body["transaction_id"].as_str().unwrap().to_string();
        let refund = |key: &str, amount: i64| RefundRequest {
            idempotency_key: key.into(),
            charge_id: pi.clone(),
            amount,
        };
        h.stripe.refund(&refund("r-1", 1_200)).await.unwrap();
        let e = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(
            h.balance(&id).await,
            4_000,
            "1,200 of 6,000 is 1,000 of credit"
        );
        let ev = h.events(&id, "top_up.refunded").await;
        assert_eq!(
            (
                &ev[0]["data"]["credit_reversed"],
                &ev[0]["data"]["tax_reversed"]
            ),
            (&json!(1_000), &json!(200))
        );
        assert_eq!(h.outcome(&e).await, "duplicate");
        let same_total = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(
            h.outcome(&same_total).await,
            "ignored",
            "nothing new refunded"
        );
        assert_eq!(h.top_up(&r.id()).await["refunded"], 1_200);
        h.spend(&id, 1_000).await;
        h.stripe.refund(&refund("r-2", 4_800)).await.unwrap();
        let e = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&id).await, -1_000, "all 5,000 reversed");
        assert!(
            h.flagged(&id).await,
            "below zero: usage refused until repaid"
        );
        assert_eq!(h.debit(&id, 10).await.code(), "account_blocked");
        let mut more = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        more["data"]["object"]["amount_refunded"] = json!(1_000_000);
        assert_eq!(h.outcome(&more).await, "ignored", "never more than charged");
        assert_eq!(h.balance(&id).await, -1_000);

        // The refund arrives before anything told refill the payment succeeded.
        let m = h.account("early").await;
        h.save_card(&m, "pm_card_visa").await;
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        let r = h
            .post(
                &format!("/v1/accounts/{m}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!(r.status, 503);
        let t = h.top_ups(&m).await[0]["id"].as_str().unwrap().to_string();
        let pi = h.payment_intent(&t, 1).await;
        let succeeded = FakeStripe::event("payment_intent.succeeded", h.fake.object(&pi).unwrap());
        h.stripe
            .refund(&RefundRequest {
                idempotency_key: "r-early".into(),
                charge_id: pi.clone(),
                amount: 600,
            })
            .await
            .unwrap();
        let refunded = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&refunded).await, "processed");
        assert_eq!(h.balance(&m).await, 4_500, "credited, then 500 reversed");
        assert_eq!(h.outcome(&succeeded).await, "ignored");
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        assert_eq!(h.balance(&m).await, 4_500);
        assert_eq!(h.fake.charges_for(&format!("{t}:1")), 1);
        h.assert_ledger_ok().await;
    }
}
