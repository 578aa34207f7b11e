//! Transfers (R18): credit between a main account and its sub-accounts, which never
//! triggers a top-up.

use crate::checks::{assert_created, assert_problem, assert_rule};
use crate::fixtures::{entries, snapshot, sub_account};
use crate::support::{spawn, stores};
use serde_json::{Value, json};

fn is_top_up_event(e: &Value) -> bool {
    e["type"].as_str().is_some_and(|t| t.starts_with("top_up."))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_transfers_move_credit_both_ways_and_never_trigger_a_top_up() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 5000).await;
        let sub = sub_account(&app, &main, "sub").await;
        let s = app.turn_on_auto_top_up(&main, 1000, 2000).await;
        assert_eq!(s["state"], "active");
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
