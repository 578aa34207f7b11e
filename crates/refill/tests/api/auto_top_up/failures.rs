//! When an automatic top-up fails (R11, R15, R23, R25): declines soft and hard,
//! authentication, outages, a main account that cannot cover a transfer, and a
//! pending payment that fails.

use super::auto_charges;
use crate::fixtures::no_verification;
use crate::support::*;
use refill_domain::{DAY, HOUR, MINUTE};
use refill_gateway::sandbox::Fault;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_r23_transfer_fails_cleanly_when_the_main_account_cannot_cover_it() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 3_000).await;
        let sub = app
            .create_account(json!({"name": "sub", "currency": "GBP", "parent_id": main}))
            .await;
        app.transfer(&main, &sub, 2_500).await;
        // R15: the sub-account's own key may not set up a transfer source.
        let sub_key = app.account_key(&sub).await;
        let body =
            json!({"enabled": true, "threshold": 1_000, "amount": 2_000, "source": "transfer"});
        let r = app
            .send(
                reqwest::Method::PUT,
                &format!("/v1/accounts/{sub}/auto-top-up"),
                Some(&body),
                &[],
                Some(&sub_key),
            )
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(
            app.put(&format!("/v1/accounts/{sub}/auto-top-up"), body)
                .await
                .status,
            200
        );
        app.spend(&sub, 2_000).await;
        app.engine().await;
        assert_eq!(app.balance(&main).await, 500, "nothing moved");
        assert_eq!(app.balance(&sub).await, 500);
        let failed = app.events(&sub, "top_up.failed").await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["data"]["reason"], "main_account_insufficient");
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_soft_declines_retry_after_24h_then_disable() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app
            .funded("acme", "pm_card_chargeCustomerFail", 5_000)
            .await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        app.spend(&id, 4_500).await;
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["consecutive_failures"], 1);
        assert_eq!(s["state"], "active");
        assert!(
            s["next_attempt"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-22T12:00"),
            "{s}"
        );
        app.clock.advance(23 * HOUR);
        app.engine().await;
        assert_eq!(
            app.auto_top_up(&id).await["consecutive_failures"],
            1,
            "not before 24 hours"
        );
        app.clock.advance(HOUR);
        app.engine().await;
        assert_eq!(app.auto_top_up(&id).await["consecutive_failures"], 2);
        app.clock.advance(24 * HOUR);
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["state"], "disabled");
        assert_eq!(s["state_reason"]["code"], "consecutive_failures", "{s}");
        assert_eq!(
            s["state_reason"]["message"],
            "3 failed attempts in a row (last: card_declined)"
        );
        assert_eq!(app.events(&id, "top_up.failed").await.len(), 3);
        let disabled = app.events(&id, "auto_top_up.disabled").await;
        assert_eq!(disabled.len(), 1);
        assert_eq!(disabled[0]["data"]["reason"], "consecutive_failures");
        assert_eq!(disabled[0]["data"]["message"], s["state_reason"]["message"]);
        // R16: the engine never resets the settings themselves.
        assert_eq!(s["threshold"], 1_000);
        assert_eq!(s["amount"], 2_000);
        app.clock.advance(10 * DAY);
        app.engine().await;
        assert_eq!(
            app.events(&id, "top_up.failed").await.len(),
            3,
            "nothing more once disabled"
        );
        assert_eq!(app.balance(&id).await, 500);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_hard_decline_disables_at_once() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, _) = app
            .funded("acme", "pm_card_chargeDeclinedLostCard", 5_000)
            .await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        app.spend(&id, 4_500).await;
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["state"], "disabled");
        assert_eq!(s["state_reason"]["code"], "hard_decline", "{s}");
        let message = s["state_reason"]["message"].as_str().unwrap();
        assert!(message.contains("lost_card"), "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_authentication_required_waits_for_the_customer() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, _) = app
            .funded("acme", "pm_card_authenticationRequired", 5_000)
            .await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        app.spend(&id, 4_500).await;
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["why_not"], "waiting_for_customer_authentication");
        let top = s["in_flight"]["top_up_id"].as_str().unwrap().to_string();
        let failed = app.events(&id, "top_up.failed").await;
        assert_eq!(failed[0]["data"]["reason"], "authentication_required");
        // Within `authentication_expiry` (24 hours): no retries while waiting.
        app.clock.advance(23 * HOUR);
        app.engine().await;
        assert_eq!(
            app.events(&id, "top_up.failed").await.len(),
            1,
            "no retries while waiting"
        );
        let r = app
            .post(&format!("/v1/top-ups/{top}/confirm"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["status"], "succeeded");
        assert_eq!(app.balance(&id).await, 2_500);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_r25_outages_are_retried_never_counted_never_doubled() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        app.sandbox.inject(Fault::Outage);
        app.spend(&id, 4_500).await;
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert_eq!(
            s["consecutive_failures"], 0,
            "an outage is not the customer's failure"
        );
        assert_eq!(s["why_not"], "gateway_unavailable");
        assert_eq!(auto_charges(&app), 0);
        // The answer to the next charge is lost after the charge was made.
        app.sandbox.inject(Fault::TimeoutAfterCharge);
        app.clock.advance(MINUTE + 1);
        app.engine().await;
        assert_eq!(auto_charges(&app), 1);
        assert_eq!(
            app.balance(&id).await,
            500,
            "outcome unknown: not credited yet"
        );
        app.clock.advance(MINUTE + 1);
        app.engine().await;
        assert_eq!(
            auto_charges(&app),
            1,
            "resolved by asking the gateway, never charged again"
        );
        assert_eq!(app.balance(&id).await, 2_500);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_pending_payment_credited_at_once_reversed_if_it_fails() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_pendingThenFails", 0).await;
        let r = app
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["status"].as_str()),
            (201, Some("pending"))
        );
        assert_eq!(app.balance(&id).await, 5_000, "usable while pending");
        app.spend(&id, 3_000).await;
        app.clock.advance(3 * DAY);
        assert_eq!(app.running.app.settle_pending().await.unwrap(), 1);
        assert_eq!(app.balance(&id).await, -3_000);
        let a = app.get(&format!("/v1/accounts/{id}")).await;
        assert_eq!(a.body["flagged"], true);
        let r = app.debit(&id, 1).await;
        assert_eq!((r.status, r.code()), (402, "account_blocked"));
        assert_eq!(app.events(&id, "payment.reversed").await.len(), 1);
        app.assert_ledger_ok().await;
    }
}

/// R27, R11: a reversal is a balance change like any other (decision 0017): through
/// the low-balance threshold it sends the notice, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_r27_a_reversal_through_the_threshold_sends_the_low_balance_notice() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_pendingThenFails", 0).await;
        let r = app
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        app.set_low_balance_notice(&id, 1_000).await;
        app.spend(&id, 3_000).await;
        assert!(
            app.events(&id, "balance.low").await.is_empty(),
            "still above"
        );
        app.clock.advance(3 * DAY);
        assert_eq!(app.running.app.settle_pending().await.unwrap(), 1);
        assert_eq!(app.balance(&id).await, -3_000);
        let low = app.events(&id, "balance.low").await;
        assert_eq!(low.len(), 1, "the reversal crossed the threshold");
        assert_eq!(low[0]["data"]["balance"], -3_000);
        assert_eq!(low[0]["data"]["low_balance_threshold"], 1_000);
        assert_eq!(app.events(&id, "payment.reversed").await.len(), 1);
    }
}
