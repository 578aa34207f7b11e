//! R14: changing the card or the source of active settings is turning them on with
//! that card or source: the terms and the card's verification (with 3-D Secure where
//! it asks for it) again; a change of threshold or amount needs neither.

use crate::fixtures::sub_account;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

fn verifications(app: &TestApp, pm: &str) -> usize {
    let charges = app.sandbox.charges();
    charges
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("verify_{pm}_")) && !k.ends_with("_refund"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r14_changing_the_card_of_active_settings_needs_terms_and_verification_again() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, visa) = app.funded("acme", "pm_card_visa", 5_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        assert_eq!(verifications(&app, &visa), 1);
        let tds = app
            .save_spare_card(&id, "pm_card_authenticationRequired")
            .await;
        let path = format!("/v1/accounts/{id}/auto-top-up");
        let to = |extra: serde_json::Value| {
            let mut body = json!({"enabled": true, "threshold": 1_000, "amount": 2_000,
                "payment_method": tds});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        let r = app.put(&path, to(json!({}))).await;
        assert_eq!(
            (r.status, r.code(), r.body["rule"].as_str()),
            (422, "terms_not_accepted", Some("R14")),
            "{}",
            r.body
        );
        // The new card asks for 3-D Secure on its verification charge.
        let r = app.put(&path, to(json!({"terms_version": TERMS}))).await;
        assert_eq!(
            (r.code(), r.body["rule"].as_str()),
            ("authentication_required", Some("R14")),
            "{}",
            r.body
        );
        assert_eq!(app.auto_top_up(&id).await["payment_method"], visa.as_str());
        let done = json!({"terms_version": TERMS, "three_d_secure": "completed"});
        let r = app.put(&path, to(done)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["payment_method"], tds.as_str());
        assert_eq!(r.body["state"], "active");
        assert!(verifications(&app, &tds) >= 1, "the new card verified");
        // A new threshold later needs nothing again.
        let before = app.sandbox.charges().len();
        let r = app
            .put(
                &path,
                json!({"enabled": true, "threshold": 1_500, "amount": 2_000,
                    "payment_method": tds}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(app.sandbox.charges().len(), before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r14_r15_a_sub_account_leaves_its_transfer_source_only_through_terms_and_verification() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 10_000).await;
        let sub = sub_account(&app, &main, "sub").await;
        app.transfer(&main, &sub, 5_000).await;
        let path = format!("/v1/accounts/{sub}/auto-top-up");
        let transfer =
            json!({"enabled": true, "threshold": 1_000, "amount": 2_000, "source": "transfer"});
        assert_eq!(app.put(&path, transfer).await.status, 200);
        // The sub-account's own key, to a card that declines off-session.
        let card = app
            .save_primary_card(&sub, "pm_card_chargeCustomerFail")
            .await;
        let sub_key = app.account_key(&sub).await;
        let to_card = |terms: Option<&str>| {
            json!({"enabled": true, "threshold": 1_000, "amount": 2_000, "source": "card",
                "terms_version": terms})
        };
        let r = app
            .send(
                Method::PUT,
                &path,
                Some(&to_card(None)),
                &[],
                Some(&sub_key),
            )
            .await;
        assert_eq!(
            (r.status, r.code(), r.body["rule"].as_str()),
            (422, "terms_not_accepted", Some("R14")),
            "{}",
            r.body
        );
        let s = app.auto_top_up(&sub).await;
        assert_eq!(s["source"], "transfer", "unchanged");
        let r = app
            .send(
                Method::PUT,
                &path,
                Some(&to_card(Some(TERMS))),
                &[],
                Some(&sub_key),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["source"], "card");
        assert_eq!(r.body["terms_version"], TERMS, "the terms recorded");
        assert!(r.body["terms_accepted"].is_string());
        assert_eq!(verifications(&app, &card), 1, "the card verified");
    }
}
