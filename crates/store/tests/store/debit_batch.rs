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
            refill_store::commit_batch(&mut conn, &entries, &balances)
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
        let failed = refill_store::commit_batch(&mut conn, &entries, &balances).await;
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
