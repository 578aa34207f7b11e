//! The decision step: a claimed top-up, decided by the pure policy in one transaction
//! (R19-R21): canceled, left waiting, paid by transfer, or marked `charging` for a card.

use super::Next;
use crate::accounts::lock;
use crate::auto_top_up::save_settings;
use crate::{Refill, Result, events};
use refill_domain::auto_top_up::{
    AttemptContext, CapUsage, Decision, SourceKind, State, StateReason, WhyNot, cap_reached,
    decide_attempt, start_of_day, start_of_month,
};
use refill_domain::events::CapReached;
use refill_domain::resources::{UnpaidRenewal, unpaid_renewal};
use refill_domain::top_up::{Origin, TopUpStatus};
use refill_store::{AutoTopUpRow, TopUpRow, Tx};

impl Refill {
    /// Decides a queued top-up in one transaction: cancel, wait, transfer, or mark it
    /// `charging` (the recovery point before the gateway is called).
    pub(super) async fn decide(&self, claimed: &TopUpRow) -> Result<Next> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let account = lock(&mut tx, self, &claimed.account_id).await?;
        let Some(mut t) = refill_store::lock_top_up(&mut tx, self.db.dialect, &claimed.id).await?
        else {
            return Ok(Next::Done);
        };
        if t.status != TopUpStatus::Queued
            || t.lease_owner.as_deref() != Some(self.node_id.as_str())
        {
            return Ok(Next::Done);
        }
        // R4: a closed account is never topped up (closing cancels what auto top-up
        // queued; this is for a top-up queued as it closed).
        if account.closed_at.is_some() {
            self.finish_without_charge(&mut tx, &mut t, WhyNot::NotActive, now)
                .await?;
            tx.commit().await?;
            return Ok(Next::Done);
        }
        if t.origin != Origin::Auto {
            return self.start_manual_retry(tx, t, now).await;
        }
        let Some(mut settings) = refill_store::get_auto_top_up(&mut *tx, &t.account_id).await?
        else {
            self.finish_without_charge(&mut tx, &mut t, WhyNot::NotActive, now)
                .await?;
            tx.commit().await?;
            return Ok(Next::Done);
        };
        let ctx = AttemptContext {
            now,
            state: settings.state,
            balance: account.balance,
            threshold: settings.threshold,
            amount: settings.amount_rule()?,
            source: settings.source,
            window_until: settings.window_until,
            usage: self.cap_usage(&mut tx, &t.account_id, now).await?,
            renewal_unpaid: self.renewal_unpaid(&mut tx, &account).await?,
        };
        let next = match decide_attempt(ctx, &self.config.limits_in(&account.currency)?)? {
            Decision::Cancel { why } => {
                self.finish_without_charge(&mut tx, &mut t, why, now)
                    .await?;
                settings.why_not = Some(why);
                settings.next_attempt_at = None;
                Next::Done
            }
            Decision::Refuse { cap } => {
                // R21: it could never run: ended, and the settings disabled (told).
                let why = WhyNot::AmountAboveCap;
                self.finish_without_charge(&mut tx, &mut t, why, now)
                    .await?;
                let reason = StateReason::AmountAboveCap { cap };
                save_settings(&mut tx, &mut settings, Some(reason), now).await?;
                Next::Done
            }
            Decision::Wait { until, why } => {
                self.wait(&mut tx, &mut t, &mut settings, until, why, now)
                    .await?;
                Next::Done
            }
            Decision::Charge { amount } if ctx.source == SourceKind::Transfer => {
                self.top_up_by_transfer(&mut tx, &mut t, &mut settings, &account, amount, now)
                    .await?;
                Next::Done
            }
            Decision::Charge { amount } => {
                self.start_card_attempt(&mut tx, t, &mut settings, &account, amount, now)
                    .await?
            }
        };
        if settings.state == State::Active || settings.why_not.is_some() {
            settings.updated_at = now;
            refill_store::put_auto_top_up(&mut tx, &settings).await?;
        }
        tx.commit().await?;
        Ok(next)
    }

    async fn cap_usage(&self, tx: &mut Tx, account_id: &str, now: i64) -> Result<CapUsage> {
        let (day_count, day_amount) =
            refill_store::auto_top_up_usage(tx, account_id, start_of_day(now)).await?;
        let (month_count, month_amount) =
            refill_store::auto_top_up_usage(tx, account_id, start_of_month(now)).await?;
        Ok(CapUsage {
            day_count: day_count as u32,
            day_amount,
            month_count: month_count as u32,
            month_amount,
        })
    }

    /// R21, R29: a cap that holds the top-up an unpaid renewal waits for says which
    /// resource is at stake and when it is suspended unless paid.
    async fn renewal_at_stake(
        &self,
        tx: &mut Tx,
        told: CapReached,
        now: i64,
    ) -> Result<CapReached> {
        let t = refill_store::get_top_up(&mut *tx, &told.top_up_id).await?;
        let Some(t) = t else { return Ok(told) };
        let unpaid = refill_store::unpaid_renewals(&mut *tx, &t.account_id).await?;
        let Some(r) = unpaid.first() else {
            return Ok(told);
        };
        let grace = self.config.recurring.renewal_grace;
        let due = r.next_fee_at.unwrap_or(now);
        Ok(match unpaid_renewal(due, now, grace, r.shortfall_since) {
            UnpaidRenewal::Retry { suspend_at, .. } => told.for_renewal(&r.id, suspend_at),
            UnpaidRenewal::Suspend => told,
        })
    }

    /// Ends a queued top-up without a charge (R18: not a failure), saying why.
    pub(crate) async fn finish_without_charge(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        why: WhyNot,
        now: i64,
    ) -> Result<()> {
        t.set_progress(t.progress().cancel(why, now)?);
        t.updated_at = now;
        t.lease_owner = None;
        t.lease_until = None;
        refill_store::update_top_up(tx, t).await?;
        Ok(())
    }

    /// R20, R21: the top-up stays queued until `until`; a cap reached is told once.
    async fn wait(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: &mut AutoTopUpRow,
        until: i64,
        why: WhyNot,
        now: i64,
    ) -> Result<()> {
        if let Some(cap) = cap_reached(t.why_waiting, why) {
            let told = CapReached::new(cap, until, &t.id);
            let told = self.renewal_at_stake(tx, told, now).await?;
            events::emit(tx, &t.account_id, told, now).await?;
        }
        t.set_progress(t.progress().wait(until, why)?);
        t.lease_owner = None;
        t.lease_until = None;
        t.updated_at = now;
        refill_store::update_top_up(tx, t).await?;
        s.next_attempt_at = Some(until);
        s.why_not = Some(why);
        Ok(())
    }
}
