//! The settings of a deployment. Defaults run as is; the binary reads `refill.toml`
//! and `REFILL_*` variables over them. Durations are milliseconds.

use refill_domain::auto_top_up::Limits;
use refill_domain::checkout::TaxRates;
use refill_domain::debit::TriggerOn;
use refill_domain::{HOUR, MINUTE, Millis};
use refill_notify::RetryPolicy;

#[derive(Debug, Clone)]
pub struct Config {
    /// R8, R13, R21, R23: minimum top-up, intervals, retries, caps.
    pub limits: Limits,
    /// R9: tax by the payer's country.
    pub tax: TaxRates,
    /// R18: what counts as spending for triggering.
    pub trigger_on: TriggerOn,
    /// R14: the verification charge made once when a card is set up for auto top-up.
    pub verification_amount: i64,
    /// R14: the version of the auto top-up terms the customer accepts.
    pub terms_version: String,
    /// R22: how often the periodic check runs.
    pub periodic_check: Millis,
    /// How long a worker's claim on a top-up lasts before another node may take it.
    pub lease: Millis,
    /// How often the executor looks for due work when nothing wakes it.
    pub poll_every: Millis,
    /// How many debit requests the pipeline commits together at most.
    pub max_batch: usize,
    /// Parallel debit pipelines (PostgreSQL: separate transactions for separate accounts).
    pub pipelines: usize,
    /// R28: backoff of failed notification deliveries, and how long to keep trying.
    pub notify_retry: RetryPolicy,
    /// R17, R29: recurring-fee resources.
    pub recurring: RecurringConfig,
    /// Signs the events Stripe posts to /v1/webhooks/stripe (`whsec_...`).
    pub stripe_webhook_secret: Option<Secret>,
    /// R11: a pending card payment is credited at once (usable while pending); when
    /// false, its credit waits until the payment settles.
    pub credit_pending: bool,
    /// R31: an approved refund may take more credit than is unspent, driving the
    /// balance below zero (the account is then flagged and usage refused, as R11).
    pub refund_into_negative: bool,
}

/// A secret that never prints (Debug shows `<redacted>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            tax: TaxRates::default(),
            trigger_on: TriggerOn::Usage,
            verification_amount: 100,
            terms_version: "2026-01".into(),
            periodic_check: 5 * MINUTE,
            lease: MINUTE,
            poll_every: 1_000,
            max_batch: 512,
            pipelines: 1,
            notify_retry: RetryPolicy::default(),
            recurring: RecurringConfig::default(),
            stripe_webhook_secret: None,
            credit_pending: true,
            refund_into_negative: false,
        }
    }
}

/// R17, R29: what buying a recurring-fee resource turns on, and how long an unpaid
/// renewal is retried before the resource is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecurringConfig {
    /// R17: the operator's default auto top-up threshold...
    pub auto_top_up_threshold: i64,
    /// ...and amount (fixed), by the primary card.
    pub auto_top_up_amount: i64,
    /// R29: an unpaid renewal is retried at each periodic check for this long after it
    /// was due, then the resource is suspended.
    pub renewal_grace: Millis,
}

impl Default for RecurringConfig {
    fn default() -> Self {
        RecurringConfig {
            auto_top_up_threshold: 1_000,
            auto_top_up_amount: 2_000,
            renewal_grace: 72 * HOUR,
        }
    }
}
