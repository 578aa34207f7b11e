//! The ledger (R3): append-only, double-entry, newest first with the balance after
//! each entry; a batch of debits is one journal.

use crate::checks::assert_created;
use crate::fixtures::{entries, sub_account};
use crate::support::{spawn, stores};
use serde_json::json;

/// The debit pipeline writes a batch of debits as one journal: each debit its own
/// customer entry, the batch's revenue one entry per revenue account and kind. The
/// pipeline's first batch is held up (its account locked by another transaction)
/// until the other debits queue behind it, so that a batch of several debits forms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_a_batch_of_debits_is_one_journal_with_its_revenue_summed() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        let (db, poster) = (&app.running.app.db, &app.running.app.debit_pipeline);
        let before = refill_store::count_entries(&db.pool).await.unwrap();
        let stats = &poster.stats;
        let now = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        let (batches_before, taken_before) = (now(&stats.batches), now(&stats.requests));
        let mut lock = db.begin().await.unwrap();
        refill_store::sqlx::query("UPDATE accounts SET balance = balance WHERE id = $1")
            .bind(&a)
            .execute(&mut *lock)
            .await
            .unwrap();
        let url = format!("{}/v1/accounts/{a}/debits", app.base);
        let debits: Vec<_> = (1..=8)
            .map(|i| {
                let send = app.http.post(&url).bearer_auth(&app.key);
                let body = json!({"amount": i, "reference": format!("m-{i}")});
                tokio::spawn(async move { send.json(&body).send().await.map(|r| r.status()) })
            })
            .collect();
        // All eight reach the lane: its first batch (one or more) waits for the lock,
        // the rest wait in its queue and make one batch after it.
        for waited in 0.. {
            if now(&stats.requests) - taken_before + poster.queued() as u64 == 8 {
                break;
            }
            assert!(waited < 2000, "{}: the debits never queued", store.name);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        lock.commit().await.unwrap();
        for d in debits {
            assert_eq!(d.await.unwrap().unwrap(), 201);
        }
        let batches = now(&stats.batches) - batches_before;
        assert!(batches <= 2, "{}: {batches} batches", store.name);
        let added = refill_store::count_entries(&db.pool).await.unwrap() - before;
        assert_eq!(
            added,
            8 + batches as i64,
            "{}: a customer entry per debit, a revenue entry per batch",
            store.name
        );
        let journals: std::collections::BTreeSet<String> = entries(&app, &a).await[..8]
            .iter()
            .map(|e| e["journal_id"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(journals.len() as u64, batches, "{}", store.name);
        let unbalanced = refill_store::unbalanced_journals(&db.pool).await.unwrap();
        assert!(unbalanced.is_empty(), "{}: {unbalanced:?}", store.name);
        assert_eq!(app.balance(&a).await, 5000 - 36);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_a_batch_is_one_journal_with_an_entry_per_kind_listing_its_items() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        let pool = &app.running.app.db.pool;
        let before = refill_store::count_entries(pool).await.unwrap();
        let items = json!([
            {"amount": 10, "reference": "m-1"},
            {"amount": 20, "reference": "m-2"},
            {"amount": 7, "kind": "fee", "reference": "f-1"},
            {"amount": 30},
        ]);
        let r = app
            .post(
                &format!("/v1/accounts/{a}/debits/batch"),
                json!({ "items": items }),
            )
            .await;
        assert_created(&r);
        let added = refill_store::count_entries(pool).await.unwrap() - before;
        assert_eq!(
            added,
            2 + 2,
            "{}: usage and fee, each with revenue",
            store.name
        );

        let list = entries(&app, &a).await;
        let (fee, usage) = (&list[0], &list[1]);
        assert_eq!(
            (fee["kind"].as_str(), fee["amount"].as_i64()),
            (Some("fee"), Some(-7))
        );
        assert_eq!(
            fee["reference"], "f-1",
            "an entry of one item keeps its reference"
        );
        assert!(fee["items"].is_null());
        assert_eq!(
            (usage["kind"].as_str(), usage["amount"].as_i64()),
            (Some("usage"), Some(-60))
        );
        assert!(usage["reference"].is_null());
        assert_eq!(
            usage["items"],
            json!([{"amount": 10, "reference": "m-1"}, {"amount": 20, "reference": "m-2"}, {"amount": 30}])
        );
        assert_eq!(usage["balance_after"], 5000 - 60);
        assert_eq!(fee["balance_after"], 5000 - 67);
        assert_eq!(fee["journal_id"], usage["journal_id"]);

        // The answer keeps a line per item, naming the entry that holds it.
        let lines = r.body["items"].as_array().unwrap();
        let named: Vec<(&str, i64)> = lines
            .iter()
            .map(|l| {
                (
                    l["entry_id"].as_str().unwrap(),
                    l["balance_after"].as_i64().unwrap(),
                )
            })
            .collect();
        let (u, f) = (usage["id"].as_str().unwrap(), fee["id"].as_str().unwrap());
        assert_eq!(named, [(u, 4990), (u, 4970), (f, 4963), (u, 4933)]);
        let report = refill::verify::verify(&app.running.app.db).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_entries_are_listed_newest_first_with_balance_after() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        for (amount, reference) in [(100, "sms-1"), (250, "sms-2")] {
            let r = app
                .post(
                    &format!("/v1/accounts/{a}/debits"),
                    json!({"amount": amount, "reference": reference}),
                )
                .await;
            assert_created(&r);
        }
        let r = app
            .post(
                &format!("/v1/accounts/{a}/debits/batch"),
                json!({"items": [{"amount": 50}, {"amount": 25, "kind": "fee"}]}),
            )
            .await;
        assert_created(&r);

        let list = entries(&app, &a).await;
        assert_eq!(list.len(), 5, "{list:?}");
        let kinds: Vec<&str> = list.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["fee", "usage", "usage", "usage", "top_up"]);
        assert_eq!(list[3]["reference"], "sms-1");
        let balance = app.balance(&a).await;
        assert_eq!(balance, 5000 - 425);
        assert_eq!(list[0]["balance_after"], balance, "newest first");
        for pair in list.windows(2) {
            let (newer, older) = (&pair[0], &pair[1]);
            assert_eq!(
                newer["balance_after"].as_i64().unwrap() - newer["amount"].as_i64().unwrap(),
                older["balance_after"].as_i64().unwrap(),
                "running balance: {newer} after {older}"
            );
        }
        let sum: i64 = list.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
        assert_eq!(sum, balance, "the balance is the sum of its entries");

        // Pagination of entries.
        let mut paged = vec![];
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("/v1/accounts/{a}/entries?limit=2");
            if let Some(id) = &after {
                url.push_str(&format!("&starting_after={id}"));
            }
            let r = app.get(&url).await;
            let data = r.body["data"].as_array().unwrap().clone();
            after = data.last().map(|e| e["id"].as_str().unwrap().to_string());
            paged.extend(data);
            if !r.body["has_more"].as_bool().unwrap() {
                break;
            }
        }
        assert_eq!(paged, list);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_ledger_holds_after_a_mix_of_operations() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, visa) = app.funded("main", "pm_card_visa", 3000).await;
        let sub = sub_account(&app, &main, "sub").await;
        let other = app.account("other").await;
        assert_created(&app.debit(&main, 700).await);
        assert_eq!(app.debit(&main, 10_000).await.status, 402);
        let t = app
            .post(
                "/v1/transfers",
                json!({"from_account": main, "to_account": sub, "amount": 1000}),
            )
            .await;
        assert_created(&t);
        assert_created(&app.debit(&sub, 400).await);
        let r = app
            .post(
                &format!("/v1/accounts/{sub}/debits/batch"),
                json!({"items": [{"amount": 300}, {"amount": 400}]}),
            )
            .await;
        assert_eq!(r.status, 402);
        let r = app
            .post(
                &format!("/v1/accounts/{main}/top-ups"),
                json!({"amount": 1500, "payment_method": visa}),
            )
            .await;
        assert_created(&r);
        let back = app
            .post(
                "/v1/transfers",
                json!({"from_account": sub, "to_account": main, "amount": 600}),
            )
            .await;
        assert_created(&back);
        let r = app
            .post(
                "/v1/transfers",
                json!({"from_account": main, "to_account": other, "amount": 1}),
            )
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(app.balance(&main).await, 3000 - 700 - 1000 + 1500 + 600);
        assert_eq!(app.balance(&sub).await, 0);
        assert_eq!(app.balance(&other).await, 0);
        for id in [&main, &sub, &other] {
            let sum: i64 = entries(&app, id)
                .await
                .iter()
                .map(|e| e["amount"].as_i64().unwrap())
                .sum();
            assert_eq!(sum, app.balance(id).await, "{id}");
        }
        app.assert_ledger_ok().await;
    }
}
