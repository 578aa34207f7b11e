//! A failed attempt (R23): retried later, waiting for the customer, or turning auto
//! top-up off (R24).

use crate::api_objects::rfc3339;
use crate::{Refill, Result, events};
use refill_domain::auto_top_up::{AfterFailure, FailureClass, State, WhyNot, after_failure};
use refill_store::{AutoTopUpRow, TopUpRow, Tx};
use serde_json::json;

impl Refill {
    /// R23: a failed attempt: retried later, waiting for the customer, or disabling.
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
        t.failure_code = Some(code.into());
        t.failure_message = Some(message.into());
        t.lease_owner = None;
        t.lease_until = None;
        t.updated_at = now;
        let mut next_attempt = None;
        match s {
            None if t.origin == "scheduled" => {
                next_attempt =
                    crate::scheduled_recharge::after_failure(t, class, now, &self.config.limits);
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

    /// R24: the executor turns auto top-up off, with its reason; the settings
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
}
