//! The service's use cases driven without HTTP: the same functions the API, the CLI
//! and the workers call, on a fresh database of every store under test
//! (`refill_store::testing`: SQLite always, PostgreSQL when REFILL_TEST_DATABASE_URL is
//! set), with a simulated clock and the sandbox card network.

use refill_domain::debit::DebitKind;
use refill_gateway::sandbox::Sandbox;
use refill_service::accounts::Caller;
use refill_service::debit_pipeline::{DebitItem, DebitRequest};
use refill_service::{Clock, Config, Idem, Refill, ServiceError, SimClock};
use refill_store::Db;
use refill_store::testing::{Store, stores};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// 2026-11-21T12:00:00Z.
const T0: i64 = 1_795_262_400_000;

/// The service on `store`, its clock and its sandbox.
struct Service {
    app: Refill,
    sandbox: Sandbox,
    operator: Caller,
    /// Last: the database goes with it.
    _store: Store,
}

async fn service(store: &Store) -> Service {
    let db = Db::connect(&store.url)
        .await
        .unwrap_or_else(|e| panic!("{}: cannot connect: {e}", store.name));
    db.migrate().await.expect("migrated");
    let clock = SimClock::at(T0);
    let c = clock.clone();
    let sandbox = Sandbox::in_memory(Arc::new(move || c.now_ms()));
    // No card verification charge (R14): the tests count every charge.
    let config = Config {
        verification_amount: 0,
        ..Config::default()
    };
    let app = Refill::new(db, Arc::new(sandbox.clone()), Arc::new(clock), config);
    Service {
        app,
        sandbox,
        operator: Caller::Operator {
            key_id: "key_operator".into(),
        },
        _store: store.clone(),
    }
}

/// A request as its JSON reads (the service's request types are the API's bodies).
fn req<T: DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body).expect("a request of the service")
}

fn json_of(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("a view serializes")
}

fn idem(key: &str) -> Idem {
    Idem {
        scope: "use-cases".into(),
        key: key.into(),
        request_hash: key.into(),
    }
}

impl Service {
    /// An account in GBP with a payer (or, with `parent`, a sub-account).
    async fn account(&self, name: &str, parent: Option<&str>) -> String {
        let body = json!({"name": name, "currency": "GBP", "parent_id": parent,
            "payer": {"name": "Ada", "email": "ada@example.test", "country": "GB"}});
        let view = self
            .app
            .create_account(&self.operator, req(body), None)
            .await;
        view.expect("account created").id
    }

    /// The card of `token`, saved as the account's primary card.
    async fn card(&self, account: &str, token: &str) -> String {
        let body = req(json!({"token": token, "primary": true}));
        let pm = self
            .app
            .add_payment_method(&self.operator, account, body, None);
        pm.await.expect("card saved").id
    }

    async fn top_up(&self, account: &str, amount: i64, key: &str) -> Value {
        let body = req(json!({"amount": amount}));
        let idem = idem(key);
        let t = self.app.top_up(&self.operator, account, body, Some(&idem));
        json_of(t.await.expect("top-up answered"))
    }

    async fn debit(&self, account: &str, amount: i64) -> refill_service::Result<i64> {
        let item = DebitItem {
            amount,
            kind: DebitKind::Usage,
            reference: None,
        };
        let r = DebitRequest {
            account_id: account.into(),
            currency: None,
            items: vec![item],
            idem: None,
        };
        let done = self.app.debit_pipeline.post(r).await?;
        Ok(done.balance_after)
    }

    async fn balance(&self, account: &str) -> i64 {
        let a = self.app.account(&self.operator, account).await;
        a.expect("account read").balance
    }

    /// The account's top-ups, newest first.
    async fn top_ups(&self, account: &str) -> Vec<Value> {
        let page = self.app.list_top_ups(&self.operator, account, None, 100);
        json_of(page.await.expect("top-ups listed"))["data"]
            .as_array()
            .cloned()
            .expect("data")
    }
}

/// The refusal's stable code (a domain rule's, or the service's own).
fn code(e: ServiceError) -> String {
    match e {
        ServiceError::Domain(d) => d.code().to_string(),
        ServiceError::Invalid { code, .. } | ServiceError::Conflict { code, .. } => code.into(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_r10_a_manual_top_up_charges_once_and_credits_the_amount() {
    for store in stores().await {
        let s = service(&store).await;
        let a = s.account("acme", None).await;
        s.card(&a, "pm_card_visa").await;
        let t = s.top_up(&a, 2_000, "t-1").await;
        assert_eq!(t["status"], "succeeded", "{}: {t}", store.name);
        assert_eq!(t["amount"], 2_000);
        assert_eq!(s.balance(&a).await, 2_000, "{}", store.name);
        // R10: a replay of its idempotency key is the same top-up, not a new charge.
        let again = s.top_up(&a, 2_000, "t-1").await;
        assert_eq!(again["id"], t["id"]);
        assert_eq!(s.sandbox.charges().len(), 1, "{}", store.name);
        assert_eq!(s.balance(&a).await, 2_000);
        // R8: below the minimum, refused before any charge.
        let small = req(json!({"amount": 999}));
        let r = s.app.top_up(&s.operator, &a, small, None).await;
        assert_eq!(code(r.expect_err("refused")), "amount_below_minimum");
        assert_eq!(s.sandbox.charges().len(), 1, "{}", store.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_debit_through_the_pipeline_is_refused_whole_below_the_limit() {
    for store in stores().await {
        let s = service(&store).await;
        let a = s.account("acme", None).await;
        s.card(&a, "pm_card_visa").await;
        s.top_up(&a, 5_000, "t-1").await;
        assert_eq!(s.debit(&a, 1_200).await.expect("debited"), 3_800);
        let refused = s.debit(&a, 3_801).await.expect_err("below the limit");
        assert_eq!(code(refused), "insufficient_balance", "{}", store.name);
        assert_eq!(
            s.balance(&a).await,
            3_800,
            "{}: nothing written",
            store.name
        );
        let entries = s.app.entries(&s.operator, &a, None, 100).await.unwrap();
        let amounts: Vec<i64> = entries.data.iter().map(|e| e.amount).collect();
        assert_eq!(amounts, [-1_200, 5_000], "{}", store.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r13_r19_spending_below_the_threshold_queues_an_auto_top_up_the_executor_charges() {
    for store in stores().await {
        let s = service(&store).await;
        let a = s.account("acme", None).await;
        s.card(&a, "pm_card_visa").await;
        s.top_up(&a, 3_000, "t-1").await;
        let on = req(json!({"enabled": true, "threshold": 1_000, "amount": 2_000,
            "terms_version": "2026-01"}));
        let settings = s.app.put_auto_top_up(&s.operator, &a, on, None).await;
        assert_eq!(json_of(settings.expect("turned on"))["state"], "active");
        // Above the threshold: nothing queued.
        s.debit(&a, 1_500).await.expect("debited");
        assert_eq!(s.app.run_until_idle().await.unwrap(), 0, "{}", store.name);
        // Below it: the debit queues an automatic top-up, the executor charges it.
        assert_eq!(s.debit(&a, 600).await.expect("debited"), 900);
        let queued = s.top_ups(&a).await;
        assert_eq!(queued[0]["origin"], "auto", "{}: {queued:?}", store.name);
        assert!(s.app.run_until_idle().await.unwrap() > 0, "{}", store.name);
        let done = &s.top_ups(&a).await[0];
        assert_eq!(done["status"], "succeeded", "{}: {done}", store.name);
        assert_eq!(s.balance(&a).await, 2_900, "{}", store.name);
        assert_eq!(
            s.sandbox.charges().len(),
            2,
            "the manual and the automatic one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_a_transfer_moves_credit_to_a_sub_account_and_never_triggers() {
    for store in stores().await {
        let s = service(&store).await;
        let main = s.account("main", None).await;
        let sub = s.account("sub", Some(&main)).await;
        s.card(&main, "pm_card_visa").await;
        s.top_up(&main, 3_000, "t-1").await;
        let on = req(json!({"enabled": true, "threshold": 2_500, "amount": 3_000,
            "terms_version": "2026-01"}));
        s.app
            .put_auto_top_up(&s.operator, &main, on, None)
            .await
            .unwrap();
        let body = req(json!({"from_account": main, "to_account": sub, "amount": 1_000}));
        let t = s.app.transfer(&s.operator, body, None).await;
        assert_eq!(t.expect("transferred").amount, 1_000);
        assert_eq!(
            (s.balance(&main).await, s.balance(&sub).await),
            (2_000, 1_000)
        );
        // Below the main account's threshold, yet nothing is queued (R18).
        assert_eq!(s.app.run_until_idle().await.unwrap(), 0, "{}", store.name);
        assert_eq!(s.top_ups(&main).await.len(), 1, "{}", store.name);
        // R6: more than the sender holds is refused whole.
        let body = req(json!({"from_account": sub, "to_account": main, "amount": 1_001}));
        let r = s.app.transfer(&s.operator, body, None).await;
        assert_eq!(code(r.expect_err("refused")), "insufficient_balance");
        assert_eq!(
            (s.balance(&main).await, s.balance(&sub).await),
            (2_000, 1_000)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_a_refund_asked_then_approved_reverses_its_credit() {
    for store in stores().await {
        let s = service(&store).await;
        let a = s.account("acme", None).await;
        s.card(&a, "pm_card_visa").await;
        let t = s.top_up(&a, 5_000, "t-1").await;
        let top_up = t["id"].as_str().unwrap();
        let ask = req(json!({"amount": 2_000, "reason": "bought too much"}));
        let asked = s.app.request_refund(&s.operator, top_up, ask, None).await;
        let refund = json_of(asked.expect("asked"));
        assert_eq!(refund["status"], "requested", "{}: {refund}", store.name);
        assert_eq!(
            s.balance(&a).await,
            5_000,
            "nothing reversed before approval"
        );
        // An account key may ask, not decide.
        let key = Caller::Account {
            key_id: "key_acme".into(),
            account_id: a.clone(),
        };
        let id = refund["id"].as_str().unwrap();
        let r = s.app.approve_refund(&key, id, req(json!({})), None).await;
        assert_eq!(s.balance(&a).await, 5_000, "{}: {r:?}", store.name);
        assert!(r.is_err(), "{}", store.name);
        let approved = s.app.approve_refund(&s.operator, id, req(json!({})), None);
        let approved = json_of(approved.await.expect("approved"));
        assert_ne!(
            approved["status"], "requested",
            "{}: {approved}",
            store.name
        );
        assert_eq!(s.balance(&a).await, 3_000, "{}", store.name);
    }
}
