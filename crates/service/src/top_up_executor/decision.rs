//! The decision step: a claimed top-up, decided by the pure policy in one transaction
//! (R19-R21): canceled, left waiting, paid by transfer, or marked `charging` for a card.

use super::Next;
use crate::accounts::lock;
use crate::api_objects::rfc3339;
use crate::{Refill, Result, events};
use refill_domain::auto_top_up::{
    AmountRule, AttemptContext, CapUsage, Decision, SourceKind, State, WhyNot, decide_attempt,
    start_of_day, start_of_month,
};
use refill_store::{AutoTopUpRow, TopUpRow, Tx};
use serde_json::json;

fn parse_amount_rule(s: &AutoTopUpRow) -> AmountRule {
    if s.amount_mode == "target" {
        AmountRule::UpToTarget(s.amount)
    } else {
        AmountRule::Fixed(s.amount)
    }
}

fn parse_source(s: &str) -> SourceKind {
    if s == "transfer" {
        SourceKind::Transfer
    } else {
        SourceKind::Card
    }
}

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
        if t.status != "queued" || t.lease_owner.as_deref() != Some(self.node_id.as_str()) {
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
        if t.origin != "auto" {
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
            state: State::parse(&settings.state),
            balance: account.balance,
            threshold: settings.threshold,
            amount: parse_amount_rule(&settings),
            source: parse_source(&settings.source),
            window_until: settings.window_until,
            usage: self.cap_usage(&mut tx, &t.account_id, now).await?,
        };
        let next = match decide_attempt(ctx, &self.config.limits_in(&account.currency)?)? {
            Decision::Cancel { why } => {
                self.finish_without_charge(&mut tx, &mut t, why, now)
                    .await?;
                settings.why_not = Some(why.as_str().into());
                settings.next_attempt_at = None;
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
        if State::parse(&settings.state) == State::Active || settings.why_not.is_some() {
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

    pub(crate) async fn finish_without_charge(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        why: WhyNot,
        now: i64,
    ) -> Result<()> {
        t.status = "canceled".into();
        t.in_flight = false;
        t.why_waiting = Some(why.as_str().into());
        t.completed_at = Some(now);
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
        let first_time = t.why_waiting.as_deref() != Some(why.as_str());
        if first_time && matches!(why, WhyNot::DailyCapReached | WhyNot::MonthlyCapReached) {
            let cap = if why == WhyNot::DailyCapReached {
                "daily"
            } else {
                "monthly"
            };
            let data =
                json!({"cap": cap, "until": rfc3339(until), "until_ms": until, "top_up_id": t.id});
            events::emit(tx, &t.account_id, events::CAP_REACHED, data, now).await?;
        }
        t.not_before = Some(until);
        t.why_waiting = Some(why.as_str().into());
        t.lease_owner = None;
        t.lease_until = None;
        t.updated_at = now;
        refill_store::update_top_up(tx, t).await?;
        s.next_attempt_at = Some(until);
        s.why_not = Some(why.as_str().into());
        Ok(())
    }
}
