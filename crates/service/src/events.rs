//! R26, R28: events are written to the outbox in the same transaction as their cause.

use crate::Result;
use refill_store::{EventRow, Tx};
use serde_json::Value;

pub use refill_domain::notifications::event_types::*;

pub fn event(account_id: &str, event_type: &str, data: Value, now: i64) -> EventRow {
    EventRow {
        id: refill_store::new_id("evt"),
        account_id: account_id.to_string(),
        event_type: event_type.to_string(),
        data: data.to_string(),
        created_at: now,
    }
}

pub async fn emit(
    tx: &mut Tx,
    account_id: &str,
    event_type: &str,
    data: Value,
    now: i64,
) -> Result<()> {
    refill_store::insert_event(tx, &event(account_id, event_type, data, now)).await?;
    Ok(())
}
