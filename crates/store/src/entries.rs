//! The `entries` table: the append-only ledger, each entry in a journal whose entries
//! sum to zero (R3), and the checks `refill verify` runs on it.

use crate::many_rows::{MAX_ROWS, dialect_of, placeholders_after, statement};
use crate::row::{self, AnyQuery, TableRow};
use crate::{Dialect, Result, Tx};
use sqlx::{Any, Executor, Row};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EntryRow in "entries" {
        pub id: String,
        pub journal_id: String,
        pub account_id: String,
        pub currency: String,
        pub kind: String,
        pub amount: i64,
        pub balance_after: Option<i64>,
        pub reference: Option<String>,
        pub created_at: i64,
        /// The items an entry of a batch sums, as JSON (see migration 5); None for one.
        pub items: Option<String>,
    }
}

/// Appends entries, many rows per statement (the hot path writes whole batches).
pub async fn insert_entries(tx: &mut Tx, entries: &[EntryRow]) -> Result<()> {
    let dialect = dialect_of(tx);
    // One statement per MAX_ROWS entries: its rows are padded to a power of two with
    // rows of NULLs, which the statement skips. A batch's entries take one round
    // trip to the database, not one per power of two in their count.
    for chunk in entries.chunks(MAX_ROWS) {
        let width = chunk.len().next_power_of_two();
        let sql = statement("insert_entries", dialect, width, || {
            entries_sql(dialect, width)
        });
        bind_entries(sqlx::query(sql), chunk, width)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The insert of `width` entries (rows of NULLs are skipped).
pub(crate) fn entries_sql(dialect: Dialect, width: usize) -> String {
    entries_sql_after(dialect, 0, width)
}

/// `entries_sql` in a statement that has `before` parameters ahead of these.
pub(crate) fn entries_sql_after(dialect: Dialect, before: usize, width: usize) -> String {
    format!(
        "INSERT INTO entries ({}) SELECT * FROM (VALUES {}) AS v WHERE v.column1 IS NOT NULL",
        EntryRow::COLUMNS,
        placeholders_after(dialect, before, width, EntryRow::WIDTH)
    )
}

/// Binds `entries`, then rows of NULLs up to `width`.
pub(crate) fn bind_entries<'q>(
    q: AnyQuery<'q>,
    entries: &'q [EntryRow],
    width: usize,
) -> AnyQuery<'q> {
    let q = entries.iter().fold(q, |q, e| e.bind(q));
    (entries.len()..width).fold(q, |q, _| EntryRow::bind_nulls(q))
}

/// An account's entries, newest first, after the cursor `starting_after`.
pub async fn list_entries<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<EntryRow>> {
    row::many(
        e,
        "WHERE account_id = $1 AND seq < \
         COALESCE((SELECT seq FROM entries WHERE id = $2), 9223372036854775807) \
         ORDER BY seq DESC LIMIT $3",
        |q| {
            q.bind(account_id)
                .bind(starting_after.unwrap_or(""))
                .bind(limit)
        },
    )
    .await
}

/// R3 check: accounts whose balance is not the sum of their entries.
pub async fn balance_mismatches<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<(String, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT a.id, a.balance, CAST(COALESCE(s.total, 0) AS BIGINT) AS total FROM accounts a \
         LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM entries GROUP BY account_id) s \
         ON s.account_id = a.id WHERE a.balance <> COALESCE(s.total, 0)",
    )
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("balance")?, r.try_get("total")?)))
        .collect()
}

/// R3 check: journals whose entries do not sum to zero.
pub async fn unbalanced_journals<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT journal_id, CAST(SUM(amount) AS BIGINT) AS total FROM entries \
         GROUP BY journal_id, currency HAVING SUM(amount) <> 0",
    )
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("journal_id")?, r.try_get("total")?)))
        .collect()
}

/// R3 check: entries whose running balance does not follow from the one before.
pub async fn broken_running_balances<'e, E: Executor<'e, Database = Any>>(e: E) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT balance_after, amount, \
         LAG(balance_after) OVER (PARTITION BY account_id ORDER BY seq) AS prev \
         FROM entries WHERE balance_after IS NOT NULL) x \
         WHERE x.balance_after <> COALESCE(x.prev, 0) + x.amount",
    )
    .fetch_one(e)
    .await?)
}

pub async fn count_entries<'e, E: Executor<'e, Database = Any>>(e: E) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM entries")
        .fetch_one(e)
        .await?)
}
