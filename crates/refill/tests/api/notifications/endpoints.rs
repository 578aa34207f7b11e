//! Webhook endpoints and notification settings (R26): bad input refused, and what an
//! account's key may see and register.

use super::*;

/// An account's endpoint must resolve to public addresses; tests have no DNS, so they
/// give one literally (nothing is delivered to it).
const PUBLIC_URL: &str = "https://93.184.216.34/hook";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_bad_notification_input_is_refused_and_changes_nothing() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        let cases = [
            (
                json!({"url": "ftp://x.test/", "event_types": ["*"]}),
                "invalid_url",
            ),
            (
                json!({"url": "https://u:p@x.test/", "event_types": ["*"]}),
                "invalid_url",
            ),
            (
                json!({"url": "https://x.test/", "event_types": ["top_up.maybe"]}),
                "unknown_event_type",
            ),
            (
                json!({"url": "https://x.test/", "event_types": []}),
                "event_types_empty",
            ),
            (
                json!({"url": "https://x.test/", "event_types": ["*"], "secret": "short"}),
                "invalid_secret",
            ),
            (
                json!({"url": "https://x.test/", "event_types": ["*"], "account_id": "acct_nope"}),
                "account_not_found",
            ),
            (json!({"url": "https://x.test/"}), "invalid_request"),
        ];
        for (body, code) in cases {
            let r = app.post("/v1/webhook-endpoints", body.clone()).await;
            assert!(r.status >= 400 && r.status < 500, "{body}: {:?}", r.body);
            assert_eq!(r.code(), code, "{body}: {:?}", r.body);
        }
        assert_eq!(
            app.get("/v1/webhook-endpoints").await.body["data"],
            json!([])
        );
        let r = app
            .put(
                &format!("/v1/accounts/{id}/notification-settings"),
                json!({"sms": ["nope"]}),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "unknown_event_type"));
        let r = app
            .put(
                &format!("/v1/accounts/{id}/notification-settings"),
                json!({"fax": ["*"]}),
            )
            .await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        let s = app
            .get(&format!("/v1/accounts/{id}/notification-settings"))
            .await;
        assert_eq!(s.body["sms"]["events"], json!([]), "unchanged");
        let r = app.get("/v1/events/evt_nope/deliveries").await;
        assert_eq!(r.status, 404);
        let r = app.post("/v1/events/evt_nope/redeliver", json!({})).await;
        assert_eq!(r.status, 404);
        // An account key sees only its own endpoints and events.
        let key = app.account_key(&id).await;
        let op = add_endpoint(&app, "http://10.0.0.7/ops-hook", json!(["*"])).await;
        let mine = app
            .send(
                reqwest::Method::POST,
                "/v1/webhook-endpoints",
                Some(&json!({"url": PUBLIC_URL, "event_types": ["*"]})),
                &[],
                Some(&key),
            )
            .await;
        assert_eq!(mine.status, 201, "{:?}", mine.body);
        assert_eq!(
            mine.body["account_id"],
            id.as_str(),
            "scoped to its own account"
        );
        let seen = app
            .send(
                reqwest::Method::GET,
                "/v1/webhook-endpoints",
                None,
                &[],
                Some(&key),
            )
            .await;
        assert_eq!(seen.body["data"].as_array().unwrap().len(), 1);
        let r = app
            .send(
                reqwest::Method::DELETE,
                &format!("/v1/webhook-endpoints/{op}"),
                None,
                &[],
                Some(&key),
            )
            .await;
        assert_eq!(r.status, 404, "not its endpoint");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_account_keys_stay_inside_their_tree_and_the_public_internet() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let main = customer(&app).await;
        let sub = app
            .create_account(json!({"name": "sub", "currency": "GBP", "parent_id": main}))
            .await;
        let (main_key, sub_key) = (app.account_key(&main).await, app.account_key(&sub).await);
        let as_key = |key: &str, m: reqwest::Method, path: &str, body: Option<Value>| {
            let (app, key, path) = (&app, key.to_string(), path.to_string());
            async move { app.send(m, &path, body.as_ref(), &[], Some(&key)).await }
        };
        // A customer's endpoint must be on the internet: no loopback, private or
        // link-local hosts (the operator's may be internal).
        for url in [
            "http://127.0.0.1:9/h",
            "http://localhost/h",
            "http://169.254.169.254/latest",
            "http://10.0.0.7/h",
        ] {
            let body = json!({"url": url, "event_types": ["*"]});
            let r = as_key(
                &main_key,
                reqwest::Method::POST,
                "/v1/webhook-endpoints",
                Some(body),
            )
            .await;
            assert_eq!(
                (r.status, r.code()),
                (400, "url_not_public"),
                "{url}: {:?}",
                r.body
            );
        }
        // The main account's key registers one for its sub-account, sees it, removes it.
        let body = json!({"url": PUBLIC_URL, "event_types": ["*"], "account_id": sub});
        let r = as_key(
            &main_key,
            reqwest::Method::POST,
            "/v1/webhook-endpoints",
            Some(body),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let ep = r.id();
        let listed = as_key(
            &main_key,
            reqwest::Method::GET,
            "/v1/webhook-endpoints",
            None,
        )
        .await;
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
        let r = as_key(
            &main_key,
            reqwest::Method::DELETE,
            &format!("/v1/webhook-endpoints/{ep}"),
            None,
        )
        .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
        // The sub-account's key sees its main account's payer only masked.
        let s = as_key(
            &sub_key,
            reqwest::Method::GET,
            &format!("/v1/accounts/{sub}/notification-settings"),
            None,
        )
        .await;
        assert_eq!(s.body["email"]["to"], "a***@example.test", "{:?}", s.body);
        assert_eq!(s.body["sms"]["to"], "***0123");
        let s = app
            .get(&format!("/v1/accounts/{sub}/notification-settings"))
            .await;
        assert_eq!(
            s.body["email"]["to"], "ada@example.test",
            "the operator sees it"
        );
        // An account key sees its payer's deliveries, not the operator's endpoints'.
        add_endpoint(&app, &format!("{}/ops", rx.hooks.url()), json!(["*"])).await;
        app.save_card(&main, "pm_card_visa").await;
        app.manual_top_up(&main, 1_000).await;
        app.notify().await;
        let event = app.events(&main, "top_up.succeeded").await[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("/v1/events/{event}/deliveries");
        let seen = as_key(&main_key, reqwest::Method::GET, &path, None).await;
        let channels: Vec<&str> = seen.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["channel"].as_str().unwrap())
            .collect();
        assert_eq!(channels, vec!["email"], "{:?}", seen.body);
        assert_eq!(
            app.get(&path).await.body["data"].as_array().unwrap().len(),
            2
        );
        // ...and replaying resends only those.
        let path = format!("/v1/events/{event}/redeliver");
        let r = as_key(&main_key, reqwest::Method::POST, &path, Some(json!({}))).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let hooks_before = rx.hooks.requests().len();
        assert_eq!(app.notify().await, 1, "the email only");
        assert_eq!(rx.hooks.requests().len(), hooks_before);
    }
}
