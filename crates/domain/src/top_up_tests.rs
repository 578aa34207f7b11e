use super::*;
use crate::DAY;
use crate::time::days_from_civil;
use TopUpStatus::*;

#[test]
fn r25_statuses_and_origins_round_trip_their_stored_strings() {
    for s in TopUpStatus::ALL {
        assert_eq!(s.as_str().parse::<TopUpStatus>(), Ok(s));
    }
    for o in [Origin::Manual, Origin::Auto, Origin::Scheduled] {
        assert_eq!(o.as_str().parse::<Origin>(), Ok(o));
    }
    assert_eq!(
        "done".parse::<TopUpStatus>().unwrap_err().code(),
        "unknown_value"
    );
    assert!("Auto".parse::<Origin>().is_err());
    for o in [
        AttemptOutcome::Charging,
        AttemptOutcome::Succeeded,
        AttemptOutcome::Pending,
        AttemptOutcome::Failed("card_declined".into()),
    ] {
        assert_eq!(o.to_string().parse::<AttemptOutcome>(), Ok(o));
    }
    assert_eq!(AttemptOutcome::Failed("x".into()).to_string(), "failed: x");
}

#[test]
fn r25_final_statuses_never_move() {
    for from in [Succeeded, Failed, Canceled] {
        for to in TopUpStatus::ALL {
            let e = from.move_to(to).unwrap_err();
            assert_eq!(
                (e.code(), e.rule()),
                ("invalid_top_up_transition", Some("R25"))
            );
        }
    }
    assert!(Pending.move_to(Charging).is_err(), "never charged again");
    assert_eq!(Charging.move_to(Pending), Ok(Pending));
    assert_eq!(RequiresAction.confirm(), Ok(Queued));
    let e = Charging.confirm().unwrap_err();
    assert_eq!(e.code(), "top_up_not_awaiting_authentication");
}

#[test]
fn r19_only_automatic_top_ups_are_in_flight() {
    assert!(Progress::queued(Origin::Auto, 5).in_flight);
    assert!(!Progress::queued(Origin::Scheduled, 5).in_flight);
    assert!(Origin::Scheduled.off_session() && !Origin::Manual.off_session());
    assert!(Origin::Auto.counts_against_caps() && !Origin::Scheduled.counts_against_caps());
}

#[test]
fn r25_the_engines_moves_follow_the_recovery_points() {
    let q = Progress::queued(Origin::Auto, 0);
    let waited = q.wait(99, WhyNot::InWindow).unwrap();
    assert_eq!((waited.status, waited.not_before), (Queued, Some(99)));
    let c = waited.begin_charge().unwrap();
    assert!(c.begin_charge().is_err(), "one charging at a time");
    assert!(c.wait(5, WhyNot::InWindow).is_err());
    let out = c.outage().unwrap();
    assert_eq!(
        (out.status, out.waiting),
        (Charging, Some(WhyNot::GatewayUnavailable))
    );
    let paid = out.succeed(false, 7).unwrap();
    assert_eq!(
        paid,
        Progress {
            status: Succeeded,
            in_flight: false,
            not_before: Some(99),
            waiting: None,
            completed_at: Some(7)
        }
    );
    assert!(paid.cancel(WhyNot::NotActive, 8).is_err());
    let held = c.hold_pending(7).unwrap();
    assert!(held.in_flight, "R19: still the crossing's top-up");
    assert_eq!(held.waiting, Some(WhyNot::PaymentPending));
    let settled = held.settle(false).unwrap();
    assert_eq!((settled.status, settled.in_flight), (Failed, false));
    assert!(c.settle(true).is_err());
    let canceled = q.cancel(WhyNot::AboveThreshold, 3).unwrap();
    assert_eq!((canceled.status, canceled.in_flight), (Canceled, false));
}

#[test]
fn r5_a_top_up_whose_card_was_removed_fails_unsent() {
    for from in [Queued, Charging] {
        let p = Progress {
            status: from,
            in_flight: true,
            not_before: Some(3),
            waiting: Some(WhyNot::GatewayUnavailable),
            completed_at: None,
        };
        let failed = p.fail_unsent(9).unwrap();
        assert_eq!(
            (
                failed.status,
                failed.in_flight,
                failed.waiting,
                failed.completed_at
            ),
            (Failed, false, None, Some(9))
        );
        assert!(failed.fail_unsent(10).is_err(), "final");
    }
}

#[test]
fn r23_a_confirmed_top_up_is_due_at_once() {
    let waiting = Progress {
        status: RequiresAction,
        in_flight: true,
        not_before: None,
        waiting: Some(WhyNot::WaitingForCustomer),
        completed_at: Some(4),
    };
    let q = waiting.confirm(10).unwrap();
    assert_eq!(
        (q.status, q.not_before, q.waiting, q.completed_at),
        (Queued, Some(10), None, None)
    );
    assert!(q.confirm(11).is_err());
}

#[test]
fn r23_a_wait_for_the_customer_has_an_end_and_a_plan_can_move_to_now() {
    let waiting = Progress {
        status: RequiresAction,
        in_flight: true,
        not_before: Some(100),
        waiting: Some(WhyNot::WaitingForCustomer),
        completed_at: None,
    };
    assert_eq!(waiting.waits_for_customer_until(), Some(100));
    assert!(!waiting.authentication_expired(99));
    assert!(waiting.authentication_expired(100));
    assert!(
        waiting.replan(5).is_err(),
        "only what is queued is re-planned"
    );
    let retry = Progress {
        status: Queued,
        waiting: Some(WhyNot::RetryScheduled),
        ..waiting
    };
    assert!(
        !retry.authentication_expired(1_000),
        "not waiting for the customer"
    );
    let now = retry.replan(7).unwrap();
    assert_eq!(
        (now.not_before, now.waiting),
        (Some(7), Some(WhyNot::RetryScheduled))
    );
}

#[test]
fn r25_charge_keys_name_the_attempt_or_the_scheduled_month() {
    assert_eq!(charge_key("top_1", Origin::Auto, None, 2), "top_1:2");
    assert_eq!(charge_key("top_1", Origin::Manual, Some("k"), 1), "top_1:1");
    let date = days_from_civil(2026, 11, 30) * DAY + 5;
    let month = scheduled_request_key("acct_1", date);
    assert_eq!(month, "scheduled:acct_1:2026-11");
    assert_eq!(
        charge_key("top_9", Origin::Scheduled, Some(&month), 3),
        "scheduled:acct_1:2026-11:3"
    );
    assert_eq!(charge_key("top_9", Origin::Scheduled, None, 3), "top_9:3");
    let v = verification_key("pm_1", 2, false);
    assert_eq!(v, "verify_pm_1_2");
    assert_eq!(verification_key("pm_1", 2, true), "verify_pm_1_2_3ds");
    assert_eq!(verification_refund_key(&v), "verify_pm_1_2_refund");
}
