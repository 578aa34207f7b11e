//! R29, R21: a renewal the balance cannot cover, on an account with auto top-up
//! active, asks for automatic top-ups whatever R18's setting: consecutive ones while
//! it is still unpaid, each under R20's interval and R21's caps (the executor's
//! decision and follow-up read `renewal_unpaid`), and it is paid as soon as a top-up
//! lets the balance cover it.

use crate::top_up_executor::queue_auto_top_up;
use crate::{Refill, Result, ServiceError};
use refill_domain::auto_top_up::State;
use refill_domain::money::add;
use refill_domain::resources::renewal_uncovered;
use refill_store::{AccountRow, ResourceRow, Tx};

impl Refill {
    /// R29: an unpaid renewal of `r` asks for an automatic top-up, where auto top-up
    /// is active (one in flight is enough, R19). True if one was queued.
    pub(crate) async fn ask_for_renewal_top_up(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        r: &mut ResourceRow,
        now: i64,
    ) -> Result<bool> {
        let settings = refill_store::get_auto_top_up(&mut *tx, &account.id).await?;
        if settings.is_none_or(|s| s.state != State::Active) {
            return Ok(false);
        }
        r.renewal_top_up_at = Some(now);
        queue_auto_top_up(tx, &account.id, &account.currency, now, now).await
    }

    /// R29: pays the account's unpaid renewals its balance now covers, oldest due
    /// first, in the caller's transaction (the account locked). Returns the balance
    /// after them and whether a renewal is still unpaid and uncovered.
    pub(crate) async fn pay_unpaid_renewals(
        &self,
        tx: &mut Tx,
        account_id: &str,
        balance: i64,
        now: i64,
    ) -> Result<(i64, bool)> {
        let unpaid = refill_store::lock_unpaid_renewals(tx, self.db.dialect, account_id).await?;
        let mut balance = balance;
        let mut left = 0;
        for mut r in unpaid {
            let Some(account) = refill_store::get_account(&mut *tx, account_id).await? else {
                return Ok((balance, false));
            };
            match self.charge_period(tx, &account, &mut r, now).await {
                Ok((after, _)) => {
                    balance = after;
                    refill_store::update_resource(tx, &r).await?;
                }
                Err(ServiceError::Domain(e)) if e.is_shortfall() => left = add(left, r.fee)?,
                Err(e) => return Err(e),
            }
        }
        let account = refill_store::get_account(&mut *tx, account_id).await?;
        let uncovered = account.is_some_and(|a| renewal_uncovered(a.balance, a.credit_limit, left));
        Ok((balance, uncovered))
    }

    /// R29: whether a renewal of the account waits unpaid, more than its balance
    /// (`account`, locked) covers.
    pub(crate) async fn renewal_unpaid(&self, tx: &mut Tx, account: &AccountRow) -> Result<bool> {
        let mut fees = 0;
        for r in refill_store::unpaid_renewals(&mut *tx, &account.id).await? {
            fees = add(fees, r.fee)?;
        }
        Ok(renewal_uncovered(
            account.balance,
            account.credit_limit,
            fees,
        ))
    }
}
