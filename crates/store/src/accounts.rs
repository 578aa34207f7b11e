//! The `accounts` table: balances, payers, and what a debit reads (R2, R4, R6, R27);
//! an account's changes (name, payer) and its closing (R4, R5).

use crate::many_rows::{MAX_ROWS, insert_many, placeholders, statement};
use crate::row::{self, TableRow};
use crate::{Dialect, Result, Tx};
use sqlx::{Any, AssertSqlSafe, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AccountRow in "accounts" {
        pub id: String,
        pub parent_id: Option<String>,
        pub name: String,
        pub currency: String,
        pub balance: i64,
        pub credit_limit: i64,
        pub payer_name: Option<String>,
        pub payer_email: Option<String>,
        pub payer_phone: Option<String>,
        pub payer_country: Option<String>,
        pub flagged: bool,
        pub auto_threshold: Option<i64>,
        pub low_balance_threshold: i64,
        pub low_balance_armed: bool,
        pub created_at: i64,
        /// R4: when it was closed (None: open). A debit reads it.
        pub closed_at: Option<i64>,
        /// R18, R22: spending took the balance to or below the auto top-up threshold
        /// and no credit has lifted it above since: the periodic check may top it up.
        pub crossed_by_spending: bool,
    }
}

pub async fn insert_account(tx: &mut Tx, a: &AccountRow) -> Result<()> {
    row::insert(tx, a, "").await?;
    Ok(())
}

/// Inserts many accounts (the benchmark's scale check loads a million this way).
pub async fn insert_accounts(tx: &mut Tx, rows: &[AccountRow]) -> Result<()> {
    insert_many(tx, "insert_accounts", rows, "").await?;
    Ok(())
}

pub async fn get_account<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<AccountRow>> {
    row::one(e, "WHERE id = $1", id).await
}

/// Reads accounts for update, in id order (a fixed lock order: no deadlocks).
pub async fn lock_accounts(tx: &mut Tx, dialect: Dialect, ids: &[&str]) -> Result<Vec<AccountRow>> {
    read_accounts_for_update(tx, dialect, ids, "").await
}

pub async fn lock_account(tx: &mut Tx, dialect: Dialect, id: &str) -> Result<Option<AccountRow>> {
    Ok(lock_accounts(tx, dialect, &[id]).await?.pop())
}

/// `lock_accounts`, the first statement's text led by `lead` (SQLite: the BEGIN of
/// the debit pipeline's transaction, see `debit_batch::open_batch`).
pub(crate) async fn read_accounts_for_update(
    tx: &mut Tx,
    dialect: Dialect,
    ids: &[&str],
    mut lead: &'static str,
) -> Result<Vec<AccountRow>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_ROWS) {
        // The list is padded to a power of two (repeating the last id changes
        // nothing), so that a few statement shapes serve every batch.
        let width = chunk.len().next_power_of_two();
        let sql = statement(lead_shape(lead), dialect, width, || {
            format!(
                "{lead}SELECT {} FROM accounts WHERE id IN {} ORDER BY id{}",
                AccountRow::COLUMNS,
                placeholders(dialect, 1, width),
                dialect.for_update()
            )
        });
        lead = "";
        let mut q = sqlx::query(sql);
        for i in 0..width {
            q = q.bind(chunk[i.min(chunk.len() - 1)]);
        }
        for row in q.fetch_all(&mut *tx).await? {
            rows.push(AccountRow::from_row(&row)?);
        }
    }
    Ok(rows)
}

/// The statement cache's name of an account read with or without a lead.
fn lead_shape(lead: &str) -> &'static str {
    if lead.is_empty() {
        "lock_accounts"
    } else {
        "open_and_lock_accounts"
    }
}

/// Accounts visible to a caller: all (operator) or one account and its sub-accounts.
pub async fn list_accounts<'e, E: Executor<'e, Database = Any>>(
    e: E,
    root: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<AccountRow>> {
    row::many(
        e,
        "WHERE ($1 = '' OR id = $1 OR parent_id = $1) AND id > $2 ORDER BY id LIMIT $3",
        |q| {
            q.bind(root.unwrap_or(""))
                .bind(starting_after.unwrap_or(""))
                .bind(limit)
        },
    )
    .await
}

/// The new balance of an account and its low-balance notice state (R27).
pub async fn set_balance(
    tx: &mut Tx,
    id: &str,
    balance: i64,
    low_balance_armed: bool,
) -> Result<()> {
    sqlx::query("UPDATE accounts SET balance = $1, low_balance_armed = $2 WHERE id = $3")
        .bind(balance)
        .bind(low_balance_armed as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn set_flagged(tx: &mut Tx, id: &str, flagged: bool) -> Result<()> {
    sqlx::query("UPDATE accounts SET flagged = $1 WHERE id = $2")
        .bind(flagged as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Mirrors the auto top-up threshold on the account row while it is active. A new
/// threshold (or none) starts without a spending crossing (R22).
pub async fn set_auto_threshold(tx: &mut Tx, id: &str, threshold: Option<i64>) -> Result<()> {
    let same = crate::many_rows::dialect_of(tx).is_not_distinct();
    let sql = format!(
        "UPDATE accounts SET crossed_by_spending = CASE WHEN auto_threshold {same} $1 \
         THEN crossed_by_spending ELSE 0 END, auto_threshold = $1 WHERE id = $2"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(threshold)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// R18, R22: notes whether spending has taken the balance to or below the auto
/// top-up threshold with no credit lifting it above since.
pub async fn set_crossed_by_spending(tx: &mut Tx, id: &str, crossed: bool) -> Result<()> {
    sqlx::query("UPDATE accounts SET crossed_by_spending = $1 WHERE id = $2")
        .bind(crossed as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn set_low_balance_threshold(
    tx: &mut Tx,
    id: &str,
    threshold: i64,
    armed: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET low_balance_threshold = $1, low_balance_armed = $2 WHERE id = $3",
    )
    .bind(threshold)
    .bind(armed as i64)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// R22: an account the periodic check found at or below its auto top-up threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueAccount {
    pub id: String,
    pub currency: String,
    pub balance: i64,
    pub auto_threshold: Option<i64>,
    pub crossed_by_spending: bool,
}

/// R22: active accounts at or below their threshold because of spending, with no
/// top-up in flight, found by the `accounts_due` index (the selection of the domain's
/// `due_at_check`).
pub async fn accounts_due_with_currency<'e, E: Executor<'e, Database = Any>>(
    e: E,
    limit: i64,
) -> Result<Vec<DueAccount>> {
    let rows: Vec<(String, String, i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT a.id, a.currency, a.balance, a.auto_threshold, a.crossed_by_spending \
         FROM accounts a \
         WHERE a.auto_threshold IS NOT NULL AND (a.balance - a.auto_threshold) <= 0 \
         AND a.crossed_by_spending = 1 AND a.closed_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM top_ups t WHERE t.account_id = a.id AND t.in_flight = 1) \
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(e)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, currency, balance, auto_threshold, crossed)| DueAccount {
                id,
                currency,
                balance,
                auto_threshold,
                crossed_by_spending: crossed != 0,
            },
        )
        .collect())
}

/// R4, R5: writes an account's name and payer as `a` has them.
pub async fn set_name_and_payer(tx: &mut Tx, a: &AccountRow) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET name = $1, payer_name = $2, payer_email = $3, payer_phone = $4, \
         payer_country = $5 WHERE id = $6",
    )
    .bind(&a.name)
    .bind(&a.payer_name)
    .bind(&a.payer_email)
    .bind(&a.payer_phone)
    .bind(&a.payer_country)
    .bind(&a.id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// R4: closes an account at `now`.
pub async fn close_account(tx: &mut Tx, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE accounts SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// R4: how many sub-accounts of `id` are still open.
pub async fn count_open_sub_accounts(tx: &mut Tx, id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM accounts WHERE parent_id = $1 AND closed_at IS NULL",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?)
}
