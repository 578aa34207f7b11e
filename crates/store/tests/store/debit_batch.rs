//! The debit pipeline's batch SQL (R3, R6): its transaction on a held connection and
//! its fast path, each on both stores.

use crate::{accounts, entry_row, open};
use refill_store::testing::stores;
use refill_store::{BalanceChange, StoreError};

/// The pipeline's transaction on a held connection (`open_batch` .. `commit_batch`):
/// with a few accounts (on SQLite the BEGIN and the COMMIT ride in the texts of the read
/// and the write) and with more than one statement takes: every account is read,
/// every entry and every balance lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_a_batch_transaction_lands_whole_in_one_statement_or_several() {
    for store in stores().await {
        let db = &open(&store).await;
        for (round, accounts_n) in [(0, 3usize), (1, 300)] {
            let ids = accounts(db, round, accounts_n).await;
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let entries: Vec<refill_store::EntryRow> =
                ids.iter().map(|id| entry_row(id, -5)).collect();
            let balances: Vec<(&str, i64, bool)> =
                ids.iter().map(|id| (id.as_str(), -5, false)).collect();
            let before = refill_store::count_entries(&db.pool).await.unwrap();
            let mut conn = db.writer_connection().await.unwrap();
            let read = refill_store::open_batch(&mut conn, &refs).await.unwrap();
            assert_eq!(read.len(), accounts_n, "{}: accounts read", store.name);
            refill_store::commit_batch(&mut conn, &entries, &balances, &[])
                .await
                .unwrap();
            drop(conn);
            let added = refill_store::count_entries(&db.pool).await.unwrap() - before;
            assert_eq!(added, accounts_n as i64, "{}: {accounts_n}", store.name);
            for id in [&ids[0], &ids[accounts_n - 1]] {
                let a = refill_store::get_account(&db.pool, id)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    (a.balance, a.low_balance_armed),
                    (-5, false),
                    "{}: {id}",
                    store.name
                );
            }
        }
        db.close().await;
    }
}

/// A batch whose write fails lands nothing: the pipeline closes its connection, which
/// rolls the open transaction back, and the next writer gets a fresh connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_a_failed_batch_transaction_lands_nothing_and_the_writer_recovers() {
    for store in stores().await {
        let db = &open(&store).await;
        let ids = accounts(db, 0, 2).await;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut twice = entry_row(&ids[0], -5);
        twice.id = "ent_twice".into();
        let entries = vec![twice.clone(), twice];
        let balances = vec![(refs[0], -5, false), (refs[1], -5, false)];
        let before = refill_store::count_entries(&db.pool).await.unwrap();
        let mut conn = db.writer_connection().await.unwrap();
        refill_store::open_batch(&mut conn, &refs).await.unwrap();
        let failed = refill_store::commit_batch(&mut conn, &entries, &balances, &[]).await;
        assert!(
            failed.is_err(),
            "{}: a duplicate entry id must fail",
            store.name
        );
        conn.close_on_drop();
        drop(conn);
        let mut tx = db.begin().await.unwrap();
        refill_store::set_balances(&mut tx, &[(refs[1], -7, true)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let balance = |id: String| async move {
            let a = refill_store::get_account(&db.pool, &id).await.unwrap();
            a.unwrap().balance
        };
        assert_eq!(balance(ids[0].clone()).await, 0, "{}", store.name);
        assert_eq!(balance(ids[1].clone()).await, -7, "{}", store.name);
        let after = refill_store::count_entries(&db.pool).await.unwrap();
        assert_eq!(
            after, before,
            "{}: no entry of the failed batch",
            store.name
        );
        db.close().await;
    }
}

/// The fast write is all or nothing: of two accounts, one changed since the pipeline
/// saw it, and neither balance moves, nor any entry lands. PostgreSQL refuses two
/// accounts outright (its checked update would commit the unchanged one alone);
/// SQLite's text fails on the changed one and rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_a_fast_write_with_a_changed_account_writes_nothing() {
    for store in stores().await {
        let db = &open(&store).await;
        let ids = accounts(db, 0, 2).await;
        let read = |id: String| async move {
            refill_store::get_account(&db.pool, &id)
                .await
                .unwrap()
                .unwrap()
        };
        let seen_a = read(ids[0].clone()).await;
        let mut seen_b = read(ids[1].clone()).await;
        seen_b.balance += 1; // what another writer's change looks like to the check
        let changes = [&seen_a, &seen_b].map(|seen| BalanceChange {
            seen,
            balance: seen.balance - 100,
            low_balance_armed: seen.low_balance_armed,
        });
        // Each account's debit of 100 (the revenue side is left out: nothing is kept).
        let entries = [&seen_a, &seen_b].map(|seen| refill_store::EntryRow {
            id: refill_store::new_id("ent"),
            journal_id: "jnl_fast_write_test".into(),
            account_id: seen.id.clone(),
            currency: seen.currency.clone(),
            kind: "usage".into(),
            amount: -100,
            balance_after: Some(seen.balance - 100),
            reference: None,
            created_at: 0,
            items: None,
        });
        let before = refill_store::count_entries(&db.pool).await.unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        let got = refill_store::commit_if_unchanged(&mut conn, &entries, &changes, &[]).await;
        refill_store::abandon_batch(&mut conn).await;
        drop(conn);
        match (store.name, got) {
            ("postgres", Err(StoreError::Unsupported(_))) => {}
            // The changed account's balance set to NULL fails the text.
            ("sqlite", Err(StoreError::Changed(_))) => {}
            (name, other) => panic!("{name}: {other:?}"),
        }
        for id in &ids {
            assert_eq!(read(id.clone()).await.balance, 0, "{}: {id}", store.name);
        }
        let after = refill_store::count_entries(&db.pool).await.unwrap();
        assert_eq!(after, before, "{}: no entry of the fast write", store.name);
        let mismatched = refill_store::balance_mismatches(&db.pool).await.unwrap();
        assert!(mismatched.is_empty(), "{}: {mismatched:?}", store.name);
        db.close().await;
    }
}

fn kept(key: &str) -> refill_store::KeptResponse {
    refill_store::KeptResponse {
        scope: "key_test".into(),
        key: key.into(),
        response: refill_store::StoredResponse {
            request_hash: format!("hash-{key}"),
            status: 201,
            body: format!("{{\"key\":\"{key}\"}}"),
        },
        created_at: 1,
    }
}

/// R25 on the pipeline's locking path: a batch's keys are read in one statement
/// (`taken_keys`) and kept in one multi-row insert with its commit, in one statement
/// or several (300 keys); a key taken since fails the whole write, which lands
/// nothing (the pipeline then answers that request as a replay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r25_a_batch_keeps_its_keys_in_one_insert_and_a_taken_key_fails_it_whole() {
    for store in stores().await {
        let db = &open(&store).await;
        for (round, n) in [(0, 3usize), (1, 300)] {
            let ids = accounts(db, round, 1).await;
            let keys: Vec<String> = (0..n).map(|i| format!("k{round}-{i}")).collect();
            let pairs: Vec<(&str, &str)> = keys.iter().map(|k| ("key_test", k.as_str())).collect();
            let mut conn = db.writer_connection().await.unwrap();
            refill_store::open_batch(&mut conn, &[&ids[0]])
                .await
                .unwrap();
            let taken = refill_store::taken_keys(&mut conn, &pairs).await.unwrap();
            assert!(taken.is_empty(), "{}: {taken:?}", store.name);
            let responses: Vec<_> = keys.iter().map(|k| kept(k)).collect();
            let entries = [entry_row(&ids[0], -5)];
            let balances = [(ids[0].as_str(), -5, false)];
            refill_store::commit_batch(&mut conn, &entries, &balances, &responses)
                .await
                .unwrap();
            let first = &pairs[..1];
            let last = &pairs[n - 1..];
            refill_store::open_batch(&mut conn, &[&ids[0]])
                .await
                .unwrap();
            let mut asked = vec![
                ("key_test", "never-used"),
                ("other_scope", keys[0].as_str()),
            ];
            asked.extend_from_slice(first);
            asked.extend_from_slice(last);
            let taken = refill_store::taken_keys(&mut conn, &asked).await.unwrap();
            let want: std::collections::HashSet<(String, String)> = [first[0], last[0]]
                .iter()
                .map(|(s, k)| (s.to_string(), k.to_string()))
                .collect();
            assert_eq!(taken, want, "{}: {n} keys", store.name);
            let again = [kept("fresh"), kept(&keys[n - 1])];
            let entries = [entry_row(&ids[0], -7)];
            let balances = [(ids[0].as_str(), -12, false)];
            let failed = refill_store::commit_batch(&mut conn, &entries, &balances, &again).await;
            let e = failed.expect_err("a taken key fails the write");
            assert!(e.is_key_taken(), "{}: {e}", store.name);
            conn.close_on_drop();
            drop(conn);
            let stored = refill_store::get_idempotent(&db.pool, "key_test", &keys[n - 1]).await;
            assert_eq!(stored.unwrap(), Some(kept(&keys[n - 1]).response));
            let fresh = refill_store::get_idempotent(&db.pool, "key_test", "fresh").await;
            assert_eq!(
                fresh.unwrap(),
                None,
                "{}: nothing of the failed write",
                store.name
            );
            let a = refill_store::get_account(&db.pool, &ids[0]).await.unwrap();
            assert_eq!(a.unwrap().balance, -5, "{}", store.name);
        }
        db.close().await;
    }
}
