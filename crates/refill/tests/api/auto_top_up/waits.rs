//! What is in flight never blocks auto top-up for ever, silently (R19, R22-R24): a
//! wait for the customer's 3-D Secure expires, turning auto top-up off cancels what is
//! queued, planned or waiting, and changing the settings re-plans what is planned.

use crate::fixtures::no_verification;
use crate::support::*;
use refill_domain::{HOUR, MINUTE};
use serde_json::{Value, json};

fn reasons(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["data"]["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_a_wait_for_the_customer_expires_after_the_configured_time_as_a_failure() {
    for store in stores().await {
        let app = spawn_with(&store, |s| {
            no_verification(s);
            s.service.limits.authentication_expiry = 6 * HOUR;
        })
        .await;
        let (id, _) = app
            .funded("acme", "pm_card_authenticationRequired", 5_000)
            .await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        app.spend(&id, 4_500).await;
        app.engine().await;
        // R24: why not, and until when (T0 is 12:00).
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["why_not"], "waiting_for_customer_authentication");
        assert_eq!(s["why_not_until"], "2026-11-21T18:00:00.000Z", "{s}");
        assert_eq!(s["in_flight"]["expires_at"], "2026-11-21T18:00:00.000Z");
        let top = s["in_flight"]["top_up_id"].as_str().unwrap().to_string();
        app.clock.advance(6 * HOUR - 1);
        app.engine().await;
        assert_eq!(app.events(&id, "top_up.failed").await.len(), 1, "not yet");
        app.clock.advance(1);
        app.engine().await;
        let failed = app.events(&id, "top_up.failed").await;
        assert_eq!(failed.len(), 2, "the expiry is told");
        assert!(reasons(&failed).contains(&"authentication_expired".into()));
        // A failed attempt like any other (counted once): retried after the delay.
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["why_not"], "retry_scheduled", "{s}");
        assert_eq!(s["consecutive_failures"], 1);
        assert_eq!(
            s["last_attempt"]["outcome"],
            "failed: authentication_expired"
        );
        assert_eq!(s["next_attempt"], "2026-11-22T18:00:00.000Z");
        let r = app
            .post(&format!("/v1/top-ups/{top}/confirm"), json!({}))
            .await;
        assert_eq!(r.status, 409, "no longer awaiting the customer: {}", r.body);
        assert_eq!(app.balance(&id).await, 500, "never charged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_r24_turning_off_cancels_what_is_planned_or_waiting_and_tells_it() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        // A soft decline: its retry is planned 24 hours ahead.
        let (id, _) = app
            .funded("acme", "pm_card_chargeCustomerFail", 5_000)
            .await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        app.spend(&id, 4_500).await;
        app.engine().await;
        let planned = app.auto_top_up(&id).await["in_flight"]["top_up_id"]
            .as_str()
            .unwrap()
            .to_string();
        app.turn_off_auto_top_up(&id).await;
        let s = app.auto_top_up(&id).await;
        assert!(s["in_flight"].is_null(), "{s}");
        assert_eq!(s["why_not"], "not_active", "no retry planned any more");
        assert!(s["why_not_until"].is_null());
        let t = app.get(&format!("/v1/top-ups/{planned}")).await;
        assert_eq!(t.body["status"], "canceled", "{}", t.body);
        let failed = app.events(&id, "top_up.failed").await;
        assert!(reasons(&failed).contains(&"auto_top_up_turned_off".into()));
        // On again, with another card: the next crossing's top-up runs after the
        // window, not after the old retry's 24 hours.
        app.save_primary_card(&id, "pm_card_visa").await;
        assert_eq!(enable_auto_top_up(&app, &id, 400, 2_000).await.status, 200);
        app.spend(&id, 100).await;
        app.clock.advance(30 * MINUTE);
        app.engine().await;
        assert_eq!(app.balance(&id).await, 2_400);

        // Waiting for the customer: canceled too, and can no longer be confirmed.
        let (other, _) = app
            .funded("other", "pm_card_authenticationRequired", 5_000)
            .await;
        app.turn_on_auto_top_up(&other, 1_000, 2_000).await;
        app.spend(&other, 4_500).await;
        app.engine().await;
        let s = app.auto_top_up(&other).await;
        assert_eq!(s["in_flight"]["status"], "requires_action");
        let waiting = s["in_flight"]["top_up_id"].as_str().unwrap().to_string();
        app.turn_off_auto_top_up(&other).await;
        let r = app
            .post(&format!("/v1/top-ups/{waiting}/confirm"), json!({}))
            .await;
        assert_eq!(r.status, 409, "{}", r.body);
        let failed = app.events(&other, "top_up.failed").await;
        assert!(reasons(&failed).contains(&"auto_top_up_turned_off".into()));
        assert_eq!(app.balance(&other).await, 500, "never charged");
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_changing_the_settings_re_plans_a_planned_retry() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, _) = app
            .funded("acme", "pm_card_chargeCustomerFail", 5_000)
            .await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        app.spend(&id, 4_500).await;
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["why_not"], "retry_scheduled");
        assert_eq!(s["why_not_until"], "2026-11-22T12:00:00.000Z");
        // New settings (another card, a threshold below the balance, R13): the retry
        // planned under the old ones is decided again now, and not needed any more.
        let visa = app.save_spare_card(&id, "pm_card_visa").await;
        let body = json!({"enabled": true, "threshold": 400, "amount": 2_000,
            "payment_method": visa, "terms_version": TERMS});
        let r = app
            .put(&format!("/v1/accounts/{id}/auto-top-up"), body)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        app.engine().await;
        assert!(app.auto_top_up(&id).await["in_flight"].is_null());
        // The new settings' first top-up waits for the window only.
        app.spend(&id, 100).await;
        app.clock.advance(30 * MINUTE);
        app.engine().await;
        assert_eq!(app.balance(&id).await, 2_400);
        app.assert_ledger_ok().await;
    }
}
