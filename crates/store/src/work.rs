//! Top-ups, auto top-up settings, transfers, the event outbox and leases.

use crate::queries::AnyQuery;
use crate::{Dialect, Result, Tx};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

// ---------------------------------------------------------------- top-ups

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopUpRow {
    pub id: String,
    pub account_id: String,
    /// manual | auto | scheduled (R30)
    pub origin: String,
    /// card | transfer
    pub source: String,
    pub payment_method_id: Option<String>,
    pub currency: String,
    pub amount: i64,
    pub tax: i64,
    pub total: i64,
    /// queued | charging | succeeded | pending | failed | canceled | requires_action
    pub status: String,
    pub in_flight: bool,
    pub attempt: i64,
    pub authenticated: bool,
    pub not_before: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub gateway_charge_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub why_waiting: Option<String>,
    pub refunded: i64,
    pub request_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

pub(crate) const TOP_UP_COLS: &str = "id, account_id, origin, source, payment_method_id, currency, amount, \
    tax, total, status, in_flight, attempt, authenticated, not_before, lease_owner, lease_until, \
    gateway_charge_id, failure_code, failure_message, why_waiting, refunded, request_key, \
    created_at, updated_at, completed_at";

fn top_up_from(r: &AnyRow) -> Result<TopUpRow> {
    Ok(TopUpRow {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        origin: r.try_get("origin")?,
        source: r.try_get("source")?,
        payment_method_id: r.try_get("payment_method_id")?,
        currency: r.try_get("currency")?,
        amount: r.try_get("amount")?,
        tax: r.try_get("tax")?,
        total: r.try_get("total")?,
        status: r.try_get("status")?,
        in_flight: r.try_get::<i64, _>("in_flight")? != 0,
        attempt: r.try_get("attempt")?,
        authenticated: r.try_get::<i64, _>("authenticated")? != 0,
        not_before: r.try_get("not_before")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
        gateway_charge_id: r.try_get("gateway_charge_id")?,
        failure_code: r.try_get("failure_code")?,
        failure_message: r.try_get("failure_message")?,
        why_waiting: r.try_get("why_waiting")?,
        refunded: r.try_get("refunded")?,
        request_key: r.try_get("request_key")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        completed_at: r.try_get("completed_at")?,
    })
}

/// Binds a top-up's 25 columns, in the order of `TOP_UP_COLS`.
pub(crate) fn bind_top_up<'q>(q: AnyQuery<'q>, t: &'q TopUpRow) -> AnyQuery<'q> {
    q.bind(&t.id)
        .bind(&t.account_id)
        .bind(&t.origin)
        .bind(&t.source)
        .bind(&t.payment_method_id)
        .bind(&t.currency)
        .bind(t.amount)
        .bind(t.tax)
        .bind(t.total)
        .bind(&t.status)
        .bind(t.in_flight as i64)
        .bind(t.attempt)
        .bind(t.authenticated as i64)
        .bind(t.not_before)
        .bind(&t.lease_owner)
        .bind(t.lease_until)
        .bind(&t.gateway_charge_id)
        .bind(&t.failure_code)
        .bind(&t.failure_message)
        .bind(&t.why_waiting)
        .bind(t.refunded)
        .bind(&t.request_key)
        .bind(t.created_at)
        .bind(t.updated_at)
        .bind(t.completed_at)
}

/// Writes a top-up whole (insert, or replace the row with the same id).
async fn write_top_up(tx: &mut Tx, t: &TopUpRow, insert: bool) -> Result<u64> {
    let on_insert = " ON CONFLICT DO NOTHING";
    let sql = crate::queries::whole_row_sql("top_ups", TOP_UP_COLS, insert, on_insert);
    let done = bind_top_up(sqlx::query(AssertSqlSafe(sql)), t)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected())
}

/// Inserts a top-up. An automatic one that would be a second in flight for its
/// account is not inserted (R19) and false is returned.
pub async fn insert_top_up(tx: &mut Tx, t: &TopUpRow) -> Result<bool> {
    Ok(write_top_up(tx, t, true).await? == 1)
}

pub async fn update_top_up(tx: &mut Tx, t: &TopUpRow) -> Result<()> {
    write_top_up(tx, t, false).await?;
    Ok(())
}

pub async fn top_up_by_request_key<'e, E: Executor<'e, Database = Any>>(
    e: E,
    key: &str,
) -> Result<Option<TopUpRow>> {
    crate::row_by(
        e,
        format!("SELECT {TOP_UP_COLS} FROM top_ups WHERE request_key = $1"),
        key,
        top_up_from,
    )
    .await
}

pub async fn get_top_up<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<TopUpRow>> {
    crate::row_by(
        e,
        format!("SELECT {TOP_UP_COLS} FROM top_ups WHERE id = $1"),
        id,
        top_up_from,
    )
    .await
}

pub async fn lock_top_up(tx: &mut Tx, dialect: Dialect, id: &str) -> Result<Option<TopUpRow>> {
    crate::row_by(
        &mut *tx,
        format!(
            "SELECT {TOP_UP_COLS} FROM top_ups WHERE id = $1{}",
            dialect.for_update()
        ),
        id,
        top_up_from,
    )
    .await
}

/// The account's automatic top-up in flight, if any (R19).
pub async fn top_up_in_flight<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Option<TopUpRow>> {
    crate::row_by(
        e,
        format!("SELECT {TOP_UP_COLS} FROM top_ups WHERE account_id = $1 AND in_flight = 1"),
        account_id,
        top_up_from,
    )
    .await
}

pub async fn list_top_ups<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<TopUpRow>> {
    let sql = format!(
        "SELECT {TOP_UP_COLS} FROM top_ups WHERE account_id = $1 AND ($2 = '' OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .bind(starting_after.unwrap_or(""))
        .bind(limit)
        .fetch_all(e)
        .await?;
    rows.iter().map(top_up_from).collect()
}

/// Claims up to `limit` top-ups that need work now: queued ones that are due, and
/// charging ones whose worker's lease ran out (a crashed node). The claim is a lease
/// in the row, so a dead node's work passes to another when the lease ends.
pub async fn claim_top_ups(
    tx: &mut Tx,
    dialect: Dialect,
    owner: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<TopUpRow>> {
    let sql = "SELECT id FROM top_ups WHERE status = 'queued' AND not_before <= $1 \
           AND (lease_until IS NULL OR lease_until < $1) \
         UNION SELECT id FROM top_ups WHERE status = 'charging' AND lease_until < $1 \
         LIMIT $2";
    let ids: Vec<String> = sqlx::query_scalar(sql)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        // Re-read under lock, skipping rows another node holds, and check it is still due.
        let sql = format!(
            "SELECT {TOP_UP_COLS} FROM top_ups WHERE id = $1 AND (lease_until IS NULL OR lease_until < $2){}",
            dialect.skip_locked()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(&id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(mut t) = row.as_ref().map(top_up_from).transpose()? else {
            continue;
        };
        t.lease_owner = Some(owner.to_string());
        t.lease_until = Some(now + lease_ms);
        sqlx::query("UPDATE top_ups SET lease_owner = $1, lease_until = $2 WHERE id = $3")
            .bind(owner)
            .bind(now + lease_ms)
            .bind(&t.id)
            .execute(&mut *tx)
            .await?;
        claimed.push(t);
    }
    Ok(claimed)
}

/// Pending card payments (R11) created before `before`, to settle.
pub async fn pending_top_ups<'e, E: Executor<'e, Database = Any>>(
    e: E,
    before: i64,
    limit: i64,
) -> Result<Vec<TopUpRow>> {
    let sql = format!(
        "SELECT {TOP_UP_COLS} FROM top_ups WHERE status = 'pending' AND created_at <= $1 ORDER BY created_at LIMIT $2"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(before)
        .bind(limit)
        .fetch_all(e)
        .await?;
    rows.iter().map(top_up_from).collect()
}

/// R21: automatic top-ups made (succeeded or pending) since `since`: count, amount.
pub async fn auto_top_up_usage(tx: &mut Tx, account_id: &str, since: i64) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM top_ups \
         WHERE account_id = $1 AND origin = 'auto' AND status IN ('succeeded', 'pending') \
         AND completed_at >= $2",
    )
    .bind(account_id)
    .bind(since)
    .fetch_one(&mut *tx)
    .await?;
    Ok((row.try_get("n")?, row.try_get("total")?))
}

// ---------------------------------------------------------------- auto top-up settings

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoTopUpRow {
    pub account_id: String,
    pub state: String,
    pub threshold: i64,
    /// fixed | target
    pub amount_mode: String,
    pub amount: i64,
    pub source: String,
    pub payment_method_id: Option<String>,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<i64>,
    pub state_reason: Option<String>,
    pub state_changed_at: i64,
    pub consecutive_failures: i64,
    pub window_until: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_attempt_outcome: Option<String>,
    pub last_attempt_top_up_id: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub why_not: Option<String>,
    pub version: i64,
    pub updated_at: i64,
}

const AUTO_COLS: &str = "account_id, state, threshold, amount_mode, amount, source, \
    payment_method_id, terms_version, terms_accepted_at, state_reason, state_changed_at, \
    consecutive_failures, window_until, last_attempt_at, last_attempt_outcome, \
    last_attempt_top_up_id, next_attempt_at, why_not, version, updated_at";

fn auto_from(r: &AnyRow) -> Result<AutoTopUpRow> {
    Ok(AutoTopUpRow {
        account_id: r.try_get("account_id")?,
        state: r.try_get("state")?,
        threshold: r.try_get("threshold")?,
        amount_mode: r.try_get("amount_mode")?,
        amount: r.try_get("amount")?,
        source: r.try_get("source")?,
        payment_method_id: r.try_get("payment_method_id")?,
        terms_version: r.try_get("terms_version")?,
        terms_accepted_at: r.try_get("terms_accepted_at")?,
        state_reason: r.try_get("state_reason")?,
        state_changed_at: r.try_get("state_changed_at")?,
        consecutive_failures: r.try_get("consecutive_failures")?,
        window_until: r.try_get("window_until")?,
        last_attempt_at: r.try_get("last_attempt_at")?,
        last_attempt_outcome: r.try_get("last_attempt_outcome")?,
        last_attempt_top_up_id: r.try_get("last_attempt_top_up_id")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        why_not: r.try_get("why_not")?,
        version: r.try_get("version")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn get_auto_top_up<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Option<AutoTopUpRow>> {
    crate::row_by(
        e,
        format!("SELECT {AUTO_COLS} FROM auto_top_up WHERE account_id = $1"),
        account_id,
        auto_from,
    )
    .await
}

/// Writes the settings whole (insert or replace by account).
pub async fn put_auto_top_up(tx: &mut Tx, a: &AutoTopUpRow) -> Result<()> {
    let params: Vec<String> = (1..=20).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = AUTO_COLS
        .split(", ")
        .skip(1)
        .map(|c| format!("{0} = excluded.{0}", c.trim()))
        .collect();
    let sql = format!(
        "INSERT INTO auto_top_up ({AUTO_COLS}) VALUES ({}) ON CONFLICT (account_id) DO UPDATE SET {}",
        params.join(", "),
        updates.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&a.account_id)
        .bind(&a.state)
        .bind(a.threshold)
        .bind(&a.amount_mode)
        .bind(a.amount)
        .bind(&a.source)
        .bind(&a.payment_method_id)
        .bind(&a.terms_version)
        .bind(a.terms_accepted_at)
        .bind(&a.state_reason)
        .bind(a.state_changed_at)
        .bind(a.consecutive_failures)
        .bind(a.window_until)
        .bind(a.last_attempt_at)
        .bind(&a.last_attempt_outcome)
        .bind(&a.last_attempt_top_up_id)
        .bind(a.next_attempt_at)
        .bind(&a.why_not)
        .bind(a.version)
        .bind(a.updated_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// R24: records a change of state with its time and reason.
pub async fn record_state_change(
    tx: &mut Tx,
    account_id: &str,
    state: &str,
    reason: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO auto_top_up_history (account_id, state, reason, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(account_id)
    .bind(state)
    .bind(reason)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// R24: an account's state changes, oldest first: (state, reason, at).
pub async fn state_history<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT state, reason, at FROM auto_top_up_history WHERE account_id = $1 ORDER BY seq",
    )
    .bind(account_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("reason")?, r.try_get("at")?)))
        .collect()
}

/// R22: active card settings whose payment method was removed, or whose account has
/// no payer email any more.
pub async fn active_settings_without_means<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT s.account_id, CASE WHEN p.id IS NULL OR p.removed_at IS NOT NULL \
         THEN 'payment_method_removed' ELSE 'payer_removed' END AS reason \
         FROM auto_top_up s JOIN accounts a ON a.id = s.account_id \
         LEFT JOIN payment_methods p ON p.id = s.payment_method_id \
         WHERE s.state = 'active' AND s.source = 'card' \
         AND (p.id IS NULL OR p.removed_at IS NOT NULL OR a.payer_email IS NULL OR a.payer_email = '')",
    )
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("account_id")?, r.try_get("reason")?)))
        .collect()
}

// ---------------------------------------------------------------- transfers

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    pub id: String,
    pub from_account: String,
    pub to_account: String,
    pub currency: String,
    pub amount: i64,
    pub reference: Option<String>,
    pub created_at: i64,
}

pub async fn insert_transfer(tx: &mut Tx, t: &TransferRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO transfers (id, from_account, to_account, currency, amount, reference, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&t.id)
    .bind(&t.from_account)
    .bind(&t.to_account)
    .bind(&t.currency)
    .bind(t.amount)
    .bind(&t.reference)
    .bind(t.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- events (outbox)

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: String,
    pub account_id: String,
    pub event_type: String,
    /// JSON text.
    pub data: String,
    pub created_at: i64,
}

pub async fn insert_event(tx: &mut Tx, e: &EventRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (id, account_id, type, data, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&e.id)
    .bind(&e.account_id)
    .bind(&e.event_type)
    .bind(&e.data)
    .bind(e.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(crate) fn event_from(r: &AnyRow) -> Result<EventRow> {
    Ok(EventRow {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        event_type: r.try_get("type")?,
        data: r.try_get("data")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Events, newest first; of one account tree (`root` and its sub-accounts) or all.
pub async fn list_events<'e, E: Executor<'e, Database = Any>>(
    e: E,
    root: Option<&str>,
    event_type: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, account_id, type, data, created_at FROM events \
         WHERE ($1 = '' OR account_id = $1 OR account_id IN (SELECT id FROM accounts WHERE parent_id = $1)) \
         AND ($2 = '' OR type = $2) \
         AND seq < COALESCE((SELECT seq FROM events WHERE id = $3), 9223372036854775807) \
         ORDER BY seq DESC LIMIT $4",
    )
    .bind(root.unwrap_or(""))
    .bind(event_type.unwrap_or(""))
    .bind(starting_after.unwrap_or(""))
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(event_from).collect()
}

// ---------------------------------------------------------------- leases

/// Takes or renews the named lease for `owner` until `until`; false if another
/// owner holds it. One node at a time runs a periodic job this way.
pub async fn try_lease(tx: &mut Tx, name: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until \
         WHERE leases.owner = excluded.owner OR leases.until < $4",
    )
    .bind(name)
    .bind(owner)
    .bind(until)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
