//! Issue 3, the rest: recurring-fee resources (R29), the auto top-up their purchase
//! turns on (R17), and scheduled recharges (R30), with the simulated clock.

use crate::support::*;
use refill_domain::{DAY, HOUR, MINUTE};
use refill_gateway::sandbox::Fault;
use reqwest::Method;
use serde_json::{Value, json};

/// An account funded by a card used once (not saved): it holds no saved card, so
/// buying a resource does not turn auto top-up on (R17). Returns (account, that card).
async fn fund_without_card(app: &TestApp, name: &str, balance: i64) -> (String, String) {
    let id = app.account(name).await;
    let pm = app
        .post(
            &format!("/v1/accounts/{id}/payment-methods"),
            json!({"token": "pm_card_visa", "save": false}),
        )
        .await
        .id();
    if balance > 0 {
        top_up(app, &id, &pm, balance).await;
    }
    (id, pm)
}

async fn top_up(app: &TestApp, id: &str, pm: &str, amount: i64) {
    let r = app
        .post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": amount, "payment_method": pm}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

async fn buy(app: &TestApp, id: &str, body: Value) -> Resp {
    app.post(&format!("/v1/accounts/{id}/resources"), body)
        .await
}

async fn resources(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/accounts/{id}/resources")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["data"].as_array().cloned().unwrap_or_default()
}

async fn resource(app: &TestApp, id: &str, resource_id: &str) -> Value {
    resources(app, id)
        .await
        .into_iter()
        .find(|r| r["id"] == resource_id)
        .unwrap_or(Value::Null)
}

/// The account's recurring-fee ledger entries, newest first.
async fn fee_entries(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/accounts/{id}/entries?limit=500"))
        .await;
    r.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["kind"] == "recurring_fee")
        .collect()
}

async fn auto_settings(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/accounts/{id}/auto-top-up"))
        .await
        .body
}

/// One tick of a node: the periodic jobs (under their lease), then the executor.
async fn tick(app: &TestApp) {
    app.running
        .app
        .periodic_jobs()
        .await
        .expect("periodic jobs ran");
    app.engine().await;
}

/// Moves the simulated clock on by `total`, one tick every `step`.
async fn run_for(app: &TestApp, total: i64, step: i64) {
    let mut done = 0;
    while done < total {
        app.clock.advance(step);
        done += step;
        tick(app).await;
    }
}

/// Unix ms of a UTC date and time.
fn utc(y: i64, m: u32, d: u32, h: i64) -> i64 {
    refill_domain::auto_top_up::days_from_civil(y, m, d) * DAY + h * HOUR
}

// ---------------------------------------------------------------- R29

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_purchase_debits_the_first_fee_and_is_refused_without_balance() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = fund_without_card(&app, "acme", 1_000).await;
        // R6: the first period's fee cannot be covered: refused, nothing changed.
        let r = buy(&app, &id, json!({"name": "+44 7700 900123", "fee": 1_500})).await;
        assert_eq!(r.status, 402, "{:?}", r.body);
        assert_eq!(r.code(), "insufficient_balance");
        assert_eq!(r.body["rule"], "R6");
        assert_eq!(app.balance(&id).await, 1_000);
        assert!(resources(&app, &id).await.is_empty());
        assert!(fee_entries(&app, &id).await.is_empty());

        let r = buy(&app, &id, json!({"name": "+44 7700 900123", "fee": 400})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert!(r.id().starts_with("res_"));
        assert_eq!(r.body["status"], "active");
        assert_eq!(r.body["period"], "monthly", "monthly by default");
        assert_eq!(r.body["currency"], "GBP");
        assert_eq!(r.body["periods_paid"], 1);
        assert_eq!(r.body["next_fee"], "2026-12-21T12:00:00.000Z");
        assert_eq!(r.body["turned_on_auto_top_up"], false, "R17: no saved card");
        assert_eq!(app.balance(&id).await, 600);
        let fees = fee_entries(&app, &id).await;
        assert_eq!(fees.len(), 1);
        assert_eq!(fees[0]["amount"], -400);
        assert_eq!(fees[0]["balance_after"], 600);
        assert_eq!(resources(&app, &id).await.len(), 1);
        assert_eq!(auto_settings(&app, &id).await["state"], "off");
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_bad_input_is_refused_with_stable_codes_and_nothing_changes() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = fund_without_card(&app, "acme", 1_000).await;
        let (other, _) = fund_without_card(&app, "other", 1_000).await;
        let cases = [
            (json!({"name": "n", "fee": 0}), 400, "amount_not_positive"),
            (json!({"name": "n", "fee": -5}), 400, "amount_not_positive"),
            (
                json!({"name": "n", "fee": 1_000_000_000_000_001i64}),
                400,
                "amount_overflow",
            ),
            (json!({"name": "  ", "fee": 100}), 400, "invalid_name"),
            (
                json!({"name": "n", "fee": 100, "period": "daily"}),
                400,
                "invalid_period",
            ),
            (
                json!({"name": "n", "fee": 100, "currency": "EUR"}),
                400,
                "currency_mismatch",
            ),
            (
                json!({"name": "n", "fee": 100, "currency": "XXX"}),
                400,
                "unknown_currency",
            ),
            (
                json!({"name": "n", "fee": 100, "colour": "red"}),
                400,
                "invalid_request",
            ),
            (json!({"name": "n", "fee": "100"}), 400, "invalid_request"),
            (json!({"fee": 100}), 400, "invalid_request"),
        ];
        for (body, status, code) in cases {
            let r = buy(&app, &id, body.clone()).await;
            assert_eq!((r.status, r.code()), (status, code), "{body}: {:?}", r.body);
        }
        let r = app
            .send(
                Method::POST,
                &format!("/v1/accounts/{id}/resources"),
                None,
                &[("content-type", "application/json")],
                Some(&app.key),
            )
            .await;
        assert_eq!(r.code(), "invalid_json");
        let r = buy(&app, "acct_nope", json!({"name": "n", "fee": 100})).await;
        assert_eq!((r.status, r.code()), (404, "account_not_found"));
        let r = app
            .delete(&format!("/v1/accounts/{id}/resources/res_nope"))
            .await;
        assert_eq!((r.status, r.code()), (404, "resource_not_found"));
        // Another account's resource is not found through this one.
        let theirs = buy(&app, &other, json!({"name": "n", "fee": 100}))
            .await
            .id();
        let r = app
            .delete(&format!("/v1/accounts/{id}/resources/{theirs}"))
            .await;
        assert_eq!((r.status, r.code()), (404, "resource_not_found"));
        let r = app
            .get(&format!("/v1/accounts/{id}/resources?limit=0"))
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_limit"));
        assert_eq!(app.balance(&id).await, 1_000);
        assert!(resources(&app, &id).await.is_empty());
        assert_eq!(resources(&app, &other).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_a_replayed_purchase_charges_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = fund_without_card(&app, "acme", 1_000).await;
        let path = format!("/v1/accounts/{id}/resources");
        let body = json!({"name": "+44 7700 900123", "fee": 300});
        let first = app.post_idem(&path, body.clone(), "buy-1").await;
        assert_eq!(first.status, 201, "{:?}", first.body);
        let again = app.post_idem(&path, body, "buy-1").await;
        assert_eq!(again.status, 201);
        assert_eq!(again.id(), first.id());
        assert_eq!(again.headers["idempotent-replayed"], "true");
        let other = app
            .post_idem(&path, json!({"name": "another", "fee": 300}), "buy-1")
            .await;
        assert_eq!(
            (other.status, other.code()),
            (409, "idempotency_key_reused")
        );
        assert_eq!(app.balance(&id).await, 700);
        assert_eq!(resources(&app, &id).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_fees_renew_every_period_for_a_simulated_quarter_without_usage() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = fund_without_card(&app, "acme", 10_000).await;
        let monthly = buy(&app, &id, json!({"name": "number", "fee": 500}))
            .await
            .id();
        let weekly = buy(
            &app,
            &id,
            json!({"name": "keyword", "fee": 100, "period": "weekly"}),
        )
        .await
        .id();
        let yearly = buy(
            &app,
            &id,
            json!({"name": "domain", "fee": 2_000, "period": "yearly"}),
        )
        .await
        .id();
        // 95 days from 21 November: nothing is sent, the fees are deducted anyway.
        run_for(&app, 95 * DAY, 6 * HOUR).await;
        let m = resource(&app, &id, &monthly).await;
        assert_eq!(
            m["periods_paid"], 4,
            "21 Nov (purchase), 21 Dec, 21 Jan, 21 Feb"
        );
        assert_eq!(m["next_fee"], "2027-03-21T12:00:00.000Z");
        let w = resource(&app, &id, &weekly).await;
        assert_eq!(w["periods_paid"], 1 + 95 / 7);
        assert_eq!(resource(&app, &id, &yearly).await["periods_paid"], 1);
        assert_eq!(fee_entries(&app, &id).await.len(), 4 + 14 + 1);
        assert_eq!(app.balance(&id).await, 10_000 - 4 * 500 - 14 * 100 - 2_000);
        assert!(
            app.events(&id, "resource.renewal_failed").await.is_empty(),
            "every renewal was covered"
        );
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_monthly_renewals_fall_on_the_last_day_of_short_months() {
    for store in stores().await {
        let app = spawn(&store).await;
        app.clock.set(utc(2027, 1, 31, 9));
        let (id, _) = fund_without_card(&app, "acme", 5_000).await;
        let res = buy(&app, &id, json!({"name": "number", "fee": 500}))
            .await
            .id();
        assert_eq!(
            resource(&app, &id, &res).await["next_fee"],
            "2027-02-28T09:00:00.000Z"
        );
        run_for(&app, 28 * DAY, DAY).await;
        let r = resource(&app, &id, &res).await;
        assert_eq!(r["periods_paid"], 2, "charged on 28 February");
        assert_eq!(
            r["next_fee"], "2027-03-31T09:00:00.000Z",
            "back to the 31st"
        );
        run_for(&app, 31 * DAY, DAY).await;
        let r = resource(&app, &id, &res).await;
        assert_eq!(r["periods_paid"], 3);
        assert_eq!(r["next_fee"], "2027-04-30T09:00:00.000Z");
        assert_eq!(app.balance(&id).await, 5_000 - 3 * 500);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_the_fee_job_charges_a_period_once_however_often_it_runs() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = fund_without_card(&app, "acme", 5_000).await;
        let res = buy(&app, &id, json!({"name": "number", "fee": 500}))
            .await
            .id();
        app.clock.advance(30 * DAY);
        let node = &app.running.app;
        // Twice at once (two nodes' worth), then twice more at the same instant.
        let (a, b) = tokio::join!(node.renew_resources(), node.renew_resources());
        assert_eq!(a.unwrap().charged + b.unwrap().charged, 1);
        node.periodic_jobs().await.unwrap();
        node.periodic_jobs().await.unwrap();
        assert_eq!(fee_entries(&app, &id).await.len(), 2);
        assert_eq!(app.balance(&id).await, 4_000);
        // The debit and the move to the next period are one transaction, so a crash
        // leaves both or neither. Even if a period were found due again after its fee
        // (forced here), the fees table lets it be charged once.
        refill_store::sqlx::query(
            "UPDATE resources SET periods_paid = 1, next_fee_at = $1 WHERE id = $2",
        )
        .bind(utc(2026, 12, 21, 12))
        .bind(&res)
        .execute(&node.db.pool)
        .await
        .unwrap();
        node.renew_resources().await.unwrap();
        assert_eq!(fee_entries(&app, &id).await.len(), 2, "no second fee");
        assert_eq!(app.balance(&id).await, 4_000);
        let r = resource(&app, &id, &res).await;
        assert_eq!(r["periods_paid"], 2);
        assert_eq!(r["next_fee"], "2027-01-21T12:00:00.000Z");
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_an_unpaid_renewal_is_retried_in_the_grace_period_then_suspended() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, card) = fund_without_card(&app, "acme", 1_000).await;
        let a = buy(&app, &id, json!({"name": "A", "fee": 600})).await.id();
        let b = buy(&app, &id, json!({"name": "B", "fee": 300})).await.id();
        assert_eq!(app.balance(&id).await, 100);
        // 21 December: neither renewal can be paid; the customer is told once each.
        run_for(&app, 30 * DAY, 6 * HOUR).await;
        assert_eq!(app.balance(&id).await, 100, "never below zero");
        let failed = app.events(&id, "resource.renewal_failed").await;
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[0]["data"]["suspend_at"], "2026-12-24T12:00:00.000Z");
        let r = resource(&app, &id, &a).await;
        assert_eq!(r["status"], "active");
        assert_eq!(r["renewal_failing_since"], "2026-12-21T12:00:00.000Z");
        // Retried at each check, told no more.
        run_for(&app, 12 * HOUR, HOUR).await;
        assert_eq!(app.events(&id, "resource.renewal_failed").await.len(), 2);
        // A top-up within the grace period: both renew at the next check, for the
        // period they were due (the next one is still counted from the purchase).
        top_up(&app, &id, &card, 1_000).await;
        run_for(&app, HOUR, HOUR).await;
        assert_eq!(app.balance(&id).await, 1_100 - 900);
        let r = resource(&app, &id, &a).await;
        assert_eq!(r["periods_paid"], 2);
        assert!(r["renewal_failing_since"].is_null());
        assert_eq!(r["next_fee"], "2027-01-21T12:00:00.000Z");
        // 21 January: unpaid again, and nothing comes: suspended after 72 hours.
        app.clock.set(utc(2027, 1, 21, 12) - HOUR);
        run_for(&app, 72 * HOUR, HOUR).await;
        assert_eq!(app.events(&id, "resource.renewal_failed").await.len(), 4);
        assert!(app.events(&id, "resource.suspended").await.is_empty());
        run_for(&app, HOUR, HOUR).await;
        let suspended = app.events(&id, "resource.suspended").await;
        assert_eq!(suspended.len(), 2, "{suspended:?}");
        assert_eq!(suspended[0]["data"]["reason"], "renewal_unpaid");
        for res in [&a, &b] {
            let r = resource(&app, &id, res).await;
            assert_eq!(r["status"], "suspended");
            assert!(r["next_fee"].is_null());
        }
        // A suspended resource costs nothing more, even with money on the balance.
        top_up(&app, &id, &card, 5_000).await;
        run_for(&app, 62 * DAY, 12 * HOUR).await;
        assert_eq!(app.balance(&id).await, 5_200);
        assert_eq!(fee_entries(&app, &id).await.len(), 4);
        app.assert_ledger_ok().await;
    }
}

// ---------------------------------------------------------------- R17

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r17_buying_turns_auto_top_up_on_and_removing_the_last_turns_it_off() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, pm) = app.funded("acme", "pm_card_visa", 5_000).await;
        // R14: turning auto top-up on by card needs the terms: refused whole.
        let r = buy(&app, &id, json!({"name": "A", "fee": 500})).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "terms_not_accepted"),
            "{:?}",
            r.body
        );
        assert_eq!(r.body["rule"], "R14");
        let r = buy(
            &app,
            &id,
            json!({"name": "A", "fee": 500, "terms_version": "1999-01"}),
        )
        .await;
        assert_eq!((r.status, r.code()), (400, "terms_version_unknown"));
        assert_eq!(app.balance(&id).await, 5_000);
        assert!(resources(&app, &id).await.is_empty());
        assert_eq!(auto_settings(&app, &id).await["state"], "off");

        let charges = app.sandbox.charges().len();
        let a = buy(
            &app,
            &id,
            json!({"name": "A", "fee": 500, "terms_version": TERMS}),
        )
        .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        assert_eq!(a.body["turned_on_auto_top_up"], true);
        assert_eq!(
            app.sandbox.charges().len(),
            charges + 1,
            "R14: the card is verified"
        );
        let s = auto_settings(&app, &id).await;
        assert_eq!(s["state"], "active");
        assert_eq!(s["threshold"], 1_000, "the operator's defaults");
        assert_eq!(s["amount"], 2_000);
        assert_eq!(s["payment_method"], pm.as_str());
        assert_eq!(s["terms_version"], TERMS);
        let history = s["history"].as_array().unwrap();
        let last = history.last().unwrap();
        assert_eq!(last["state"], "active");
        let reason = last["reason"].as_str().unwrap();
        assert!(
            reason.contains("R17") && reason.contains(&a.id()),
            "{reason}"
        );
        let version = s["version"].clone();

        // Already on: a second purchase needs no terms and changes nothing.
        let b = buy(&app, &id, json!({"name": "B", "fee": 300})).await;
        assert_eq!(b.status, 201, "{:?}", b.body);
        assert_eq!(b.body["turned_on_auto_top_up"], false);
        assert_eq!(auto_settings(&app, &id).await["version"], version);

        let r = app
            .delete(&format!("/v1/accounts/{id}/resources/{}", a.id()))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["status"], "removed");
        assert_eq!(
            auto_settings(&app, &id).await["state"],
            "active",
            "B is still held"
        );
        let r = app
            .delete(&format!("/v1/accounts/{id}/resources/{}", b.id()))
            .await;
        assert_eq!(r.status, 200);
        let s = auto_settings(&app, &id).await;
        assert_eq!(s["state"], "off");
        assert!(
            s["state_reason"]
                .as_str()
                .unwrap()
                .contains("last recurring-fee resource")
        );
        assert_eq!(
            s["history"].as_array().unwrap().last().unwrap()["state"],
            "off"
        );
        // Removing again answers the removed resource; the fees have stopped.
        let again = app
            .delete(&format!("/v1/accounts/{id}/resources/{}", b.id()))
            .await;
        assert_eq!(
            (again.status, again.body["status"].clone()),
            (200, json!("removed"))
        );
        assert!(resources(&app, &id).await.is_empty());
        run_for(&app, 40 * DAY, DAY).await;
        assert_eq!(fee_entries(&app, &id).await.len(), 2);
        assert_eq!(app.balance(&id).await, 4_200);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r14_r17_the_card_is_verified_before_anything_is_bought() {
    for store in stores().await {
        let app = spawn(&store).await;
        let body = json!({"name": "A", "fee": 500, "terms_version": TERMS});
        // A declined verification: nothing bought, nothing turned on.
        let (declined, _) = app
            .funded("declined", "pm_card_chargeDeclined", 5_000)
            .await;
        let r = buy(&app, &declined, body.clone()).await;
        assert_eq!((r.status, r.code()), (402, "card_declined"), "{:?}", r.body);
        assert_eq!(app.balance(&declined).await, 5_000);
        assert!(resources(&app, &declined).await.is_empty());
        assert_eq!(auto_settings(&app, &declined).await["state"], "off");
        // 3-D Secure: asked for, then completed by the customer.
        let (sca, _) = app
            .funded("sca", "pm_card_authenticationRequired", 5_000)
            .await;
        let r = buy(&app, &sca, body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "authentication_required"),
            "{:?}",
            r.body
        );
        assert!(resources(&app, &sca).await.is_empty());
        let mut done = body;
        done["three_d_secure"] = json!("completed");
        let r = buy(&app, &sca, done).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["turned_on_auto_top_up"], true);
        assert_eq!(app.balance(&sca).await, 4_500);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r17_r16_settings_the_customer_made_are_left_alone() {
    for store in stores().await {
        let app = spawn(&store).await;
        // On by the customer before the purchase: untouched, and stays on after.
        let (own, _) = app.funded("own", "pm_card_visa", 5_000).await;
        let r = app
            .put(
                &format!("/v1/accounts/{own}/auto-top-up"),
                json!({"enabled": true, "threshold": 500, "amount": 3_000, "terms_version": TERMS}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let version = r.body["version"].clone();
        let res = buy(&app, &own, json!({"name": "A", "fee": 100})).await;
        assert_eq!(res.body["turned_on_auto_top_up"], false);
        app.delete(&format!("/v1/accounts/{own}/resources/{}", res.id()))
            .await;
        let s = auto_settings(&app, &own).await;
        assert_eq!(
            (s["state"].clone(), s["version"].clone()),
            (json!("active"), version)
        );
        assert_eq!(s["threshold"], 500);

        // Turned on by R17, then changed by the customer: theirs from then on.
        let (changed, _) = app.funded("changed", "pm_card_visa", 5_000).await;
        let res = buy(
            &app,
            &changed,
            json!({"name": "A", "fee": 100, "terms_version": TERMS}),
        )
        .await;
        assert_eq!(res.body["turned_on_auto_top_up"], true);
        let etag = auto_settings(&app, &changed).await["version"].to_string();
        let r = app
            .send(
                Method::PUT,
                &format!("/v1/accounts/{changed}/auto-top-up"),
                Some(&json!({"enabled": true, "threshold": 800, "amount": 2_000})),
                &[("If-Match", &format!("\"{etag}\""))],
                Some(&app.key),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        app.delete(&format!("/v1/accounts/{changed}/resources/{}", res.id()))
            .await;
        let s = auto_settings(&app, &changed).await;
        assert_eq!(s["state"], "active");
        assert_eq!(s["threshold"], 800);

        // Off by the customer after R17 turned it on: removing the last resource
        // leaves it off, with the customer's reason.
        let (off, _) = app.funded("off", "pm_card_visa", 5_000).await;
        let res = buy(
            &app,
            &off,
            json!({"name": "A", "fee": 100, "terms_version": TERMS}),
        )
        .await;
        app.put(
            &format!("/v1/accounts/{off}/auto-top-up"),
            json!({"enabled": false}),
        )
        .await;
        app.delete(&format!("/v1/accounts/{off}/resources/{}", res.id()))
            .await;
        let s = auto_settings(&app, &off).await;
        assert_eq!(s["state"], "off");
        assert_eq!(s["state_reason"], "turned off by the customer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r17_at_or_below_the_default_threshold_the_first_top_up_follows_at_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 1_500).await;
        let r = buy(
            &app,
            &id,
            json!({"name": "A", "fee": 800, "terms_version": TERMS}),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(
            auto_settings(&app, &id).await["in_flight"]["status"],
            "queued"
        );
        app.engine().await;
        assert_eq!(app.balance(&id).await, 700 + 2_000);
        let ok = app.events(&id, "top_up.succeeded").await;
        assert_eq!(ok[0]["data"]["origin"], "auto");
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_r29_renewal_fees_trigger_a_top_up_only_when_configured() {
    for store in stores().await {
        for (trigger_on, queued_at_once) in [
            (refill_domain::debit::TriggerOn::Usage, false),
            (refill_domain::debit::TriggerOn::UsageAndFees, true),
        ] {
            let app = spawn_with(&store, |s| s.service.trigger_on = trigger_on).await;
            let (id, _) = app.funded("acme", "pm_card_visa", 3_600).await;
            let r = buy(
                &app,
                &id,
                json!({"name": "A", "fee": 1_300, "terms_version": TERMS}),
            )
            .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            assert_eq!(app.balance(&id).await, 2_300);
            app.clock.advance(30 * DAY);
            let report = app.running.app.renew_resources().await.unwrap();
            assert_eq!(report.charged, 1);
            assert_eq!(app.balance(&id).await, 1_000, "at the threshold");
            let s = auto_settings(&app, &id).await;
            assert_eq!(
                !s["in_flight"].is_null(),
                queued_at_once,
                "{trigger_on:?}: queued with the fee"
            );
            // Either way the periodic check (R22) catches an account at its threshold.
            tick(&app).await;
            assert_eq!(app.balance(&id).await, 3_000, "{trigger_on:?}");
        }
    }
}

// ---------------------------------------------------------------- R30

async fn schedule(app: &TestApp, id: &str, body: Value) -> Resp {
    app.put(&format!("/v1/accounts/{id}/scheduled-recharge"), body)
        .await
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
        schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
        run_for(&app, 12 * HOUR, 6 * HOUR).await;
        assert_eq!(scheduled_charges(&app).len(), 1, "22 November");
        // A later day this month: next month, as this one was recharged.
        let r = schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 28})).await;
        assert_eq!(r.body["next_run"], "2026-12-28T00:00:00.000Z");
        // Even deleted and set again.
        let d = app
            .delete(&format!("/v1/accounts/{id}/scheduled-recharge"))
            .await;
        assert_eq!((d.status, d.body["deleted"].clone()), (200, json!(true)));
        let r = schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 25})).await;
        assert_eq!(r.body["version"], 1);
        assert_eq!(r.body["next_run"], "2026-12-25T00:00:00.000Z");
        run_for(&app, 10 * DAY, 6 * HOUR).await;
        assert_eq!(scheduled_charges(&app).len(), 1);
        app.delete(&format!("/v1/accounts/{id}/scheduled-recharge"))
            .await;
        run_for(&app, 40 * DAY, DAY).await;
        assert_eq!(scheduled_charges(&app).len(), 1, "deleted: no more");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r30_r23_a_declined_recharge_is_told_and_retried_then_given_up_for_the_month() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_chargeDeclined", 1_000).await;
        schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
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
        schedule(&app, &lost, json!({"amount": 2_000, "day_of_month": 25})).await;
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
        schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
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
        let r = enable_auto_top_up(&app, &id, 1_000, 2_000).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        schedule(&app, &id, json!({"amount": 2_000, "day_of_month": 22})).await;
        // Ten minutes before the recharge date: an auto top-up runs, and the next one
        // waits in flight for the end of its 30-minute window (R19, R20).
        app.clock.set(utc(2026, 11, 21, 23) + 50 * MINUTE);
        app.debit(&id, 4_500).await;
        app.engine().await;
        assert_eq!(app.balance(&id).await, 2_500);
        app.debit(&id, 2_000).await;
        app.engine().await;
        let s = auto_settings(&app, &id).await;
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
        app.debit(&id, 2_000).await;
        app.engine().await;
        let s = auto_settings(&app, &id).await;
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
            .post("/v1/accounts", json!({"name": "nobody", "currency": "GBP"}))
            .await
            .id();
        app.post(
            &format!("/v1/accounts/{nobody}/payment-methods"),
            json!({"token": "pm_card_visa"}),
        )
        .await;
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
