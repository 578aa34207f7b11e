//! The debit pipeline isolates failures (R6): its batches share one transaction, yet a
//! debit whose write the database refuses fails alone, with a 400 `data_refused`, and
//! nothing of it is written; the other debits of its batch, other customers' too,
//! commit. The refused debit is sent to the pipeline itself, as the HTTP edge may
//! refuse it before. PostgreSQL refuses a NUL in a text by itself; SQLite stores one,
//! so on SQLite a trigger the test adds refuses references marked `refused:` instead,
//! a stand-in for any refusal of one request's data by the store.

use crate::checks::{assert_created, assert_problem};
use crate::support::{TestApp, spawn, stores};
use refill_service::debit_pipeline::{DebitItem, DebitPipeline, DebitRequest, DebitResult};
use refill_service::{Idem, ServiceError};
use refill_store::sqlx::Executor;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Makes the store refuse to write an entry whose reference starts with `refused:`
/// (a trigger), on either store.
async fn refuse_marked_references(app: &TestApp) {
    let db = &app.running.app.db;
    let sql = match db.dialect {
        refill_store::Dialect::Sqlite => {
            "CREATE TRIGGER refuse_marked_reference BEFORE INSERT ON entries \
             WHEN NEW.reference LIKE 'refused:%' \
             BEGIN SELECT RAISE(ABORT, 'this reference is refused'); END"
        }
        refill_store::Dialect::Postgres => {
            "CREATE FUNCTION refuse_marked_reference() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.reference LIKE 'refused:%' THEN \
             RAISE EXCEPTION 'this reference is refused' USING ERRCODE = 'check_violation'; \
             END IF; RETURN NEW; END $$; \
             CREATE TRIGGER refuse_marked_reference BEFORE INSERT ON entries \
             FOR EACH ROW EXECUTE FUNCTION refuse_marked_reference()"
        }
    };
    db.pool.execute(sql).await.expect("trigger created");
}

/// A reference the store refuses: with a NUL on PostgreSQL; marked `refused:` on
/// SQLite, whose store is made to refuse it.
async fn poisoned_reference(app: &TestApp) -> String {
    match app.running.app.db.dialect {
        refill_store::Dialect::Postgres => "poisoned\u{0}reference".into(),
        refill_store::Dialect::Sqlite => {
            refuse_marked_references(app).await;
            "refused:poisoned".into()
        }
    }
}

fn debit(account: &str, amount: i64, reference: Option<&str>, key: Option<&str>) -> DebitRequest {
    DebitRequest {
        account_id: account.into(),
        currency: None,
        items: vec![DebitItem {
            amount,
            kind: refill_domain::debit::DebitKind::Usage,
            reference: reference.map(str::to_string),
        }],
        idem: key.map(|k| Idem {
            scope: "isolation-test".into(),
            key: k.into(),
            request_hash: format!("{account}:{amount}:{reference:?}"),
        }),
    }
}

/// R6: refused whole, the balance being too low.
fn below_limit(r: &Result<DebitResult, ServiceError>) -> bool {
    matches!(r, Err(ServiceError::Domain(d)) if d.code() == "insufficient_balance")
}

#[track_caller]
fn assert_data_refused(r: &Result<DebitResult, ServiceError>) {
    match r {
        Err(ServiceError::Invalid { code, .. }) => assert_eq!(*code, "data_refused"),
        other => panic!("expected data_refused, got {other:?}"),
    }
}

/// Waits (10 s at most, else the test fails) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !done() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(waited.is_ok(), "never happened: {what}");
}

/// One batch holds a refused debit among others: the refused one fails alone with
/// `data_refused` and writes nothing (no entry, no kept response); the others commit,
/// a keyed one once (its twin told to replay, R6 idempotency), and the other debits of
/// the refused one's account are checked against the balance without it (R6: of two
/// that together exceed it, one is accepted and one refused whole). The batch forms
/// behind a transaction that holds the accounts, until every debit has queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_debit_the_store_refuses_fails_alone_and_the_rest_of_its_batch_commits() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (good, _) = app.funded("good", "pm_card_visa", 5000).await;
        let (bad, _) = app.funded("bad", "pm_card_visa", 5000).await;
        let poison = poisoned_reference(&app).await;
        let (db, pipeline) = (&app.running.app.db, &app.running.app.debit_pipeline);
        let split_before = pipeline.stats.split.load(Relaxed);
        let mut hold = db.begin().await.unwrap();
        refill_store::lock_accounts(&mut hold, db.dialect, &[&good, &bad])
            .await
            .unwrap();
        let taken = pipeline.stats.requests.load(Relaxed);
        let post = |req: DebitRequest| {
            let pipeline = pipeline.clone();
            tokio::spawn(async move { pipeline.post(req).await })
        };
        // The first debit is taken alone and waits for the accounts; the rest queue.
        let first = post(debit(&good, 1, None, None));
        until("the first debit taken", || {
            pipeline.stats.requests.load(Relaxed) == taken + 1
        })
        .await;
        let batch = [
            debit(&good, 10, Some("g-1"), Some("good-key")),
            debit(&bad, 3000, Some(&poison), Some("poisoned-key")),
            debit(&good, 20, Some("g-2"), None),
            debit(&bad, 3000, Some("b-1"), None),
            debit(&good, 10, Some("g-1"), Some("good-key")),
            debit(&bad, 3000, Some("b-2"), None),
            debit(&good, 40, Some("g-3"), None),
        ];
        let mut answers = vec![];
        for (i, req) in batch.into_iter().enumerate() {
            answers.push(post(req));
            until("the debit queued", || pipeline.queued() == i + 1).await;
        }
        hold.rollback().await.unwrap();
        assert!(first.await.unwrap().is_ok(), "{}", store.name);
        let mut answers = answers_of(answers).await;
        let name = store.name;
        assert_data_refused(&answers.remove(1));
        let [good_keyed, good_20, bad_1, twin, bad_2, good_40] = &answers[..] else {
            unreachable!()
        };
        for ok in [good_keyed, good_20, good_40] {
            assert!(ok.is_ok(), "{name}: {ok:?}");
        }
        assert!(
            matches!(twin, Err(ServiceError::IdempotentReplay)),
            "{name}: the twin replays: {twin:?}"
        );
        assert!(
            bad_1.is_ok() && below_limit(bad_2) || below_limit(bad_1) && bad_2.is_ok(),
            "{name}: one of two 3000 debits of 5000: {bad_1:?} {bad_2:?}"
        );
        // Bounded work: the 7 were halved 3 times (7, then 3, then 2 holding the
        // refused one), so the refused debit was in 1 + log2(7) rounded up = 4 writes.
        let split = pipeline.stats.split.load(Relaxed) - split_before;
        assert_eq!(split, 3, "{name}: writes split");
        assert_eq!(app.balance(&good).await, 5000 - 1 - 10 - 20 - 40, "{name}");
        assert_eq!(
            app.balance(&bad).await,
            2000,
            "{name}: the refused debit wrote nothing"
        );
        let references = crate::fixtures::entries(&app, &bad).await;
        let references: Vec<&str> = (references.iter())
            .filter_map(|e| e["reference"].as_str())
            .collect();
        assert!(
            !references.iter().any(|r| r.contains("poisoned")),
            "{name}: {references:?}"
        );
        let kept = refill_store::get_idempotent(&db.pool, "isolation-test", "poisoned-key")
            .await
            .unwrap();
        assert!(kept.is_none(), "{name}: the refused debit's response kept");
        app.assert_ledger_ok().await;
    }
}

async fn answers_of(
    answers: Vec<tokio::task::JoinHandle<Result<DebitResult, ServiceError>>>,
) -> Vec<Result<DebitResult, ServiceError>> {
    let mut out = vec![];
    for a in answers {
        out.push(a.await.expect("the debit task ran"));
    }
    out
}

/// Over HTTP: a debit whose data the store refuses is a 400 `data_refused` (not a
/// 500), writes nothing and keeps no response under its key (sent again, it is tried
/// again); a debit that follows it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_debit_the_store_refuses_is_a_400_and_writes_nothing() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        refuse_marked_references(&app).await;
        let path = format!("/v1/accounts/{a}/debits");
        let entries_before = crate::fixtures::entries(&app, &a).await.len();
        let refused = json!({"amount": 100, "reference": "refused:1"});
        for _ in 0..2 {
            let r = app.post_idem(&path, refused.clone(), "refused-key").await;
            assert_problem(&r, 400, "data_refused");
        }
        assert_eq!(app.balance(&a).await, 5000, "{}", store.name);
        let entries = crate::fixtures::entries(&app, &a).await.len();
        assert_eq!(entries, entries_before, "{}", store.name);
        assert_created(
            &app.post(&path, json!({"amount": 100, "reference": "ok"}))
                .await,
        );
        assert_eq!(app.balance(&a).await, 4900, "{}", store.name);
        app.assert_ledger_ok().await;
    }
}

/// Latencies, sorted, at `q` (0..1).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Load: a tenant keeps sending debits the store refuses, straight to the pipeline,
/// while 64 clients of another tenant send debits over HTTP. The other tenant sees no
/// failure, and every refused debit is told `data_refused`. Prints the good tenant's
/// failures and latency (p50, p99), and how many writes were split.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_tenant_sending_refused_debits_costs_another_tenant_no_failure() {
    const CLIENTS: usize = 64;
    const DEBITS_EACH: usize = 25;
    const POISONERS: usize = 2;
    for store in stores().await {
        let app = Arc::new(spawn(&store).await);
        let (good, _) = app.funded("good", "pm_card_visa", 1_000_000).await;
        let (bad, _) = app.funded("bad", "pm_card_visa", 1_000_000).await;
        let good_key = app.account_key(&good).await;
        let poison = poisoned_reference(&app).await;
        let pipeline: DebitPipeline = app.running.app.debit_pipeline.clone();
        let split_before = pipeline.stats.split.load(Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let poisoners: Vec<_> = (0..POISONERS)
            .map(|_| {
                let (pipeline, bad, poison) = (pipeline.clone(), bad.clone(), poison.clone());
                let (stop, refused) = (stop.clone(), refused.clone());
                tokio::spawn(async move {
                    let mut misanswered = vec![];
                    // Bounded: the good clients end first, well before this.
                    for _ in 0..100_000 {
                        if stop.load(Relaxed) {
                            break;
                        }
                        let r = pipeline.post(debit(&bad, 1, Some(&poison), None)).await;
                        let data_refused = matches!(
                            r,
                            Err(ServiceError::Invalid {
                                code: "data_refused",
                                ..
                            })
                        );
                        refused.fetch_add(1, Relaxed);
                        if !data_refused {
                            misanswered.push(format!("{r:?}"));
                        }
                    }
                    misanswered
                })
            })
            .collect();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (app, good, key) = (app.clone(), good.clone(), good_key.clone());
                tokio::spawn(async move {
                    let path = format!("/v1/accounts/{good}/debits");
                    let (mut latencies, mut failures) = (vec![], vec![]);
                    for i in 0..DEBITS_EACH {
                        let body = json!({"amount": 1, "reference": format!("c{c}-{i}")});
                        let sent = Instant::now();
                        let r = app
                            .send(reqwest::Method::POST, &path, Some(&body), &[], Some(&key))
                            .await;
                        latencies.push(sent.elapsed());
                        if r.status != 201 {
                            failures.push(format!("{} {}", r.status, r.body));
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        let (mut latencies, mut failures) = (vec![], vec![]);
        for c in clients {
            let (l, f) = c.await.expect("a client ran");
            latencies.extend(l);
            failures.extend(f);
        }
        stop.store(true, Relaxed);
        let mut misanswered = vec![];
        for p in poisoners {
            misanswered.extend(p.await.expect("a poisoner ran"));
        }
        latencies.sort();
        let split = pipeline.stats.split.load(Relaxed) - split_before;
        let figures = format!(
            "{}: good tenant: {} debits, {} failures, p50 {:.1} ms, p99 {:.1} ms; \
             refused tenant: {} debits, {} not told data_refused; writes split: {split}",
            store.name,
            latencies.len(),
            failures.len(),
            quantile(&latencies, 0.5).as_secs_f64() * 1e3,
            quantile(&latencies, 0.99).as_secs_f64() * 1e3,
            refused.load(Relaxed),
            misanswered.len(),
        );
        // Past the test harness's capture: the figures show in every run.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{figures}");
        assert!(
            failures.is_empty(),
            "{figures}: {:?}",
            &failures[..3.min(failures.len())]
        );
        assert!(misanswered.is_empty(), "{figures}: {:?}", &misanswered[..1]);
        assert!(split > 0, "{figures}: no refused debit shared a batch");
        let accepted = (CLIENTS * DEBITS_EACH) as i64;
        assert_eq!(
            app.balance(&good).await,
            1_000_000 - accepted,
            "{}",
            store.name
        );
        assert_eq!(app.balance(&bad).await, 1_000_000, "{}", store.name);
        app.assert_ledger_ok().await;
    }
}
