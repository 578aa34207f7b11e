//! What triggers an automatic top-up (R12, R18, R19, R22) and the notices around a
//! crossing (R26, R27).

use super::auto_charges;
use crate::support::*;
use refill_domain::{DAY, HOUR, MINUTE};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_r19_crossing_gives_exactly_one_top_up() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        let before = app.sandbox.charges().len();
        app.turn_on_auto_top_up(&id, 1_000, 3_000).await;
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
            .create_account(json!({"name": "sub", "currency": "GBP", "parent_id": id}))
            .await;
        app.turn_on_auto_top_up(&id, 5_000, 5_000).await;
        app.transfer(&id, &sub, 6_000).await;
        app.pay_fee(&id, 100).await;
        app.engine().await;
        assert_eq!(auto_charges(&app), 0);
        assert!(app.auto_top_up(&id).await["in_flight"].is_null());
        // Usage does.
        app.spend(&id, 100).await;
        app.engine().await;
        assert_eq!(auto_charges(&app), 1);
    }
}

/// R18: a batch is spending when any of its items is of a kind that counts, in
/// whatever order the items come (with `trigger_on = usage`, a fee then usage
/// crossing the threshold triggers, as usage then a fee does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_a_batch_triggers_when_any_item_counts_as_spending() {
    for store in stores().await {
        let app = spawn(&store).await;
        let orders = [["fee", "usage"], ["usage", "fee"]];
        for (n, kinds) in orders.iter().enumerate() {
            let (id, _) = app.funded(&format!("acme{n}"), "pm_card_visa", 5_000).await;
            app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
            let items: Vec<_> = (kinds.iter())
                .map(|kind| json!({"amount": 2_000, "kind": kind}))
                .collect();
            let path = format!("/v1/accounts/{id}/debits/batch");
            let r = app.post(&path, json!({ "items": items })).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            assert_eq!(r.body["balance_after"], 1_000, "at the threshold");
            app.engine().await;
            assert_eq!(auto_charges(&app), n + 1, "{kinds:?}");
        }
        // A batch of fees only is not spending that counts.
        let (id, _) = app.funded("fees", "pm_card_visa", 5_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        let items = json!([{"amount": 2_000, "kind": "fee"}, {"amount": 2_000, "kind": "fee"}]);
        let path = format!("/v1/accounts/{id}/debits/batch");
        assert_eq!(app.post(&path, json!({ "items": items })).await.status, 201);
        app.engine().await;
        assert_eq!(auto_charges(&app), 2, "fees alone never trigger by default");
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
    app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
    app.pay_fee(&id, 4_500).await;
    app.engine().await;
    assert_eq!(auto_charges(&app), 1);
}

/// R22: the check catches a spending crossing whose top-up did not start (here its
/// queued top-up is lost, as a crash before the outbox existed would have lost it),
/// and disables settings whose card is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r22_periodic_check_catches_a_missed_top_up_and_removed_cards() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, pm) = app.funded("main", "pm_card_visa", 10_000).await;
        app.turn_on_auto_top_up(&main, 5_000, 5_000).await;
        app.spend(&main, 6_000).await;
        lose_queued_top_up(&app, &main).await;
        let (queued, _) = app.running.app.periodic_check().await.unwrap();
        assert_eq!(queued, 1, "spending crossed and its top-up did not start");
        app.engine().await;
        assert_eq!(auto_charges(&app), 1);
        assert_eq!(app.balance(&main).await, 9_000);
        assert_eq!(
            app.running.app.periodic_check().await.unwrap().0,
            0,
            "nothing in flight, above: nothing due"
        );
        // R22: a removed payment method disables the settings, with the reason.
        app.remove_card(&main, &pm).await;
        let s = app.auto_top_up(&main).await;
        assert_eq!(s["state"], "disabled");
        assert_eq!(s["state_reason"]["code"], "payment_method_removed");
    }
}

/// The queued top-up of `account` gone, as if it had never been written.
async fn lose_queued_top_up(app: &TestApp, account: &str) {
    let pool = &app.running.app.db.pool;
    refill_store::sqlx::query("DELETE FROM top_ups WHERE account_id = $1 AND status = 'queued'")
        .bind(account)
        .execute(pool)
        .await
        .unwrap();
}

/// R18, R22: a drop below the threshold by a transfer out, a reversal of a failed
/// payment or a refund is never topped up, at once or by any later periodic check;
/// spending after it is, and a credit above the threshold ends the crossing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_r22_a_drop_by_a_transfer_or_a_reversal_is_never_topped_up_later() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 5_000).await;
        let sub = app
            .create_account(json!({"name": "sub", "currency": "GBP", "parent_id": main}))
            .await;
        app.turn_on_auto_top_up(&main, 1_000, 2_000).await;
        // The story: a transfer of 4500 leaves main at 500.
        app.transfer(&main, &sub, 4_500).await;
        for _ in 0..3 {
            app.clock.advance(5 * MINUTE);
            assert_eq!(app.running.app.periodic_check().await.unwrap().0, 0);
            app.engine().await;
        }
        assert_eq!(auto_charges(&app), 0, "the card is left alone");
        assert_eq!(app.balance(&main).await, 500);
        assert_eq!(app.events(&main, "top_up.succeeded").await.len(), 1);
        // A reversal of a failed pending payment (R11) through the threshold.
        app.transfer(&sub, &main, 4_500).await;
        let spare = app.save_spare_card(&main, "pm_card_pendingThenFails").await;
        let pending = app.manual_top_up_by(&main, &spare, 2_000).await;
        app.manual_top_ups.lock().unwrap().push(pending.id());
        app.transfer(&main, &sub, 4_500).await;
        assert_eq!(app.balance(&main).await, 2_500);
        app.clock.advance(3 * DAY);
        assert_eq!(app.running.app.settle_pending().await.unwrap(), 1);
        assert_eq!(
            app.balance(&main).await,
            500,
            "reversed: below the threshold"
        );
        app.clock.advance(5 * MINUTE);
        assert_eq!(app.running.app.periodic_check().await.unwrap().0, 0);
        app.engine().await;
        assert_eq!(auto_charges(&app), 0);
        // Spending from there is a crossing: topped up at once.
        app.spend(&main, 100).await;
        app.engine().await;
        assert_eq!(auto_charges(&app), 1);
        assert_eq!(app.balance(&main).await, 2_400);
        // Lifted above by that top-up: a later transfer out is no crossing.
        app.clock.advance(HOUR);
        app.transfer(&main, &sub, 2_000).await;
        assert_eq!(app.running.app.periodic_check().await.unwrap().0, 0);
        app.engine().await;
        assert_eq!(auto_charges(&app), 1);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_r27_low_balance_once_per_crossing_and_approaching_threshold() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 10_000).await;
        app.set_low_balance_notice(&id, 6_000).await;
        app.spend(&id, 4_500).await;
        app.spend(&id, 500).await;
        app.spend(&id, 500).await;
        assert_eq!(
            app.events(&id, "balance.low").await.len(),
            1,
            "once per crossing"
        );
        app.manual_top_up(&id, 5_000).await;
        app.spend(&id, 4_000).await;
        assert_eq!(
            app.events(&id, "balance.low").await.len(),
            2,
            "re-armed above, sent again"
        );
        app.turn_on_auto_top_up(&id, 2_000, 3_000).await;
        app.spend(&id, 3_400).await;
        let near = app.events(&id, "balance.approaching_threshold").await;
        assert_eq!(near.len(), 1);
        assert_eq!(near[0]["data"]["threshold"], 2_000);
    }
}

/// 100 concurrent debits over HTTP drive one account across its threshold many
/// times while the engine runs: one charge per crossing, each credited once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_race_of_concurrent_debits_one_charge_per_crossing() {
    for store in stores().await {
        let app = spawn_with(&store, |s| s.service.limits.card_interval = 0).await;
        let (id, _) = app.funded("hot", "pm_card_visa", 10_000).await;
        app.turn_on_auto_top_up(&id, 5_000, 5_000).await;
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
            if app.auto_top_up(&id).await["in_flight"].is_null() {
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
