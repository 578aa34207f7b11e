//! Debits (R6): one or a batch, refused whole below the credit limit.

use crate::checks::{assert_created, assert_problem, assert_rule};
use crate::fixtures::{entries, snapshot};
use crate::support::{spawn, stores};
use serde_json::json;

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
