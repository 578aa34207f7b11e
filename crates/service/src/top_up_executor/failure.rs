//! A failed attempt (R23): retried later, waiting for the customer, or ended,
//! turning auto top-up off (R24). One mapping for every top-up, the domain's
//! `after_failed_charge`: automatic ones count their settings' failures in a row,
//! scheduled ones their month's attempts, manual ones are tried once.

use crate::auto_top_up::save_settings;
use crate::{Refill, Result, events};
use refill_domain::auto_top_up::{Attempts, FailureClass, after_failed_charge};
use refill_domain::events::{FailedTopUp, TopUpFailed};
use refill_domain::top_up::{CARD_REMOVED, CARD_REMOVED_MESSAGE, Origin, TopUpStatus};
use refill_store::{AutoTopUpRow, TopUpRow, Tx};

impl Refill {
    /// R23: a failed attempt of `t`: its next lifecycle fields, its settings' (an
    /// automatic top-up's, `s`), and the `top_up.failed` event.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn failed(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: Option<&mut AutoTopUpRow>,
        class: FailureClass,
        code: &str,
        message: &str,
        now: i64,
    ) -> Result<()> {
        let attempts = match (&s, t.origin) {
            (Some(s), _) => Attempts::Auto {
                consecutive_failures: s.consecutive_failures.clamp(0, u32::MAX.into()) as u32,
                state: s.state,
            },
            (None, Origin::Scheduled) => Attempts::Scheduled { attempt: t.attempt },
            (None, _) => Attempts::Once,
        };
        let limits = &self.config.limits;
        let outcome = after_failed_charge(t.progress(), attempts, class, code, now, limits)?;
        t.set_progress(outcome.progress);
        t.failure_code = Some(code.into());
        t.failure_message = Some(message.into());
        t.lease_owner = None;
        t.lease_until = None;
        t.updated_at = now;
        if let (Some(s), Some(after)) = (s, outcome.settings) {
            s.consecutive_failures = after.consecutive_failures.into();
            s.last_attempt_outcome = Some(after.last_attempt);
            s.why_not = after.why_not;
            s.next_attempt_at = after.next_attempt_at;
            if let Some(reason) = after.disable {
                save_settings(tx, s, Some(reason), now).await?;
            }
        }
        refill_store::update_top_up(tx, t).await?;
        let failed = FailedTopUp {
            top_up_id: &t.id,
            origin: t.origin,
            amount: t.amount,
            currency: &t.currency,
            reason: code,
            message,
        };
        let waits = t.status == TopUpStatus::RequiresAction;
        let told = TopUpFailed::after_attempt(&failed, outcome.next_attempt, waits);
        events::emit(tx, &t.account_id, told, now).await
    }

    /// R5: the top-up's card was removed before it was charged: it ends failed, with
    /// its reason and the `top_up.failed` event, and nothing is sent to the gateway.
    pub(super) async fn fail_card_removed(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        now: i64,
    ) -> Result<()> {
        t.set_progress(t.progress().fail_unsent(now)?);
        t.failure_code = Some(CARD_REMOVED.into());
        t.failure_message = Some(CARD_REMOVED_MESSAGE.into());
        t.lease_owner = None;
        t.lease_until = None;
        t.updated_at = now;
        refill_store::update_top_up(tx, t).await?;
        let failed = FailedTopUp {
            top_up_id: &t.id,
            origin: t.origin,
            amount: t.amount,
            currency: &t.currency,
            reason: CARD_REMOVED,
            message: CARD_REMOVED_MESSAGE,
        };
        events::emit(tx, &t.account_id, TopUpFailed::not_started(&failed), now).await
    }
}
