//! refill on Stripe. The real server charges through the real Stripe client, pointed
//! at the fake Stripe (which speaks Stripe's wire format and keeps its own record of
//! the PaymentIntents that took money), and receives Stripe's signed webhooks, sent
//! twice, out of order, tampered, expired and replayed.

mod cards;
mod charges;
mod pending;
mod refund_requests;
mod refunds;
mod three_d_secure;
mod webhooks;

use crate::support::*;
use refill_gateway::Gateway;
use refill_gateway::fake_stripe::{FAKE_WEBHOOK_SECRET, FakeStripe};
use refill_gateway::stripe::Stripe;
use refill_gateway::stripe_webhook::sign;
use refill_service::Clock;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The Stripe client's timeout, and how long the fake holds a lost answer.
const TIMEOUT: Duration = Duration::from_secs(2);
const PAST_TIMEOUT: Duration = Duration::from_secs(3);

/// refill with `REFILL_GATEWAY=stripe` against the fake Stripe.
struct StripeApp {
    app: TestApp,
    fake: FakeStripe,
    /// A second client of the fake, to look things up and refund as an operator would.
    stripe: Stripe,
}

impl std::ops::Deref for StripeApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

async fn stripe_app(store: &Store) -> StripeApp {
    stripe_app_with(store, |_| {}).await
}

async fn stripe_app_with(store: &Store, tweak: impl FnOnce(&mut refill::Settings)) -> StripeApp {
    let fake = FakeStripe::start().await;
    let gateway = Arc::new(fake.client(TIMEOUT));
    let app = spawn_with_gateway(store, gateway, |s| {
        s.gateway = "stripe".into();
        s.stripe_webhook_secret = Some(FAKE_WEBHOOK_SECRET.into());
        tweak(s);
    })
    .await;
    let stripe = fake.client(TIMEOUT);
    StripeApp { app, fake, stripe }
}

fn pm_path(account: &str) -> String {
    format!("/v1/accounts/{account}/payment-methods")
}

impl StripeApp {
    fn now_secs(&self) -> i64 {
        self.clock.now_ms().div_euclid(1000)
    }

    /// POSTs a raw payload to the webhook with this Stripe-Signature header.
    async fn post_webhook(&self, payload: &[u8], signature: Option<&str>) -> Resp {
        let mut req = self
            .http
            .post(format!("{}/v1/webhooks/stripe", self.base))
            .header("content-type", "application/json")
            .body(payload.to_vec());
        if let Some(sig) = signature {
            req = req.header("stripe-signature", sig);
        }
        let resp = req.send().await.expect("webhook sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Resp {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        }
    }

    /// Delivers an event as Stripe does: signed with the webhook secret, now (on the
    /// simulated clock refill checks the tolerance against).
    async fn deliver(&self, event: &Value) -> Resp {
        let payload = serde_json::to_vec(event).unwrap();
        let sig = sign(&payload, FAKE_WEBHOOK_SECRET, self.now_secs());
        self.post_webhook(&payload, Some(&sig)).await
    }

    /// Delivers and returns the receipt's outcome (processed, ignored, duplicate).
    async fn outcome(&self, event: &Value) -> String {
        let r = self.deliver(event).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["outcome"].as_str().unwrap_or_default().to_string()
    }

    async fn customer(&self, account: &str) -> Option<String> {
        refill_store::get_gateway_customer(&self.running.app.db.pool, account)
            .await
            .unwrap()
    }

    /// The gateway token refill keeps for a saved card (never shown by the API).
    async fn token(&self, pm: &str) -> String {
        refill_store::get_payment_method(&self.running.app.db.pool, pm)
            .await
            .unwrap()
            .expect("payment method")
            .gateway_token
    }

    async fn top_up(&self, id: &str) -> Value {
        self.get(&format!("/v1/top-ups/{id}")).await.body
    }

    async fn top_ups(&self, account: &str) -> Vec<Value> {
        let r = self.get(&format!("/v1/accounts/{account}/top-ups")).await;
        r.body["data"].as_array().cloned().unwrap_or_default()
    }

    /// The PaymentIntent made for a top-up's attempt, found at Stripe by its key.
    async fn payment_intent(&self, top_up: &str, attempt: i64) -> String {
        let key = format!("{top_up}:{attempt}");
        let found = self.stripe.find_charge(&key).await.unwrap();
        found.expect("a PaymentIntent for the key").id
    }

    /// PaymentIntents that took money for the account's automatic top-ups, by the
    /// fake's own record: every attempt's key counted.
    async fn auto_charges(&self, account: &str) -> usize {
        let mut n = 0;
        for t in self.top_ups(account).await {
            if t["origin"] == "auto" {
                let id = t["id"].as_str().unwrap();
                for attempt in 1..=t["attempt"].as_i64().unwrap_or(0) {
                    n += self.fake.charges_for(&format!("{id}:{attempt}"));
                }
            }
        }
        n
    }

    async fn in_flight(&self, account: &str) -> String {
        let s = self
            .get(&format!("/v1/accounts/{account}/auto-top-up"))
            .await;
        s.body["in_flight"]["top_up_id"]
            .as_str()
            .expect("a top-up in flight")
            .to_string()
    }

    async fn flagged(&self, account: &str) -> bool {
        self.get(&format!("/v1/accounts/{account}")).await.body["flagged"] == true
    }
}
