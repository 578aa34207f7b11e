//! R31 at the gateway: an approved refund is sent with a key derived from its id
//! (R25: a retry never refunds twice), and its outcome recorded once: pending until
//! the bank returns the money, then succeeded, or failed with what its approval
//! reversed restored by new entries. The periodic job follows pending refunds and
//! sends again those whose answer was lost (looked up first by their key).

use super::*;
use crate::Refill;
use refill_domain::events::{RefundFailed, RefundSucceeded};
use refill_domain::ledger::Journal;
use refill_domain::money;
use refill_domain::refund_lifecycle::{refund_key, restoration, restore_journal};
use refill_gateway::{GatewayError, Refund, RefundRequest, RefundStatus as AtGateway};
use refill_store::{AccountRow, TopUpRow};

/// What the gateway said of a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// Its refund, as the gateway holds it.
    Refund(Refund),
    /// The gateway refused to make it (the charge cannot be refunded).
    Refused(String),
}

impl Report {
    fn status(&self) -> RefundStatus {
        match self {
            Report::Refund(r) => match r.status {
                AtGateway::Pending => RefundStatus::Pending,
                AtGateway::Succeeded => RefundStatus::Succeeded,
                AtGateway::Failed => RefundStatus::Failed,
            },
            Report::Refused(_) => RefundStatus::Failed,
        }
    }

    fn failure(&self) -> (&'static str, String) {
        match self {
            Report::Refused(m) => ("refund_refused", m.clone()),
            Report::Refund(_) => (
                "refund_failed",
                "the bank could not return the money to the card".into(),
            ),
        }
    }
}

impl Refill {
    /// Sends an approved refund to the gateway and records the answer. An outage
    /// leaves it approved, to be sent again with the same key. True if it moved.
    pub(super) async fn send_refund(&self, id: &str) -> Result<bool> {
        let Some(r) = refill_store::get_refund(&self.db.pool, id).await? else {
            return Ok(false);
        };
        let Some(t) = refill_store::get_top_up(&self.db.pool, &r.top_up_id).await? else {
            return Ok(false);
        };
        if r.status != RefundStatus::Approved.as_str() {
            return Ok(false);
        }
        let req = RefundRequest {
            idempotency_key: refund_key(&r.id),
            charge_id: t.gateway_charge_id.clone().unwrap_or_default(),
            amount: r.amount,
        };
        let report = match self.gateway.refund(&req).await {
            Ok(refund) => Report::Refund(refund),
            Err(GatewayError::Invalid(m) | GatewayError::Rejected(m)) => Report::Refused(m),
            Err(GatewayError::Outage(_)) => return Ok(false),
        };
        self.record_refund(id, &report).await
    }

    /// Records what the gateway said of a refund, in its own transaction.
    async fn record_refund(&self, id: &str, report: &Report) -> Result<bool> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (account, mut t, mut r) = self.lock_refund_and_top_up(&mut tx, id).await?;
        let moved = self
            .apply_report(&mut tx, &account, &mut t, &mut r, report, now)
            .await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// R31: moves a refund (its account, top-up and row locked) to what the gateway
    /// reports, forward only: a report that changes nothing (the same again, older,
    /// or about a refund already final) is not applied, so a failure restores once.
    pub(crate) async fn apply_report(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        t: &mut TopUpRow,
        r: &mut RefundRow,
        report: &Report,
        now: i64,
    ) -> Result<bool> {
        let Some(next) = super::status_of(r)?.after_report(report.status()) else {
            return Ok(false);
        };
        if let Report::Refund(g) = report {
            r.gateway_refund_id = Some(g.id.clone());
        }
        r.status = next.as_str().into();
        r.updated_at = now;
        match next {
            RefundStatus::Succeeded => {
                r.completed_at = Some(now);
                let done = RefundSucceeded {
                    amount: r.amount,
                    currency: r.currency.clone(),
                    refund_id: r.id.clone(),
                    top_up_id: r.top_up_id.clone(),
                    transaction_id: r.gateway_refund_id.clone(),
                };
                emit(tx, &r.account_id, &done, now).await?;
            }
            RefundStatus::Failed => self.restore(tx, account, t, r, report, now).await?,
            _ => {}
        }
        refill_store::update_refund(tx, r).await?;
        Ok(true)
    }

    /// A failed refund: what its approval reversed goes back to the balance and the
    /// tax, by new entries (R3), in the parts of the top-up's refunded total.
    async fn restore(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        t: &mut TopUpRow,
        r: &mut RefundRow,
        report: &Report,
        now: i64,
    ) -> Result<()> {
        let parts = restoration(t.refunded, r.amount, (t.amount, t.tax, t.total))?;
        let journal: Journal = restore_journal(&t.account_id, &parts)?;
        let after = money::add(account.balance, parts.credit)?;
        let reference = format!("failed refund {} of top-up {}", r.id, t.id);
        self.post_balance(tx, account, &journal, after, &reference, now)
            .await?;
        t.refunded = parts.refunded_total;
        t.updated_at = now;
        refill_store::update_top_up(tx, t).await?;
        let (code, message) = report.failure();
        r.failure_code = Some(code.into());
        r.failure_message = Some(message.clone());
        r.completed_at = Some(now);
        let failed = RefundFailed {
            amount: r.amount,
            balance_after: after,
            credit_restored: parts.credit,
            currency: r.currency.clone(),
            failure_code: code.into(),
            message,
            refund_id: r.id.clone(),
            tax_restored: parts.tax,
            top_up_id: t.id.clone(),
        };
        emit(tx, &r.account_id, &failed, now).await
    }

    /// R31, run by the periodic job: pending refunds are asked about at the gateway;
    /// approved ones whose answer was lost (older than a lease) are looked up by their
    /// key and, if the gateway never saw them, sent again with it. Returns how many
    /// moved.
    pub async fn settle_refunds(&self) -> Result<usize> {
        let stale = self.now() - self.config.lease;
        let due = refill_store::refunds_to_follow(&self.db.pool, stale, 100).await?;
        let mut moved = 0;
        for r in due {
            let done = match r.gateway_refund_id.as_deref() {
                Some(g) if r.status == RefundStatus::Pending.as_str() => {
                    match self.gateway.retrieve_refund(g).await {
                        Ok(found) => self.record_refund(&r.id, &Report::Refund(found)).await?,
                        Err(_) => false,
                    }
                }
                _ => self.resend_refund(&r).await?,
            };
            moved += usize::from(done);
        }
        Ok(moved)
    }

    /// An approved refund whose answer was lost: found at the gateway by its key, or
    /// sent again with it.
    async fn resend_refund(&self, r: &RefundRow) -> Result<bool> {
        let Some(t) = refill_store::get_top_up(&self.db.pool, &r.top_up_id).await? else {
            return Ok(false);
        };
        let charge = t.gateway_charge_id.clone().unwrap_or_default();
        let key = refund_key(&r.id);
        let found = match self.gateway.list_refunds(&charge).await {
            Ok(all) => all
                .into_iter()
                .find(|g| g.idempotency_key.as_deref() == Some(key.as_str())),
            Err(_) => return Ok(false),
        };
        match found {
            Some(g) => self.record_refund(&r.id, &Report::Refund(g)).await,
            None => self.send_refund(&r.id).await,
        }
    }
}
