//! Bad input (R1 and the API's own checks): a 4xx with a stable code, and nothing
//! changed.

use crate::checks::{assert_problem, assert_rule};
use crate::fixtures::{all_pages, raw, snapshot, sub_account};
use crate::support::{spawn, stores};
use reqwest::Method;
use serde_json::json;

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
