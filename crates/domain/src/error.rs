use thiserror::Error;

/// A refusal by a domain rule. Each variant has a stable machine-readable code and,
/// where a numbered rule refused it, that rule.
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
    #[error("the amount {amount} is below the minimum top-up of {minimum}")]
    AmountBelowMinimum { amount: i64, minimum: i64 },
    #[error("the threshold {threshold} must be below the current balance {balance}")]
    ThresholdNotBelowBalance { threshold: i64, balance: i64 },
    #[error("the top-up amount {amount} must be at least the threshold {threshold}")]
    AmountBelowThreshold { amount: i64, threshold: i64 },
    #[error("the target balance {target} must be above the threshold {threshold}")]
    TargetNotAboveThreshold { target: i64, threshold: i64 },
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
}

impl DomainError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            AmountNotPositive => "amount_not_positive",
            AmountOverflow => "amount_overflow",
            UnknownCurrency(_) => "unknown_currency",
            CurrencyMismatch { .. } => "currency_mismatch",
            InsufficientBalance { .. } => "insufficient_balance",
            AccountBlocked { .. } => "account_blocked",
            AmountBelowMinimum { .. } => "amount_below_minimum",
            ThresholdNotBelowBalance { .. } => "threshold_not_below_balance",
            AmountBelowThreshold { .. } => "amount_below_threshold",
            TargetNotAboveThreshold { .. } => "target_not_above_threshold",
            ThresholdNegative => "threshold_negative",
            TransferSourceNeedsSubAccount => "transfer_source_needs_sub_account",
            CardSourceNeedsPaymentMethod => "payment_method_required",
            TermsNotAccepted => "terms_not_accepted",
            PayerMissing => "payer_missing",
        }
    }

    /// The domain rule that refused, if one did.
    pub fn rule(&self) -> Option<&'static str> {
        use DomainError::*;
        Some(match self {
            AmountNotPositive | AmountOverflow | UnknownCurrency(_) | CurrencyMismatch { .. } => {
                "R1"
            }
            InsufficientBalance { .. } => "R6",
            AccountBlocked { .. } => "R11",
            AmountBelowMinimum { .. } => "R8",
            ThresholdNotBelowBalance { .. }
            | AmountBelowThreshold { .. }
            | TargetNotAboveThreshold { .. }
            | ThresholdNegative => "R13",
            TransferSourceNeedsSubAccount => "R12",
            CardSourceNeedsPaymentMethod | PayerMissing => "R5",
            TermsNotAccepted => "R14",
        })
    }
}
