//! Issue 6: refill on Stripe. The real server charges through the real Stripe client,
//! pointed at the fake Stripe (which speaks Stripe's wire format and keeps its own
//! record of the PaymentIntents that took money), and receives Stripe's signed
//! webhooks, sent twice, out of order, tampered, expired and replayed.

use crate::support::*;
use refill_domain::{HOUR, MINUTE};
use refill_gateway::fake_stripe::{FAKE_WEBHOOK_SECRET, FakeFault, FakeStripe};
use refill_gateway::stripe::Stripe;
use refill_gateway::stripe_webhook::sign;
use refill_gateway::{Gateway, RefundRequest};
use refill_service::Clock;
use serde_json::{Value, json};
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

fn no_verification(s: &mut refill::Settings) {
    s.service.verification_amount = 0;
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

    async fn enable(&self, account: &str, threshold: i64, amount: i64) -> Resp {
        enable_auto_top_up(self, account, threshold, amount).await
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

// ---------------------------------------------------------------- saved cards

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r5_r14_cards_are_saved_on_the_payers_customer_with_3d_secure() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        let id = h.account("acme").await;
        let visa = h
            .post(&pm_path(&id), json!({"token": "pm_card_visa"}))
            .await;
        assert_eq!(visa.status, 201, "{}", visa.body);
        assert_eq!(visa.body["status"], "ready");
        assert_eq!(
            visa.body["verified"], true,
            "R14: a setup that succeeded at once was checked by the bank"
        );
        assert!(visa.body.get("client_secret").is_none());
        let customer = h.customer(&id).await.expect("R5: the payer is a customer");
        let token = h.token(&visa.id()).await;
        assert_ne!(token, "pm_card_visa", "the SetupIntent's own PaymentMethod");
        assert_eq!(h.fake.object(&token).unwrap()["customer"], customer);

        // R14: the bank asks for 3-D Secure when the card is saved.
        let three = h
            .post(
                &pm_path(&id),
                json!({"token": "pm_card_authenticationRequiredOnSetup"}),
            )
            .await;
        assert_eq!(three.status, 201, "{}", three.body);
        assert_eq!(
            (&three.body["status"], &three.body["verified"]),
            (&json!("requires_action"), &json!(false))
        );
        let setup = three.body["setup_intent"].as_str().unwrap().to_string();
        let secret = three.body["client_secret"].as_str().unwrap();
        assert!(
            secret.starts_with(&setup),
            "the SetupIntent's client secret"
        );
        let top_up = |pm: String| {
            let path = format!("/v1/accounts/{id}/top-ups");
            let h = &h;
            async move {
                h.post(&path, json!({"amount": 2_000, "payment_method": pm}))
                    .await
            }
        };
        let r = top_up(three.id()).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "payment_method_requires_action")
        );
        let r = h
            .put(
                &format!("/v1/accounts/{id}/auto-top-up"),
                json!({"enabled": true, "threshold": 1_000, "amount": 2_000,
                    "terms_version": TERMS, "payment_method": three.id()}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (409, "payment_method_requires_action")
        );
        let confirm = format!("{}/{}/confirm", pm_path(&id), three.id());
        let c = h.post(&confirm, json!({})).await;
        assert_eq!(
            (c.status, &c.body["status"]),
            (200, &json!("requires_action"))
        );
        h.fake.authenticate_setup_intent(&setup).unwrap();
        let c = h.post(&confirm, json!({})).await;
        assert_eq!((c.status, &c.body["status"]), (200, &json!("ready")));
        assert_eq!(c.body["verified"], true);
        assert!(c.body.get("client_secret").is_none());
        let r = top_up(three.id()).await;
        assert_eq!((r.status, &r.body["status"]), (201, &json!("succeeded")));
        let pi = h
            .fake
            .object(r.body["transaction_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(pi["customer"], customer, "charges carry the customer");
        assert_eq!(pi["metadata"]["refill_top_up"], r.id());

        // The same through the webhook: setup_intent.succeeded, delivered twice.
        let four = h
            .post(
                &pm_path(&id),
                json!({"token": "pm_card_authenticationRequiredOnSetup"}),
            )
            .await;
        let si = h
            .fake
            .authenticate_setup_intent(four.body["setup_intent"].as_str().unwrap())
            .unwrap();
        let event = FakeStripe::event("setup_intent.succeeded", si);
        assert_eq!(h.outcome(&event).await, "processed");
        assert_eq!(h.outcome(&event).await, "duplicate");
        let list = h.get(&pm_path(&id)).await.body["data"].clone();
        let four_now = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == four.id().as_str())
            .unwrap();
        assert_eq!(
            (&four_now["status"], &four_now["verified"]),
            (&json!("ready"), &json!(true))
        );

        // A card the bank declines is not saved.
        let bad = h
            .post(&pm_path(&id), json!({"token": "pm_card_chargeDeclined"}))
            .await;
        assert_eq!((bad.status, bad.code()), (402, "card_declined"));
        assert_eq!(
            h.get(&pm_path(&id)).await.body["data"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        // One customer for the payer, however many cards.
        let customers = h.fake.requests();
        let customers = customers.iter().filter(|r| r.path == "/v1/customers");
        assert_eq!(customers.count(), 1);
        // R5: a removed card is detached at Stripe too.
        assert_eq!(
            h.delete(&format!("{}/{}", pm_path(&id), visa.id()))
                .await
                .status,
            200
        );
        assert_eq!(h.fake.object(&token).unwrap()["customer"], Value::Null);
        h.assert_ledger_ok().await;
    }
}

// ---------------------------------------------------------------- the engine on Stripe

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r18_r19_a_crossing_makes_one_off_session_charge_on_the_customer() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        let (id, _) = h.funded("acme", "pm_card_visa", 5_000).await;
        assert_eq!(h.enable(&id, 1_000, 3_000).await.status, 200);
        for _ in 0..5 {
            assert_eq!(h.debit(&id, 900).await.status, 201);
        }
        h.engine().await;
        assert_eq!(h.auto_charges(&id).await, 1, "one crossing, one charge");
        assert_eq!(h.balance(&id).await, 3_500);
        let auto = h.top_ups(&id).await[0].clone();
        assert_eq!(
            (&auto["origin"], auto["total"].as_i64()),
            (&json!("auto"), Some(3_600))
        );
        let pi = h
            .fake
            .object(auto["transaction_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(pi["customer"], h.customer(&id).await.unwrap());
        assert_eq!(pi["metadata"]["refill_top_up"], auto["id"]);
        assert_eq!(pi["status"], "succeeded");
        // Stripe's own success event arrives after the executor recorded it.
        let event = FakeStripe::event("payment_intent.succeeded", pi);
        assert_eq!(h.outcome(&event).await, "ignored");
        assert_eq!(h.balance(&id).await, 3_500, "never credited twice");
        h.assert_ledger_ok().await;
    }
}

/// R25: a charge whose answer is lost (timeout after the charge, 500, 429, a slow
/// answer) is resolved by asking Stripe (searching its key) and sent again with the
/// same key only when Stripe never made it: one PaymentIntent, one credit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r25_faults_are_resolved_by_asking_stripe_never_double_charged() {
    let faults = [
        FakeFault::TimeoutAfterCharge(PAST_TIMEOUT),
        FakeFault::ServerError,
        FakeFault::RateLimited,
        FakeFault::Slow(PAST_TIMEOUT),
    ];
    for store in stores().await {
        let h = stripe_app(&store).await;
        for (i, fault) in faults.into_iter().enumerate() {
            let (id, _) = h.funded(&format!("f{i}"), "pm_card_visa", 5_000).await;
            assert_eq!(h.enable(&id, 1_000, 2_000).await.status, 200);
            h.fake.inject(fault);
            assert_eq!(h.debit(&id, 4_500).await.status, 201);
            h.engine().await;
            let s = h.get(&format!("/v1/accounts/{id}/auto-top-up")).await.body;
            assert_eq!(s["why_not"], "gateway_unavailable", "{fault:?}");
            assert_eq!(
                s["consecutive_failures"], 0,
                "R23: not the customer's failure"
            );
            let made = usize::from(matches!(fault, FakeFault::TimeoutAfterCharge(_)));
            assert_eq!(h.auto_charges(&id).await, made, "{fault:?}");
            assert_eq!(
                h.balance(&id).await,
                500,
                "{fault:?}: unknown, not credited"
            );
            h.clock.advance(MINUTE + 1);
            h.engine().await;
            assert_eq!(h.auto_charges(&id).await, 1, "{fault:?}: one charge");
            assert_eq!(h.balance(&id).await, 2_500, "{fault:?}: credited once");
            h.clock.advance(MINUTE + 1);
            h.engine().await;
            assert_eq!(h.auto_charges(&id).await, 1, "{fault:?}");
            assert_eq!(h.balance(&id).await, 2_500, "{fault:?}");
        }
        h.assert_ledger_ok().await;
    }
}

/// R25: the webhook can bring a lost answer before the executor asks: then it is
/// recorded once, by whichever comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r25_a_lost_answer_is_recorded_once_by_the_webhook_or_the_search() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        // An automatic top-up.
        let (id, _) = h.funded("auto", "pm_card_visa", 5_000).await;
        h.enable(&id, 1_000, 2_000).await;
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        h.debit(&id, 4_500).await;
        h.engine().await;
        let t = h.in_flight(&id).await;
        assert_eq!(h.top_up(&t).await["status"], "charging");
        let pi = h.payment_intent(&t, 1).await;
        let succeeded = FakeStripe::event("payment_intent.succeeded", h.fake.object(&pi).unwrap());
        assert_eq!(h.outcome(&succeeded).await, "processed");
        assert_eq!(h.balance(&id).await, 2_500);
        assert_eq!(h.top_up(&t).await["status"], "succeeded");
        assert_eq!(h.top_up(&t).await["transaction_id"], pi);
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        assert_eq!(
            (h.auto_charges(&id).await, h.balance(&id).await),
            (1, 2_500)
        );
        assert_eq!(h.outcome(&succeeded).await, "duplicate");

        // A manual top-up: the customer sees 503, the webhook settles it, the retry
        // with the same Idempotency-Key shows the receipt.
        let m = h.account("manual").await;
        h.post(&pm_path(&m), json!({"token": "pm_card_visa"})).await;
        let path = format!("/v1/accounts/{m}/top-ups");
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        let r = h.post_idem(&path, json!({"amount": 2_000}), "k-1").await;
        assert_eq!((r.status, r.code()), (503, "gateway_unavailable"));
        let t = h.top_ups(&m).await[0]["id"].as_str().unwrap().to_string();
        let pi = h.payment_intent(&t, 1).await;
        let succeeded = FakeStripe::event("payment_intent.succeeded", h.fake.object(&pi).unwrap());
        assert_eq!(h.outcome(&succeeded).await, "processed");
        let again = h.post_idem(&path, json!({"amount": 2_000}), "k-1").await;
        assert_eq!((again.status, again.id()), (201, t.clone()));
        assert_eq!(again.body["status"], "succeeded");
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        assert_eq!(h.fake.charges_for(&format!("{t}:1")), 1);
        assert_eq!(h.balance(&m).await, 2_000, "credited once");
        h.assert_ledger_ok().await;
    }
}

// ---------------------------------------------------------------- pending payments (R11)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r11_webhooks_twice_and_out_of_order_credit_once() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        // The executor recorded the payment as pending: the success comes twice,
        // then the older `processing` event.
        let (id, _) = h.funded("pending", "pm_card_pending", 0).await;
        let r = h
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!((r.status, &r.body["status"]), (201, &json!("pending")));
        assert_eq!(h.balance(&id).await, 5_000, "R11: usable while pending");
        let pi = r.body["transaction_id"].as_str().unwrap().to_string();
        let processing =
            FakeStripe::event("payment_intent.processing", h.fake.object(&pi).unwrap());
        let succeeded = FakeStripe::event(
            "payment_intent.succeeded",
            h.fake.settle(&pi, true).unwrap(),
        );
        assert_eq!(h.outcome(&succeeded).await, "processed");
        assert_eq!(h.outcome(&succeeded).await, "duplicate");
        assert_eq!(h.outcome(&processing).await, "ignored");
        assert_eq!(h.top_up(&r.id()).await["status"], "succeeded");
        assert_eq!(h.balance(&id).await, 5_000, "credited once");

        // The executor's answer was lost: success arrives before `processing`.
        let (a, _) = h.funded("auto", "pm_card_visa", 5_000).await;
        h.post(
            &pm_path(&a),
            json!({"token": "pm_card_pending", "primary": true}),
        )
        .await;
        assert_eq!(h.enable(&a, 1_000, 2_000).await.status, 200);
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        h.debit(&a, 4_500).await;
        h.engine().await;
        let t = h.in_flight(&a).await;
        let pi = h.payment_intent(&t, 1).await;
        let processing =
            FakeStripe::event("payment_intent.processing", h.fake.object(&pi).unwrap());
        let succeeded = FakeStripe::event(
            "payment_intent.succeeded",
            h.fake.settle(&pi, true).unwrap(),
        );
        assert_eq!(h.outcome(&succeeded).await, "processed");
        assert_eq!(h.outcome(&processing).await, "ignored");
        assert_eq!(h.top_up(&t).await["status"], "succeeded");
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        assert_eq!((h.auto_charges(&a).await, h.balance(&a).await), (1, 2_500));
        h.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r11_pending_then_failed_is_reversed_flagged_and_blocks_usage() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, _) = h.funded("acme", "pm_card_pending", 0).await;
        let r = h
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!(r.body["status"], "pending");
        assert_eq!(h.debit(&id, 3_000).await.status, 201);
        let pi = r.body["transaction_id"].as_str().unwrap().to_string();
        let processing =
            FakeStripe::event("payment_intent.processing", h.fake.object(&pi).unwrap());
        assert_eq!(h.outcome(&processing).await, "ignored", "pending already");
        let failed = FakeStripe::event(
            "payment_intent.payment_failed",
            h.fake.settle(&pi, false).unwrap(),
        );
        assert_eq!(h.outcome(&failed).await, "processed");
        assert_eq!(
            h.balance(&id).await,
            -3_000,
            "the credit reversed by a new entry"
        );
        assert!(h.flagged(&id).await);
        let t = h.top_up(&r.id()).await;
        assert_eq!(
            (&t["status"], &t["failure_code"]),
            (&json!("failed"), &json!("payment_failed"))
        );
        let blocked = h.debit(&id, 100).await;
        assert_eq!((blocked.status, blocked.code()), (402, "account_blocked"));
        assert_eq!(h.events(&id, "payment.reversed").await.len(), 1);
        // Again, and a stale success: nothing more.
        assert_eq!(h.outcome(&failed).await, "duplicate");
        let mut stale = FakeStripe::event("payment_intent.succeeded", h.fake.object(&pi).unwrap());
        stale["data"]["object"]["status"] = json!("succeeded");
        stale["data"]["object"]["last_payment_error"] = Value::Null;
        assert_eq!(h.outcome(&stale).await, "ignored");
        assert_eq!(h.balance(&id).await, -3_000);
        assert_eq!(h.events(&id, "payment.reversed").await.len(), 1);
        h.assert_ledger_ok().await;
    }
}

/// R11 configured off: the credit of a pending payment waits until it settles, and
/// an automatic one stays in flight meanwhile (no second charge for the crossing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r11_the_credit_can_wait_until_the_payment_settles() {
    for store in stores().await {
        let h = stripe_app_with(&store, |s| {
            no_verification(s);
            s.service.credit_pending = false;
        })
        .await;
        let (id, _) = h.funded("manual", "pm_card_pending", 0).await;
        let path = format!("/v1/accounts/{id}/top-ups");
        let ok = h.post(&path, json!({"amount": 5_000})).await;
        assert_eq!((ok.status, &ok.body["status"]), (201, &json!("pending")));
        assert_eq!(h.balance(&id).await, 0, "not credited while pending");
        let pi = ok.body["transaction_id"].as_str().unwrap().to_string();
        let e = FakeStripe::event(
            "payment_intent.succeeded",
            h.fake.settle(&pi, true).unwrap(),
        );
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&id).await, 5_000);
        assert_eq!(h.outcome(&e).await, "duplicate");
        let bad = h.post(&path, json!({"amount": 3_000})).await;
        let pi = bad.body["transaction_id"].as_str().unwrap().to_string();
        let e = FakeStripe::event(
            "payment_intent.payment_failed",
            h.fake.settle(&pi, false).unwrap(),
        );
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&id).await, 5_000, "nothing to reverse");
        assert!(!h.flagged(&id).await);
        assert_eq!(h.top_up(&bad.id()).await["status"], "failed");

        let (a, _) = h.funded("auto", "pm_card_visa", 5_000).await;
        h.post(
            &pm_path(&a),
            json!({"token": "pm_card_pending", "primary": true}),
        )
        .await;
        h.enable(&a, 1_000, 2_000).await;
        h.debit(&a, 4_500).await;
        h.engine().await;
        let t = h.in_flight(&a).await;
        assert_eq!(h.top_up(&t).await["status"], "pending");
        assert_eq!(h.balance(&a).await, 500);
        h.clock.advance(60 * MINUTE);
        h.running.app.periodic_check().await.unwrap();
        h.engine().await;
        assert_eq!(
            h.auto_charges(&a).await,
            1,
            "R19: in flight until it settles"
        );
        let pi = h.payment_intent(&t, 1).await;
        let e = FakeStripe::event(
            "payment_intent.succeeded",
            h.fake.settle(&pi, true).unwrap(),
        );
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&a).await, 2_500);
        h.assert_ledger_ok().await;
    }
}

// ---------------------------------------------------------------- refunds (R31)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r31_a_refund_reverses_its_share_of_the_credit_once() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, _) = h.funded("acme", "pm_card_visa", 0).await;
        let r = h
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!(r.body["total"], 6_000, "R9: 20% tax in GB");
        let pi = r.body["transaction_id"].as_str().unwrap().to_string();
        let refund = |key: &str, amount: i64| RefundRequest {
            idempotency_key: key.into(),
            charge_id: pi.clone(),
            amount,
        };
        h.stripe.refund(&refund("r-1", 1_200)).await.unwrap();
        let e = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(
            h.balance(&id).await,
            4_000,
            "1,200 of 6,000 is 1,000 of credit"
        );
        let ev = h.events(&id, "top_up.refunded").await;
        assert_eq!(
            (
                &ev[0]["data"]["credit_reversed"],
                &ev[0]["data"]["tax_reversed"]
            ),
            (&json!(1_000), &json!(200))
        );
        assert_eq!(h.outcome(&e).await, "duplicate");
        let same_total = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(
            h.outcome(&same_total).await,
            "ignored",
            "nothing new refunded"
        );
        assert_eq!(h.top_up(&r.id()).await["refunded"], 1_200);
        h.debit(&id, 1_000).await;
        h.stripe.refund(&refund("r-2", 4_800)).await.unwrap();
        let e = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.balance(&id).await, -1_000, "all 5,000 reversed");
        assert!(
            h.flagged(&id).await,
            "below zero: usage refused until repaid"
        );
        assert_eq!(h.debit(&id, 10).await.code(), "account_blocked");
        let mut more = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        more["data"]["object"]["amount_refunded"] = json!(1_000_000);
        assert_eq!(h.outcome(&more).await, "ignored", "never more than charged");
        assert_eq!(h.balance(&id).await, -1_000);

        // The refund arrives before anything told refill the payment succeeded.
        let m = h.account("early").await;
        h.post(&pm_path(&m), json!({"token": "pm_card_visa"})).await;
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        let r = h
            .post(
                &format!("/v1/accounts/{m}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!(r.status, 503);
        let t = h.top_ups(&m).await[0]["id"].as_str().unwrap().to_string();
        let pi = h.payment_intent(&t, 1).await;
        let succeeded = FakeStripe::event("payment_intent.succeeded", h.fake.object(&pi).unwrap());
        h.stripe
            .refund(&RefundRequest {
                idempotency_key: "r-early".into(),
                charge_id: pi.clone(),
                amount: 600,
            })
            .await
            .unwrap();
        let refunded = FakeStripe::event("charge.refunded", h.fake.charge_object(&pi).unwrap());
        assert_eq!(h.outcome(&refunded).await, "processed");
        assert_eq!(h.balance(&m).await, 4_500, "credited, then 500 reversed");
        assert_eq!(h.outcome(&succeeded).await, "ignored");
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        assert_eq!(h.balance(&m).await, 4_500);
        assert_eq!(h.fake.charges_for(&format!("{t}:1")), 1);
        h.assert_ledger_ok().await;
    }
}

// ---------------------------------------------------------------- a card detached (R22)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r22_a_card_detached_at_stripe_disables_auto_top_up() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        let (id, pm) = h.funded("acme", "pm_card_visa", 5_000).await;
        assert_eq!(h.enable(&id, 1_000, 2_000).await.status, 200);
        let token = h.token(&pm).await;
        let customer = h.customer(&id).await.unwrap();
        h.stripe
            .detach_payment_method(&token, "dashboard")
            .await
            .unwrap();
        let mut e = FakeStripe::event("payment_method.detached", h.fake.object(&token).unwrap());
        e["data"]["previous_attributes"] = json!({"customer": customer});
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.outcome(&e).await, "duplicate");
        let cards = h.get(&pm_path(&id)).await.body["data"].clone();
        assert!(
            cards
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["id"] != pm.as_str())
        );
        let (_, disabled) = h.running.app.periodic_check().await.unwrap();
        assert_eq!(disabled, 1);
        let s = h.get(&format!("/v1/accounts/{id}/auto-top-up")).await.body;
        assert_eq!(
            (&s["state"], &s["state_reason"]),
            (&json!("disabled"), &json!("payment_method_removed"))
        );
        // Another customer's card of the same id is left alone.
        let mut other = e.clone();
        other["id"] = json!("evt_other_customer");
        other["data"]["previous_attributes"] = json!({"customer": "cus_someone_else"});
        assert_eq!(h.outcome(&other).await, "ignored");
    }
}

// ---------------------------------------------------------------- signatures

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_webhook_signatures_valid_tampered_expired_and_replayed() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, _) = h.funded("acme", "pm_card_pending", 0).await;
        let r = h
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        let pi = r.body["transaction_id"].as_str().unwrap().to_string();
        let failed = FakeStripe::event(
            "payment_intent.payment_failed",
            h.fake.settle(&pi, false).unwrap(),
        );
        let payload = serde_json::to_vec(&failed).unwrap();
        let refused = |r: Resp| {
            assert_eq!(
                (r.status, r.code()),
                (400, "invalid_signature"),
                "{}",
                r.body
            );
        };
        // Tampered: the body changed after signing.
        let sig = sign(&payload, FAKE_WEBHOOK_SECRET, h.now_secs());
        let mut tampered = failed.clone();
        tampered["data"]["object"]["amount"] = json!(1);
        refused(
            h.post_webhook(&serde_json::to_vec(&tampered).unwrap(), Some(&sig))
                .await,
        );
        // Signed with another secret, not signed, a malformed header.
        let other = sign(&payload, "whsec_someone_else", h.now_secs());
        refused(h.post_webhook(&payload, Some(&other)).await);
        refused(h.post_webhook(&payload, None).await);
        refused(h.post_webhook(&payload, Some("t=1,v1=zz")).await);
        // Expired: more than 5 minutes old by refill's clock.
        let old = sign(&payload, FAKE_WEBHOOK_SECRET, h.now_secs() - 301);
        refused(h.post_webhook(&payload, Some(&old)).await);
        assert_eq!(h.balance(&id).await, 5_000, "nothing changed");
        assert_eq!(h.top_up(&r.id()).await["status"], "pending");
        // Valid, just inside the tolerance.
        let fresh = sign(&payload, FAKE_WEBHOOK_SECRET, h.now_secs() - 299);
        let ok = h.post_webhook(&payload, Some(&fresh)).await;
        assert_eq!((ok.status, &ok.body["outcome"]), (200, &json!("processed")));
        assert_eq!(ok.body["event_id"], failed["id"]);
        assert_eq!(h.balance(&id).await, 0, "R11: reversed");
        // Replayed: the same signed request again, and the same event re-signed.
        let again = h.post_webhook(&payload, Some(&fresh)).await;
        assert_eq!(
            (again.status, &again.body["outcome"]),
            (200, &json!("duplicate"))
        );
        assert_eq!(h.outcome(&failed).await, "duplicate");
        assert_eq!(h.balance(&id).await, 0, "no second effect");
        assert_eq!(h.events(&id, "payment.reversed").await.len(), 1);
        // The captured request is refused once it is older than the tolerance.
        h.clock.advance(301_000);
        refused(h.post_webhook(&payload, Some(&fresh)).await);
        // Unknown event types are acknowledged and ignored; unreadable events refused.
        let unknown = FakeStripe::event(
            "customer.created",
            json!({"id": "cus_1", "object": "customer"}),
        );
        assert_eq!(h.outcome(&unknown).await, "ignored");
        let junk = b"{not json";
        let sig = sign(junk, FAKE_WEBHOOK_SECRET, h.now_secs());
        let r = h.post_webhook(junk, Some(&sig)).await;
        assert_eq!((r.status, r.code()), (400, "invalid_event"));
        h.assert_ledger_ok().await;

        // Without a webhook secret the endpoint is not there.
        let bare = spawn(&store).await;
        let r = bare
            .send(
                reqwest::Method::POST,
                "/v1/webhooks/stripe",
                Some(&failed),
                &[],
                None,
            )
            .await;
        assert_eq!((r.status, r.code()), (404, "webhook_not_configured"));
    }
}

/// Review finding: a late event of an earlier, declined attempt must not move a
/// scheduled recharge (R30) whose next attempt is being charged (its gateway key names
/// the month, not the top-up); that attempt's own outcome is then recorded (R25).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r30_r25_a_late_event_of_an_earlier_attempt_changes_nothing() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let id = h.account("scheduled").await;
        let r = h
            .post(
                &pm_path(&id),
                json!({"token": "pm_card_chargeCustomerFail"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        // Today (the 21st) is its day: it runs now, and the card declines.
        let r = h
            .put(
                &format!("/v1/accounts/{id}/scheduled-recharge"),
                json!({"amount": 2_000, "day_of_month": 21}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        h.running.app.run_scheduled_recharges().await.unwrap();
        h.engine().await;
        let t = h.top_ups(&id).await[0]["id"].as_str().unwrap().to_string();
        assert_eq!(h.top_up(&t).await["attempt"], 1);
        let key = |attempt: i64| format!("scheduled:{id}:2026-11:{attempt}");
        let pi1 = h
            .stripe
            .find_charge(&key(1))
            .await
            .unwrap()
            .expect("attempt 1")
            .id;
        // The retry's answer is lost: attempt 2 stays charging, its outcome unknown.
        h.fake.inject(FakeFault::TimeoutAfterCharge(PAST_TIMEOUT));
        h.clock.advance(24 * HOUR + MINUTE);
        h.engine().await;
        let now = h.top_up(&t).await;
        assert_eq!(
            (now["status"].as_str(), now["attempt"].as_i64()),
            (Some("charging"), Some(2)),
            "{now}"
        );
        // Stripe now retries attempt 1's old failure: it must change nothing.
        let late = FakeStripe::event(
            "payment_intent.payment_failed",
            h.fake.object(&pi1).unwrap(),
        );
        assert_eq!(h.outcome(&late).await, "ignored");
        assert_eq!(h.top_up(&t).await["status"], "charging");
        // Attempt 2's own outcome (declined, the same card) is found and recorded once.
        h.clock.advance(MINUTE + 1);
        h.engine().await;
        let pi2 = h
            .stripe
            .find_charge(&key(2))
            .await
            .unwrap()
            .expect("attempt 2")
            .id;
        let now = h.top_up(&t).await;
        assert_eq!(
            (now["attempt"].as_i64(), now["transaction_id"].as_str()),
            (Some(2), Some(pi2.as_str())),
            "{now}"
        );
        assert_eq!(
            h.events(&id, "top_up.failed").await.len(),
            2,
            "one per attempt"
        );
        assert_eq!(h.balance(&id).await, 0);
        h.assert_ledger_ok().await;
    }
}
