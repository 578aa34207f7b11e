//! The auto top-up executor (R18-R25): queued top-ups are claimed with a lease, decided
//! by the pure policy, charged with an idempotency key derived from the top-up's own
//! id and attempt, and their outcome recorded, with recovery points in between
//! (queued -> charging -> succeeded | pending | failed), so a crash anywhere resumes
//! and never charges twice. Also the settlement of pending payments (R11).
//!
//! Here: queuing and claiming due top-ups, and the run loop. `decision`: what a
//! claimed top-up does now; `card` and `transfer`: the two ways of paying it;
//! `outcome`, `success`, `failure`: recording what the payment did; `unknown_outcome`:
//! a charge whose outcome is unknown, resolved by asking the gateway; `expiry`: a wait
//! for the customer's 3-D Secure that is over;
//! `pending_settlement`: payments the gateway reported pending (R11).

mod authentication;
mod card;
mod decision;
mod expiry;
mod failure;
mod outcome;
mod pending_settlement;
mod success;
mod transfer;
mod unknown_outcome;

pub(crate) use success::receipt;

use crate::{Refill, Result};
use refill_domain::top_up::{Origin, Progress, TopUpStatus};
use refill_store::{PaymentMethodRow, TopUpRow, Tx};

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
    TopUpRow::new(
        refill_store::new_id("top"),
        account_id,
        currency,
        Origin::Auto,
        Progress::queued(Origin::Auto, not_before),
        now,
    )
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
            self.config.lease,
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
        match t.status {
            TopUpStatus::Charging => return self.resolve_unknown(t).await,
            TopUpStatus::RequiresAction => return self.expire_wait(&t).await,
            _ => {}
        }
        match self.decide(&t).await? {
            Next::Done => Ok(()),
            Next::Charge(work) => self.charge_and_record(work.0, work.1).await,
        }
    }
}
