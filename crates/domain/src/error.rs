use crate::{Currency, Money};
use thiserror::Error;

/// A refusal by a domain rule. Each variant has a stable machine-readable code, the
/// rule that refused it, and a kind that tells the edge how to answer it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("the amount must be a positive whole number of minor units")]
    AmountNotPositive,
    #[error("the amount is too large")]
    AmountOverflow,
    #[error("unknown currency code {0:?}: use an ISO 4217 code such as GBP, EUR or USD")]
    UnknownCurrency(String),
    #[error("currency {got} does not match the account's currency {expected}")]
    CurrencyMismatch { expected: String, got: String },
    #[error(
        "insufficient balance: balance {balance}, requested {requested}, credit limit {credit_limit}"
    )]
    InsufficientBalance {
        balance: i64,
        requested: i64,
        credit_limit: i64,
    },
    #[error(
        "the account is blocked: a failed payment left its balance at {balance}; top up to repay it"
    )]
    AccountBlocked { balance: i64 },
    // Amounts in messages are for people (major units: "9.99 GBP"); `amounts` gives
    // them to machines in minor units.
    #[error("{amount} is below the minimum top-up of {minimum}")]
    AmountBelowMinimum { amount: Money, minimum: Money },
    #[error("the threshold {threshold} must be below the current balance {balance}")]
    ThresholdNotBelowBalance { threshold: Money, balance: Money },
    #[error("the top-up amount {amount} must be at least the threshold {threshold}")]
    AmountBelowThreshold { amount: Money, threshold: Money },
    #[error("the target balance {target} must be above the threshold {threshold}")]
    TargetNotAboveThreshold { target: Money, threshold: Money },
    #[error("the threshold must not be negative")]
    ThresholdNegative,
    #[error("a transfer source is only possible for a sub-account")]
    TransferSourceNeedsSubAccount,
    #[error("a card source needs a saved payment method")]
    CardSourceNeedsPaymentMethod,
    #[error("automatic top-up by card needs the terms accepted (terms_version)")]
    TermsNotAccepted,
    #[error("automatic payments need a payer with an email address")]
    PayerMissing,
    #[error(
        "the card needs 3-D Secure: complete it, then repeat this request with \"three_d_secure\": \"completed\""
    )]
    VerificationNeedsAuthentication,
    #[error(
        "payment method {payment_method} waits for 3-D Secure: complete it with its client_secret, then POST /v1/accounts/{account}/payment-methods/{payment_method}/confirm"
    )]
    CardAwaitsAuthentication {
        payment_method: String,
        account: String,
    },

    // R2, R4, R5, R6, R9: accounts and payment methods.
    #[error("name must be 1 to 200 characters")]
    InvalidName,
    #[error("a sub-account cannot have sub-accounts")]
    ParentIsSubAccount,
    #[error("a sub-account uses its main account's currency {main}")]
    SubAccountCurrency { main: String },
    #[error("credit_limit is the lowest balance allowed: 0 or negative, down to -10^15")]
    InvalidCreditLimit,
    #[error("payer.country is an ISO 3166 alpha-2 code such as GB")]
    InvalidCountry,
    #[error("payer.email is not an email address")]
    InvalidEmail,
    #[error("payer.phone is an E.164 number such as +447700900123")]
    InvalidPhone,
    #[error("the account is closed: it takes no debit, top-up, transfer or change")]
    AccountClosed,
    #[error("top-up {top_up_id} is still in progress: close the account once it has finished")]
    TopUpInProgress { top_up_id: String },
    #[error(
        "the balance is {balance}, not 0: move the credit out (or repay the debt) before closing"
    )]
    BalanceNotZero { balance: i64 },
    #[error("{count} sub-account(s) still open: close them first")]
    SubAccountsOpen { count: i64 },
    #[error("a transfer moves credit between a main account and one of its sub-accounts")]
    AccountsNotRelated,
    #[error("the account has no saved payment method: add one first")]
    NoPaymentMethod,
    #[error("a scheduled recharge needs a saved card")]
    PaymentMethodNotSaved,

    // R12-R15, R21: auto top-up settings.
    #[error("threshold is required to turn auto top-up on")]
    ThresholdRequired,
    #[error("give exactly one of amount (fixed) or target_balance")]
    AmountRequired,
    #[error("source {0:?} is not card or transfer")]
    InvalidSource(String),
    #[error("a transfer source takes no payment method: never both")]
    SourceConflict,
    #[error("this API key may not act on a transfer source: it is set up by the main account")]
    TransferSourceSetByMainAccount,
    #[error("the current auto top-up terms are version {current}")]
    TermsVersionUnknown { current: String },
    #[error("the top-up amount {amount} is above the {cap} cap of {limit}")]
    AmountAboveCap {
        amount: Money,
        cap: &'static str,
        limit: Money,
    },

    // R29, R30: resources and scheduled recharges.
    #[error("period {0:?} is not weekly, monthly or yearly")]
    InvalidPeriod(String),
    #[error("day_of_month is 1 to 31 (29-31: the month's last day where it has fewer)")]
    InvalidDayOfMonth,

    // Lifecycles: a wrong transition is refused, never written.
    #[error("a top-up cannot go from {from} to {to}")]
    TopUpTransition {
        from: &'static str,
        to: &'static str,
    },
    #[error("the top-up is {status}, not waiting for authentication")]
    NotAwaitingAuthentication { status: &'static str },
    #[error("auto top-up cannot go from {from} to {to}")]
    StateTransition {
        from: &'static str,
        to: &'static str,
    },
    #[error("a resource cannot go from {from} to {to}")]
    ResourceTransition {
        from: &'static str,
        to: &'static str,
    },
    /// R31: a refund request or decision refused.
    #[error("{0}")]
    Refund(#[from] crate::refund_lifecycle::RefundRefusal),
    /// A stored value this version does not know (read from the database).
    #[error("unknown {what} {value:?}")]
    UnknownValue {
        what: &'static str,
        value: String,
        rule: &'static str,
    },
    /// A broken invariant: a bug, never the caller's input. Checked in production
    /// (nothing is written after it), asserted in debug builds.
    #[error("invariant broken ({rule}): {what}")]
    InvariantBroken {
        what: &'static str,
        rule: &'static str,
    },
}

/// How the edge answers a refusal (the HTTP status it maps to, once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or impossible input (400).
    BadInput,
    /// The money is not there (402).
    PaymentRequired,
    /// Well-formed, refused by a rule (422).
    Refused,
    /// Not allowed for this caller (403).
    Forbidden,
    /// Not possible in the current state (409).
    Conflict,
    /// A bug (500).
    Internal,
}

impl DomainError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            AmountNotPositive => "amount_not_positive",
            AmountOverflow => "amount_overflow",
            UnknownCurrency(_) => "unknown_currency",
            CurrencyMismatch { .. } | SubAccountCurrency { .. } => "currency_mismatch",
            InsufficientBalance { .. } => "insufficient_balance",
            AccountBlocked { .. } => "account_blocked",
            AmountBelowMinimum { .. } => "amount_below_minimum",
            ThresholdNotBelowBalance { .. } => "threshold_not_below_balance",
            AmountBelowThreshold { .. } => "amount_below_threshold",
            TargetNotAboveThreshold { .. } => "target_not_above_threshold",
            ThresholdNegative => "threshold_negative",
            TransferSourceNeedsSubAccount => "transfer_source_needs_sub_account",
            CardSourceNeedsPaymentMethod | NoPaymentMethod => "payment_method_required",
            TermsNotAccepted => "terms_not_accepted",
            PayerMissing => "payer_missing",
            VerificationNeedsAuthentication => "authentication_required",
            CardAwaitsAuthentication { .. } => "payment_method_requires_action",
            InvalidName => "invalid_name",
            ParentIsSubAccount => "parent_is_sub_account",
            InvalidCreditLimit => "invalid_credit_limit",
            InvalidCountry => "invalid_country",
            InvalidEmail => "invalid_email",
            InvalidPhone => "invalid_phone",
            AccountClosed => "account_closed",
            TopUpInProgress { .. } => "top_up_in_progress",
            BalanceNotZero { .. } => "balance_not_zero",
            SubAccountsOpen { .. } => "sub_accounts_open",
            AccountsNotRelated => "accounts_not_related",
            PaymentMethodNotSaved => "payment_method_not_saved",
            ThresholdRequired => "threshold_required",
            AmountRequired => "amount_required",
            InvalidSource(_) => "invalid_source",
            SourceConflict => "source_conflict",
            TransferSourceSetByMainAccount => "forbidden",
            TermsVersionUnknown { .. } => "terms_version_unknown",
            AmountAboveCap { .. } => "amount_above_cap",
            InvalidPeriod(_) => "invalid_period",
            InvalidDayOfMonth => "invalid_day_of_month",
            TopUpTransition { .. } => "invalid_top_up_transition",
            NotAwaitingAuthentication { .. } => "top_up_not_awaiting_authentication",
            StateTransition { .. } => "invalid_auto_top_up_transition",
            ResourceTransition { .. } => "invalid_resource_transition",
            Refund(r) => r.code(),
            UnknownValue { .. } => "unknown_value",
            InvariantBroken { .. } => "invariant_broken",
        }
    }

    /// The domain rule that refused. Every refusal has one; `Option` for the callers
    /// that map it as such.
    pub fn rule(&self) -> Option<&'static str> {
        use DomainError::*;
        Some(match self {
            AmountNotPositive | AmountOverflow | UnknownCurrency(_) | CurrencyMismatch { .. } => {
                "R1"
            }
            SubAccountCurrency { .. } => "R2",
            InsufficientBalance { .. } | InvalidCreditLimit => "R6",
            AccountBlocked { .. } => "R11",
            AmountBelowMinimum { .. } => "R8",
            ThresholdNotBelowBalance { .. }
            | AmountBelowThreshold { .. }
            | TargetNotAboveThreshold { .. }
            | ThresholdNegative
            | ThresholdRequired => "R13",
            TransferSourceNeedsSubAccount | AmountRequired | InvalidSource(_) | SourceConflict => {
                "R12"
            }
            CardSourceNeedsPaymentMethod
            | PayerMissing
            | NoPaymentMethod
            | PaymentMethodNotSaved
            | InvalidEmail => "R5",
            TermsNotAccepted
            | TermsVersionUnknown { .. }
            | VerificationNeedsAuthentication
            | CardAwaitsAuthentication { .. } => "R14",
            TransferSourceSetByMainAccount => "R15",
            InvalidName
            | ParentIsSubAccount
            | AccountsNotRelated
            | AccountClosed
            | TopUpInProgress { .. }
            | BalanceNotZero { .. }
            | SubAccountsOpen { .. } => "R4",
            InvalidPhone => "R26",
            InvalidCountry => "R9",
            AmountAboveCap { .. } => "R21",
            InvalidPeriod(_) | ResourceTransition { .. } => "R29",
            InvalidDayOfMonth => "R30",
            TopUpTransition { .. } => "R25",
            NotAwaitingAuthentication { .. } => "R23",
            StateTransition { .. } => "R24",
            Refund(_) => "R31",
            UnknownValue { rule, .. } | InvariantBroken { rule, .. } => rule,
        })
    }

    /// How the edge answers it.
    pub fn kind(&self) -> ErrorKind {
        use DomainError::*;
        match self {
            InsufficientBalance { .. } | AccountBlocked { .. } => ErrorKind::PaymentRequired,
            AmountNotPositive
            | AmountOverflow
            | UnknownCurrency(_)
            | CurrencyMismatch { .. }
            | SubAccountCurrency { .. }
            | InvalidName
            | ParentIsSubAccount
            | InvalidCreditLimit
            | InvalidCountry
            | InvalidEmail
            | InvalidPhone
            | AccountsNotRelated
            | NoPaymentMethod
            | PaymentMethodNotSaved
            | ThresholdRequired
            | AmountRequired
            | InvalidSource(_)
            | SourceConflict
            | TermsVersionUnknown { .. }
            | InvalidPeriod(_)
            | InvalidDayOfMonth
            | VerificationNeedsAuthentication => ErrorKind::BadInput,
            TransferSourceSetByMainAccount => ErrorKind::Forbidden,
            TopUpTransition { .. }
            | CardAwaitsAuthentication { .. }
            | NotAwaitingAuthentication { .. }
            | StateTransition { .. }
            | ResourceTransition { .. } => ErrorKind::Conflict,
            Refund(r) => r.kind(),
            UnknownValue { .. } | InvariantBroken { .. } => ErrorKind::Internal,
            AmountBelowMinimum { .. }
            | ThresholdNotBelowBalance { .. }
            | AmountBelowThreshold { .. }
            | TargetNotAboveThreshold { .. }
            | ThresholdNegative
            | TransferSourceNeedsSubAccount
            | CardSourceNeedsPaymentMethod
            | TermsNotAccepted
            | PayerMissing
            | AmountAboveCap { .. }
            // R4: refused while the account is closed or still has money or work.
            | AccountClosed
            | TopUpInProgress { .. }
            | BalanceNotZero { .. }
            | SubAccountsOpen { .. } => ErrorKind::Refused,
        }
    }

    /// The amounts a refusal names, in minor units, with their currency: for
    /// machines, beside the message for people.
    pub fn amounts(&self) -> Option<(Currency, Vec<(&'static str, i64)>)> {
        use DomainError::*;
        let (fields, currency) = match *self {
            AmountBelowMinimum { amount, minimum } => (
                vec![("amount", amount), ("minimum", minimum)],
                amount.currency,
            ),
            ThresholdNotBelowBalance { threshold, balance } => (
                vec![("threshold", threshold), ("balance", balance)],
                balance.currency,
            ),
            AmountBelowThreshold { amount, threshold } => (
                vec![("amount", amount), ("threshold", threshold)],
                amount.currency,
            ),
            TargetNotAboveThreshold { target, threshold } => (
                vec![("target_balance", target), ("threshold", threshold)],
                target.currency,
            ),
            AmountAboveCap { amount, limit, .. } => {
                (vec![("amount", amount), ("limit", limit)], amount.currency)
            }
            _ => return None,
        };
        Some((
            currency,
            fields.into_iter().map(|(k, m)| (k, m.amount)).collect(),
        ))
    }

    /// R6, R11, R29: the balance cannot cover it (a renewal is then unpaid, a
    /// transfer source insufficient), as opposed to any other refusal.
    pub fn is_shortfall(&self) -> bool {
        matches!(
            self,
            DomainError::InsufficientBalance { .. } | DomainError::AccountBlocked { .. }
        )
    }
}

/// Checks an invariant (TigerBeetle style): a bug if it fails, asserted in debug
/// builds and refused in release ones, so that nothing is written after it.
pub(crate) fn invariant(
    holds: bool,
    rule: &'static str,
    what: &'static str,
) -> Result<(), DomainError> {
    debug_assert!(holds, "invariant broken ({rule}): {what}");
    if holds {
        Ok(())
    } else {
        Err(DomainError::InvariantBroken { what, rule })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_names_its_rule_and_a_snake_case_code() {
        let all = [
            DomainError::InvalidName,
            DomainError::AccountsNotRelated,
            DomainError::NoPaymentMethod,
            DomainError::TermsVersionUnknown {
                current: "v1".into(),
            },
            DomainError::TopUpTransition {
                from: "failed",
                to: "charging",
            },
            DomainError::UnknownValue {
                what: "top-up status",
                value: "x".into(),
                rule: "R25",
            },
            DomainError::ParentIsSubAccount,
            DomainError::PaymentMethodNotSaved,
            DomainError::AmountRequired,
            DomainError::SourceConflict,
            DomainError::TransferSourceSetByMainAccount,
            DomainError::VerificationNeedsAuthentication,
            DomainError::CardAwaitsAuthentication {
                payment_method: "pm_1".into(),
                account: "acct_1".into(),
            },
        ];
        for e in all {
            let rule = e.rule().unwrap();
            assert!(rule.starts_with('R'), "{e:?}");
            // The rule is the problem's `rule` field, not part of its text.
            assert!(!e.to_string().contains("(R"), "{e}");
            assert!(e.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(DomainError::ThresholdNegative.rule(), Some("R13"));
        assert_eq!(DomainError::InvalidEmail.kind(), ErrorKind::BadInput);
        assert!(DomainError::AccountBlocked { balance: -1 }.is_shortfall());
        assert!(!DomainError::AmountOverflow.is_shortfall());
    }

    #[test]
    fn a_broken_invariant_is_an_error_not_a_write() {
        assert_eq!(invariant(true, "R3", "sums to zero"), Ok(()));
        let broken = std::panic::catch_unwind(|| invariant(false, "R3", "sums to zero"));
        // Debug builds assert; release builds refuse.
        assert_eq!(broken.is_err(), cfg!(debug_assertions));
        if let Ok(r) = broken {
            assert_eq!(r.unwrap_err().code(), "invariant_broken");
        }
    }
}
