//! R31: asking for a refund, and the operator's decision. An approval reverses the
//! credit and its tax share in the transaction that commits it: the recovery point
//! before the gateway is called.

use super::*;
use crate::accounts::{Caller, lock};
use crate::api_objects::Page;
use crate::{Idem, Refill, idempotency};
use refill_domain::auto_top_up::SourceKind;
use refill_domain::events::{RefundApproved, RefundRejected, RefundRequested};
use refill_domain::refund_lifecycle::{
    RefundRefusal, Refundable, check_approval, check_reason, check_request,
};
use refill_domain::refunds::RefundParts;
use refill_domain::{DomainError, ledger, money};
use refill_store::{AccountRow, RefundFilter, TopUpRow};

impl Refill {
    /// R31: a refund of `top_up_id` asked for, with the customer's reason. Nothing is
    /// reversed until the operator approves it.
    pub async fn request_refund(
        &self,
        caller: &Caller,
        top_up_id: &str,
        req: NewRefund,
        idem: Option<&Idem>,
    ) -> Result<RefundView> {
        let t = self.visible_top_up(caller, top_up_id).await?;
        let reason = check_reason(req.reason.as_deref().unwrap_or(""))?.to_string();
        if let Some(c) = req.currency.as_deref().filter(|c| *c != t.currency) {
            let got = money::Currency::parse(c)?.code().to_string();
            let expected = t.currency.clone();
            return Err(DomainError::CurrencyMismatch { expected, got }.into());
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let account = lock(&mut tx, self, &t.account_id).await?;
        let t = self.lock_top_up(&mut tx, top_up_id).await?;
        let asked: i64 = refill_store::refunds_of_top_up(&mut *tx, &t.id)
            .await?
            .iter()
            .filter(|r| r.status == RefundStatus::Requested.as_str())
            .map(|r| r.requested_amount)
            .sum();
        let amount = check_request(&self.refundable(&t, &account, asked)?, req.amount)?;
        let row = RefundRow {
            id: refill_store::new_id("rfd"),
            top_up_id: t.id.clone(),
            account_id: t.account_id.clone(),
            currency: t.currency.clone(),
            status: RefundStatus::Requested.as_str().into(),
            requested_amount: amount,
            amount,
            reason: reason.clone(),
            requested_by: caller.key_id().to_string(),
            request_key: idem.map(Idem::request_key),
            created_at: now,
            updated_at: now,
            ..RefundRow::default()
        };
        if !refill_store::insert_refund(&mut tx, &row).await? {
            return Err(ServiceError::IdempotentReplay);
        }
        let requested = RefundRequested {
            amount,
            currency: t.currency.clone(),
            reason,
            refund_id: row.id.clone(),
            top_up_id: t.id.clone(),
        };
        emit(&mut tx, &t.account_id, &requested, now).await?;
        let view = RefundView::from(&row);
        idempotency::remember(&mut tx, idem, 201, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// R31: the operator approves a requested refund, for `amount` at most what was
    /// asked. Its credit and tax share are reversed now, then the refund is sent to
    /// the gateway; the answer is the refund as it stands after that.
    pub async fn approve_refund(
        &self,
        caller: &Caller,
        id: &str,
        req: ApproveRefund,
        idem: Option<&Idem>,
    ) -> Result<RefundView> {
        self.decided_by_operator(caller, id).await?;
        let note = match req.reason.as_deref() {
            Some(r) => Some(check_reason(r)?.to_string()),
            None => None,
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (account, mut t, mut r) = self.lock_refund_and_top_up(&mut tx, id).await?;
        super::status_of(&r)?.move_to(RefundStatus::Approved)?;
        let parts = check_approval(
            &self.refundable(&t, &account, 0)?,
            r.requested_amount,
            req.amount,
        )?;
        let after = self.reverse(&mut tx, &account, &mut t, &parts, now).await?;
        r.status = RefundStatus::Approved.as_str().into();
        r.amount = parts.refunded;
        r.credit_reversed = parts.credit;
        r.tax_reversed = parts.tax;
        r.decision_reason = note;
        r.decided_by = Some(caller.key_id().to_string());
        r.decided_at = Some(now);
        r.updated_at = now;
        refill_store::update_refund(&mut tx, &r).await?;
        let approved = RefundApproved {
            amount: r.amount,
            balance_after: after,
            credit_reversed: parts.credit,
            currency: r.currency.clone(),
            refund_id: r.id.clone(),
            requested_amount: r.requested_amount,
            tax_reversed: parts.tax,
            top_up_id: t.id.clone(),
        };
        emit(&mut tx, &r.account_id, &approved, now).await?;
        tx.commit().await?;
        self.send_refund(id).await?;
        self.answer(id, idem, 200).await
    }

    /// R31: the operator rejects a requested refund, with a reason. Nothing changes
    /// in the ledger.
    pub async fn reject_refund(
        &self,
        caller: &Caller,
        id: &str,
        req: RejectRefund,
        idem: Option<&Idem>,
    ) -> Result<RefundView> {
        self.decided_by_operator(caller, id).await?;
        let reason = check_reason(req.reason.as_deref().unwrap_or(""))?.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let (_, _, mut r) = self.lock_refund_and_top_up(&mut tx, id).await?;
        super::status_of(&r)?.move_to(RefundStatus::Rejected)?;
        r.status = RefundStatus::Rejected.as_str().into();
        r.decision_reason = Some(reason.clone());
        r.decided_by = Some(caller.key_id().to_string());
        r.decided_at = Some(now);
        r.completed_at = Some(now);
        r.updated_at = now;
        refill_store::update_refund(&mut tx, &r).await?;
        let rejected = RefundRejected {
            amount: r.amount,
            currency: r.currency.clone(),
            decision_reason: reason,
            refund_id: r.id.clone(),
            top_up_id: r.top_up_id.clone(),
        };
        emit(&mut tx, &r.account_id, &rejected, now).await?;
        let view = RefundView::from(&r);
        idempotency::remember(&mut tx, idem, 200, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// A refund the caller may see.
    pub async fn get_refund(&self, caller: &Caller, id: &str) -> Result<RefundView> {
        Ok(RefundView::from(&self.visible_refund(caller, id).await?))
    }

    /// Refunds the caller may see, newest first: by status (`requested` is the
    /// operator's approval queue) and account.
    pub async fn list_refunds(&self, caller: &Caller, q: &RefundQuery) -> Result<Page<RefundView>> {
        if let Some(a) = &q.account_id {
            self.account(caller, a).await?;
        }
        if let Some(s) = &q.status {
            s.parse::<RefundStatus>()
                .map_err(|_| ServiceError::invalid("invalid_status", format!("status {s:?} is not one of requested, approved, rejected, pending, succeeded, failed")))?;
        }
        let filter = RefundFilter {
            root: caller.root(),
            account_id: q.account_id.as_deref(),
            status: q.status.as_deref(),
            starting_after: q.starting_after.as_deref(),
        };
        let rows = refill_store::list_refunds(&self.db.pool, filter, q.limit + 1).await?;
        Ok(Page::from_rows(rows, q.limit, |r| RefundView::from(r)))
    }

    /// The refund as it stands now, remembered as the answer to `idem`.
    pub(super) async fn answer(
        &self,
        id: &str,
        idem: Option<&Idem>,
        status: u16,
    ) -> Result<RefundView> {
        let r = refill_store::get_refund(&self.db.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("refund", id))?;
        let view = RefundView::from(&r);
        if idem.is_some() {
            let mut tx = self.db.begin().await?;
            // A concurrent twin remembered its answer first: the same refund.
            let _ = idempotency::remember(&mut tx, idem, status, &view, self.now()).await;
            tx.commit().await?;
        }
        Ok(view)
    }

    /// R31: the top-up as a refund is measured against it.
    pub(super) fn refundable(
        &self,
        t: &TopUpRow,
        account: &AccountRow,
        requested: i64,
    ) -> Result<Refundable> {
        Ok(Refundable {
            status: t.status,
            by_card: t.source == SourceKind::Card && t.gateway_charge_id.is_some(),
            amount: t.amount,
            tax: t.tax,
            total: t.total,
            refunded: t.refunded,
            requested,
            balance: account.balance,
            into_negative: self.config.refund_into_negative,
        })
    }

    /// Reverses `parts` of the top-up's credit and tax (R3: new entries); a balance
    /// driven below zero flags the account (usage refused until repaid, as R11). A
    /// refund is not spending: it never queues a top-up (R18). The balance after.
    async fn reverse(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        t: &mut TopUpRow,
        parts: &RefundParts,
        now: i64,
    ) -> Result<i64> {
        let journal =
            ledger::refund_top_up(&t.account_id, parts.credit, parts.tax, parts.rounding)?;
        let after = money::sub(account.balance, parts.credit)?;
        let reference = format!("refund of top-up {}", t.id);
        self.post_balance(tx, account, &journal, after, &reference, now)
            .await?;
        if after < 0 {
            refill_store::set_flagged(tx, &t.account_id, true).await?;
        }
        t.refunded = parts.refunded_total;
        t.updated_at = now;
        refill_store::update_top_up(tx, t).await?;
        Ok(after)
    }

    /// Posts a journal moving the account's balance to `after`, with R27's notice.
    pub(super) async fn post_balance(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        journal: &ledger::Journal,
        after: i64,
        reference: &str,
        now: i64,
    ) -> Result<()> {
        // The domain works out the balance, the flag and R27's notice (one journal path).
        let applied = self
            .post_journal(tx, journal, &[account], reference, now)
            .await?;
        debug_assert_eq!(applied.after(&account.id), after);
        Ok(())
    }

    /// A top-up the caller may see (NotFound otherwise, as for another's).
    async fn visible_top_up(&self, caller: &Caller, id: &str) -> Result<TopUpRow> {
        let t = refill_store::get_top_up(&self.db.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("top-up", id))?;
        self.account(caller, &t.account_id)
            .await
            .map_err(|_| ServiceError::not_found("top-up", id))?;
        Ok(t)
    }

    async fn visible_refund(&self, caller: &Caller, id: &str) -> Result<RefundRow> {
        let r = refill_store::get_refund(&self.db.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("refund", id))?;
        self.account(caller, &r.account_id)
            .await
            .map_err(|_| ServiceError::not_found("refund", id))?;
        Ok(r)
    }

    /// Only the operator decides; an account key that can see the refund (its own
    /// request) is told so, one that cannot gets NotFound.
    async fn decided_by_operator(&self, caller: &Caller, id: &str) -> Result<()> {
        self.visible_refund(caller, id).await?;
        match caller.is_operator() {
            true => Ok(()),
            false => Err(DomainError::from(RefundRefusal::OperatorOnly).into()),
        }
    }

    async fn lock_top_up(&self, tx: &mut Tx, id: &str) -> Result<TopUpRow> {
        refill_store::lock_top_up(tx, self.db.dialect, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("top-up", id))
    }

    /// Locks a refund's account, its top-up, then the refund: the lock order of
    /// top-ups, extended.
    pub(super) async fn lock_refund_and_top_up(
        &self,
        tx: &mut Tx,
        id: &str,
    ) -> Result<(AccountRow, TopUpRow, RefundRow)> {
        let r = refill_store::get_refund(&mut *tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("refund", id))?;
        let account = lock(tx, self, &r.account_id).await?;
        let t = self.lock_top_up(tx, &r.top_up_id).await?;
        let r = refill_store::lock_refund(tx, self.db.dialect, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("refund", id))?;
        Ok((account, t, r))
    }
}
