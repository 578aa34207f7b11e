//! The debit pipeline (R6): its fast path sees what other writers changed, keyed
//! debits apply once, it gives its connection back and lets other writers in, and a
//! database out of reach is told as such.

use crate::checks::{assert_created, assert_problem, twins_answered_once};
use crate::fixtures::sub_account;
use crate::support::{Resp, TestApp, spawn, stores};
use serde_json::json;

/// The pipeline's fast-path batches so far: (written, failed and redone).
fn fast_path(app: &TestApp) -> (u64, u64) {
    let stats = &app.running.app.debit_pipeline.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::SeqCst);
    (load(&stats.unread), load(&stats.stale))
}

/// The fast path: the pipeline writes a debit without reading its account again
/// when it saw the account in an earlier batch, but only if no other writer changed it
/// since. A transfer (the balance) and turning auto top-up on (the threshold) are such
/// changes: the next debit goes down the locking path and sees them (R6, R18).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_debit_sees_what_other_writers_changed_since_the_last_debit() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 5000).await;
        let sub = sub_account(&app, &main, "sub").await;
        let transfer = |amount: i64| {
            app.post(
                "/v1/transfers",
                json!({"from_account": main, "to_account": sub, "amount": amount}),
            )
        };
        let went_stale = |before: u64, what: &str| {
            assert_eq!(fast_path(&app).1, before + 1, "{}: {what}", store.name);
        };
        let balance_after = |r: Resp| {
            assert_created(&r);
            r.body["balance_after"].as_i64().unwrap()
        };
        assert_created(&transfer(1000).await);
        assert_eq!(balance_after(app.debit(&sub, 100).await), 900);
        let fast = fast_path(&app).0;
        assert_eq!(balance_after(app.debit(&sub, 100).await), 800);
        assert_eq!(fast_path(&app).0, fast + 1, "{}: fast path", store.name);

        let stale = fast_path(&app).1;
        assert_created(&transfer(500).await);
        assert_eq!(balance_after(app.debit(&sub, 100).await), 1200);
        went_stale(stale, "the change seen");
        assert_eq!(balance_after(app.debit(&sub, 100).await), 1100);
        assert_eq!(balance_after(app.debit(&sub, 1100).await), 0);
        // What the lane saw (0) would refuse this debit; the balance it meets would not.
        assert_created(&transfer(300).await);
        assert_eq!(balance_after(app.debit(&sub, 200).await), 100);

        // main: 5000 - 1800 transferred = 3200; seen by two debits, then a threshold.
        assert_eq!(balance_after(app.debit(&main, 100).await), 3100);
        assert_eq!(balance_after(app.debit(&main, 100).await), 3000);
        app.turn_on_auto_top_up(&main, 1000, 2000).await;
        let (charges, stale) = (app.sandbox.charges().len(), fast_path(&app).1);
        assert_eq!(balance_after(app.debit(&main, 2100).await), 900);
        went_stale(stale, "threshold seen");
        app.engine().await;
        assert_eq!(app.sandbox.charges().len(), charges + 1, "{}", store.name);
        assert_eq!(app.balance(&main).await, 2900, "{}", store.name);
        app.assert_ledger_ok().await;
    }
}

/// The pipeline may keep its connection between batches (PostgreSQL), but
/// lets it go once idle, so that closing the store does not wait for it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_an_idle_pipeline_gives_its_connection_back() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        for _ in 0..3 {
            let r = app
                .post(&format!("/v1/accounts/{a}/debits"), json!({"amount": 1}))
                .await;
            assert_created(&r);
        }
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            app.running.app.db.close(),
        )
        .await;
        assert!(closed.is_ok(), "{}: the store never closed", store.name);
    }
}

/// A debit the pipeline cannot write because the database is out of reach is told
/// as that (503 `database_unavailable`: try again), not as a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_debit_with_the_database_out_of_reach_is_a_503() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        // Read once: the key and the account are then known without the database.
        assert_created(&app.debit(&a, 1).await);
        app.running.app.db.close().await;
        let r = app.debit(&a, 1).await;
        assert_problem(&r, 503, "database_unavailable");
    }
}

/// The fast path keeps idempotent responses too: a keyed debit of an account
/// the pipeline has seen is written with its key in one round trip; a replay answers
/// the stored response; twins sent at once apply once (a batch that holds two of them
/// fails its fast write on the second key and is done again on the locking path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_keyed_debits_take_the_fast_path_and_still_apply_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 5000).await;
        let path = format!("/v1/accounts/{a}/debits");
        assert_created(&app.post_idem(&path, json!({"amount": 100}), "k1").await);
        let fast = fast_path(&app).0;
        let first = app.post_idem(&path, json!({"amount": 200}), "k2").await;
        assert_created(&first);
        assert_eq!(fast_path(&app).0, fast + 1, "{}: fast path", store.name);
        let again = app.post_idem(&path, json!({"amount": 200}), "k2").await;
        assert_eq!(again.status, 201, "{}", again.body);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.body, first.body);
        assert_eq!(app.balance(&a).await, 4700, "{}", store.name);

        let twin = || app.post_idem(&path, json!({"amount": 300}), "twin");
        let (r1, r2, r3, r4, r5, r6) = tokio::join!(twin(), twin(), twin(), twin(), twin(), twin());
        twins_answered_once(&[&r1, &r2, &r3, &r4, &r5, &r6]);
        assert_eq!(app.balance(&a).await, 4400, "{}: debited once", store.name);
        app.assert_ledger_ok().await;
    }
}

/// R6 with the debit pipeline holding the writer's connection between batches: while
/// a stream of debits keeps the pipeline busy, other writes (new accounts) still get
/// the database, and the balance is the funding less every accepted debit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_other_writers_get_their_turn_during_a_stream_of_debits() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    for store in stores().await {
        let app = Arc::new(spawn(&store).await);
        let (hot, _) = app.funded("hot", "pm_card_visa", 1_000_000).await;
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Vec<_> = (0..16)
            .map(|_| {
                let (app, hot, stop) = (app.clone(), hot.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut accepted = 0i64;
                    while !stop.load(Relaxed) {
                        let r = app.debit(&hot, 1).await;
                        assert_eq!(r.status, 201, "{:?}", r.body);
                        accepted += 1;
                    }
                    accepted
                })
            })
            .collect();
        let stats = &app.running.app.debit_pipeline.stats;
        let before = stats.requests.load(Relaxed);
        let others = async {
            for i in 0..5 {
                app.account(&format!("other {i}")).await;
            }
        };
        // A bound so that starvation fails the test instead of hanging it.
        tokio::time::timeout(std::time::Duration::from_secs(60), others)
            .await
            .expect("other writers never got the database during the debit stream");
        let during = stats.requests.load(Relaxed) - before;
        stop.store(true, Relaxed);
        let mut accepted = 0;
        for s in streams {
            accepted += s.await.expect("debit stream");
        }
        assert!(during > 0, "the debit stream ran while the others wrote");
        assert_eq!(app.balance(&hot).await, 1_000_000 - accepted);
        app.assert_ledger_ok().await;
    }
}

/// Reads of one account are shared by the requests that want it at once, yet a
/// client that was answered a debit reads its effect: while other clients keep
/// reading the account, each debit's client reads the balance its answer gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_a_debit_answered_is_seen_by_its_clients_next_read_among_many_readers() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 100_000).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let req = (app.http)
                .get(format!("{}/v1/accounts/{a}", app.base))
                .bearer_auth(&app.key);
            let stop = stop.clone();
            readers.spawn(async move {
                let mut reads = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = req.try_clone().expect("a GET clones").send().await;
                    assert_eq!(r.map(|r| r.status().as_u16()).ok(), Some(200));
                    reads += 1;
                }
                reads
            });
        }
        for i in 0..40 {
            let debit = app.debit(&a, 1 + i).await;
            assert_eq!(debit.status, 201, "{}", debit.body);
            let read = app.get(&format!("/v1/accounts/{a}")).await;
            assert_eq!(
                read.body["balance"], debit.body["balance_after"],
                "{}: debit {i}",
                store.name
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads: u32 = readers.join_all().await.into_iter().sum();
        assert!(reads > 0, "{}: the other readers read", store.name);
    }
}
