//! The `notification_preferences` table: which events an account hears of on each
//! channel (R26).

use crate::{Result, Tx};
use sqlx::{Any, Executor, Row};

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
