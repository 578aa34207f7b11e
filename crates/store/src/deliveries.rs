//! Notifications (R26-R28): webhook endpoints, preferences, and deliveries of the
//! outbox's events.

use crate::{Dialect, EventRow, Result, Tx};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

// ---------------------------------------------------------------- webhook endpoints

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpointRow {
    pub id: String,
    /// None: the operator's, for every account.
    pub account_id: Option<String>,
    pub url: String,
    pub secret: String,
    /// "*" or comma-separated event types.
    pub event_types: String,
    pub description: Option<String>,
    /// Registered by the operator (may be internal); else it must be public.
    pub trusted: bool,
    pub removed_at: Option<i64>,
    pub created_at: i64,
}

const ENDPOINT_COLS: &str =
    "id, account_id, url, secret, event_types, description, trusted, removed_at, created_at";

fn endpoint_from(r: &AnyRow) -> Result<WebhookEndpointRow> {
    Ok(WebhookEndpointRow {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        url: r.try_get("url")?,
        secret: r.try_get("secret")?,
        event_types: r.try_get("event_types")?,
        description: r.try_get("description")?,
        trusted: r.try_get::<i64, _>("trusted")? != 0,
        removed_at: r.try_get("removed_at")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn insert_webhook_endpoint(tx: &mut Tx, w: &WebhookEndpointRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, account_id, url, secret, event_types, description, trusted, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&w.id)
    .bind(&w.account_id)
    .bind(&w.url)
    .bind(&w.secret)
    .bind(&w.event_types)
    .bind(&w.description)
    .bind(i64::from(w.trusted))
    .bind(w.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn get_webhook_endpoint<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<WebhookEndpointRow>> {
    crate::row_by(
        e,
        format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE id = $1"),
        id,
        endpoint_from,
    )
    .await
}

/// Endpoints not removed: all of them (`owner` None) or those of one account tree
/// (the account and its sub-accounts).
pub async fn list_webhook_endpoints<'e, E: Executor<'e, Database = Any>>(
    e: E,
    owner: Option<&str>,
) -> Result<Vec<WebhookEndpointRow>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE removed_at IS NULL \
         AND ($1 = '' OR account_id = $1 OR account_id IN (SELECT id FROM accounts WHERE parent_id = $1)) \
         ORDER BY created_at, id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(owner.unwrap_or(""))
        .fetch_all(e)
        .await?;
    rows.iter().map(endpoint_from).collect()
}

/// The endpoints that hear of an account's events: the operator's, the account's own,
/// and its main account's.
pub async fn endpoints_hearing<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
    parent_id: Option<&str>,
) -> Result<Vec<WebhookEndpointRow>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE removed_at IS NULL \
         AND (account_id IS NULL OR account_id = $1 OR account_id = $2) ORDER BY id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .bind(parent_id.unwrap_or(account_id))
        .fetch_all(e)
        .await?;
    rows.iter().map(endpoint_from).collect()
}

pub async fn remove_webhook_endpoint(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------- preferences

/// An account's stored choices: (channel, event types text).
pub async fn notification_preferences<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT channel, event_types FROM notification_preferences WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("channel")?, r.try_get("event_types")?)))
        .collect()
}

pub async fn put_notification_preference(
    tx: &mut Tx,
    account_id: &str,
    channel: &str,
    event_types: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_preferences (account_id, channel, event_types, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, channel) \
         DO UPDATE SET event_types = excluded.event_types, updated_at = excluded.updated_at",
    )
    .bind(account_id)
    .bind(channel)
    .bind(event_types)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- fan-out

/// The oldest events not fanned out yet (read without locks: `mark_dispatched`
/// decides which node fans each one out).
pub async fn undispatched_events(conn: &mut Tx, limit: i64) -> Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, account_id, type, data, created_at FROM events WHERE dispatched = 0 \
         ORDER BY seq LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(crate::work::event_from).collect()
}

/// Marks an event fanned out; false when it already was (by another node).
pub async fn mark_dispatched(tx: &mut Tx, event_id: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE events SET dispatched = 1 WHERE id = $1 AND dispatched = 0")
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_event<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<EventRow>> {
    let sql = "SELECT id, account_id, type, data, created_at FROM events WHERE id = $1";
    crate::row_by(e, sql.into(), id, crate::work::event_from).await
}

// ---------------------------------------------------------------- deliveries

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    /// email | sms | webhook
    pub channel: String,
    /// An email address, a phone number, or a webhook endpoint id.
    pub recipient: String,
    /// pending | delivered | dead
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub first_attempt_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
}

const DELIVERY_COLS: &str = "id, event_id, channel, recipient, status, attempts, next_attempt_at, \
    first_attempt_at, lease_owner, lease_until, last_error, delivered_at, created_at";

fn delivery_from(r: &AnyRow) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        channel: r.try_get("channel")?,
        recipient: r.try_get("recipient")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        first_attempt_at: r.try_get("first_attempt_at")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
        last_error: r.try_get("last_error")?,
        delivered_at: r.try_get("delivered_at")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Adds a delivery unless that (event, channel, recipient) already has one.
pub async fn insert_delivery(tx: &mut Tx, d: &DeliveryRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO deliveries (id, event_id, channel, recipient, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id, channel, recipient) DO NOTHING",
    )
    .bind(&d.id)
    .bind(&d.event_id)
    .bind(&d.channel)
    .bind(&d.recipient)
    .bind(&d.status)
    .bind(d.attempts)
    .bind(d.next_attempt_at)
    .bind(d.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` due deliveries with a lease in the row: while it lasts no
/// other node sends them; when a node dies its claims pass to another.
pub async fn claim_deliveries(
    tx: &mut Tx,
    dialect: Dialect,
    owner: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    let sql = format!(
        "SELECT {DELIVERY_COLS} FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT $2{}",
        dialect.skip_locked()
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    let mut claimed: Vec<DeliveryRow> = rows.iter().map(delivery_from).collect::<Result<_>>()?;
    for d in &mut claimed {
        d.lease_owner = Some(owner.into());
        d.lease_until = Some(now + lease_ms);
        sqlx::query("UPDATE deliveries SET lease_owner = $1, lease_until = $2 WHERE id = $3")
            .bind(owner)
            .bind(now + lease_ms)
            .bind(&d.id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(claimed)
}

/// Records the outcome of an attempt made under `owner`'s lease. A row another node
/// finished meanwhile is left as it is. False when nothing was written.
pub async fn finish_delivery(tx: &mut Tx, d: &DeliveryRow, owner: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = $1, attempts = $2, next_attempt_at = $3, first_attempt_at = $4, \
         last_error = $5, delivered_at = $6, lease_owner = NULL, lease_until = NULL \
         WHERE id = $7 AND status = 'pending' AND lease_owner = $8",
    )
    .bind(&d.status)
    .bind(d.attempts)
    .bind(d.next_attempt_at)
    .bind(d.first_attempt_at)
    .bind(&d.last_error)
    .bind(d.delivered_at)
    .bind(&d.id)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn deliveries_of_event<'e, E: Executor<'e, Database = Any>>(
    e: E,
    event_id: &str,
) -> Result<Vec<DeliveryRow>> {
    let sql = format!(
        "SELECT {DELIVERY_COLS} FROM deliveries WHERE event_id = $1 ORDER BY channel, recipient"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(event_id)
        .fetch_all(e)
        .await?;
    rows.iter().map(delivery_from).collect()
}

/// Which deliveries to send again.
#[derive(Debug, Clone, Copy)]
pub enum Redeliver<'a> {
    /// Every delivery of an event.
    Event(&'a str),
    /// The dead-lettered deliveries of an event.
    DeadOfEvent(&'a str),
    /// One delivery.
    One(&'a str),
    /// Every dead-lettered delivery.
    AllDead,
}

/// Sends deliveries again, from a fresh retry window. Returns how many were reset.
pub async fn redeliver(tx: &mut Tx, which: Redeliver<'_>, now: i64) -> Result<u64> {
    let (filter, arg) = match which {
        Redeliver::Event(id) => ("event_id = $2", id),
        Redeliver::DeadOfEvent(id) => ("event_id = $2 AND status = 'dead'", id),
        Redeliver::One(id) => ("id = $2", id),
        Redeliver::AllDead => ("status = 'dead' AND $2 = ''", ""),
    };
    let sql = format!(
        "UPDATE deliveries SET status = 'pending', attempts = 0, first_attempt_at = NULL, \
         next_attempt_at = $1, last_error = NULL, lease_owner = NULL, lease_until = NULL \
         WHERE {filter}"
    );
    let done = sqlx::query(AssertSqlSafe(sql))
        .bind(now)
        .bind(arg)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected())
}

/// Figures for /metrics: the backlog (delivered counts are each node's counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub pending: i64,
    pub dead: i64,
    pub undispatched_events: i64,
    /// created_at of the oldest pending delivery or undispatched event.
    pub oldest_waiting: Option<i64>,
}

pub async fn delivery_stats<'e, E: Executor<'e, Database = Any> + Copy>(
    e: E,
) -> Result<DeliveryStats> {
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM deliveries WHERE status = 'pending') AS pending, \
           (SELECT COUNT(*) FROM deliveries WHERE status = 'dead') AS dead, \
           (SELECT COUNT(*) FROM events WHERE dispatched = 0) AS undispatched, \
           (SELECT MIN(created_at) FROM deliveries WHERE status = 'pending') AS oldest_delivery, \
           (SELECT MIN(created_at) FROM events WHERE dispatched = 0) AS oldest_event",
    )
    .fetch_one(e)
    .await?;
    let oldest = [
        row.try_get::<Option<i64>, _>("oldest_delivery")?,
        row.try_get::<Option<i64>, _>("oldest_event")?,
    ];
    Ok(DeliveryStats {
        pending: row.try_get("pending")?,
        dead: row.try_get("dead")?,
        undispatched_events: row.try_get("undispatched")?,
        oldest_waiting: oldest.into_iter().flatten().min(),
    })
}
