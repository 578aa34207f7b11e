//! Notifications (R26-R28) delivered from the outbox to real receivers on loopback:
//! an SMTP server, an SMS provider's HTTP API, and webhook endpoints.

mod channels;
mod endpoints;
mod retries;

use crate::support::*;
use refill_notify::testing::{HttpSink, SmtpSink};
use serde_json::{Value, json};

const SECRET: &str = "whsec_0123456789abcdef";
const ALL_TYPES: &[&str] = refill_domain::notifications::EVENT_TYPES;

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

/// An operator's webhook endpoint for `types` at `url`, signed with `SECRET`: its id.
async fn add_endpoint(app: &TestApp, url: &str, types: Value) -> String {
    let r = endpoint(app, url, types).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.id()
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
