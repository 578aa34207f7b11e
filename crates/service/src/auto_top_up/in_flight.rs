//! R23, R24: what a change of settings does to the automatic top-up in flight:
//! turning off cancels what is queued, planned or waiting for the customer (told by
//! `top_up.failed`); another change re-plans what is queued or planned.

use crate::{Refill, Result, events};
use refill_domain::auto_top_up::{AfterChange, WhyNot, in_flight_after_change};
use refill_domain::events::{FailedTopUp, TopUpFailed};
use refill_store::Tx;

/// The `top_up.failed` reason of a top-up canceled by turning auto top-up off.
pub const TURNED_OFF: &str = "auto_top_up_turned_off";

impl Refill {
    /// Carries out the domain's `in_flight_after_change` on the account's automatic
    /// top-up in flight, in the transaction that saves the settings (the account
    /// locked). True when one became due now.
    pub(super) async fn after_settings_change(
        &self,
        tx: &mut Tx,
        account_id: &str,
        turned_off: bool,
        now: i64,
    ) -> Result<bool> {
        let Some(found) = refill_store::top_up_in_flight(&mut *tx, account_id).await? else {
            return Ok(false);
        };
        let Some(mut t) = refill_store::lock_top_up(tx, self.db.dialect, &found.id).await? else {
            return Ok(false);
        };
        match in_flight_after_change(t.status, turned_off) {
            AfterChange::Keep => return Ok(false),
            AfterChange::DueNow => t.set_progress(t.progress().replan(now)?),
            AfterChange::Cancel => {
                t.set_progress(t.progress().cancel(WhyNot::TurnedOff, now)?);
                (t.lease_owner, t.lease_until) = (None, None);
                let message = "auto top-up was turned off: this top-up was canceled, \
                               and will not be charged";
                let failed = FailedTopUp {
                    top_up_id: &t.id,
                    origin: t.origin,
                    amount: t.amount,
                    currency: &t.currency,
                    reason: TURNED_OFF,
                    message,
                };
                let told = TopUpFailed::canceled(&failed);
                events::emit(tx, account_id, told, now).await?;
            }
        }
        t.updated_at = now;
        refill_store::update_top_up(tx, &t).await?;
        Ok(!turned_off)
    }
}
