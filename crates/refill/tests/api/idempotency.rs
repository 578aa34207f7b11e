//! Idempotency keys (R25): a replay answers the stored response and changes nothing,
//! a key reused with another body is refused, and twins sent at once apply once.

use crate::checks::{assert_created, assert_problem, twins_answered_once};
use crate::fixtures::{all_pages, snapshot};
use crate::support::{Resp, spawn, stores};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_idempotent_replay_returns_the_same_response_and_changes_nothing() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let path = format!("/v1/accounts/{a}/debits");
        let first = app
            .post_idem(&path, json!({"amount": 300}), "debit-1")
            .await;
        assert_created(&first);
        assert!(first.headers.get("idempotent-replayed").is_none());
        let after_first = snapshot(&app, &[&a]).await;
        for _ in 0..2 {
            let again = app
                .post_idem(&path, json!({"amount": 300}), "debit-1")
                .await;
            assert_eq!(again.status, 201);
            assert_eq!(again.body, first.body, "same entry ids, same answer");
            assert_eq!(
                again
                    .headers
                    .get("idempotent-replayed")
                    .map(|v| v.as_bytes()),
                Some(&b"true"[..])
            );
        }
        assert_eq!(snapshot(&app, &[&a]).await, after_first);
        assert_eq!(after_first[0].0, 1700, "debited once");

        // A batch, an account, a transfer: the same.
        let batch = json!({"items": [{"amount": 100}, {"amount": 50}]});
        let b1 = app
            .post_idem(&format!("{path}/batch"), batch.clone(), "batch-1")
            .await;
        let b2 = app
            .post_idem(&format!("{path}/batch"), batch, "batch-1")
            .await;
        assert_created(&b1);
        assert_eq!((b2.status, &b2.body), (201, &b1.body));
        assert_eq!(app.balance(&a).await, 1550);

        let new = json!({"name": "once", "currency": "GBP", "parent_id": a});
        let s1 = app.post_idem("/v1/accounts", new.clone(), "acct-1").await;
        let s2 = app.post_idem("/v1/accounts", new, "acct-1").await;
        assert_created(&s1);
        assert_eq!((s2.status, s2.id()), (201, s1.id()));
        let (ids, _) = all_pages(&app, "/v1/accounts", 500, &app.key).await;
        assert_eq!(ids.len(), 2, "one sub-account created");

        let xfr = json!({"from_account": a, "to_account": s1.id(), "amount": 500});
        let t1 = app.post_idem("/v1/transfers", xfr.clone(), "xfr-1").await;
        let t2 = app.post_idem("/v1/transfers", xfr, "xfr-1").await;
        assert_created(&t1);
        assert_eq!((t2.status, t2.id()), (201, t1.id()));
        assert_eq!(
            (app.balance(&a).await, app.balance(&s1.id()).await),
            (1050, 500)
        );

        // The same key from another API key is another request.
        let key = app.account_key(&a).await;
        let other = app
            .send(
                Method::POST,
                &path,
                Some(&json!({"amount": 300})),
                &[("Idempotency-Key", "debit-1")],
                Some(&key),
            )
            .await;
        assert_created(&other);
        assert!(other.headers.get("idempotent-replayed").is_none());
        assert_eq!(app.balance(&a).await, 750);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_idempotency_key_reused_with_another_body_is_409() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let path = format!("/v1/accounts/{a}/debits");
        assert_created(&app.post_idem(&path, json!({"amount": 300}), "k").await);
        let before = snapshot(&app, &[&a]).await;
        let r = app.post_idem(&path, json!({"amount": 301}), "k").await;
        assert_problem(&r, 409, "idempotency_key_reused");
        let r = app
            .post_idem(
                &format!("{path}/batch"),
                json!({"items": [{"amount": 300}]}),
                "k",
            )
            .await;
        assert_problem(&r, 409, "idempotency_key_reused");
        let r = app
            .post_idem("/v1/accounts", json!({"name": "x", "currency": "GBP"}), "k")
            .await;
        assert_problem(&r, 409, "idempotency_key_reused");
        assert_eq!(snapshot(&app, &[&a]).await, before);
        let (ids, _) = all_pages(&app, "/v1/accounts", 500, &app.key).await;
        assert_eq!(ids.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_idempotency_key_reused_on_another_account_is_not_a_replay() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let (b, _) = app.funded("b", "pm_card_visa", 2000).await;
        assert_created(
            &app.post_idem(
                &format!("/v1/accounts/{a}/debits"),
                json!({"amount": 300}),
                "k",
            )
            .await,
        );
        let r = app
            .post_idem(
                &format!("/v1/accounts/{b}/debits"),
                json!({"amount": 300}),
                "k",
            )
            .await;
        // Either refused as a reused key, or a debit of b: never a's answer.
        if r.status == 201 {
            assert_eq!(
                r.body["account_id"],
                b.as_str(),
                "b got a's debit as its answer: {}",
                r.body
            );
            assert_eq!(app.balance(&b).await, 1700);
        } else {
            assert_problem(&r, 409, "idempotency_key_reused");
            assert_eq!(app.balance(&b).await, 2000);
        }
        assert_eq!(app.balance(&a).await, 1700);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r25_top_up_replay_does_not_charge_twice() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        app.save_card(&a, "pm_card_visa").await;
        let path = format!("/v1/accounts/{a}/top-ups");
        let first = app
            .post_idem(&path, json!({"amount": 1500}), "topup-1")
            .await;
        assert_created(&first);
        assert_eq!(app.sandbox.charges().len(), 1);
        let again = app
            .post_idem(&path, json!({"amount": 1500}), "topup-1")
            .await;
        assert_eq!(again.status, 201);
        assert_eq!(again.id(), first.id());
        assert_eq!(again.body["transaction_id"], first.body["transaction_id"]);
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        assert_eq!(app.sandbox.charges().len(), 1, "charged once");
        assert_eq!(app.balance(&a).await, 1500, "credited once");
        let r = app
            .post_idem(&path, json!({"amount": 1600}), "topup-1")
            .await;
        assert_problem(&r, 409, "idempotency_key_reused");
        assert_eq!(app.sandbox.charges().len(), 1);
        assert_eq!(
            app.get(&path).await.body["data"].as_array().unwrap().len(),
            1,
            "one top-up"
        );
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r25_declined_top_up_replay_returns_the_same_refusal() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_chargeDeclined", 0).await;
        let path = format!("/v1/accounts/{a}/top-ups");
        let first = app
            .post_idem(&path, json!({"amount": 1500}), "topup-1")
            .await;
        assert_problem(&first, 402, "card_declined");
        let charges = app.sandbox.charges().len();
        let again = app
            .post_idem(&path, json!({"amount": 1500}), "topup-1")
            .await;
        assert_problem(&again, 402, "card_declined");
        assert_eq!(again.body["top_up_id"], first.body["top_up_id"]);
        assert_eq!(app.sandbox.charges().len(), charges, "not charged again");
        let other = app
            .post_idem(&path, json!({"amount": 5000}), "topup-1")
            .await;
        assert_problem(&other, 409, "idempotency_key_reused");
        // Nor is it the answer to the same key on another account.
        let (b, _) = app.funded("b", "pm_card_visa", 0).await;
        let r = app
            .post_idem(
                &format!("/v1/accounts/{b}/top-ups"),
                json!({"amount": 1500}),
                "topup-1",
            )
            .await;
        assert_ne!(
            r.body["account_id"],
            a.as_str(),
            "b got a's top-up: {}",
            r.body
        );
        assert_eq!(app.balance(&a).await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_concurrent_twins_with_one_key_apply_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let path = format!("/v1/accounts/{a}/debits");
        let twin = || app.post_idem(&path, json!({"amount": 300}), "twin");
        let (r1, r2, r3, r4) = tokio::join!(twin(), twin(), twin(), twin());
        twins_answered_once(&[&r1, &r2, &r3, &r4]);
        assert_eq!(app.balance(&a).await, 1700, "debited once");

        let before = app.sandbox.charges().len();
        let top_ups = format!("/v1/accounts/{a}/top-ups");
        let twin = || app.post_idem(&top_ups, json!({"amount": 1000}), "twin-top-up");
        let (t1, t2, t3) = tokio::join!(twin(), twin(), twin());
        let ids: Vec<String> = [&t1, &t2, &t3]
            .into_iter()
            .inspect(|r| {
                assert!(
                    r.status == 201 || (r.status == 409 && r.code() == "idempotency_key_in_use"),
                    "{}: {}",
                    r.status,
                    r.body
                )
            })
            .filter(|r| r.status == 201)
            .map(Resp::id)
            .collect();
        assert!(
            !ids.is_empty() && ids.iter().all(|i| *i == ids[0]),
            "{ids:?}"
        );
        assert_eq!(app.sandbox.charges().len(), before + 1, "charged once");
        assert_eq!(app.balance(&a).await, 2700, "credited once");
        app.assert_ledger_ok().await;
    }
}

/// A debit's key is checked by the pipeline's write, not read before it: a replay
/// whose debit the balance could no longer pay still gets the stored answer, and the
/// key with another body is a reused key, not a refusal for the balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r25_debit_replay_is_answered_when_the_balance_could_no_longer_pay_it() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2000).await;
        let path = format!("/v1/accounts/{a}/debits");
        let first = app.post_idem(&path, json!({"amount": 1500}), "big").await;
        assert_created(&first);
        let again = app.post_idem(&path, json!({"amount": 1500}), "big").await;
        assert_eq!((again.status, &again.body), (201, &first.body));
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .map(|v| v.as_bytes()),
            Some(&b"true"[..]),
            "{}",
            store.name
        );
        let other = app.post_idem(&path, json!({"amount": 1600}), "big").await;
        assert_problem(&other, 409, "idempotency_key_reused");
        let refused = app.post_idem(&path, json!({"amount": 1600}), "new").await;
        assert_problem(&refused, 402, "insufficient_balance");
        assert_eq!(app.balance(&a).await, 500, "debited once");
        app.assert_ledger_ok().await;
    }
}

/// Replays sent together with new keys on an account the pipeline remembers (its
/// fast path, whose write refuses a taken key as a whole): each new key applies
/// once, each replay gets its stored answer, the reused key 409, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r25_replays_among_new_keys_sent_at_once_apply_only_the_new_ones() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 10_000).await;
        let path = format!("/v1/accounts/{a}/debits");
        let first = app.post_idem(&path, json!({"amount": 100}), "k0").await;
        assert_created(&first);
        let mut sent = tokio::task::JoinSet::new();
        let requests = (1..=15)
            .map(|i| (format!("k{i}"), 100))
            .chain([("k0".to_string(), 100), ("k0".to_string(), 200)]);
        for (key, amount) in requests {
            let req = (app.http)
                .post(format!("{}{path}", app.base))
                .bearer_auth(&app.key)
                .header("Idempotency-Key", &key)
                .json(&json!({ "amount": amount }));
            sent.spawn(async move {
                let r = req.send().await.expect("request sent");
                let replayed = r.headers().contains_key("idempotent-replayed");
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                (key, amount, status, replayed, body)
            });
        }
        for (key, amount, status, replayed, body) in sent.join_all().await {
            match (key.as_str(), amount) {
                ("k0", 100) => assert_eq!((status, replayed, &body), (201, true, &first.body)),
                ("k0", _) => assert_eq!(
                    (status, body["code"].as_str()),
                    (409, Some("idempotency_key_reused"))
                ),
                _ => assert_eq!((status, replayed), (201, false), "{key}: {body}"),
            }
        }
        assert_eq!(app.balance(&a).await, 10_000 - 16 * 100, "{}", store.name);
        app.assert_ledger_ok().await;
    }
}
