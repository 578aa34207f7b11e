//! Checkout and manual top-ups (R8-R10): the minimum, the payer country's tax, the
//! credit at once with a receipt, and a declined card.

use crate::checks::{assert_created, assert_problem, assert_rule};
use crate::fixtures::{entries, snapshot};
use crate::support::{spawn, stores};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r9_checkout_adds_the_tax_of_the_payer_country() {
    for store in stores().await {
        let app = spawn(&store).await;
        let gb = app.account("gb").await;
        let r = app
            .post(
                &format!("/v1/accounts/{gb}/checkout"),
                json!({"amount": 2500}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["amount"], 2500);
        assert_eq!(r.body["tax_rate_bps"], 2000);
        assert_eq!(r.body["tax"], 500);
        assert_eq!(r.body["total"], 3000);
        assert_eq!(r.body["currency"], "GBP");
        // Rounded to the penny: 20% of 1003 is 200.6.
        let r = app
            .post(
                &format!("/v1/accounts/{gb}/checkout"),
                json!({"amount": 1003, "currency": "GBP"}),
            )
            .await;
        assert_eq!(
            (r.body["tax"].as_i64(), r.body["total"].as_i64()),
            (Some(201), Some(1204))
        );

        let fr = app
            .create_account(json!({"name": "fr", "currency": "EUR",
                "payer": {"email": "f@example.test", "country": "FR"}}))
            .await;
        let r = app
            .post(
                &format!("/v1/accounts/{fr}/checkout"),
                json!({"amount": 2500}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (r.body["tax"].as_i64(), r.body["total"].as_i64()),
            (Some(0), Some(2500))
        );

        let r = app
            .post(
                &format!("/v1/accounts/{gb}/checkout"),
                json!({"amount": 2500, "currency": "EUR"}),
            )
            .await;
        assert_problem(&r, 400, "currency_mismatch");
        assert!(
            app.sandbox.charges().is_empty(),
            "a checkout charges nothing"
        );
        assert_eq!(app.balance(&gb).await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_top_up_below_the_minimum_is_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, visa) = app.funded("a", "pm_card_visa", 0).await;
        let r = app
            .post(
                &format!("/v1/accounts/{a}/checkout"),
                json!({"amount": 999}),
            )
            .await;
        assert_problem(&r, 422, "amount_below_minimum");
        assert_rule(&r, "R8");
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 999, "payment_method": visa}),
            )
            .await;
        assert_problem(&r, 422, "amount_below_minimum");
        assert_rule(&r, "R8");
        assert!(app.sandbox.charges().is_empty(), "nothing charged");
        assert_eq!(snapshot(&app, &[&a]).await, vec![(0, 0)]);
        assert_eq!(
            app.get(&format!("/v1/accounts/{a}/top-ups")).await.body["data"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 1000}),
            )
            .await;
        assert_created(&r);
        assert_eq!(app.balance(&a).await, 1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_top_up_credits_at_once_and_keeps_a_receipt() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let pm = app.save_card(&a, "pm_card_mastercard").await;
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 2000, "currency": "GBP"}),
            )
            .await;
        assert_created(&r);
        let id = r.id();
        assert!(id.starts_with("top_"), "{id}");
        assert_eq!(app.balance(&a).await, 2000, "credited at once");
        let top_ups = entries(&app, &a).await;
        assert_eq!(top_ups.len(), 1);
        assert_eq!(
            (top_ups[0]["kind"].as_str(), top_ups[0]["amount"].as_i64()),
            (Some("top_up"), Some(2000))
        );

        let receipt = app.get(&format!("/v1/top-ups/{id}")).await;
        assert_eq!(receipt.status, 200, "{}", receipt.body);
        let b = &receipt.body;
        assert_eq!(b["status"], "succeeded");
        assert_eq!(b["origin"], "manual");
        assert_eq!(
            (b["amount"].as_i64(), b["tax"].as_i64(), b["total"].as_i64()),
            (Some(2000), Some(400), Some(2400))
        );
        assert_eq!(b["currency"], "GBP");
        assert_eq!(b["payment_method"]["id"], pm.as_str());
        assert_eq!(b["payment_method"]["brand"], "mastercard");
        assert_eq!(b["payment_method"]["last4"], "4444");
        let created = b["created"].as_str().expect("created");
        assert!(
            created.starts_with("2026-11-21T12:00:00") && created.ends_with('Z'),
            "{created}"
        );
        let txn = b["transaction_id"].as_str().expect("transaction id");
        assert!(!txn.is_empty());
        assert_eq!(&r.body, b, "the receipt is what the top-up answered");

        let charges = app.sandbox.charges();
        assert_eq!(charges.len(), 1);
        assert_eq!(charges[0].1, 2400, "the card is charged amount + tax");
        let list = app.get(&format!("/v1/accounts/{a}/top-ups")).await;
        assert_eq!(list.body["data"][0]["id"], id.as_str());
        assert_problem(
            &app.get("/v1/top-ups/top_nope").await,
            404,
            "top_up_not_found",
        );
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r10_declined_card_is_refused_with_the_reason_and_changes_nothing() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, declined) = app.funded("a", "pm_card_chargeDeclined", 3000).await;
        let pms = app.get(&format!("/v1/accounts/{a}/payment-methods")).await;
        assert_eq!(
            pms.body["data"][0]["id"],
            declined.as_str(),
            "the declined card is primary"
        );
        let before = snapshot(&app, &[&a]).await;
        let r = app
            .post(
                &format!("/v1/accounts/{a}/top-ups"),
                json!({"amount": 2000}),
            )
            .await;
        assert_problem(&r, 402, "card_declined");
        assert_eq!(r.body["decline_code"], "card_declined");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains("declined"), "{detail}");
        assert_eq!(snapshot(&app, &[&a]).await, before, "balance unchanged");
        let top_up = r.body["top_up_id"].as_str().expect("top_up_id");
        let t = app.get(&format!("/v1/top-ups/{top_up}")).await;
        assert_eq!(t.body["status"], "failed");
        assert_eq!(t.body["failure_code"], "card_declined");
        assert!(
            t.body["failure_message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        app.assert_ledger_ok().await;
    }
}

/// R11: a pending payment is told as pending (`top_up.pending`, its credit usable),
/// never as a success; `top_up.succeeded` comes when it settles, `payment.reversed`
/// if it fails. With crediting pending payments off, the customer still hears
/// `top_up.pending` at once, not credited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_a_pending_payment_is_told_pending_then_succeeded_when_it_settles() {
    use refill_domain::DAY;
    for store in stores().await {
        for credit_pending in [true, false] {
            let app =
                crate::support::spawn_with(&store, |s| s.service.credit_pending = credit_pending)
                    .await;
            let (id, _) = app.funded("acme", "pm_card_pending", 0).await;
            let r = app.manual_top_up(&id, 5_000).await;
            assert_eq!(r.body["status"], "pending");
            let pending = app.events(&id, "top_up.pending").await;
            assert_eq!(pending.len(), 1, "told at once");
            let data = &pending[0]["data"];
            assert_eq!(data["top_up_id"], r.id().as_str());
            assert_eq!(data["credited"], credit_pending);
            assert_eq!(
                data["balance_after"],
                if credit_pending { 5_000 } else { 0 }
            );
            assert_eq!(data["card_last4"], "0077");
            assert!(app.events(&id, "top_up.succeeded").await.is_empty());
            let receipt = app.get(&format!("/v1/top-ups/{}", r.id())).await;
            assert_eq!(
                receipt.body["status"], "pending",
                "the receipt says pending"
            );

            app.clock.advance(3 * DAY);
            assert_eq!(app.running.app.settle_pending().await.unwrap(), 1);
            let ok = app.events(&id, "top_up.succeeded").await;
            assert_eq!(ok.len(), 1, "told a success when it settles");
            assert_eq!(ok[0]["data"]["status"], "succeeded");
            assert_eq!(ok[0]["data"]["balance_after"], 5_000);
            assert_eq!(app.events(&id, "top_up.pending").await.len(), 1);
            assert_eq!(app.balance(&id).await, 5_000);

            // One that fails: pending, then reversed (nothing to reverse when its
            // credit waited: then top_up.failed), never succeeded.
            let (other, _) = app.funded("other", "pm_card_pendingThenFails", 0).await;
            app.manual_top_up(&other, 2_000).await;
            assert_eq!(app.events(&other, "top_up.pending").await.len(), 1);
            app.clock.advance(3 * DAY);
            assert_eq!(app.running.app.settle_pending().await.unwrap(), 1);
            assert!(app.events(&other, "top_up.succeeded").await.is_empty());
            let (reversed, failed) = (
                app.events(&other, "payment.reversed").await.len(),
                app.events(&other, "top_up.failed").await.len(),
            );
            match credit_pending {
                true => assert_eq!((reversed, failed), (1, 0)),
                false => assert_eq!((reversed, failed), (0, 1)),
            }
            assert_eq!(app.balance(&other).await, 0);
            app.assert_ledger_ok().await;
        }
    }
}
