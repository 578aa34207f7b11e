//! Recurring-fee resources (R29), the auto top-up their purchase turns on (R17), and
//! scheduled recharges (R30), with the simulated clock.

mod auto_top_up;
mod fees;
mod scheduled_recharges;

use crate::support::*;
use refill_domain::{DAY, HOUR};
use serde_json::Value;

/// An account funded by a card used once (not saved): it holds no saved card, so
/// buying a resource does not turn auto top-up on (R17). Returns (account, that card).
async fn fund_without_card(app: &TestApp, name: &str, balance: i64) -> (String, String) {
    let id = app.account(name).await;
    let pm = app.card_used_once(&id, "pm_card_visa").await;
    if balance > 0 {
        app.manual_top_up_by(&id, &pm, balance).await;
    }
    (id, pm)
}

async fn buy(app: &TestApp, id: &str, body: Value) -> Resp {
    app.post(&format!("/v1/accounts/{id}/resources"), body)
        .await
}

/// A resource bought, its first fee paid: what the purchase answered.
async fn buy_resource(app: &TestApp, id: &str, body: Value) -> Resp {
    let r = buy(app, id, body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r
}

/// A resource removed: its fees stop.
async fn remove_resource(app: &TestApp, id: &str, resource_id: &str) {
    let r = app
        .delete(&format!("/v1/accounts/{id}/resources/{resource_id}"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn resources(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/accounts/{id}/resources")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["data"].as_array().cloned().unwrap_or_default()
}

async fn resource(app: &TestApp, id: &str, resource_id: &str) -> Value {
    resources(app, id)
        .await
        .into_iter()
        .find(|r| r["id"] == resource_id)
        .unwrap_or(Value::Null)
}

/// The account's recurring-fee ledger entries, newest first.
async fn fee_entries(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/accounts/{id}/entries?limit=500"))
        .await;
    r.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["kind"] == "recurring_fee")
        .collect()
}

/// One tick of a node: the periodic jobs (under their lease), then the executor.
async fn tick(app: &TestApp) {
    app.running
        .app
        .periodic_jobs()
        .await
        .expect("periodic jobs ran");
    app.engine().await;
}

/// Moves the simulated clock on by `total`, one tick every `step`.
async fn run_for(app: &TestApp, total: i64, step: i64) {
    let mut done = 0;
    while done < total {
        app.clock.advance(step);
        done += step;
        tick(app).await;
    }
}

/// Unix ms of a UTC date and time.
fn utc(y: i64, m: u32, d: u32, h: i64) -> i64 {
    refill_domain::auto_top_up::days_from_civil(y, m, d) * DAY + h * HOUR
}
