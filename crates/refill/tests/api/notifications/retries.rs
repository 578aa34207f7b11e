//! Failed deliveries (R28): backed off for three days, then dead-lettered and sent
//! again on request; never sent twice at once by two nodes.

use super::*;
use refill_domain::{DAY, HOUR};
use refill_notify::testing::WAIT;
use std::collections::BTreeSet;

/// The webhook delivery of an event.
async fn webhook_delivery(app: &TestApp, event: &str) -> Value {
    let r = app.get(&format!("/v1/events/{event}/deliveries")).await;
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "webhook")
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r28_failures_back_off_for_three_days_then_dead_letter_and_redeliver() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        add_endpoint(
            &app,
            &format!("{}/down", rx.hooks.url()),
            json!(["top_up.succeeded"]),
        )
        .await;
        rx.hooks.respond_with(503, 10_000);
        app.save_card(&id, "pm_card_visa").await;
        app.manual_top_up(&id, 1_000).await;
        let event = app.events(&id, "top_up.succeeded").await[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(app.notify().await, 2, "the email and the webhook");
        let d = webhook_delivery(&app, &event).await;
        assert_eq!(
            (d["status"].as_str(), d["attempts"].as_i64()),
            (Some("pending"), Some(1))
        );
        assert!(d["last_error"].as_str().unwrap().contains("503"), "{d}");
        // Backoff: nothing is due at once; the next try waits 15..30 s (equal jitter).
        assert_eq!(app.notify().await, 0, "not hammered");
        app.clock.advance(30_000);
        assert_eq!(app.notify().await, 1);
        // Keep failing: the gaps double up to 4 hours; after 3 days it is dead.
        let mut attempts = 2;
        let start = app.clock_now();
        while webhook_delivery(&app, &event).await["status"] == "pending" {
            app.clock.advance(HOUR);
            attempts += app.notify().await;
            assert!(
                app.clock_now() - start <= 3 * DAY + HOUR,
                "gave up by 3 days"
            );
        }
        let d = webhook_delivery(&app, &event).await;
        assert_eq!(d["status"], "dead");
        assert!(d["last_error"].as_str().unwrap().contains("503"));
        assert!(
            (20..40).contains(&attempts),
            "{attempts} attempts over 3 days"
        );
        assert_eq!(rx.hooks.requests().len(), attempts);
        let metrics = app.get_text("/metrics").await;
        assert!(metrics.contains("refill_notifications_dead 1"), "{metrics}");
        // The receiver is back: replay the event.
        rx.hooks.respond_with(200, 0);
        let r = app
            .post_idem(
                &format!("/v1/events/{event}/redeliver"),
                json!({"only_dead": true}),
                "re-1",
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            app.notify().await,
            1,
            "only the dead webhook, not the delivered email"
        );
        let d = webhook_delivery(&app, &event).await;
        assert_eq!(d["status"], "delivered");
        let last = rx.hooks.requests().pop().unwrap().json();
        assert_eq!(
            last["id"],
            event.as_str(),
            "same event id: receivers dedupe"
        );
        // A replayed request with the same key changes nothing more.
        let again = app
            .post_idem(
                &format!("/v1/events/{event}/redeliver"),
                json!({"only_dead": true}),
                "re-1",
            )
            .await;
        assert_eq!(again.status, 200, "{:?}", again.body);
        assert_eq!(app.notify().await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r28_permanent_failures_dead_letter_at_once() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        add_endpoint(&app, &format!("{}/gone", rx.hooks.url()), json!(["*"])).await;
        rx.hooks.respond_with(410, 1);
        app.save_card(&id, "pm_card_visa").await;
        app.manual_top_up(&id, 1_000).await;
        app.notify().await;
        let event = app.events(&id, "top_up.succeeded").await[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let hook = webhook_delivery(&app, &event).await;
        assert_eq!(
            (hook["status"].as_str(), hook["attempts"].as_i64()),
            (Some("dead"), Some(1))
        );
        // A removed endpoint: its pending deliveries die with a clear reason.
        let eps = app.get("/v1/webhook-endpoints").await;
        let ep = eps.body["data"][0]["id"].as_str().unwrap().to_string();
        assert!(
            eps.body["data"][0].get("secret").is_none(),
            "the secret is shown only once"
        );
        let r = app
            .post(&format!("/v1/events/{event}/redeliver"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            app.delete(&format!("/v1/webhook-endpoints/{ep}"))
                .await
                .status,
            204
        );
        app.notify().await;
        let hook = webhook_delivery(&app, &event).await;
        assert_eq!(hook["status"], "dead");
        assert!(
            hook["last_error"].as_str().unwrap().contains("removed"),
            "{hook}"
        );
        assert_eq!(
            app.get("/v1/webhook-endpoints").await.body["data"],
            json!([])
        );
        // The operator's command line sends the dead letters again.
        let out = refill_cli(&store, &["events", "redeliver", "--dead"]);
        assert!(out.contains("1 dead-lettered deliveries"), "{out}");
        assert_eq!(webhook_delivery(&app, &event).await["status"], "pending");
        let out = refill_cli(&store, &["events", "redeliver", &event]);
        assert!(out.contains("2 deliveries of event"), "{out}");
        let out = refill_cli_fails(&store, &["events", "redeliver", "evt_nope"]);
        assert!(out.contains("no event \"evt_nope\""), "{out}");
    }
}

fn refill_command(store: &Store, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_refill"))
        .args(args)
        .env("REFILL_DATABASE_URL", &store.url)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("refill runs")
}

/// Runs the binary on the test's database; its stdout, having succeeded.
fn refill_cli(store: &Store, args: &[&str]) -> String {
    let out = refill_command(store, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the binary; its stderr, having failed.
fn refill_cli_fails(store: &Store, args: &[&str]) -> String {
    let out = refill_command(store, args);
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r28_two_nodes_never_send_one_delivery_twice_at_once() {
    for store in stores().await {
        let rx = Receivers::start().await;
        rx.hooks.set_delay(std::time::Duration::from_millis(20));
        let a = spawn_notifying(&store, &rx).await;
        let b = spawn_notifying(&store, &rx).await;
        let id = customer(&a).await;
        add_endpoint(&a, &format!("{}/hooks", rx.hooks.url()), json!(["*"])).await;
        a.save_card(&id, "pm_card_visa").await;
        for _ in 0..30 {
            let r = a
                .post(
                    &format!("/v1/accounts/{id}/top-ups"),
                    json!({"amount": 1_000}),
                )
                .await;
            assert_eq!(r.status, 201);
        }
        let (x, y) = tokio::join!(a.notify(), b.notify());
        assert_eq!(
            x + y,
            60,
            "30 emails and 30 webhooks, each sent by one node"
        );
        let hooks = rx.hooks.wait_for(30, WAIT).await;
        let ids: BTreeSet<String> = hooks
            .iter()
            .map(|h| h.json()["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!((hooks.len(), ids.len()), (30, 30), "no event twice");
        assert_eq!(rx.smtp.wait_for(30, WAIT).await.len(), 30);
    }
}
