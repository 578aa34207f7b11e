//! R12-R24: automatic top-up. The settings and their validation, whether an attempt
//! may run now, how much it charges, and the state after each outcome. The engine
//! (the service crate) only carries these decisions out.

use crate::money::{add, sub};
use crate::{DAY, DomainError, HOUR, MINUTE, Millis};

/// R12: how much a top-up charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountRule {
    /// A fixed amount.
    Fixed(i64),
    /// Up to a target balance: charge the difference.
    UpToTarget(i64),
}

/// R12: where the money comes from; never both.
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
}

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
    pub fn parse(s: &str) -> State {
        match s {
            "active" => State::Active,
            "disabled" => State::Disabled,
            _ => State::Off,
        }
    }
}

/// The deployment's (or account's) limits on automatic top-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// R8: the manual minimum, which an automatic amount must also reach (R13).
    pub minimum_top_up: i64,
    /// R20: minimum time between automatic card top-ups.
    pub card_interval: Millis,
    /// R23: delay before a failed charge is retried.
    pub retry_delay: Millis,
    /// R23: consecutive failures that disable auto top-up (1: the first failure).
    pub max_consecutive_failures: u32,
    /// R23: delay before retrying after a gateway outage (not the customer's failure).
    pub outage_retry_delay: Millis,
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
    pub balance: i64,
    pub is_sub_account: bool,
    /// A saved, not removed, payment method is named (card source).
    pub has_payment_method: bool,
    /// The account has a payer (billing contact) with an email (R5).
    pub has_payer: bool,
    /// The request accepts the terms (R14).
    pub terms_accepted: bool,
    /// The settings are being turned on from off or disabled (R14: the whole procedure).
    pub turning_on: bool,
}

/// R12, R13, R14, R15: may these settings be saved as active?
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
            threshold,
            balance: ctx.balance,
        });
    }
    match amount {
        AmountRule::Fixed(a) => {
            if a < threshold {
                return Err(DomainError::AmountBelowThreshold {
                    amount: a,
                    threshold,
                });
            }
            if a < limits.minimum_top_up {
                return Err(DomainError::AmountBelowMinimum {
                    amount: a,
                    minimum: limits.minimum_top_up,
                });
            }
        }
        AmountRule::UpToTarget(target) => {
            if target <= threshold {
                return Err(DomainError::TargetNotAboveThreshold { target, threshold });
            }
            // At the threshold the charge is target - threshold: it must reach the minimum.
            let gap = sub(target, threshold)?;
            if gap < limits.minimum_top_up {
                return Err(DomainError::AmountBelowMinimum {
                    amount: gap,
                    minimum: limits.minimum_top_up,
                });
            }
        }
    }
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

/// R12: what a top-up charges at this balance. "Up to a target" charges the
/// difference, but never less than the minimum top-up.
pub fn amount_to_charge(rule: AmountRule, balance: i64, minimum: i64) -> Result<i64, DomainError> {
    match rule {
        AmountRule::Fixed(a) => Ok(a),
        AmountRule::UpToTarget(target) => Ok(sub(target, balance)?.max(minimum)),
    }
}

/// Why an automatic top-up did not run (R24: shown to the customer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhyNot {
    NotActive,
    AboveThreshold,
    InWindow,
    DailyCapReached,
    MonthlyCapReached,
    WaitingForCustomer,
    RetryScheduled,
}

impl WhyNot {
    pub fn as_str(self) -> &'static str {
        match self {
            WhyNot::NotActive => "not_active",
            WhyNot::AboveThreshold => "above_threshold",
            WhyNot::InWindow => "minimum_interval",
            WhyNot::DailyCapReached => "daily_cap_reached",
            WhyNot::MonthlyCapReached => "monthly_cap_reached",
            WhyNot::WaitingForCustomer => "waiting_for_customer_authentication",
            WhyNot::RetryScheduled => "retry_scheduled",
        }
    }
}

/// Automatic top-ups already made in the current day and calendar month (R21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapUsage {
    pub day_count: u32,
    pub day_amount: i64,
    pub month_count: u32,
    pub month_amount: i64,
}

/// What the engine knows when a queued automatic top-up comes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptContext {
    pub now: Millis,
    pub state: State,
    pub balance: i64,
    pub threshold: i64,
    pub amount: AmountRule,
    pub source: SourceKind,
    /// R20: the end of the window opened by the last attempt (card source only).
    pub window_until: Option<Millis>,
    pub usage: CapUsage,
}

/// What to do with a queued automatic top-up now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Charge this amount now.
    Charge { amount: i64 },
    /// Keep it queued until then (R20 window, R21 caps): queued, never dropped.
    Wait { until: Millis, why: WhyNot },
    /// Nothing to do: it ends without a charge (not a failure, R18).
    Cancel { why: WhyNot },
}

/// R18-R21: decide a due automatic top-up.
pub fn decide_attempt(ctx: AttemptContext, limits: &Limits) -> Result<Decision, DomainError> {
    if ctx.state != State::Active {
        return Ok(Decision::Cancel {
            why: WhyNot::NotActive,
        });
    }
    if ctx.balance > ctx.threshold {
        return Ok(Decision::Cancel {
            why: WhyNot::AboveThreshold,
        });
    }
    if ctx.source == SourceKind::Card
        && let Some(until) = ctx.window_until
        && until > ctx.now
    {
        return Ok(Decision::Wait {
            until,
            why: WhyNot::InWindow,
        });
    }
    let amount = amount_to_charge(ctx.amount, ctx.balance, limits.minimum_top_up)?;
    if let Some(wait) = cap_wait(ctx.now, ctx.usage, amount, limits)? {
        return Ok(wait);
    }
    Ok(Decision::Charge { amount })
}

/// R21: whether one more top-up of `amount` would pass a daily or monthly cap, and
/// if so until when it waits.
fn cap_wait(
    now: Millis,
    usage: CapUsage,
    amount: i64,
    limits: &Limits,
) -> Result<Option<Decision>, DomainError> {
    let over = |count: u32, total: i64, count_cap: u32, amount_cap: i64| {
        Ok::<bool, DomainError>(
            (count_cap > 0 && count >= count_cap)
                || (amount_cap > 0 && add(total, amount)? > amount_cap),
        )
    };
    if over(
        usage.month_count,
        usage.month_amount,
        limits.monthly_count_cap,
        limits.monthly_amount_cap,
    )? {
        return Ok(Some(Decision::Wait {
            until: start_of_next_month(now),
            why: WhyNot::MonthlyCapReached,
        }));
    }
    if over(
        usage.day_count,
        usage.day_amount,
        limits.daily_count_cap,
        limits.daily_amount_cap,
    )? {
        return Ok(Some(Decision::Wait {
            until: start_of_day(now) + DAY,
            why: WhyNot::DailyCapReached,
        }));
    }
    Ok(None)
}

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
    /// A transfer source whose main account cannot cover it.
    SourceInsufficient,
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
        FailureClass::Hard => AfterFailure::Disable { failures },
        FailureClass::AuthenticationRequired => AfterFailure::WaitForCustomer { failures },
        FailureClass::Soft | FailureClass::SourceInsufficient => {
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

/// R20: the window an attempt opens (a failure keeps it used too, R23). Transfers
/// have no minimum interval.
pub fn window_after_attempt(source: SourceKind, now: Millis, limits: &Limits) -> Option<Millis> {
    match source {
        SourceKind::Card => Some(now + limits.card_interval),
        SourceKind::Transfer => None,
    }
}

/// Midnight UTC of the day `t` falls in.
pub fn start_of_day(t: Millis) -> Millis {
    t.div_euclid(DAY) * DAY
}

/// Midnight UTC of the first day of the calendar month `t` falls in.
pub fn start_of_month(t: Millis) -> Millis {
    let days = t.div_euclid(DAY);
    let (y, m, _) = civil_from_days(days);
    days_from_civil(y, m, 1) * DAY
}

/// Midnight UTC of the first day of the next calendar month.
pub fn start_of_next_month(t: Millis) -> Millis {
    let (y, m, _) = civil_from_days(t.div_euclid(DAY));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * DAY
}

/// Civil date (year, month 1-12, day 1-31) of a day count since 1970-01-01
/// (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day count since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SettingsContext {
        SettingsContext {
            balance: 5_000,
            is_sub_account: false,
            has_payment_method: true,
            has_payer: true,
            terms_accepted: true,
            turning_on: true,
        }
    }
    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn r13_threshold_must_be_below_the_balance() {
        let r = validate_settings(
            5_000,
            AmountRule::Fixed(5_000),
            SourceKind::Card,
            ctx(),
            &limits(),
        );
        assert_eq!(
            r,
            Err(DomainError::ThresholdNotBelowBalance {
                threshold: 5_000,
                balance: 5_000
            })
        );
        assert!(
            validate_settings(
                4_999,
                AmountRule::Fixed(5_000),
                SourceKind::Card,
                ctx(),
                &limits()
            )
            .is_ok()
        );
    }

    #[test]
    fn r13_amount_at_least_threshold_and_minimum() {
        let r = validate_settings(
            2_000,
            AmountRule::Fixed(1_500),
            SourceKind::Card,
            ctx(),
            &limits(),
        );
        assert_eq!(r.unwrap_err().code(), "amount_below_threshold");
        let r = validate_settings(
            100,
            AmountRule::Fixed(999),
            SourceKind::Card,
            ctx(),
            &limits(),
        );
        assert_eq!(r.unwrap_err().rule(), Some("R8"));
        let r = validate_settings(
            1_000,
            AmountRule::UpToTarget(1_500),
            SourceKind::Card,
            ctx(),
            &limits(),
        );
        assert_eq!(r.unwrap_err().code(), "amount_below_minimum");
        let r = validate_settings(
            1_000,
            AmountRule::UpToTarget(900),
            SourceKind::Card,
            ctx(),
            &limits(),
        );
        assert_eq!(r.unwrap_err().code(), "target_not_above_threshold");
    }

    #[test]
    fn r12_r15_transfer_source_only_for_sub_accounts() {
        let r = validate_settings(
            1_000,
            AmountRule::Fixed(2_000),
            SourceKind::Transfer,
            ctx(),
            &limits(),
        );
        assert_eq!(r, Err(DomainError::TransferSourceNeedsSubAccount));
        let sub = SettingsContext {
            is_sub_account: true,
            terms_accepted: false,
            has_payment_method: false,
            ..ctx()
        };
        assert!(
            validate_settings(
                1_000,
                AmountRule::Fixed(2_000),
                SourceKind::Transfer,
                sub,
                &limits()
            )
            .is_ok()
        );
    }

    #[test]
    fn r14_card_source_needs_terms_when_turning_on_only() {
        let no_terms = SettingsContext {
            terms_accepted: false,
            ..ctx()
        };
        let r = validate_settings(
            1_000,
            AmountRule::Fixed(2_000),
            SourceKind::Card,
            no_terms,
            &limits(),
        );
        assert_eq!(r, Err(DomainError::TermsNotAccepted));
        let change = SettingsContext {
            turning_on: false,
            ..no_terms
        };
        assert!(
            validate_settings(
                1_000,
                AmountRule::Fixed(3_000),
                SourceKind::Card,
                change,
                &limits()
            )
            .is_ok()
        );
        let no_pm = SettingsContext {
            has_payment_method: false,
            ..ctx()
        };
        assert_eq!(
            validate_settings(
                1_000,
                AmountRule::Fixed(2_000),
                SourceKind::Card,
                no_pm,
                &limits()
            )
            .unwrap_err()
            .code(),
            "payment_method_required"
        );
        let no_payer = SettingsContext {
            has_payer: false,
            ..ctx()
        };
        assert_eq!(
            validate_settings(
                1_000,
                AmountRule::Fixed(2_000),
                SourceKind::Card,
                no_payer,
                &limits()
            )
            .unwrap_err()
            .code(),
            "payer_missing"
        );
    }

    #[test]
    fn r12_up_to_target_charges_the_difference_at_least_the_minimum() {
        assert_eq!(
            amount_to_charge(AmountRule::UpToTarget(10_000), 2_000, 1_000),
            Ok(8_000)
        );
        assert_eq!(
            amount_to_charge(AmountRule::UpToTarget(10_000), 9_500, 1_000),
            Ok(1_000)
        );
        assert_eq!(
            amount_to_charge(AmountRule::Fixed(3_000), 2_000, 1_000),
            Ok(3_000)
        );
    }

    fn attempt(now: Millis) -> AttemptContext {
        AttemptContext {
            now,
            state: State::Active,
            balance: 400,
            threshold: 500,
            amount: AmountRule::Fixed(2_000),
            source: SourceKind::Card,
            window_until: None,
            usage: CapUsage::default(),
        }
    }

    #[test]
    fn r20_card_top_up_inside_the_window_is_queued_not_dropped() {
        let c = AttemptContext {
            window_until: Some(1_000 + 30 * MINUTE),
            ..attempt(1_000)
        };
        assert_eq!(
            decide_attempt(c, &limits()),
            Ok(Decision::Wait {
                until: 1_000 + 30 * MINUTE,
                why: WhyNot::InWindow
            })
        );
        let t = AttemptContext {
            source: SourceKind::Transfer,
            ..c
        };
        assert_eq!(
            decide_attempt(t, &limits()),
            Ok(Decision::Charge { amount: 2_000 })
        );
        assert_eq!(
            window_after_attempt(SourceKind::Transfer, 0, &limits()),
            None
        );
        assert_eq!(
            window_after_attempt(SourceKind::Card, 0, &limits()),
            Some(30 * MINUTE)
        );
    }

    #[test]
    fn r18_no_charge_when_balance_recovered_or_not_active() {
        let above = AttemptContext {
            balance: 501,
            ..attempt(0)
        };
        assert_eq!(
            decide_attempt(above, &limits()),
            Ok(Decision::Cancel {
                why: WhyNot::AboveThreshold
            })
        );
        let off = AttemptContext {
            state: State::Off,
            ..attempt(0)
        };
        assert_eq!(
            decide_attempt(off, &limits()),
            Ok(Decision::Cancel {
                why: WhyNot::NotActive
            })
        );
    }

    #[test]
    fn r21_caps_stop_charges_until_the_period_ends() {
        let now = days_from_civil(2026, 11, 21) * DAY + 5 * HOUR;
        let c = AttemptContext {
            usage: CapUsage {
                day_count: 10,
                ..CapUsage::default()
            },
            ..attempt(now)
        };
        assert_eq!(
            decide_attempt(c, &limits()),
            Ok(Decision::Wait {
                until: days_from_civil(2026, 11, 22) * DAY,
                why: WhyNot::DailyCapReached
            })
        );
        let c = AttemptContext {
            usage: CapUsage {
                month_amount: 9_999_000,
                ..CapUsage::default()
            },
            ..attempt(now)
        };
        assert_eq!(
            decide_attempt(c, &limits()),
            Ok(Decision::Wait {
                until: days_from_civil(2026, 12, 1) * DAY,
                why: WhyNot::MonthlyCapReached
            })
        );
        let no_caps = Limits {
            daily_count_cap: 0,
            daily_amount_cap: 0,
            monthly_count_cap: 0,
            monthly_amount_cap: 0,
            ..limits()
        };
        let c = AttemptContext {
            usage: CapUsage {
                day_count: 1000,
                day_amount: i64::MAX / 2,
                month_count: 1000,
                month_amount: 0,
            },
            ..attempt(now)
        };
        assert_eq!(
            decide_attempt(c, &no_caps),
            Ok(Decision::Charge { amount: 2_000 })
        );
    }

    #[test]
    fn r23_failures_retry_then_disable() {
        let l = limits();
        assert_eq!(
            after_failure(FailureClass::Soft, 0, 0, &l),
            AfterFailure::Retry {
                at: 24 * HOUR,
                failures: 1
            }
        );
        assert_eq!(
            after_failure(FailureClass::Soft, 1, 0, &l),
            AfterFailure::Retry {
                at: 24 * HOUR,
                failures: 2
            }
        );
        assert_eq!(
            after_failure(FailureClass::Soft, 2, 0, &l),
            AfterFailure::Disable { failures: 3 }
        );
        let one = Limits {
            max_consecutive_failures: 1,
            ..l
        };
        assert_eq!(
            after_failure(FailureClass::Soft, 0, 0, &one),
            AfterFailure::Disable { failures: 1 }
        );
        assert_eq!(
            after_failure(FailureClass::Hard, 0, 0, &l),
            AfterFailure::Disable { failures: 1 }
        );
        assert_eq!(
            after_failure(FailureClass::AuthenticationRequired, 0, 0, &l),
            AfterFailure::WaitForCustomer { failures: 1 }
        );
        // An outage is never the customer's failure.
        assert_eq!(
            after_failure(FailureClass::Outage, 2, 0, &l),
            AfterFailure::Retry {
                at: MINUTE,
                failures: 2
            }
        );
    }

    #[test]
    fn calendar_boundaries() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        let t = days_from_civil(2026, 12, 31) * DAY + 1;
        assert_eq!(start_of_next_month(t), days_from_civil(2027, 1, 1) * DAY);
        assert_eq!(start_of_month(t), days_from_civil(2026, 12, 1) * DAY);
        assert_eq!(start_of_day(t), days_from_civil(2026, 12, 31) * DAY);
    }
}
