//! R9: whose country taxes a top-up: the payer's; a sub-account without a payer (or a
//! payer's country) of its own is taxed by its main account's payer, in checkout
//! quotes, manual top-ups and automatic ones alike.

use crate::fixtures::no_verification;
use crate::support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r9_a_sub_account_without_a_payer_is_taxed_by_its_main_accounts_payer() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        // The main account's payer is in GB, at 20%.
        let main = app.account("main").await;
        let sub = app
            .create_account(json!({"name": "sub", "currency": "GBP", "parent_id": main}))
            .await;
        let quote = app
            .post(
                &format!("/v1/accounts/{sub}/checkout"),
                json!({"amount": 1_000}),
            )
            .await;
        assert_eq!(quote.status, 200, "{}", quote.body);
        assert_eq!(
            (&quote.body["tax"], &quote.body["total"]),
            (&json!(200), &json!(1_200))
        );
        app.save_primary_card(&sub, "pm_card_visa").await;
        let receipt = app.manual_top_up(&sub, 5_000).await;
        assert_eq!(
            (&receipt.body["tax"], &receipt.body["total"]),
            (&json!(1_000), &json!(6_000)),
            "{}",
            receipt.body
        );
        assert_eq!(app.balance(&sub).await, 5_000, "the credit is the amount");

        // A payer of its own without a country: the main account's country still.
        let own = app
            .create_account(json!({"name": "own", "currency": "GBP", "parent_id": main,
                "payer": {"email": "own@example.test"}}))
            .await;
        app.save_primary_card(&own, "pm_card_visa").await;
        app.manual_top_up(&own, 5_000).await;
        app.turn_on_auto_top_up(&own, 1_000, 2_000).await;
        app.spend(&own, 4_500).await;
        app.engine().await;
        let auto: Vec<_> = app
            .events(&own, "top_up.succeeded")
            .await
            .into_iter()
            .filter(|e| e["data"]["origin"] == "auto")
            .collect();
        assert_eq!(auto.len(), 1, "{auto:?}");
        assert_eq!(
            (&auto[0]["data"]["tax"], &auto[0]["data"]["total"]),
            (&json!(400), &json!(2_400))
        );
        // A sub-account's own payer's country wins.
        let us = app
            .create_account(json!({"name": "us", "currency": "GBP", "parent_id": main,
                "payer": {"email": "us@example.test", "country": "US"}}))
            .await;
        let quote = app
            .post(
                &format!("/v1/accounts/{us}/checkout"),
                json!({"amount": 1_000}),
            )
            .await;
        assert_eq!(quote.body["tax"], 0);
        app.assert_ledger_ok().await;
    }
}
