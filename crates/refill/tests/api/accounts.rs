//! Accounts and sub-accounts (R2, R4): one level of sub-accounts, one currency per
//! family, and the account list's pagination.

use crate::checks::assert_problem;
use crate::fixtures::{all_pages, sub_account};
use crate::support::{spawn, stores};
use serde_json::json;

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
