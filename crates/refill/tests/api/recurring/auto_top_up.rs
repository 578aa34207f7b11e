//! The auto top-up a purchase turns on (R17): with the terms and a verified card,
//! off again with the last resource, never over the customer's own settings.

use super::*;
use refill_domain::{DAY, HOUR, MINUTE};
use reqwest::Method;
use serde_json::json;

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
        assert_eq!(app.auto_top_up(&id).await["state"], "off");

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
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["state"], "active");
        assert_eq!(s["threshold"], 1_000, "the operator's defaults");
        assert_eq!(s["amount"], 2_000);
        assert_eq!(s["payment_method"], pm.as_str());
        assert_eq!(s["terms_version"], TERMS);
        let history = s["history"].as_array().unwrap();
        let last = history.last().unwrap();
        assert_eq!(last["state"], "active");
        assert_eq!(last["reason"]["code"], "resource_purchased");
        let reason = last["reason"]["message"].as_str().unwrap();
        assert!(reason.contains(&a.id()), "{reason}");
        let version = s["version"].clone();

        // Already on: a second purchase needs no terms and changes nothing.
        let b = buy(&app, &id, json!({"name": "B", "fee": 300})).await;
        assert_eq!(b.status, 201, "{:?}", b.body);
        assert_eq!(b.body["turned_on_auto_top_up"], false);
        assert_eq!(app.auto_top_up(&id).await["version"], version);

        let r = app
            .delete(&format!("/v1/accounts/{id}/resources/{}", a.id()))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["status"], "removed");
        assert_eq!(
            app.auto_top_up(&id).await["state"],
            "active",
            "B is still held"
        );
        let r = app
            .delete(&format!("/v1/accounts/{id}/resources/{}", b.id()))
            .await;
        assert_eq!(r.status, 200);
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["state"], "off");
        assert_eq!(s["state_reason"]["code"], "last_resource_removed");
        let message = s["state_reason"]["message"].as_str().unwrap();
        assert!(message.contains("last recurring-fee resource"), "{message}");
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
        assert_eq!(app.auto_top_up(&declined).await["state"], "off");
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
        let res = buy_resource(&app, &own, json!({"name": "A", "fee": 100})).await;
        assert_eq!(res.body["turned_on_auto_top_up"], false);
        remove_resource(&app, &own, &res.id()).await;
        let s = app.auto_top_up(&own).await;
        assert_eq!(
            (s["state"].clone(), s["version"].clone()),
            (json!("active"), version)
        );
        assert_eq!(s["threshold"], 500);

        // Turned on by R17, then changed by the customer: theirs from then on.
        let (changed, _) = app.funded("changed", "pm_card_visa", 5_000).await;
        let res = buy_resource(
            &app,
            &changed,
            json!({"name": "A", "fee": 100, "terms_version": TERMS}),
        )
        .await;
        assert_eq!(res.body["turned_on_auto_top_up"], true);
        let etag = app.auto_top_up(&changed).await["version"].to_string();
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
        remove_resource(&app, &changed, &res.id()).await;
        let s = app.auto_top_up(&changed).await;
        assert_eq!(s["state"], "active");
        assert_eq!(s["threshold"], 800);

        // Off by the customer after R17 turned it on: removing the last resource
        // leaves it off, with the customer's reason.
        let (off, _) = app.funded("off", "pm_card_visa", 5_000).await;
        let res = buy_resource(
            &app,
            &off,
            json!({"name": "A", "fee": 100, "terms_version": TERMS}),
        )
        .await;
        app.turn_off_auto_top_up(&off).await;
        remove_resource(&app, &off, &res.id()).await;
        let s = app.auto_top_up(&off).await;
        assert_eq!(s["state"], "off");
        assert_eq!(s["state_reason"]["code"], "turned_off_by_customer");
        assert_eq!(s["state_reason"]["message"], "turned off by the customer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r17_r18_a_purchase_below_the_default_threshold_is_topped_up_only_where_fees_count() {
    for store in stores().await {
        for (trigger_on, topped_up) in [
            (refill_domain::debit::TriggerOn::Usage, false),
            (refill_domain::debit::TriggerOn::UsageAndFees, true),
        ] {
            let app = spawn_with(&store, |s| s.service.trigger_on = trigger_on).await;
            let (id, _) = app.funded("acme", "pm_card_visa", 1_500).await;
            let r = buy(
                &app,
                &id,
                json!({"name": "A", "fee": 800, "terms_version": TERMS}),
            )
            .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            assert_eq!(app.auto_top_up(&id).await["state"], "active");
            app.engine().await;
            app.clock.advance(10 * MINUTE);
            app.running.app.periodic_check().await.unwrap();
            app.engine().await;
            let auto = app.events(&id, "top_up.succeeded").await;
            let auto = auto
                .iter()
                .filter(|e| e["data"]["origin"] == "auto")
                .count();
            match topped_up {
                // R18: the fee is not spending by default, at once or later (R22).
                false => assert_eq!((auto, app.balance(&id).await), (0, 700)),
                true => assert_eq!((auto, app.balance(&id).await), (1, 700 + 2_000)),
            }
            app.assert_ledger_ok().await;
        }
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
            let s = app.auto_top_up(&id).await;
            assert_eq!(
                !s["in_flight"].is_null(),
                queued_at_once,
                "{trigger_on:?}: queued with the fee"
            );
            // R22: the periodic check tops up only a crossing by spending: a paid
            // renewal is not one by default.
            tick(&app).await;
            let after = if queued_at_once { 3_000 } else { 1_000 };
            assert_eq!(app.balance(&id).await, after, "{trigger_on:?}");
        }
    }
}

/// Automatic top-ups made, as their receipts say.
async fn auto_top_ups(app: &TestApp, id: &str) -> usize {
    let ok = app.events(id, "top_up.succeeded").await;
    ok.iter().filter(|e| e["data"]["origin"] == "auto").count()
}

/// R29, R21: a weekly number whose renewal the balance cannot cover, on a prepaid
/// account with auto top-up active (threshold 10.00, amount 20.00, fees not
/// spending): consecutive automatic top-ups, each after R20's interval, until the
/// balance covers it; the renewal is paid at once, and the auto top-up status and
/// the resource say what is going on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_r21_an_unpaid_renewal_is_covered_by_consecutive_top_ups() {
    for store in stores().await {
        let app = spawn(&store).await;
        app.clock.set(utc(2027, 1, 2, 12));
        let (id, _) = app.funded("acme", "pm_card_visa", 6_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        let body = json!({"name": "+44 7700 900123", "fee": 5_000, "period": "weekly"});
        let res = buy_resource(&app, &id, body).await.id();
        app.engine().await;
        assert_eq!(app.balance(&id).await, 1_000, "R18: a fee is not spending");
        assert_eq!(auto_top_ups(&app, &id).await, 0);

        // A week on the renewal (50.00) is more than the balance (10.00).
        app.clock.advance(7 * DAY);
        tick(&app).await;
        assert_eq!(app.events(&id, "resource.renewal_failed").await.len(), 1);
        assert_eq!(auto_top_ups(&app, &id).await, 1, "asked for a top-up");
        assert_eq!(app.balance(&id).await, 3_000, "still short of the fee");
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["unpaid_renewals"][0]["resource_id"], res.as_str());
        assert_eq!(s["unpaid_renewals"][0]["fee"], 5_000);
        assert_eq!(
            s["in_flight"]["status"], "queued",
            "the next one, consecutive"
        );
        assert_eq!(
            s["next_attempt"], "2027-01-09T12:30:00.000Z",
            "after R20's window"
        );
        let r = resource(&app, &id, &res).await;
        assert_eq!(r["renewal_top_up_requested"], "2027-01-09T12:00:00.000Z");
        assert_eq!(r["status"], "active");

        // Inside the window nothing more is charged; after it, the second top-up
        // lets the balance cover the renewal, paid at once.
        app.clock.advance(29 * MINUTE);
        app.engine().await;
        assert_eq!(auto_top_ups(&app, &id).await, 1, "R20");
        app.clock.advance(MINUTE);
        app.engine().await;
        assert_eq!(auto_top_ups(&app, &id).await, 2);
        let r = resource(&app, &id, &res).await;
        assert_eq!(r["periods_paid"], 2);
        assert!(r["renewal_failing_since"].is_null());
        assert!(r["renewal_top_up_requested"].is_null());
        assert_eq!(fee_entries(&app, &id).await.len(), 2);
        let s = app.auto_top_up(&id).await;
        assert_eq!(s["unpaid_renewals"], json!([]));
        assert_eq!(s["state"], "active");
        // Paid, the balance is at 0.00, at or below the threshold: R21's follow-up.
        assert_eq!(app.balance(&id).await, 0);
        app.clock.advance(30 * MINUTE);
        app.engine().await;
        assert_eq!(app.balance(&id).await, 2_000);
        assert_eq!(auto_top_ups(&app, &id).await, 3);
        app.clock.advance(DAY);
        tick(&app).await;
        assert_eq!(auto_top_ups(&app, &id).await, 3, "above: no more");
        assert!(app.events(&id, "resource.suspended").await.is_empty());
        app.assert_ledger_ok().await;
    }
}

/// R29, R21: when a cap stops the top-ups an unpaid renewal asks for, the customer is
/// told (`cap.reached`, naming the resource and when it is suspended) before the
/// resource is suspended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r29_r21_a_cap_that_stops_renewal_top_ups_is_told_before_the_suspension() {
    for store in stores().await {
        let app = spawn_with(&store, |s| s.service.limits.monthly_count_cap = 1).await;
        app.clock.set(utc(2027, 1, 2, 12));
        let (id, _) = app.funded("acme", "pm_card_visa", 6_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        let body = json!({"name": "+44 7700 900123", "fee": 5_000, "period": "weekly"});
        let res = buy_resource(&app, &id, body).await.id();
        app.clock.advance(7 * DAY);
        tick(&app).await;
        assert_eq!(auto_top_ups(&app, &id).await, 1);
        run_for(&app, 4 * DAY, HOUR).await;
        assert_eq!(auto_top_ups(&app, &id).await, 1, "the monthly cap holds");
        let cap = app.events(&id, "cap.reached").await;
        assert_eq!(cap.len(), 1, "told once");
        assert_eq!(cap[0]["data"]["cap"], "monthly");
        assert_eq!(cap[0]["data"]["resource_id"], res.as_str());
        assert_eq!(cap[0]["data"]["suspend_at"], "2027-01-12T12:00:00.000Z");
        let suspended = app.events(&id, "resource.suspended").await;
        assert_eq!(suspended.len(), 1);
        let (told, gone) = (cap[0]["created"].as_str(), suspended[0]["created"].as_str());
        assert!(told < gone, "told {told:?} before the suspension {gone:?}");
        assert_eq!(resource(&app, &id, &res).await["status"], "suspended");
        assert_eq!(
            app.balance(&id).await,
            3_000,
            "never charged the unpaid fee"
        );
        app.assert_ledger_ok().await;
    }
}
