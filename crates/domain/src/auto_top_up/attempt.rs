//! R18-R22: whether a queued automatic top-up may run now and how much it charges,
//! the window it opens, the follow-up after it, and the periodic check's selection.

use super::{AmountRule, Limits, SourceKind, State, amount_to_charge};
use crate::money::add;
use crate::time::{start_of_day, start_of_next_month};
use crate::top_up::TopUpStatus;
use crate::{DAY, DomainError, Millis};
use std::fmt;
use std::str::FromStr;

/// Why an automatic top-up did not run, or what it waits for (R24: shown to the
/// customer, as the settings' `why_not` and a top-up's `waiting_for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhyNot {
    NotActive,
    AboveThreshold,
    InWindow,
    DailyCapReached,
    MonthlyCapReached,
    WaitingForCustomer,
    RetryScheduled,
    /// R23, R25: the gateway did not answer; the charge is resolved by asking it.
    GatewayUnavailable,
    /// R11: a pending payment whose credit waits until it settles.
    PaymentPending,
    /// R21: the amount alone is above a cap: it could never run.
    AmountAboveCap,
    /// R24: turned off by the customer while it was queued, planned or waiting.
    TurnedOff,
}

impl WhyNot {
    const ALL: [WhyNot; 11] = [
        WhyNot::NotActive,
        WhyNot::AboveThreshold,
        WhyNot::InWindow,
        WhyNot::DailyCapReached,
        WhyNot::MonthlyCapReached,
        WhyNot::WaitingForCustomer,
        WhyNot::RetryScheduled,
        WhyNot::GatewayUnavailable,
        WhyNot::PaymentPending,
        WhyNot::AmountAboveCap,
        WhyNot::TurnedOff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WhyNot::NotActive => "not_active",
            WhyNot::AboveThreshold => "above_threshold",
            WhyNot::InWindow => "minimum_interval",
            WhyNot::DailyCapReached => "daily_cap_reached",
            WhyNot::MonthlyCapReached => "monthly_cap_reached",
            WhyNot::WaitingForCustomer => "waiting_for_customer_authentication",
            WhyNot::RetryScheduled => "retry_scheduled",
            WhyNot::GatewayUnavailable => "gateway_unavailable",
            WhyNot::PaymentPending => "payment_pending",
            WhyNot::AmountAboveCap => "amount_above_cap",
            WhyNot::TurnedOff => "turned_off",
        }
    }
}

impl FromStr for WhyNot {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<WhyNot, DomainError> {
        WhyNot::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| DomainError::UnknownValue {
                what: "why not",
                value: s.chars().take(40).collect(),
                rule: "R24",
            })
    }
}

impl fmt::Display for WhyNot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// R29: a renewal the balance cannot cover waits for a top-up
    /// (`resources::renewal_uncovered`), whatever the threshold.
    pub renewal_unpaid: bool,
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
    /// R21: its amount alone passes this cap, so waiting would never end: it ends
    /// without a charge and the settings are disabled, told, never moved silently.
    Refuse { cap: Cap },
}

/// R18-R21: decide a due automatic top-up.
pub fn decide_attempt(ctx: AttemptContext, limits: &Limits) -> Result<Decision, DomainError> {
    if ctx.state != State::Active {
        return Ok(Decision::Cancel {
            why: WhyNot::NotActive,
        });
    }
    if ctx.balance > ctx.threshold && !ctx.renewal_unpaid {
        return Ok(Decision::Cancel {
            why: WhyNot::AboveThreshold,
        });
    }
    let amount = amount_to_charge(ctx.amount, ctx.balance, limits.minimum_top_up)?;
    // Up to a target, a balance below zero (a credit limit) could ask for more than a
    // cap allows: the charge stops at the cap, the follow-up does the rest (R21).
    let amount = match ctx.amount {
        AmountRule::UpToTarget(_) => amount.min(largest_charge(limits)),
        AmountRule::Fixed(_) => amount,
    };
    if let Some(cap) = cap_passed_alone(amount, limits) {
        return Ok(Decision::Refuse { cap });
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
    if let Some(wait) = cap_wait(ctx.now, ctx.usage, amount, limits)? {
        return Ok(wait);
    }
    Ok(Decision::Charge { amount })
}

/// R21: the most one automatic top-up may charge: the smallest amount cap.
fn largest_charge(limits: &Limits) -> i64 {
    [limits.daily_amount_cap, limits.monthly_amount_cap]
        .into_iter()
        .filter(|cap| *cap > 0)
        .min()
        .unwrap_or(i64::MAX)
}

/// R21: the cap a top-up of `amount` passes on its own, with nothing charged yet in
/// the period: it would wait at that cap for ever.
fn cap_passed_alone(amount: i64, limits: &Limits) -> Option<Cap> {
    if limits.daily_amount_cap > 0 && amount > limits.daily_amount_cap {
        Some(Cap::Daily)
    } else if limits.monthly_amount_cap > 0 && amount > limits.monthly_amount_cap {
        Some(Cap::Monthly)
    } else {
        None
    }
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

/// R21: a cap an automatic top-up reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    Daily,
    Monthly,
}

impl Cap {
    /// As the `cap.reached` event names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Cap::Daily => "daily",
            Cap::Monthly => "monthly",
        }
    }
}

/// R21: the cap to tell the customer about when a top-up waits for `why`: told once,
/// when it starts waiting for that cap (`waiting_before`: what it waited for).
pub fn cap_reached(waiting_before: Option<WhyNot>, why: WhyNot) -> Option<Cap> {
    let cap = match why {
        WhyNot::DailyCapReached => Cap::Daily,
        WhyNot::MonthlyCapReached => Cap::Monthly,
        _ => return None,
    };
    (waiting_before != Some(why)).then_some(cap)
}

/// What a change of settings does to the automatic top-up in flight (R23, R24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterChange {
    /// Left as it is: being charged or paid already, or a wait the change keeps.
    Keep,
    /// Decided again now, under the new settings (its window and caps still hold).
    DueNow,
    /// Ended without a charge, told to the customer.
    Cancel,
}

/// R23, R24: turning auto top-up off cancels what is queued, planned (a retry) or
/// waiting for the customer; changing settings re-plans what is queued or planned
/// (decided again now, under them). A wait for the customer's 3-D Secure outlives a
/// change: the customer may still confirm it.
pub fn in_flight_after_change(status: TopUpStatus, turned_off: bool) -> AfterChange {
    match status {
        TopUpStatus::Queued | TopUpStatus::RequiresAction if turned_off => AfterChange::Cancel,
        TopUpStatus::Queued => AfterChange::DueNow,
        _ => AfterChange::Keep,
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

/// R21, R29: after a successful top-up, the follow-up one when the balance is still
/// at or below the threshold (large fees), or still cannot cover a renewal
/// (`renewal_unpaid`: consecutive top-ups while it is unpaid): when it may run (a
/// card's after the R20 window). None: no follow-up.
pub fn follow_up(
    state: State,
    balance_after: i64,
    threshold: i64,
    renewal_unpaid: bool,
    source: SourceKind,
    window_until: Option<Millis>,
    now: Millis,
) -> Option<Millis> {
    if state != State::Active || (balance_after > threshold && !renewal_unpaid) {
        return None;
    }
    Some(match source {
        SourceKind::Card => window_until.unwrap_or(now),
        SourceKind::Transfer => now,
    })
}

/// R22: the periodic check's selection: an account with auto top-up active (its
/// threshold copied on the account row, `auto_threshold`) whose balance spending
/// brought to or below that threshold (`crossed_by_spending`), with no top-up in
/// flight (a crossing whose top-up did not start). A drop by a transfer, an
/// adjustment, a reversal or a refund is no such crossing (R18). The store's query
/// (`accounts_due_with_currency`) selects the same.
pub fn due_at_check(
    auto_threshold: Option<i64>,
    balance: i64,
    crossed_by_spending: bool,
    in_flight: bool,
) -> bool {
    auto_threshold.is_some_and(|t| balance <= t) && crossed_by_spending && !in_flight
}

/// R18, R22: whether spending has brought the balance to or below the threshold and
/// no credit has lifted it above since, after a change that left it at `after`:
/// spending that triggers a top-up (`triggered`) marks it; ending above the threshold,
/// or with auto top-up not active, clears it; any other change (a transfer out, an
/// adjustment, a reversal, a refund) leaves it as it was.
pub fn crossing_after(was: bool, triggered: bool, auto_threshold: Option<i64>, after: i64) -> bool {
    match auto_threshold {
        Some(t) if after <= t => was || triggered,
        _ => false,
    }
}

#[cfg(test)]
#[path = "attempt_tests.rs"]
mod tests;
