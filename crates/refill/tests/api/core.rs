//! Issue 2: core API tests: accounts (R2, R4), the ledger (R3), debits (R6), the
//! estimate (R7), payment methods (R5), checkout and manual top-ups (R8-R10),
//! transfers (R18), idempotency, bad input, the OpenAPI document, health, and a
//! property test over random sequences of operations.

use crate::support::{Resp, Store, TestApp, enable_auto_top_up, spawn, stores};
use reqwest::Method;
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

/// A refusal as RFC 9457 problem+json with the stable `code`.
#[track_caller]
fn assert_problem(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        r.status, status,
        "expected {status} {code}, got {}: {}",
        r.status, r.body
    );
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(ct, "application/problem+json", "content-type of {code}");
    assert_eq!(r.code(), code, "{}", r.body);
    assert_eq!(
        r.body["status"].as_u64(),
        Some(u64::from(status)),
        "{}",
        r.body
    );
    for field in ["type", "title", "detail"] {
        assert!(
            r.body[field].as_str().is_some_and(|s| !s.is_empty()),
            "problem field {field} missing: {}",
            r.body
        );
    }
}

#[track_caller]
fn assert_rule(r: &Resp, rule: &str) {
    assert_eq!(r.body["rule"].as_str(), Some(rule), "{}", r.body);
}

#[track_caller]
fn assert_created(r: &Resp) {
    assert_eq!(r.status, 201, "{}", r.body);
}

/// All of an account's entries (newest first).
async fn entries(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/accounts/{id}/entries?limit=500"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().cloned().expect("entries")
}

/// Balance and number of entries of each account: what "nothing changed" compares.
async fn snapshot(app: &TestApp, ids: &[&str]) -> Vec<(i64, usize)> {
    let mut v = vec![];
    for id in ids {
        v.push((app.balance(id).await, entries(app, id).await.len()));
    }
    v
}

/// A request with a raw body (malformed JSON, oversized bodies).
async fn raw(app: &TestApp, method: Method, path: &str, body: Vec<u8>, key: Option<&str>) -> Resp {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    }
}

/// A sub-account of `parent` in GBP.
async fn sub_account(app: &TestApp, parent: &str, name: &str) -> String {
    let r = app
        .post(
            "/v1/accounts",
            json!({"name": name, "currency": "GBP", "parent_id": parent,
                "payer": {"name": "Bo", "email": "bo@example.test", "country": "GB"}}),
        )
        .await;
    assert_created(&r);
    r.id()
}

/// Every page of GET `path` (which has no query yet), following `starting_after`.
async fn all_pages(app: &TestApp, path: &str, limit: usize, key: &str) -> (Vec<String>, usize) {
    let (mut ids, mut pages) = (Vec::<String>::new(), 0);
    loop {
        let mut url = format!("{path}?limit={limit}");
        if let Some(last) = ids.last() {
            url.push_str(&format!("&starting_after={last}"));
        }
        let r = app.send(Method::GET, &url, None, &[], Some(key)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let data = r.body["data"].as_array().expect("data");
        assert!(data.len() <= limit, "a page holds at most limit items");
        ids.extend(data.iter().map(|a| a["id"].as_str().unwrap().to_string()));
        pages += 1;
        assert!(pages < 100, "pagination does not end");
        if !r.body["has_more"].as_bool().expect("has_more") {
            return (ids, pages);
        }
        assert_eq!(data.len(), limit, "has_more with a short page");
    }
}

fn is_top_up_event(e: &Value) -> bool {
    e["type"].as_str().is_some_and(|t| t.starts_with("top_up."))
}

// ---------------------------------------------------------------- R2, R4: accounts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_accounts_and_sub_accounts() {
    for store in stores().await {
        let app = spawn(&store).await;
        let main = app.account("main").await;
        let a = app.get(&format!("/v1/accounts/{main}")).await;
        assert_eq!(a.status, 200);
        assert!(main.starts_with("acct_"), "{main}");
        assert_eq!(a.body["currency"], "GBP");
        assert_eq!(a.body["balance"], 0);
        assert_eq!(a.body["credit_limit"], 0);
        assert!(a.body["parent_id"].is_null());

        let sub = sub_account(&app, &main, "sub").await;
        let s = app.get(&format!("/v1/accounts/{sub}")).await;
        assert_eq!(s.body["parent_id"], main.as_str());
        assert_eq!(s.body["currency"], "GBP");

        // R4: one level only.
        let r = app
            .post(
                "/v1/accounts",
                json!({"name": "subsub", "currency": "GBP", "parent_id": sub}),
            )
            .await;
        assert_problem(&r, 400, "parent_is_sub_account");
        // R2: one currency per family.
        let r = app
            .post(
                "/v1/accounts",
                json!({"name": "eur", "currency": "EUR", "parent_id": main}),
            )
            .await;
        assert_problem(&r, 400, "currency_mismatch");
        let r = app
            .post(
                "/v1/accounts",
                json!({"name": "orphan", "currency": "GBP", "parent_id": "acct_nope"}),
            )
            .await;
        assert_problem(&r, 404, "account_not_found");
        let r = app
            .post(
                "/v1/accounts",
                json!({"name": "positive", "currency": "GBP", "credit_limit": 100}),
            )
            .await;
        assert_problem(&r, 400, "invalid_credit_limit");
        let r = app
            .post("/v1/accounts", json!({"name": " ", "currency": "GBP"}))
            .await;
        assert_problem(&r, 400, "invalid_name");

        // Nothing refused was created.
        let (ids, _) = all_pages(&app, "/v1/accounts", 500, &app.key).await;
        assert_eq!(ids.len(), 2, "{store:?}: {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_account_list_paginates() {
    for store in stores().await {
        let app = spawn(&store).await;
        let mut created = vec![];
        for i in 0..5 {
            created.push(app.account(&format!("a{i}")).await);
        }
        let first = app.get("/v1/accounts?limit=2").await;
        assert_eq!(first.status, 200);
        assert_eq!(first.body["data"].as_array().unwrap().len(), 2);
        assert_eq!(first.body["has_more"], true);

        let (ids, pages) = all_pages(&app, "/v1/accounts", 2, &app.key).await;
        assert_eq!(pages, 3);
        let mut sorted = created.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "every account once, in id order");

        let exact = app.get("/v1/accounts?limit=5").await;
        assert_eq!(exact.body["data"].as_array().unwrap().len(), 5);
        assert_eq!(exact.body["has_more"], false);
        let after_last = app
            .get(&format!("/v1/accounts?starting_after={}", sorted[4]))
            .await;
        assert_eq!(after_last.body["data"].as_array().unwrap().len(), 0);
        assert_eq!(after_last.body["has_more"], false);
    }
}

/// R4, issue 5: a key is trusted from memory for 30 s at most (a key removed on
/// another node stops working here within that), and past half that time one request
/// reads it again, so that the requests in flight do not all read the database at once
/// when it would expire (they did, and stalled the debits for 50-100 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_a_known_key_is_read_again_before_it_expires() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let k = app.post(&format!("/v1/accounts/{a}/keys"), json!({})).await;
        assert_created(&k);
        let key = k.body["key"].as_str().expect("key").to_string();
        let path = format!("/v1/accounts/{a}");
        let as_a = || app.send(Method::GET, &path, None, &[], Some(&key));
        assert_eq!(as_a().await.status, 200, "{}", store.name);
        // Past half its time: read again (it is still there), trusted from then on.
        app.clock.advance(16_000);
        assert_eq!(as_a().await.status, 200, "{}", store.name);
        // Removed behind the cache's back (as by another node).
        remove_keys_behind_the_cache(&app, &a).await;
        // 30.5 s after the first read, 14.5 s after the second: still trusted.
        app.clock.advance(14_500);
        assert_eq!(as_a().await.status, 200, "{}", store.name);
        // Past half its time again: the request that reads it learns it is gone.
        app.clock.advance(1_000);
        assert_problem(&as_a().await, 401, "invalid_api_key");
        assert_problem(&as_a().await, 401, "invalid_api_key");
    }
}

/// Deletes an account's keys in the database, as another node would.
async fn remove_keys_behind_the_cache(app: &TestApp, account: &str) {
    let pool = &app.running.app.db.pool;
    let removed = refill_store::sqlx::query("DELETE FROM api_keys WHERE account_id = $1")
        .bind(account)
        .execute(pool)
        .await
        .expect("keys deleted");
    assert!(removed.rows_affected() > 0, "the account had a key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_account_key_sees_only_its_account_and_sub_accounts() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let a1 = sub_account(&app, &a, "a1").await;
        let (b, _) = app.funded("b", "pm_card_visa", 2000).await;
        let b1 = sub_account(&app, &b, "b1").await;
        let b_top_up = app.get(&format!("/v1/accounts/{b}/top-ups")).await.body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();

        let k = app.post(&format!("/v1/accounts/{a}/keys"), json!({})).await;
        assert_created(&k);
        let key = k.body["key"].as_str().expect("key").to_string();
        assert_ne!(key, app.key);
        let as_a = |m: Method, path: String, body: Option<Value>| {
            let key = key.clone();
            let app = &app;
            async move { app.send(m, &path, body.as_ref(), &[], Some(&key)).await }
        };

        assert_eq!(
            as_a(Method::GET, format!("/v1/accounts/{a}"), None)
                .await
                .status,
            200
        );
        assert_eq!(
            as_a(Method::GET, format!("/v1/accounts/{a1}"), None)
                .await
                .status,
            200
        );
        for other in [&b, &b1] {
            let r = as_a(Method::GET, format!("/v1/accounts/{other}"), None).await;
            assert_problem(&r, 403, "forbidden");
            let r = as_a(Method::GET, format!("/v1/accounts/{other}/entries"), None).await;
            assert_problem(&r, 403, "forbidden");
            let r = as_a(
                Method::POST,
                format!("/v1/accounts/{other}/debits"),
                Some(json!({"amount": 100})),
            )
            .await;
            assert_problem(&r, 403, "forbidden");
        }
        let r = as_a(
            Method::POST,
            "/v1/transfers".into(),
            Some(json!({"from_account": b, "to_account": b1, "amount": 100})),
        )
        .await;
        assert_problem(&r, 403, "forbidden");
        let r = as_a(Method::GET, format!("/v1/events?account_id={b}"), None).await;
        assert_problem(&r, 403, "forbidden");
        // Another account's receipt is not found (its existence is not revealed).
        let r = as_a(Method::GET, format!("/v1/top-ups/{b_top_up}"), None).await;
        assert_problem(&r, 404, "top_up_not_found");
        // Operator-only actions.
        let r = as_a(
            Method::POST,
            format!("/v1/accounts/{a}/keys"),
            Some(json!({})),
        )
        .await;
        assert_problem(&r, 403, "forbidden");
        let r = as_a(
            Method::POST,
            "/v1/accounts".into(),
            Some(json!({"name": "new main", "currency": "GBP"})),
        )
        .await;
        assert_problem(&r, 403, "forbidden");
        let r = as_a(
            Method::POST,
            "/v1/accounts".into(),
            Some(json!({"name": "steal", "currency": "GBP", "parent_id": b})),
        )
        .await;
        assert_problem(&r, 403, "forbidden");

        // It may act in its own tree: a debit, a new sub-account.
        let r = as_a(
            Method::POST,
            format!("/v1/accounts/{a}/debits"),
            Some(json!({"amount": 100})),
        )
        .await;
        assert_created(&r);
        let r = as_a(
            Method::POST,
            "/v1/accounts".into(),
            Some(json!({"name": "a2", "currency": "GBP", "parent_id": a})),
        )
        .await;
        assert_created(&r);
        let a2 = r.id();

        let (mut seen, _) = all_pages(&app, "/v1/accounts", 2, &key).await;
        seen.sort();
        let mut mine = vec![a.clone(), a1, a2];
        mine.sort();
        assert_eq!(seen, mine, "the key lists only its tree");
        assert_eq!(app.balance(&a).await, 1900);
        assert_eq!(app.balance(&b).await, 2000, "b untouched");
    }
}

// ---------------------------------------------------------------- R3: the ledger

/// The debit pipeline writes a batch of debits as one journal: each debit its own
/// customer entry, the batch's revenue one entry per revenue account and kind. The
/// pipeline's first batch is held up (its account locked by another transaction)
/// until the other debits queue behind it, so that a batch of several debits forms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_a_batch_of_debits_is_one_journal_with_its_revenue_summed() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        let (db, poster) = (&app.running.app.db, &app.running.app.poster);
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

// ---------------------------------------------------------------- R6: debits

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_single_debit_takes_the_balance_down() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let r = app
            .post(
                &format!("/v1/accounts/{a}/debits"),
                json!({"amount": 150, "currency": "GBP", "kind": "usage", "reference": "msg-1"}),
            )
            .await;
        assert_created(&r);
        assert_eq!(r.body["total"], 150);
        assert_eq!(r.body["balance_after"], 1850);
        assert_eq!(r.body["account_id"], a.as_str());
        let entry = r.body["items"][0]["entry_id"].as_str().unwrap();
        assert!(entry.starts_with("ent_"), "{entry}");
        assert_eq!(app.balance(&a).await, 1850);
        let list = entries(&app, &a).await;
        assert_eq!(list[0]["id"], entry);
        assert_eq!(list[0]["amount"], -150);
        assert_eq!(list[0]["reference"], "msg-1");
        // Down to exactly zero is allowed (the default credit limit).
        assert_created(&app.debit(&a, 1850).await);
        assert_eq!(app.balance(&a).await, 0);
        let r = app
            .post(
                &format!("/v1/accounts/{a}/debits"),
                json!({"amount": 1, "kind": "gift"}),
            )
            .await;
        assert_problem(&r, 400, "invalid_kind");
        app.assert_ledger_ok().await;
    }
}

/// The pipeline's fast-path batches so far: (written, failed and redone).
fn fast_path(app: &TestApp) -> (u64, u64) {
    let stats = &app.running.app.poster.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::SeqCst);
    (load(&stats.unread), load(&stats.stale))
}

/// Issue 5's fast path: the pipeline writes a debit without reading its account again
/// when it saw the account in an earlier batch, but only if no other writer changed it
/// since. A transfer (the balance) and turning auto top-up on (the threshold) are such
/// changes: the next debit goes down the locking path and sees them (R6, R18).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_debit_sees_what_other_writers_changed_since_the_last_debit() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 5000).await;
        let sub = sub_account(&app, &main, "sub").await;
        let transfer = |amount: i64| {
            app.post(
                "/v1/transfers",
                json!({"from_account": main, "to_account": sub, "amount": amount}),
            )
        };
        let went_stale = |before: u64, what: &str| {
            assert_eq!(fast_path(&app).1, before + 1, "{}: {what}", store.name);
        };
        let balance_after = |r: Resp| {
            assert_created(&r);
            r.body["balance_after"].as_i64().unwrap()
        };
        assert_created(&transfer(1000).await);
        assert_eq!(balance_after(app.debit(&sub, 100).await), 900);
        let fast = fast_path(&app).0;
        assert_eq!(balance_after(app.debit(&sub, 100).await), 800);
        assert_eq!(fast_path(&app).0, fast + 1, "{}: fast path", store.name);

        let stale = fast_path(&app).1;
        assert_created(&transfer(500).await);
        assert_eq!(balance_after(app.debit(&sub, 100).await), 1200);
        went_stale(stale, "the change seen");
        assert_eq!(balance_after(app.debit(&sub, 100).await), 1100);
        assert_eq!(balance_after(app.debit(&sub, 1100).await), 0);
        // What the lane saw (0) would refuse this debit; the balance it meets would not.
        assert_created(&transfer(300).await);
        assert_eq!(balance_after(app.debit(&sub, 200).await), 100);

        // main: 5000 - 1800 transferred = 3200; seen by two debits, then a threshold.
        assert_eq!(balance_after(app.debit(&main, 100).await), 3100);
        assert_eq!(balance_after(app.debit(&main, 100).await), 3000);
        let s = enable_auto_top_up(&app, &main, 1000, 2000).await;
        assert_eq!(s.status, 200, "{}", s.body);
        let (charges, stale) = (app.sandbox.charges().len(), fast_path(&app).1);
        assert_eq!(balance_after(app.debit(&main, 2100).await), 900);
        went_stale(stale, "threshold seen");
        app.engine().await;
        assert_eq!(app.sandbox.charges().len(), charges + 1, "{}", store.name);
        assert_eq!(app.balance(&main).await, 2900, "{}", store.name);
        app.assert_ledger_ok().await;
    }
}

/// Issue 5: the pipeline may keep its connection between batches (PostgreSQL), but
/// lets it go once idle, so that closing the store does not wait for it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_an_idle_pipeline_gives_its_connection_back() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        for _ in 0..3 {
            let r = app
                .post(&format!("/v1/accounts/{a}/debits"), json!({"amount": 1}))
                .await;
            assert_created(&r);
        }
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            app.running.app.db.close(),
        )
        .await;
        assert!(closed.is_ok(), "{}: the store never closed", store.name);
    }
}

/// A debit the pipeline cannot write because the database is out of reach is told
/// as that (503 `database_unavailable`: try again), not as a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_debit_with_the_database_out_of_reach_is_a_503() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        // Read once: the key and the account are then known without the database.
        assert_created(&app.debit(&a, 1).await);
        app.running.app.db.close().await;
        let r = app.debit(&a, 1).await;
        assert_problem(&r, 503, "database_unavailable");
    }
}

/// Issue 5's fast path keeps idempotent responses too: a keyed debit of an account
/// the pipeline has seen is written with its key in one round trip; a replay answers
/// the stored response; twins sent at once apply once (a batch that holds two of them
/// fails its fast write on the second key and is done again on the locking path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_keyed_debits_take_the_fast_path_and_still_apply_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        let path = format!("/v1/accounts/{a}/debits");
        assert_created(&app.post_idem(&path, json!({"amount": 100}), "k1").await);
        let fast = fast_path(&app).0;
        let first = app.post_idem(&path, json!({"amount": 200}), "k2").await;
        assert_created(&first);
        assert_eq!(fast_path(&app).0, fast + 1, "{}: fast path", store.name);
        let again = app.post_idem(&path, json!({"amount": 200}), "k2").await;
        assert_eq!(again.status, 201, "{}", again.body);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.body, first.body);
        assert_eq!(app.balance(&a).await, 4700, "{}", store.name);

        let twin = || app.post_idem(&path, json!({"amount": 300}), "twin");
        let (r1, r2, r3, r4, r5, r6) = tokio::join!(twin(), twin(), twin(), twin(), twin(), twin());
        twins_answered_once(&[&r1, &r2, &r3, &r4, &r5, &r6]);
        assert_eq!(app.balance(&a).await, 4400, "{}: debited once", store.name);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_debit_over_the_balance_is_refused_with_402() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 1000).await;
        let before = snapshot(&app, &[&a]).await;
        let r = app.debit(&a, 1001).await;
        assert_problem(&r, 402, "insufficient_balance");
        assert_rule(&r, "R6");
        assert_eq!(snapshot(&app, &[&a]).await, before, "nothing debited");
        // An empty account refuses any debit.
        let empty = app.account("empty").await;
        let r = app.debit(&empty, 1).await;
        assert_problem(&r, 402, "insufficient_balance");
        assert_eq!(snapshot(&app, &[&empty]).await, vec![(0, 0)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_batch_over_the_balance_is_refused_whole() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 1000).await;
        let before = snapshot(&app, &[&a]).await;
        // Each item alone fits; together they do not.
        let r = app
            .post(
                &format!("/v1/accounts/{a}/debits/batch"),
                json!({"items": [{"amount": 400}, {"amount": 400}, {"amount": 201}]}),
            )
            .await;
        assert_problem(&r, 402, "insufficient_balance");
        assert_rule(&r, "R6");
        assert_eq!(snapshot(&app, &[&a]).await, before, "no item was debited");

        let r = app
            .post(
                &format!("/v1/accounts/{a}/debits/batch"),
                json!({"items": [{"amount": 400, "reference": "x"}, {"amount": 400}, {"amount": 200}]}),
            )
            .await;
        assert_created(&r);
        assert_eq!(r.body["total"], 1000);
        assert_eq!(r.body["balance_after"], 0);
        let lines = r.body["items"].as_array().unwrap();
        let afters: Vec<i64> = lines
            .iter()
            .map(|l| l["balance_after"].as_i64().unwrap())
            .collect();
        assert_eq!(afters, [600, 200, 0]);
        // One entry, of one kind, lists the three items.
        assert_eq!(snapshot(&app, &[&a]).await, vec![(0, before[0].1 + 1)]);

        for bad in [
            json!({"items": []}),
            json!({"items": (0..1001).map(|_| json!({"amount": 1})).collect::<Vec<_>>()}),
        ] {
            let r = app
                .post(&format!("/v1/accounts/{a}/debits/batch"), bad)
                .await;
            assert_problem(&r, 400, "invalid_batch");
        }
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_credit_limit_allows_going_below_zero_down_to_the_limit() {
    for store in stores().await {
        let app = spawn(&store).await;
        let r = app
            .post(
                "/v1/accounts",
                json!({"name": "credit", "currency": "GBP", "credit_limit": -500}),
            )
            .await;
        assert_created(&r);
        let a = r.id();
        assert_eq!(r.body["credit_limit"], -500);
        assert_created(&app.debit(&a, 300).await);
        assert_eq!(app.balance(&a).await, -300);
        let r = app.debit(&a, 201).await;
        assert_problem(&r, 402, "insufficient_balance");
        assert_rule(&r, "R6");
        assert_eq!(app.balance(&a).await, -300);
        assert_created(&app.debit(&a, 200).await);
        assert_eq!(app.balance(&a).await, -500);
        assert_problem(&app.debit(&a, 1).await, 402, "insufficient_balance");
        assert_eq!(app.balance(&a).await, -500);
        app.assert_ledger_ok().await;
    }
}

// ---------------------------------------------------------------- R7: estimate

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r7_estimate_prices_usage_and_the_top_up_it_needs() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 1000).await;
        let path = format!("/v1/accounts/{a}/estimate");
        let before = snapshot(&app, &[&a]).await;

        let r = app
            .post(
                &path,
                json!({"items": [{"quantity": 100, "unit_price": 4, "description": "SMS UK"},
                                 {"quantity": 2, "unit_price": 50}]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["cost"], 500);
        assert_eq!(r.body["balance"], 1000);
        assert_eq!(r.body["balance_after"], 500);
        assert_eq!(r.body["sufficient"], true);
        assert_eq!(r.body["top_up_needed"], 0);
        assert_eq!(r.body["currency"], "GBP");

        // Short by 10: the top-up needed is at least the minimum (R8).
        let r = app
            .post(
                &path,
                json!({"items": [{"quantity": 101, "unit_price": 10}]}),
            )
            .await;
        assert_eq!(r.body["balance_after"], -10);
        assert_eq!(r.body["sufficient"], false);
        assert_eq!(r.body["top_up_needed"], 1000);
        // Short by 2500: that much.
        let r = app
            .post(
                &path,
                json!({"items": [{"quantity": 35, "unit_price": 100}]}),
            )
            .await;
        assert_eq!(r.body["top_up_needed"], 2500);

        let r = app
            .post(&path, json!({"items": [{"quantity": 0, "unit_price": 10}]}))
            .await;
        assert_problem(&r, 400, "amount_not_positive");
        let r = app
            .post(
                &path,
                json!({"items": [{"quantity": i64::MAX, "unit_price": 2}]}),
            )
            .await;
        assert_problem(&r, 400, "amount_overflow");
        let r = app
            .post(
                "/v1/accounts/acct_nope/estimate",
                json!({"items": [{"quantity": 1, "unit_price": 1}]}),
            )
            .await;
        assert_problem(&r, 404, "account_not_found");
        assert_eq!(
            snapshot(&app, &[&a]).await,
            before,
            "an estimate debits nothing"
        );
    }
}

// ---------------------------------------------------------------- R5: payment methods

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_payment_methods_are_saved_listed_and_removed() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let path = format!("/v1/accounts/{a}/payment-methods");
        let visa = app.post(&path, json!({"token": "pm_card_visa"})).await;
        assert_created(&visa);
        assert!(visa.id().starts_with("pm_"), "{}", visa.body);
        assert_eq!(visa.body["brand"], "visa");
        assert_eq!(visa.body["last4"], "4242");
        assert_eq!(visa.body["primary"], true, "the first saved is primary");
        assert!(
            visa.body.get("token").is_none() && !visa.body.to_string().contains("pm_card_visa")
        );

        let mc = app
            .post(&path, json!({"token": "pm_card_mastercard"}))
            .await;
        assert_created(&mc);
        assert_eq!(mc.body["brand"], "mastercard");
        assert_eq!(mc.body["last4"], "4444");
        assert_eq!(mc.body["primary"], false);

        let once = app
            .post(&path, json!({"token": "pm_card_amex", "save": false}))
            .await;
        assert_created(&once);
        assert_eq!(once.body["saved"], false);
        assert_eq!(once.body["primary"], false);

        let list = app.get(&path).await;
        let ids: Vec<&str> = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [visa.id(), mc.id()], "saved ones only, primary first");

        let amex = app
            .post(&path, json!({"token": "pm_card_amex", "primary": true}))
            .await;
        assert_eq!(amex.body["primary"], true);
        let list = app.get(&path).await;
        let primaries: Vec<&str> = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["primary"] == true)
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(primaries, [amex.id()], "one primary");

        let r = app.delete(&format!("{path}/{}", mc.id())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["removed"], true);
        let list = app.get(&path).await;
        assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
        assert!(!list.body.to_string().contains(&mc.id()));
        let r = app.delete(&format!("{path}/{}", mc.id())).await;
        assert_problem(&r, 404, "payment_method_not_found");
        // A removed card cannot pay.
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 1000, "payment_method": mc.id()}),
            )
            .await;
        assert_problem(&r, 404, "payment_method_not_found");

        let r = app.post(&path, json!({"token": "pm_card_nope"})).await;
        assert_problem(&r, 400, "invalid_payment_method");
        let r = app.post(&path, json!({"token": ""})).await;
        assert_problem(&r, 400, "invalid_token");
        assert_eq!(
            app.get(&path).await.body["data"].as_array().unwrap().len(),
            2
        );
        assert_eq!(app.balance(&a).await, 0);
    }
}

// ---------------------------------------------------------------- R8, R9, R10: top-ups

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r9_checkout_adds_the_tax_of_the_payer_country() {
    for store in stores().await {
        let app = spawn(&store).await;
        let gb = app.account("gb").await;
        let r = app
            .post(
                &format!("/v1/accounts/{gb}/checkout"),
                json!({"amount": 2500}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["amount"], 2500);
        assert_eq!(r.body["tax_rate_bps"], 2000);
        assert_eq!(r.body["tax"], 500);
        assert_eq!(r.body["total"], 3000);
        assert_eq!(r.body["currency"], "GBP");
        // Rounded to the penny: 20% of 1003 is 200.6.
        let r = app
            .post(
                &format!("/v1/accounts/{gb}/checkout"),
                json!({"amount": 1003, "currency": "GBP"}),
            )
            .await;
        assert_eq!(
            (r.body["tax"].as_i64(), r.body["total"].as_i64()),
            (Some(201), Some(1204))
        );

        let fr = app
            .post(
                "/v1/accounts",
                json!({"name": "fr", "currency": "EUR", "payer": {"email": "f@example.test", "country": "FR"}}),
            )
            .await
            .id();
        let r = app
            .post(
                &format!("/v1/accounts/{fr}/checkout"),
                json!({"amount": 2500}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (r.body["tax"].as_i64(), r.body["total"].as_i64()),
            (Some(0), Some(2500))
        );

        let r = app
            .post(
                &format!("/v1/accounts/{gb}/checkout"),
                json!({"amount": 2500, "currency": "EUR"}),
            )
            .await;
        assert_problem(&r, 400, "currency_mismatch");
        assert!(
            app.sandbox.charges().is_empty(),
            "a checkout charges nothing"
        );
        assert_eq!(app.balance(&gb).await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_top_up_below_the_minimum_is_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, visa) = app.funded("a", "pm_card_visa", 0).await;
        let r = app
            .post(
                &format!("/v1/accounts/{a}/checkout"),
                json!({"amount": 999}),
            )
            .await;
        assert_problem(&r, 422, "amount_below_minimum");
        assert_rule(&r, "R8");
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 999, "payment_method": visa}),
            )
            .await;
        assert_problem(&r, 422, "amount_below_minimum");
        assert_rule(&r, "R8");
        assert!(app.sandbox.charges().is_empty(), "nothing charged");
        assert_eq!(snapshot(&app, &[&a]).await, vec![(0, 0)]);
        assert_eq!(
            app.get(&format!("/v1/accounts/{a}/top-ups")).await.body["data"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 1000}),
            )
            .await;
        assert_created(&r);
        assert_eq!(app.balance(&a).await, 1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_top_up_credits_at_once_and_keeps_a_receipt() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let pm = app
            .post(
                &format!("/v1/accounts/{a}/payment-methods"),
                json!({"token": "pm_card_mastercard"}),
            )
            .await
            .id();
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 2000, "currency": "GBP"}),
            )
            .await;
        assert_created(&r);
        let id = r.id();
        assert!(id.starts_with("top_"), "{id}");
        assert_eq!(app.balance(&a).await, 2000, "credited at once");
        let top_ups = entries(&app, &a).await;
        assert_eq!(top_ups.len(), 1);
        assert_eq!(
            (top_ups[0]["kind"].as_str(), top_ups[0]["amount"].as_i64()),
            (Some("top_up"), Some(2000))
        );

        let receipt = app.get(&format!("/v1/top-ups/{id}")).await;
        assert_eq!(receipt.status, 200, "{}", receipt.body);
        let b = &receipt.body;
        assert_eq!(b["status"], "succeeded");
        assert_eq!(b["origin"], "manual");
        assert_eq!(
            (b["amount"].as_i64(), b["tax"].as_i64(), b["total"].as_i64()),
            (Some(2000), Some(400), Some(2400))
        );
        assert_eq!(b["currency"], "GBP");
        assert_eq!(b["payment_method"]["id"], pm.as_str());
        assert_eq!(b["payment_method"]["brand"], "mastercard");
        assert_eq!(b["payment_method"]["last4"], "4444");
        let created = b["created"].as_str().expect("created");
        assert!(
            created.starts_with("2026-11-21T12:00:00") && created.ends_with('Z'),
            "{created}"
        );
        let txn = b["transaction_id"].as_str().expect("transaction id");
        assert!(!txn.is_empty());
        assert_eq!(&r.body, b, "the receipt is what the top-up answered");

        let charges = app.sandbox.charges();
        assert_eq!(charges.len(), 1);
        assert_eq!(charges[0].1, 2400, "the card is charged amount + tax");
        let list = app.get(&format!("/v1/accounts/{a}/top-ups")).await;
        assert_eq!(list.body["data"][0]["id"], id.as_str());
        assert_problem(
            &app.get("/v1/top-ups/top_nope").await,
            404,
            "top_up_not_found",
        );
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_declined_card_is_refused_with_the_reason_and_changes_nothing() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, declined) = app.funded("a", "pm_card_chargeDeclined", 3000).await;
        let pms = app.get(&format!("/v1/accounts/{a}/payment-methods")).await;
        assert_eq!(
            pms.body["data"][0]["id"],
            declined.as_str(),
            "the declined card is primary"
        );
        let before = snapshot(&app, &[&a]).await;
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 2000}),
            )
            .await;
        assert_problem(&r, 402, "card_declined");
        assert_eq!(r.body["decline_code"], "card_declined");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains("declined"), "{detail}");
        assert_eq!(snapshot(&app, &[&a]).await, before, "balance unchanged");
        let top_up = r.body["top_up_id"].as_str().expect("top_up_id");
        let t = app.get(&format!("/v1/top-ups/{top_up}")).await;
        assert_eq!(t.body["status"], "failed");
        assert_eq!(t.body["failure_code"], "card_declined");
        assert!(
            t.body["failure_message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        app.assert_ledger_ok().await;
    }
}

// ---------------------------------------------------------------- R18: transfers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_transfers_move_credit_both_ways_and_never_trigger_a_top_up() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 5000).await;
        let sub = sub_account(&app, &main, "sub").await;
        let s = enable_auto_top_up(&app, &main, 1000, 2000).await;
        assert_eq!(s.status, 200, "{}", s.body);
        assert_eq!(s.body["state"], "active");
        let top_up_events = |evs: Vec<Value>| evs.iter().filter(|e| is_top_up_event(e)).count();
        let (charges, events) = (
            app.sandbox.charges().len(),
            top_up_events(app.events(&main, "").await),
        );

        // Main down to 500, below its threshold, by a transfer: no top-up.
        let t = app
            .post(
                "/v1/transfers",
                json!({"from_account": main, "to_account": sub, "amount": 4500, "reference": "float"}),
            )
            .await;
        assert_created(&t);
        assert!(t.id().starts_with("xfr_"));
        assert_eq!(
            (t.body["amount"].as_i64(), t.body["currency"].as_str()),
            (Some(4500), Some("GBP"))
        );
        assert_eq!(
            (app.balance(&main).await, app.balance(&sub).await),
            (500, 4500)
        );
        app.engine().await;
        assert_eq!(
            app.sandbox.charges().len(),
            charges,
            "a transfer out charges nothing"
        );
        assert_eq!(top_up_events(app.events(&main, "").await), events);
        let view = app.get(&format!("/v1/accounts/{main}/auto-top-up")).await;
        assert!(view.body["in_flight"].is_null(), "{}", view.body);
        assert_eq!(
            view.body["state"], "active",
            "and the settings stay as they are"
        );
        assert_eq!(app.balance(&main).await, 500);

        let kinds = |list: Vec<Value>| list[0]["kind"].as_str().unwrap().to_string();
        assert_eq!(kinds(entries(&app, &main).await), "transfer_out");
        assert_eq!(kinds(entries(&app, &sub).await), "transfer_in");

        // And back.
        let back = app
            .post(
                "/v1/transfers",
                json!({"from_account": sub, "to_account": main, "amount": 4000}),
            )
            .await;
        assert_created(&back);
        assert_eq!(
            (app.balance(&main).await, app.balance(&sub).await),
            (4500, 500)
        );
        app.engine().await;
        assert_eq!(app.sandbox.charges().len(), charges);
        assert_eq!(top_up_events(app.events(&main, "").await), events);
        app.assert_ledger_ok().await;

        // Control: spending through the threshold does trigger (the settings are live).
        assert_created(&app.debit(&main, 3600).await);
        app.engine().await;
        assert_eq!(app.sandbox.charges().len(), charges + 1, "a debit triggers");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_transfer_is_refused_between_unrelated_accounts_or_over_the_balance() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 1000).await;
        let sub = sub_account(&app, &main, "sub").await;
        let sibling = sub_account(&app, &main, "sibling").await;
        let (other, _) = app.funded("other", "pm_card_visa", 1000).await;
        let ids = [
            main.as_str(),
            sub.as_str(),
            sibling.as_str(),
            other.as_str(),
        ];
        let before = snapshot(&app, &ids).await;
        let t = |from: &str, to: &str, amount: i64| json!({"from_account": from, "to_account": to, "amount": amount});

        for (from, to) in [
            (&main, &other),
            (&other, &main),
            (&sub, &sibling),
            (&main, &main),
        ] {
            let r = app.post("/v1/transfers", t(from, to, 100)).await;
            assert_problem(&r, 400, "accounts_not_related");
        }
        let r = app.post("/v1/transfers", t(&main, &sub, 1001)).await;
        assert_problem(&r, 402, "insufficient_balance");
        assert_rule(&r, "R6");
        let r = app.post("/v1/transfers", t(&sub, &main, 1)).await;
        assert_problem(&r, 402, "insufficient_balance");
        let r = app.post("/v1/transfers", t(&main, &sub, 0)).await;
        assert_problem(&r, 400, "amount_not_positive");
        let mut eur = t(&main, &sub, 100);
        eur["currency"] = json!("EUR");
        assert_problem(
            &app.post("/v1/transfers", eur).await,
            400,
            "currency_mismatch",
        );
        let r = app.post("/v1/transfers", t("acct_nope", &sub, 100)).await;
        assert_problem(&r, 404, "account_not_found");
        assert_eq!(snapshot(&app, &ids).await, before, "nothing moved");
    }
}

// ---------------------------------------------------------------- idempotency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_idempotent_replay_returns_the_same_response_and_changes_nothing() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let path = format!("/v1/accounts/{a}/debits");
        let first = app
            .post_idem(&path, json!({"amount": 300}), "debit-1")
            .await;
        assert_created(&first);
        assert!(first.headers.get("idempotent-replayed").is_none());
        let after_first = snapshot(&app, &[&a]).await;
        for _ in 0..2 {
            let again = app
                .post_idem(&path, json!({"amount": 300}), "debit-1")
                .await;
            assert_eq!(again.status, 201);
            assert_eq!(again.body, first.body, "same entry ids, same answer");
            assert_eq!(
                again
                    .headers
                    .get("idempotent-replayed")
                    .map(|v| v.as_bytes()),
                Some(&b"true"[..])
            );
        }
        assert_eq!(snapshot(&app, &[&a]).await, after_first);
        assert_eq!(after_first[0].0, 1700, "debited once");

        // A batch, an account, a transfer: the same.
        let batch = json!({"items": [{"amount": 100}, {"amount": 50}]});
        let b1 = app
            .post_idem(&format!("{path}/batch"), batch.clone(), "batch-1")
            .await;
        let b2 = app
            .post_idem(&format!("{path}/batch"), batch, "batch-1")
            .await;
        assert_created(&b1);
        assert_eq!((b2.status, &b2.body), (201, &b1.body));
        assert_eq!(app.balance(&a).await, 1550);

        let new = json!({"name": "once", "currency": "GBP", "parent_id": a});
        let s1 = app.post_idem("/v1/accounts", new.clone(), "acct-1").await;
        let s2 = app.post_idem("/v1/accounts", new, "acct-1").await;
        assert_created(&s1);
        assert_eq!((s2.status, s2.id()), (201, s1.id()));
        let (ids, _) = all_pages(&app, "/v1/accounts", 500, &app.key).await;
        assert_eq!(ids.len(), 2, "one sub-account created");

        let xfr = json!({"from_account": a, "to_account": s1.id(), "amount": 500});
        let t1 = app.post_idem("/v1/transfers", xfr.clone(), "xfr-1").await;
        let t2 = app.post_idem("/v1/transfers", xfr, "xfr-1").await;
        assert_created(&t1);
        assert_eq!((t2.status, t2.id()), (201, t1.id()));
        assert_eq!(
            (app.balance(&a).await, app.balance(&s1.id()).await),
            (1050, 500)
        );

        // The same key from another API key is another request.
        let key = app
            .post(&format!("/v1/accounts/{a}/keys"), json!({}))
            .await
            .body["key"]
            .as_str()
            .unwrap()
            .to_string();
        let other = app
            .send(
                Method::POST,
                &path,
                Some(&json!({"amount": 300})),
                &[("Idempotency-Key", "debit-1")],
                Some(&key),
            )
            .await;
        assert_created(&other);
        assert!(other.headers.get("idempotent-replayed").is_none());
        assert_eq!(app.balance(&a).await, 750);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_idempotency_key_reused_with_another_body_is_409() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let path = format!("/v1/accounts/{a}/debits");
        assert_created(&app.post_idem(&path, json!({"amount": 300}), "k").await);
        let before = snapshot(&app, &[&a]).await;
        let r = app.post_idem(&path, json!({"amount": 301}), "k").await;
        assert_problem(&r, 409, "idempotency_key_reused");
        let r = app
            .post_idem(
                &format!("{path}/batch"),
                json!({"items": [{"amount": 300}]}),
                "k",
            )
            .await;
        assert_problem(&r, 409, "idempotency_key_reused");
        let r = app
            .post_idem("/v1/accounts", json!({"name": "x", "currency": "GBP"}), "k")
            .await;
        assert_problem(&r, 409, "idempotency_key_reused");
        assert_eq!(snapshot(&app, &[&a]).await, before);
        let (ids, _) = all_pages(&app, "/v1/accounts", 500, &app.key).await;
        assert_eq!(ids.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_idempotency_key_reused_on_another_account_is_not_a_replay() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let (b, _) = app.funded("b", "pm_card_visa", 2000).await;
        assert_created(
            &app.post_idem(
                &format!("/v1/accounts/{a}/debits"),
                json!({"amount": 300}),
                "k",
            )
            .await,
        );
        let r = app
            .post_idem(
                &format!("/v1/accounts/{b}/debits"),
                json!({"amount": 300}),
                "k",
            )
            .await;
        // Either refused as a reused key, or a debit of b: never a's answer.
        if r.status == 201 {
            assert_eq!(
                r.body["account_id"],
                b.as_str(),
                "b got a's debit as its answer: {}",
                r.body
            );
            assert_eq!(app.balance(&b).await, 1700);
        } else {
            assert_problem(&r, 409, "idempotency_key_reused");
            assert_eq!(app.balance(&b).await, 2000);
        }
        assert_eq!(app.balance(&a).await, 1700);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r25_top_up_replay_does_not_charge_twice() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        app.post(
            &format!("/v1/accounts/{a}/payment-methods"),
            json!({"token": "pm_card_visa"}),
        )
        .await;
        let path = format!("/v1/accounts/{a}/top-ups");
        let first = app
            .post_idem(&path, json!({"amount": 1500}), "topup-1")
            .await;
        assert_created(&first);
        assert_eq!(app.sandbox.charges().len(), 1);
        let again = app
            .post_idem(&path, json!({"amount": 1500}), "topup-1")
            .await;
        assert_eq!(again.status, 201);
        assert_eq!(again.id(), first.id());
        assert_eq!(again.body["transaction_id"], first.body["transaction_id"]);
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        assert_eq!(app.sandbox.charges().len(), 1, "charged once");
        assert_eq!(app.balance(&a).await, 1500, "credited once");
        let r = app
            .post_idem(&path, json!({"amount": 1600}), "topup-1")
            .await;
        assert_problem(&r, 409, "idempotency_key_reused");
        assert_eq!(app.sandbox.charges().len(), 1);
        assert_eq!(
            app.get(&path).await.body["data"].as_array().unwrap().len(),
            1,
            "one top-up"
        );
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r25_declined_top_up_replay_returns_the_same_refusal() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_chargeDeclined", 0).await;
        let path = format!("/v1/accounts/{a}/top-ups");
        let first = app
            .post_idem(&path, json!({"amount": 1500}), "topup-1")
            .await;
        assert_problem(&first, 402, "card_declined");
        let charges = app.sandbox.charges().len();
        let again = app
            .post_idem(&path, json!({"amount": 1500}), "topup-1")
            .await;
        assert_problem(&again, 402, "card_declined");
        assert_eq!(again.body["top_up_id"], first.body["top_up_id"]);
        assert_eq!(app.sandbox.charges().len(), charges, "not charged again");
        let other = app
            .post_idem(&path, json!({"amount": 5000}), "topup-1")
            .await;
        assert_problem(&other, 409, "idempotency_key_reused");
        // Nor is it the answer to the same key on another account.
        let (b, _) = app.funded("b", "pm_card_visa", 0).await;
        let r = app
            .post_idem(
                &format!("/v1/accounts/{b}/top-ups"),
                json!({"amount": 1500}),
                "topup-1",
            )
            .await;
        assert_ne!(
            r.body["account_id"],
            a.as_str(),
            "b got a's top-up: {}",
            r.body
        );
        assert_eq!(app.balance(&a).await, 0);
    }
}

/// Requests sent at once with one idempotency key: each was answered (201) or told
/// the key is in use (409), and every 201 is the same answer.
fn twins_answered_once(all: &[&Resp]) {
    for r in all {
        assert!(
            r.status == 201 || (r.status == 409 && r.code() == "idempotency_key_in_use"),
            "{}: {}",
            r.status,
            r.body
        );
    }
    let answers: Vec<&&Resp> = all.iter().filter(|r| r.status == 201).collect();
    assert!(!answers.is_empty());
    assert!(
        answers.iter().all(|r| r.body == answers[0].body),
        "one answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_concurrent_twins_with_one_key_apply_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let path = format!("/v1/accounts/{a}/debits");
        let twin = || app.post_idem(&path, json!({"amount": 300}), "twin");
        let (r1, r2, r3, r4) = tokio::join!(twin(), twin(), twin(), twin());
        twins_answered_once(&[&r1, &r2, &r3, &r4]);
        assert_eq!(app.balance(&a).await, 1700, "debited once");

        let before = app.sandbox.charges().len();
        let top_ups = format!("/v1/accounts/{a}/top-ups");
        let twin = || app.post_idem(&top_ups, json!({"amount": 1000}), "twin-top-up");
        let (t1, t2, t3) = tokio::join!(twin(), twin(), twin());
        let ids: Vec<String> = [&t1, &t2, &t3]
            .into_iter()
            .inspect(|r| {
                assert!(
                    r.status == 201 || (r.status == 409 && r.code() == "idempotency_key_in_use"),
                    "{}: {}",
                    r.status,
                    r.body
                )
            })
            .filter(|r| r.status == 201)
            .map(Resp::id)
            .collect();
        assert!(
            !ids.is_empty() && ids.iter().all(|i| *i == ids[0]),
            "{ids:?}"
        );
        assert_eq!(app.sandbox.charges().len(), before + 1, "charged once");
        assert_eq!(app.balance(&a).await, 2700, "credited once");
        app.assert_ledger_ok().await;
    }
}

// ---------------------------------------------------------------- bad input

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_zero_and_negative_amounts_are_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, visa) = app.funded("a", "pm_card_visa", 2000).await;
        let sub = sub_account(&app, &a, "sub").await;
        let before = snapshot(&app, &[&a, &sub]).await;
        let charges = app.sandbox.charges().len();
        for amount in [0, -5, i64::MIN] {
            let cases = [
                (
                    format!("/v1/accounts/{a}/debits"),
                    json!({"amount": amount}),
                ),
                (
                    format!("/v1/accounts/{a}/debits/batch"),
                    json!({"items": [{"amount": 10}, {"amount": amount}]}),
                ),
                (
                    format!("/v1/accounts/{a}/top-ups"),
                    json!({"amount": amount, "payment_method": visa}),
                ),
                (
                    format!("/v1/accounts/{a}/checkout"),
                    json!({"amount": amount}),
                ),
                (
                    "/v1/transfers".to_string(),
                    json!({"from_account": a, "to_account": sub, "amount": amount}),
                ),
            ];
            for (path, body) in cases {
                let r = app.post(&path, body).await;
                assert_problem(&r, 400, "amount_not_positive");
                assert_rule(&r, "R1");
            }
        }
        assert_eq!(snapshot(&app, &[&a, &sub]).await, before);
        assert_eq!(app.sandbox.charges().len(), charges);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_amounts_overflowing_i64_are_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let before = snapshot(&app, &[&a]).await;
        let too_big = json!({"amount": 9_223_372_036_854_775_808u64});
        assert_eq!(too_big.to_string(), r#"{"amount":9223372036854775808}"#);
        let r = app
            .post(&format!("/v1/accounts/{a}/debits"), too_big.clone())
            .await;
        assert_problem(&r, 400, "invalid_request");
        let r = app
            .post(&format!("/v1/accounts/{a}/top-ups"), too_big)
            .await;
        assert_problem(&r, 400, "invalid_request");
        let r = app
            .post(
                &format!("/v1/accounts/{a}/debits/batch"),
                json!({"items": [{"amount": i64::MAX}, {"amount": 1}]}),
            )
            .await;
        assert_problem(&r, 400, "amount_overflow");
        assert_rule(&r, "R1");
        // A checkout whose tax would overflow.
        let r = app
            .post(
                &format!("/v1/accounts/{a}/checkout"),
                json!({"amount": i64::MAX}),
            )
            .await;
        assert_problem(&r, 400, "amount_overflow");
        assert_eq!(snapshot(&app, &[&a]).await, before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_extreme_credit_limits_keep_the_ledger_verifiable() {
    for store in stores().await {
        let app = spawn(&store).await;
        for name in ["c1", "c2"] {
            let r = app
                .post(
                    "/v1/accounts",
                    json!({"name": name, "currency": "GBP", "credit_limit": i64::MIN}),
                )
                .await;
            if r.status != 201 {
                assert!((400..500).contains(&r.status), "{}", r.body);
                continue;
            }
            let d = app.debit(&r.id(), i64::MAX).await;
            assert!(
                d.status == 201 || (400..500).contains(&d.status),
                "{}",
                d.body
            );
        }
        // Refused or accepted, the ledger must still verify (R3) without overflowing (R1).
        let report = refill::verify::verify(&app.running.app.db).await;
        assert!(
            report.as_ref().is_ok_and(|r| r.problems.is_empty()),
            "{}: verify: {:?}",
            store.name,
            report.map(|r| r.problems)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_unknown_or_mismatched_currency_is_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let before = snapshot(&app, &[&a]).await;
        for code in ["XYZ", "gbp", ""] {
            let r = app
                .post("/v1/accounts", json!({"name": "x", "currency": code}))
                .await;
            assert_problem(&r, 400, "unknown_currency");
            assert_rule(&r, "R1");
            let r = app
                .post(
                    &format!("/v1/accounts/{a}/debits"),
                    json!({"amount": 1, "currency": code}),
                )
                .await;
            assert_problem(&r, 400, "unknown_currency");
        }
        let mismatched = [
            (
                format!("/v1/accounts/{a}/debits"),
                json!({"amount": 100, "currency": "EUR"}),
            ),
            (
                format!("/v1/accounts/{a}/debits/batch"),
                json!({"currency": "USD", "items": [{"amount": 100}]}),
            ),
            (
                format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 1000, "currency": "EUR"}),
            ),
            (
                format!("/v1/accounts/{a}/checkout"),
                json!({"amount": 1000, "currency": "EUR"}),
            ),
        ];
        for (path, body) in mismatched {
            let r = app.post(&path, body).await;
            assert_problem(&r, 400, "currency_mismatch");
            assert_rule(&r, "R1");
        }
        assert_eq!(snapshot(&app, &[&a]).await, before);
        let (ids, _) = all_pages(&app, "/v1/accounts", 500, &app.key).await;
        assert_eq!(ids.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_unknown_account_is_404() {
    for store in stores().await {
        let app = spawn(&store).await;
        for r in [
            app.get("/v1/accounts/acct_nope").await,
            app.get("/v1/accounts/acct_nope/entries").await,
            app.get("/v1/accounts/acct_nope/payment-methods").await,
            app.debit("acct_nope", 100).await,
            app.post("/v1/accounts/acct_nope/top-ups", json!({"amount": 1000}))
                .await,
            app.post("/v1/accounts/acct_nope/checkout", json!({"amount": 1000}))
                .await,
        ] {
            assert_problem(&r, 404, "account_not_found");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_malformed_and_unknown_input_is_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let key = app.key.clone();
        let debits = format!("/v1/accounts/{a}/debits");
        let before = snapshot(&app, &[&a]).await;

        for body in [
            &b"{\"amount\": 1"[..],
            b"not json",
            b"{\"amount\": 100,}",
            b"",
        ] {
            let r = raw(&app, Method::POST, &debits, body.to_vec(), Some(&key)).await;
            assert_problem(&r, 400, "invalid_json");
        }
        for body in [
            json!({"amount": 100, "colour": "red"}),
            json!({"amount": "100"}),
            json!({"amount": 1.5}),
            json!({}),
            json!([100]),
        ] {
            let r = app.post(&debits, body).await;
            assert_problem(&r, 400, "invalid_request");
        }
        let r = app
            .post(
                "/v1/accounts",
                json!({"name": "x", "currency": "GBP", "admin": true}),
            )
            .await;
        assert_problem(&r, 400, "invalid_request");

        // Over 256 KiB.
        let big = format!(
            r#"{{"amount": 100, "reference": "{}"}}"#,
            "x".repeat(300 * 1024)
        );
        let r = raw(&app, Method::POST, &debits, big.into_bytes(), Some(&key)).await;
        assert_problem(&r, 413, "body_too_large");
        let r = app
            .post(&debits, json!({"amount": 1, "reference": "r".repeat(256)}))
            .await;
        assert_problem(&r, 400, "invalid_reference");
        let r = app
            .send(
                Method::POST,
                &debits,
                Some(&json!({"amount": 1})),
                &[("Idempotency-Key", &"k".repeat(256))],
                Some(&key),
            )
            .await;
        assert_problem(&r, 400, "invalid_idempotency_key");
        assert_eq!(snapshot(&app, &[&a]).await, before, "nothing debited");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_missing_or_wrong_key_is_401() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let debits = format!("/v1/accounts/{a}/debits");
        let body = json!({"amount": 100});
        let r = app
            .send(Method::POST, &debits, Some(&body), &[], None)
            .await;
        assert_problem(&r, 401, "missing_api_key");
        let r = app.send(Method::GET, "/v1/accounts", None, &[], None).await;
        assert_problem(&r, 401, "missing_api_key");
        let r = app
            .send(
                Method::GET,
                "/v1/accounts",
                None,
                &[("Authorization", "Basic Zm9vOmJhcg==")],
                None,
            )
            .await;
        assert_problem(&r, 401, "missing_api_key");
        let r = app
            .send(
                Method::POST,
                &debits,
                Some(&body),
                &[],
                Some("rk_test_wrong"),
            )
            .await;
        assert_problem(&r, 401, "invalid_api_key");
        let r = app
            .send(
                Method::GET,
                &format!("/v1/accounts/{a}"),
                None,
                &[],
                Some("rk_test_operatorx"),
            )
            .await;
        assert_problem(&r, 401, "invalid_api_key");
        assert_eq!(app.balance(&a).await, 2000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_bad_limit_and_unknown_route_are_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        for q in ["limit=0", "limit=501", "limit=-1"] {
            for path in [
                "/v1/accounts".to_string(),
                format!("/v1/accounts/{a}/entries"),
                "/v1/events".to_string(),
            ] {
                let r = app.get(&format!("{path}?{q}")).await;
                assert_problem(&r, 400, "invalid_limit");
            }
        }
        assert_eq!(app.get("/v1/accounts?limit=500").await.status, 200);
        assert_eq!(app.get("/v1/accounts?limit=1").await.status, 200);
        for path in ["/v1/nope", "/v2/accounts", "/v1/accounts/a/b/c/d"] {
            assert_problem(&app.get(path).await, 404, "route_not_found");
        }
        let r = app.delete("/v1/accounts").await;
        assert_problem(&r, 405, "method_not_allowed");
    }
}

// ---------------------------------------------------------------- OpenAPI, health

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_openapi_document_matches_the_checked_in_file() {
    let checked_in: Value = serde_json::from_str(include_str!("../../../../openapi.json"))
        .expect("openapi.json parses");
    for store in stores().await {
        let app = spawn(&store).await;
        let r = app
            .send(Method::GET, "/v1/openapi.json", None, &[], None)
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body, checked_in,
            "openapi.json differs from the served document: regenerate it from GET /v1/openapi.json"
        );
        assert_eq!(r.body["openapi"], "3.1.0");
        let paths = r.body["paths"].as_object().unwrap();
        for (method, path, ..) in refill::openapi::ROUTES {
            assert!(
                paths[*path].get(*method).is_some(),
                "{method} {path} documented"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_every_documented_route_answers() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, pm) = app.funded("a", "pm_card_visa", 2000).await;
        let top_up = app.get(&format!("/v1/accounts/{a}/top-ups")).await.body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        for (method, path, ..) in refill::openapi::ROUTES {
            let concrete = if path.starts_with("/v1/top-ups/") {
                path.replace("{id}", &top_up)
            } else {
                path.replace("{id}", &a).replace("{pm}", &pm)
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (m == Method::POST || m == Method::PUT).then(|| json!({}));
            let r = app
                .send(m, &concrete, body.as_ref(), &[], Some(&app.key))
                .await;
            assert_ne!(r.status, 405, "{method} {concrete}: {}", r.body);
            assert!(
                !(r.status == 404 && r.code() == "route_not_found"),
                "{method} {concrete} is documented but not routed"
            );
            assert!(r.status < 500, "{method} {concrete}: {}", r.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_health_readiness_and_metrics() {
    for store in stores().await {
        let app = spawn(&store).await;
        for path in ["/healthz", "/readyz"] {
            let r = app.send(Method::GET, path, None, &[], None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
        let accepted = || async {
            let r = app.send(Method::GET, "/metrics", None, &[], None).await;
            assert_eq!(r.status, 200);
            let text = r.body.as_str().expect("metrics are text").to_string();
            text.lines()
                .find_map(|l| l.strip_prefix("refill_debits_accepted_total "))
                .expect("refill_debits_accepted_total")
                .trim()
                .parse::<u64>()
                .expect("a counter")
        };
        let n = accepted().await;
        let (a, _) = app.funded("a", "pm_card_visa", 1000).await;
        assert_created(&app.debit(&a, 10).await);
        assert_eq!(app.debit(&a, 10_000).await.status, 402);
        assert_eq!(accepted().await, n + 1);
        let r = app.send(Method::GET, "/metrics", None, &[], None).await;
        let text = r.body.as_str().expect("metrics are text");
        assert!(
            text.lines()
                .any(|l| l == "refill_api_key_rereads_failed_total 0"),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------- property test

mod model {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    #[derive(Debug, Clone)]
    pub enum Op {
        Debit { sub: bool, amount: i64 },
        Batch { sub: bool, amounts: Vec<i64> },
        TopUp { sub: bool, amount: i64 },
        Transfer { to_sub: bool, amount: i64 },
        Replay { pick: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any::<bool>(), 1i64..3_000).prop_map(|(sub, amount)| Op::Debit { sub, amount }),
            2 => (any::<bool>(), proptest::collection::vec(1i64..1_500, 1..5))
                .prop_map(|(sub, amounts)| Op::Batch { sub, amounts }),
            2 => (any::<bool>(), 1_000i64..4_000).prop_map(|(sub, amount)| Op::TopUp { sub, amount }),
            2 => (any::<bool>(), 1i64..4_000).prop_map(|(to_sub, amount)| Op::Transfer { to_sub, amount }),
            3 => (0usize..1_000).prop_map(|pick| Op::Replay { pick }),
        ]
    }

    /// A request sent with an Idempotency-Key, and what it answered.
    struct Sent {
        path: String,
        body: Value,
        key: String,
        status: u16,
        answer: Value,
        /// The balance change it made, per account (main, sub), when accepted.
        delta: [i64; 2],
    }

    const LIMITS: [i64; 2] = [0, -1_000];

    async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let store = Store::sqlite();
        let result = run_on(&store, ops).await;
        if result.is_err() {
            // A failed case returns rather than panics: its files are kept by hand.
            std::mem::forget(store);
        }
        result
    }

    async fn run_on(store: &Store, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let app = spawn(store).await;
        let main = app.account("main").await;
        let r = app
            .post("/v1/accounts", json!({"name": "sub", "currency": "GBP", "parent_id": main, "credit_limit": LIMITS[1]}))
            .await;
        prop_assert_eq!(r.status, 201);
        let ids = [main, r.id()];
        for id in &ids {
            let r = app
                .post(
                    &format!("/v1/accounts/{id}/payment-methods"),
                    json!({"token": "pm_card_visa"}),
                )
                .await;
            prop_assert_eq!(r.status, 201);
        }
        let mut model = [0i64; 2];
        let mut sent: Vec<Sent> = vec![];
        for (step, op) in ops.into_iter().enumerate() {
            let key = format!("op-{step}");
            let charges = app.sandbox.charges().len();
            let fits = |i: usize, amount: i64, m: &[i64; 2]| m[i] - amount >= LIMITS[i];
            let (path, body, accepted, delta) = match op {
                Op::Debit { sub, amount } => {
                    let i = usize::from(sub);
                    let ok = fits(i, amount, &model);
                    let mut d = [0; 2];
                    d[i] = -amount;
                    (
                        format!("/v1/accounts/{}/debits", ids[i]),
                        json!({"amount": amount}),
                        ok,
                        d,
                    )
                }
                Op::Batch { sub, amounts } => {
                    let i = usize::from(sub);
                    let total: i64 = amounts.iter().sum();
                    let mut d = [0; 2];
                    d[i] = -total;
                    let items: Vec<Value> = amounts.iter().map(|a| json!({"amount": a})).collect();
                    (
                        format!("/v1/accounts/{}/debits/batch", ids[i]),
                        json!({"items": items}),
                        fits(i, total, &model),
                        d,
                    )
                }
                Op::TopUp { sub, amount } => {
                    let i = usize::from(sub);
                    let mut d = [0; 2];
                    d[i] = amount;
                    (
                        format!("/v1/accounts/{}/top-ups", ids[i]),
                        json!({"amount": amount}),
                        true,
                        d,
                    )
                }
                Op::Transfer { to_sub, amount } => {
                    let (from, to) = if to_sub { (0, 1) } else { (1, 0) };
                    let mut d = [0; 2];
                    (d[from], d[to]) = (-amount, amount);
                    let body =
                        json!({"from_account": ids[from], "to_account": ids[to], "amount": amount});
                    (
                        "/v1/transfers".to_string(),
                        body,
                        fits(from, amount, &model),
                        d,
                    )
                }
                Op::Replay { pick } => {
                    if sent.is_empty() {
                        continue;
                    }
                    let n = pick % sent.len();
                    let s = &sent[n];
                    let r = app.post_idem(&s.path, s.body.clone(), &s.key).await;
                    if s.status == 201 {
                        // A replay of an accepted request: the same answer, nothing changed.
                        prop_assert_eq!(r.status, 201, "replay of {}: {}", s.path, r.body);
                        prop_assert_eq!(&r.body, &s.answer);
                        prop_assert!(r.headers.get("idempotent-replayed").is_some());
                        prop_assert_eq!(app.sandbox.charges().len(), charges, "a replay charged");
                    } else if r.status == 201 {
                        // A refused request is not remembered: its replay is a new attempt,
                        // accepted only if it fits now.
                        let d = s.delta;
                        let fits_now = (0..2).all(|i| d[i] >= 0 || model[i] + d[i] >= LIMITS[i]);
                        prop_assert!(fits_now, "a replay was accepted over the limit: {}", r.body);
                        for (m, d) in model.iter_mut().zip(d) {
                            *m += d;
                        }
                        let s = &mut sent[n];
                        (s.status, s.answer) = (201, r.body.clone());
                    } else {
                        prop_assert_eq!(r.status, s.status, "{}", r.body);
                    }
                    // The replay of an accepted request left the model as it was, so
                    // this also checks that the balances did not move.
                    check(&app, &ids, &model).await?;
                    continue;
                }
            };
            let r = app.post_idem(&path, body.clone(), &key).await;
            if accepted {
                prop_assert_eq!(r.status, 201, "{} {}: {}", path, body, r.body);
                for (m, d) in model.iter_mut().zip(delta) {
                    *m += d;
                }
            } else {
                prop_assert_eq!(r.status, 402, "{} {}: {}", path, body, r.body);
                prop_assert_eq!(r.code(), "insufficient_balance");
            }
            sent.push(Sent {
                path,
                body,
                key,
                status: r.status,
                answer: r.body,
                delta,
            });
            check(&app, &ids, &model).await?;
        }
        let TestApp { running, .. } = app;
        running.stop();
        Ok(())
    }

    /// After every step: the balances are the model's, none below its limit, and the
    /// ledger holds (every balance is the sum of its entries).
    async fn check(
        app: &TestApp,
        ids: &[String; 2],
        model: &[i64; 2],
    ) -> Result<(), TestCaseError> {
        for ((id, expected), limit) in ids.iter().zip(model).zip(LIMITS) {
            let balance = app.balance(id).await;
            prop_assert_eq!(balance, *expected, "balance of {}", id);
            prop_assert!(balance >= limit, "{} below its limit", id);
        }
        app.assert_ledger_ok().await;
        Ok(())
    }

    #[test]
    fn r6_r3_random_operations_keep_the_ledger_and_replays_change_nothing() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut runner = TestRunner::new(Config {
            cases: 24,
            failure_persistence: None,
            max_shrink_iters: 64,
            ..Config::default()
        });
        let strategy = proptest::collection::vec(op(), 15);
        let result = runner.run(&strategy, |ops| rt.block_on(run(ops)));
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

/// R6 with the debit pipeline holding the writer's connection between batches: while
/// a stream of debits keeps the pipeline busy, other writes (new accounts) still get
/// the database, and the balance is the funding less every accepted debit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_other_writers_get_their_turn_during_a_stream_of_debits() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    for store in stores().await {
        let app = Arc::new(spawn(&store).await);
        let (hot, _) = app.funded("hot", "pm_card_visa", 1_000_000).await;
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Vec<_> = (0..16)
            .map(|_| {
                let (app, hot, stop) = (app.clone(), hot.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut accepted = 0i64;
                    while !stop.load(Relaxed) {
                        let r = app.debit(&hot, 1).await;
                        assert_eq!(r.status, 201, "{:?}", r.body);
                        accepted += 1;
                    }
                    accepted
                })
            })
            .collect();
        let stats = &app.running.app.poster.stats;
        let before = stats.requests.load(Relaxed);
        let others = async {
            for i in 0..5 {
                app.account(&format!("other {i}")).await;
            }
        };
        // A bound so that starvation fails the test instead of hanging it.
        tokio::time::timeout(std::time::Duration::from_secs(60), others)
            .await
            .expect("other writers never got the database during the debit stream");
        let during = stats.requests.load(Relaxed) - before;
        stop.store(true, Relaxed);
        let mut accepted = 0;
        for s in streams {
            accepted += s.await.expect("debit stream");
        }
        assert!(during > 0, "the debit stream ran while the others wrote");
        assert_eq!(app.balance(&hot).await, 1_000_000 - accepted);
        app.assert_ledger_ok().await;
    }
}
