//! Set-up steps and reads shared by the tests. A step sends the request a test needs
//! done, asserts that it was done (its status), and returns what the test goes on
//! with, so that a test reads as a story. A test that checks a refusal sends its
//! request itself and asserts the refusal.

use crate::checks::assert_created;
use crate::support::{Resp, Store, TestApp, enable_auto_top_up, stores};
use reqwest::Method;
use serde_json::{Value, json};

/// Settings without the card verification charge (R14): for tests whose cards a
/// verification would use up, or that count every charge.
pub fn no_verification(s: &mut refill::Settings) {
    s.service.verification_amount = 0;
}

/// The store of a test that needs PostgreSQL, or None when REFILL_TEST_DATABASE_URL
/// is not set: then the test says it was skipped, on stderr itself (the test harness
/// keeps a passing test's `eprintln!` to itself), and passes without running.
pub async fn postgres_or_skip(test: &str) -> Option<Store> {
    let store = stores().await.into_iter().find(|s| s.name == "postgres");
    if store.is_none() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {test} needs PostgreSQL; set REFILL_TEST_DATABASE_URL to run it"
        );
    }
    store
}

impl TestApp {
    /// Sends a request a test needs done and asserts it was: `status`, or the test
    /// fails with the answer.
    async fn step(&self, method: Method, path: &str, body: Option<Value>, status: u16) -> Resp {
        let r = self
            .send(method.clone(), path, body.as_ref(), &[], Some(&self.key))
            .await;
        assert_eq!(
            r.status, status,
            "set-up step {method} {path} answered {}: {}",
            r.status, r.body
        );
        r
    }

    /// A new account, or a sub-account with `parent_id`: its id.
    pub async fn create_account(&self, body: Value) -> String {
        self.step(Method::POST, "/v1/accounts", Some(body), 201)
            .await
            .id()
    }

    /// A new API key of `account` (and its sub-accounts).
    pub async fn account_key(&self, account: &str) -> String {
        let path = format!("/v1/accounts/{account}/keys");
        let r = self.step(Method::POST, &path, Some(json!({})), 201).await;
        r.body["key"].as_str().expect("key").to_string()
    }

    /// Saves the card of gateway `token` (the primary one if it is the first): its id.
    pub async fn save_card(&self, account: &str, token: &str) -> String {
        self.add_card(account, json!({"token": token})).await
    }

    /// Saves the card of `token` as the account's primary card.
    pub async fn save_primary_card(&self, account: &str, token: &str) -> String {
        self.add_card(account, json!({"token": token, "primary": true}))
            .await
    }

    /// Saves the card of `token` beside the primary card, which stays primary.
    pub async fn save_spare_card(&self, account: &str, token: &str) -> String {
        self.add_card(account, json!({"token": token, "primary": false}))
            .await
    }

    /// The card of `token` for payments named by id, not saved.
    pub async fn card_used_once(&self, account: &str, token: &str) -> String {
        self.add_card(account, json!({"token": token, "save": false}))
            .await
    }

    async fn add_card(&self, account: &str, body: Value) -> String {
        let path = format!("/v1/accounts/{account}/payment-methods");
        self.step(Method::POST, &path, Some(body), 201).await.id()
    }

    /// Removes a saved card.
    pub async fn remove_card(&self, account: &str, pm: &str) {
        let path = format!("/v1/accounts/{account}/payment-methods/{pm}");
        self.step(Method::DELETE, &path, None, 200).await;
    }

    /// A manual top-up of `amount` by the primary card: its receipt.
    pub async fn manual_top_up(&self, account: &str, amount: i64) -> Resp {
        self.top_up_with(account, json!({"amount": amount})).await
    }

    /// A manual top-up of `amount` by the card `pm`: its receipt.
    pub async fn manual_top_up_by(&self, account: &str, pm: &str, amount: i64) -> Resp {
        self.top_up_with(account, json!({"amount": amount, "payment_method": pm}))
            .await
    }

    async fn top_up_with(&self, account: &str, body: Value) -> Resp {
        let path = format!("/v1/accounts/{account}/top-ups");
        self.step(Method::POST, &path, Some(body), 201).await
    }

    /// Usage of `amount` debited: the balance after it.
    pub async fn spend(&self, account: &str, amount: i64) -> i64 {
        let r = self.debit(account, amount).await;
        assert_created(&r);
        r.body["balance_after"].as_i64().expect("balance_after")
    }

    /// A fee of `amount` debited (a debit of kind `fee`).
    pub async fn pay_fee(&self, account: &str, amount: i64) {
        let path = format!("/v1/accounts/{account}/debits");
        let body = json!({"amount": amount, "kind": "fee"});
        self.step(Method::POST, &path, Some(body), 201).await;
    }

    /// `amount` of credit moved from `from` to `to`.
    pub async fn transfer(&self, from: &str, to: &str, amount: i64) {
        let body = json!({"from_account": from, "to_account": to, "amount": amount});
        self.step(Method::POST, "/v1/transfers", Some(body), 201)
            .await;
    }

    /// Auto top-up on: below `threshold`, add `amount`, by the primary card, under
    /// `TERMS`. Its settings.
    pub async fn turn_on_auto_top_up(&self, account: &str, threshold: i64, amount: i64) -> Value {
        let r = enable_auto_top_up(self, account, threshold, amount).await;
        assert_eq!(r.status, 200, "auto top-up not turned on: {}", r.body);
        r.body
    }

    /// Auto top-up off, as the customer turns it off.
    pub async fn turn_off_auto_top_up(&self, account: &str) {
        let path = format!("/v1/accounts/{account}/auto-top-up");
        let body = json!({"enabled": false});
        self.step(Method::PUT, &path, Some(body), 200).await;
    }

    /// The account's auto top-up: settings, state, history, and what is in flight.
    pub async fn auto_top_up(&self, account: &str) -> Value {
        let path = format!("/v1/accounts/{account}/auto-top-up");
        self.step(Method::GET, &path, None, 200).await.body
    }

    /// The low-balance notice at `threshold` (R27); 0 turns it off.
    pub async fn set_low_balance_notice(&self, account: &str, threshold: i64) {
        let path = format!("/v1/accounts/{account}/low-balance-notice");
        let body = json!({"threshold": threshold});
        self.step(Method::PUT, &path, Some(body), 200).await;
    }

    /// The channels the account's payer hears each event type on (R26).
    pub async fn set_notification_settings(&self, account: &str, body: Value) {
        let path = format!("/v1/accounts/{account}/notification-settings");
        self.step(Method::PUT, &path, Some(body), 200).await;
    }
}

/// A sub-account of `parent` in GBP.
pub async fn sub_account(app: &TestApp, parent: &str, name: &str) -> String {
    let r = app
        .post(
            "/v1/accounts",
            json!({"name": name, "currency": "GBP", "parent_id": parent,
                "payer": {"name": "Bo", "email": "bo@example.test", "country": "GB"}}),
        )
        .await;
    assert_created(&r);
    r.id()
}

/// All of an account's entries (newest first).
pub async fn entries(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/accounts/{id}/entries?limit=500"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().cloned().expect("entries")
}

/// Balance and number of entries of each account: what "nothing changed" compares.
pub async fn snapshot(app: &TestApp, ids: &[&str]) -> Vec<(i64, usize)> {
    let mut v = vec![];
    for id in ids {
        v.push((app.balance(id).await, entries(app, id).await.len()));
    }
    v
}

/// Every page of GET `path` (which has no query yet), following `starting_after`.
pub async fn all_pages(app: &TestApp, path: &str, limit: usize, key: &str) -> (Vec<String>, usize) {
    let (mut ids, mut pages) = (Vec::<String>::new(), 0);
    loop {
        let mut url = format!("{path}?limit={limit}");
        if let Some(last) = ids.last() {
            url.push_str(&format!("&starting_after={last}"));
        }
        let r = app.send(Method::GET, &url, None, &[], Some(key)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let data = r.body["data"].as_array().expect("data");
        assert!(data.len() <= limit, "a page holds at most limit items");
        ids.extend(data.iter().map(|a| a["id"].as_str().unwrap().to_string()));
        pages += 1;
        assert!(pages < 100, "pagination does not end");
        if !r.body["has_more"].as_bool().expect("has_more") {
            return (ids, pages);
        }
        assert_eq!(data.len(), limit, "has_more with a short page");
    }
}

/// A request with a raw body (malformed JSON, oversized bodies).
pub async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Vec<u8>,
    key: Option<&str>,
) -> Resp {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    }
}
