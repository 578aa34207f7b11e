//! Currencies (R1, R8, R14, R23): minimums that mean the same in every currency,
//! charges the gateway takes (three-decimal amounts in multiples of 10, at least its
//! minimum charge), amounts told to people in major units, and a request the gateway
//! refuses as malformed never counted as the customer's failure.

use crate::checks::assert_problem;
use crate::fixtures::no_verification;
use crate::support::*;
use refill_domain::HOUR;
use refill_gateway::fake_stripe::{FakeFault, FakeStripe};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// An account in `currency` whose payer lives in `country`.
async fn account_in(app: &TestApp, currency: &str, country: &str) -> String {
    app.create_account(
        json!({"name": format!("in {currency}"), "currency": currency,
        "payer": {"name": "Ada", "email": "ada@example.test", "country": country}}),
    )
    .await
}

async fn checkout(app: &TestApp, account: &str, amount: i64) -> Resp {
    let path = format!("/v1/accounts/{account}/checkout");
    app.post(&path, json!({"amount": amount})).await
}

/// refill charging through the Stripe client, pointed at the fake Stripe.
async fn on_fake_stripe(
    store: &Store,
    tweak: impl FnOnce(&mut refill::Settings),
) -> (TestApp, FakeStripe) {
    let fake = FakeStripe::start().await;
    let gateway = Arc::new(fake.client(Duration::from_secs(2)));
    let app = spawn_with_gateway(store, gateway, |s| {
        s.gateway = "stripe".into();
        tweak(s);
    })
    .await;
    (app, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_the_minimum_top_up_is_ten_major_units_in_every_currency() {
    for store in stores().await {
        let app = spawn(&store).await;
        let kwd = account_in(&app, "KWD", "KW").await;
        let r = checkout(&app, &kwd, 9_999).await;
        assert_problem(&r, 422, "amount_below_minimum");
        assert_eq!(
            (r.body["minimum"].as_i64(), &r.body["currency"]),
            (Some(10_000), &json!("KWD"))
        );
        assert_eq!(checkout(&app, &kwd, 10_000).await.status, 200);
        // 10 JPY is below Stripe's smallest charge in yen: the minimum is raised to it.
        let jpy = account_in(&app, "JPY", "JP").await;
        let r = checkout(&app, &jpy, 49).await;
        assert_problem(&r, 422, "amount_below_minimum");
        assert_eq!(r.body["minimum"], 50);
        assert_eq!(checkout(&app, &jpy, 50).await.status, 200);
        let gbp = app.account("gbp").await;
        assert_eq!(checkout(&app, &gbp, 999).await.body["minimum"], 1_000);
        // R8: configurable per currency, in its own minor units.
        let app = spawn_with(&store, |s| {
            s.service
                .minimum_top_up_per_currency
                .insert("JPY".into(), 1_000);
        })
        .await;
        let jpy = account_in(&app, "JPY", "JP").await;
        assert_eq!(checkout(&app, &jpy, 999).await.body["minimum"], 1_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_the_minimum_is_told_in_major_units() {
    for store in stores().await {
        let app = spawn(&store).await;
        let gbp = app.account("gbp").await;
        let r = checkout(&app, &gbp, 999).await;
        assert_problem(&r, 422, "amount_below_minimum");
        assert_eq!(
            r.body["detail"],
            "9.99 GBP is below the minimum top-up of 10.00 GBP"
        );
        // Machine fields stay minor units.
        assert_eq!(
            (r.body["amount"].as_i64(), r.body["minimum"].as_i64()),
            (Some(999), Some(1_000))
        );
        let kwd = account_in(&app, "KWD", "KW").await;
        app.save_card(&kwd, "pm_card_visa").await;
        let path = format!("/v1/accounts/{kwd}/top-ups");
        let r = app.post(&path, json!({"amount": 9_990})).await;
        assert_eq!(
            r.body["detail"],
            "9.990 KWD is below the minimum top-up of 10.000 KWD"
        );
        let r = app.post(&path, json!({"amount": 20_000})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = app
            .put(
                &format!("/v1/accounts/{kwd}/auto-top-up"),
                json!({"enabled": true, "threshold": 5_000, "amount": 4_500,
                    "terms_version": TERMS}),
            )
            .await;
        assert_problem(&r, 422, "amount_below_threshold");
        assert_eq!(
            r.body["detail"],
            "the top-up amount 4.500 KWD must be at least the threshold 5.000 KWD"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_a_float_amount_is_an_invalid_amount_with_a_hint() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 2_000).await;
        for path in [
            format!("/v1/accounts/{id}/top-ups"),
            format!("/v1/accounts/{id}/debits"),
            format!("/v1/accounts/{id}/checkout"),
        ] {
            let r = app.post(&path, json!({"amount": 9.99})).await;
            assert_problem(&r, 400, "invalid_amount");
            let detail = r.body["detail"].as_str().unwrap_or_default();
            assert!(detail.starts_with("9.99 is not a whole number"), "{detail}");
            assert!(detail.contains("send 999 for 9.99 GBP"), "{detail}");
            assert!(!detail.contains("expected i64"), "{detail}");
        }
        assert_eq!(app.balance(&id).await, 2_000, "nothing changed");
    }
}

/// The charges the fake Stripe made, by key prefix.
fn charged(fake: &FakeStripe, prefix: &str) -> Vec<i64> {
    let all = fake.charges().into_iter();
    all.filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, a)| a)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_a_bhd_charge_goes_out_in_multiples_of_ten_and_the_receipt_says_the_rounding() {
    for store in stores().await {
        let (app, fake) = on_fake_stripe(&store, |s| {
            s.service.tax.by_country.insert("BH".into(), 1_000);
        })
        .await;
        let bhd = account_in(&app, "BHD", "BH").await;
        app.save_card(&bhd, "pm_card_visa").await;
        // 11.005 BHD and 10% tax (1.1005, rounded half up to 1.101): 12.106, which
        // Stripe refuses; charged 12.100, the credit whole.
        let r = checkout(&app, &bhd, 11_005).await;
        assert_eq!(
            (r.body["charge_rounding"].as_i64(), r.body["total"].as_i64()),
            (Some(-6), Some(12_100))
        );
        let path = format!("/v1/accounts/{bhd}/top-ups");
        let r = app.post(&path, json!({"amount": 11_005})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let receipt = (
            &r.body["amount"],
            &r.body["tax"],
            &r.body["charge_rounding"],
            &r.body["total"],
        );
        assert_eq!(
            receipt,
            (&json!(11_005), &json!(1_101), &json!(-6), &json!(12_100))
        );
        assert_eq!(charged(&fake, &r.id()), vec![12_100]);
        assert_eq!(app.balance(&bhd).await, 11_005);
        // An automatic top-up up to a target charges the difference: rounded too.
        let r = app
            .put(
                &format!("/v1/accounts/{bhd}/auto-top-up"),
                json!({"enabled": true, "threshold": 5_000, "target_balance": 20_000,
                    "terms_version": TERMS}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(app.debit(&bhd, 6_006).await.status, 201);
        app.engine().await;
        assert_eq!(app.balance(&bhd).await, 20_000, "credited 15.001 BHD");
        let auto = app.top_ups_of(&bhd).await;
        let auto = auto
            .iter()
            .find(|t| t["origin"] == "auto")
            .expect("an auto top-up");
        // 15.001 + 1.500 tax = 16.501, charged 16.500.
        assert_eq!(
            (&auto["charge_rounding"], &auto["total"]),
            (&json!(-1), &json!(16_500))
        );
        for (key, amount) in fake.charges() {
            assert_eq!(amount % 10, 0, "{key}: {amount} fils");
        }
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r14_the_verification_charge_in_huf_is_at_least_stripes_minimum() {
    for store in stores().await {
        let (app, fake) = on_fake_stripe(&store, |_| {}).await;
        let huf = account_in(&app, "HUF", "HU").await;
        app.save_card(&huf, "pm_card_visa").await;
        let path = format!("/v1/accounts/{huf}/top-ups");
        let r = app.post(&path, json!({"amount": 50_000})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = enable_auto_top_up(&app, &huf, 1_000, 17_500).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // 1.00 in a two-decimal currency is 1.00 HUF, below Stripe's 175.00 HUF.
        assert_eq!(charged(&fake, "verify_"), vec![17_500]);
    }
}

impl TestApp {
    async fn top_ups_of(&self, account: &str) -> Vec<Value> {
        let r = self.get(&format!("/v1/accounts/{account}/top-ups")).await;
        r.body["data"].as_array().cloned().unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_a_charge_refused_as_malformed_is_never_the_customers_failure() {
    for store in stores().await {
        let (app, fake) = on_fake_stripe(&store, |s| {
            no_verification(s);
            s.service.limits.max_consecutive_failures = 1;
        })
        .await;
        let (id, _) = app.funded("acme", "pm_card_visa", 5_000).await;
        app.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        fake.inject(FakeFault::InvalidRequest);
        assert_eq!(app.debit(&id, 4_500).await.status, 201);
        app.engine().await;
        let s = app.auto_top_up(&id).await;
        // Even with one failure allowed, it stays on: the operator's error.
        assert_eq!(
            (&s["state"], &s["consecutive_failures"]),
            (&json!("active"), &json!(0))
        );
        assert_eq!(s["why_not"], "retry_scheduled");
        let failed = app.events(&id, "top_up.failed").await;
        assert_eq!(failed[0]["data"]["reason"], "gateway_rejected");
        let metrics = app.get("/metrics").await.body;
        let metrics = metrics.as_str().unwrap_or_default();
        let line = metrics
            .lines()
            .find(|l| l.starts_with("refill_gateway_requests_rejected_total "))
            .expect("the operator's metric");
        assert!(!line.ends_with(" 0"), "{line}");
        // Not sent again blindly: after the retry delay, then charged.
        app.engine().await;
        assert_eq!(app.balance(&id).await, 500);
        app.clock.advance(24 * HOUR + 1);
        app.engine().await;
        assert_eq!(app.balance(&id).await, 2_500);
        // A manual top-up refused so is told as the gateway's refusal, not a decline.
        fake.inject(FakeFault::InvalidRequest);
        let r = app
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 1_000}),
            )
            .await;
        assert_problem(&r, 502, "gateway_rejected");
        assert_eq!(app.balance(&id).await, 2_500);
        app.assert_ledger_ok().await;
    }
}
