//! The settings of a deployment. Defaults run as is; the binary reads `refill.toml`
//! and `REFILL_*` variables over them. Durations are milliseconds.

use refill_domain::auto_top_up::Limits;
use refill_domain::checkout::TaxRates;
use refill_domain::currency::operator_amount;
use refill_domain::debit::TriggerOn;
use refill_domain::{Currency, DomainError, HOUR, MINUTE, Millis, Money};
use refill_notify::RetryPolicy;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Config {
    /// R8, R13, R21, R23: minimum top-up, intervals, retries, caps. The minimum is
    /// for a two-decimal currency (1000: 10.00); `limits_in` gives an account's.
    pub limits: Limits,
    /// R8: the minimum top-up set for a currency, in its own minor units (ISO code ->
    /// amount), over `limits.minimum_top_up`.
    pub minimum_top_up_per_currency: BTreeMap<String, i64>,
    /// R9: tax by the payer's country.
    pub tax: TaxRates,
    /// R18: what counts as spending for triggering.
    pub trigger_on: TriggerOn,
    /// R14: the verification charge made once when a card is set up for auto top-up,
    /// for a two-decimal currency (100: 1.00); 0 skips it. `verification_charge`
    /// gives it in a currency.
    pub verification_amount: i64,
    /// R14: the verification charge set for a currency, in its own minor units.
    pub verification_amount_per_currency: BTreeMap<String, i64>,
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
    /// The customer page's sessions.
    pub portal: PortalConfig,
}

impl Config {
    /// R8: the minimum top-up in `currency`: the same major units in every currency
    /// (10.00 GBP, 10 JPY, 10.000 KWD) unless set for it, and never below what the
    /// gateway can charge (50 JPY).
    pub fn minimum_top_up(&self, currency: Currency) -> Money {
        let own = self
            .minimum_top_up_per_currency
            .get(currency.code())
            .copied();
        let amount = operator_amount(currency, self.limits.minimum_top_up, own);
        Money::new(amount, currency)
    }

    /// The limits of an account in `currency` (its minimum top-up, R8).
    pub fn limits_in(&self, currency: &str) -> Result<Limits, DomainError> {
        let currency = Currency::parse(currency)?;
        Ok(Limits {
            minimum_top_up: self.minimum_top_up(currency).amount,
            ..self.limits
        })
    }

    /// R14: the verification charge in `currency` (0: none), at least the gateway's
    /// minimum charge.
    pub fn verification_charge(&self, currency: Currency) -> i64 {
        let own = self
            .verification_amount_per_currency
            .get(currency.code())
            .copied();
        operator_amount(currency, self.verification_amount, own)
    }
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
            minimum_top_up_per_currency: BTreeMap::new(),
            tax: TaxRates::default(),
            trigger_on: TriggerOn::Usage,
            verification_amount: 100,
            verification_amount_per_currency: BTreeMap::new(),
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
            portal: PortalConfig::default(),
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

/// The customer page's sessions: how long the one-time link may wait to be opened,
/// and how long the session it opens lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalConfig {
    pub link_ttl: Millis,
    pub session_ttl: Millis,
    /// The address customers reach refill at (`https://billing.example.com`); unset:
    /// the Host the creating request was sent to, over http.
    pub public_url: Option<String>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            link_ttl: 10 * MINUTE,
            session_ttl: HOUR,
            public_url: None,
        }
    }
}
