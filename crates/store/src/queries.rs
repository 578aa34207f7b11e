//! The queries, one function each, grouped by table. The SQL is the same on both
//! stores (numbered `$n` parameters work on SQLite too); where a word differs it
//! comes from `Dialect`.

use crate::{Dialect, Result, Tx};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

/// The wall clock, for bookkeeping that is not a domain time (migration dates).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn flag(row: &AnyRow, col: &str) -> Result<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

// ---------------------------------------------------------------- accounts

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
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
}

const ACCOUNT_COLS: &str = "id, parent_id, name, currency, balance, credit_limit, payer_name, \
    payer_email, payer_phone, payer_country, flagged, auto_threshold, low_balance_threshold, \
    low_balance_armed, created_at";

fn account_from(row: &AnyRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: row.try_get("id")?,
        parent_id: row.try_get("parent_id")?,
        name: row.try_get("name")?,
        currency: row.try_get("currency")?,
        balance: row.try_get("balance")?,
        credit_limit: row.try_get("credit_limit")?,
        payer_name: row.try_get("payer_name")?,
        payer_email: row.try_get("payer_email")?,
        payer_phone: row.try_get("payer_phone")?,
        payer_country: row.try_get("payer_country")?,
        flagged: flag(row, "flagged")?,
        auto_threshold: row.try_get("auto_threshold")?,
        low_balance_threshold: row.try_get("low_balance_threshold")?,
        low_balance_armed: flag(row, "low_balance_armed")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert_account(tx: &mut Tx, a: &AccountRow) -> Result<()> {
    let sql = "INSERT INTO accounts (id, parent_id, name, currency, balance, credit_limit, \
               payer_name, payer_email, payer_phone, payer_country, flagged, auto_threshold, \
               low_balance_threshold, low_balance_armed, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
    bind_account(sqlx::query(sql), a).execute(&mut *tx).await?;
    Ok(())
}

/// Binds an account's 15 columns, in the order of `insert_account`.
pub(crate) fn bind_account<'q>(q: AnyQuery<'q>, a: &'q AccountRow) -> AnyQuery<'q> {
    q.bind(&a.id)
        .bind(&a.parent_id)
        .bind(&a.name)
        .bind(&a.currency)
        .bind(a.balance)
        .bind(a.credit_limit)
        .bind(&a.payer_name)
        .bind(&a.payer_email)
        .bind(&a.payer_phone)
        .bind(&a.payer_country)
        .bind(a.flagged as i64)
        .bind(a.auto_threshold)
        .bind(a.low_balance_threshold)
        .bind(a.low_balance_armed as i64)
        .bind(a.created_at)
}

pub async fn get_account<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<AccountRow>> {
    crate::row_by(
        e,
        format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1"),
        id,
        account_from,
    )
    .await
}

/// Reads accounts for update, in id order (a fixed lock order: no deadlocks).
pub async fn lock_accounts(tx: &mut Tx, dialect: Dialect, ids: &[&str]) -> Result<Vec<AccountRow>> {
    read_accounts_for_update(tx, dialect, ids, "").await
}

/// `lock_accounts`, the first statement's text led by `lead` (SQLite: the BEGIN of
/// the debit pipeline's transaction, see `bulk::open_batch`).
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
    for chunk in ids.chunks(crate::bulk::MAX_ROWS) {
        // The list is padded to a power of two (repeating the last id changes
        // nothing), so that a few statement shapes serve every batch.
        let width = chunk.len().next_power_of_two();
        let sql = crate::bulk::statement(lead_shape(lead), dialect, width, || {
            format!(
                "{lead}SELECT {ACCOUNT_COLS} FROM accounts WHERE id IN {} ORDER BY id{}",
                crate::bulk::placeholders(dialect, 1, width),
                dialect.for_update()
            )
        });
        lead = "";
        let mut q = sqlx::query(sql);
        for i in 0..width {
            q = q.bind(chunk[i.min(chunk.len() - 1)]);
        }
        for row in q.fetch_all(&mut *tx).await? {
            rows.push(account_from(&row)?);
        }
    }
    Ok(rows)
}

/// The statement that writes a whole row of `table`, whose columns are `cols` (the
/// first is the id), bound in that order: an insert followed by `on_insert` (e.g. an
/// ON CONFLICT clause), or an update of every other column by id.
pub(crate) fn whole_row_sql(table: &str, cols: &str, insert: bool, on_insert: &str) -> String {
    let names: Vec<&str> = cols.split(',').map(str::trim).collect();
    if insert {
        let params: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let params = params.join(", ");
        return format!("INSERT INTO {table} ({cols}) VALUES ({params}){on_insert}");
    }
    let sets: Vec<String> = (names.iter().enumerate().skip(1))
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    format!("UPDATE {table} SET {} WHERE id = $1", sets.join(", "))
}

/// The statement cache's name of an account read with or without a lead.
fn lead_shape(lead: &str) -> &'static str {
    if lead.is_empty() {
        "lock_accounts"
    } else {
        "open_and_lock_accounts"
    }
}

pub async fn lock_account(tx: &mut Tx, dialect: Dialect, id: &str) -> Result<Option<AccountRow>> {
    Ok(lock_accounts(tx, dialect, &[id]).await?.pop())
}

/// Accounts visible to a caller: all (operator) or one account and its sub-accounts.
pub async fn list_accounts<'e, E: Executor<'e, Database = Any>>(
    e: E,
    root: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<AccountRow>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLS} FROM accounts \
         WHERE ($1 = '' OR id = $1 OR parent_id = $1) AND id > $2 ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(root.unwrap_or(""))
        .bind(starting_after.unwrap_or(""))
        .bind(limit)
        .fetch_all(e)
        .await?;
    rows.iter().map(account_from).collect()
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

/// Mirrors the auto top-up threshold on the account row while it is active.
pub async fn set_auto_threshold(tx: &mut Tx, id: &str, threshold: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE accounts SET auto_threshold = $1 WHERE id = $2")
        .bind(threshold)
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

// ---------------------------------------------------------------- ledger

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
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

/// The parameters of one row of `entries_sql` (its columns but `seq`).
pub(crate) const ENTRY_PARAMS: usize = 10;

const ENTRY_COLS: &str = "id, journal_id, account_id, currency, kind, amount, balance_after, \
     reference, created_at, items";

/// Appends entries, many rows per statement (the hot path writes whole batches).
pub async fn insert_entries(tx: &mut Tx, entries: &[EntryRow]) -> Result<()> {
    let dialect = crate::bulk::dialect_of(tx);
    // One statement per MAX_ROWS entries: its rows are padded to a power of two with
    // rows of NULLs, which the statement skips. A batch's entries take one round
    // trip to the database, not one per power of two in their count.
    for chunk in entries.chunks(crate::bulk::MAX_ROWS) {
        let width = chunk.len().next_power_of_two();
        let sql = crate::bulk::statement("insert_entries", dialect, width, || {
            entries_sql(dialect, width)
        });
        bind_entries(sqlx::query(sql), chunk, width)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The insert of `width` entries (rows of NULLs are skipped).
pub(crate) fn entries_sql(dialect: crate::Dialect, width: usize) -> String {
    entries_sql_after(dialect, 0, width)
}

/// `entries_sql` in a statement that has `before` parameters ahead of these.
pub(crate) fn entries_sql_after(dialect: crate::Dialect, before: usize, width: usize) -> String {
    format!(
        "INSERT INTO entries ({ENTRY_COLS}) SELECT * FROM (VALUES {}) AS v \
         WHERE v.column1 IS NOT NULL",
        crate::bulk::placeholders_after(dialect, before, width, ENTRY_PARAMS)
    )
}

/// Binds `entries`, then rows of NULLs up to `width`.
pub(crate) fn bind_entries<'q>(
    mut q: AnyQuery<'q>,
    entries: &'q [EntryRow],
    width: usize,
) -> AnyQuery<'q> {
    for e in entries {
        q = q
            .bind(&e.id)
            .bind(&e.journal_id)
            .bind(&e.account_id)
            .bind(&e.currency)
            .bind(&e.kind)
            .bind(e.amount)
            .bind(e.balance_after)
            .bind(&e.reference)
            .bind(e.created_at)
            .bind(&e.items);
    }
    for _ in entries.len()..width {
        let (text, int) = (None::<&str>, None::<i64>);
        q = q.bind(text).bind(text).bind(text).bind(text).bind(text);
        q = q.bind(int).bind(int).bind(text).bind(int).bind(text);
    }
    q
}

/// A query of the `Any` driver with its arguments.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

fn entry_from(row: &AnyRow) -> Result<EntryRow> {
    Ok(EntryRow {
        id: row.try_get("id")?,
        journal_id: row.try_get("journal_id")?,
        account_id: row.try_get("account_id")?,
        currency: row.try_get("currency")?,
        kind: row.try_get("kind")?,
        amount: row.try_get("amount")?,
        balance_after: row.try_get("balance_after")?,
        reference: row.try_get("reference")?,
        created_at: row.try_get("created_at")?,
        items: row.try_get("items")?,
    })
}

/// An account's entries, newest first, after the cursor `starting_after`.
pub async fn list_entries<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<EntryRow>> {
    let sql = format!(
        "SELECT {ENTRY_COLS} FROM entries WHERE account_id = $1 AND seq < \
         COALESCE((SELECT seq FROM entries WHERE id = $2), 9223372036854775807) \
         ORDER BY seq DESC LIMIT $3"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .bind(starting_after.unwrap_or(""))
        .bind(limit)
        .fetch_all(e)
        .await?;
    rows.iter().map(entry_from).collect()
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

// ---------------------------------------------------------------- api keys

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    pub key_hash: String,
    /// None: an operator key.
    pub account_id: Option<String>,
    pub label: Option<String>,
    pub created_at: i64,
}

pub async fn insert_api_key(tx: &mut Tx, k: &ApiKeyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, key_hash, account_id, label, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&k.id)
    .bind(&k.key_hash)
    .bind(&k.account_id)
    .bind(&k.label)
    .bind(k.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn find_api_key<'e, E: Executor<'e, Database = Any>>(
    e: E,
    key_hash: &str,
) -> Result<Option<ApiKeyRow>> {
    let row = sqlx::query(
        "SELECT id, key_hash, account_id, label, created_at FROM api_keys WHERE key_hash = $1",
    )
    .bind(key_hash)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(ApiKeyRow {
            id: r.try_get("id")?,
            key_hash: r.try_get("key_hash")?,
            account_id: r.try_get("account_id")?,
            label: r.try_get("label")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

pub async fn count_operator_keys(tx: &mut Tx) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE account_id IS NULL")
            .fetch_one(&mut *tx)
            .await?,
    )
}

// ---------------------------------------------------------------- idempotency

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

pub async fn get_idempotent<'e, E: Executor<'e, Database = Any>>(
    e: E,
    scope: &str,
    key: &str,
) -> Result<Option<StoredResponse>> {
    let row = sqlx::query(
        "SELECT request_hash, status, body FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(StoredResponse {
            request_hash: r.try_get("request_hash")?,
            status: r.try_get::<i64, _>("status")? as u16,
            body: r.try_get("body")?,
        })
    })
    .transpose()
}

/// Stores a response; false when the key was taken meanwhile (a concurrent replay).
pub async fn put_idempotent(
    tx: &mut Tx,
    scope: &str,
    key: &str,
    resp: &StoredResponse,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(&resp.request_hash)
    .bind(resp.status as i64)
    .bind(&resp.body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets idempotency keys older than `before` (they live at least 24 hours).
pub async fn expire_idempotent<'e, E: Executor<'e, Database = Any>>(
    e: E,
    before: i64,
) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(e)
            .await?
            .rows_affected(),
    )
}

// ---------------------------------------------------------------- payment methods

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethodRow {
    pub id: String,
    pub account_id: String,
    pub gateway_token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub saved: bool,
    pub is_primary: bool,
    pub verified_at: Option<i64>,
    pub removed_at: Option<i64>,
    pub created_at: i64,
}

const PM_COLS: &str = "id, account_id, gateway_token, brand, last4, exp_month, exp_year, saved, \
    is_primary, verified_at, removed_at, created_at";

fn pm_from(r: &AnyRow) -> Result<PaymentMethodRow> {
    Ok(PaymentMethodRow {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        gateway_token: r.try_get("gateway_token")?,
        brand: r.try_get("brand")?,
        last4: r.try_get("last4")?,
        exp_month: r.try_get("exp_month")?,
        exp_year: r.try_get("exp_year")?,
        saved: flag(r, "saved")?,
        is_primary: flag(r, "is_primary")?,
        verified_at: r.try_get("verified_at")?,
        removed_at: r.try_get("removed_at")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn insert_payment_method(tx: &mut Tx, p: &PaymentMethodRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO payment_methods ({PM_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&p.id)
        .bind(&p.account_id)
        .bind(&p.gateway_token)
        .bind(&p.brand)
        .bind(&p.last4)
        .bind(p.exp_month)
        .bind(p.exp_year)
        .bind(p.saved as i64)
        .bind(p.is_primary as i64)
        .bind(p.verified_at)
        .bind(p.removed_at)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn get_payment_method<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<PaymentMethodRow>> {
    crate::row_by(
        e,
        format!("SELECT {PM_COLS} FROM payment_methods WHERE id = $1"),
        id,
        pm_from,
    )
    .await
}

/// The payment method a row names, if it names one (a top-up, a schedule).
pub async fn payment_method_named<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: Option<&str>,
) -> Result<Option<PaymentMethodRow>> {
    match id {
        Some(id) => get_payment_method(e, id).await,
        None => Ok(None),
    }
}

/// An account's saved payment methods that were not removed, primary first.
pub async fn list_payment_methods<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Vec<PaymentMethodRow>> {
    let sql = format!(
        "SELECT {PM_COLS} FROM payment_methods WHERE account_id = $1 AND saved = 1 \
         AND removed_at IS NULL ORDER BY is_primary DESC, id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(e)
        .await?;
    rows.iter().map(pm_from).collect()
}

pub async fn remove_payment_method(tx: &mut Tx, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE payment_methods SET removed_at = $1, is_primary = 0 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Makes one saved method the account's primary (R5), and no other.
pub async fn set_primary_payment_method(tx: &mut Tx, account_id: &str, id: &str) -> Result<()> {
    sqlx::query("UPDATE payment_methods SET is_primary = CASE WHEN id = $1 THEN 1 ELSE 0 END WHERE account_id = $2")
        .bind(id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn set_payment_method_verified(tx: &mut Tx, id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE payment_methods SET verified_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_whole_row_is_inserted_or_updated_by_id_with_its_columns_in_order() {
        let cols = "id, name, \
            fee";
        assert_eq!(
            super::whole_row_sql("things", cols, true, " ON CONFLICT DO NOTHING"),
            "INSERT INTO things (id, name, \
            fee) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            super::whole_row_sql("things", cols, false, " ON CONFLICT DO NOTHING"),
            "UPDATE things SET name = $2, fee = $3 WHERE id = $1"
        );
    }
}
