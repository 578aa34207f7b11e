//! R14's verification charge is refunded whatever the gateway does: a refund the
//! gateway fails is recorded with the verification, alerted, and tried again by the
//! periodic job until it is made.

use crate::support::*;
use refill_domain::{HOUR, MINUTE};
use refill_gateway::{Gateway, RefundStatus};

/// The verification charge's refunds at the sandbox, and its id.
async fn verification_refunds(app: &TestApp) -> (String, Vec<RefundStatus>) {
    let (key, _) = (app.sandbox.charges().into_iter())
        .find(|(k, _)| k.starts_with("verify_"))
        .expect("a verification charge");
    let charge = app.sandbox.find_charge(&key).await.unwrap().unwrap();
    let refunds = app.sandbox.list_refunds(&charge.id).await.unwrap();
    (charge.id, refunds.into_iter().map(|r| r.status).collect())
}

/// The operator's gauge of verification refunds still owed after a failure.
async fn failing_gauge(app: &TestApp) -> i64 {
    let text = app.get("/metrics").await.body;
    let text = text.as_str().unwrap_or_default().to_string();
    (text.lines())
        .find_map(|l| l.strip_prefix("refill_verification_refunds_failing "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the gauge on /metrics")
}

async fn periodic(app: &TestApp) {
    app.running
        .app
        .periodic_jobs()
        .await
        .expect("periodic jobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r14_a_verification_refund_the_gateway_fails_is_recorded_and_retried_until_made() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        // The gateway fails the refund now and at the first retry.
        app.sandbox.fail_refunds(2);
        let s = app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        assert_eq!(s["state"], "active", "the card was verified: {s}");
        let (_, refunds) = verification_refunds(&app).await;
        assert!(refunds.is_empty(), "not refunded yet: {refunds:?}");
        assert_eq!(failing_gauge(&app).await, 1, "the operator is alerted");
        // Retried by the periodic job, backing off: fails once more, then is made.
        app.clock.advance(2 * MINUTE + 1);
        periodic(&app).await;
        assert!(verification_refunds(&app).await.1.is_empty());
        assert_eq!(failing_gauge(&app).await, 1);
        app.clock.advance(HOUR);
        periodic(&app).await;
        let (_, refunds) = verification_refunds(&app).await;
        assert_eq!(refunds, [RefundStatus::Succeeded], "refunded once");
        assert_eq!(failing_gauge(&app).await, 0);
        // Never refunded twice.
        app.clock.advance(2 * HOUR);
        periodic(&app).await;
        assert_eq!(verification_refunds(&app).await.1.len(), 1);
    }
}
