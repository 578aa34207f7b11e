//! The transfer attempt: a sub-account topped up from its main account (R12, R15, R23).

use crate::accounts::move_credit;
use crate::{Refill, Result, ServiceError};
use refill_domain::auto_top_up::FailureClass;
use refill_domain::top_up::Source;
use refill_store::{AutoTopUpRow, TopUpRow, TransferRow, Tx};

impl Refill {
    /// R12, R15, R23: a sub-account's top-up from its main account, atomically; it
    /// fails cleanly when the main account cannot cover it.
    pub(super) async fn top_up_by_transfer(
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
        t.source = Source::Transfer;
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
        match move_credit(self, tx, &transfer).await {
            Ok((_, balance_after)) => {
                refill_store::insert_transfer(tx, &transfer).await?;
                t.gateway_charge_id = Some(transfer.id.clone());
                self.succeeded(tx, t, Some(s), false, balance_after, now)
                    .await
            }
            Err(ServiceError::Domain(e)) if e.is_shortfall() => {
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
}
