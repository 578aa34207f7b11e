//! R26, R28: events are written to the outbox in the same transaction as their cause.
//! Every event is one of the domain's typed payloads (`refill_domain::events`),
//! serialized here, once, to the JSON the webhooks carry.

use crate::{Result, ServiceError};
use refill_domain::events::Event;
use refill_store::{EventRow, StoreError, Tx};

/// The outbox row of an event: its type is its payload's.
pub fn event(account_id: &str, payload: impl Into<Event>, now: i64) -> Result<EventRow> {
    let payload = payload.into();
    let data = serde_json::to_string(&payload)
        .map_err(|e| ServiceError::Store(StoreError::Corrupt(format!("event payload: {e}"))))?;
    Ok(EventRow {
        id: refill_store::new_id("evt"),
        account_id: account_id.to_string(),
        event_type: payload.event_type().as_str().to_string(),
        data,
        created_at: now,
    })
}

/// Writes an event (any payload of the domain's) in the caller's transaction.
pub async fn emit(
    tx: &mut Tx,
    account_id: &str,
    payload: impl Into<Event>,
    now: i64,
) -> Result<()> {
    refill_store::insert_event(tx, &event(account_id, payload, now)?).await?;
    Ok(())
}
