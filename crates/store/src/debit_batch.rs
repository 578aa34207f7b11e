//! The debit pipeline's batch: its transaction on a held connection, read and written
//! in as few round trips as each store allows (`open_batch` .. `commit_batch`), and
//! its fast path, a checked write of accounts read in an earlier batch
//! (`commit_if_unchanged`).

use crate::accounts::read_accounts_for_update;
use crate::entries::{bind_entries, entries_sql, entries_sql_after, insert_entries};
use crate::many_rows::{MAX_ROWS, chunks, dialect_of, placeholders, placeholders_after, statement};
use crate::row::{AnyQuery, TableRow};
use crate::{AccountRow, Dialect, EntryRow, Result, Tx};
use sqlx::Executor;

/// New balances (and low-balance notice states, R27) of many accounts, in a few
/// statements: `(id, balance, low_balance_armed)`.
pub async fn set_balances(tx: &mut Tx, rows: &[(&str, i64, bool)]) -> Result<()> {
    let dialect = dialect_of(tx);
    for chunk in chunks(rows) {
        let width = chunk.len();
        let sql = statement("set_balances", dialect, width, || {
            balances_sql(dialect, width)
        });
        bind_balances(sqlx::query(sql), chunk, width)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The update of `width` balances (rows of NULLs match no account).
fn balances_sql(dialect: Dialect, width: usize) -> String {
    format!(
        "UPDATE accounts SET balance = v.column2, low_balance_armed = v.column3 \
         FROM (VALUES {}) AS v WHERE accounts.id = v.column1",
        placeholders(dialect, width, 3)
    )
}

/// Binds `rows`, then rows of NULLs up to `width`.
fn bind_balances<'q>(
    mut q: AnyQuery<'q>,
    rows: &[(&'q str, i64, bool)],
    width: usize,
) -> AnyQuery<'q> {
    for (id, balance, armed) in rows {
        q = q.bind(*id).bind(*balance).bind(*armed as i64);
    }
    for _ in rows.len()..width {
        q = q.bind(None::<&str>).bind(None::<i64>).bind(None::<i64>);
    }
    q
}

/// Opens the debit pipeline's transaction on a held connection and reads the batch's
/// accounts for update. On SQLite the BEGIN rides in the text of the read, and
/// `commit_batch` puts the COMMIT in the text of the write: a batch costs two round
/// trips to SQLite's connection thread instead of four (each cost 50-120 us under
/// load). After an error the transaction may still be open: the caller must
/// close the connection (`PoolConnection::close_on_drop`), which rolls it back.
pub async fn open_batch(tx: &mut Tx, ids: &[&str]) -> Result<Vec<AccountRow>> {
    let dialect = dialect_of(tx);
    let lead = match dialect {
        Dialect::Sqlite => "BEGIN IMMEDIATE; ",
        Dialect::Postgres => {
            tx.execute("BEGIN").await?;
            ""
        }
    };
    read_accounts_for_update(tx, dialect, ids, lead).await
}

/// Writes a batch of the debit pipeline, its entries, the responses kept under its
/// idempotency keys and its accounts' new balances, and commits the transaction
/// `open_batch` opened. The keys go in one multi-row insert without ON CONFLICT (the
/// caller read which were taken, `taken_keys`; one taken since fails the write). On
/// SQLite in one round trip when each fits one statement (SQLite runs the statements
/// of one text in order): this took the write of a hot batch from ~344 to ~180 us
/// (timers). PostgreSQL keeps separate statements: the insert and the update in one
/// (inside a WITH) gave no gain in A/B runs (hot 11.4k and 13.4k/s against 17.6k and
/// 13.4k).
pub async fn commit_batch(
    tx: &mut Tx,
    entries: &[EntryRow],
    balances: &[(&str, i64, bool)],
    kept: &[KeptResponse],
) -> Result<()> {
    let fits = |n: usize| (1..=MAX_ROWS).contains(&n);
    let dialect = dialect_of(tx);
    if dialect == Dialect::Postgres || !fits(entries.len()) || !fits(balances.len()) {
        insert_entries(tx, entries).await?;
        keep_responses(tx, kept).await?;
        set_balances(tx, balances).await?;
        tx.execute("COMMIT").await?;
        return Ok(());
    }
    let width = |n: usize| n.next_power_of_two();
    let (ew, bw) = (width(entries.len()), width(balances.len()));
    let kw = if kept.len() <= MAX_ROWS {
        width(kept.len())
    } else {
        0
    };
    if kw == 0 {
        keep_responses(tx, kept).await?;
    }
    let shape = (ew * (MAX_ROWS + 1) + bw) * (MAX_ROWS + 1) + kw;
    let sql = statement("commit_batch", dialect, shape, || {
        let keys = match kw {
            0 => String::new(),
            _ => format!("{}; ", kept_sql(dialect, 0, kw)),
        };
        format!(
            "{keys}{}; {}; COMMIT",
            entries_sql(dialect, ew),
            balances_sql(dialect, bw)
        )
    });
    let kept_now = if kw == 0 { &[][..] } else { kept };
    let q = bind_kept(sqlx::query(sql), kept_now, kw);
    let q = bind_entries(q, entries, ew);
    bind_balances(q, balances, bw).execute(&mut *tx).await?;
    Ok(())
}

/// Inserts kept responses, many per statement, without ON CONFLICT.
async fn keep_responses(tx: &mut Tx, kept: &[KeptResponse]) -> Result<()> {
    let dialect = dialect_of(tx);
    for chunk in chunks(kept) {
        let width = chunk.len();
        let sql = statement("keep_responses", dialect, width, || {
            kept_sql(dialect, 0, width)
        });
        bind_kept(sqlx::query(sql), chunk, width)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// What a batch changes in an account the pipeline read in an earlier batch: the row
/// as it was seen then, and the new balance and low-balance notice state.
pub struct BalanceChange<'a> {
    pub seen: &'a AccountRow,
    pub balance: i64,
    pub low_balance_armed: bool,
}

/// A response to keep under an idempotency key, written with the batch that made it.
pub struct KeptResponse {
    pub scope: String,
    pub key: String,
    pub response: crate::StoredResponse,
    pub created_at: i64,
}

/// The debit pipeline's fast path: a batch whose accounts it read in an earlier batch
/// writes its entries, balances and idempotent responses and commits in one round
/// trip, without reading the accounts again, provided every account still holds what
/// the pipeline saw and no key is taken; if not (another writer changed an account, a
/// concurrent request took a key), it writes nothing and returns an error, and the
/// caller rolls back (`abandon_batch`) and takes the locking path (`open_batch`).
/// SQLite: BEGIN, the update, the inserts and COMMIT in one text; PostgreSQL: the
/// update and the keys inside a WITH of the insert, one statement, its own transaction,
/// which inserts nothing unless the update changed every account (`checked_balances_sql`).
pub async fn commit_if_unchanged(
    tx: &mut Tx,
    entries: &[EntryRow],
    changes: &[BalanceChange<'_>],
    kept: &[KeptResponse],
) -> Result<()> {
    // Without entries PostgreSQL's check (rows inserted) could not tell a failure.
    let empty = changes.is_empty() || entries.is_empty();
    if empty || !fits_one_write(entries.len(), changes.len(), kept.len()) {
        return Err(crate::StoreError::Unsupported(
            "a fast-path batch writes 1 to 256 accounts and entries, and 256 keys at most".into(),
        ));
    }
    let dialect = dialect_of(tx);
    // PostgreSQL runs the WITH's update whatever the insert does, and commits it:
    // of two accounts one could be updated without its entries. One account is all
    // or nothing (the pipeline sends no more, `Shard::apply_from_memory`).
    if dialect == Dialect::Postgres && changes.len() != 1 {
        return Err(crate::StoreError::Unsupported(
            "a PostgreSQL fast-path batch must change exactly one account".into(),
        ));
    }
    let width = |n: usize| n.next_power_of_two();
    let (ew, bw, kw) = (
        width(entries.len()),
        width(changes.len()),
        width(kept.len()),
    );
    let sql = fast_write_sql(dialect, ew, bw, kw);
    let q = bind_changes(sqlx::query(sql), changes, bw);
    let q = bind_kept(q, kept, kw);
    let q = bind_entries(q, entries, ew);
    let changed = || crate::StoreError::Changed("an account the pipeline saw".into());
    match dialect {
        // Its check fails the text (and its count would sum every statement of it).
        Dialect::Sqlite => match q.execute(&mut *tx).await {
            Ok(_) => Ok(()),
            Err(e) if is_null_balance(&e) => Err(changed()),
            Err(e) => Err(e.into()),
        },
        Dialect::Postgres => {
            let q = q.bind(changes.len() as i64);
            match q.execute(&mut *tx).await?.rows_affected() == entries.len() as u64 {
                true => Ok(()),
                false => Err(changed()),
            }
        }
    }
}

/// The text of `commit_if_unchanged` for `ew` entries, `bw` balances and `kw` keys
/// (each a power of two), built once per shape.
fn fast_write_sql(dialect: Dialect, ew: usize, bw: usize, kw: usize) -> &'static str {
    let shape = (ew * (MAX_ROWS + 1) + bw) * (MAX_ROWS + 1) + kw;
    statement("commit_if_unchanged", dialect, shape, || {
        let update = checked_balances_sql(dialect, bw);
        let keys = kept_sql(dialect, bw * CHANGE_COLS, kw);
        let before_entries = bw * CHANGE_COLS + kw * KEPT_COLS;
        let insert = entries_sql_after(dialect, before_entries, ew);
        match dialect {
            Dialect::Sqlite => format!("BEGIN IMMEDIATE; {update}; {keys}; {insert}; COMMIT"),
            Dialect::Postgres => {
                // The last parameter: how many accounts the update must change.
                let all = format!(
                    " AND (SELECT count(*) FROM changed) = ${}",
                    before_entries + ew * EntryRow::WIDTH + 1
                );
                format!(
                    "WITH changed AS ({update} RETURNING 1), kept AS ({keys}{all}) {insert}{all}"
                )
            }
        }
    })
}

/// SQLite's fast-path check failing: a balance set to NULL (an account changed).
fn is_null_balance(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.kind() == sqlx::error::ErrorKind::NotNullViolation
            && d.message().contains("accounts.balance")
    })
}

/// Whether a fast-path batch of so many entries, accounts and kept responses goes in
/// one `commit_if_unchanged` (each is one statement of at most MAX_ROWS rows).
pub fn fits_one_write(entries: usize, accounts: usize, kept: usize) -> bool {
    [entries, accounts, kept].iter().all(|n| *n <= MAX_ROWS)
}

const KEPT_COLS: usize = 6;

/// The insert of `width` kept responses, without ON CONFLICT: a key taken meanwhile
/// fails the statement (rows of NULLs are left out).
fn kept_sql(dialect: Dialect, before: usize, width: usize) -> String {
    format!(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at) \
         SELECT * FROM (VALUES {}) AS k WHERE k.column1 IS NOT NULL",
        placeholders_after(dialect, before, width, KEPT_COLS)
    )
}

/// Binds `kept`, then rows of NULLs up to `width`.
fn bind_kept<'q>(mut q: AnyQuery<'q>, kept: &'q [KeptResponse], width: usize) -> AnyQuery<'q> {
    for k in kept {
        let r = &k.response;
        q = q.bind(&k.scope).bind(&k.key).bind(&r.request_hash);
        q = q.bind(r.status as i64).bind(&r.body).bind(k.created_at);
    }
    for _ in kept.len()..width {
        let (text, int) = (None::<&str>, None::<i64>);
        q = q
            .bind(text)
            .bind(text)
            .bind(text)
            .bind(int)
            .bind(text)
            .bind(int);
    }
    q
}

/// Rolls back whatever transaction a failed fast-path write left open on the
/// pipeline's connection: on SQLite one may be (the text begins with BEGIN; none is
/// fine, the error that says so is of no interest); on PostgreSQL the write was one
/// statement, its own transaction, so there is nothing to roll back.
pub async fn abandon_batch(tx: &mut Tx) {
    if dialect_of(tx) == Dialect::Sqlite {
        let _ = tx.execute("ROLLBACK").await;
    }
}

/// Rolls back the transaction of a batch whose write failed (`open_batch` ..
/// `commit_batch`), so that the connection serves the next batch. An error leaves the
/// connection's state unknown (no transaction was open on SQLite, or it broke): then
/// close it, as `open_batch` says.
pub async fn roll_back_batch(tx: &mut Tx) -> Result<()> {
    tx.execute("ROLLBACK").await?;
    Ok(())
}

const CHANGE_COLS: usize = 11;

/// The update of `width` balances, checked: each account must still hold what the
/// pipeline saw in every column a debit reads. Rows of NULLs match no account. Every
/// column that `debit_pipeline::Batch::debit_from` and `accounts::watch_of` read must be
/// compared here: one left out would let the fast path decide on a stale value.
/// - SQLite sets the balance to NULL, which the schema refuses, when an account fails
///   the check: the text fails, and its transaction is rolled back.
/// - PostgreSQL leaves such an account out (the check is in the WHERE), and the
///   statement around it inserts nothing unless every account was changed. The NULL
///   failed the statement too, but PostgreSQL logged an ERROR each time, one per
///   change by another writer (a top-up, a transfer) to an account a lane had seen:
///   noise in a database's log for what is a normal event.
fn checked_balances_sql(dialect: Dialect, width: usize) -> String {
    let same = format!(
        "accounts.balance = v.column4 AND accounts.credit_limit = v.column5 \
         AND accounts.flagged = v.column6 AND accounts.auto_threshold {0} v.column7 \
         AND accounts.low_balance_threshold = v.column8 \
         AND accounts.low_balance_armed = v.column9 AND accounts.currency = v.column10 \
         AND accounts.closed_at {0} v.column11",
        dialect.is_not_distinct()
    );
    let (balance, checked) = match dialect {
        Dialect::Sqlite => (
            format!("CASE WHEN {same} THEN v.column2 END"),
            String::new(),
        ),
        Dialect::Postgres => ("v.column2".to_string(), format!(" AND {same}")),
    };
    format!(
        "UPDATE accounts SET balance = {balance}, low_balance_armed = v.column3 \
         FROM (VALUES {}) AS v WHERE accounts.id = v.column1{checked}",
        placeholders(dialect, width, CHANGE_COLS)
    )
}

/// Binds `changes`, then rows of NULLs up to `width`.
fn bind_changes<'q>(
    mut q: AnyQuery<'q>,
    changes: &[BalanceChange<'q>],
    width: usize,
) -> AnyQuery<'q> {
    for c in changes {
        let a = c.seen;
        q = q
            .bind(&a.id)
            .bind(c.balance)
            .bind(c.low_balance_armed as i64);
        q = q
            .bind(a.balance)
            .bind(a.credit_limit)
            .bind(a.flagged as i64);
        q = q.bind(a.auto_threshold).bind(a.low_balance_threshold);
        q = q.bind(a.low_balance_armed as i64).bind(&a.currency);
        q = q.bind(a.closed_at);
    }
    for _ in changes.len()..width {
        let (text, int) = (None::<&str>, None::<i64>);
        q = q.bind(text).bind(int).bind(int).bind(int).bind(int);
        q = q.bind(int).bind(int).bind(int).bind(int).bind(text);
        q = q.bind(int);
    }
    q
}
