//! R26: where webhooks may go. An account's endpoint must resolve, to public addresses
//! only, at registration and again at each delivery; the operator's may be internal
//! but must resolve too.

use crate::support::*;
use refill_notify::testing::HttpSink;
use serde_json::{Value, json};

/// A name under .invalid never resolves (RFC 6761), with or without a network.
const UNRESOLVABLE: &str = "https://nowhere.invalid/hook";

async fn account_and_key(app: &TestApp) -> (String, String) {
    let id = app
        .post("/v1/accounts", json!({"name": "acme", "currency": "GBP"}))
        .await
        .id();
    let key = app
        .post(&format!("/v1/accounts/{id}/keys"), json!({}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    (id, key)
}

async fn register(app: &TestApp, key: &str, url: &str) -> Resp {
    let body = json!({"url": url, "event_types": ["*"]});
    app.send(
        reqwest::Method::POST,
        "/v1/webhook-endpoints",
        Some(&body),
        &[],
        Some(key),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_unresolvable_and_disguised_private_hosts_are_refused_at_registration() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (_, key) = account_and_key(&app).await;
        let r = register(&app, &key, UNRESOLVABLE).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "url_not_resolvable"),
            "{:?}",
            r.body
        );
        for url in [
            "http://[::ffff:127.0.0.1]/",
            "http://[::127.0.0.1]:8080/h",
            "http://[64:ff9b::a9fe:a9fe]/latest",
            "http://[2002:a00:1::1]/h",
            "http://[fec0::1]/h",
            "http://198.18.0.1/h",
            "http://0.1.2.3/h",
            "http://2130706433/h",
        ] {
            let r = register(&app, &key, url).await;
            assert_eq!(
                (r.status, r.code()),
                (400, "url_not_public"),
                "{url}: {:?}",
                r.body
            );
        }
        // The operator's endpoint may be internal, but its host must resolve too.
        let r = app
            .post(
                "/v1/webhook-endpoints",
                json!({"url": UNRESOLVABLE, "event_types": ["*"]}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "url_not_resolvable"),
            "{:?}",
            r.body
        );
        let r = app
            .post(
                "/v1/webhook-endpoints",
                json!({"url": "http://[::ffff:127.0.0.1]/", "event_types": ["*"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let listed = app.get("/v1/webhook-endpoints").await.body["data"].clone();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    }
}

/// An account's endpoint that now leads to a private address (here its stored URL,
/// as a changed DNS answer would) fails at delivery with the reason, and nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_a_delivery_to_an_account_endpoint_now_private_fails_unsent() {
    for store in stores().await {
        let hooks = HttpSink::start().await;
        let app = spawn(&store).await;
        let (id, key) = account_and_key(&app).await;
        let r = register(&app, &key, "https://93.184.216.34/hook").await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let pool = &app.running.app.db.pool;
        refill_store::sqlx::query("UPDATE webhook_endpoints SET url = $1 WHERE id = $2")
            .bind(format!("{}/hook", hooks.url()))
            .bind(r.id())
            .execute(pool)
            .await
            .unwrap();
        app.post(
            &format!("/v1/accounts/{id}/payment-methods"),
            json!({"token": "pm_card_visa"}),
        )
        .await;
        let r = app
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 1_000}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        app.running.app.deliver_notifications().await.unwrap();
        let events = app.get(&format!("/v1/events?account_id={id}")).await;
        let event = events.body["data"][0]["id"].as_str().unwrap().to_string();
        let deliveries = app.get(&format!("/v1/events/{event}/deliveries")).await;
        let hook: Vec<&Value> = deliveries.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["channel"] == "webhook")
            .collect();
        assert_eq!(hook.len(), 1, "{:?}", deliveries.body);
        assert_eq!(
            (hook[0]["status"].as_str(), hook[0]["attempts"].as_i64()),
            (Some("dead"), Some(1))
        );
        let why = hook[0]["last_error"].as_str().unwrap();
        assert!(
            why.contains("127.0.0.1") && why.contains("loopback"),
            "{why}"
        );
        assert!(hooks.requests().is_empty(), "nothing was sent");
    }
}
