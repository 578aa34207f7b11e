//! Refunds with approval (R31) on the sandbox: the customer asks, the operator
//! approves (possibly for less) or rejects; the credit and its tax share are reversed
//! at approval and restored, once, if the gateway fails the refund; every refusal
//! is a problem with a stable code and rule R31, and changes nothing.

use crate::checks::{assert_created, assert_problem, assert_rule};
use crate::fixtures::{entries, no_verification, snapshot};
use crate::support::{Resp, TestApp, spawn_with, stores};
use refill_domain::{DAY, MINUTE};
use refill_gateway::Gateway;
use refill_gateway::sandbox::Fault;
use reqwest::Method;
use serde_json::{Value, json};

/// An account in GB (20% tax) paid 5,000 (6,000 charged) by a card of `token`: the
/// account and the top-up.
async fn paid(app: &TestApp, name: &str, token: &str) -> (String, String) {
    let id = app.account(name).await;
    app.save_card(&id, token).await;
    let r = app.manual_top_up(&id, 5_000).await;
    assert_eq!(
        (r.body["total"].as_i64(), r.body["status"].as_str()),
        (Some(6_000), Some("succeeded"))
    );
    (id, r.id())
}

async fn ask(app: &TestApp, key: &str, top_up: &str, body: Value) -> Resp {
    let path = format!("/v1/top-ups/{top_up}/refunds");
    app.send(Method::POST, &path, Some(&body), &[], Some(key))
        .await
}

/// A refund asked for by the operator: its id.
async fn asked(app: &TestApp, top_up: &str, amount: i64) -> String {
    let r = ask(
        app,
        &app.key,
        top_up,
        json!({"amount": amount, "reason": "not needed"}),
    )
    .await;
    assert_created(&r);
    r.id()
}

async fn decide(app: &TestApp, key: &str, refund: &str, verb: &str, body: Value) -> Resp {
    let path = format!("/v1/refunds/{refund}/{verb}");
    app.send(Method::POST, &path, Some(&body), &[], Some(key))
        .await
}

async fn refund(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/v1/refunds/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

async fn top_up(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/top-ups/{id}")).await.body
}

async fn settle_refunds(app: &TestApp) -> usize {
    app.running
        .app
        .settle_refunds()
        .await
        .expect("refunds settled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_r18_a_refund_is_asked_approved_for_less_pending_then_succeeded() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, t) = paid(&app, "acme", "pm_card_refundPending").await;
        app.turn_on_auto_top_up(&id, 4_500, 5_000).await;
        let key = app.account_key(&id).await;
        let r = ask(
            &app,
            &key,
            &t,
            json!({"amount": 1_800, "reason": "bought too much"}),
        )
        .await;
        assert_created(&r);
        let rfd = r.id();
        assert!(rfd.starts_with("rfd_"), "{rfd}");
        for (field, want) in [
            ("status", json!("requested")),
            ("amount", json!(1_800)),
            ("currency", json!("GBP")),
            ("top_up_id", json!(t)),
            ("account_id", json!(id)),
            ("reason", json!("bought too much")),
            ("decision_reason", Value::Null),
            ("decided", Value::Null),
        ] {
            assert_eq!(r.body[field], want, "{field}: {}", r.body);
        }
        assert!(r.body["created"].as_str().is_some_and(|c| c.ends_with('Z')));
        assert_eq!(
            app.balance(&id).await,
            5_000,
            "nothing reversed before approval"
        );
        assert_eq!(
            app.events(&id, "refund.requested").await[0]["data"]["amount"],
            1_800
        );

        let queue = app
            .get(&format!("/v1/refunds?status=requested&account_id={id}"))
            .await;
        assert_eq!(queue.body["data"][0]["id"], rfd, "{}", queue.body);
        assert_eq!(queue.body["has_more"], false);

        let r = decide(&app, &app.key, &rfd, "approve", json!({"amount": 1_200})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (
                &r.body["status"],
                &r.body["amount"],
                &r.body["requested_amount"]
            ),
            (&json!("pending"), &json!(1_200), &json!(1_800)),
            "the bank has not returned the money yet"
        );
        assert_eq!(
            (&r.body["credit_reversed"], &r.body["tax_reversed"]),
            (&json!(1_000), &json!(200))
        );
        assert!(
            r.body["transaction_id"]
                .as_str()
                .is_some_and(|t| t.starts_with("re_"))
        );
        assert_eq!(
            app.balance(&id).await,
            4_000,
            "1,200 of 6,000 is 1,000 of credit"
        );
        assert_eq!(top_up(&app, &t).await["refunded"], 1_200);
        let e = entries(&app, &id).await;
        assert_eq!(
            (&e[0]["kind"], &e[0]["amount"]),
            (&json!("refund"), &json!(-1_000))
        );
        let approved = &app.events(&id, "refund.approved").await[0]["data"];
        assert_eq!(
            (&approved["credit_reversed"], &approved["tax_reversed"]),
            (&json!(1_000), &json!(200))
        );
        app.engine().await;
        assert_eq!(
            app.sandbox.charges().len(),
            1,
            "R18: a refund never triggers a top-up"
        );

        assert_eq!(settle_refunds(&app).await, 0, "still pending");
        app.clock.advance(3 * DAY);
        assert_eq!(settle_refunds(&app).await, 1);
        let done = refund(&app, &rfd).await;
        assert_eq!(done["status"], "succeeded");
        assert!(done["completed"].is_string());
        assert_eq!(app.events(&id, "refund.succeeded").await.len(), 1);
        assert_eq!(settle_refunds(&app).await, 0, "nothing left to follow");
        assert_eq!(app.balance(&id).await, 4_000);
        let charge = top_up(&app, &t).await["transaction_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(app.sandbox.list_refunds(&charge).await.unwrap().len(), 1);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_a_rejected_request_changes_nothing_and_stays_rejected() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, t) = paid(&app, "acme", "pm_card_visa").await;
        let rfd = asked(&app, &t, 6_000).await;
        let before = snapshot(&app, &[&id]).await;
        let r = decide(
            &app,
            &app.key,
            &rfd,
            "reject",
            json!({"reason": "credit already used"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (&r.body["status"], &r.body["decision_reason"]),
            (&json!("rejected"), &json!("credit already used"))
        );
        assert_eq!(snapshot(&app, &[&id]).await, before);
        let ev = app.events(&id, "refund.rejected").await;
        assert_eq!(ev[0]["data"]["decision_reason"], "credit already used");
        for verb in ["approve", "reject"] {
            let r = decide(&app, &app.key, &rfd, verb, json!({"reason": "again"})).await;
            assert_problem(&r, 409, "refund_not_awaiting_decision");
            assert_rule(&r, "R31");
        }
        assert_eq!(refund(&app, &rfd).await["status"], "rejected");
        assert_eq!(snapshot(&app, &[&id]).await, before);
        assert_eq!(top_up(&app, &t).await["refunded"], 0);
        // Nothing is held by a rejected request: all of the charge can be asked again.
        asked(&app, &t, 6_000).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_a_refund_that_stays_pending_then_fails_is_restored_once() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, t) = paid(&app, "acme", "pm_card_refundFail").await;
        let rfd = asked(&app, &t, 6_000).await;
        let r = app
            .send(
                Method::POST,
                &format!("/v1/refunds/{rfd}/approve"),
                Some(&json!({})),
                &[("Idempotency-Key", "ok-1")],
                Some(&app.key),
            )
            .await;
        assert_eq!(
            (r.status, &r.body["status"]),
            (200, &json!("pending")),
            "{}",
            r.body
        );
        assert_eq!(
            app.balance(&id).await,
            0,
            "all 5,000 reversed while it is pending"
        );
        let replay = app
            .send(
                Method::POST,
                &format!("/v1/refunds/{rfd}/approve"),
                Some(&json!({})),
                &[("Idempotency-Key", "ok-1")],
                Some(&app.key),
            )
            .await;
        assert_eq!(
            (replay.status, &replay.body),
            (200, &r.body),
            "a replay answers the same"
        );
        let entries_before = entries(&app, &id).await.len();

        app.clock.advance(3 * DAY);
        assert_eq!(settle_refunds(&app).await, 1);
        let failed = refund(&app, &rfd).await;
        assert_eq!(
            (&failed["status"], &failed["failure_code"]),
            (&json!("failed"), &json!("refund_failed"))
        );
        assert_eq!(app.balance(&id).await, 5_000, "the credit is back");
        let ev = app.events(&id, "refund.failed").await;
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (
                &ev[0]["data"]["credit_restored"],
                &ev[0]["data"]["tax_restored"]
            ),
            (&json!(5_000), &json!(1_000))
        );
        assert_eq!(top_up(&app, &t).await["refunded"], 0);
        for _ in 0..2 {
            assert_eq!(settle_refunds(&app).await, 0, "a failure restores once");
            app.running.app.periodic_jobs().await.unwrap();
        }
        assert_eq!(app.balance(&id).await, 5_000);
        assert_eq!(
            entries(&app, &id).await.len(),
            entries_before + 1,
            "one restoring entry"
        );
        assert_eq!(app.events(&id, "refund.failed").await.len(), 1);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_r25_an_approval_whose_answer_was_lost_refunds_once() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, t) = paid(&app, "acme", "pm_card_visa").await;
        let charge = top_up(&app, &t).await["transaction_id"]
            .as_str()
            .unwrap()
            .to_string();
        let down = asked(&app, &t, 1_200).await;
        app.sandbox.inject(Fault::Outage);
        let r = decide(&app, &app.key, &down, "approve", json!({})).await;
        assert_eq!(
            (r.status, &r.body["status"]),
            (200, &json!("approved")),
            "{}",
            r.body
        );
        assert_eq!(app.balance(&id).await, 4_000, "reversed at approval");
        let lost = asked(&app, &t, 1_200).await;
        app.sandbox.inject(Fault::TimeoutAfterCharge);
        decide(&app, &app.key, &lost, "approve", json!({})).await;
        assert_eq!(refund(&app, &lost).await["status"], "approved");
        assert_eq!(
            settle_refunds(&app).await,
            0,
            "within the lease: the call may still answer"
        );
        app.clock.advance(2 * MINUTE);
        assert_eq!(settle_refunds(&app).await, 2);
        for rfd in [&down, &lost] {
            assert_eq!(refund(&app, rfd).await["status"], "succeeded");
        }
        let at_gateway = app.sandbox.list_refunds(&charge).await.unwrap();
        assert_eq!(
            at_gateway.len(),
            2,
            "the lost one was found by its key, not made again"
        );
        assert_eq!(app.balance(&id).await, 3_000);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_automatic_top_ups_are_refunded_the_same_way() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, _) = paid(&app, "acme", "pm_card_visa").await;
        app.turn_on_auto_top_up(&id, 2_000, 3_000).await;
        app.spend(&id, 3_500).await;
        app.engine().await;
        let auto = app.get(&format!("/v1/accounts/{id}/top-ups")).await.body["data"][0].clone();
        assert_eq!(
            (&auto["origin"], &auto["status"]),
            (&json!("auto"), &json!("succeeded"))
        );
        let auto = auto["id"].as_str().unwrap().to_string();
        let rfd = asked(&app, &auto, 3_600).await;
        let r = decide(&app, &app.key, &rfd, "approve", json!({})).await;
        assert_eq!(r.body["status"], "succeeded", "{}", r.body);
        assert_eq!(
            app.balance(&id).await,
            1_500,
            "4,500 less the 3,000 credited"
        );
        app.engine().await;
        assert_eq!(
            app.sandbox.charges().len(),
            2,
            "R18: below the threshold by a refund, no top-up"
        );
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_r11_refunding_into_negative_flags_the_account_and_blocks_usage() {
    for store in stores().await {
        let app = spawn_with(&store, |s| {
            no_verification(s);
            s.service.refund_into_negative = true;
        })
        .await;
        let (id, t) = paid(&app, "acme", "pm_card_visa").await;
        app.spend(&id, 4_000).await;
        let rfd = asked(&app, &t, 6_000).await;
        let r = decide(&app, &app.key, &rfd, "approve", json!({})).await;
        assert_eq!(r.body["status"], "succeeded", "{}", r.body);
        assert_eq!(app.balance(&id).await, -4_000);
        assert_eq!(
            app.get(&format!("/v1/accounts/{id}")).await.body["flagged"],
            true
        );
        assert_problem(&app.debit(&id, 1).await, 402, "account_blocked");
        app.assert_ledger_ok().await;
    }
}

/// Each refusal: its status, code and rule, and nothing changed (balances, entries,
/// the refund's status, refunds at the gateway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_bad_refund_requests_and_decisions_are_refused_and_change_nothing() {
    for store in stores().await {
        let app = spawn_with(&store, no_verification).await;
        let (id, t) = paid(&app, "acme", "pm_card_visa").await;
        let (other, _) = paid(&app, "other", "pm_card_visa").await;
        let (key, other_key) = (app.account_key(&id).await, app.account_key(&other).await);
        let open = asked(&app, &t, 600).await;
        let before = snapshot(&app, &[&id, &other]).await;
        let refused = |r: &Resp, status, code| {
            assert_problem(r, status, code);
            assert_rule(r, "R31");
        };
        let reason = |amount: i64| json!({"amount": amount, "reason": "r"});

        refused(
            &ask(&app, &app.key, &t, reason(5_401)).await,
            422,
            "refund_exceeds_charge",
        );
        refused(
            &ask(&app, &app.key, &t, json!({"amount": 5})).await,
            400,
            "invalid_reason",
        );
        refused(
            &decide(&app, &app.key, &open, "approve", json!({"amount": 601})).await,
            422,
            "refund_exceeds_request",
        );
        refused(
            &decide(&app, &key, &open, "approve", json!({})).await,
            403,
            "refund_decided_by_operator",
        );
        refused(
            &decide(&app, &key, &open, "reject", json!({"reason": "no"})).await,
            403,
            "refund_decided_by_operator",
        );
        let r = decide(&app, &other_key, &open, "approve", json!({})).await;
        assert_problem(&r, 404, "refund_not_found");
        assert_problem(
            &ask(&app, &other_key, &t, reason(100)).await,
            404,
            "top_up_not_found",
        );
        refused(
            &decide(&app, &app.key, &open, "reject", json!({})).await,
            400,
            "invalid_reason",
        );
        assert_eq!(snapshot(&app, &[&id, &other]).await, before);
        assert_eq!(refund(&app, &open).await["status"], "requested");

        // A refund larger than the unspent balance: at the request and at approval.
        app.spend(&id, 4_500).await;
        let before = snapshot(&app, &[&id]).await;
        refused(
            &ask(&app, &app.key, &t, reason(1_200)).await,
            422,
            "refund_exceeds_balance",
        );
        assert_created(&ask(&app, &app.key, &t, reason(600)).await);
        app.spend(&id, 100).await;
        let before_approval = snapshot(&app, &[&id]).await;
        refused(
            &decide(&app, &app.key, &open, "approve", json!({})).await,
            422,
            "refund_exceeds_balance",
        );
        assert_eq!(snapshot(&app, &[&id]).await, before_approval);
        assert_eq!(before[0].0 - 100, before_approval[0].0);

        // Approving twice; approving a rejected request.
        let r = decide(&app, &app.key, &open, "approve", json!({"amount": 300})).await;
        assert_eq!(r.body["status"], "succeeded", "{}", r.body);
        let twice = snapshot(&app, &[&id]).await;
        refused(
            &decide(&app, &app.key, &open, "approve", json!({})).await,
            409,
            "refund_not_awaiting_decision",
        );
        assert_eq!(snapshot(&app, &[&id]).await, twice);

        // Failed top-ups: declined, and pending then reversed at the bank.
        let declined = app.save_spare_card(&id, "pm_card_chargeDeclined").await;
        let r = app
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 1_000, "payment_method": declined}),
            )
            .await;
        assert_eq!(r.status, 402, "{}", r.body);
        let failed = r.body["top_up_id"].as_str().unwrap().to_string();
        refused(
            &ask(&app, &app.key, &failed, reason(100)).await,
            422,
            "top_up_not_refundable",
        );
        let slow = app.save_spare_card(&id, "pm_card_pendingThenFails").await;
        let pending = app.manual_top_up_by(&id, &slow, 1_000).await.id();
        refused(
            &ask(&app, &app.key, &pending, reason(100)).await,
            422,
            "top_up_not_refundable",
        );
        app.clock.advance(3 * DAY);
        assert_eq!(app.running.app.settle_pending().await.unwrap(), 1);
        assert_eq!(top_up(&app, &pending).await["status"], "failed");
        let reversed = snapshot(&app, &[&id]).await;
        refused(
            &ask(&app, &app.key, &pending, reason(100)).await,
            422,
            "top_up_not_refundable",
        );
        assert_eq!(snapshot(&app, &[&id]).await, reversed);

        let r = app.get("/v1/refunds?status=done").await;
        assert_problem(&r, 400, "invalid_status");
        let mine = app
            .send(Method::GET, "/v1/refunds", None, &[], Some(&other_key))
            .await;
        assert_eq!(
            mine.body["data"],
            json!([]),
            "another account's refunds are not listed"
        );
        app.assert_ledger_ok().await;
    }
}
