//! A property model of the API (R3, R6): random sequences of debits, batches,
//! top-ups, transfers and replays against a model of two balances.

use crate::support::{Store, TestApp, spawn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub enum Op {
    Debit { sub: bool, amount: i64 },
    Batch { sub: bool, amounts: Vec<i64> },
    TopUp { sub: bool, amount: i64 },
    Transfer { to_sub: bool, amount: i64 },
    Replay { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 1i64..3_000).prop_map(|(sub, amount)| Op::Debit { sub, amount }),
        2 => (any::<bool>(), proptest::collection::vec(1i64..1_500, 1..5))
            .prop_map(|(sub, amounts)| Op::Batch { sub, amounts }),
        2 => (any::<bool>(), 1_000i64..4_000).prop_map(|(sub, amount)| Op::TopUp { sub, amount }),
        2 => (any::<bool>(), 1i64..4_000).prop_map(|(to_sub, amount)| Op::Transfer { to_sub, amount }),
        3 => (0usize..1_000).prop_map(|pick| Op::Replay { pick }),
    ]
}

/// A request sent with an Idempotency-Key, and what it answered.
struct Sent {
    path: String,
    body: Value,
    key: String,
    status: u16,
    answer: Value,
    /// The balance change it made, per account (main, sub), when accepted.
    delta: [i64; 2],
}

const LIMITS: [i64; 2] = [0, -1_000];

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = Store::sqlite();
    let result = run_on(&store, ops).await;
    if result.is_err() {
        // A failed case returns rather than panics: its files are kept by hand.
        std::mem::forget(store);
    }
    result
}

async fn run_on(store: &Store, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let app = spawn(store).await;
    let main = app.account("main").await;
    let r = app
        .post(
            "/v1/accounts",
            json!({"name": "sub", "currency": "GBP", "parent_id": main, "credit_limit": LIMITS[1]}),
        )
        .await;
    prop_assert_eq!(r.status, 201);
    let ids = [main, r.id()];
    for id in &ids {
        let r = app
            .post(
                &format!("/v1/accounts/{id}/payment-methods"),
                json!({"token": "pm_card_visa"}),
            )
            .await;
        prop_assert_eq!(r.status, 201);
    }
    let mut model = [0i64; 2];
    let mut sent: Vec<Sent> = vec![];
    for (step, op) in ops.into_iter().enumerate() {
        let key = format!("op-{step}");
        let charges = app.sandbox.charges().len();
        let fits = |i: usize, amount: i64, m: &[i64; 2]| m[i] - amount >= LIMITS[i];
        let (path, body, accepted, delta) = match op {
            Op::Debit { sub, amount } => {
                let i = usize::from(sub);
                let ok = fits(i, amount, &model);
                let mut d = [0; 2];
                d[i] = -amount;
                (
                    format!("/v1/accounts/{}/debits", ids[i]),
                    json!({"amount": amount}),
                    ok,
                    d,
                )
            }
            Op::Batch { sub, amounts } => {
                let i = usize::from(sub);
                let total: i64 = amounts.iter().sum();
                let mut d = [0; 2];
                d[i] = -total;
                let items: Vec<Value> = amounts.iter().map(|a| json!({"amount": a})).collect();
                (
                    format!("/v1/accounts/{}/debits/batch", ids[i]),
                    json!({"items": items}),
                    fits(i, total, &model),
                    d,
                )
            }
            Op::TopUp { sub, amount } => {
                let i = usize::from(sub);
                let mut d = [0; 2];
                d[i] = amount;
                (
                    format!("/v1/accounts/{}/top-ups", ids[i]),
                    json!({"amount": amount}),
                    true,
                    d,
                )
            }
            Op::Transfer { to_sub, amount } => {
                let (from, to) = if to_sub { (0, 1) } else { (1, 0) };
                let mut d = [0; 2];
                (d[from], d[to]) = (-amount, amount);
                let body =
                    json!({"from_account": ids[from], "to_account": ids[to], "amount": amount});
                (
                    "/v1/transfers".to_string(),
                    body,
                    fits(from, amount, &model),
                    d,
                )
            }
            Op::Replay { pick } => {
                if sent.is_empty() {
                    continue;
                }
                let n = pick % sent.len();
                let s = &sent[n];
                let r = app.post_idem(&s.path, s.body.clone(), &s.key).await;
                if s.status == 201 {
                    // A replay of an accepted request: the same answer, nothing changed.
                    prop_assert_eq!(r.status, 201, "replay of {}: {}", s.path, r.body);
                    prop_assert_eq!(&r.body, &s.answer);
                    prop_assert!(r.headers.get("idempotent-replayed").is_some());
                    prop_assert_eq!(app.sandbox.charges().len(), charges, "a replay charged");
                } else if r.status == 201 {
                    // A refused request is not remembered: its replay is a new attempt,
                    // accepted only if it fits now.
                    let d = s.delta;
                    let fits_now = (0..2).all(|i| d[i] >= 0 || model[i] + d[i] >= LIMITS[i]);
                    prop_assert!(fits_now, "a replay was accepted over the limit: {}", r.body);
                    for (m, d) in model.iter_mut().zip(d) {
                        *m += d;
                    }
                    let s = &mut sent[n];
                    (s.status, s.answer) = (201, r.body.clone());
                } else {
                    prop_assert_eq!(r.status, s.status, "{}", r.body);
                }
                // The replay of an accepted request left the model as it was, so
                // this also checks that the balances did not move.
                check(&app, &ids, &model).await?;
                continue;
            }
        };
        let r = app.post_idem(&path, body.clone(), &key).await;
        if accepted {
            prop_assert_eq!(r.status, 201, "{} {}: {}", path, body, r.body);
            for (m, d) in model.iter_mut().zip(delta) {
                *m += d;
            }
        } else {
            prop_assert_eq!(r.status, 402, "{} {}: {}", path, body, r.body);
            prop_assert_eq!(r.code(), "insufficient_balance");
        }
        sent.push(Sent {
            path,
            body,
            key,
            status: r.status,
            answer: r.body,
            delta,
        });
        check(&app, &ids, &model).await?;
    }
    let TestApp { running, .. } = app;
    running.stop();
    Ok(())
}

/// After every step: the balances are the model's, none below its limit, and the
/// ledger holds (every balance is the sum of its entries).
async fn check(app: &TestApp, ids: &[String; 2], model: &[i64; 2]) -> Result<(), TestCaseError> {
    for ((id, expected), limit) in ids.iter().zip(model).zip(LIMITS) {
        let balance = app.balance(id).await;
        prop_assert_eq!(balance, *expected, "balance of {}", id);
        prop_assert!(balance >= limit, "{} below its limit", id);
    }
    app.assert_ledger_ok().await;
    Ok(())
}

#[test]
fn r6_r3_random_operations_keep_the_ledger_and_replays_change_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(op(), 15);
    let result = runner.run(&strategy, |ops| rt.block_on(run(ops)));
    if let Err(e) = result {
        panic!("{e}");
    }
}
