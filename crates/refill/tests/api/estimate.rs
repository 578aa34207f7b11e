//! The estimate (R7): planned usage priced, and the top-up it needs.

use crate::checks::assert_problem;
use crate::fixtures::snapshot;
use crate::support::{spawn, stores};
use serde_json::json;

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
