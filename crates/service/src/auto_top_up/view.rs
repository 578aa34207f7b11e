//! R24: auto top-up as the API shows it: the settings, the state and its history,
//! the last and next attempt, why not, and the top-up in flight.

use crate::api_objects::rfc3339;
use refill_domain::auto_top_up::{AmountRule, State, StateReason};
use refill_domain::events::Reason;
use refill_domain::top_up::TopUpStatus;
use refill_store::{AutoTopUpRow, ResourceRow, TopUpRow};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct LastAttempt {
    pub top_up_id: Option<String>,
    pub at: String,
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct InFlight {
    pub top_up_id: String,
    #[schemars(with = "refill_domain::top_up::TopUpStatus")]
    pub status: String,
    pub not_before: Option<String>,
    #[schemars(with = "Option<refill_domain::auto_top_up::WhyNot>")]
    pub waiting_for: Option<String>,
    /// R23: until when it waits for the customer's 3-D Secure; then it expires.
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct AutoTopUpView {
    pub object: &'static str,
    pub account_id: String,
    /// active | off | disabled (R24)
    #[schemars(with = "refill_domain::auto_top_up::State")]
    pub state: String,
    /// Why it is in its state (R24): a stable code and a message for people.
    pub state_reason: Option<Reason>,
    pub state_changed: Option<String>,
    pub threshold: Option<i64>,
    pub amount: Option<i64>,
    pub target_balance: Option<i64>,
    #[schemars(with = "Option<refill_domain::auto_top_up::SourceKind>")]
    pub source: Option<String>,
    pub payment_method: Option<String>,
    pub terms_version: Option<String>,
    pub terms_accepted: Option<String>,
    pub consecutive_failures: i64,
    pub last_attempt: Option<LastAttempt>,
    pub next_attempt: Option<String>,
    /// Why a top-up did not run (R24): minimum_interval, daily_cap_reached, ...
    #[schemars(with = "Option<refill_domain::auto_top_up::WhyNot>")]
    pub why_not: Option<String>,
    /// Until when `why_not` holds (R24): the end of a wait for the customer, of the
    /// window or of a cap, or the planned retry.
    pub why_not_until: Option<String>,
    pub in_flight: Option<InFlight>,
    /// R29: renewals the balance cannot pay, which ask for automatic top-ups.
    pub unpaid_renewals: Vec<UnpaidRenewal>,
    pub history: Vec<StateChange>,
    pub version: i64,
}

/// R29: a renewal waiting unpaid: the resource, its fee, when it was due.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct UnpaidRenewal {
    pub resource_id: String,
    pub fee: i64,
    pub due: Option<String>,
    pub failing_since: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct StateChange {
    #[schemars(with = "refill_domain::auto_top_up::State")]
    pub state: String,
    pub reason: Reason,
    pub at: String,
}

/// A reason of the history, read back from its stored form (R24).
fn stored_reason(stored: String) -> Reason {
    match stored.parse::<StateReason>() {
        Ok(r) => Reason::from(&r),
        Err(_) => Reason {
            code: "other",
            message: stored,
        },
    }
}

pub(super) fn view(
    account_id: &str,
    s: Option<&AutoTopUpRow>,
    flight: Option<TopUpRow>,
    unpaid: Vec<ResourceRow>,
    history: Vec<(String, String, i64)>,
) -> AutoTopUpView {
    let rule = s.and_then(|s| s.amount_rule().ok());
    let customer_until = flight
        .as_ref()
        .and_then(|t| t.progress().waits_for_customer_until());
    let why_not_until = s
        .filter(|s| s.why_not.is_some())
        .and_then(|s| customer_until.or(s.next_attempt_at));
    AutoTopUpView {
        object: "auto_top_up",
        account_id: account_id.into(),
        state: s.map_or(State::Off, |s| s.state).as_str().into(),
        state_reason: s.and_then(|s| s.state_reason.as_ref().map(Reason::from)),
        state_changed: s.map(|s| rfc3339(s.state_changed_at)),
        threshold: s.map(|s| s.threshold),
        amount: match rule {
            Some(AmountRule::Fixed(a)) => Some(a),
            _ => None,
        },
        target_balance: match rule {
            Some(AmountRule::UpToTarget(t)) => Some(t),
            _ => None,
        },
        source: s.map(|s| s.source.as_str().into()),
        payment_method: s.and_then(|s| s.payment_method_id.clone()),
        terms_version: s.and_then(|s| s.terms_version.clone()),
        terms_accepted: s.and_then(|s| s.terms_accepted_at).map(rfc3339),
        consecutive_failures: s.map_or(0, |s| s.consecutive_failures),
        last_attempt: s.and_then(|s| {
            s.last_attempt_at.map(|at| LastAttempt {
                top_up_id: s.last_attempt_top_up_id.clone(),
                at: rfc3339(at),
                outcome: s.last_attempt_outcome.as_ref().map(ToString::to_string),
            })
        }),
        next_attempt: s.and_then(|s| s.next_attempt_at).map(rfc3339),
        why_not: s.and_then(|s| s.why_not).map(|w| w.as_str().into()),
        why_not_until: why_not_until.map(rfc3339),
        in_flight: flight.map(|t| InFlight {
            expires_at: t.progress().waits_for_customer_until().map(rfc3339),
            not_before: (t.status != TopUpStatus::RequiresAction)
                .then_some(t.not_before)
                .flatten()
                .map(rfc3339),
            top_up_id: t.id,
            status: t.status.as_str().into(),
            waiting_for: t.why_waiting.map(|w| w.as_str().into()),
        }),
        unpaid_renewals: unpaid
            .into_iter()
            .map(|r| UnpaidRenewal {
                resource_id: r.id,
                fee: r.fee,
                due: r.next_fee_at.map(rfc3339),
                failing_since: r.shortfall_since.map(rfc3339),
            })
            .collect(),
        history: history
            .into_iter()
            .map(|(state, reason, at)| StateChange {
                state,
                reason: stored_reason(reason),
                at: rfc3339(at),
            })
            .collect(),
        version: s.map_or(0, |s| s.version),
    }
}
