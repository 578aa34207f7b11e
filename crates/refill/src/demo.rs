//! `refill demo`: starts refill in-process on a temporary database and walks through
//! a story a newcomer can follow, over the real HTTP API.

mod seeds;

pub use seeds::Told;

use crate::Settings;
use refill_service::SimClock;
use reqwest::Client;
use serde_json::{Value, json};
use std::sync::Arc;

struct Demo {
    http: Client,
    base: String,
    key: String,
}

impl Demo {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.call(reqwest::Method::GET, path, None).await?.1)
    }
}

fn money(v: &Value) -> String {
    let minor = v.as_i64().unwrap_or(0);
    format!("{}.{:02}", minor / 100, (minor % 100).abs())
}

fn step(n: u32, text: &str) {
    println!("\n{n}. {text}");
}

pub async fn run() -> anyhow::Result<()> {
    tell().await.map(|_| ())
}

/// The demo, and what its seed stories showed.
pub async fn tell() -> anyhow::Result<Told> {
    let dir = std::env::temp_dir().join(format!("refill-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}/refill.db", dir.display()),
        bootstrap_key: Some("rk_demo_operator".into()),
        ..Settings::default()
    };
    settings.service.tax.by_country.insert("GB".into(), 2000);
    let clock = SimClock::at(refill_store::wall_clock_ms());
    let running = crate::start(&settings, Arc::new(clock.clone()), None, false).await?;
    let d = Demo {
        http: Client::new(),
        base: running.url(),
        key: "rk_demo_operator".into(),
    };
    println!(
        "refill demo: a server on {} with a fresh database in {}",
        running.url(),
        dir.display()
    );
    story(&d, &running.app, &clock).await?;
    let told = seeds::stories(&d, &running.app, &clock, 10).await?;
    events_step(&d, 13).await?;
    running.stop();
    std::fs::remove_dir_all(&dir).ok();
    println!("\nThat was refill. Run it for real with: cargo run --release -- serve");
    Ok(told)
}

async fn story(d: &Demo, app: &refill_service::Refill, clock: &SimClock) -> anyhow::Result<()> {
    step(
        1,
        "An SMS provider's customer, Acme Ltd, gets a prepaid account in GBP.",
    );
    let (_, acct) = d
        .post(
            "/v1/accounts",
            json!({"name": "Acme Ltd", "currency": "GBP",
        "payer": {"name": "Ada Lovelace", "email": "ada@acme.test", "country": "GB"}}),
        )
        .await?;
    let id = acct["id"].as_str().unwrap_or_default().to_string();
    println!("   account {id}, balance {} GBP", money(&acct["balance"]));

    step(
        2,
        "Acme saves a card (a gateway token; refill never sees the number).",
    );
    let (_, pm) = d
        .post(
            &format!("/v1/accounts/{id}/payment-methods"),
            json!({"token": "pm_card_visa"}),
        )
        .await?;
    println!(
        "   {} ending {} saved as primary: {}",
        pm["brand"],
        pm["last4"].as_str().unwrap_or(""),
        pm["primary"]
    );

    step(
        3,
        "Acme tops up 50.00 GBP. The checkout shows the tax first (20% in GB).",
    );
    let (_, co) = d
        .post(
            &format!("/v1/accounts/{id}/checkout"),
            json!({"amount": 5000}),
        )
        .await?;
    println!(
        "   amount {} + tax {} = total {} GBP",
        money(&co["amount"]),
        money(&co["tax"]),
        money(&co["total"])
    );
    let (_, top) = d
        .post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 5000}),
        )
        .await?;
    println!(
        "   receipt {}: {} charged to {} {}, transaction {}",
        top["id"].as_str().unwrap_or(""),
        money(&top["total"]),
        top["payment_method"]["brand"],
        top["payment_method"]["last4"],
        top["transaction_id"]
    );

    step(
        4,
        "Messages are sent: each one is a debit, authorized against the balance.",
    );
    for i in 1..=3 {
        let (_, r) = d
            .post(
                &format!("/v1/accounts/{id}/debits"),
                json!({"amount": 500, "reference": format!("sms-{i}")}),
            )
            .await?;
        println!(
            "   sms-{i}: 5.00 GBP, balance now {}",
            money(&r["balance_after"])
        );
    }

    step(
        5,
        "A batch that would take the balance below zero is refused whole.",
    );
    let items: Vec<Value> = (0..40)
        .map(|i| json!({"amount": 100, "reference": format!("bulk-{i}")}))
        .collect();
    let (status, r) = d
        .post(
            &format!("/v1/accounts/{id}/debits/batch"),
            json!({"items": items}),
        )
        .await?;
    println!(
        "   HTTP {status} {}: {}",
        r["code"],
        r["detail"].as_str().unwrap_or("")
    );

    step(
        6,
        "Acme turns on auto top-up: below 20.00 GBP, add 30.00 GBP (terms accepted, card verified).",
    );
    let (_, s) = d.call(reqwest::Method::PUT, &format!("/v1/accounts/{id}/auto-top-up"),
        Some(json!({"enabled": true, "threshold": 2000, "amount": 3000, "terms_version": app.config.terms_version}))).await?;
    println!(
        "   auto top-up is {} (version {})",
        s["state"], s["version"]
    );

    step(
        7,
        "Usage crosses the threshold: exactly one top-up is queued and the card charged.",
    );
    let (_, r) = d
        .post(
            &format!("/v1/accounts/{id}/debits"),
            json!({"amount": 1600, "reference": "campaign"}),
        )
        .await?;
    println!(
        "   campaign 16.00 GBP, balance {}",
        money(&r["balance_after"])
    );
    app.run_until_idle().await?;
    let a = d.get(&format!("/v1/accounts/{id}")).await?;
    println!(
        "   after the engine ran: balance {} GBP",
        money(&a["balance"])
    );

    step(
        8,
        "A second customer's card is declined: retried after 24 hours, then disabled.",
    );
    declined_story(d, app, clock).await?;

    step(
        9,
        "A sub-account for Acme's marketing team, funded from the main account.",
    );
    let (_, sub) = d
        .post(
            "/v1/accounts",
            json!({"name": "Acme marketing", "currency": "GBP", "parent_id": id}),
        )
        .await?;
    let sub_id = sub["id"].as_str().unwrap_or_default().to_string();
    let (_, x) = d
        .post(
            "/v1/transfers",
            json!({"from_account": id, "to_account": sub_id, "amount": 1500}),
        )
        .await?;
    println!(
        "   transfer {}: 15.00 GBP to {sub_id}",
        x["id"].as_str().unwrap_or("")
    );
    d.call(
        reqwest::Method::PUT,
        &format!("/v1/accounts/{sub_id}/auto-top-up"),
        Some(json!({"enabled": true, "threshold": 500, "amount": 1000, "source": "transfer"})),
    )
    .await?;
    d.post(
        &format!("/v1/accounts/{sub_id}/debits"),
        json!({"amount": 1200}),
    )
    .await?;
    app.run_until_idle().await?;
    let s = d.get(&format!("/v1/accounts/{sub_id}")).await?;
    println!(
        "   spent 12.00; topped up from the main account: sub-account balance {} GBP",
        money(&s["balance"])
    );

    Ok(())
}

async fn events_step(d: &Demo, n: u32) -> anyhow::Result<()> {
    step(
        n,
        "Every change is in the ledger; the events list tells what happened.",
    );
    let ev = d.get("/v1/events?limit=20").await?;
    for e in ev["data"].as_array().into_iter().flatten().rev() {
        println!(
            "   {} {}",
            e["created"].as_str().unwrap_or(""),
            e["type"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

async fn declined_story(
    d: &Demo,
    app: &refill_service::Refill,
    clock: &SimClock,
) -> anyhow::Result<()> {
    let (_, b) = d
        .post(
            "/v1/accounts",
            json!({"name": "Bolt Inc", "currency": "GBP", "payer": {"email": "ops@bolt.test"}}),
        )
        .await?;
    let id = b["id"].as_str().unwrap_or_default().to_string();
    d.post(
        &format!("/v1/accounts/{id}/payment-methods"),
        json!({"token": "pm_card_visa"}),
    )
    .await?;
    d.post(
        &format!("/v1/accounts/{id}/top-ups"),
        json!({"amount": 3000}),
    )
    .await?;
    let (_, declining) = d
        .post(
            &format!("/v1/accounts/{id}/payment-methods"),
            json!({"token": "pm_card_chargeCustomerFail", "primary": true}),
        )
        .await?;
    let (st, r) = d.call(reqwest::Method::PUT, &format!("/v1/accounts/{id}/auto-top-up"),
        Some(json!({"enabled": true, "threshold": 1000, "amount": 2000, "terms_version": app.config.terms_version, "payment_method": declining["id"]}))).await?;
    if st != 200 {
        println!(
            "   turning auto top-up on with that card: HTTP {st} {}",
            r["code"]
        );
        let (_, visa) = d
            .post(
                &format!("/v1/accounts/{id}/payment-methods"),
                json!({"token": "pm_card_visa"}),
            )
            .await?;
        let _ = visa;
        return Ok(());
    }
    d.post(
        &format!("/v1/accounts/{id}/debits"),
        json!({"amount": 2500}),
    )
    .await?;
    for attempt in 1..=3 {
        app.run_until_idle().await?;
        let s = d.get(&format!("/v1/accounts/{id}/auto-top-up")).await?;
        println!(
            "   attempt {attempt}: {} ; state {} ; next attempt {}",
            s["last_attempt"]["outcome"], s["state"], s["next_attempt"]
        );
        clock.advance(24 * refill_domain::HOUR);
    }
    Ok(())
}
