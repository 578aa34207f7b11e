//! R23: what a failed charge leads to. One policy for every top-up that is retried
//! (automatic and scheduled) and for those that are not (manual): retried after the
//! retry delay, waiting for the customer's 3-D Secure, or ended, disabling auto
//! top-up when it was one, with its reason (R24).

use super::{Limits, State, StateReason, WhyNot};
use crate::top_up::{AttemptOutcome, Progress, TopUpStatus};
use crate::{DomainError, Millis};

/// How a charge attempt ended, in the engine's terms (R23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Insufficient funds, generic decline, expired card: retried, counted.
    Soft,
    /// Lost, stolen, fraudulent: disables at once.
    Hard,
    /// 3-D Secure needed: the customer is told, the engine waits.
    AuthenticationRequired,
    /// Gateway down or timed out: retried, never the customer's failure.
    Outage,
    /// The gateway refused the request itself as malformed (an operator's error,
    /// alerted): never the customer's failure, and retried only after the retry delay,
    /// since sending it again at once would be refused again.
    Rejected,
    /// A transfer source whose main account cannot cover it.
    SourceInsufficient,
    /// The customer did not complete 3-D Secure in time: the end of the failure the
    /// request for authentication was (counted then, not again).
    AuthenticationExpired,
}

/// What the engine does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Retry at this time; `failures` consecutive failures so far.
    Retry { at: Millis, failures: u32 },
    /// Disable auto top-up (R24), after `failures` consecutive failures.
    Disable { failures: u32 },
    /// Wait for the customer to authenticate; nothing is retried meanwhile.
    WaitForCustomer { failures: u32 },
}

/// R23: the state after a failure, given the consecutive failures before it.
pub fn after_failure(
    class: FailureClass,
    failures_before: u32,
    now: Millis,
    limits: &Limits,
) -> AfterFailure {
    let failures = failures_before.saturating_add(1);
    match class {
        FailureClass::Outage => AfterFailure::Retry {
            at: now + limits.outage_retry_delay,
            failures: failures_before,
        },
        FailureClass::Rejected => AfterFailure::Retry {
            at: now + limits.retry_delay,
            failures: failures_before,
        },
        FailureClass::Hard => AfterFailure::Disable { failures },
        FailureClass::AuthenticationRequired => AfterFailure::WaitForCustomer { failures },
        FailureClass::Soft
        | FailureClass::SourceInsufficient
        | FailureClass::AuthenticationExpired => {
            if failures >= limits.max_consecutive_failures.max(1) {
                AfterFailure::Disable { failures }
            } else {
                AfterFailure::Retry {
                    at: now + limits.retry_delay,
                    failures,
                }
            }
        }
    }
}

/// R24: why a failure disables auto top-up: a hard decline, or the failures in a
/// row that end it.
pub fn disable_reason(class: FailureClass, failures: u32, code: &str) -> StateReason {
    match class {
        FailureClass::Hard => StateReason::HardDecline { code: code.into() },
        _ => StateReason::ConsecutiveFailures {
            failures,
            last: code.into(),
        },
    }
}

/// Whose failures in a row a failed top-up counts in (R23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempts {
    /// An automatic top-up: its settings' failures in a row, and their state.
    Auto {
        consecutive_failures: u32,
        state: State,
    },
    /// A scheduled recharge (R30): this month's attempts so far, this one included.
    Scheduled { attempt: i64 },
    /// Tried once, never retried: a manual top-up (or an automatic one whose
    /// settings are gone).
    Once,
}

/// What becomes of automatic top-up's settings after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsAfterFailure {
    pub consecutive_failures: u32,
    pub last_attempt: AttemptOutcome,
    pub why_not: Option<WhyNot>,
    pub next_attempt_at: Option<Millis>,
    /// R24: disabled, for this reason (only ever from active).
    pub disable: Option<StateReason>,
}

/// Everything a failed charge changes (R23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureOutcome {
    /// The top-up's next lifecycle fields.
    pub progress: Progress,
    /// When it is tried again, as the `top_up.failed` event tells it.
    pub next_attempt: Option<Millis>,
    /// Automatic top-ups only.
    pub settings: Option<SettingsAfterFailure>,
}

/// What the policy decided, for any top-up.
enum Next {
    Retry(Millis),
    AwaitCustomer,
    End,
}

/// R23: the one mapping of a failed charge (code `code`, class `class`) of a top-up
/// at `progress` onto its next lifecycle fields, the next attempt and, for an
/// automatic top-up, its settings. The failures in a row are the settings' for an
/// automatic top-up and the month's attempts for a scheduled one (an outage is
/// never one); a top-up tried once ends (3-D Secure: waits for the customer). A
/// top-up that stops being queued and is out of flight is completed now.
pub fn after_failed_charge(
    progress: Progress,
    attempts: Attempts,
    class: FailureClass,
    code: &str,
    now: Millis,
    limits: &Limits,
) -> Result<FailureOutcome, DomainError> {
    let (next, failures) = match attempts {
        Attempts::Auto {
            consecutive_failures,
            ..
        } => {
            // The request for authentication counted this failure already.
            let before = match class {
                FailureClass::AuthenticationExpired => consecutive_failures.saturating_sub(1),
                _ => consecutive_failures,
            };
            policy(class, before, now, limits)
        }
        Attempts::Scheduled { attempt } => {
            let before = (attempt - 1).clamp(0, u32::MAX as i64) as u32;
            policy(class, before, now, limits)
        }
        Attempts::Once if class == FailureClass::AuthenticationRequired => (Next::AwaitCustomer, 1),
        Attempts::Once => (Next::End, 1),
    };
    let keeps_flight = matches!(attempts, Attempts::Auto { .. }) && progress.in_flight;
    let moved = match next {
        Next::Retry(at) => Progress {
            not_before: Some(at),
            waiting: Some(WhyNot::RetryScheduled),
            in_flight: keeps_flight,
            ..progress.to_status(TopUpStatus::Queued)?
        },
        // Until then the customer may authenticate; then it expires (R23).
        Next::AwaitCustomer => Progress {
            not_before: Some(now + limits.authentication_expiry),
            waiting: Some(WhyNot::WaitingForCustomer),
            in_flight: keeps_flight,
            ..progress.to_status(TopUpStatus::RequiresAction)?
        },
        Next::End => Progress {
            in_flight: false,
            ..progress.to_status(TopUpStatus::Failed)?
        },
    };
    let done = moved.status != TopUpStatus::Queued && !moved.in_flight;
    let progress = Progress {
        completed_at: if done { Some(now) } else { moved.completed_at },
        ..moved
    };
    let next_attempt = match next {
        Next::Retry(at) => Some(at),
        _ => None,
    };
    let settings = match attempts {
        Attempts::Auto { state, .. } => Some(settings_after(&next, state, class, failures, code)),
        _ => None,
    };
    Ok(FailureOutcome {
        progress,
        next_attempt,
        settings,
    })
}

fn policy(class: FailureClass, before: u32, now: Millis, limits: &Limits) -> (Next, u32) {
    match after_failure(class, before, now, limits) {
        AfterFailure::Retry { at, failures } => (Next::Retry(at), failures),
        AfterFailure::WaitForCustomer { failures } => (Next::AwaitCustomer, failures),
        AfterFailure::Disable { failures } => (Next::End, failures),
    }
}

fn settings_after(
    next: &Next,
    state: State,
    class: FailureClass,
    failures: u32,
    code: &str,
) -> SettingsAfterFailure {
    let (why_not, next_attempt_at) = match next {
        Next::Retry(at) => (WhyNot::RetryScheduled, Some(*at)),
        Next::AwaitCustomer => (WhyNot::WaitingForCustomer, None),
        Next::End => (WhyNot::NotActive, None),
    };
    let reason = disable_reason(class, failures, code);
    // R16, R24: settings turned off meanwhile stay off; only active ones are disabled.
    let disable = match next {
        Next::End if state.change(&reason).is_ok() => Some(reason),
        _ => None,
    };
    SettingsAfterFailure {
        consecutive_failures: failures,
        last_attempt: AttemptOutcome::Failed(code.into()),
        why_not: Some(why_not),
        next_attempt_at,
        disable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HOUR, MINUTE};
    use FailureClass::*;
    use proptest::prelude::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn charging(in_flight: bool) -> Progress {
        Progress {
            status: TopUpStatus::Charging,
            in_flight,
            not_before: Some(1),
            waiting: None,
            completed_at: None,
        }
    }

    fn auto(consecutive_failures: u32) -> Attempts {
        Attempts::Auto {
            consecutive_failures,
            state: State::Active,
        }
    }

    #[test]
    fn r23_failures_retry_then_disable() {
        let l = limits();
        assert_eq!(
            after_failure(Soft, 0, 0, &l),
            AfterFailure::Retry {
                at: 24 * HOUR,
                failures: 1
            }
        );
        assert_eq!(
            after_failure(Soft, 1, 0, &l),
            AfterFailure::Retry {
                at: 24 * HOUR,
                failures: 2
            }
        );
        assert_eq!(
            after_failure(Soft, 2, 0, &l),
            AfterFailure::Disable { failures: 3 }
        );
        let one = Limits {
            max_consecutive_failures: 1,
            ..l
        };
        assert_eq!(
            after_failure(Soft, 0, 0, &one),
            AfterFailure::Disable { failures: 1 }
        );
        assert_eq!(
            after_failure(Hard, 0, 0, &l),
            AfterFailure::Disable { failures: 1 }
        );
        assert_eq!(
            after_failure(AuthenticationRequired, 0, 0, &l),
            AfterFailure::WaitForCustomer { failures: 1 }
        );
        // An outage is never the customer's failure.
        assert_eq!(
            after_failure(Outage, 2, 0, &l),
            AfterFailure::Retry {
                at: MINUTE,
                failures: 2
            }
        );
    }

    #[test]
    fn r23_a_request_the_gateway_refuses_as_malformed_is_never_the_customers_failure() {
        let l = Limits {
            max_consecutive_failures: 1,
            ..limits()
        };
        // Not counted, and not sent again at once: after the retry delay.
        assert_eq!(
            after_failure(Rejected, 0, 0, &l),
            AfterFailure::Retry {
                at: 24 * HOUR,
                failures: 0
            }
        );
        let o = after_failed_charge(charging(true), auto(2), Rejected, "gateway_rejected", 0, &l)
            .unwrap();
        let s = o.settings.unwrap();
        assert_eq!((s.consecutive_failures, s.disable), (2, None));
        assert_eq!(o.next_attempt, Some(24 * HOUR));
    }

    #[test]
    fn r23_an_automatic_top_up_is_retried_in_flight_and_its_settings_told() {
        let o = after_failed_charge(
            charging(true),
            auto(0),
            Soft,
            "card_declined",
            10,
            &limits(),
        )
        .unwrap();
        let at = 10 + 24 * HOUR;
        assert_eq!(
            o.progress,
            Progress {
                status: TopUpStatus::Queued,
                in_flight: true,
                not_before: Some(at),
                waiting: Some(WhyNot::RetryScheduled),
                completed_at: None
            }
        );
        assert_eq!(o.next_attempt, Some(at));
        let s = o.settings.unwrap();
        assert_eq!(
            (
                s.consecutive_failures,
                s.why_not,
                s.next_attempt_at,
                s.disable
            ),
            (1, Some(WhyNot::RetryScheduled), Some(at), None)
        );
        assert_eq!(s.last_attempt.to_string(), "failed: card_declined");
    }

    #[test]
    fn r23_r24_the_third_failure_disables_with_its_reason() {
        let o = after_failed_charge(
            charging(true),
            auto(2),
            Soft,
            "card_declined",
            10,
            &limits(),
        )
        .unwrap();
        assert_eq!(o.progress.status, TopUpStatus::Failed);
        assert_eq!(
            (o.progress.in_flight, o.progress.completed_at),
            (false, Some(10))
        );
        assert_eq!(o.next_attempt, None);
        let s = o.settings.unwrap();
        let reason = s.disable.unwrap();
        assert_eq!(
            reason.to_string(),
            "3 consecutive failed attempts (last: card_declined)"
        );
        assert_eq!(reason.code(), "consecutive_failures");
        assert_eq!(s.why_not, Some(WhyNot::NotActive));
    }

    #[test]
    fn r23_a_hard_decline_disables_at_once() {
        let o =
            after_failed_charge(charging(true), auto(0), Hard, "lost_card", 10, &limits()).unwrap();
        let reason = o.settings.unwrap().disable.unwrap();
        assert_eq!(reason.to_string(), "card declined: lost_card");
        assert_eq!(reason.code(), "hard_decline");
    }

    #[test]
    fn r16_settings_turned_off_meanwhile_are_not_disabled() {
        let off = Attempts::Auto {
            consecutive_failures: 2,
            state: State::Off,
        };
        let o =
            after_failed_charge(charging(true), off, Soft, "card_declined", 10, &limits()).unwrap();
        assert_eq!(o.progress.status, TopUpStatus::Failed);
        assert_eq!(o.settings.unwrap().disable, None);
    }

    #[test]
    fn r23_3ds_waits_for_the_customer_in_flight_when_automatic() {
        let o = after_failed_charge(
            charging(true),
            auto(0),
            AuthenticationRequired,
            "authentication_required",
            10,
            &limits(),
        )
        .unwrap();
        assert_eq!(o.progress.status, TopUpStatus::RequiresAction);
        assert_eq!(
            (o.progress.in_flight, o.progress.completed_at),
            (true, None)
        );
        assert_eq!(o.progress.waiting, Some(WhyNot::WaitingForCustomer));
        let manual = after_failed_charge(
            charging(false),
            Attempts::Once,
            AuthenticationRequired,
            "authentication_required",
            10,
            &limits(),
        )
        .unwrap();
        assert_eq!(manual.progress.status, TopUpStatus::RequiresAction);
        assert_eq!(manual.progress.completed_at, Some(10));
        assert_eq!(manual.settings, None);
    }

    #[test]
    fn r23_a_wait_for_the_customer_expires_as_a_failure() {
        let l = limits();
        let waiting = after_failed_charge(
            charging(true),
            auto(0),
            AuthenticationRequired,
            "authentication_required",
            10,
            &l,
        )
        .unwrap();
        assert_eq!(
            waiting.progress.not_before,
            Some(10 + 24 * HOUR),
            "until then"
        );
        let at = 10 + 24 * HOUR;
        let expire = |failures, l: &Limits| {
            after_failed_charge(
                waiting.progress,
                auto(failures),
                AuthenticationExpired,
                "authentication_expired",
                at,
                l,
            )
            .unwrap()
        };
        // Counted once, when authentication was asked for; then retried as any failure.
        let o = expire(1, &l);
        assert_eq!(o.progress.status, TopUpStatus::Queued);
        assert_eq!(o.next_attempt, Some(at + 24 * HOUR));
        let s = o.settings.unwrap();
        assert_eq!((s.consecutive_failures, s.disable), (1, None));
        assert_eq!(
            s.last_attempt,
            AttemptOutcome::Failed("authentication_expired".into())
        );
        // The last failure allowed: disabled, with its reason.
        let one = Limits {
            max_consecutive_failures: 1,
            ..l
        };
        let o = expire(1, &one);
        assert_eq!(o.progress.status, TopUpStatus::Failed);
        assert_eq!(
            o.settings.unwrap().disable.map(|r| r.code()),
            Some("consecutive_failures")
        );
        // A manual top-up waiting for its customer just fails.
        let manual = after_failed_charge(
            waiting.progress,
            Attempts::Once,
            AuthenticationExpired,
            "authentication_expired",
            at,
            &l,
        )
        .unwrap();
        assert_eq!(manual.progress.status, TopUpStatus::Failed);
    }

    #[test]
    fn r23_r30_a_scheduled_recharge_follows_the_same_policy_out_of_flight() {
        let sched = |attempt| {
            after_failed_charge(
                charging(false),
                Attempts::Scheduled { attempt },
                Soft,
                "card_declined",
                10,
                &limits(),
            )
            .unwrap()
        };
        let first = sched(1);
        assert_eq!(first.progress.status, TopUpStatus::Queued);
        assert!(!first.progress.in_flight);
        assert_eq!(first.next_attempt, Some(10 + 24 * HOUR));
        let third = sched(3);
        assert_eq!(third.progress.status, TopUpStatus::Failed);
        assert_eq!(third.progress.completed_at, Some(10));
        assert_eq!(third.settings, None);
        let hard = after_failed_charge(
            charging(false),
            Attempts::Scheduled { attempt: 1 },
            Hard,
            "stolen_card",
            10,
            &limits(),
        )
        .unwrap();
        assert_eq!(hard.progress.status, TopUpStatus::Failed);
    }

    #[test]
    fn r23_a_manual_top_up_is_never_retried() {
        let o = after_failed_charge(
            charging(false),
            Attempts::Once,
            Soft,
            "card_declined",
            10,
            &limits(),
        )
        .unwrap();
        assert_eq!(o.progress.status, TopUpStatus::Failed);
        assert_eq!((o.next_attempt, o.progress.completed_at), (None, Some(10)));
    }

    #[test]
    fn r25_a_final_top_up_cannot_fail_again() {
        let done = Progress {
            status: TopUpStatus::Succeeded,
            ..charging(false)
        };
        let e = after_failed_charge(done, Attempts::Once, Soft, "x", 0, &limits()).unwrap_err();
        assert_eq!(e.rule(), Some("R25"));
    }

    proptest! {
        #[test]
        fn r23_r19_failures_never_leave_an_automatic_top_up_half_done(
            before in 0u32..6, class in 0usize..6, in_flight in any::<bool>(), max in 0u32..5,
        ) {
            let class = [Soft, Hard, AuthenticationRequired, Outage, SourceInsufficient, Rejected][class];
            let l = Limits { max_consecutive_failures: max, ..limits() };
            let o = after_failed_charge(charging(in_flight), auto(before), class, "c", 10, &l).unwrap();
            let s = o.settings.unwrap();
            // Completed <=> no longer queued nor in flight; in flight until it ends.
            let ended = o.progress.status == TopUpStatus::Failed;
            let open = o.progress.status == TopUpStatus::Queued || o.progress.in_flight;
            prop_assert_eq!(!open, o.progress.completed_at.is_some());
            prop_assert_eq!(!ended && in_flight, o.progress.in_flight);
            prop_assert_eq!(ended, s.disable.is_some());
            // A retry is always announced with its time; an outage is not counted.
            prop_assert_eq!(o.next_attempt.is_some(), o.progress.status == TopUpStatus::Queued);
            if class == Outage || class == Rejected {
                prop_assert_eq!(s.consecutive_failures, before);
            } else {
                prop_assert_eq!(s.consecutive_failures, before + 1);
            }
        }
    }
}
