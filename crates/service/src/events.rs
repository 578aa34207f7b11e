//! R26, R28: events are written to the outbox in the same transaction as their cause.

use crate::Result;
use refill_store::{EventRow, Tx};
use serde_json::Value;

pub const TOP_UP_SUCCEEDED: &str = "top_up.succeeded";
pub const TOP_UP_FAILED: &str = "top_up.failed";
pub const AUTO_TOP_UP_DISABLED: &str = "auto_top_up.disabled";
pub const BALANCE_LOW: &str = "balance.low";
pub const APPROACHING_THRESHOLD: &str = "balance.approaching_threshold";
pub const CAP_REACHED: &str = "cap.reached";
pub const PAYMENT_REVERSED: &str = "payment.reversed";
/// R29: a renewal the balance cannot cover (once per period), and the suspension of
/// its resource when the grace period ends.
pub const RESOURCE_RENEWAL_FAILED: &str = "resource.renewal_failed";
pub const RESOURCE_SUSPENDED: &str = "resource.suspended";
/// R31: a top-up's charge was refunded at the gateway; its credit was reversed.
pub const TOP_UP_REFUNDED: &str = "top_up.refunded";

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
