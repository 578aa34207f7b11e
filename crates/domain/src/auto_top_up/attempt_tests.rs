use super::*;
use crate::time::days_from_civil;
use crate::{HOUR, MINUTE};
use proptest::prelude::*;

fn limits() -> Limits {
    Limits::default()
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
        renewal_unpaid: false,
    }
}

#[test]
fn r24_why_not_round_trips() {
    for w in WhyNot::ALL {
        assert_eq!(w.as_str().parse::<WhyNot>(), Ok(w));
    }
    assert!("busy".parse::<WhyNot>().is_err());
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
fn r21_an_amount_above_a_cap_is_refused_never_left_waiting() {
    let now = days_from_civil(2026, 11, 21) * DAY + 5 * HOUR;
    let caps = Limits {
        daily_amount_cap: 1_500,
        ..limits()
    };
    // Whatever the day's usage and the window: waiting would never end.
    for usage in [
        CapUsage::default(),
        CapUsage {
            day_amount: 900,
            ..CapUsage::default()
        },
    ] {
        let c = AttemptContext {
            usage,
            window_until: Some(now + HOUR),
            ..attempt(now)
        };
        assert_eq!(
            decide_attempt(c, &caps),
            Ok(Decision::Refuse { cap: Cap::Daily })
        );
    }
    let monthly = Limits {
        monthly_amount_cap: 1_999,
        ..limits()
    };
    assert_eq!(
        decide_attempt(attempt(now), &monthly),
        Ok(Decision::Refuse { cap: Cap::Monthly })
    );
    // Up to a target from below zero: charged up to the cap, the rest follows.
    let target = AttemptContext {
        amount: AmountRule::UpToTarget(1_500),
        balance: -700,
        ..attempt(now)
    };
    assert_eq!(
        decide_attempt(target, &caps),
        Ok(Decision::Charge { amount: 1_500 })
    );
}

#[test]
fn r23_r24_turning_off_cancels_and_changing_re_plans_what_is_in_flight() {
    use AfterChange::*;
    use TopUpStatus::*;
    assert_eq!(in_flight_after_change(Queued, true), Cancel);
    assert_eq!(in_flight_after_change(RequiresAction, true), Cancel);
    assert_eq!(in_flight_after_change(Charging, true), Keep, "sent already");
    assert_eq!(in_flight_after_change(Pending, true), Keep);
    assert_eq!(in_flight_after_change(Queued, false), DueNow);
    assert_eq!(in_flight_after_change(RequiresAction, false), Keep);
    assert_eq!(in_flight_after_change(Charging, false), Keep);
}

#[test]
fn r21_a_cap_reached_is_told_once() {
    use WhyNot::*;
    assert_eq!(cap_reached(None, DailyCapReached), Some(Cap::Daily));
    assert_eq!(
        cap_reached(Some(InWindow), MonthlyCapReached),
        Some(Cap::Monthly)
    );
    assert_eq!(cap_reached(Some(DailyCapReached), DailyCapReached), None);
    assert_eq!(
        cap_reached(Some(DailyCapReached), MonthlyCapReached),
        Some(Cap::Monthly)
    );
    assert_eq!(cap_reached(None, InWindow), None);
    assert_eq!(Cap::Monthly.as_str(), "monthly");
}

#[test]
fn r21_a_follow_up_when_still_at_or_below_the_threshold() {
    use SourceKind::*;
    let w = Some(50);
    assert_eq!(
        follow_up(State::Active, 500, 500, false, Card, w, 10),
        Some(50)
    );
    assert_eq!(
        follow_up(State::Active, 400, 500, false, Card, None, 10),
        Some(10)
    );
    assert_eq!(
        follow_up(State::Active, 400, 500, false, Transfer, w, 10),
        Some(10)
    );
    assert_eq!(follow_up(State::Active, 501, 500, false, Card, w, 10), None);
    assert_eq!(follow_up(State::Off, 0, 500, true, Card, w, 10), None);
}

#[test]
fn r29_r21_an_unpaid_renewal_asks_for_top_ups_above_the_threshold_too() {
    let w = Some(50);
    let c = AttemptContext {
        balance: 3_000,
        renewal_unpaid: true,
        ..attempt(0)
    };
    assert_eq!(
        decide_attempt(c, &limits()),
        Ok(Decision::Charge { amount: 2_000 })
    );
    let covered = AttemptContext {
        renewal_unpaid: false,
        ..c
    };
    assert_eq!(
        decide_attempt(covered, &limits()),
        Ok(Decision::Cancel {
            why: WhyNot::AboveThreshold
        })
    );
    let in_window = AttemptContext {
        window_until: Some(50),
        ..c
    };
    assert_eq!(
        decide_attempt(in_window, &limits()),
        Ok(Decision::Wait {
            until: 50,
            why: WhyNot::InWindow
        }),
        "R20 holds"
    );
    use SourceKind::*;
    assert_eq!(
        follow_up(State::Active, 3_000, 500, true, Card, w, 10),
        Some(50),
        "consecutive, after the window"
    );
    assert_eq!(
        follow_up(State::Active, 3_000, 500, false, Card, w, 10),
        None
    );
}

#[test]
fn r18_r22_only_spending_marks_a_crossing_and_a_lift_above_clears_it() {
    let t = Some(1_000);
    assert!(
        crossing_after(false, true, t, 1_000),
        "spending that triggers"
    );
    assert!(
        !crossing_after(false, false, t, 500),
        "a transfer out, a reversal"
    );
    assert!(
        crossing_after(true, false, t, 500),
        "a drop keeps a crossing owed"
    );
    assert!(
        crossing_after(true, false, t, 900),
        "a credit still at or below"
    );
    assert!(
        !crossing_after(true, false, t, 1_001),
        "a credit above clears"
    );
    assert!(!crossing_after(true, true, None, 0), "not active");
}

#[test]
fn r22_the_check_selects_active_accounts_at_or_below_with_nothing_in_flight() {
    assert!(due_at_check(Some(500), 500, true, false));
    assert!(due_at_check(Some(500), -5, true, false));
    assert!(!due_at_check(Some(500), 501, true, false));
    assert!(
        !due_at_check(Some(500), 0, true, true),
        "R19: one in flight"
    );
    assert!(!due_at_check(None, 0, true, false), "not active");
    assert!(
        !due_at_check(Some(500), 0, false, false),
        "R18: not brought there by spending"
    );
}

proptest! {
    #[test]
    fn r20_r21_a_charge_is_never_inside_the_window_nor_over_a_cap(
        now in 0i64..4_000_000_000_000, balance in -10_000i64..10_000,
        window in proptest::option::of(0i64..4_000_000_000_000),
        day_count in 0u32..12, day_amount in 0i64..1_200_000,
        month_amount in 0i64..11_000_000, fixed in 1_000i64..50_000,
    ) {
        let usage = CapUsage { day_count, day_amount, month_count: day_count, month_amount };
        let c = AttemptContext {
            now, balance, window_until: window, usage,
            amount: AmountRule::Fixed(fixed), ..attempt(now)
        };
        let l = limits();
        if let Ok(Decision::Charge { amount }) = decide_attempt(c, &l) {
            prop_assert!(balance <= c.threshold);
            prop_assert!(window.is_none_or(|w| w <= now));
            prop_assert!(day_count < l.daily_count_cap);
            prop_assert!(day_amount + amount <= l.daily_amount_cap);
            prop_assert!(month_amount + amount <= l.monthly_amount_cap);
        }
    }
}
