//! API keys (R4): an account's key reaches only its account and sub-accounts, and a
//! key is trusted from memory for a bounded time.

use crate::checks::{assert_created, assert_problem};
use crate::fixtures::{all_pages, sub_account};
use crate::support::{TestApp, spawn, stores};
use reqwest::Method;
use serde_json::{Value, json};

/// R4: a key is trusted from memory for 30 s at most (a key removed on
/// another node stops working here within that), and past half that time one request
/// reads it again, so that the requests in flight do not all read the database at once
/// when it would expire (they did, and stalled the debits for 50-100 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_a_known_key_is_read_again_before_it_expires() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let key = app.account_key(&a).await;
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

        let key = app.account_key(&a).await;
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
        // An account outside the key's tree answers as an unknown one (R4): its
        // existence is not revealed.
        for other in [&b, &b1] {
            let r = as_a(Method::GET, format!("/v1/accounts/{other}"), None).await;
            assert_problem(&r, 404, "account_not_found");
            let r = as_a(Method::GET, format!("/v1/accounts/{other}/entries"), None).await;
            assert_problem(&r, 404, "account_not_found");
            let r = as_a(
                Method::POST,
                format!("/v1/accounts/{other}/debits"),
                Some(json!({"amount": 100})),
            )
            .await;
            assert_problem(&r, 404, "account_not_found");
        }
        let r = as_a(
            Method::POST,
            "/v1/transfers".into(),
            Some(json!({"from_account": b, "to_account": b1, "amount": 100})),
        )
        .await;
        assert_problem(&r, 404, "account_not_found");
        let r = as_a(Method::GET, format!("/v1/events?account_id={b}"), None).await;
        assert_problem(&r, 404, "account_not_found");
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
        assert_problem(&r, 404, "account_not_found");

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
