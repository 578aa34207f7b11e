//! The `stripe_events` table: the Stripe webhook events already processed, each once.

use crate::{Result, Tx};
use sqlx::{Any, Executor};

/// Records a Stripe event as processed; false if it was processed before. Called in
/// the transaction of the event's effect, so the two commit together or not at all.
pub async fn record_stripe_event(
    tx: &mut Tx,
    id: &str,
    event_type: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(event_type)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn stripe_event_seen<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events WHERE id = $1")
        .bind(id)
        .fetch_one(e)
        .await?;
    Ok(n > 0)
}
