//! Issue 3: the auto top-up engine, R12-R27, with the simulated clock.

use crate::support::{enable_auto_top_up as enable, *};
use refill_domain::{DAY, HOUR, MINUTE};
use refill_gateway::sandbox::Fault;
use serde_json::{Value, json};

async fn settings(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/accounts/{id}/auto-top-up"))
        .await
        .body
}

/// Charges made for automatic top-ups: the sandbox's own record, less the
/// verification and manual charges.
fn auto_charges(app: &TestApp) -> usize {
    let charges = app.sandbox.charges();
    let manual = app.manual_top_ups.lock().unwrap().clone();
    charges
        .iter()
        .filter(|(k, _)| k.starts_with("top_") && !manual.iter().any(|m| k.starts_with(m.as_str())))
        .count()
}

fn no_verification(s: &mut refill::Settings) {
    s.service.verification_amount = 0;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_r19_crossing_gives_exactly_one_top_up() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        let before = app.sandbox.charges().len();
        assert_eq!(enable(&app, &id, 1_000, 3_000).await.status, 200);
        // Verification: one charge (R14), refunded.
        assert_eq!(app.sandbox.charges().len(), before + 1);
        for _ in 0..5 {
            assert_eq!(app.debit(&id, 900).await.status, 201);
        }
        assert_eq!(app.balance(&id).await, 500);
        app.engine().await;
        assert_eq!(
            auto_charges(&app),
            1,
            "five debits below the threshold, one crossing, one charge"
        );
        assert_eq!(app.balance(&id).await, 3_500);
        let ok = app.events(&id, "top_up.succeeded").await;
        assert_eq!(ok.len(), 2, "the manual and the automatic top-up");
        assert_eq!(ok[0]["data"]["origin"], "auto");
        assert_eq!(ok[0]["data"]["tax"], 600, "R9: tax by the payer's country");
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_transfers_and_fees_never_trigger_by_default() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("main", "pm_card_visa", 10_000).await;
        let sub = app
            .post(
                "/v1/accounts",
                json!({"name": "sub", "currency": "GBP", "parent_id": id}),
            )
            .await
            .id();
        assert_eq!(enable(&app, &id, 5_000, 5_000).await.status, 200);
        let r = app
            .post(
                "/v1/transfers",
                json!({"from_account": id, "to_account": sub, "amount": 6_000}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let fee = app
            .post(
                &format!("/v1/accounts/{id}/debits"),
                json!({"amount": 100, "kind": "fee"}),
            )
            .await;
        assert_eq!(fee.status, 201);
        app.engine().await;
        assert_eq!(auto_charges(&app), 0);
        assert!(settings(&app, &id).await["in_flight"].is_null());
        // Usage does.
        app.debit(&id, 100).await;
        app.engine().await;
        assert_eq!(auto_charges(&app), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_what_counts_as_spending_is_configurable() {
    let store = Store::sqlite();
    let app = spawn_with(&store, |s| {
        s.service.trigger_on = refill_domain::debit::TriggerOn::UsageAndFees
    })
    .await;
    let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
    enable(&app, &id, 1_000, 2_000).await;
    app.post(
        &format!("/v1/accounts/{id}/debits"),
        json!({"amount": 4_500, "kind": "fee"}),
    )
    .await;
    app.engine().await;
    assert_eq!(auto_charges(&app), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_card_top_ups_inside_the_window_are_queued_not_dropped() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        enable(&app, &id, 1_000, 2_000).await;
        app.debit(&id, 4_500).await;
        app.engine().await;
        assert_eq!(app.balance(&id).await, 2_500);
        app.clock.advance(10 * MINUTE);
        app.debit(&id, 2_000).await;
        app.engine().await;
        assert_eq!(auto_charges(&app), 1, "inside the 30-minute window");
        let s = settings(&app, &id).await;
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
            .post(
                "/v1/accounts",
                json!({"name": "sub", "currency": "GBP", "parent_id": main}),
            )
            .await
            .id();
        app.post(
            "/v1/transfers",
            json!({"from_account": main, "to_account": sub, "amount": 3_000}),
        )
        .await;
        let r = app
            .put(
                &format!("/v1/accounts/{sub}/auto-top-up"),
                json!({"enabled": true, "threshold": 1_000, "amount": 2_000, "source": "transfer"}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        for _ in 0..3 {
            app.debit(&sub, 2_000).await;
            app.engine().await;
        }
        assert_eq!(app.balance(&sub).await, 3_000 + 3 * 2_000 - 3 * 2_000);
        assert_eq!(app.balance(&main).await, 20_000 - 3_000 - 3 * 2_000);
        assert_eq!(app.events(&sub, "top_up.succeeded").await.len(), 3);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_r23_transfer_fails_cleanly_when_the_main_account_cannot_cover_it() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 3_000).await;
        let sub = app
            .post(
                "/v1/accounts",
                json!({"name": "sub", "currency": "GBP", "parent_id": main}),
            )
            .await
            .id();
        app.post(
            "/v1/transfers",
            json!({"from_account": main, "to_account": sub, "amount": 2_500}),
        )
        .await;
        // R15: the sub-account's own key may not set up a transfer source.
        let sub_key = app
            .post(&format!("/v1/accounts/{sub}/keys"), json!({}))
            .await
            .body["key"]
            .as_str()
            .unwrap()
            .to_string();
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
        app.debit(&sub, 2_000).await;
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
async fn r21_still_below_after_a_top_up_another_follows_and_caps_stop_it() {
    for store in stores().await {
        let app = spawn_with(&store, |s| {
            s.service.limits.daily_count_cap = 2;
        })
        .await;
        let (id, _) = app.funded("acme", "pm_card_visa", 20_000).await;
        enable(&app, &id, 10_000, 10_000).await;
        // A large fee-like usage: far below the threshold.
        app.debit(&id, 19_000).await;
        app.engine().await;
        assert_eq!(app.balance(&id).await, 11_000);
        // Still above: no follow-up. Now a runaway: each top-up leaves it below.
        app.debit(&id, 11_000).await;
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
        let s = settings(&app, &id).await;
        assert_eq!(s["why_not"], "daily_cap_reached");
        app.clock.advance(HOUR);
        app.engine().await;
        assert_eq!(app.events(&id, "cap.reached").await.len(), 1, "told once");
        app.clock.set(T0 - T0 % DAY + DAY);
        app.engine().await;
        assert_eq!(auto_charges(&app), 3, "the next day the queued top-up runs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_soft_declines_retry_after_24h_then_disable() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app
            .funded("acme", "pm_card_chargeCustomerFail", 5_000)
            .await;
        assert_eq!(enable(&app, &id, 1_000, 2_000).await.status, 200);
        app.debit(&id, 4_500).await;
        app.engine().await;
        let s = settings(&app, &id).await;
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
            settings(&app, &id).await["consecutive_failures"],
            1,
            "not before 24 hours"
        );
        app.clock.advance(HOUR);
        app.engine().await;
        assert_eq!(settings(&app, &id).await["consecutive_failures"], 2);
        app.clock.advance(24 * HOUR);
        app.engine().await;
        let s = settings(&app, &id).await;
        assert_eq!(s["state"], "disabled");
        assert!(
            s["state_reason"]
                .as_str()
                .unwrap()
                .contains("3 consecutive"),
            "{s}"
        );
        assert_eq!(app.events(&id, "top_up.failed").await.len(), 3);
        assert_eq!(app.events(&id, "auto_top_up.disabled").await.len(), 1);
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
        let r = enable(&app, &id, 1_000, 2_000).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        app.debit(&id, 4_500).await;
        app.engine().await;
        let s = settings(&app, &id).await;
        assert_eq!(s["state"], "disabled");
        assert!(
            s["state_reason"].as_str().unwrap().contains("lost_card"),
            "{s}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_authentication_required_waits_for_the_customer() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, _) = app
            .funded("acme", "pm_card_authenticationRequired", 5_000)
            .await;
        enable(&app, &id, 1_000, 2_000).await;
        app.debit(&id, 4_500).await;
        app.engine().await;
        let s = settings(&app, &id).await;
        assert_eq!(s["why_not"], "waiting_for_customer_authentication");
        let top = s["in_flight"]["top_up_id"].as_str().unwrap().to_string();
        let failed = app.events(&id, "top_up.failed").await;
        assert_eq!(failed[0]["data"]["reason"], "authentication_required");
        app.clock.advance(3 * DAY);
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
        enable(&app, &id, 1_000, 2_000).await;
        app.sandbox.inject(Fault::Outage);
        app.debit(&id, 4_500).await;
        app.engine().await;
        let s = settings(&app, &id).await;
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
async fn r22_periodic_check_catches_a_missed_top_up_and_removed_cards() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, pm) = app.funded("main", "pm_card_visa", 10_000).await;
        let sub = app
            .post(
                "/v1/accounts",
                json!({"name": "sub", "currency": "GBP", "parent_id": main}),
            )
            .await
            .id();
        enable(&app, &main, 5_000, 5_000).await;
        // A transfer out takes it below the threshold without triggering (R18).
        app.post(
            "/v1/transfers",
            json!({"from_account": main, "to_account": sub, "amount": 6_000}),
        )
        .await;
        app.engine().await;
        assert_eq!(auto_charges(&app), 0);
        let (queued, _) = app.running.app.periodic_check().await.unwrap();
        assert_eq!(queued, 1);
        app.engine().await;
        assert_eq!(auto_charges(&app), 1);
        assert_eq!(
            app.running.app.periodic_check().await.unwrap().0,
            0,
            "nothing in flight, above: nothing due"
        );
        // R22: a removed payment method disables the settings, with the reason.
        app.delete(&format!("/v1/accounts/{main}/payment-methods/{pm}"))
            .await;
        let s = settings(&app, &main).await;
        assert_eq!(s["state"], "disabled");
        assert_eq!(s["state_reason"], "payment_method_removed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r13_r14_r16_settings_are_validated_versioned_and_verified_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        let path = format!("/v1/accounts/{id}/auto-top-up");
        let r = enable(&app, &id, 5_000, 5_000).await;
        assert_eq!(
            (r.status, r.code(), r.body["rule"].as_str()),
            (422, "threshold_not_below_balance", Some("R13"))
        );
        let r = enable(&app, &id, 2_000, 1_500).await;
        assert_eq!(r.code(), "amount_below_threshold");
        let r = enable(&app, &id, 100, 500).await;
        assert_eq!(
            (r.code(), r.body["rule"].as_str()),
            ("amount_below_minimum", Some("R8"))
        );
        let r = app
            .put(
                &path,
                json!({"enabled": true, "threshold": 1_000, "amount": 2_000}),
            )
            .await;
        assert_eq!(
            (r.code(), r.body["rule"].as_str()),
            ("terms_not_accepted", Some("R14"))
        );
        let verifications = || {
            app.sandbox
                .charges()
                .iter()
                .filter(|(k, _)| k.starts_with("verify"))
                .count()
        };
        assert_eq!(verifications(), 0, "refusals charge nothing");
        let on = enable(&app, &id, 1_000, 2_000).await;
        assert_eq!(on.status, 200);
        assert_eq!(on.headers["etag"], "\"1\"");
        assert_eq!(on.body["terms_version"], TERMS);
        assert_eq!(verifications(), 1);
        // Changing the threshold needs no new verification; a stale version is refused.
        let change = json!({"enabled": true, "threshold": 1_500, "amount": 2_000});
        let r = app
            .send(
                reqwest::Method::PUT,
                &path,
                Some(&change),
                &[("If-Match", "\"1\"")],
                Some(OPERATOR_KEY),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(verifications(), 1);
        let r = app
            .send(
                reqwest::Method::PUT,
                &path,
                Some(&change),
                &[("If-Match", "\"1\"")],
                Some(OPERATOR_KEY),
            )
            .await;
        assert_eq!((r.status, r.code()), (412, "version_mismatch"));
        // Off, then on again: the whole procedure again (R14).
        assert_eq!(
            app.put(&path, json!({"enabled": false})).await.body["state"],
            "off"
        );
        assert_eq!(enable(&app, &id, 1_000, 2_000).await.status, 200);
        assert_eq!(verifications(), 2);
        let history = settings(&app, &id).await["history"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(history, 3, "on, off, on: each change recorded (R24)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_up_to_a_target_balance_charges_the_difference() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        let r = app.put(&format!("/v1/accounts/{id}/auto-top-up"), json!({"enabled": true, "threshold": 1_000, "target_balance": 8_000, "terms_version": TERMS})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        app.debit(&id, 4_300).await;
        app.engine().await;
        assert_eq!(app.balance(&id).await, 8_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_r27_low_balance_once_per_crossing_and_approaching_threshold() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 10_000).await;
        app.put(
            &format!("/v1/accounts/{id}/low-balance-notice"),
            json!({"threshold": 6_000}),
        )
        .await;
        app.debit(&id, 4_500).await;
        app.debit(&id, 500).await;
        app.debit(&id, 500).await;
        assert_eq!(
            app.events(&id, "balance.low").await.len(),
            1,
            "once per crossing"
        );
        app.post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 5_000}),
        )
        .await;
        app.debit(&id, 4_000).await;
        assert_eq!(
            app.events(&id, "balance.low").await.len(),
            2,
            "re-armed above, sent again"
        );
        enable(&app, &id, 2_000, 3_000).await;
        app.debit(&id, 3_400).await;
        let near = app.events(&id, "balance.approaching_threshold").await;
        assert_eq!(near.len(), 1);
        assert_eq!(near[0]["data"]["threshold"], 2_000);
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
        app.debit(&id, 3_000).await;
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

/// A month of simulated usage: 30 days, 48 debits a day, the engine after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_r21_a_month_of_simulated_usage() {
    let store = Store::sqlite();
    let app = spawn(&store).await;
    let (id, _) = app.funded("acme", "pm_card_visa", 20_000).await;
    enable(&app, &id, 5_000, 10_000).await;
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

/// 100 concurrent debits over HTTP drive one account across its threshold many
/// times while the engine runs: one charge per crossing, each credited once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_race_of_concurrent_debits_one_charge_per_crossing() {
    for store in stores().await {
        let app = spawn_with(&store, |s| s.service.limits.card_interval = 0).await;
        let (id, _) = app.funded("hot", "pm_card_visa", 10_000).await;
        enable(&app, &id, 5_000, 5_000).await;
        let workers = refill_service::workers::spawn_workers(app.running.app.clone());
        let mut tasks = vec![];
        for i in 0..100 {
            let (http, url, key) = (
                app.http.clone(),
                format!("{}/v1/accounts/{id}/debits", app.base),
                app.key.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for j in 0..10 {
                    let r = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"amount": 100, "reference": format!("{i}-{j}")}))
                        .send()
                        .await
                        .unwrap();
                    ok += (r.status() == 201) as i64;
                }
                ok
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += t.await.unwrap();
        }
        for _ in 0..50 {
            if settings(&app, &id).await["in_flight"].is_null() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        for w in workers {
            w.abort();
        }
        let charges = auto_charges(&app);
        let credited = app.events(&id, "top_up.succeeded").await.len() - 1;
        assert!(
            charges >= 2,
            "the account crossed its threshold many times ({charges} charges)"
        );
        assert_eq!(charges, credited, "every charge credited exactly once");
        let expected = 10_000 - accepted * 100 + charges as i64 * 5_000;
        assert_eq!(app.balance(&id).await, expected);
        app.assert_ledger_ok().await;
    }
}
