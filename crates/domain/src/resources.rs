//! R17, R29: resources with a recurring fee (a dedicated number): their lifecycle,
//! the auto top-up their purchase turns on and their removal turns off, and what an
//! unpaid renewal leads to.

use crate::auto_top_up::{State, StateReason};
use crate::recurring::{Shortfall, after_shortfall};
use crate::{DomainError, Millis};
use std::fmt;
use std::str::FromStr;

/// R29: a resource's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceStatus {
    /// Held; its fee is charged each period.
    Active,
    /// The grace period ended unpaid: its fees stopped.
    Suspended,
    /// Given up by the customer: its fees stopped.
    Removed,
}

impl ResourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceStatus::Active => "active",
            ResourceStatus::Suspended => "suspended",
            ResourceStatus::Removed => "removed",
        }
    }

    /// R29: an unpaid renewal past its grace period suspends an active resource.
    pub fn suspend(self) -> Result<ResourceStatus, DomainError> {
        self.to(ResourceStatus::Suspended, self == ResourceStatus::Active)
    }

    /// R29: the customer removes a held (active or suspended) resource.
    pub fn remove(self) -> Result<ResourceStatus, DomainError> {
        self.to(ResourceStatus::Removed, self != ResourceStatus::Removed)
    }

    fn to(self, to: ResourceStatus, allowed: bool) -> Result<ResourceStatus, DomainError> {
        if allowed {
            Ok(to)
        } else {
            Err(DomainError::ResourceTransition {
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

impl FromStr for ResourceStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<ResourceStatus, DomainError> {
        match s {
            "active" => Ok(ResourceStatus::Active),
            "suspended" => Ok(ResourceStatus::Suspended),
            "removed" => Ok(ResourceStatus::Removed),
            other => Err(DomainError::UnknownValue {
                what: "resource status",
                value: other.chars().take(32).collect(),
                rule: "R29",
            }),
        }
    }
}

impl fmt::Display for ResourceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// R17: whether buying a recurring-fee resource turns auto top-up on: it is not on
/// already (`current`: the settings' state, if any), and the account has a saved
/// primary card and a payer (R5). Then R14 applies as to any turning on.
pub fn purchase_turns_on(current: Option<State>, has_primary_card: bool, has_payer: bool) -> bool {
    current != Some(State::Active) && has_primary_card && has_payer
}

/// R17, R16: removing the last resource turns off the auto top-up a purchase turned
/// on, unless the customer changed the settings since (another `version` than the
/// one the purchase wrote) or they are no longer active; the reason to record, if
/// it does.
pub fn last_removal_turns_off(
    state: State,
    version: i64,
    version_written: i64,
    resource_id: &str,
) -> Option<StateReason> {
    let reason = StateReason::TurnedOffWithLastResource {
        resource_id: resource_id.into(),
    };
    (version == version_written && state.change(&reason).is_ok()).then_some(reason)
}

/// R29: a renewal is due: the resource is active and its next fee's time has come.
pub fn renewal_due(status: ResourceStatus, next_fee_at: Option<Millis>, now: Millis) -> bool {
    status == ResourceStatus::Active && next_fee_at.is_some_and(|t| t <= now)
}

/// R29: renewals of `unpaid_fees` in all wait, and the balance cannot cover them
/// within the account's credit limit: automatic top-ups are asked for.
pub fn renewal_uncovered(balance: i64, credit_limit: i64, unpaid_fees: i64) -> bool {
    unpaid_fees > 0 && (balance as i128) - (unpaid_fees as i128) < credit_limit as i128
}

/// R29: what follows a renewal the balance cannot cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpaidRenewal {
    /// Tried again at each check until `suspend_at`; `tell`: the customer hears of
    /// it now (once per period, at the first shortfall).
    Retry { suspend_at: Millis, tell: bool },
    /// The grace period is over: suspended, and told.
    Suspend,
}

/// R29: a renewal due at `due_at` that the balance cannot cover at `now`, with
/// `grace` to pay; `failing_since`: the first shortfall of this period, if any.
pub fn unpaid_renewal(
    due_at: Millis,
    now: Millis,
    grace: Millis,
    failing_since: Option<Millis>,
) -> UnpaidRenewal {
    match after_shortfall(due_at, now, grace) {
        Shortfall::Retry { suspend_at } => UnpaidRenewal::Retry {
            suspend_at,
            tell: failing_since.is_none(),
        },
        Shortfall::Suspend => UnpaidRenewal::Suspend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HOUR;
    use ResourceStatus::*;

    #[test]
    fn r29_a_renewal_is_uncovered_until_the_balance_pays_it_within_the_limit() {
        assert!(renewal_uncovered(1_000, 0, 5_000));
        assert!(!renewal_uncovered(5_000, 0, 5_000));
        assert!(!renewal_uncovered(1_000, -4_000, 5_000), "credit covers it");
        assert!(!renewal_uncovered(0, 0, 0), "nothing unpaid");
        assert!(renewal_uncovered(i64::MIN, 0, i64::MAX), "no overflow");
    }

    #[test]
    fn r29_statuses_round_trip_and_move_forward_only() {
        for s in [Active, Suspended, Removed] {
            assert_eq!(s.as_str().parse::<ResourceStatus>(), Ok(s));
        }
        assert!("paused".parse::<ResourceStatus>().is_err());
        assert_eq!(Active.suspend(), Ok(Suspended));
        assert_eq!(Active.remove(), Ok(Removed));
        assert_eq!(Suspended.remove(), Ok(Removed));
        let e = Removed.suspend().unwrap_err();
        assert_eq!(
            (e.code(), e.rule()),
            ("invalid_resource_transition", Some("R29"))
        );
        assert!(Removed.remove().is_err());
        assert!(Suspended.suspend().is_err());
    }

    #[test]
    fn r17_a_purchase_turns_on_only_what_is_off_with_a_card_and_a_payer() {
        assert!(purchase_turns_on(None, true, true));
        assert!(purchase_turns_on(Some(State::Disabled), true, true));
        assert!(!purchase_turns_on(Some(State::Active), true, true));
        assert!(!purchase_turns_on(None, false, true));
        assert!(!purchase_turns_on(None, true, false));
    }

    #[test]
    fn r17_r16_the_last_removal_turns_off_only_untouched_settings() {
        let r = last_removal_turns_off(State::Active, 4, 4, "res_1").unwrap();
        assert_eq!(
            r.to_string(),
            "turned off with the removal of the last recurring-fee resource res_1 (R17)"
        );
        assert_eq!(last_removal_turns_off(State::Active, 5, 4, "res_1"), None);
        assert_eq!(last_removal_turns_off(State::Disabled, 4, 4, "res_1"), None);
    }

    #[test]
    fn r29_renewals_come_due_and_an_unpaid_one_is_told_once_then_suspended() {
        assert!(renewal_due(Active, Some(10), 10));
        assert!(!renewal_due(Active, Some(11), 10));
        assert!(!renewal_due(Suspended, Some(0), 10));
        assert!(!renewal_due(Active, None, 10));
        let grace = 72 * HOUR;
        assert_eq!(
            unpaid_renewal(0, 5, grace, None),
            UnpaidRenewal::Retry {
                suspend_at: grace,
                tell: true
            }
        );
        assert_eq!(
            unpaid_renewal(0, 6, grace, Some(5)),
            UnpaidRenewal::Retry {
                suspend_at: grace,
                tell: false
            }
        );
        assert_eq!(
            unpaid_renewal(0, grace, grace, Some(5)),
            UnpaidRenewal::Suspend
        );
    }
}
