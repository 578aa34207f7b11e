//! Pending payments on Stripe (R11): credited once whatever the webhooks' order,
//! reversed when they fail, or credited only when they settle.

use super::*;
use crate::fixtures::no_verification;
use refill_domain::MINUTE;
use refill_gateway::fake_stripe::FakeFault;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r11_webhooks_twice_and_out_of_order_credit_once() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        // The executor recorded the payment as pending: the success comes twice,
        // then the older `processing` event.
        let (id, _) = h.funded("pending", "pm_card_pending", 0).await;
        let r = h
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!((r.status, &r.body["status"]), (201, &json!("pending")));
        assert_eq!(h.balance(&id).await, 5_000, "R11: usable while pending");
        assert_eq!(h.events(&id, "top_up.pending").await.len(), 1);
        assert!(h.events(&id, "top_up.succeeded").await.is_empty());
        let pi = r.body["transaction_id"].as_str().unwrap().to_string();
        let processing =
            FakeStripe::event("payment_intent.processing", h.fake.object(&pi).unwrap());
        let succeeded = FakeStripe::event(
            "payment_intent.succeeded",
            h.fake.settle(&pi, true).unwrap(),
        );
        assert_eq!(h.outcome(&succeeded).await, "processed");
        assert_eq!(h.outcome(&succeeded).await, "duplicate");
        assert_eq!(h.outcome(&processing).await, "ignored");
        assert_eq!(h.top_up(&r.id()).await["status"], "succeeded");
        assert_eq!(h.balance(&id).await, 5_000, "credited once");
        let told = h.events(&id, "top_up.succeeded").await;
        assert_eq!(told.len(), 1, "R11: a success only once settled, once");
        assert_eq!(told[0]["data"]["status"], "succeeded");

        // The executor's answer was lost: success arrives before `processing`.
        let (a, _) = h.funded("auto", "pm_card_visa", 5_000).await;
        h.save_primary_card(&a, "pm_card_pending").await;
        h.turn_on_auto_top_up(&a, 1_000, 2_000).await;
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        h.spend(&a, 4_500).await;
        h.engine().await;
        let t = h.in_flight(&a).await;
        let pi = h.payment_intent(&t, 1).await;
        let processing =
            FakeStripe::event("payment_intent.processing", h.fake.object(&pi).unwrap());
        let succeeded = FakeStripe::event(
            "payment_intent.succeeded",
            h.fake.settle(&pi, true).unwrap(),
        );
        assert_eq!(h.outcome(&succeeded).await, "processed");
        assert_eq!(h.outcome(&processing).await, "ignored");
        assert_eq!(h.top_up(&t).await["status"], "succeeded");
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        assert_eq!((h.auto_charges(&a).await, h.balance(&a).await), (1, 2_500));
        h.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r11_pending_then_failed_is_reversed_flagged_and_blocks_usage() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, _) = h.funded("acme", "pm_card_pending", 0).await;
        let r = h.manual_top_up(&id, 5_000).await;
        assert_eq!(r.body["status"], "pending");
        assert_eq!(h.debit(&id, 3_000).await.status, 201);
        let pi = r.body["transaction_id"].as_str().unwrap().to_string();
        let processing =
            FakeStripe::event("payment_intent.processing", h.fake.object(&pi).unwrap());
        assert_eq!(h.outcome(&processing).await, "ignored", "pending already");
        let failed = FakeStripe::event(
            "payment_intent.payment_failed",
            h.fake.settle(&pi, false).unwrap(),
        );
        assert_eq!(h.outcome(&failed).await, "processed");
        assert_eq!(
            h.balance(&id).await,
            -3_000,
            "the credit reversed by a new entry"
        );
        assert!(h.flagged(&id).await);
        let t = h.top_up(&r.id()).await;
        assert_eq!(
            (&t["status"], &t["failure_code"]),
            (&json!("failed"), &json!("payment_failed"))
        );
        let blocked = h.debit(&id, 100).await;
        assert_eq!((blocked.status, blocked.code()), (402, "account_blocked"));
        assert_eq!(h.events(&id, "payment.reversed").await.len(), 1);
        // Again, and a stale success: nothing more.
        assert_eq!(h.outcome(&failed).await, "duplicate");
        let mut stale = FakeStripe::event("payment_intent.succeeded", h.fake.object(&pi).unwrap());
        stale["data"]["object"]["status"] = json!("succeeded");
        stale["data"]["object"]["last_payment_error"] = Value::Null;
        assert_eq!(h.outcome(&stale).await, "ignored");
        assert_eq!(h.balance(&id).await, -3_000);
        assert_eq!(h.events(&id, "payment.reversed").await.len(), 1);
        h.assert_ledger_ok().await;
    }
}

/// R11 configured off: the credit of a pending payment waits until it settles, and
/// an automatic one stays in flight meanwhile (no second charge for the crossing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r11_the_credit_can_wait_until_the_payment_settles() {
    for store in stores().await {
        let h = stripe_app_with(&store, |s| {
            no_verification(s);
            s.service.credit_pending = false;
        })
        .await;
        let (id, _) = h.funded("manual", "pm_card_pending", 0).await;
        let path = format!("/v1/accounts/{id}/top-ups");
        let ok = h.post(&path, json!({"amount": 5_000})).await;
        assert_eq!((ok.status, &ok.body["status"]), (201, &json!("pending")));
        assert_eq!(h.balance(&id).await, 0, "not credited while pending");
        let told = h.events(&id, "top_up.pending").await;
        assert_eq!(told.len(), 1, "R11: told pending, not credited");
        assert_eq!(told[0]["data"]["credited"], false);
        let pi = ok.body["transaction_id"].as_str().unwrap().to_string();
        let e = FakeStripe::event(
            "payment_intent.succeeded",
            h.fake.settle(&pi, true).unwrap(),
        );
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&id).await, 5_000);
        assert_eq!(h.outcome(&e).await, "duplicate");
        let bad = h.manual_top_up(&id, 3_000).await;
        let pi = bad.body["transaction_id"].as_str().unwrap().to_string();
        let e = FakeStripe::event(
            "payment_intent.payment_failed",
            h.fake.settle(&pi, false).unwrap(),
        );
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&id).await, 5_000, "nothing to reverse");
        assert!(!h.flagged(&id).await);
        assert_eq!(h.top_up(&bad.id()).await["status"], "failed");

        let (a, _) = h.funded("auto", "pm_card_visa", 5_000).await;
        h.save_primary_card(&a, "pm_card_pending").await;
        h.turn_on_auto_top_up(&a, 1_000, 2_000).await;
        h.spend(&a, 4_500).await;
        h.engine().await;
        let t = h.in_flight(&a).await;
        assert_eq!(h.top_up(&t).await["status"], "pending");
        assert_eq!(h.balance(&a).await, 500);
        h.clock.advance(60 * MINUTE);
        h.running.app.periodic_check().await.unwrap();
        h.engine().await;
        assert_eq!(
            h.auto_charges(&a).await,
            1,
            "R19: in flight until it settles"
        );
        let pi = h.payment_intent(&t, 1).await;
        let e = FakeStripe::event(
            "payment_intent.succeeded",
            h.fake.settle(&pi, true).unwrap(),
        );
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&a).await, 2_500);
        h.assert_ledger_ok().await;
    }
}
