//! The `deliveries` table: each event's notifications to send, by channel and
//! recipient, retried under a lease until delivered or dead (R26-R28).

use crate::row;
use crate::{Dialect, Result, Tx};
use sqlx::{Any, AssertSqlSafe, Executor, Row};

/// A delivery's status, as stored.
pub mod delivery_status {
    /// Waiting for its next attempt.
    pub const PENDING: &str = "pending";
    pub const DELIVERED: &str = "delivered";
    /// Given up (dead-lettered); sent again only when asked to.
    pub const DEAD: &str = "dead";
}

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct DeliveryRow in "deliveries" {
        pub id: String,
        pub event_id: String,
        /// email | sms | webhook
        pub channel: String,
        /// An email address, a phone number, or a webhook endpoint id.
        pub recipient: String,
        /// `delivery_status`: pending | delivered | dead
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
}

/// Adds a delivery unless that (event, channel, recipient) already has one.
pub async fn insert_delivery(tx: &mut Tx, d: &DeliveryRow) -> Result<()> {
    let tail = " ON CONFLICT (event_id, channel, recipient) DO NOTHING";
    row::insert(tx, d, tail).await?;
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
    let mut claimed: Vec<DeliveryRow> = row::many(
        &mut *tx,
        &format!(
            "WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT $2{}",
            dialect.skip_locked()
        ),
        |q| q.bind(now).bind(limit),
    )
    .await?;
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
    row::many(e, "WHERE event_id = $1 ORDER BY channel, recipient", |q| {
        q.bind(event_id)
    })
    .await
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
