//! The engine's charges on Stripe: one off-session charge per crossing (R18, R19), and
//! lost answers resolved by asking Stripe, never charged twice (R25).

use super::*;
use crate::fixtures::no_verification;
use refill_domain::{HOUR, MINUTE};
use refill_gateway::fake_stripe::FakeFault;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r18_r19_a_crossing_makes_one_off_session_charge_on_the_customer() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        let (id, _) = h.funded("acme", "pm_card_visa", 5_000).await;
        h.turn_on_auto_top_up(&id, 1_000, 3_000).await;
        for _ in 0..5 {
            assert_eq!(h.debit(&id, 900).await.status, 201);
        }
        h.engine().await;
        assert_eq!(h.auto_charges(&id).await, 1, "one crossing, one charge");
        assert_eq!(h.balance(&id).await, 3_500);
        let auto = h.top_ups(&id).await[0].clone();
        assert_eq!(
            (&auto["origin"], auto["total"].as_i64()),
            (&json!("auto"), Some(3_600))
        );
        let pi = h
            .fake
            .object(auto["transaction_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(pi["customer"], h.customer(&id).await.unwrap());
        assert_eq!(pi["metadata"]["refill_top_up"], auto["id"]);
        assert_eq!(pi["status"], "succeeded");
        // Stripe's own success event arrives after the executor recorded it.
        let event = FakeStripe::event("payment_intent.succeeded", pi);
        assert_eq!(h.outcome(&event).await, "ignored");
        assert_eq!(h.balance(&id).await, 3_500, "never credited twice");
        h.assert_ledger_ok().await;
    }
}

/// R25: a charge whose answer is lost (timeout after the charge, 500, 429, a slow
/// answer) is resolved by asking Stripe (searching its key) and sent again with the
/// same key only when Stripe never made it: one PaymentIntent, one credit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r25_faults_are_resolved_by_asking_stripe_never_double_charged() {
    let faults = [
        FakeFault::TimeoutAfterCharge(PAST_TIMEOUT),
        FakeFault::ServerError,
        FakeFault::RateLimited,
        FakeFault::Slow(PAST_TIMEOUT),
    ];
    for store in stores().await {
        let h = stripe_app(&store).await;
        for (i, fault) in faults.into_iter().enumerate() {
            let (id, _) = h.funded(&format!("f{i}"), "pm_card_visa", 5_000).await;
            h.turn_on_auto_top_up(&id, 1_000, 2_000).await;
            h.fake.inject(fault);
            assert_eq!(h.debit(&id, 4_500).await.status, 201);
            h.engine().await;
            let s = h.auto_top_up(&id).await;
            assert_eq!(s["why_not"], "gateway_unavailable", "{fault:?}");
            assert_eq!(
                s["consecutive_failures"], 0,
                "R23: not the customer's failure"
            );
            let made = usize::from(matches!(fault, FakeFault::TimeoutAfterCharge(_)));
            assert_eq!(h.auto_charges(&id).await, made, "{fault:?}");
            assert_eq!(
                h.balance(&id).await,
                500,
                "{fault:?}: unknown, not credited"
            );
            h.clock.advance(MINUTE + 1);
            h.engine().await;
            assert_eq!(h.auto_charges(&id).await, 1, "{fault:?}: one charge");
            assert_eq!(h.balance(&id).await, 2_500, "{fault:?}: credited once");
            h.clock.advance(MINUTE + 1);
            h.engine().await;
            assert_eq!(h.auto_charges(&id).await, 1, "{fault:?}");
            assert_eq!(h.balance(&id).await, 2_500, "{fault:?}");
        }
        h.assert_ledger_ok().await;
    }
}

/// R25: the webhook can bring a lost answer before the executor asks: then it is
/// recorded once, by whichever comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r25_a_lost_answer_is_recorded_once_by_the_webhook_or_the_search() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        // An automatic top-up.
        let (id, _) = h.funded("auto", "pm_card_visa", 5_000).await;
        h.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        h.spend(&id, 4_500).await;
        h.engine().await;
        let t = h.in_flight(&id).await;
        assert_eq!(h.top_up(&t).await["status"], "charging");
        let pi = h.payment_intent(&t, 1).await;
        let succeeded = FakeStripe::event("payment_intent.succeeded", h.fake.object(&pi).unwrap());
        assert_eq!(h.outcome(&succeeded).await, "processed");
        assert_eq!(h.balance(&id).await, 2_500);
        assert_eq!(h.top_up(&t).await["status"], "succeeded");
        assert_eq!(h.top_up(&t).await["transaction_id"], pi);
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        assert_eq!(
            (h.auto_charges(&id).await, h.balance(&id).await),
            (1, 2_500)
        );
        assert_eq!(h.outcome(&succeeded).await, "duplicate");

        // A manual top-up: the customer sees 503, the webhook settles it, the retry
        // with the same Idempotency-Key shows the receipt.
        let m = h.account("manual").await;
        h.save_card(&m, "pm_card_visa").await;
        let path = format!("/v1/accounts/{m}/top-ups");
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        let r = h.post_idem(&path, json!({"amount": 2_000}), "k-1").await;
        assert_eq!((r.status, r.code()), (503, "gateway_unavailable"));
        let t = h.top_ups(&m).await[0]["id"].as_str().unwrap().to_string();
        let pi = h.payment_intent(&t, 1).await;
        let succeeded = FakeStripe::event("payment_intent.succeeded", h.fake.object(&pi).unwrap());
        assert_eq!(h.outcome(&succeeded).await, "processed");
        let again = h.post_idem(&path, json!({"amount": 2_000}), "k-1").await;
        assert_eq!((again.status, again.id()), (201, t.clone()));
        assert_eq!(again.body["status"], "succeeded");
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        assert_eq!(h.fake.charges_for(&format!("{t}:1")), 1);
        assert_eq!(h.balance(&m).await, 2_000, "credited once");
        h.assert_ledger_ok().await;
    }
}

/// Review finding: a late event of an earlier, declined attempt must not move a
/// scheduled recharge (R30) whose next attempt is being charged (its gateway key names
/// the month, not the top-up); that attempt's own outcome is then recorded (R25).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r30_r25_a_late_event_of_an_earlier_attempt_changes_nothing() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let id = h.account("scheduled").await;
        let r = h
            .post(
                &pm_path(&id),
                json!({"token": "pm_card_chargeCustomerFail"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        // Today (the 21st) is its day: it runs now, and the card declines.
        let r = h
            .put(
                &format!("/v1/accounts/{id}/scheduled-recharge"),
                json!({"amount": 2_000, "day_of_month": 21}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        h.running.app.run_scheduled_recharges().await.unwrap();
        h.engine().await;
        let t = h.top_ups(&id).await[0]["id"].as_str().unwrap().to_string();
        assert_eq!(h.top_up(&t).await["attempt"], 1);
        let key = |attempt: i64| format!("scheduled:{id}:2026-11:{attempt}");
        let pi1 = h
            .stripe
            .find_charge(&key(1))
            .await
            .unwrap()
            .expect("attempt 1")
            .id;
        // The retry's answer is lost: attempt 2 stays charging, its outcome unknown.
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        h.clock.advance(24 * HOUR + MINUTE);
        h.engine().await;
        let now = h.top_up(&t).await;
        assert_eq!(
            (now["status"].as_str(), now["attempt"].as_i64()),
            (Some("charging"), Some(2)),
            "{now}"
        );
        // Stripe now retries attempt 1's old failure: it must change nothing.
        let late = FakeStripe::event(
            "payment_intent.payment_failed",
            h.fake.object(&pi1).unwrap(),
        );
        assert_eq!(h.outcome(&late).await, "ignored");
        assert_eq!(h.top_up(&t).await["status"], "charging");
        // Attempt 2's own outcome (declined, the same card) is found and recorded once.
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        let pi2 = h
            .stripe
            .find_charge(&key(2))
            .await
            .unwrap()
            .expect("attempt 2")
            .id;
        let now = h.top_up(&t).await;
        assert_eq!(
            (now["attempt"].as_i64(), now["transaction_id"].as_str()),
            (Some(2), Some(pi2.as_str())),
            "{now}"
        );
        assert_eq!(
            h.events(&id, "top_up.failed").await.len(),
            2,
            "one per attempt"
        );
        assert_eq!(h.balance(&id).await, 0);
        h.assert_ledger_ok().await;
    }
}
