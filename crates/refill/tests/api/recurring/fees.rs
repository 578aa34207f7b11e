//! Recurring-fee resources (R29): bought with the first period's fee, renewed every
//! period once, retried in the grace period, then suspended.

use super::*;
use refill_domain::{DAY, HOUR};
use reqwest::Method;
use serde_json::json;

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
        assert_eq!(app.auto_top_up(&id).await["state"], "off");
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
        let theirs = buy_resource(&app, &other, json!({"name": "n", "fee": 100}))
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
        let monthly = buy_resource(&app, &id, json!({"name": "number", "fee": 500}))
            .await
            .id();
        let weekly = buy_resource(
            &app,
            &id,
            json!({"name": "keyword", "fee": 100, "period": "weekly"}),
        )
        .await
        .id();
        let yearly = buy_resource(
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
        let res = buy_resource(&app, &id, json!({"name": "number", "fee": 500}))
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
        let res = buy_resource(&app, &id, json!({"name": "number", "fee": 500}))
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
        let a = buy_resource(&app, &id, json!({"name": "A", "fee": 600}))
            .await
            .id();
        let b = buy_resource(&app, &id, json!({"name": "B", "fee": 300}))
            .await
            .id();
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
        app.manual_top_up_by(&id, &card, 1_000).await;
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
        app.manual_top_up_by(&id, &card, 5_000).await;
        run_for(&app, 62 * DAY, 12 * HOUR).await;
        assert_eq!(app.balance(&id).await, 5_200);
        assert_eq!(fee_entries(&app, &id).await.len(), 4);
        app.assert_ledger_ok().await;
    }
}
