//! The auto top-up engine (R18-R25): queued top-ups are claimed with a lease, decided
//! by the pure policy, charged with an idempotency key derived from the top-up's own
//! id and attempt, and their outcome recorded, with recovery points in between
//! (queued -> charging -> succeeded | pending | failed), so a crash anywhere resumes
//! and never charges twice. Also the periodic check (R22) and the settlement of
//! pending payments (R11).

use crate::accounts::{lock, move_credit};
use crate::views::rfc3339;
use crate::{Refill, Result, ServiceError, events};
use refill_domain::auto_top_up::{
    AfterFailure, AmountRule, AttemptContext, CapUsage, Decision, FailureClass, SourceKind, State,
    WhyNot, after_failure, decide_attempt, start_of_day, start_of_month, window_after_attempt,
};
use refill_domain::debit::effects_of_balance_change;
use refill_domain::{checkout, ledger, money};
use refill_gateway::{Charge, ChargeRequest, ChargeStatus, DeclineClass, GatewayError};
use refill_store::Dialect;
use refill_store::{AutoTopUpRow, EntryRow, PaymentMethodRow, TopUpRow, TransferRow, Tx};
use serde_json::json;
use std::time::Duration;

/// R18, R19: queues an automatic top-up for an account, unless one is in flight
/// already (the unique index decides, whatever races). True if queued.
pub async fn queue_auto_top_up(
    tx: &mut Tx,
    account_id: &str,
    currency: &str,
    not_before: i64,
    now: i64,
) -> Result<bool> {
    let row = auto_top_up_row(account_id, currency, not_before, now);
    Ok(refill_store::insert_top_up(tx, &row).await?)
}

/// A queued automatic top-up, in flight from now on (R19).
fn auto_top_up_row(account_id: &str, currency: &str, not_before: i64, now: i64) -> TopUpRow {
    TopUpRow {
        id: refill_store::new_id("top"),
        account_id: account_id.into(),
        origin: "auto".into(),
        source: "card".into(),
        currency: currency.into(),
        status: "queued".into(),
        in_flight: true,
        not_before: Some(not_before),
        created_at: now,
        updated_at: now,
        ..TopUpRow::default()
    }
}

/// `queue_auto_top_up` for many accounts, (id, currency), in a few statements (the
/// periodic check, R22). Returns how many were queued.
pub async fn queue_auto_top_ups(
    tx: &mut Tx,
    accounts: &[(String, String)],
    not_before: i64,
    now: i64,
) -> Result<usize> {
    let rows: Vec<TopUpRow> = accounts
        .iter()
        .map(|(id, currency)| auto_top_up_row(id, currency, not_before, now))
        .collect();
    Ok(refill_store::insert_top_ups(tx, &rows).await? as usize)
}

/// The gateway's idempotency key for one attempt of a top-up (R25). A scheduled
/// recharge's key names its account and month (R30), so that month can never be
/// charged twice, even by a second row.
pub fn charge_key(t: &TopUpRow) -> String {
    match (t.origin.as_str(), &t.request_key) {
        ("scheduled", Some(month_key)) => format!("{month_key}:{}", t.attempt),
        _ => format!("{}:{}", t.id, t.attempt),
    }
}

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

fn class_of(c: DeclineClass) -> FailureClass {
    match c {
        DeclineClass::Soft => FailureClass::Soft,
        DeclineClass::Hard => FailureClass::Hard,
        DeclineClass::AuthenticationRequired => FailureClass::AuthenticationRequired,
    }
}

/// What to do after the decision transaction.
enum Next {
    Done,
    Charge(Box<(TopUpRow, PaymentMethodRow)>),
}

impl Refill {
    /// Runs the top-ups that are due now (and resolves abandoned charges). Returns how
    /// many were worked on.
    pub async fn run_due_top_ups(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let claimed = refill_store::claim_top_ups(
            &mut tx,
            self.db.dialect,
            &self.node_id,
            now,
            self.config.lease_ms,
            32,
        )
        .await?;
        tx.commit().await?;
        let n = claimed.len();
        for t in claimed {
            if let Err(e) = self.work_on(t).await {
                eprintln!("refill: top-up work failed, will retry after its lease: {e}");
            }
        }
        Ok(n)
    }

    /// Runs due work until none is left (tests and the demo drive time this way).
    pub async fn run_until_idle(&self) -> Result<usize> {
        let mut total = 0;
        for _ in 0..1_000 {
            let n = self.run_due_top_ups().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
        Ok(total)
    }

    async fn work_on(&self, t: TopUpRow) -> Result<()> {
        if t.status == "charging" {
            return self.resolve_unknown(t).await;
        }
        match self.decide(&t).await? {
            Next::Done => Ok(()),
            Next::Charge(work) => self.charge_and_record(work.0, work.1).await,
        }
    }

    /// Decides a queued top-up in one transaction: cancel, wait, transfer, or mark it
    /// `charging` (the recovery point before the gateway is called).
    async fn decide(&self, claimed: &TopUpRow) -> Result<Next> {
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
        let next = match decide_attempt(ctx, &self.config.limits)? {
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

    async fn finish_without_charge(
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

    /// R12, R15, R23: a sub-account's top-up from its main account, atomically; it
    /// fails cleanly when the main account cannot cover it.
    async fn top_up_by_transfer(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: &mut AutoTopUpRow,
        account: &refill_store::AccountRow,
        amount: i64,
        now: i64,
    ) -> Result<()> {
        let main = account
            .parent_id
            .clone()
            .ok_or(refill_domain::DomainError::TransferSourceNeedsSubAccount)?;
        t.source = "transfer".into();
        t.amount = amount;
        t.total = amount;
        t.attempt += 1;
        s.last_attempt_at = Some(now);
        s.last_attempt_top_up_id = Some(t.id.clone());
        let transfer = TransferRow {
            id: refill_store::new_id("xfr"),
            from_account: main,
            to_account: account.id.clone(),
            currency: account.currency.clone(),
            amount,
            reference: Some(format!("auto top-up {}", t.id)),
            created_at: now,
        };
        match move_credit(self, tx, &transfer, "auto top-up").await {
            Ok((_, balance_after)) => {
                refill_store::insert_transfer(tx, &transfer).await?;
                t.gateway_charge_id = Some(transfer.id.clone());
                self.succeeded(tx, t, s, "succeeded", balance_after, now)
                    .await
            }
            Err(ServiceError::Domain(
                refill_domain::DomainError::InsufficientBalance { .. }
                | refill_domain::DomainError::AccountBlocked { .. },
            )) => {
                let msg = "the main account's balance cannot cover the transfer";
                self.failed(
                    tx,
                    t,
                    Some(s),
                    FailureClass::SourceInsufficient,
                    "main_account_insufficient",
                    msg,
                    now,
                )
                .await
            }
            Err(e) => Err(e),
        }
    }

    /// The recovery point before a card charge: amount, tax and attempt are fixed
    /// and committed, so a crash after it resumes with the same idempotency key.
    async fn start_card_attempt(
        &self,
        tx: &mut Tx,
        mut t: TopUpRow,
        s: &mut AutoTopUpRow,
        account: &refill_store::AccountRow,
        amount: i64,
        now: i64,
    ) -> Result<Next> {
        let pm = match &s.payment_method_id {
            Some(id) => refill_store::get_payment_method(&mut *tx, id)
                .await?
                .filter(|p| p.removed_at.is_none()),
            None => None,
        };
        let Some(pm) = pm else {
            self.disable(tx, s, "payment_method_removed", now).await?;
            self.finish_without_charge(tx, &mut t, WhyNot::NotActive, now)
                .await?;
            return Ok(Next::Done);
        };
        let rate = self.config.tax.rate_bps(account.payer_country.as_deref());
        let summary = checkout::summary(amount, rate)?;
        t.source = "card".into();
        t.payment_method_id = Some(pm.id.clone());
        t.amount = summary.amount;
        t.tax = summary.tax;
        t.total = summary.total;
        t.attempt += 1;
        t.status = "charging".into();
        t.gateway_charge_id = None;
        t.lease_until = Some(now + self.config.lease_ms);
        t.updated_at = now;
        refill_store::update_top_up(tx, &t).await?;
        // R20, R23: an attempt, failed or not, uses the window.
        s.window_until = window_after_attempt(SourceKind::Card, now, &self.config.limits);
        s.last_attempt_at = Some(now);
        s.last_attempt_top_up_id = Some(t.id.clone());
        s.last_attempt_outcome = Some("charging".into());
        s.why_not = None;
        s.next_attempt_at = None;
        Ok(Next::Charge(Box::new((t, pm))))
    }

    /// Calls the gateway and records what it said. An outage leaves the top-up
    /// `charging`: it is resolved later by asking the gateway (R25).
    pub(crate) async fn charge_and_record(&self, t: TopUpRow, pm: PaymentMethodRow) -> Result<()> {
        let req = ChargeRequest {
            idempotency_key: charge_key(&t),
            payment_method: pm.gateway_token.clone(),
            customer: self.customer_of_card(&pm.id).await?,
            amount: t.total,
            currency: t.currency.clone(),
            description: format!("refill {} top-up {}", t.origin, t.id),
            metadata: vec![
                ("refill_top_up".into(), t.id.clone()),
                ("refill_account".into(), t.account_id.clone()),
            ],
            off_session: t.origin != "manual",
            authenticated: t.authenticated,
        };
        match self.gateway.charge(&req).await {
            Ok(charge) => self.record_charge(&t.id, t.attempt, &charge).await,
            Err(GatewayError::Outage(msg)) => self.record_outage(&t.id, t.attempt, &msg).await,
            Err(GatewayError::Invalid(msg)) => {
                let charge = Charge {
                    id: String::new(),
                    amount: t.total,
                    currency: t.currency.clone(),
                    status: ChargeStatus::Declined {
                        class: DeclineClass::Soft,
                        code: "invalid_request".into(),
                        message: msg,
                    },
                };
                self.record_charge(&t.id, t.attempt, &charge).await
            }
        }
    }

    /// R25: a charge whose outcome is unknown is found by its key, never guessed; if
    /// the gateway never saw it, it is sent again with the same key.
    async fn resolve_unknown(&self, t: TopUpRow) -> Result<()> {
        match self.gateway.find_charge(&charge_key(&t)).await {
            Ok(Some(charge)) => self.record_charge(&t.id, t.attempt, &charge).await,
            Ok(None) => {
                let pm = refill_store::payment_method_named(
                    &self.db.pool,
                    t.payment_method_id.as_deref(),
                )
                .await?;
                match pm {
                    Some(pm) => self.charge_and_record(t, pm).await,
                    None => Err(ServiceError::not_found(
                        "payment method",
                        t.payment_method_id.as_deref().unwrap_or("?"),
                    )),
                }
            }
            Err(GatewayError::Outage(msg)) => self.record_outage(&t.id, t.attempt, &msg).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Records a gateway outage: not the customer's failure (R23); the attempt is
    /// resolved after the outage retry delay.
    async fn record_outage(&self, id: &str, attempt: i64, msg: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some(mut t) = refill_store::lock_top_up(&mut tx, self.db.dialect, id).await? else {
            return Ok(());
        };
        if t.status != "charging" || t.attempt != attempt {
            return Ok(());
        }
        t.lease_owner = None;
        t.lease_until = Some(now + self.config.limits.outage_retry_delay);
        t.why_waiting = Some("gateway_unavailable".into());
        t.failure_message = Some(msg.chars().take(500).collect());
        t.updated_at = now;
        refill_store::update_top_up(&mut tx, &t).await?;
        if let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, &t.account_id).await?
            && t.origin == "auto"
        {
            s.why_not = Some("gateway_unavailable".into());
            s.next_attempt_at = t.lease_until;
            refill_store::put_auto_top_up(&mut tx, &s).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a charge's outcome, once: a top-up that is no longer `charging` at this
    /// attempt was recorded already (by another node, a webhook, or before a crash).
    pub(crate) async fn record_charge(
        &self,
        id: &str,
        attempt: i64,
        charge: &Charge,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((account, mut t)) = self.lock_top_up_and_account(&mut tx, id).await? else {
            return Ok(());
        };
        if t.status != "charging" || t.attempt != attempt {
            return Ok(());
        }
        self.apply_charge(&mut tx, &account, &mut t, charge, now)
            .await?;
        tx.commit().await?;
        self.work_ready.notify_waiters();
        Ok(())
    }

    /// Locks a top-up's account, then the top-up: the lock order everywhere.
    pub(crate) async fn lock_top_up_and_account(
        &self,
        tx: &mut Tx,
        id: &str,
    ) -> Result<Option<(refill_store::AccountRow, TopUpRow)>> {
        let account_id = match refill_store::get_top_up(&mut *tx, id).await? {
            Some(t) => t.account_id,
            None => return Ok(None),
        };
        let account = lock(tx, self, &account_id).await?;
        let t = refill_store::lock_top_up(tx, self.db.dialect, id).await?;
        Ok(t.map(|t| (account, t)))
    }

    /// Applies a charge's outcome to a top-up being charged (both locked): the credit
    /// (R10, R11), or the failure (R23), with their events and R21's follow-up.
    pub(crate) async fn apply_charge(
        &self,
        tx: &mut Tx,
        account: &refill_store::AccountRow,
        t: &mut TopUpRow,
        charge: &Charge,
        now: i64,
    ) -> Result<()> {
        if !charge.id.is_empty() {
            t.gateway_charge_id = Some(charge.id.clone());
        }
        let mut settings = match t.origin.as_str() {
            "auto" => refill_store::get_auto_top_up(&mut *tx, &t.account_id).await?,
            _ => None,
        };
        match &charge.status {
            // R11, configured off: the credit waits until the payment settles.
            ChargeStatus::Pending if !self.config.credit_pending => {
                self.hold_pending(tx, t, settings.as_mut(), now).await?;
            }
            ChargeStatus::Succeeded | ChargeStatus::Pending => {
                let status = if charge.status == ChargeStatus::Pending {
                    "pending"
                } else {
                    "succeeded"
                };
                let after = self.credit(tx, t, account, now).await?;
                self.succeeded_opt(tx, t, settings.as_mut(), status, after, now)
                    .await?;
            }
            ChargeStatus::Declined {
                class,
                code,
                message,
            } => {
                self.failed(
                    tx,
                    t,
                    settings.as_mut(),
                    class_of(*class),
                    code,
                    message,
                    now,
                )
                .await?;
            }
        }
        if let Some(s) = &settings {
            refill_store::put_auto_top_up(tx, s).await?;
        }
        Ok(())
    }

    /// Credits a paid top-up to the balance (R10, R11: a pending one is usable at once).
    pub(crate) async fn credit(
        &self,
        tx: &mut Tx,
        t: &TopUpRow,
        account: &refill_store::AccountRow,
        now: i64,
    ) -> Result<i64> {
        let journal = ledger::top_up(&t.account_id, t.amount, t.tax)?;
        let after = money::add(account.balance, t.amount)?;
        post(
            tx,
            &journal,
            &account.currency,
            &[(&t.account_id, after)],
            &format!("top-up {}", t.id),
            now,
        )
        .await?;
        let fx =
            effects_of_balance_change(crate::accounts::watch_of(account), account.balance, after);
        refill_store::set_balance(tx, &t.account_id, after, fx.low_balance_armed).await?;
        Ok(after)
    }

    pub(crate) async fn succeeded_opt(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: Option<&mut AutoTopUpRow>,
        status: &str,
        after: i64,
        now: i64,
    ) -> Result<()> {
        match s {
            Some(s) => self.succeeded(tx, t, s, status, after, now).await,
            None => {
                let pm = self.card_of(tx, t).await?;
                self.close_success(tx, t, status, after, pm.as_ref(), now)
                    .await
            }
        }
    }

    async fn card_of(&self, tx: &mut Tx, t: &TopUpRow) -> Result<Option<PaymentMethodRow>> {
        Ok(refill_store::payment_method_named(&mut *tx, t.payment_method_id.as_deref()).await?)
    }

    /// A top-up succeeded: the receipt event, and R21's follow-up when the balance
    /// is still at or below the threshold.
    async fn succeeded(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: &mut AutoTopUpRow,
        status: &str,
        after: i64,
        now: i64,
    ) -> Result<()> {
        let pm = self.card_of(tx, t).await?;
        self.close_success(tx, t, status, after, pm.as_ref(), now)
            .await?;
        s.consecutive_failures = 0;
        s.last_attempt_outcome = Some(status.into());
        s.why_not = None;
        s.next_attempt_at = None;
        if State::parse(&s.state) == State::Active && after <= s.threshold {
            let not_before = if t.source == "card" {
                s.window_until.unwrap_or(now)
            } else {
                now
            };
            queue_auto_top_up(tx, &t.account_id, &t.currency, not_before, now).await?;
            s.next_attempt_at = Some(not_before);
        }
        Ok(())
    }

    async fn close_success(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        status: &str,
        after: i64,
        pm: Option<&PaymentMethodRow>,
        now: i64,
    ) -> Result<()> {
        t.status = status.into();
        t.in_flight = false;
        t.completed_at = Some(now);
        t.updated_at = now;
        t.lease_owner = None;
        t.lease_until = None;
        t.why_waiting = None;
        t.failure_code = None;
        t.failure_message = None;
        refill_store::update_top_up(tx, t).await?;
        let data = json!({
            "top_up_id": t.id, "origin": t.origin, "source": t.source, "status": status,
            "amount": t.amount, "tax": t.tax, "total": t.total, "currency": t.currency,
            "transaction_id": t.gateway_charge_id, "balance_after": after,
            "card_brand": pm.map(|p| p.brand.clone()), "card_last4": pm.map(|p| p.last4.clone()),
            "paid_at": rfc3339(now),
        });
        events::emit(tx, &t.account_id, events::TOP_UP_SUCCEEDED, data, now).await
    }

    /// R23: a failed attempt: retried later, waiting for the customer, or disabling.
    #[allow(clippy::too_many_arguments)]
    async fn failed(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: Option<&mut AutoTopUpRow>,
        class: FailureClass,
        code: &str,
        message: &str,
        now: i64,
    ) -> Result<()> {
        t.failure_code = Some(code.into());
        t.failure_message = Some(message.into());
        t.lease_owner = None;
        t.lease_until = None;
        t.updated_at = now;
        let mut next_attempt = None;
        match s {
            None if t.origin == "scheduled" => {
                next_attempt = crate::scheduled::after_failure(t, class, now, &self.config.limits);
            }
            None => {
                t.status = if class == FailureClass::AuthenticationRequired {
                    "requires_action"
                } else {
                    "failed"
                }
                .into();
                t.completed_at = Some(now);
                t.in_flight = false;
            }
            Some(s) => {
                let after = after_failure(
                    class,
                    s.consecutive_failures as u32,
                    now,
                    &self.config.limits,
                );
                s.last_attempt_outcome = Some(format!("failed: {code}"));
                next_attempt = self.apply_failure(tx, t, s, after, code, now).await?;
            }
        }
        refill_store::update_top_up(tx, t).await?;
        let data = json!({
            "top_up_id": t.id, "origin": t.origin, "amount": t.amount, "currency": t.currency,
            "reason": code, "message": message, "next_attempt": next_attempt.map(rfc3339),
            "next_attempt_ms": next_attempt,
            "action_required": (t.status == "requires_action").then(|| format!("POST /v1/top-ups/{}/confirm", t.id)),
        });
        events::emit(tx, &t.account_id, events::TOP_UP_FAILED, data, now).await
    }

    async fn apply_failure(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: &mut AutoTopUpRow,
        after: AfterFailure,
        code: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        match after {
            AfterFailure::Retry { at, failures } => {
                t.status = "queued".into();
                t.not_before = Some(at);
                t.why_waiting = Some(WhyNot::RetryScheduled.as_str().into());
                s.consecutive_failures = failures as i64;
                s.next_attempt_at = Some(at);
                s.why_not = Some(WhyNot::RetryScheduled.as_str().into());
                Ok(Some(at))
            }
            AfterFailure::WaitForCustomer { failures } => {
                t.status = "requires_action".into();
                t.not_before = None;
                t.why_waiting = Some(WhyNot::WaitingForCustomer.as_str().into());
                s.consecutive_failures = failures as i64;
                s.why_not = Some(WhyNot::WaitingForCustomer.as_str().into());
                s.next_attempt_at = None;
                Ok(None)
            }
            AfterFailure::Disable { failures } => {
                t.status = "failed".into();
                t.in_flight = false;
                t.completed_at = Some(now);
                s.consecutive_failures = failures as i64;
                let reason = if failures >= self.config.limits.max_consecutive_failures
                    && code != "lost_card"
                {
                    format!("{failures} consecutive failed attempts (last: {code})")
                } else {
                    format!("card declined: {code}")
                };
                self.disable(tx, s, &reason, now).await?;
                Ok(None)
            }
        }
    }

    /// R24: the engine turns auto top-up off, with its reason; the settings
    /// themselves are kept as they were (R16).
    pub(crate) async fn disable(
        &self,
        tx: &mut Tx,
        s: &mut AutoTopUpRow,
        reason: &str,
        now: i64,
    ) -> Result<()> {
        s.state = State::Disabled.as_str().into();
        s.state_reason = Some(reason.into());
        s.state_changed_at = now;
        s.next_attempt_at = None;
        s.why_not = Some(WhyNot::NotActive.as_str().into());
        s.version += 1;
        s.updated_at = now;
        refill_store::put_auto_top_up(tx, s).await?;
        refill_store::set_auto_threshold(tx, &s.account_id, None).await?;
        refill_store::record_state_change(tx, &s.account_id, "disabled", reason, now).await?;
        let data = json!({"reason": reason, "failures": s.consecutive_failures});
        events::emit(tx, &s.account_id, events::AUTO_TOP_UP_DISABLED, data, now).await
    }

    /// A manual top-up queued again after the customer authenticated (3-D Secure).
    async fn start_manual_retry(
        &self,
        mut tx: refill_store::Transaction,
        mut t: TopUpRow,
        now: i64,
    ) -> Result<Next> {
        let pm = self.card_of(&mut tx, &t).await?;
        let Some(pm) = pm else {
            self.finish_without_charge(&mut tx, &mut t, WhyNot::NotActive, now)
                .await?;
            tx.commit().await?;
            return Ok(Next::Done);
        };
        t.attempt += 1;
        t.status = "charging".into();
        // The last attempt's PaymentIntent is not this attempt's.
        t.gateway_charge_id = None;
        t.lease_until = Some(now + self.config.lease_ms);
        t.updated_at = now;
        refill_store::update_top_up(&mut tx, &t).await?;
        tx.commit().await?;
        Ok(Next::Charge(Box::new((t, pm))))
    }

    /// R22: the periodic check. Queues a top-up for every active account at or below
    /// its threshold with nothing in flight (by index), and disables settings whose
    /// payment method or payer is gone. Returns (queued, disabled).
    pub async fn periodic_check(&self) -> Result<(usize, usize)> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let due = refill_store::accounts_due_with_currency(&mut *tx, 10_000).await?;
        let queued = queue_auto_top_ups(&mut tx, &due, now, now).await?;
        let gone = refill_store::active_settings_without_means(&mut *tx).await?;
        for (account_id, reason) in &gone {
            if let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, account_id).await? {
                self.disable(&mut tx, &mut s, reason, now).await?;
            }
        }
        refill_store::expire_idempotent(&mut *tx, now - 2 * refill_domain::DAY).await?;
        tx.commit().await?;
        if queued > 0 {
            self.work_ready.notify_waiters();
        }
        Ok((queued, gone.len()))
    }

    /// R11: asks the gateway about pending payments; a finally failed one is reversed
    /// by a new entry, the account flagged, and the customer told.
    pub async fn settle_pending(&self) -> Result<usize> {
        let pending = refill_store::pending_top_ups(&self.db.pool, self.now(), 100).await?;
        let mut settled = 0;
        for t in pending {
            let Some(charge_id) = t.gateway_charge_id.clone() else {
                continue;
            };
            let charge = match self.gateway.retrieve_charge(&charge_id).await {
                Ok(c) => c,
                Err(_) => continue,
            };
            match charge.status {
                ChargeStatus::Pending => {}
                ChargeStatus::Succeeded => {
                    settled += self.mark_settled(&t.id, true).await? as usize
                }
                ChargeStatus::Declined { .. } => {
                    settled += self.mark_settled(&t.id, false).await? as usize
                }
            }
        }
        Ok(settled)
    }

    async fn mark_settled(&self, id: &str, ok: bool) -> Result<bool> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((account, mut t)) = self.lock_top_up_and_account(&mut tx, id).await? else {
            return Ok(false);
        };
        if t.status != "pending" {
            return Ok(false);
        }
        self.settle_in(&mut tx, &account, &mut t, ok, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// R11: settles a pending top-up (both locked): succeeded, or failed at the bank,
    /// when its credit is reversed by a new entry, the account flagged (usage refused
    /// while below zero) and the customer told.
    pub(crate) async fn settle_in(
        &self,
        tx: &mut Tx,
        account: &refill_store::AccountRow,
        t: &mut TopUpRow,
        ok: bool,
        now: i64,
    ) -> Result<()> {
        debug_assert_eq!(t.status, "pending");
        if refill_store::release_withheld_credit(tx, &t.id).await? {
            return self.settle_withheld(tx, account, t, ok, now).await;
        }
        t.updated_at = now;
        if ok {
            t.status = "succeeded".into();
        } else {
            t.status = "failed".into();
            t.failure_code = Some("payment_failed".into());
            t.failure_message =
                Some("the pending card payment failed at the bank; its credit was reversed".into());
            let journal = ledger::reverse_top_up(
                &t.account_id,
                ledger::EntryKind::TopUpReversal,
                t.amount,
                t.tax,
            )?;
            let after = money::sub(account.balance, t.amount)?;
            post(
                tx,
                &journal,
                &account.currency,
                &[(&t.account_id, after)],
                &format!("reversal of top-up {}", t.id),
                now,
            )
            .await?;
            refill_store::set_balance(tx, &t.account_id, after, account.low_balance_armed).await?;
            refill_store::set_flagged(tx, &t.account_id, true).await?;
            let data = json!({"top_up_id": t.id, "amount": t.amount, "currency": t.currency, "balance_after": after,
                "message": "A pending card payment failed; its credit was reversed. Usage is blocked while the balance is below zero."});
            events::emit(tx, &t.account_id, events::PAYMENT_REVERSED, data, now).await?;
        }
        refill_store::update_top_up(tx, t).await?;
        Ok(())
    }
}

/// Writes a journal: each customer account's entry carries its new balance
/// (`balances`); system accounts keep none.
pub(crate) async fn post(
    tx: &mut Tx,
    journal: &ledger::Journal,
    currency: &str,
    balances: &[(&str, i64)],
    reference: &str,
    now: i64,
) -> Result<()> {
    debug_assert!(journal.is_balanced());
    let entries = journal_entries(journal, currency, balances, Some(reference), now);
    refill_store::insert_entries(tx, &entries).await?;
    Ok(())
}

/// The entry rows of a journal, under one new journal id (see `post`).
pub fn journal_entries(
    journal: &ledger::Journal,
    currency: &str,
    balances: &[(&str, i64)],
    reference: Option<&str>,
    now: i64,
) -> Vec<EntryRow> {
    let journal_id = refill_store::new_id("jnl");
    journal
        .postings
        .iter()
        .map(|p| EntryRow {
            id: refill_store::new_id("ent"),
            journal_id: journal_id.clone(),
            account_id: p.ledger_account.clone(),
            currency: currency.into(),
            kind: p.kind.as_str().into(),
            amount: p.amount,
            balance_after: balances
                .iter()
                .find(|(a, _)| *a == p.ledger_account)
                .map(|(_, b)| *b),
            reference: reference.map(str::to_string),
            created_at: now,
            items: None,
        })
        .collect()
}

/// Starts the background workers: the top-up executor (woken at once when work is
/// queued, else polling), notification delivery (R28), and the periodic jobs (R22,
/// R11), one node at a time. On SQLite they run on a thread of their own: a worker's
/// transaction holds the one writer's connection, and debits wait for it (see
/// `refill_store::own_thread::run_on_own_thread`). Not on PostgreSQL: a connection is
/// driven by the event loop of the runtime that opened it and then serves anyone from
/// the shared pool, so once the workers' thread stopped, the connections it had
/// opened failed the HTTP handlers' queries ("Tokio context being shutdown", seen in
/// a test that stops the workers).
pub fn spawn_workers(app: Refill) -> Vec<tokio::task::AbortHandle> {
    let dialect = app.db.dialect;
    let tasks: Vec<refill_store::own_thread::Task> = vec![
        Box::pin(run_top_ups(app.clone())),
        Box::pin(deliver_notifications(app.clone())),
        Box::pin(run_periodic_jobs(app)),
    ];
    match dialect {
        Dialect::Sqlite => refill_store::own_thread::run_on_own_thread(
            "refill-workers",
            tasks,
            refill_store::own_thread::Ends::WithCaller,
        ),
        Dialect::Postgres => tasks
            .into_iter()
            .map(|t| tokio::spawn(t).abort_handle())
            .collect(),
    }
}

async fn run_top_ups(app: Refill) {
    loop {
        let notified = app.work_ready.notified();
        match app.run_due_top_ups().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => eprintln!("refill: executor: {e}"),
        }
        let _ = tokio::time::timeout(
            Duration::from_millis(app.config.poll_every as u64),
            notified,
        )
        .await;
    }
}

async fn deliver_notifications(app: Refill) {
    loop {
        if let Err(e) = app.deliver_notifications().await {
            eprintln!("refill: notifications: {e}");
        }
        tokio::time::sleep(Duration::from_millis(app.config.poll_every as u64)).await;
    }
}

async fn run_periodic_jobs(app: Refill) {
    loop {
        if let Err(e) = app.periodic_jobs().await {
            eprintln!("refill: periodic check: {e}");
        }
        let every = app.config.periodic_check_every.max(1_000) as u64;
        tokio::time::sleep(Duration::from_millis(every)).await;
    }
}

impl Refill {
    /// The periodic jobs, under a lease so that one node runs them at a time.
    pub async fn periodic_jobs(&self) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mine = refill_store::try_lease(
            &mut tx,
            "periodic_check",
            &self.node_id,
            now,
            now + self.config.periodic_check_every,
        )
        .await?;
        tx.commit().await?;
        if mine {
            self.periodic_check().await?;
            self.settle_pending().await?;
            self.recurring_jobs().await?;
        }
        Ok(())
    }
}
