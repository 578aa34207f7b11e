//! R5: a removed card is never charged again, by any path: a scheduled recharge's
//! retry, a confirmation after 3-D Secure, an attempt re-sent after an outage. The
//! top-up ends failed with its reason, and the customer is told.

use crate::support::*;
use refill_domain::auto_top_up::days_from_civil;
use refill_domain::{DAY, HOUR, MINUTE};
use refill_gateway::sandbox::Fault;
use serde_json::{Value, json};

/// The periodic jobs, then the executor: one tick of a node.
async fn tick(app: &TestApp) {
    app.running
        .app
        .periodic_jobs()
        .await
        .expect("periodic jobs");
    app.engine().await;
}

async fn top_up(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/top-ups/{id}")).await.body
}

/// The `top_up.failed` events that say the card was removed.
async fn told_card_removed(app: &TestApp, account: &str) -> usize {
    let failed = app.events(account, "top_up.failed").await;
    failed
        .iter()
        .filter(|e| e["data"]["reason"] == "payment_method_removed")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_a_scheduled_recharge_retry_never_charges_a_removed_card() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, pm) = app.funded("acme", "pm_card_chargeDeclined", 1_000).await;
        let path = format!("/v1/accounts/{id}/scheduled-recharge");
        let r = app
            .put(&path, json!({"amount": 2_000, "day_of_month": 22}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        app.clock.set(days_from_civil(2026, 11, 22) * DAY);
        tick(&app).await;
        let sent = |app: &TestApp| {
            (app.sandbox.charge_requests().into_iter())
                .filter(|k| k.starts_with("scheduled:"))
                .collect::<Vec<_>>()
        };
        assert_eq!(sent(&app).len(), 1, "attempt 1 declined, retry planned");
        // The card and the schedule are removed before the retry is due.
        assert_eq!(app.delete(&path).await.status, 200);
        app.remove_card(&id, &pm).await;
        for _ in 0..8 {
            app.clock.advance(6 * HOUR);
            tick(&app).await;
        }
        assert_eq!(sent(&app).len(), 1, "nothing sent to the removed card");
        let top = app.get(&format!("/v1/accounts/{id}/top-ups")).await.body["data"][0].clone();
        assert_eq!(top["origin"], "scheduled");
        assert_eq!(
            (top["status"].clone(), top["failure_code"].clone()),
            (json!("failed"), json!("payment_method_removed"))
        );
        assert_eq!(top["attempt"], 1);
        assert_eq!(told_card_removed(&app, &id).await, 1);
        assert_eq!(app.balance(&id).await, 1_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_a_3ds_confirmation_after_the_card_was_removed_charges_nothing() {
    for store in stores().await {
        let app = spawn(&store).await;
        let id = app.account("acme").await;
        let pm = app.save_card(&id, "pm_card_authenticationRequired").await;
        let r = app
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 2_000}),
            )
            .await;
        assert_eq!((r.status, r.code()), (402, "authentication_required"));
        let top_id = r.body["top_up_id"].as_str().unwrap().to_string();
        app.remove_card(&id, &pm).await;
        let c = app
            .post(&format!("/v1/top-ups/{top_id}/confirm"), json!({}))
            .await;
        assert_eq!(c.status, 200, "{:?}", c.body);
        assert_eq!(
            (c.body["status"].clone(), c.body["failure_code"].clone()),
            (json!("failed"), json!("payment_method_removed"))
        );
        assert!(app.sandbox.charges().is_empty(), "nothing charged");
        assert_eq!(app.sandbox.charge_requests().len(), 1, "only the first ask");
        assert_eq!(app.balance(&id).await, 0);
        assert_eq!(told_card_removed(&app, &id).await, 1);
        assert_eq!(top_up(&app, &top_id).await["status"], "failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_r25_an_attempt_unknown_after_an_outage_is_never_resent_to_a_removed_card() {
    for store in stores().await {
        let app = spawn(&store).await;
        let id = app.account("acme").await;
        let pm = app.save_card(&id, "pm_card_visa").await;
        app.sandbox.inject(Fault::Outage);
        let r = app
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 2_000}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (503, "gateway_unavailable"),
            "{:?}",
            r.body
        );
        let top_id = app.get(&format!("/v1/accounts/{id}/top-ups")).await.body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.remove_card(&id, &pm).await;
        app.clock.advance(10 * MINUTE);
        tick(&app).await;
        assert!(app.sandbox.charge_requests().is_empty(), "never sent");
        let t = top_up(&app, &top_id).await;
        assert_eq!(
            (t["status"].clone(), t["failure_code"].clone()),
            (json!("failed"), json!("payment_method_removed"))
        );
        assert_eq!(told_card_removed(&app, &id).await, 1);
        assert_eq!(app.balance(&id).await, 0);
    }
}
