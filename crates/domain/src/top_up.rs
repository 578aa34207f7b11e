//! A top-up's lifecycle (R10, R11, R19, R23, R25): its status, origin and the moves
//! between them, with the recovery points of the engine (queued -> charging ->
//! succeeded | pending | failed); and the idempotency keys its charges carry (R25).

use crate::auto_top_up::WhyNot;
use crate::recurring::month_key;
use crate::{DomainError, Millis};
use std::fmt;
use std::str::FromStr;

/// Where the source of a top-up is named: the same `card` / `transfer` as settings.
pub use crate::auto_top_up::SourceKind as Source;

fn unknown(what: &'static str, value: &str, rule: &'static str) -> DomainError {
    DomainError::UnknownValue {
        what,
        value: value.chars().take(40).collect(),
        rule,
    }
}

/// The status of a top-up, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopUpStatus {
    /// Waiting to be decided and charged (automatic, scheduled, confirmed).
    Queued,
    /// The recovery point before the gateway is called: its outcome is asked for,
    /// never guessed (R25).
    Charging,
    /// R23: waiting for the customer's 3-D Secure.
    RequiresAction,
    /// R11: paid by a payment the bank has not settled yet.
    Pending,
    Succeeded,
    Failed,
    /// Ended without a charge (R18: not a failure).
    Canceled,
}

impl TopUpStatus {
    const ALL: [TopUpStatus; 7] = [
        TopUpStatus::Queued,
        TopUpStatus::Charging,
        TopUpStatus::RequiresAction,
        TopUpStatus::Pending,
        TopUpStatus::Succeeded,
        TopUpStatus::Failed,
        TopUpStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TopUpStatus::Queued => "queued",
            TopUpStatus::Charging => "charging",
            TopUpStatus::RequiresAction => "requires_action",
            TopUpStatus::Pending => "pending",
            TopUpStatus::Succeeded => "succeeded",
            TopUpStatus::Failed => "failed",
            TopUpStatus::Canceled => "canceled",
        }
    }

    /// No move leaves it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TopUpStatus::Succeeded | TopUpStatus::Failed | TopUpStatus::Canceled
        )
    }

    /// Whether `self -> to` is a move of the lifecycle. Staying queued (a new date)
    /// or charging (an outage, resolved later) is one.
    pub fn can_move_to(self, to: TopUpStatus) -> bool {
        use TopUpStatus::*;
        match self {
            // Decided: charged, paid by transfer, failed by transfer, or ended.
            Queued => matches!(to, Queued | Charging | Succeeded | Failed | Canceled),
            Charging => matches!(
                to,
                Charging | Succeeded | Pending | Failed | Queued | RequiresAction
            ),
            // Confirmed, paid on the payment page, expired, or turned off (R23).
            RequiresAction => matches!(to, Queued | Succeeded | Failed | Canceled),
            Pending => matches!(to, Succeeded | Failed),
            Succeeded | Failed | Canceled => false,
        }
    }

    /// The move to `to`, or the refusal: a wrong move is an error, never written.
    pub fn move_to(self, to: TopUpStatus) -> Result<TopUpStatus, DomainError> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(DomainError::TopUpTransition {
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }

    /// R23: the customer completed 3-D Secure: queued to be charged again.
    pub fn confirm(self) -> Result<TopUpStatus, DomainError> {
        match self {
            TopUpStatus::RequiresAction => Ok(TopUpStatus::Queued),
            other => Err(DomainError::NotAwaitingAuthentication {
                status: other.as_str(),
            }),
        }
    }
}

impl FromStr for TopUpStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<TopUpStatus, DomainError> {
        TopUpStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| unknown("top-up status", s, "R25"))
    }
}

impl fmt::Display for TopUpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started a top-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// R8, R10: asked for by the customer, charged at once.
    Manual,
    /// R18-R23: the engine's automatic top-up.
    Auto,
    /// R30: a monthly scheduled recharge.
    Scheduled,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Manual => "manual",
            Origin::Auto => "auto",
            Origin::Scheduled => "scheduled",
        }
    }

    /// R19: an automatic top-up is in flight until it ends, so that no second one
    /// starts for the same crossing; the others never are.
    pub fn in_flight_until_done(self) -> bool {
        self == Origin::Auto
    }

    /// R21: only automatic top-ups count against the caps.
    pub fn counts_against_caps(self) -> bool {
        self == Origin::Auto
    }

    /// The customer is not there to authenticate: every charge but a manual one.
    pub fn off_session(self) -> bool {
        self != Origin::Manual
    }
}

impl FromStr for Origin {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Origin, DomainError> {
        match s {
            "manual" => Ok(Origin::Manual),
            "auto" => Ok(Origin::Auto),
            "scheduled" => Ok(Origin::Scheduled),
            other => Err(unknown("top-up origin", other, "R25")),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A top-up's lifecycle fields, as its row keeps them: each move returns the next
/// ones, or refuses a move the status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub status: TopUpStatus,
    /// R19: counts as the account's one top-up in flight.
    pub in_flight: bool,
    /// Queued: not to be decided before then.
    pub not_before: Option<Millis>,
    /// What it waits for (the view's `waiting_for`).
    pub waiting: Option<WhyNot>,
    pub completed_at: Option<Millis>,
}

impl Progress {
    /// A new queued top-up (automatic: in flight from now on, R19; scheduled: never).
    pub fn queued(origin: Origin, not_before: Millis) -> Progress {
        Progress {
            status: TopUpStatus::Queued,
            in_flight: origin.in_flight_until_done(),
            not_before: Some(not_before),
            waiting: None,
            completed_at: None,
        }
    }

    /// A new manual top-up: charging at once (its recovery point, R25).
    pub fn charging_now() -> Progress {
        Progress {
            status: TopUpStatus::Charging,
            in_flight: false,
            not_before: None,
            waiting: None,
            completed_at: None,
        }
    }

    pub(crate) fn to_status(self, status: TopUpStatus) -> Result<Progress, DomainError> {
        Ok(Progress {
            status: self.status.move_to(status)?,
            ..self
        })
    }

    /// The recovery point before the gateway is called (R25).
    pub fn begin_charge(self) -> Result<Progress, DomainError> {
        if self.status != TopUpStatus::Queued {
            return Err(DomainError::TopUpTransition {
                from: self.status.as_str(),
                to: TopUpStatus::Charging.as_str(),
            });
        }
        self.to_status(TopUpStatus::Charging)
    }

    /// R18, R20, R21: stays queued until `until`, for `why`.
    pub fn wait(self, until: Millis, why: WhyNot) -> Result<Progress, DomainError> {
        if self.status != TopUpStatus::Queued {
            return Err(DomainError::TopUpTransition {
                from: self.status.as_str(),
                to: TopUpStatus::Queued.as_str(),
            });
        }
        Ok(Progress {
            not_before: Some(until),
            waiting: Some(why),
            ..self
        })
    }

    /// Ends without a charge (R18: not a failure), saying why.
    pub fn cancel(self, why: WhyNot, now: Millis) -> Result<Progress, DomainError> {
        Ok(Progress {
            in_flight: false,
            waiting: Some(why),
            completed_at: Some(now),
            ..self.to_status(TopUpStatus::Canceled)?
        })
    }

    /// R10, R11: paid (`pending`: by a payment not settled yet, whose credit is
    /// usable at once), credited, out of flight.
    pub fn succeed(self, pending: bool, now: Millis) -> Result<Progress, DomainError> {
        let status = match pending {
            true => TopUpStatus::Pending,
            false => TopUpStatus::Succeeded,
        };
        Ok(Progress {
            in_flight: false,
            waiting: None,
            completed_at: Some(now),
            ..self.to_status(status)?
        })
    }

    /// R11 with crediting of pending payments off: pending, its credit withheld
    /// until it settles; an automatic one stays in flight meanwhile (R19).
    pub fn hold_pending(self, now: Millis) -> Result<Progress, DomainError> {
        Ok(Progress {
            waiting: Some(WhyNot::PaymentPending),
            completed_at: Some(now),
            ..self.to_status(TopUpStatus::Pending)?
        })
    }

    /// R11: a pending payment settles: succeeded, or failed at the bank.
    pub fn settle(self, ok: bool) -> Result<Progress, DomainError> {
        if self.status != TopUpStatus::Pending {
            return Err(DomainError::TopUpTransition {
                from: self.status.as_str(),
                to: if ok { "succeeded" } else { "failed" },
            });
        }
        let status = match ok {
            true => TopUpStatus::Succeeded,
            false => TopUpStatus::Failed,
        };
        Ok(Progress {
            in_flight: false,
            waiting: None,
            ..self.to_status(status)?
        })
    }

    /// R23, R25: the gateway did not answer: still charging, resolved later by
    /// asking it.
    pub fn outage(self) -> Result<Progress, DomainError> {
        Ok(Progress {
            waiting: Some(WhyNot::GatewayUnavailable),
            ..self.to_status(TopUpStatus::Charging)?
        })
    }

    /// R23: until when it waits for the customer's 3-D Secure (then it expires).
    pub fn waits_for_customer_until(self) -> Option<Millis> {
        match self.status {
            TopUpStatus::RequiresAction => self.not_before,
            _ => None,
        }
    }

    /// R23: its wait for the customer is over: it expires, as a failed attempt.
    pub fn authentication_expired(self, now: Millis) -> bool {
        self.waits_for_customer_until()
            .is_some_and(|until| until <= now)
    }

    /// R23, R24: its settings changed: queued, it is decided again now, under them.
    /// What it waited for is kept, so a cap already told is not told again (R21).
    pub fn replan(self, now: Millis) -> Result<Progress, DomainError> {
        if self.status != TopUpStatus::Queued {
            return Err(DomainError::TopUpTransition {
                from: self.status.as_str(),
                to: TopUpStatus::Queued.as_str(),
            });
        }
        Ok(Progress {
            not_before: Some(now),
            ..self
        })
    }

    /// R5: ends failed before any charge is sent: its card was removed. Queued (a
    /// retry, a confirmation) or charging (re-sent after an outage) alike.
    pub fn fail_unsent(self, now: Millis) -> Result<Progress, DomainError> {
        Ok(Progress {
            in_flight: false,
            waiting: None,
            completed_at: Some(now),
            ..self.to_status(TopUpStatus::Failed)?
        })
    }

    /// R23: the customer completed 3-D Secure: queued again, due now.
    pub fn confirm(self, now: Millis) -> Result<Progress, DomainError> {
        Ok(Progress {
            status: self.status.confirm()?,
            not_before: Some(now),
            waiting: None,
            completed_at: None,
            ..self
        })
    }
}

/// The outcome of the last attempt, as the settings keep it (R24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Charging,
    Succeeded,
    Pending,
    /// Failed with the gateway's (or refill's) code.
    Failed(String),
}

impl fmt::Display for AttemptOutcome {
    /// The stored form: "charging", "succeeded", "pending", "failed: card_declined".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptOutcome::Charging => f.write_str("charging"),
            AttemptOutcome::Succeeded => f.write_str("succeeded"),
            AttemptOutcome::Pending => f.write_str("pending"),
            AttemptOutcome::Failed(code) => write!(f, "failed: {code}"),
        }
    }
}

impl FromStr for AttemptOutcome {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<AttemptOutcome, DomainError> {
        match s {
            "charging" => Ok(AttemptOutcome::Charging),
            "succeeded" => Ok(AttemptOutcome::Succeeded),
            "pending" => Ok(AttemptOutcome::Pending),
            _ => s
                .strip_prefix("failed: ")
                .map(|code| AttemptOutcome::Failed(code.to_string()))
                .ok_or_else(|| unknown("attempt outcome", s, "R24")),
        }
    }
}

/// R5: the failure code and message of a top-up whose card was removed before it
/// was charged: a removed card is never charged again, by any path.
pub const CARD_REMOVED: &str = "payment_method_removed";
pub const CARD_REMOVED_MESSAGE: &str =
    "the card was removed before this top-up was charged; a removed card is never charged";

/// R25: the gateway's idempotency key for one attempt of a top-up: its id and
/// attempt, so a retry after a timeout or a crash can never charge twice. A
/// scheduled recharge's key names its account and month instead (its request key,
/// `scheduled_request_key`), so that month can never be charged twice, even by a
/// second row.
pub fn charge_key(
    top_up_id: &str,
    origin: Origin,
    request_key: Option<&str>,
    attempt: i64,
) -> String {
    match (origin, request_key) {
        (Origin::Scheduled, Some(month)) => format!("{month}:{attempt}"),
        _ => format!("{top_up_id}:{attempt}"),
    }
}

/// R25, R30: the request key of an account's scheduled recharge for the month of
/// `date`, "scheduled:<account>:<YYYY-MM>": unique among top-ups, and the base of
/// its charges' keys.
pub fn scheduled_request_key(account_id: &str, date: Millis) -> String {
    format!("scheduled:{account_id}:{}", month_key(date))
}

/// R14, R25: the key of a card's verification charge, per turning on (`round`, the
/// settings version it leads to). The charge after 3-D Secure is a new request: under
/// the first one's key the gateway would answer its outcome again.
pub fn verification_key(payment_method_id: &str, round: i64, authenticated: bool) -> String {
    let stage = if authenticated { "_3ds" } else { "" };
    format!("verify_{payment_method_id}_{round}{stage}")
}

/// R14, R25: the key of the refund of a verification charge.
pub fn verification_refund_key(verification_key: &str) -> String {
    format!("{verification_key}_refund")
}

#[cfg(test)]
#[path = "top_up_tests.rs"]
mod tests;
