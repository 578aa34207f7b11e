//! R30: a monthly scheduled recharge (amount, day of month, card). On its date
//! (midnight UTC; days 29-31 are the month's last day in shorter months) it tops up
//! whatever the balance, once per month: the periodic job queues a top-up of origin
//! `scheduled` whose request key names the account and the month (unique, and the
//! gateway's idempotency key derives from it), then the executor charges it like any
//! queued top-up, with its recovery points and outage handling.
//!
//! A scheduled recharge is not an automatic top-up in the sense of R19-R21: it is
//! never "in flight" (it does not block an auto top-up, nor is it blocked by one), it
//! does not count against the caps, and it does not use the minimum interval. A
//! declined charge is told (`top_up.failed`) and retried as R23 says (after the retry
//! delay, up to the failures in a row that end it; a hard decline ends it at once;
//! 3-D Secure waits for the customer's confirmation); a month whose recharge failed
//! stays failed, and the next month's runs as planned.

use crate::accounts::{Caller, lock};
use crate::api_objects::rfc3339;
use crate::{Refill, Result, ServiceError, events};
use refill_domain::accounts::{check_saved, require_card, require_payer};
use refill_domain::events::{FailedTopUp, TopUpFailed};
use refill_domain::recurring::{
    ScheduledStart, check_day_of_month, latest_missed_recharge, next_recharge, schedule_due,
    scheduled_start,
};
use refill_domain::top_up::{Origin, scheduled_request_key};
use refill_domain::{Currency, checkout};
use refill_store::{PaymentMethodRow, ScheduleRow, TopUpRow, Tx};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledRechargeRequest {
    /// Credited each month (tax on top, as for any top-up), at least the manual minimum (R8).
    #[schemars(range(min = 1))]
    pub amount: i64,
    /// 1 to 31; 29-31 mean the month's last day where it has fewer.
    #[schemars(range(min = 1, max = 31))]
    pub day_of_month: i64,
    /// A saved card; default: the account's primary card at the time of each run.
    pub payment_method: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ScheduledRechargeView {
    pub object: &'static str,
    pub account_id: String,
    pub amount: i64,
    pub currency: String,
    pub day_of_month: i64,
    /// None: the primary card.
    pub payment_method: Option<String>,
    pub next_run: String,
    pub last_run: Option<String>,
    pub last_top_up_id: Option<String>,
    pub version: i64,
    pub created: String,
    pub updated: String,
}

impl ScheduledRechargeView {
    fn new(s: &ScheduleRow, currency: &str) -> ScheduledRechargeView {
        ScheduledRechargeView {
            object: "scheduled_recharge",
            account_id: s.account_id.clone(),
            amount: s.amount,
            currency: currency.into(),
            day_of_month: s.day_of_month,
            payment_method: s.payment_method_id.clone(),
            next_run: rfc3339(s.next_run_at),
            last_run: s.last_run_at.map(rfc3339),
            last_top_up_id: s.last_top_up_id.clone(),
            version: s.version,
            created: rfc3339(s.created_at),
            updated: rfc3339(s.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct DeletedScheduledRecharge {
    pub object: &'static str,
    pub account_id: String,
    pub deleted: bool,
}

impl Refill {
    pub async fn get_scheduled_recharge(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<ScheduledRechargeView> {
        let account = self.account(caller, account_id).await?;
        let s = refill_store::get_schedule(&self.db.pool, account_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("scheduled recharge", account_id))?;
        Ok(ScheduledRechargeView::new(&s, &account.currency))
    }

    /// R30: sets (or replaces) the account's scheduled recharge. `if_match` is the
    /// version read before (R16: a lost race is refused, not overwritten).
    pub async fn put_scheduled_recharge(
        &self,
        caller: &Caller,
        account_id: &str,
        req: ScheduledRechargeRequest,
        if_match: Option<i64>,
    ) -> Result<ScheduledRechargeView> {
        let account = self.open_account(caller, account_id).await?;
        let minimum = self
            .config
            .minimum_top_up(Currency::parse(&account.currency)?);
        let amount = checkout::check_minimum(req.amount, minimum)?;
        let day = check_day_of_month(req.day_of_month)?;
        let pm_id = self.schedule_card_choice(account_id, &req).await?;
        require_payer(account.payer_email.as_deref())?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        lock(&mut tx, self, account_id).await?;
        let current = refill_store::lock_schedule(&mut tx, self.db.dialect, account_id).await?;
        let version = current.as_ref().map_or(0, |s| s.version);
        if if_match.is_some_and(|v| v != version) {
            return Err(ServiceError::VersionMismatch {
                expected: if_match.unwrap_or_default(),
            });
        }
        let last_for = current.as_ref().and_then(|s| s.last_run_for);
        let s = ScheduleRow {
            account_id: account_id.into(),
            amount,
            day_of_month: day as i64,
            payment_method_id: pm_id,
            next_run_at: self
                .first_run(&mut tx, account_id, now, day, last_for)
                .await?,
            last_run_for: last_for,
            last_run_at: current.as_ref().and_then(|s| s.last_run_at),
            last_top_up_id: current.as_ref().and_then(|s| s.last_top_up_id.clone()),
            version: version + 1,
            created_at: current.as_ref().map_or(now, |s| s.created_at),
            updated_at: now,
        };
        refill_store::put_schedule(&mut tx, &s).await?;
        tx.commit().await?;
        Ok(ScheduledRechargeView::new(&s, &account.currency))
    }

    /// The card named in the request (saved, not removed), or none for "the primary
    /// one", which must exist now (R5).
    async fn schedule_card_choice(
        &self,
        account_id: &str,
        req: &ScheduledRechargeRequest,
    ) -> Result<Option<String>> {
        if let Some(id) = &req.payment_method {
            let pm = self.payment_method(account_id, id).await?;
            check_saved(pm.card())?;
            return Ok(Some(pm.id));
        }
        let primary = refill_store::list_payment_methods(&self.db.pool, account_id)
            .await?
            .into_iter()
            .find(|p| p.is_primary);
        require_card(primary)?;
        Ok(None)
    }

    /// The first run of a new or changed schedule: never in a month already recharged,
    /// even by a schedule deleted since.
    async fn first_run(
        &self,
        tx: &mut Tx,
        account_id: &str,
        now: i64,
        day: u32,
        last_for: Option<i64>,
    ) -> Result<i64> {
        let next = next_recharge(now, day, last_for);
        let key = scheduled_request_key(account_id, next);
        if refill_store::top_up_by_request_key(&mut *tx, &key)
            .await?
            .is_some()
        {
            return Ok(next_recharge(now, day, Some(next)));
        }
        Ok(next)
    }

    /// R30: stops the account's scheduled recharge. A recharge already queued still runs.
    pub async fn delete_scheduled_recharge(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<DeletedScheduledRecharge> {
        self.account(caller, account_id).await?;
        let mut tx = self.db.begin().await?;
        lock(&mut tx, self, account_id).await?;
        if !refill_store::delete_schedule(&mut tx, account_id).await? {
            return Err(ServiceError::not_found("scheduled recharge", account_id));
        }
        tx.commit().await?;
        Ok(DeletedScheduledRecharge {
            object: "scheduled_recharge",
            account_id: account_id.into(),
            deleted: true,
        })
    }

    /// R30: queues the scheduled recharges due now (the executor charges them). Returns
    /// how many were queued.
    pub async fn run_scheduled_recharges(&self) -> Result<usize> {
        const BATCH: i64 = 500;
        let now = self.now();
        let mut queued = 0;
        // Bounded: each run moves its schedule past now, so the due set shrinks.
        for _ in 0..64 {
            let due = refill_store::schedules_due(&self.db.pool, now, BATCH).await?;
            for account_id in &due {
                match self.run_schedule(account_id, now).await {
                    Ok(q) => queued += q as usize,
                    Err(e) => eprintln!(
                        "refill: scheduled recharge of {account_id} failed, retried at the next check: {e}"
                    ),
                }
            }
            if (due.len() as i64) < BATCH {
                break;
            }
        }
        if queued > 0 {
            self.work_ready.notify_waiters();
        }
        Ok(queued)
    }

    /// One schedule's run, in one transaction: the month's top-up is queued (or, if
    /// the month has one already, nothing) and the schedule moves to its next date.
    async fn run_schedule(&self, account_id: &str, now: i64) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let account = lock(&mut tx, self, account_id).await?;
        let Some(mut s) = refill_store::lock_schedule(&mut tx, self.db.dialect, account_id).await?
        else {
            return Ok(false);
        };
        if !schedule_due(s.next_run_at, now) {
            return Ok(false);
        }
        // R30: after downtime, keyed by the latest month missed, not the earliest.
        let run_for = latest_missed_recharge(s.next_run_at, s.day_of_month as u32, now);
        let card = self.schedule_card(&mut tx, &s).await?;
        let rate = self.tax_rate(&mut tx, &account).await?;
        let summary = checkout::summary(s.amount, rate, Currency::parse(&account.currency)?)?;
        let start = scheduled_start(card.is_some(), now);
        let progress = match start {
            ScheduledStart::Queued(p) | ScheduledStart::NoCard { progress: p, .. } => p,
        };
        let id = refill_store::new_id("top");
        let mut t = TopUpRow {
            payment_method_id: card.as_ref().map(|p| p.id.clone()),
            amount: summary.amount,
            tax: summary.tax,
            total: summary.total,
            request_key: Some(scheduled_request_key(account_id, run_for)),
            ..TopUpRow::new(
                id,
                account_id,
                &account.currency,
                Origin::Scheduled,
                progress,
                now,
            )
        };
        if let ScheduledStart::NoCard { code, message, .. } = start {
            t.failure_code = Some(code.into());
            t.failure_message = Some(message.into());
        }
        // False: this month has its recharge already (the request key is unique).
        let inserted = refill_store::insert_top_up(&mut tx, &t).await?;
        if let (true, ScheduledStart::NoCard { code, message, .. }) = (inserted, start) {
            let failed = FailedTopUp {
                top_up_id: &t.id,
                origin: t.origin,
                amount: t.amount,
                currency: &t.currency,
                reason: code,
                message,
            };
            events::emit(&mut tx, account_id, TopUpFailed::not_started(&failed), now).await?;
        }
        s.last_run_for = Some(run_for);
        s.last_run_at = Some(now);
        if inserted {
            s.last_top_up_id = Some(t.id.clone());
        }
        s.next_run_at = next_recharge(now, s.day_of_month as u32, Some(run_for));
        s.updated_at = now;
        refill_store::put_schedule(&mut tx, &s).await?;
        tx.commit().await?;
        Ok(inserted && card.is_some())
    }

    /// The card a run charges: the one named (if still saved), else the primary.
    async fn schedule_card(
        &self,
        tx: &mut Tx,
        s: &ScheduleRow,
    ) -> Result<Option<PaymentMethodRow>> {
        Ok(match &s.payment_method_id {
            Some(id) => refill_store::get_payment_method(&mut *tx, id)
                .await?
                .filter(|p| p.card().usable() && p.account_id == s.account_id),
            None => refill_store::list_payment_methods(&mut *tx, &s.account_id)
                .await?
                .into_iter()
                .find(|p| p.is_primary),
        })
    }
}
