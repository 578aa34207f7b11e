//! The limits on automatic top-ups: the minimum interval between card top-ups (R20),
//! follow-ups while still below, and the caps (R21).

use super::auto_charges;
use crate::support::*;
use refill_domain::{DAY, HOUR, MINUTE};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_card_top_ups_inside_the_window_are_queued_not_dropped() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        app.spend(&id, 4_500).await;
        app.engine().await;
        assert_eq!(app.balance(&id).await, 2_500);
        app.clock.advance(10 * MINUTE);
        app.spend(&id, 2_000).await;
        app.engine().await;
        assert_eq!(auto_charges(&app), 1, "inside the 30-minute window");
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["why_not"], "minimum_interval");
        assert_eq!(s["in_flight"]["status"], "queued");
        app.clock.advance(20 * MINUTE);
        app.engine().await;
        assert_eq!(
            auto_charges(&app),
            2,
            "the queued top-up runs when the window ends"
        );
        assert_eq!(app.balance(&id).await, 2_500);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_transfer_source_has_no_minimum_interval() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 20_000).await;
        let sub = app
            .create_account(json!({"name": "sub", "currency": "GBP", "parent_id": main}))
            .await;
        app.transfer(&main, &sub, 3_000).await;
        let r = app
            .put(
                &format!("/v1/accounts/{sub}/auto-top-up"),
                json!({"enabled": true, "threshold": 1_000, "amount": 2_000, "source": "transfer"}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for _ in 0..3 {
            app.spend(&sub, 2_000).await;
            app.engine().await;
        }
        assert_eq!(app.balance(&sub).await, 3_000 + 3 * 2_000 - 3 * 2_000);
        assert_eq!(app.balance(&main).await, 20_000 - 3_000 - 3 * 2_000);
        assert_eq!(app.events(&sub, "top_up.succeeded").await.len(), 3);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r21_still_below_after_a_top_up_another_follows_and_caps_stop_it() {
    for store in stores().await {
        let app = spawn_with(&store, |s| {
            s.service.limits.daily_count_cap = 2;
        })
        .await;
        let (id, _) = app.funded("acme", "pm_card_visa", 20_000).await;
        app.turn_on_auto_top_up(&id, 10_000, 10_000).await;
        // A large fee-like usage: far below the threshold.
        app.spend(&id, 19_000).await;
        app.engine().await;
        assert_eq!(app.balance(&id).await, 11_000);
        // Still above: no follow-up. Now a runaway: each top-up leaves it below.
        app.spend(&id, 11_000).await;
        app.engine().await;
        assert_eq!(
            auto_charges(&app),
            1,
            "the second top-up of the day... waits for the window first"
        );
        app.clock.advance(30 * MINUTE);
        app.engine().await;
        assert_eq!(auto_charges(&app), 2);
        assert_eq!(
            app.balance(&id).await,
            10_000,
            "still at the threshold: another follows (R21)"
        );
        app.clock.advance(30 * MINUTE);
        app.engine().await;
        assert_eq!(
            auto_charges(&app),
            2,
            "the daily cap of 2 really stops the charges"
        );
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["why_not"], "daily_cap_reached");
        app.clock.advance(HOUR);
        app.engine().await;
        assert_eq!(app.events(&id, "cap.reached").await.len(), 1, "told once");
        app.clock.set(T0 - T0 % DAY + DAY);
        app.engine().await;
        assert_eq!(auto_charges(&app), 3, "the next day the queued top-up runs");
    }
}

/// A month of simulated usage: 30 days, 48 debits a day, the engine after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_r21_a_month_of_simulated_usage() {
    let store = Store::sqlite();
    let app = spawn(&store).await;
    let (id, _) = app.funded("acme", "pm_card_visa", 20_000).await;
    app.turn_on_auto_top_up(&id, 5_000, 10_000).await;
    let mut refused = 0;
    for _ in 0..30 * 48 {
        if app.debit(&id, 400).await.status != 201 {
            refused += 1;
        }
        app.engine().await;
        app.clock.advance(30 * MINUTE);
    }
    let tops = app.events(&id, "top_up.succeeded").await.len();
    // 48 * 400 = 19,200 a day: about two top-ups of 10,000 a day, none refused.
    assert_eq!(refused, 0);
    assert!((55..=60).contains(&(tops - 1)), "{tops} top-ups");
    assert_eq!(auto_charges(&app), tops - 1);
    app.assert_ledger_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r21_settings_above_a_cap_are_refused_when_set() {
    for store in stores().await {
        let app = spawn_with(&store, |s| s.service.limits.daily_amount_cap = 1_500).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        let r = enable_auto_top_up(&app, &id, 1_000, 2_000).await;
        assert_eq!(
            (r.status, r.code(), r.body["rule"].as_str()),
            (422, "amount_above_cap", Some("R21")),
            "{}",
            r.body
        );
        let r = app
            .put(
                &format!("/v1/accounts/{id}/auto-top-up"),
                json!({"enabled": true, "threshold": 100, "target_balance": 1_600,
                    "terms_version": TERMS}),
            )
            .await;
        assert_eq!(
            r.code(),
            "amount_above_cap",
            "up to a target: the most it charges"
        );
        assert_eq!(app.auto_top_up(&id).await["state"], "off", "nothing saved");
        assert_eq!(
            enable_auto_top_up(&app, &id, 1_000, 1_500).await.status,
            200
        );
    }
}

/// Settings saved under higher caps, then the operator lowers a cap below their
/// amount: their top-up could never run, so it never waits for a midnight that would
/// only move; the customer is told and the settings are disabled with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r21_a_top_up_above_a_cap_is_refused_and_told_never_left_waiting() {
    for store in stores().await {
        let before = spawn(&store).await;
        let (id, _) = before.funded("acme", "pm_card_visa", 5_000).await;
        before.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        let app = spawn_with(&store, |s| s.service.limits.daily_amount_cap = 1_500).await;
        app.spend(&id, 4_500).await;
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["state"], "disabled", "{s}");
        assert_eq!(s["state_reason"]["code"], "amount_above_cap", "{s}");
        assert!(s["in_flight"].is_null());
        assert!(
            app.events(&id, "cap.reached").await.is_empty(),
            "no until to promise"
        );
        let disabled = app.events(&id, "auto_top_up.disabled").await;
        assert_eq!(disabled.len(), 1);
        assert_eq!(disabled[0]["data"]["reason"], "amount_above_cap");
        app.clock.advance(3 * DAY);
        app.engine().await;
        assert_eq!(auto_charges(&app), 0);
        assert_eq!(app.events(&id, "auto_top_up.disabled").await.len(), 1);
        assert_eq!(app.balance(&id).await, 500);
    }
}
