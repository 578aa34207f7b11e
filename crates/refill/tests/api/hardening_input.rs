//! What a client sends, checked once at the edge and alike on both stores: text
//! without control characters and of bounded length, objects where objects are
//! expected, amounts within R1's bound; cursors that are items of their list; and an
//! id outside the caller's tree that answers as an unknown one (R4).

use crate::checks::{assert_problem, assert_rule};
use crate::fixtures::{snapshot, sub_account};
use crate::support::{TestApp, spawn, stores};
use reqwest::Method;
use serde_json::{Value, json};

/// The field a refusal names.
fn field(r: &crate::support::Resp) -> &str {
    r.body["field"].as_str().unwrap_or("")
}

/// A NUL in one tenant's debit reference is refused on its own: on PostgreSQL it
/// made the whole group commit fail, the other tenants' debits with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_a_nul_in_one_debit_fails_no_other_tenants_debit() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5_000).await;
        let (b, _) = app.funded("b", "pm_card_visa", 5_000).await;
        let before_a = snapshot(&app, &[&a]).await;
        // The bad debit and the other tenant's, sent at once so that they share
        // group commits.
        let mut good = tokio::task::JoinSet::new();
        for i in 0..20 {
            let req = app
                .http
                .post(format!("{}/v1/accounts/{b}/debits", app.base))
                .bearer_auth(&app.key)
                .json(&json!({"amount": 10, "reference": format!("b-{i}")}));
            good.spawn(async move { req.send().await.map(|r| r.status().as_u16()) });
        }
        let bad = app
            .post(
                &format!("/v1/accounts/{a}/debits"),
                json!({"amount": 10, "reference": "order\u{0}1"}),
            )
            .await;
        let good = good.join_all().await;
        assert_problem(&bad, 400, "invalid_text");
        assert_eq!(field(&bad), "reference", "{}", bad.body);
        for status in good {
            assert_eq!(status.ok(), Some(201), "{}", store.name);
        }
        assert_eq!(app.balance(&b).await, 5_000 - 20 * 10, "{}", store.name);
        assert_eq!(snapshot(&app, &[&a]).await, before_a);
    }
}

/// Control characters (C0, DEL, C1) in any string a client sends: body fields,
/// nested ones, the path, the query, the Idempotency-Key. On PostgreSQL a NUL in a
/// cursor or a transfer answered 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_control_characters_are_refused_wherever_text_is_sent() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let sub = sub_account(&app, &a, "sub").await;
        let before = snapshot(&app, &[&a, &sub]).await;
        for c in ['\u{0}', '\u{1f}', '\u{7f}', '\u{85}'] {
            let t = format!("x{c}y");
            let cases: Vec<(String, Value, &str)> = vec![
                (
                    format!("/v1/accounts/{a}/debits"),
                    json!({"amount": 1, "reference": t}),
                    "reference",
                ),
                (
                    format!("/v1/accounts/{a}/debits/batch"),
                    json!({"items": [{"amount": 1}, {"amount": 1, "reference": t}]}),
                    "items[1].reference",
                ),
                (
                    "/v1/accounts".into(),
                    json!({"name": t, "currency": "GBP"}),
                    "name",
                ),
                (
                    "/v1/accounts".into(),
                    json!({"name": "n", "currency": "GBP", "payer": {"email": t}}),
                    "payer.email",
                ),
                (
                    "/v1/transfers".into(),
                    json!({"from_account": a, "to_account": sub, "amount": 1, "reference": t}),
                    "reference",
                ),
                (
                    "/v1/webhook-endpoints".into(),
                    json!({"url": format!("https://x.test/{t}"), "event_types": ["*"]}),
                    "url",
                ),
                (
                    format!("/v1/accounts/{a}/resources"),
                    json!({"name": t, "fee": 100}),
                    "name",
                ),
            ];
            for (path, body, name) in cases {
                let r = app.post(&path, body).await;
                assert_problem(&r, 400, "invalid_text");
                assert_eq!(field(&r), name, "{path}: {}", r.body);
            }
            let r = app
                .send(
                    Method::POST,
                    &format!("/v1/accounts/{a}/debits"),
                    Some(&json!({"amount": 1})),
                    &[("Idempotency-Key", "k\tk")],
                    Some(&app.key),
                )
                .await;
            assert_problem(&r, 400, "invalid_idempotency_key");
        }
        for encoded in ["%00", "%1F", "%7F", "%C2%85"] {
            for path in [
                format!("/v1/accounts?starting_after=acct_{encoded}"),
                format!("/v1/accounts/{a}/entries?starting_after=ent_{encoded}"),
                format!("/v1/events?type=x{encoded}"),
                format!("/v1/accounts/acct_{encoded}"),
                format!("/v1/top-ups/top_{encoded}"),
            ] {
                let r = app.get(&path).await;
                assert_problem(&r, 400, "invalid_text");
            }
            let r = app
                .post(
                    &format!("/v1/accounts/acct_{encoded}/debits"),
                    json!({"amount": 1}),
                )
                .await;
            assert_problem(&r, 400, "invalid_text");
        }
        assert_eq!(snapshot(&app, &[&a, &sub]).await, before);
        let accounts = app.get("/v1/accounts?limit=500").await;
        assert_eq!(accounts.body["data"].as_array().map(Vec::len), Some(2));
    }
}

/// Lengths, in characters: a reference 255 (its own code), a URL 2048, any other
/// string of a body 1024; a path segment or a query parameter 255.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_text_lengths_are_bounded() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let sub = sub_account(&app, &a, "sub").await;
        let before = snapshot(&app, &[&a, &sub]).await;
        let r = app
            .post(
                "/v1/transfers",
                json!({"from_account": a, "to_account": sub, "amount": 1,
                    "reference": "r".repeat(256)}),
            )
            .await;
        assert_problem(&r, 400, "invalid_reference");
        let r = app
            .post(
                "/v1/accounts",
                json!({"name": "é".repeat(1025), "currency": "GBP"}),
            )
            .await;
        assert_problem(&r, 400, "invalid_text");
        assert_eq!(field(&r), "name");
        let url = format!("https://x.test/{}", "p".repeat(2048));
        let r = app
            .post(
                "/v1/webhook-endpoints",
                json!({"url": url, "event_types": ["*"]}),
            )
            .await;
        assert_problem(&r, 400, "invalid_text");
        let long = "a".repeat(256);
        for path in [
            format!("/v1/accounts/acct_{long}"),
            format!("/v1/accounts?starting_after={long}"),
        ] {
            assert_problem(&app.get(&path).await, 400, "invalid_text");
        }
        // Within the bounds: a 255-character reference, multi-byte text.
        let r = app
            .post(
                "/v1/transfers",
                json!({"from_account": a, "to_account": sub, "amount": 1,
                    "reference": "é".repeat(255)}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(app.balance(&a).await, before[0].0 - 1);
    }
}

/// An array (or any non-object) where an object is expected: serde took
/// `[100, null, null, null]` as a debit of 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_non_objects_where_objects_are_expected_are_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let before = snapshot(&app, &[&a]).await;
        let cases = [
            (
                format!("/v1/accounts/{a}/debits"),
                json!([100, null, null, null]),
            ),
            (format!("/v1/accounts/{a}/debits"), json!("100")),
            (format!("/v1/accounts/{a}/debits"), json!(null)),
            (
                format!("/v1/accounts/{a}/debits/batch"),
                json!({"items": [[100, null, null, null]]}),
            ),
            (
                "/v1/accounts".into(),
                json!({"name": "n", "currency": "GBP", "payer": ["Ada", "a@x.test", null, "GB"]}),
            ),
            (
                format!("/v1/accounts/{a}/estimate"),
                json!({"items": [[1, 100, null]]}),
            ),
            (format!("/v1/accounts/{a}/checkout"), json!([1000, null])),
        ];
        for (path, body) in cases {
            assert_problem(&app.post(&path, body).await, 400, "invalid_request");
        }
        // A key given twice stays refused.
        let twice = br#"{"amount": 1, "amount": 100}"#.to_vec();
        let path = format!("/v1/accounts/{a}/debits");
        let r = crate::fixtures::raw(&app, Method::POST, &path, twice, Some(&app.key)).await;
        assert_problem(&r, 400, "invalid_request");
        let r = app
            .put(
                &format!("/v1/accounts/{a}/auto-top-up"),
                json!([true, 500, 2000]),
            )
            .await;
        assert_problem(&r, 400, "invalid_request");
        assert_eq!(snapshot(&app, &[&a]).await, before);
        assert_eq!(
            app.get("/v1/accounts?limit=500").await.body["data"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
}

/// R1: every amount and threshold a client sends is at most 10^15 minor units, the
/// most one debit or top-up may move; the low-balance threshold took i64::MAX.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_every_amount_and_threshold_is_bounded_alike() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let over = 1_000_000_000_000_001i64;
        let cases: Vec<(Method, String, Value)> = vec![
            (
                Method::PUT,
                format!("/v1/accounts/{a}/low-balance-notice"),
                json!({"threshold": i64::MAX}),
            ),
            (
                Method::PUT,
                format!("/v1/accounts/{a}/low-balance-notice"),
                json!({"threshold": over}),
            ),
            (
                Method::POST,
                "/v1/accounts".into(),
                json!({"name": "n", "currency": "GBP", "low_balance_threshold": over}),
            ),
            (
                Method::PUT,
                format!("/v1/accounts/{a}/auto-top-up"),
                json!({"enabled": true, "threshold": over, "amount": 2_000, "terms_version": "2026-01"}),
            ),
            (
                Method::PUT,
                format!("/v1/accounts/{a}/auto-top-up"),
                json!({"enabled": true, "threshold": 500, "target_balance": over, "terms_version": "2026-01"}),
            ),
            (
                Method::POST,
                format!("/v1/accounts/{a}/estimate"),
                json!({"items": [{"quantity": 1, "unit_price": over}]}),
            ),
            (
                Method::POST,
                format!("/v1/accounts/{a}/debits"),
                json!({"amount": over}),
            ),
            (
                Method::POST,
                format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": over}),
            ),
            (
                Method::PUT,
                format!("/v1/accounts/{a}/scheduled-recharge"),
                json!({"amount": over, "day_of_month": 1}),
            ),
        ];
        for (method, path, body) in cases {
            let r = app
                .send(method, &path, Some(&body), &[], Some(&app.key))
                .await;
            assert_problem(&r, 400, "amount_overflow");
            assert_rule(&r, "R1");
        }
        let account = app.get(&format!("/v1/accounts/{a}")).await;
        assert_eq!(account.body["low_balance_threshold"], json!(0));
        // At the bound: taken.
        let r = app
            .put(
                &format!("/v1/accounts/{a}/low-balance-notice"),
                json!({"threshold": 1_000_000_000_000_000i64}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// R4: an id outside an account key's tree answers exactly as an unknown id (status,
/// code, body), so that a key cannot learn which ids exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_foreign_ids_answer_as_unknown_ones() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let (b, _) = app.funded("b", "pm_card_visa", 2_000).await;
        let b1 = sub_account(&app, &b, "b1").await;
        let key = app.account_key(&a).await;
        let unknown = "acct_0000000000000000000000000000";
        for other in [&b, &b1] {
            for (method, path, body) in requests_naming(other, &a) {
                let foreign = app
                    .send(method.clone(), &path, body.as_ref(), &[], Some(&key))
                    .await;
                let path = path.replace(other.as_str(), unknown);
                let body = body.map(|b| {
                    serde_json::from_str::<Value>(&b.to_string().replace(other.as_str(), unknown))
                        .unwrap()
                });
                let missing = app
                    .send(method, &path, body.as_ref(), &[], Some(&key))
                    .await;
                assert_problem(&foreign, 404, "account_not_found");
                let same = |r: &crate::support::Resp| {
                    serde_json::from_str::<Value>(
                        &r.body.to_string().replace(other.as_str(), unknown),
                    )
                    .unwrap()
                };
                assert_eq!(same(&foreign), same(&missing), "{path}");
            }
        }
        assert_eq!(app.balance(&b).await, 2_000, "b untouched");
    }
}

/// The id of the first item of the list at `path`.
async fn first(app: &TestApp, path: String) -> String {
    app.get(&path).await.body["data"][0]["id"]
        .as_str()
        .expect("an item")
        .to_string()
}

/// Every request an account key may send naming account `id` (its own being `mine`).
fn requests_naming(id: &str, mine: &str) -> Vec<(Method, String, Option<Value>)> {
    let get = |p: &str| (Method::GET, format!("/v1/accounts/{id}{p}"), None);
    let with = |m: Method, p: &str, b: Value| (m, format!("/v1/accounts/{id}{p}"), Some(b));
    vec![
        get(""),
        get("/entries"),
        get("/top-ups"),
        get("/payment-methods"),
        get("/resources"),
        get("/auto-top-up"),
        get("/scheduled-recharge"),
        get("/notification-settings"),
        with(Method::POST, "/debits", json!({"amount": 1})),
        with(
            Method::POST,
            "/debits/batch",
            json!({"items": [{"amount": 1}]}),
        ),
        with(
            Method::POST,
            "/estimate",
            json!({"items": [{"quantity": 1, "unit_price": 1}]}),
        ),
        with(Method::POST, "/checkout", json!({"amount": 1000})),
        with(Method::POST, "/top-ups", json!({"amount": 1000})),
        with(
            Method::POST,
            "/payment-methods",
            json!({"token": "pm_card_visa"}),
        ),
        with(Method::PUT, "/low-balance-notice", json!({"threshold": 1})),
        (
            Method::POST,
            "/v1/transfers".into(),
            Some(json!({"from_account": mine, "to_account": id, "amount": 1})),
        ),
        (Method::GET, format!("/v1/events?account_id={id}"), None),
        (
            Method::POST,
            "/v1/accounts".into(),
            Some(json!({"name": "s", "currency": "GBP", "parent_id": id})),
        ),
    ]
}

/// A cursor must be an item of the list the caller may see: an unknown or foreign
/// one was taken as "from the start".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_unknown_or_foreign_cursors_are_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let (b, _) = app.funded("b", "pm_card_visa", 2_000).await;
        let key = app.account_key(&a).await;
        let b_entry = first(&app, format!("/v1/accounts/{b}/entries")).await;
        let b_top_up = first(&app, format!("/v1/accounts/{b}/top-ups")).await;
        let b_event = first(&app, format!("/v1/events?account_id={b}")).await;
        let a_entry = first(&app, format!("/v1/accounts/{a}/entries")).await;
        let a_top_up = first(&app, format!("/v1/accounts/{a}/top-ups")).await;
        let a_event = first(&app, format!("/v1/events?account_id={a}")).await;
        let lists = [
            ("/v1/accounts".to_string(), b.clone(), a.clone()),
            (
                format!("/v1/accounts/{a}/entries"),
                b_entry,
                a_entry.clone(),
            ),
            (format!("/v1/accounts/{a}/top-ups"), b_top_up, a_top_up),
            ("/v1/events".to_string(), b_event, a_event),
        ];
        for (list, foreign, own) in lists {
            for cursor in [foreign.as_str(), "x_nope", &a_entry.replace("ent_", "top_")] {
                if cursor == own {
                    continue;
                }
                let path = format!("{list}?starting_after={cursor}");
                let r = app.send(Method::GET, &path, None, &[], Some(&key)).await;
                assert_problem(&r, 400, "invalid_cursor");
            }
            let path = format!("{list}?starting_after={own}");
            let r = app.send(Method::GET, &path, None, &[], Some(&key)).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
        let r = app
            .get(&format!(
                "/v1/accounts/{a}/resources?starting_after=res_nope"
            ))
            .await;
        assert_problem(&r, 400, "invalid_cursor");
        // The operator's cursor may be any account.
        let r = app.get(&format!("/v1/accounts?starting_after={b}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}
