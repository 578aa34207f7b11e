//! R12-R15, R21: the settings of automatic top-up and their validation.

use crate::money::{positive, sub};
use crate::{Currency, DomainError, HOUR, MINUTE, Millis, Money};
use std::fmt;
use std::str::FromStr;

/// R12: how much a top-up charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountRule {
    /// A fixed amount.
    Fixed(i64),
    /// Up to a target balance: charge the difference.
    UpToTarget(i64),
}

impl AmountRule {
    /// The stored mode: "fixed" or "target" (the `amount_mode` column).
    pub fn mode(self) -> &'static str {
        match self {
            AmountRule::Fixed(_) => "fixed",
            AmountRule::UpToTarget(_) => "target",
        }
    }

    /// The stored amount: the fixed amount or the target balance.
    pub fn amount(self) -> i64 {
        match self {
            AmountRule::Fixed(a) | AmountRule::UpToTarget(a) => a,
        }
    }

    /// From the stored mode and amount.
    pub fn from_stored(mode: &str, amount: i64) -> Result<AmountRule, DomainError> {
        match mode {
            "fixed" => Ok(AmountRule::Fixed(amount)),
            "target" => Ok(AmountRule::UpToTarget(amount)),
            other => Err(DomainError::UnknownValue {
                what: "amount mode",
                value: other.chars().take(32).collect(),
                rule: "R12",
            }),
        }
    }

    /// R12: from a request's `amount` (fixed) or `target_balance`; exactly one.
    pub fn from_request(
        amount: Option<i64>,
        target_balance: Option<i64>,
    ) -> Result<AmountRule, DomainError> {
        match (amount, target_balance) {
            (Some(a), None) => Ok(AmountRule::Fixed(positive(a)?)),
            (None, Some(t)) => Ok(AmountRule::UpToTarget(positive(t)?)),
            _ => Err(DomainError::AmountRequired),
        }
    }
}

/// R12: where the money comes from; never both. Also a top-up's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A saved card, charged at the gateway.
    Card,
    /// A transfer from the main account's balance (sub-accounts only).
    Transfer,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Card => "card",
            SourceKind::Transfer => "transfer",
        }
    }

    /// R12: a request's source: "card" when none is given.
    pub fn from_request(source: Option<&str>) -> Result<SourceKind, DomainError> {
        match source.unwrap_or("card") {
            "card" => Ok(SourceKind::Card),
            "transfer" => Ok(SourceKind::Transfer),
            other => Err(DomainError::InvalidSource(other.chars().take(64).collect())),
        }
    }
}

impl FromStr for SourceKind {
    type Err = DomainError;
    /// A stored source.
    fn from_str(s: &str) -> Result<SourceKind, DomainError> {
        match s {
            "card" => Ok(SourceKind::Card),
            "transfer" => Ok(SourceKind::Transfer),
            other => Err(DomainError::UnknownValue {
                what: "source",
                value: other.chars().take(32).collect(),
                rule: "R12",
            }),
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The deployment's (or account's) limits on automatic top-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// R8: the manual minimum, which an automatic amount must also reach (R13). In
    /// the account's currency where an account's limits are meant; the deployment's
    /// is for a two-decimal currency (`currency::operator_amount`).
    pub minimum_top_up: i64,
    /// R20: minimum time between automatic card top-ups.
    pub card_interval: Millis,
    /// R23: delay before a failed charge is retried.
    pub retry_delay: Millis,
    /// R23: consecutive failures that disable auto top-up (1: the first failure).
    pub max_consecutive_failures: u32,
    /// R23: delay before retrying after a gateway outage (not the customer's failure).
    pub outage_retry_delay: Millis,
    /// R23: how long a top-up waits for the customer's 3-D Secure before it expires.
    pub authentication_expiry: Millis,
    /// R21: caps on automatic top-ups; 0 means no cap of that kind.
    pub daily_count_cap: u32,
    pub daily_amount_cap: i64,
    pub monthly_count_cap: u32,
    pub monthly_amount_cap: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            minimum_top_up: 1_000,
            card_interval: 30 * MINUTE,
            retry_delay: 24 * HOUR,
            max_consecutive_failures: 3,
            outage_retry_delay: MINUTE,
            authentication_expiry: 24 * HOUR,
            daily_count_cap: 10,
            daily_amount_cap: 1_000_000,
            monthly_count_cap: 100,
            monthly_amount_cap: 10_000_000,
        }
    }
}

/// What validating new settings needs to know about the account (R13-R15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsContext {
    /// The account's currency, which every amount is in.
    pub currency: Currency,
    pub balance: i64,
    pub is_sub_account: bool,
    /// A saved, not removed, payment method is named (card source).
    pub has_payment_method: bool,
    /// The account has a payer (billing contact) with an email (R5).
    pub has_payer: bool,
    /// The request accepts the terms (R14).
    pub terms_accepted: bool,
    /// R14: the settings are being turned on (from off or disabled), or their card or
    /// source changed, which is turning on with it (`turns_on`): the whole procedure.
    pub turning_on: bool,
}

/// The means of payment of settings: their source and, for a card, which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Means<'a> {
    pub source: SourceKind,
    pub card: Option<&'a str>,
}

/// R14: whether saving settings with `next` means is turning them on: from off or
/// disabled (`active_before`: None), or changing the card or the source of active
/// settings, which is turning on with that card or source (terms and verification
/// again). Changing only the threshold or the amount is not.
pub fn turns_on(active_before: Option<Means>, next: Means) -> bool {
    active_before.is_none_or(|before| before != next)
}

/// R12, R13, R14, R15, R21: may these settings be saved as active?
pub fn validate_settings(
    threshold: i64,
    amount: AmountRule,
    source: SourceKind,
    ctx: SettingsContext,
    limits: &Limits,
) -> Result<(), DomainError> {
    if threshold < 0 {
        return Err(DomainError::ThresholdNegative);
    }
    if ctx.balance <= threshold {
        return Err(DomainError::ThresholdNotBelowBalance {
            threshold: Money::new(threshold, ctx.currency),
            balance: Money::new(ctx.balance, ctx.currency),
        });
    }
    let minimum = Money::new(limits.minimum_top_up, ctx.currency);
    check_amount_rule(threshold, amount, minimum)?;
    check_within_caps(amount, limits, ctx.currency)?;
    match source {
        SourceKind::Transfer if !ctx.is_sub_account => {
            Err(DomainError::TransferSourceNeedsSubAccount)
        }
        SourceKind::Transfer => Ok(()),
        SourceKind::Card if !ctx.has_payment_method => {
            Err(DomainError::CardSourceNeedsPaymentMethod)
        }
        SourceKind::Card if !ctx.has_payer => Err(DomainError::PayerMissing),
        SourceKind::Card if ctx.turning_on && !ctx.terms_accepted => {
            Err(DomainError::TermsNotAccepted)
        }
        SourceKind::Card => Ok(()),
    }
}

/// R13, the part that does not depend on the balance: a threshold not negative, an
/// amount at least the threshold and the manual minimum (R8). The one check of both
/// the customer's settings (`validate_settings`) and the operator's defaults for R17
/// (the configuration's `resource_auto_top_up_*`). Amounts are in `minimum`'s
/// currency.
pub fn check_amount_rule(
    threshold: i64,
    amount: AmountRule,
    minimum: Money,
) -> Result<(), DomainError> {
    if threshold < 0 {
        return Err(DomainError::ThresholdNegative);
    }
    let money = |a| Money::new(a, minimum.currency);
    match amount {
        AmountRule::Fixed(a) => {
            if a < threshold {
                return Err(DomainError::AmountBelowThreshold {
                    amount: money(a),
                    threshold: money(threshold),
                });
            }
            if a < minimum.amount {
                return Err(DomainError::AmountBelowMinimum {
                    amount: money(a),
                    minimum,
                });
            }
        }
        AmountRule::UpToTarget(target) => {
            if target <= threshold {
                return Err(DomainError::TargetNotAboveThreshold {
                    target: money(target),
                    threshold: money(threshold),
                });
            }
            // At the threshold the charge is target - threshold: it must reach the minimum.
            let gap = sub(target, threshold)?;
            if gap < minimum.amount {
                return Err(DomainError::AmountBelowMinimum {
                    amount: money(gap),
                    minimum,
                });
            }
        }
    }
    Ok(())
}

/// R21: settings whose top-up would pass a cap on its own are refused when set (a
/// fixed amount; up to a target, the most it charges: from a zero balance), since
/// such a top-up could never run. Part of `validate_settings`; the operator's R17
/// defaults pass it too.
pub fn check_within_caps(
    amount: AmountRule,
    limits: &Limits,
    currency: Currency,
) -> Result<(), DomainError> {
    let most = amount.amount();
    for (cap, limit) in [
        ("daily", limits.daily_amount_cap),
        ("monthly", limits.monthly_amount_cap),
    ] {
        if limit > 0 && most > limit {
            return Err(DomainError::AmountAboveCap {
                amount: Money::new(most, currency),
                cap,
                limit: Money::new(limit, currency),
            });
        }
    }
    Ok(())
}

/// R14: the terms version a request accepts, checked against the current one. None
/// given: not accepted; another version: unknown.
pub fn check_terms(given: Option<&str>, current: &str) -> Result<(), DomainError> {
    match given {
        Some(v) if v == current => Ok(()),
        Some(_) => Err(DomainError::TermsVersionUnknown {
            current: current.to_string(),
        }),
        None => Err(DomainError::TermsNotAccepted),
    }
}

/// R15: a transfer source is set up by the main account, never by the sub-account's
/// own key (`by_the_account_itself`: the caller is the account being set up).
pub fn check_transfer_source_setter(
    source: SourceKind,
    by_the_account_itself: bool,
) -> Result<(), DomainError> {
    if source == SourceKind::Transfer && by_the_account_itself {
        return Err(DomainError::TransferSourceSetByMainAccount);
    }
    Ok(())
}

/// R12: what a top-up charges at this balance. "Up to a target" charges the
/// difference, but never less than the minimum top-up.
pub fn amount_to_charge(rule: AmountRule, balance: i64, minimum: i64) -> Result<i64, DomainError> {
    match rule {
        AmountRule::Fixed(a) => Ok(a),
        AmountRule::UpToTarget(target) => Ok(sub(target, balance)?.max(minimum)),
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
