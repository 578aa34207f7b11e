//! Scheduled recharges (R30): on their day, once a month whatever the balance, with
//! their own retries, outside the auto top-up caps.

use super::*;
use refill_domain::{DAY, HOUR, MINUTE};
use refill_gateway::sandbox::Fault;
use reqwest::Method;
use serde_json::{Value, json};

async fn schedule(app: &TestApp, id: &str, body: Value) -> Resp {
    app.put(&format!("/v1/accounts/{id}/scheduled-recharge"), body)
        .await
}

/// A scheduled recharge set or changed: what the service answered.
async fn set_schedule(app: &TestApp, id: &str, body: Value) -> Resp {
    let r = schedule(app, id, body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r
}

async fn scheduled_top_ups(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/accounts/{id}/top-ups?limit=500"))
        .await;
    r.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t["origin"] == "scheduled")
        .collect()
}

fn scheduled_charges(app: &TestApp) -> Vec<(String, i64)> {
    app.sandbox
        .charges()
        .into_iter()
        .filter(|(k, _)| k.starts_with("scheduled:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r30_scheduled_recharge_runs_on_its_date_once_a_month_whatever_the_balance() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 50_000).await;
        let r = schedule(&app, &id, json!({"amount": 2_500, "day_of_month": 31})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["next_run"], "2026-11-30T00:00:00.000Z", "clamped");
        assert_eq!(r.body["version"], 1);
        assert_eq!(r.headers["etag"], "\"1\"");
        // Until 1 February: 30 November, 31 December, 31 January.
        run_for(&app, 72 * DAY, 6 * HOUR).await;
        let tops = scheduled_top_ups(&app, &id).await;
        assert_eq!(tops.len(), 3, "{tops:?}");
        for t in &tops {
            assert_eq!(t["status"], "succeeded");
            assert_eq!(
                (t["amount"].clone(), t["tax"].clone()),
                (json!(2_500), json!(500))
            );
        }
        let dates: Vec<_> = tops
            .iter()
            .map(|t| t["created"].as_str().unwrap())
            .collect();
        assert!(dates.contains(&"2026-11-30T00:00:00.000Z"), "{dates:?}");
        assert!(dates.contains(&"2026-12-31T00:00:00.000Z"), "{dates:?}");
        assert!(dates.contains(&"2027-01-31T00:00:00.000Z"), "{dates:?}");
        let charges = scheduled_charges(&app);
        let months: Vec<_> = charges.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            months,
            [
                format!("scheduled:{id}:2026-11:1"),
                format!("scheduled:{id}:2026-12:1"),
                format!("scheduled:{id}:2027-01:1"),
            ],
            "one charge per month, keyed by the month"
        );
        assert!(charges.iter().all(|(_, total)| *total == 3_000));
        // Again at the same instant: nothing more.
        tick(&app).await;
        tick(&app).await;
        assert_eq!(scheduled_charges(&app).len(), 3);
        assert_eq!(app.balance(&id).await, 50_000 + 3 * 2_500);
        let s = app
            .get(&format!("/v1/accounts/{id}/scheduled-recharge"))
            .await;
        assert_eq!(s.body["next_run"], "2027-02-28T00:00:00.000Z");
        assert!(
            s.body["last_top_up_id"]
                .as_str()
                .unwrap()
                .starts_with("top_")
        );
        let ok = app.events(&id, "top_up.succeeded").await;
        assert_eq!(
            ok.iter()
                .filter(|e| e["data"]["origin"] == "scheduled")
                .count(),
            3
        );
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r30_a_month_is_recharged_once_even_after_the_schedule_changes() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
        run_for(&app, 12 * HOUR, 6 * HOUR).await;
        assert_eq!(scheduled_charges(&app).len(), 1, "22 November");
        // A later day this month: next month, as this one was recharged.
        let r = set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 28})).await;
        assert_eq!(r.body["next_run"], "2026-12-28T00:00:00.000Z");
        // Even deleted and set again.
        let d = app
            .delete(&format!("/v1/accounts/{id}/scheduled-recharge"))
            .await;
        assert_eq!((d.status, d.body["deleted"].clone()), (200, json!(true)));
        let r = set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 25})).await;
        assert_eq!(r.body["version"], 1);
        assert_eq!(r.body["next_run"], "2026-12-25T00:00:00.000Z");
        run_for(&app, 10 * DAY, 6 * HOUR).await;
        assert_eq!(scheduled_charges(&app).len(), 1);
        let d = app
            .delete(&format!("/v1/accounts/{id}/scheduled-recharge"))
            .await;
        assert_eq!(d.status, 200, "{:?}", d.body);
        run_for(&app, 40 * DAY, DAY).await;
        assert_eq!(scheduled_charges(&app).len(), 1, "deleted: no more");
    }
}

/// R30: a schedule caught up after downtime charges once, for the latest month it
/// missed; editing or setting it again afterwards never charges that month twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r30_a_recharge_caught_up_after_downtime_is_keyed_by_the_latest_missed_month() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
        // Down from before 22 November until 25 January: three dates missed.
        app.clock.set(utc(2027, 1, 25, 3));
        tick(&app).await;
        let charges = scheduled_charges(&app);
        assert_eq!(
            charges,
            [(format!("scheduled:{id}:2027-01:1"), 2_400)],
            "one charge, for January"
        );
        let s = app
            .get(&format!("/v1/accounts/{id}/scheduled-recharge"))
            .await;
        assert_eq!(s.body["next_run"], "2027-02-22T00:00:00.000Z");
        // A later day this month: next month, as this one was recharged.
        let r = set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 28})).await;
        assert_eq!(r.body["next_run"], "2027-02-28T00:00:00.000Z");
        // Deleted and set again: the same.
        let d = app
            .delete(&format!("/v1/accounts/{id}/scheduled-recharge"))
            .await;
        assert_eq!(d.status, 200, "{:?}", d.body);
        let r = set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 27})).await;
        assert_eq!(r.body["next_run"], "2027-02-27T00:00:00.000Z");
        run_for(&app, 6 * DAY, 12 * HOUR).await;
        assert_eq!(scheduled_charges(&app).len(), 1, "January charged once");
        assert_eq!(app.balance(&id).await, 7_000);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r30_r23_a_declined_recharge_is_told_and_retried_then_given_up_for_the_month() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_chargeDeclined", 1_000).await;
        set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
        run_for(&app, 12 * HOUR, 6 * HOUR).await;
        let failed = app.events(&id, "top_up.failed").await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["data"]["origin"], "scheduled");
        assert_eq!(
            failed[0]["data"]["next_attempt"],
            "2026-11-23T00:00:00.000Z"
        );
        let t = &scheduled_top_ups(&app, &id).await[0];
        assert_eq!(t["status"], "queued");
        assert_eq!(t["waiting_for"], "retry_scheduled");
        // R23: after 24 hours, and again; the third failure ends this month's recharge.
        run_for(&app, 2 * DAY, 6 * HOUR).await;
        let failed = app.events(&id, "top_up.failed").await;
        assert_eq!(failed.len(), 3);
        assert!(failed[0]["data"]["next_attempt"].is_null());
        let t = &scheduled_top_ups(&app, &id).await[0];
        assert_eq!(
            (t["status"].clone(), t["attempt"].clone()),
            (json!("failed"), json!(3))
        );
        run_for(&app, 10 * DAY, 6 * HOUR).await;
        assert_eq!(app.events(&id, "top_up.failed").await.len(), 3, "given up");
        assert_eq!(app.balance(&id).await, 1_000);
        // Next month's recharge runs as planned (22 December), with its own retries.
        run_for(&app, 20 * DAY, 6 * HOUR).await;
        assert_eq!(app.events(&id, "top_up.failed").await.len(), 6);
        let tops = scheduled_top_ups(&app, &id).await;
        assert_eq!(tops.len(), 2);
        assert_eq!(tops[0]["created"], "2026-12-22T00:00:00.000Z");
        assert_eq!(tops[0]["attempt"], 3);
        // A hard decline ends the month's recharge at once.
        let (lost, _) = app
            .funded("lost", "pm_card_chargeDeclinedLostCard", 1_000)
            .await;
        set_schedule(&app, &lost, json!({"amount": 2_000, "day_of_month": 25})).await;
        run_for(&app, 4 * DAY, 6 * HOUR).await;
        let t = &scheduled_top_ups(&app, &lost).await[0];
        assert_eq!(
            (t["status"].clone(), t["attempt"].clone()),
            (json!("failed"), json!(1))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r30_r25_an_outage_is_resolved_by_key_never_charged_twice() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 1_000).await;
        set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
        app.clock.set(utc(2026, 11, 22, 0));
        app.sandbox.inject(Fault::Outage);
        tick(&app).await;
        let t = &scheduled_top_ups(&app, &id).await[0];
        assert_eq!(t["status"], "charging");
        assert_eq!(t["waiting_for"], "gateway_unavailable");
        assert!(
            app.events(&id, "top_up.failed").await.is_empty(),
            "not a failure"
        );
        // The next charge is made but its answer is lost.
        app.sandbox.inject(Fault::TimeoutAfterCharge);
        app.clock.advance(MINUTE + 1);
        tick(&app).await;
        assert_eq!(scheduled_charges(&app).len(), 1);
        assert_eq!(
            app.balance(&id).await,
            1_000,
            "outcome unknown: not credited"
        );
        app.clock.advance(MINUTE + 1);
        tick(&app).await;
        assert_eq!(scheduled_charges(&app).len(), 1, "found by its key");
        assert_eq!(app.balance(&id).await, 3_000);
        assert_eq!(scheduled_top_ups(&app, &id).await[0]["status"], "succeeded");
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r30_r19_r21_scheduled_recharges_neither_count_against_caps_nor_block_auto_top_ups() {
    for store in stores().await {
        let app = spawn_with(&store, |s| {
            s.service.limits.daily_count_cap = 1;
            s.service.limits.monthly_count_cap = 2;
        })
        .await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        set_schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
        // Ten minutes before the recharge date: an auto top-up runs, and the next one
        // waits in flight for the end of its 30-minute window (R19, R20).
        app.clock.set(utc(2026, 11, 21, 23) + 50 * MINUTE);
        app.spend(&id, 4_500).await;
        app.engine().await;
        assert_eq!(app.balance(&id).await, 2_500);
        app.spend(&id, 2_000).await;
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["in_flight"]["status"], "queued");
        assert_eq!(s["why_not"], "minimum_interval");
        // The recharge date: the scheduled recharge is not held up by it.
        app.clock.set(utc(2026, 11, 22, 0));
        tick(&app).await;
        let tops = scheduled_top_ups(&app, &id).await;
        assert_eq!(tops[0]["status"], "succeeded");
        assert_eq!(app.balance(&id).await, 2_500);
        // After the window: the waiting auto top-up finds the balance above the
        // threshold and ends (R18: not a failure). Then a new crossing: one auto
        // top-up a day, two a month, and the scheduled one counted in neither.
        app.clock.set(utc(2026, 11, 22, 0) + 30 * MINUTE);
        tick(&app).await;
        app.spend(&id, 2_000).await;
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        assert!(s["why_not"].is_null(), "{s}");
        assert_eq!(app.balance(&id).await, 2_500);
        let autos = app
            .events(&id, "top_up.succeeded")
            .await
            .iter()
            .filter(|e| e["data"]["origin"] == "auto")
            .count();
        assert_eq!(autos, 2);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r30_bad_input_versions_and_deletion() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, pm) = app.funded("acme", "pm_card_visa", 1_000).await;
        let path = format!("/v1/accounts/{id}/scheduled-recharge");
        let r = app.get(&path).await;
        assert_eq!((r.status, r.code()), (404, "scheduled_recharge_not_found"));
        let cases = [
            (
                json!({"amount": 2_000, "day_of_month": 0}),
                400,
                "invalid_day_of_month",
            ),
            (
                json!({"amount": 2_000, "day_of_month": 32}),
                400,
                "invalid_day_of_month",
            ),
            (
                json!({"amount": 500, "day_of_month": 1}),
                422,
                "amount_below_minimum",
            ),
            (
                json!({"amount": 0, "day_of_month": 1}),
                400,
                "amount_not_positive",
            ),
            (
                json!({"amount": 2_000, "day_of_month": 1, "payment_method": "pm_nope"}),
                404,
                "payment_method_not_found",
            ),
            (
                json!({"amount": 2_000, "day_of_month": 1, "when": "now"}),
                400,
                "invalid_request",
            ),
            (json!({"amount": 2_000}), 400, "invalid_request"),
        ];
        for (body, status, code) in cases {
            let r = schedule(&app, &id, body.clone()).await;
            assert_eq!((r.status, r.code()), (status, code), "{body}: {:?}", r.body);
        }
        assert_eq!(
            schedule(&app, &id, json!({"amount": 500, "day_of_month": 1}))
                .await
                .body["rule"],
            "R8"
        );
        // R5: a saved card and a payer are needed.
        let (bare, _) = fund_without_card(&app, "bare", 0).await;
        let r = schedule(&app, &bare, json!({"amount": 2_000, "day_of_month": 1})).await;
        assert_eq!((r.status, r.code()), (400, "payment_method_required"));
        let nobody = app
            .create_account(json!({"name": "nobody", "currency": "GBP"}))
            .await;
        app.save_card(&nobody, "pm_card_visa").await;
        let r = schedule(&app, &nobody, json!({"amount": 2_000, "day_of_month": 1})).await;
        assert_eq!(
            (r.status, r.code(), r.body["rule"].clone()),
            (422, "payer_missing", json!("R5"))
        );
        assert_eq!(app.get(&path).await.status, 404, "nothing was saved");

        let body = json!({"amount": 2_000, "day_of_month": 1, "payment_method": pm});
        let r = schedule(&app, &id, body.clone()).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["payment_method"], pm.as_str());
        assert_eq!(r.body["next_run"], "2026-12-01T00:00:00.000Z");
        let stale = app
            .send(
                Method::PUT,
                &path,
                Some(&body),
                &[("If-Match", "\"0\"")],
                Some(&app.key),
            )
            .await;
        assert_eq!((stale.status, stale.code()), (412, "version_mismatch"));
        let fresh = app
            .send(
                Method::PUT,
                &path,
                Some(&body),
                &[("If-Match", "\"1\"")],
                Some(&app.key),
            )
            .await;
        assert_eq!(
            (fresh.status, fresh.body["version"].clone()),
            (200, json!(2))
        );
        let d = app.delete(&path).await;
        assert_eq!(d.status, 200);
        assert_eq!(app.get(&path).await.status, 404);
        let d = app.delete(&path).await;
        assert_eq!((d.status, d.code()), (404, "scheduled_recharge_not_found"));
    }
}
