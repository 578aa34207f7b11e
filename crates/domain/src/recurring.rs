//! R29, R30: recurring fees and scheduled recharges. When a resource's next period
//! starts, what an unpaid renewal leads to, and when a monthly recharge runs. All
//! dates are UTC; time is passed in.

use crate::time::{
    civil_from_days, days_from_civil, start_of_day, start_of_month, start_of_next_month,
};
use crate::top_up::{Origin, Progress, TopUpStatus};
use crate::{DAY, DomainError, Millis};

/// R29: how often a resource's fee is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Weekly,
    /// The default: a dedicated number costs so much a month.
    Monthly,
    Yearly,
}

impl Period {
    /// R29: a request's period: monthly when none is given.
    pub fn from_request(period: Option<&str>) -> Result<Period, DomainError> {
        match period {
            None => Ok(Period::Monthly),
            Some(p) => Period::parse(p)
                .ok_or_else(|| DomainError::InvalidPeriod(p.chars().take(32).collect())),
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "weekly" => Some(Period::Weekly),
            "monthly" => Some(Period::Monthly),
            "yearly" => Some(Period::Yearly),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }
}

/// The most periods a resource can run through: 100 years of weeks. Bounds the date
/// arithmetic so that it never overflows.
pub const MAX_PERIODS: i64 = 100 * 53;

/// Days in a calendar month (February by the Gregorian leap rule).
pub fn days_in_month(year: i64, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (days_from_civil(ny, nm, 1) - days_from_civil(year, month, 1)) as u32
}

/// `t` moved by `months` calendar months, at the same time of day. A day the target
/// month does not have becomes its last day (31 January + 1 month = 28 or 29 February).
pub fn add_months(t: Millis, months: i64) -> Millis {
    let days = t.div_euclid(DAY);
    let in_day = t.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let index = y * 12 + (m as i64 - 1) + months;
    let (ty, tm) = (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32);
    let td = d.min(days_in_month(ty, tm));
    days_from_civil(ty, tm, td) * DAY + in_day
}

/// R29: the start of period `n` of a resource bought at `anchor` (period 0 starts at
/// the purchase). Every period is counted from the anchor, never from the period
/// before, so a purchase on the 31st renews on the last day of short months and on
/// the 31st again after them: no drift.
pub fn period_start(anchor: Millis, period: Period, n: i64) -> Result<Millis, DomainError> {
    if !(0..=MAX_PERIODS).contains(&n) {
        return Err(DomainError::AmountOverflow);
    }
    Ok(match period {
        Period::Weekly => anchor + n * 7 * DAY,
        Period::Monthly => add_months(anchor, n),
        Period::Yearly => add_months(anchor, n * 12),
    })
}

/// R29: what follows a renewal the balance cannot cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// Still in the grace period: tried again at each periodic check until `suspend_at`.
    Retry { suspend_at: Millis },
    /// The grace period is over: the resource is suspended and its fees stop.
    Suspend,
}

/// R29: a renewal due at `due_at` that the balance cannot cover at `now`.
pub fn after_shortfall(due_at: Millis, now: Millis, grace: Millis) -> Shortfall {
    let suspend_at = due_at.saturating_add(grace.max(0));
    if now >= suspend_at {
        Shortfall::Suspend
    } else {
        Shortfall::Retry { suspend_at }
    }
}

/// R30: a day of month for a scheduled recharge, 1 to 31.
pub fn day_of_month(d: i64) -> Option<u32> {
    (1..=31).contains(&d).then_some(d as u32)
}

/// R30: a request's day of month, or the refusal.
pub fn check_day_of_month(d: i64) -> Result<u32, DomainError> {
    day_of_month(d).ok_or(DomainError::InvalidDayOfMonth)
}

/// R30: a schedule runs once its next date has come.
pub fn schedule_due(next_run_at: Millis, now: Millis) -> bool {
    next_run_at <= now
}

/// R30: how a due scheduled recharge starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduledStart {
    /// Queued, due now, to be charged like any queued top-up; never in flight (it
    /// neither blocks nor waits for an automatic top-up, R19).
    Queued(Progress),
    /// Its card was removed, or there is no primary card: failed at once, told
    /// (`top_up.failed` with `TopUpFailed::not_started`).
    NoCard {
        progress: Progress,
        code: &'static str,
        message: &'static str,
    },
}

/// R30: the start of the month's recharge at `now`, with or without a usable card.
pub fn scheduled_start(has_card: bool, now: Millis) -> ScheduledStart {
    let queued = Progress::queued(Origin::Scheduled, now);
    if has_card {
        return ScheduledStart::Queued(queued);
    }
    ScheduledStart::NoCard {
        progress: Progress {
            status: TopUpStatus::Failed,
            completed_at: Some(now),
            ..queued
        },
        code: "payment_method_required",
        message: "the scheduled recharge's card was removed, or there is no primary card",
    }
}

/// R30: midnight UTC of the recharge day in a month; days 29-31 become the month's
/// last day where it has fewer.
pub fn recharge_date(year: i64, month: u32, day: u32) -> Millis {
    let d = day.clamp(1, days_in_month(year, month));
    days_from_civil(year, month, d) * DAY
}

/// R30: the next date a monthly recharge on `day` runs: the first recharge date on or
/// after today (today's date still counts), and never again in the month of the last
/// run (`last_for`, the date that run was for).
pub fn next_recharge(now: Millis, day: u32, last_for: Option<Millis>) -> Millis {
    let from = match last_for {
        Some(last) => now.max(start_of_next_month(last)),
        None => now,
    };
    let (y, m, _) = civil_from_days(from.div_euclid(DAY));
    let this_month = recharge_date(y, m, day);
    if this_month >= start_of_day(from) {
        this_month
    } else {
        let (ny, nm, _) = civil_from_days(start_of_next_month(from).div_euclid(DAY));
        recharge_date(ny, nm, day)
    }
}

/// R30: the date a due schedule runs for: the latest recharge date it missed (on or
/// before `now`, never before `next_run_at`). After downtime the months missed are not
/// made up, and the one charge is the current month's, so a schedule edited or set
/// again later finds this month recharged.
pub fn latest_missed_recharge(next_run_at: Millis, day: u32, now: Millis) -> Millis {
    let (y, m, _) = civil_from_days(now.div_euclid(DAY));
    let this_month = recharge_date(y, m, day);
    let latest = if this_month <= now {
        this_month
    } else {
        let (py, pm, _) = civil_from_days(start_of_month(now).div_euclid(DAY) - 1);
        recharge_date(py, pm, day)
    };
    latest.max(next_run_at)
}

/// The calendar month `t` falls in, as "2026-11": names a scheduled recharge's month
/// in its idempotency key.
pub fn month_key(t: Millis) -> String {
    let (y, m, _) = civil_from_days(t.div_euclid(DAY));
    format!("{y:04}-{m:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HOUR;
    use proptest::prelude::*;

    fn date(y: i64, m: u32, d: u32) -> Millis {
        days_from_civil(y, m, d) * DAY
    }

    #[test]
    fn r30_a_recharge_caught_up_after_downtime_is_for_the_latest_missed_month() {
        let missed = date(2026, 11, 22);
        let now = date(2027, 1, 25) + 3 * HOUR;
        assert_eq!(latest_missed_recharge(missed, 22, now), date(2027, 1, 22));
        // This month's date not yet come: last month's.
        assert_eq!(latest_missed_recharge(missed, 28, now), date(2026, 12, 28));
        // Day 31 in February: its last day.
        let march = date(2027, 3, 10);
        assert_eq!(latest_missed_recharge(missed, 31, march), date(2027, 2, 28));
        // Nothing missed: the date itself.
        assert_eq!(latest_missed_recharge(missed, 22, missed), missed);
        assert_eq!(
            latest_missed_recharge(missed, 22, missed + HOUR),
            missed,
            "never before the date due"
        );
    }

    #[test]
    fn r29_months_have_their_own_lengths() {
        assert_eq!(days_in_month(2027, 2), 28);
        assert_eq!(days_in_month(2028, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
    }

    #[test]
    fn r29_adding_months_clamps_to_the_last_day_and_keeps_the_time() {
        let jan31 = date(2027, 1, 31) + 10 * HOUR;
        assert_eq!(add_months(jan31, 1), date(2027, 2, 28) + 10 * HOUR);
        assert_eq!(add_months(jan31, 13), date(2028, 2, 29) + 10 * HOUR);
        assert_eq!(add_months(date(2026, 11, 21), 2), date(2027, 1, 21));
        assert_eq!(add_months(date(2026, 3, 15), -3), date(2025, 12, 15));
    }

    #[test]
    fn r29_monthly_periods_count_from_the_purchase_without_drift() {
        let anchor = date(2027, 1, 31) + 9 * HOUR;
        let p = |n| period_start(anchor, Period::Monthly, n).unwrap();
        assert_eq!(p(0), anchor);
        assert_eq!(p(1), date(2027, 2, 28) + 9 * HOUR);
        assert_eq!(p(2), date(2027, 3, 31) + 9 * HOUR, "back to the 31st");
        assert_eq!(p(3), date(2027, 4, 30) + 9 * HOUR);
    }

    #[test]
    fn r29_weekly_and_yearly_periods() {
        let anchor = date(2028, 2, 29);
        assert_eq!(
            period_start(anchor, Period::Weekly, 2).unwrap(),
            date(2028, 3, 14)
        );
        assert_eq!(
            period_start(anchor, Period::Yearly, 1).unwrap(),
            date(2029, 2, 28)
        );
        assert_eq!(
            period_start(anchor, Period::Yearly, 4).unwrap(),
            date(2032, 2, 29)
        );
        assert!(period_start(anchor, Period::Monthly, -1).is_err());
        assert!(period_start(anchor, Period::Monthly, MAX_PERIODS + 1).is_err());
    }

    #[test]
    fn r29_periods_parse() {
        assert_eq!(Period::parse("monthly"), Some(Period::Monthly));
        assert_eq!(Period::parse("weekly").unwrap().as_str(), "weekly");
        assert_eq!(Period::parse("daily"), None);
        assert_eq!(Period::parse("Monthly"), None);
    }

    #[test]
    fn r29_an_unpaid_renewal_is_retried_during_the_grace_then_suspended() {
        let due = date(2026, 12, 21);
        let grace = 72 * HOUR;
        assert_eq!(
            after_shortfall(due, due, grace),
            Shortfall::Retry {
                suspend_at: due + grace
            }
        );
        assert!(matches!(
            after_shortfall(due, due + grace - 1, grace),
            Shortfall::Retry { .. }
        ));
        assert_eq!(after_shortfall(due, due + grace, grace), Shortfall::Suspend);
        assert_eq!(after_shortfall(due, due, 0), Shortfall::Suspend);
    }

    #[test]
    fn r30_days_29_to_31_clamp_to_the_months_last_day() {
        assert_eq!(recharge_date(2026, 11, 31), date(2026, 11, 30));
        assert_eq!(recharge_date(2027, 2, 29), date(2027, 2, 28));
        assert_eq!(recharge_date(2028, 2, 30), date(2028, 2, 29));
        assert_eq!(recharge_date(2026, 12, 31), date(2026, 12, 31));
        assert_eq!(recharge_date(2026, 12, 1), date(2026, 12, 1));
        assert_eq!(day_of_month(0), None);
        assert_eq!(day_of_month(32), None);
        assert_eq!(day_of_month(31), Some(31));
    }

    #[test]
    fn r30_next_recharge_is_on_or_after_today_once_a_month() {
        let now = date(2026, 11, 21) + 12 * HOUR;
        assert_eq!(next_recharge(now, 25, None), date(2026, 11, 25));
        assert_eq!(next_recharge(now, 21, None), date(2026, 11, 21), "today");
        assert_eq!(next_recharge(now, 20, None), date(2026, 12, 20));
        assert_eq!(next_recharge(now, 31, None), date(2026, 11, 30));
        // After the run for 30 November (day 31): 31 December, then 31 January.
        let ran = date(2026, 11, 30);
        assert_eq!(
            next_recharge(ran + 5 * 60_000, 31, Some(ran)),
            date(2026, 12, 31)
        );
        assert_eq!(
            next_recharge(date(2026, 12, 31), 31, Some(date(2026, 12, 31))),
            date(2027, 1, 31)
        );
        // A month already recharged is not recharged again after an edit.
        assert_eq!(
            next_recharge(now, 25, Some(date(2026, 11, 5))),
            date(2026, 12, 25)
        );
        // Down for two months: one recharge, not one per missed month.
        assert_eq!(
            next_recharge(date(2027, 3, 5), 31, Some(date(2027, 1, 31))),
            date(2027, 3, 31)
        );
    }

    #[test]
    fn r29_r30_request_values_are_refused_with_their_rule() {
        assert_eq!(Period::from_request(None), Ok(Period::Monthly));
        assert_eq!(Period::from_request(Some("yearly")), Ok(Period::Yearly));
        let e = Period::from_request(Some("daily")).unwrap_err();
        assert_eq!((e.code(), e.rule()), ("invalid_period", Some("R29")));
        assert_eq!(check_day_of_month(31), Ok(31));
        let e = check_day_of_month(0).unwrap_err();
        assert_eq!((e.code(), e.rule()), ("invalid_day_of_month", Some("R30")));
    }

    #[test]
    fn r30_a_due_recharge_starts_queued_or_fails_without_a_card() {
        assert!(schedule_due(10, 10) && !schedule_due(11, 10));
        match scheduled_start(true, 7) {
            ScheduledStart::Queued(p) => {
                assert_eq!(
                    (p.status, p.in_flight, p.not_before),
                    (TopUpStatus::Queued, false, Some(7))
                )
            }
            other => panic!("{other:?}"),
        }
        match scheduled_start(false, 7) {
            ScheduledStart::NoCard { progress, code, .. } => {
                assert_eq!(
                    (progress.status, progress.completed_at),
                    (TopUpStatus::Failed, Some(7))
                );
                assert_eq!(code, "payment_method_required");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn r30_month_keys() {
        assert_eq!(month_key(date(2026, 11, 30) + 23 * HOUR), "2026-11");
        assert_eq!(month_key(date(2027, 1, 1)), "2027-01");
    }

    proptest! {
        #[test]
        fn r29_period_starts_increase_and_stay_on_the_anchor_day(
            days in 0i64..40_000, ms in 0i64..DAY, n in 0i64..600
        ) {
            let anchor = days * DAY + ms;
            let a = period_start(anchor, Period::Monthly, n).unwrap();
            let b = period_start(anchor, Period::Monthly, n + 1).unwrap();
            prop_assert!(b > a);
            prop_assert!(b - a >= 28 * DAY && b - a <= 31 * DAY);
            prop_assert_eq!(a.rem_euclid(DAY), ms);
            let (_, _, d0) = civil_from_days(days);
            let (y, m, d) = civil_from_days(a.div_euclid(DAY));
            prop_assert_eq!(d, d0.min(days_in_month(y, m)));
        }

        #[test]
        fn r30_next_recharge_is_never_before_today_and_within_two_months(
            days in 0i64..40_000, ms in 0i64..DAY, day in 1u32..=31
        ) {
            let now = days * DAY + ms;
            let next = next_recharge(now, day, None);
            prop_assert!(next >= start_of_day(now));
            prop_assert!(next < now + 62 * DAY);
            prop_assert_eq!(next.rem_euclid(DAY), 0);
            let again = next_recharge(next, day, Some(next));
            prop_assert_ne!(month_key(again), month_key(next));
        }
    }
}
