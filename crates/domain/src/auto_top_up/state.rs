//! R24: the states of automatic top-up, the changes between them and their reasons;
//! R22: the settings whose means of payment are gone.

use super::{Cap, SourceKind};
use crate::DomainError;
use std::fmt;
use std::str::FromStr;

/// R24: the states of auto top-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    /// Turned off by the customer.
    Off,
    /// Turned off by the engine: failures, payment method or payer removed, ...
    Disabled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Off => "off",
            State::Disabled => "disabled",
        }
    }

    /// Lenient: anything not active or disabled reads as off. Prefer `FromStr`,
    /// which refuses an unknown value.
    pub fn parse(s: &str) -> State {
        s.parse().unwrap_or(State::Off)
    }

    /// R24: the state after a change for `reason`, or the refusal: turned on only
    /// from off or disabled; turned off by the customer from active or disabled;
    /// turned off by a resource's removal (R17) or disabled by the engine only from
    /// active.
    pub fn change(self, reason: &StateReason) -> Result<State, DomainError> {
        let to = reason.state();
        let allowed = match reason {
            StateReason::TurnedOnByCustomer | StateReason::TurnedOnByPurchase { .. } => {
                self != State::Active
            }
            // R4: closing turns off what the engine disabled too.
            StateReason::TurnedOffByCustomer | StateReason::AccountClosed => self != State::Off,
            _ => self == State::Active,
        };
        if allowed {
            Ok(to)
        } else {
            Err(DomainError::StateTransition {
                from: self.as_str(),
                to: to.as_str(),
            })
        }
    }
}

impl FromStr for State {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<State, DomainError> {
        match s {
            "active" => Ok(State::Active),
            "off" => Ok(State::Off),
            "disabled" => Ok(State::Disabled),
            other => Err(DomainError::UnknownValue {
                what: "auto top-up state",
                value: other.chars().take(32).collect(),
                rule: "R24",
            }),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// R24: why auto top-up changed state. Stored (settings, history, the
/// `auto_top_up.disabled` event's `reason`) in the form `Display` writes and
/// `FromStr` reads, the strings refill has always stored; shown to people by
/// `message`, matched by programs on `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateReason {
    TurnedOnByCustomer,
    TurnedOffByCustomer,
    /// R17: buying a recurring-fee resource turned it on.
    TurnedOnByPurchase {
        resource_id: String,
    },
    /// R17: the last recurring-fee resource was removed.
    TurnedOffWithLastResource {
        resource_id: String,
    },
    /// R23: the failures in a row that disable it.
    ConsecutiveFailures {
        failures: u32,
        last: String,
    },
    /// R23: a hard decline (lost, stolen, fraudulent card) disables at once.
    HardDecline {
        code: String,
    },
    /// R5, R22: its card was removed (or is no longer usable).
    PaymentMethodRemoved,
    /// R5, R22: the account's payer was removed.
    PayerRemoved,
    /// R4: the account was closed.
    AccountClosed,
    /// R21: the settings' amount alone is above a cap (lowered since they were set):
    /// their top-up could never run.
    AmountAboveCap {
        cap: Cap,
    },
}

const FAILURES: &str = " consecutive failed attempts (last: ";
const DECLINED: &str = "card declined: ";
const PURCHASE: &str = "turned on by the purchase of ";
const LAST_RESOURCE: &str = "turned off with the removal of the last recurring-fee resource ";
const R17: &str = " (R17)";
const ABOVE_CAP: &str = "amount above the ";
const CAP: &str = " cap";

impl StateReason {
    /// The state this reason leads to.
    pub fn state(&self) -> State {
        use StateReason::*;
        match self {
            TurnedOnByCustomer | TurnedOnByPurchase { .. } => State::Active,
            TurnedOffByCustomer | TurnedOffWithLastResource { .. } | AccountClosed => State::Off,
            ConsecutiveFailures { .. }
            | HardDecline { .. }
            | PaymentMethodRemoved
            | PayerRemoved
            | AmountAboveCap { .. } => State::Disabled,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use StateReason::*;
        match self {
            TurnedOnByCustomer => "turned_on_by_customer",
            TurnedOffByCustomer => "turned_off_by_customer",
            TurnedOnByPurchase { .. } => "resource_purchased",
            TurnedOffWithLastResource { .. } => "last_resource_removed",
            ConsecutiveFailures { .. } => "consecutive_failures",
            HardDecline { .. } => "hard_decline",
            PaymentMethodRemoved => "payment_method_removed",
            PayerRemoved => "payer_removed",
            AccountClosed => "account_closed",
            AmountAboveCap { .. } => "amount_above_cap",
        }
    }

    /// For people: "3 failed attempts in a row (last: card_declined)".
    pub fn message(&self) -> String {
        use StateReason::*;
        match self {
            TurnedOnByCustomer => "turned on by the customer".into(),
            TurnedOffByCustomer => "turned off by the customer".into(),
            TurnedOnByPurchase { resource_id } => {
                format!("turned on by the purchase of {resource_id}")
            }
            TurnedOffWithLastResource { resource_id } => {
                format!(
                    "turned off with the removal of the last recurring-fee resource {resource_id}"
                )
            }
            ConsecutiveFailures { failures, last } => {
                format!("{failures} failed attempts in a row (last: {last})")
            }
            HardDecline { code } => format!("the card was declined for good ({code})"),
            PaymentMethodRemoved => "the payment method was removed".into(),
            PayerRemoved => "the payer was removed".into(),
            AccountClosed => "turned off when the account was closed".into(),
            AmountAboveCap { cap } => format!(
                "the top-up amount is above the {} cap on automatic top-ups",
                cap.as_str()
            ),
        }
    }
}

impl fmt::Display for StateReason {
    /// The stored form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use StateReason::*;
        match self {
            TurnedOnByCustomer => f.write_str("turned on by the customer"),
            TurnedOffByCustomer => f.write_str("turned off by the customer"),
            TurnedOnByPurchase { resource_id } => write!(f, "{PURCHASE}{resource_id}{R17}"),
            TurnedOffWithLastResource { resource_id } => {
                write!(f, "{LAST_RESOURCE}{resource_id}{R17}")
            }
            ConsecutiveFailures { failures, last } => write!(f, "{failures}{FAILURES}{last})"),
            HardDecline { code } => write!(f, "{DECLINED}{code}"),
            PaymentMethodRemoved => f.write_str("payment_method_removed"),
            PayerRemoved => f.write_str("payer_removed"),
            AccountClosed => f.write_str("account_closed"),
            AmountAboveCap { cap } => write!(f, "{ABOVE_CAP}{}{CAP}", cap.as_str()),
        }
    }
}

impl FromStr for StateReason {
    type Err = DomainError;
    /// Reads the stored form back.
    fn from_str(s: &str) -> Result<StateReason, DomainError> {
        use StateReason::*;
        let between = |prefix: &str, suffix: &str| {
            s.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(suffix))
                .filter(|id| !id.is_empty())
                .map(str::to_string)
        };
        let failures = s.strip_suffix(')').and_then(|r| r.split_once(FAILURES));
        Ok(match s {
            "turned on by the customer" => TurnedOnByCustomer,
            "turned off by the customer" => TurnedOffByCustomer,
            "payment_method_removed" => PaymentMethodRemoved,
            "payer_removed" => PayerRemoved,
            "account_closed" => AccountClosed,
            _ => {
                if let Some(cap) = between(ABOVE_CAP, CAP) {
                    let cap = match cap.as_str() {
                        "daily" => Cap::Daily,
                        "monthly" => Cap::Monthly,
                        _ => return Err(unknown_reason(s)),
                    };
                    AmountAboveCap { cap }
                } else if let Some(resource_id) = between(PURCHASE, R17) {
                    TurnedOnByPurchase { resource_id }
                } else if let Some(resource_id) = between(LAST_RESOURCE, R17) {
                    TurnedOffWithLastResource { resource_id }
                } else if let Some(code) = between(DECLINED, "") {
                    HardDecline { code }
                } else if let Some((n, last)) = failures
                    && let Ok(failures) = n.parse::<u32>()
                {
                    ConsecutiveFailures {
                        failures,
                        last: last.to_string(),
                    }
                } else {
                    return Err(unknown_reason(s));
                }
            }
        })
    }
}

fn unknown_reason(s: &str) -> DomainError {
    DomainError::UnknownValue {
        what: "auto top-up state reason",
        value: s.chars().take(120).collect(),
        rule: "R24",
    }
}

/// R5, R22: why active settings can no longer pay, if they cannot: a card source
/// whose card is missing or removed, or an account without a payer. (The periodic
/// check's query selects the same settings, `active_settings_without_means`.)
pub fn means_gone(
    state: State,
    source: SourceKind,
    card_usable: bool,
    has_payer: bool,
) -> Option<StateReason> {
    if state != State::Active || source != SourceKind::Card {
        return None;
    }
    if !card_usable {
        Some(StateReason::PaymentMethodRemoved)
    } else if !has_payer {
        Some(StateReason::PayerRemoved)
    } else {
        None
    }
}

impl schemars::JsonSchema for StateReason {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StateReason".into()
    }
    /// The stored forms `Display` writes: fixed strings, or a pattern where the form
    /// holds a resource id, a count or a decline code.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let escaped = |s: &str| s.replace('(', "\\(").replace(')', "\\)");
        let (r17, purchase, last) = (escaped(R17), escaped(PURCHASE), escaped(LAST_RESOURCE));
        schemars::json_schema!({
            "type": "string",
            "description": "R24: why auto top-up changed state, in its stored form",
            "anyOf": [
                {"enum": ["turned on by the customer", "turned off by the customer",
                    "payment_method_removed", "payer_removed", "account_closed"]},
                {"pattern": format!("^{purchase}.+{r17}$")},
                {"pattern": format!("^{last}.+{r17}$")},
                {"pattern": format!("^[0-9]+{}.*\\)$", escaped(FAILURES))},
                {"pattern": format!("^{DECLINED}.+$")},
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;
    use proptest::prelude::*;

    fn reasons() -> Vec<StateReason> {
        use StateReason::*;
        vec![
            TurnedOnByCustomer,
            TurnedOffByCustomer,
            TurnedOnByPurchase {
                resource_id: "res_1".into(),
            },
            TurnedOffWithLastResource {
                resource_id: "res_2".into(),
            },
            ConsecutiveFailures {
                failures: 3,
                last: "card_declined".into(),
            },
            HardDecline {
                code: "lost_card".into(),
            },
            PaymentMethodRemoved,
            PayerRemoved,
            AccountClosed,
            AmountAboveCap { cap: Cap::Daily },
        ]
    }

    #[test]
    fn r24_states_round_trip_their_stored_strings() {
        for s in [Active, Off, Disabled] {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
        }
        assert_eq!("paused".parse::<State>().unwrap_err().rule(), Some("R24"));
        assert_eq!(State::parse("paused"), Off, "the lenient reading");
    }

    #[test]
    fn r24_reasons_round_trip_the_strings_stored_today() {
        let stored = [
            "turned on by the customer",
            "turned off by the customer",
            "turned on by the purchase of res_1 (R17)",
            "turned off with the removal of the last recurring-fee resource res_2 (R17)",
            "3 consecutive failed attempts (last: card_declined)",
            "card declined: lost_card",
            "payment_method_removed",
            "payer_removed",
            "account_closed",
            "amount above the daily cap",
        ];
        for (reason, text) in reasons().iter().zip(stored) {
            assert_eq!(reason.to_string(), text);
            assert_eq!(text.parse::<StateReason>().as_ref(), Ok(reason));
        }
        assert!("turned sideways".parse::<StateReason>().is_err());
        assert!(
            "amount above the yearly cap"
                .parse::<StateReason>()
                .is_err()
        );
        assert!(
            "x consecutive failed attempts (last: a)"
                .parse::<StateReason>()
                .is_err()
        );
    }

    #[test]
    fn r24_reasons_have_a_code_and_a_message() {
        let r = StateReason::ConsecutiveFailures {
            failures: 3,
            last: "card_declined".into(),
        };
        assert_eq!(r.code(), "consecutive_failures");
        assert_eq!(
            r.message(),
            "3 failed attempts in a row (last: card_declined)"
        );
        assert_eq!(StateReason::PayerRemoved.state(), Disabled);
    }

    #[test]
    fn r24_only_allowed_changes() {
        use StateReason::*;
        assert_eq!(Off.change(&TurnedOnByCustomer), Ok(Active));
        assert_eq!(Disabled.change(&TurnedOnByCustomer), Ok(Active));
        assert!(Active.change(&TurnedOnByCustomer).is_err());
        assert_eq!(Active.change(&TurnedOffByCustomer), Ok(Off));
        assert_eq!(Disabled.change(&TurnedOffByCustomer), Ok(Off));
        assert!(Off.change(&TurnedOffByCustomer).is_err());
        assert_eq!(Active.change(&PaymentMethodRemoved), Ok(Disabled));
        // R16: the engine never disables what the customer turned off.
        let e = Off.change(&PaymentMethodRemoved).unwrap_err();
        assert_eq!(
            (e.code(), e.rule()),
            ("invalid_auto_top_up_transition", Some("R24"))
        );
        let last = TurnedOffWithLastResource {
            resource_id: "res_1".into(),
        };
        assert!(Disabled.change(&last).is_err(), "R17: only active settings");
        assert_eq!(Active.change(&AccountClosed), Ok(Off));
        assert_eq!(Disabled.change(&AccountClosed), Ok(Off));
        assert!(Off.change(&AccountClosed).is_err());
    }

    #[test]
    fn r22_settings_without_means_are_disabled_with_the_reason() {
        use SourceKind::*;
        assert_eq!(
            means_gone(Active, Card, false, false),
            Some(StateReason::PaymentMethodRemoved)
        );
        assert_eq!(
            means_gone(Active, Card, true, false),
            Some(StateReason::PayerRemoved)
        );
        assert_eq!(means_gone(Active, Card, true, true), None);
        assert_eq!(means_gone(Active, Transfer, false, false), None);
        assert_eq!(means_gone(Off, Card, false, false), None);
    }

    proptest! {
        #[test]
        fn r24_any_reason_round_trips(
            failures in 1u32..1000, code in "[a-z_]{1,24}", id in "res_[0-9a-z]{1,20}"
        ) {
            use StateReason::*;
            for r in [
                ConsecutiveFailures { failures, last: code.clone() },
                HardDecline { code: code.clone() },
                TurnedOnByPurchase { resource_id: id.clone() },
                TurnedOffWithLastResource { resource_id: id.clone() },
            ] {
                prop_assert_eq!(r.to_string().parse::<StateReason>(), Ok(r));
            }
        }
    }
}
