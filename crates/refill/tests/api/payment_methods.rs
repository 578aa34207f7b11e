//! Payment methods (R5): saved, listed, one primary, removed.

use crate::checks::{assert_created, assert_problem};
use crate::support::{spawn, stores};
use serde_json::json;

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
