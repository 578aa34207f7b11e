//! The store's own tests, each on a fresh database of every store under test
//! (`refill_store::testing`): SQLite always, PostgreSQL when REFILL_TEST_DATABASE_URL
//! is set.

mod debit_batch;

use refill_store::testing::Store;
use refill_store::{AccountRow, Db, EntryRow};

/// A migrated database on `store`.
async fn open(store: &Store) -> Db {
    let db = Db::connect(&store.url)
        .await
        .unwrap_or_else(|e| panic!("{}: cannot connect: {e}", store.name));
    db.migrate().await.unwrap();
    db
}

/// `accounts` accounts, committed, with a balance of 0 and a credit limit of -100.
async fn accounts(db: &Db, round: usize, accounts: usize) -> Vec<String> {
    let ids: Vec<String> = (0..accounts)
        .map(|i| format!("acct_w{round}_{i}"))
        .collect();
    let rows: Vec<AccountRow> = ids.iter().map(|id| account_row(id)).collect();
    let mut tx = db.begin().await.unwrap();
    refill_store::insert_accounts(&mut tx, &rows).await.unwrap();
    tx.commit().await.unwrap();
    ids
}

fn account_row(id: &str) -> AccountRow {
    AccountRow {
        id: id.into(),
        parent_id: None,
        name: "w".into(),
        currency: "GBP".into(),
        balance: 0,
        credit_limit: -100,
        payer_name: None,
        payer_email: None,
        payer_phone: None,
        payer_country: None,
        flagged: false,
        auto_threshold: None,
        low_balance_threshold: 0,
        low_balance_armed: true,
        closed_at: None,
        created_at: 0,
        crossed_by_spending: false,
    }
}

fn entry_row(account: &str, amount: i64) -> EntryRow {
    EntryRow {
        id: refill_store::new_id("ent"),
        journal_id: refill_store::new_id("jnl"),
        account_id: account.into(),
        currency: "GBP".into(),
        kind: "adjustment".into(),
        amount,
        balance_after: Some(amount),
        reference: None,
        created_at: 0,
        items: None,
    }
}
