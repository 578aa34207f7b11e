//! The providers' stories the demo tells after the walk-through: a transfer that
//! leaves the card alone (WinSMS, R18, R22), a dedicated number whose renewal is
//! covered by consecutive top-ups (ClickSend, R29, R21), and a pending card payment
//! told as pending until it settles (ClickSend, R11).

use super::{Demo, money, step};
use refill_domain::{DAY, MINUTE};
use refill_service::{Refill, SimClock};
use serde_json::{Value, json};

/// What the stories showed, for a test to check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Told {
    /// Automatic top-ups after the transfer took the account below its threshold.
    pub top_ups_after_transfer: usize,
    /// Automatic top-ups the unpaid renewal asked for, and whether it was paid.
    pub renewal_top_ups: usize,
    pub renewal_paid: bool,
    /// The pending payment's events, in order.
    pub pending_events: Vec<String>,
}

/// Automatic top-ups of `id`, as their receipts say.
async fn auto_top_ups(d: &Demo, id: &str) -> anyhow::Result<usize> {
    let ev = d
        .get(&format!(
            "/v1/events?account_id={id}&type=top_up.succeeded&limit=500"
        ))
        .await?;
    let all = ev["data"].as_array().cloned().unwrap_or_default();
    Ok(all.iter().filter(|e| e["data"]["origin"] == "auto").count())
}

/// A GBP account with a payer, a saved visa card and `balance` topped up: its id.
async fn customer(d: &Demo, name: &str, balance: i64) -> anyhow::Result<String> {
    let (_, a) = d
        .post(
            "/v1/accounts",
            json!({"name": name, "currency": "GBP", "payer": {"email": "billing@example.test"}}),
        )
        .await?;
    let id = a["id"].as_str().unwrap_or_default().to_string();
    let card = json!({"token": "pm_card_visa"});
    d.post(&format!("/v1/accounts/{id}/payment-methods"), card)
        .await?;
    let paid = json!({"amount": balance});
    d.post(&format!("/v1/accounts/{id}/top-ups"), paid).await?;
    Ok(id)
}

async fn auto_top_up_on(d: &Demo, app: &Refill, id: &str, threshold: i64, amount: i64) {
    let body = json!({"enabled": true, "threshold": threshold, "amount": amount,
        "terms_version": app.config.terms_version});
    let path = format!("/v1/accounts/{id}/auto-top-up");
    let _ = d.call(reqwest::Method::PUT, &path, Some(body)).await;
}

pub(super) async fn stories(
    d: &Demo,
    app: &Refill,
    clock: &SimClock,
    first: u32,
) -> anyhow::Result<Told> {
    let mut told = Told::default();
    step(
        first,
        "WinSMS: a transfer never tops up. Delta Ltd (auto top-up below 10.00, add 20.00) moves 45.00 of its 50.00 to a sub-account.",
    );
    told.top_ups_after_transfer = transfer_story(d, app, clock).await?;
    step(
        first + 1,
        "ClickSend: a weekly number at 50.00 falls due on a balance of 10.00. Consecutive auto-recharges cover it.",
    );
    (told.renewal_top_ups, told.renewal_paid) = renewal_story(d, app, clock).await?;
    step(
        first + 2,
        "ClickSend: a card payment can stay pending for days. It is told as pending, and as a success only when it settles.",
    );
    told.pending_events = pending_story(d, app, clock).await?;
    Ok(told)
}

async fn transfer_story(d: &Demo, app: &Refill, clock: &SimClock) -> anyhow::Result<usize> {
    let main = customer(d, "Delta Ltd", 5_000).await?;
    auto_top_up_on(d, app, &main, 1_000, 2_000).await;
    let sub = json!({"name": "Delta support", "currency": "GBP", "parent_id": main});
    let (_, sub) = d.post("/v1/accounts", sub).await?;
    let sub = sub["id"].as_str().unwrap_or_default().to_string();
    let move_out = json!({"from_account": main, "to_account": sub, "amount": 4_500});
    d.post("/v1/transfers", move_out).await?;
    for _ in 0..3 {
        clock.advance(5 * MINUTE);
        app.periodic_check().await?;
        app.run_until_idle().await?;
    }
    let a = d.get(&format!("/v1/accounts/{main}")).await?;
    let top_ups = auto_top_ups(d, &main).await?;
    println!(
        "   balance {} GBP, below the threshold; three periodic checks later: {top_ups} card charges",
        money(&a["balance"])
    );
    Ok(top_ups)
}

async fn renewal_story(d: &Demo, app: &Refill, clock: &SimClock) -> anyhow::Result<(usize, bool)> {
    let id = customer(d, "Cobalt Ltd", 6_000).await?;
    auto_top_up_on(d, app, &id, 1_000, 2_000).await;
    let number = json!({"name": "+44 7700 900123", "fee": 5_000, "period": "weekly"});
    let (_, r) = d
        .post(&format!("/v1/accounts/{id}/resources"), number)
        .await?;
    let res = r["id"].as_str().unwrap_or_default().to_string();
    let a = d.get(&format!("/v1/accounts/{id}")).await?;
    println!(
        "   bought {} (first week paid): balance {} GBP",
        r["name"].as_str().unwrap_or(""),
        money(&a["balance"])
    );
    clock.advance(7 * DAY);
    app.periodic_jobs().await?;
    let mut paid = false;
    for _ in 0..4 {
        app.run_until_idle().await?;
        let a = d.get(&format!("/v1/accounts/{id}")).await?;
        let r = resource(d, &id, &res).await?;
        paid = r["periods_paid"] == 2;
        println!(
            "   {} automatic top-up(s); balance {} GBP; renewal {}",
            auto_top_ups(d, &id).await?,
            money(&a["balance"]),
            if paid {
                "paid"
            } else {
                "waiting (asked for a top-up)"
            }
        );
        if paid {
            break;
        }
        clock.advance(30 * MINUTE);
    }
    Ok((auto_top_ups(d, &id).await?, paid))
}

async fn resource(d: &Demo, id: &str, res: &str) -> anyhow::Result<Value> {
    let all = d.get(&format!("/v1/accounts/{id}/resources")).await?;
    let mut found = all["data"].as_array().into_iter().flatten();
    Ok(found.find(|r| r["id"] == res).cloned().unwrap_or_default())
}

async fn pending_story(d: &Demo, app: &Refill, clock: &SimClock) -> anyhow::Result<Vec<String>> {
    let id = customer(d, "Echo Ltd", 1_000).await?;
    let card = json!({"token": "pm_card_pending", "primary": true});
    d.post(&format!("/v1/accounts/{id}/payment-methods"), card)
        .await?;
    let (_, t) = d
        .post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 2_000}),
        )
        .await?;
    println!(
        "   top-up of 20.00 GBP: {}; balance usable at once",
        t["status"].as_str().unwrap_or("")
    );
    clock.advance(3 * DAY);
    app.settle_pending().await?;
    let ev = d
        .get(&format!("/v1/events?account_id={id}&limit=50"))
        .await?;
    let told: Vec<String> = (ev["data"].as_array().into_iter().flatten().rev())
        .filter(|e| e["data"]["top_up_id"] == t["id"])
        .map(|e| e["type"].as_str().unwrap_or("").to_string())
        .collect();
    println!("   the customer heard: {}", told.join(", then "));
    Ok(told)
}
