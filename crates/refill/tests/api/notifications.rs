//! Issue 7: notifications (R26-R28) delivered from the outbox to real receivers on
//! loopback: an SMTP server, an SMS provider's HTTP API, and webhook endpoints.

use crate::support::*;
use refill_domain::{DAY, HOUR, MINUTE};
use refill_notify::testing::{HttpSink, SmtpSink, WAIT};
use refill_notify::verify_signature;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const SECRET: &str = "whsec_0123456789abcdef";
const ALL_TYPES: &[&str] = refill_domain::notifications::EVENT_TYPES;
/// An account's endpoint must resolve to public addresses; tests have no DNS, so they
/// give one literally (nothing is delivered to it).
const PUBLIC_URL: &str = "https://93.184.216.34/hook";

struct Receivers {
    smtp: SmtpSink,
    sms: HttpSink,
    hooks: HttpSink,
}

impl Receivers {
    async fn start() -> Receivers {
        Receivers {
            smtp: SmtpSink::start().await,
            sms: HttpSink::start().await,
            hooks: HttpSink::start().await,
        }
    }

    /// Email and SMS on; and whatever else the test sets.
    fn configure(&self, s: &mut refill::Settings) {
        s.notify.smtp_url = Some(self.smtp.url());
        s.notify.smtp_from = "Example Billing <billing@example.com>".into();
        s.notify.sms_base_url = self.sms.url();
        s.notify.sms_account_sid = Some("AC123".into());
        s.notify.sms_auth_token = Some("sms-token".into());
        s.notify.sms_from = Some("+15550001111".into());
    }
}

async fn spawn_notifying(store: &Store, r: &Receivers) -> TestApp {
    spawn_with(store, |s| {
        r.configure(s);
        s.service.verification_amount = 0;
        s.service.limits.daily_count_cap = 1;
    })
    .await
}

/// An account whose payer has an email address and a phone number.
async fn customer(app: &TestApp) -> String {
    let r = app
        .post(
            "/v1/accounts",
            json!({"name": "acme", "currency": "GBP", "payer": {"name": "Ada",
                "email": "ada@example.test", "phone": "+447700900123", "country": "GB"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.id()
}

async fn endpoint(app: &TestApp, url: &str, types: Value) -> Resp {
    app.post(
        "/v1/webhook-endpoints",
        json!({"url": url, "event_types": types, "secret": SECRET}),
    )
    .await
}

impl TestApp {
    /// Delivers every notification due at the simulated now.
    async fn notify(&self) -> usize {
        self.running
            .app
            .deliver_notifications()
            .await
            .expect("delivery ran")
    }

    async fn all_events(&self, id: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/v1/events?account_id={id}&limit=500"))
            .await;
        r.body["data"].as_array().cloned().unwrap_or_default()
    }
}

/// Drives one account through every event type (R26, R11, R29).
async fn every_event_type(app: &TestApp, id: &str) {
    let post = |path: String, body: Value| async move { app.post(&path, body).await };
    post(
        format!("/v1/accounts/{id}/payment-methods"),
        json!({"token": "pm_card_visa"}),
    )
    .await;
    // top_up.succeeded (manual)
    let r = post(
        format!("/v1/accounts/{id}/top-ups"),
        json!({"amount": 10_000}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // A dedicated number at 20.00 a month (R29; R17 turns auto top-up on).
    let r = post(
        format!("/v1/accounts/{id}/resources"),
        json!({"name": "+44 7700 900999", "fee": 2_000, "terms_version": TERMS}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // balance.low
    app.put(
        &format!("/v1/accounts/{id}/low-balance-notice"),
        json!({"threshold": 6_000}),
    )
    .await;
    app.debit(id, 2_500).await;
    // balance.approaching_threshold, then an automatic top-up.succeeded
    let r = enable_auto_top_up(app, id, 2_000, 3_000).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    app.debit(id, 3_400).await;
    app.debit(id, 200).await;
    app.engine().await;
    // cap.reached: the daily cap is one automatic top-up.
    app.debit(id, 3_000).await;
    app.clock.advance(31 * MINUTE);
    app.engine().await;
    // top_up.failed: a declined manual top-up.
    let bad = post(
        format!("/v1/accounts/{id}/payment-methods"),
        json!({"token": "pm_card_chargeDeclined", "primary": false}),
    )
    .await;
    let r = post(
        format!("/v1/accounts/{id}/top-ups"),
        json!({"amount": 1_000, "payment_method": bad.id()}),
    )
    .await;
    assert_eq!(r.status, 402, "{:?}", r.body);
    // payment.reversed (R11): a pending payment that finally fails.
    let pending = post(
        format!("/v1/accounts/{id}/payment-methods"),
        json!({"token": "pm_card_pendingThenFails", "primary": false}),
    )
    .await;
    post(
        format!("/v1/accounts/{id}/top-ups"),
        json!({"amount": 1_000, "payment_method": pending.id()}),
    )
    .await;
    app.clock.advance(3 * DAY);
    app.running.app.settle_pending().await.unwrap();
    // auto_top_up.disabled: the card it relies on is removed (R22).
    let methods = app.get(&format!("/v1/accounts/{id}/payment-methods")).await;
    for pm in methods.body["data"].as_array().unwrap() {
        let pm = pm["id"].as_str().unwrap();
        app.delete(&format!("/v1/accounts/{id}/payment-methods/{pm}"))
            .await;
    }
    app.running.app.periodic_check().await.unwrap();
    // resource.renewal_failed a month on (19.00 left), resource.suspended after the grace.
    app.clock.advance(28 * DAY);
    app.running.app.periodic_jobs().await.unwrap();
    app.clock.advance(4 * DAY);
    app.running.app.periodic_jobs().await.unwrap();
    // top_up.refunded comes only from Stripe's charge.refunded webhook (tests/api/stripe.rs
    // makes it); here the outbox row as that handler writes it, to show its delivery.
    let refunded = json!({"top_up_id": "top_x", "refunded": 1_000, "refunded_total": 1_000,
        "credit_reversed": 834, "tax_reversed": 166, "currency": "GBP", "balance_after": 0});
    let mut tx = app.running.app.db.begin().await.unwrap();
    refill_service::events::emit(&mut tx, id, "top_up.refunded", refunded, app.clock_now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn types_of(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_every_event_type_reaches_email_sms_and_webhook() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        let r = app
            .put(
                &format!("/v1/accounts/{id}/notification-settings"),
                json!({"sms": ["*"]}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["sms"]["to"], "+447700900123");
        assert_eq!(r.body["email"]["events"], json!(["*"]));
        let hook = endpoint(&app, &format!("{}/hooks", rx.hooks.url()), json!(["*"])).await;
        assert_eq!(hook.status, 201, "{:?}", hook.body);
        assert_eq!(hook.body["secret"], SECRET, "shown once, at creation");

        every_event_type(&app, &id).await;
        app.notify().await;

        let events = app.all_events(&id).await;
        let want: BTreeSet<String> = ALL_TYPES.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            types_of(&events),
            want,
            "{} on {}",
            json!(events),
            store.name
        );
        let n = events.len();

        // Webhooks: one signed envelope per event, {id, type, created, data}.
        let hooks = rx.hooks.wait_for(n, WAIT).await;
        let mut by_id = BTreeMap::new();
        for h in &hooks {
            let sig = h.header("refill-signature").expect("signed");
            let t: i64 = sig
                .split(',')
                .find_map(|p| p.strip_prefix("t="))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(t, app.clock_now() / 1000, "signed at the service's time");
            assert!(verify_signature(SECRET, sig, &h.body, t, 300), "signature");
            assert!(!verify_signature(
                "whsec_other_secret",
                sig,
                &h.body,
                t,
                300
            ));
            let v = h.json();
            assert!(v["created"].is_i64() || v["created"].is_string(), "{v}");
            by_id.insert(v["id"].as_str().unwrap().to_string(), v["type"].clone());
        }
        assert_eq!(hooks.len(), n, "each event once");
        for e in &events {
            assert_eq!(by_id[e["id"].as_str().unwrap()], e["type"]);
        }

        // SMS: one short text per event to the payer's phone, from the sender.
        let texts = rx.sms.wait_for(n, WAIT).await;
        assert_eq!(texts.len(), n);
        for t in &texts {
            assert_eq!(t.form_value("To").as_deref(), Some("+447700900123"));
            assert_eq!(t.form_value("From").as_deref(), Some("+15550001111"));
            assert!(
                t.path.contains("/Accounts/AC123/Messages.json"),
                "{}",
                t.path
            );
            assert_eq!(t.basic_auth(), Some(("AC123".into(), "sms-token".into())));
            let body = t.form_value("Body").unwrap();
            assert!(!body.is_empty() && body.chars().count() <= 320, "{body}");
        }

        // Email: one per event, text and HTML, Message-ID from the event id.
        let mails = rx.smtp.wait_for(n, WAIT).await;
        assert_eq!(mails.len(), n);
        let ids: BTreeSet<String> = mails
            .iter()
            .map(|m| m.header("Message-ID").unwrap())
            .collect();
        assert_eq!(ids.len(), n, "one email per event");
        for m in &mails {
            assert_eq!(m.to, vec!["ada@example.test".to_string()]);
            assert!(m.text().is_some() && m.html().is_some());
        }
        // The receipt of the automatic top-up: amounts in the currency, card, ids.
        let auto = events
            .iter()
            .find(|e| e["type"] == "top_up.succeeded" && e["data"]["origin"] == "auto")
            .expect("an automatic top-up");
        let mail = mails
            .iter()
            .find(|m| {
                m.header("Message-ID")
                    .unwrap()
                    .contains(auto["id"].as_str().unwrap())
            })
            .expect("its email");
        let text = mail.text().unwrap();
        for want in [
            "30.00 GBP",
            "6.00 GBP",
            "36.00 GBP",
            "4242",
            auto["data"]["top_up_id"].as_str().unwrap(),
        ] {
            assert!(text.contains(want), "receipt lacks {want:?}:\n{text}");
        }
        // A failure says why and what to do.
        let failed = events
            .iter()
            .find(|e| e["type"] == "top_up.failed")
            .unwrap();
        let mail = mails
            .iter()
            .find(|m| {
                m.header("Message-ID")
                    .unwrap()
                    .contains(failed["id"].as_str().unwrap())
            })
            .unwrap();
        assert!(
            mail.text().unwrap().to_lowercase().contains("declined"),
            "{}",
            mail.text().unwrap()
        );

        // Nothing is sent twice once delivered.
        assert_eq!(app.notify().await, 0);
        assert_eq!(rx.hooks.requests().len(), n);
        let d = app
            .get(&format!(
                "/v1/events/{}/deliveries",
                events[0]["id"].as_str().unwrap()
            ))
            .await;
        let channels: BTreeSet<&str> = d.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                assert_eq!(x["status"], "delivered");
                x["channel"].as_str().unwrap()
            })
            .collect();
        assert_eq!(channels, BTreeSet::from(["email", "sms", "webhook"]));
    }
}

impl TestApp {
    fn clock_now(&self) -> i64 {
        use refill_service::Clock;
        self.clock.now_ms()
    }
    async fn get_text(&self, path: &str) -> String {
        self.get(path)
            .await
            .body
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_preferences_choose_channels_per_event_and_endpoints_their_types() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        let other = customer(&app).await;
        app.put(
            &format!("/v1/accounts/{id}/notification-settings"),
            json!({"email": ["top_up.succeeded"], "sms": ["balance.low"]}),
        )
        .await;
        // An endpoint of the operator for one account, one type; one for all, all types.
        let r = app
            .post(
                "/v1/webhook-endpoints",
                json!({"url": format!("{}/low", rx.hooks.url()), "event_types": ["balance.low"],
                       "account_id": id}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert!(
            r.body["secret"].as_str().unwrap().starts_with("whsec_"),
            "generated"
        );
        endpoint(&app, &format!("{}/all", rx.hooks.url()), json!(["*"])).await;
        for acct in [&id, &other] {
            app.post(
                &format!("/v1/accounts/{acct}/payment-methods"),
                json!({"token": "pm_card_visa"}),
            )
            .await;
            app.post(
                &format!("/v1/accounts/{acct}/top-ups"),
                json!({"amount": 2_000}),
            )
            .await;
            app.put(
                &format!("/v1/accounts/{acct}/low-balance-notice"),
                json!({"threshold": 1_500}),
            )
            .await;
            app.debit(acct, 1_000).await;
        }
        app.notify().await;
        let mails = rx.smtp.messages();
        let subjects: Vec<String> = mails.iter().map(|m| m.header("Subject").unwrap()).collect();
        assert_eq!(
            mails.len(),
            3,
            "id: its top-up only; other: both by default: {subjects:?}"
        );
        let texts = rx.sms.requests();
        assert_eq!(texts.len(), 1, "SMS only for id's balance.low");
        let hooks = rx.hooks.requests();
        let low: Vec<_> = hooks.iter().filter(|h| h.path == "/low").collect();
        assert_eq!(
            low.len(),
            1,
            "the scoped endpoint hears only its account's low balance"
        );
        assert_eq!(low[0].json()["data"]["balance"], 1_000);
        assert_eq!(hooks.iter().filter(|h| h.path == "/all").count(), 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r27_low_balance_notice_once_per_crossing_rearmed_above() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        app.put(
            &format!("/v1/accounts/{id}/notification-settings"),
            json!({"email": ["balance.low"], "sms": ["balance.low"]}),
        )
        .await;
        let (_, _) = (
            app.post(
                &format!("/v1/accounts/{id}/payment-methods"),
                json!({"token": "pm_card_visa"}),
            )
            .await,
            app.post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await,
        );
        app.put(
            &format!("/v1/accounts/{id}/low-balance-notice"),
            json!({"threshold": 2_000}),
        )
        .await;
        for _ in 0..4 {
            app.debit(&id, 1_000).await; // 4000, 3000, 2000 (crosses), 1000
        }
        app.notify().await;
        assert_eq!(rx.smtp.messages().len(), 1, "once per crossing");
        assert_eq!(rx.sms.requests().len(), 1);
        app.post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 5_000}),
        )
        .await; // 6000: above, re-armed
        app.debit(&id, 4_500).await; // 1500: crosses again
        app.notify().await;
        assert_eq!(rx.smtp.messages().len(), 2, "re-armed above, sent again");
        let text = rx.smtp.messages()[1].text().unwrap();
        assert!(
            text.contains("15.00 GBP") && text.contains("20.00 GBP"),
            "{text}"
        );
        // 0 turns it off.
        app.put(
            &format!("/v1/accounts/{id}/low-balance-notice"),
            json!({"threshold": 0}),
        )
        .await;
        app.post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 5_000}),
        )
        .await;
        app.debit(&id, 6_400).await;
        app.notify().await;
        assert_eq!(rx.smtp.messages().len(), 2, "off");
    }
}

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
        endpoint(
            &app,
            &format!("{}/down", rx.hooks.url()),
            json!(["top_up.succeeded"]),
        )
        .await;
        rx.hooks.respond_with(503, 10_000);
        app.post(
            &format!("/v1/accounts/{id}/payment-methods"),
            json!({"token": "pm_card_visa"}),
        )
        .await;
        app.post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 1_000}),
        )
        .await;
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
        app.post_idem(
            &format!("/v1/events/{event}/redeliver"),
            json!({"only_dead": true}),
            "re-1",
        )
        .await;
        assert_eq!(app.notify().await, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r28_permanent_failures_dead_letter_at_once() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        endpoint(&app, &format!("{}/gone", rx.hooks.url()), json!(["*"])).await;
        rx.hooks.respond_with(410, 1);
        app.post(
            &format!("/v1/accounts/{id}/payment-methods"),
            json!({"token": "pm_card_visa"}),
        )
        .await;
        app.post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 1_000}),
        )
        .await;
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
        app.post(&format!("/v1/events/{event}/redeliver"), json!({}))
            .await;
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
        let key = app
            .post(&format!("/v1/accounts/{id}/keys"), json!({}))
            .await
            .body["key"]
            .as_str()
            .unwrap()
            .to_string();
        let op = endpoint(&app, "http://10.0.0.7/ops-hook", json!(["*"]))
            .await
            .id();
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
            .post(
                "/v1/accounts",
                json!({"name": "sub", "currency": "GBP", "parent_id": main}),
            )
            .await
            .id();
        let key_of = |id: String| {
            let app = &app;
            async move {
                app.post(&format!("/v1/accounts/{id}/keys"), json!({}))
                    .await
                    .body["key"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        };
        let (main_key, sub_key) = (key_of(main.clone()).await, key_of(sub.clone()).await);
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
        endpoint(&app, &format!("{}/ops", rx.hooks.url()), json!(["*"])).await;
        app.post(
            &format!("/v1/accounts/{main}/payment-methods"),
            json!({"token": "pm_card_visa"}),
        )
        .await;
        app.post(
            &format!("/v1/accounts/{main}/top-ups"),
            json!({"amount": 1_000}),
        )
        .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r28_two_nodes_never_send_one_delivery_twice_at_once() {
    for store in stores().await {
        let rx = Receivers::start().await;
        rx.hooks.set_delay(std::time::Duration::from_millis(20));
        let a = spawn_notifying(&store, &rx).await;
        let b = spawn_notifying(&store, &rx).await;
        let id = customer(&a).await;
        endpoint(&a, &format!("{}/hooks", rx.hooks.url()), json!(["*"])).await;
        a.post(
            &format!("/v1/accounts/{id}/payment-methods"),
            json!({"token": "pm_card_visa"}),
        )
        .await;
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
