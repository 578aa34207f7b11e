//! The auto top-up settings (R12-R16): validated, versioned, verified once, and a
//! target balance instead of an amount.

use crate::support::{enable_auto_top_up as enable, *};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r13_r14_r16_settings_are_validated_versioned_and_verified_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        let path = format!("/v1/accounts/{id}/auto-top-up");
        let r = enable(&app, &id, 5_000, 5_000).await;
        assert_eq!(
            (r.status, r.code(), r.body["rule"].as_str()),
            (422, "threshold_not_below_balance", Some("R13"))
        );
        let r = enable(&app, &id, 2_000, 1_500).await;
        assert_eq!(r.code(), "amount_below_threshold");
        let r = enable(&app, &id, 100, 500).await;
        assert_eq!(
            (r.code(), r.body["rule"].as_str()),
            ("amount_below_minimum", Some("R8"))
        );
        let r = app
            .put(
                &path,
                json!({"enabled": true, "threshold": 1_000, "amount": 2_000}),
            )
            .await;
        assert_eq!(
            (r.code(), r.body["rule"].as_str()),
            ("terms_not_accepted", Some("R14"))
        );
        let verifications = || {
            app.sandbox
                .charges()
                .iter()
                .filter(|(k, _)| k.starts_with("verify"))
                .count()
        };
        assert_eq!(verifications(), 0, "refusals charge nothing");
        let on = enable(&app, &id, 1_000, 2_000).await;
        assert_eq!(on.status, 200);
        assert_eq!(on.headers["etag"], "\"1\"");
        assert_eq!(on.body["terms_version"], TERMS);
        assert_eq!(verifications(), 1);
        // Changing the threshold needs no new verification; a stale version is refused.
        let change = json!({"enabled": true, "threshold": 1_500, "amount": 2_000});
        let r = app
            .send(
                reqwest::Method::PUT,
                &path,
                Some(&change),
                &[("If-Match", "\"1\"")],
                Some(OPERATOR_KEY),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(verifications(), 1);
        let r = app
            .send(
                reqwest::Method::PUT,
                &path,
                Some(&change),
                &[("If-Match", "\"1\"")],
                Some(OPERATOR_KEY),
            )
            .await;
        assert_eq!((r.status, r.code()), (412, "version_mismatch"));
        // Off, then on again: the whole procedure again (R14).
        assert_eq!(
            app.put(&path, json!({"enabled": false})).await.body["state"],
            "off"
        );
        assert_eq!(enable(&app, &id, 1_000, 2_000).await.status, 200);
        assert_eq!(verifications(), 2);
        let history = app.auto_top_up(&id).await["history"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(history, 3, "on, off, on: each change recorded (R24)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_up_to_a_target_balance_charges_the_difference() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        let r = app.put(&format!("/v1/accounts/{id}/auto-top-up"), json!({"enabled": true, "threshold": 1_000, "target_balance": 8_000, "terms_version": TERMS})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        app.spend(&id, 4_300).await;
        app.engine().await;
        assert_eq!(app.balance(&id).await, 8_000);
    }
}
