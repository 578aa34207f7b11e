use super::*;
use RefundStatus::*;
use proptest::prelude::*;

fn top_up() -> Refundable {
    Refundable {
        status: TopUpStatus::Succeeded,
        by_card: true,
        amount: 5_000,
        tax: 1_000,
        total: 6_000,
        refunded: 0,
        requested: 0,
        balance: 5_000,
        into_negative: false,
    }
}

fn refusal(e: DomainError) -> (&'static str, Option<&'static str>) {
    (e.code(), e.rule())
}

#[test]
fn r31_refund_statuses_round_trip_and_move_forward_only() {
    for s in RefundStatus::ALL {
        assert_eq!(s.as_str().parse::<RefundStatus>(), Ok(s));
        assert_eq!(
            s.is_final(),
            RefundStatus::ALL.iter().all(|t| !s.can_move_to(*t))
        );
    }
    assert!("done".parse::<RefundStatus>().is_err());
    assert_eq!(Requested.move_to(Approved), Ok(Approved));
    assert_eq!(Approved.move_to(Pending), Ok(Pending));
    assert_eq!(Pending.move_to(Failed), Ok(Failed));
    let twice = Approved.move_to(Approved).unwrap_err();
    assert_eq!(
        refusal(twice),
        ("refund_not_awaiting_decision", Some("R31"))
    );
    let rejected = Rejected.move_to(Approved).unwrap_err();
    assert_eq!(rejected.kind(), ErrorKind::Conflict);
    assert_eq!(
        Failed.move_to(Succeeded).unwrap_err().code(),
        "invalid_refund_transition"
    );
    assert!(!Requested.can_move_to(Pending), "never sent undecided");
    assert!(Approved.holds_reversal() && Pending.holds_reversal() && Succeeded.holds_reversal());
    assert!(!Requested.holds_reversal() && !Rejected.holds_reversal() && !Failed.holds_reversal());
}

#[test]
fn r31_a_gateway_report_moves_a_refund_once() {
    assert_eq!(Approved.after_report(Pending), Some(Pending));
    assert_eq!(Pending.after_report(Pending), None, "the same again");
    assert_eq!(Pending.after_report(Failed), Some(Failed));
    assert_eq!(Failed.after_report(Failed), None, "a failure restores once");
    assert_eq!(Succeeded.after_report(Pending), None, "an older report");
    assert_eq!(Requested.after_report(Succeeded), None, "never sent");
}

#[test]
fn r31_a_request_is_refused_above_the_charge_and_the_unspent_balance() {
    let t = top_up();
    assert_eq!(check_request(&t, None), Ok(6_000), "all of the charge");
    assert_eq!(check_request(&t, Some(1_200)), Ok(1_200));
    let over = check_request(&t, Some(6_001)).unwrap_err();
    assert_eq!(refusal(over), ("refund_exceeds_charge", Some("R31")));
    let others = Refundable {
        requested: 5_000,
        refunded: 600,
        ..t
    };
    assert_eq!(check_request(&others, Some(400)), Ok(400));
    assert_eq!(
        check_request(&others, Some(401)).unwrap_err().code(),
        "refund_exceeds_charge",
        "other open requests count"
    );
    let spent = Refundable {
        balance: 1_000,
        ..t
    };
    assert_eq!(
        check_request(&spent, Some(1_200)),
        Ok(1_200),
        "1,000 of credit"
    );
    let e = check_request(&spent, Some(1_212)).unwrap_err();
    assert_eq!(refusal(e), ("refund_exceeds_balance", Some("R31")));
    let negative = Refundable {
        into_negative: true,
        ..spent
    };
    assert_eq!(check_request(&negative, None), Ok(6_000));
    assert_eq!(
        check_request(&t, Some(0)).unwrap_err().code(),
        "amount_not_positive"
    );
    let all = Refundable {
        refunded: 6_000,
        ..t
    };
    assert_eq!(
        check_request(&all, None).unwrap_err().code(),
        "refund_exceeds_charge"
    );
}

#[test]
fn r31_only_a_paid_card_top_up_is_refunded() {
    for status in [
        TopUpStatus::Failed,
        TopUpStatus::Pending,
        TopUpStatus::Charging,
    ] {
        let t = Refundable { status, ..top_up() };
        let e = check_request(&t, Some(100)).unwrap_err();
        assert_eq!(
            refusal(e),
            ("top_up_not_refundable", Some("R31")),
            "{status}"
        );
    }
    let transfer = Refundable {
        by_card: false,
        ..top_up()
    };
    assert!(check_approval(&transfer, 100, None).is_err());
}

#[test]
fn r31_the_operator_approves_at_most_what_was_asked() {
    let t = top_up();
    let p = check_approval(&t, 1_800, Some(1_200)).unwrap();
    assert_eq!(
        (p.refunded_total, p.refunded, p.credit, p.tax),
        (1_200, 1_200, 1_000, 200)
    );
    assert_eq!(check_approval(&t, 1_800, None).unwrap().refunded, 1_800);
    let e = check_approval(&t, 1_800, Some(1_801)).unwrap_err();
    assert_eq!(refusal(e), ("refund_exceeds_request", Some("R31")));
    let refunded_since = Refundable {
        refunded: 5_000,
        ..t
    };
    assert_eq!(
        check_approval(&refunded_since, 1_800, None)
            .unwrap_err()
            .code(),
        "refund_exceeds_charge",
        "a refund made at the gateway since the request counts"
    );
    let spent = Refundable { balance: 100, ..t };
    assert_eq!(
        check_approval(&spent, 1_800, None).unwrap_err().code(),
        "refund_exceeds_balance"
    );
}

#[test]
fn r31_reasons_and_keys() {
    assert_eq!(check_reason("  too much  "), Ok("too much"));
    assert_eq!(check_reason(" ").unwrap_err().kind(), ErrorKind::BadInput);
    assert!(check_reason(&"x".repeat(501)).is_err());
    assert_eq!(refund_key("rfd_1"), "refund:rfd_1");
    assert_eq!(refund_of_key(&refund_key("rfd_1")), Some("rfd_1"));
    assert_eq!(refund_of_key("r-1"), None);
    assert_eq!(refund_of_key("refund:"), None);
    assert_eq!(RefundRefusal::OperatorOnly.kind(), ErrorKind::Forbidden);
}

#[test]
fn r31_a_restored_refund_mirrors_its_reversal() {
    let p = reversal(0, 1_200, (5_000, 1_000, 6_000)).unwrap();
    let j = refund_top_up("a", p.credit, p.tax, p.rounding).unwrap();
    let back = restoration(1_200, 1_200, (5_000, 1_000, 6_000)).unwrap();
    assert_eq!(
        (back.credit, back.tax, back.refunded_total),
        (1_000, 200, 0)
    );
    let r = restore_journal("a", &back).unwrap();
    assert!(r.is_balanced());
    assert_eq!(r.net_for("a"), -j.net_for("a"));
}

proptest! {
    /// However refunds and failures interleave, the credit and tax reversed are the
    /// shares of the refunded total: never more than the top-up's credit and tax.
    #[test]
    fn r31_reversals_and_restorations_add_up_to_the_refunded_share(
        amount in 1i64..1_000_000, tax in 0i64..300_000,
        steps in proptest::collection::vec((any::<bool>(), 1i64..400_000), 1..20),
    ) {
        let total = amount + tax;
        let (mut refunded, mut credit, mut taxes, mut rounding) = (0i64, 0i64, 0i64, 0i64);
        let mut live: Vec<i64> = vec![];
        for (fail, size) in steps {
            match (fail, live.pop()) {
                (true, Some(a)) => {
                    let p = restoration(refunded, a, (amount, tax, total)).unwrap();
                    refunded -= a;
                    credit -= p.credit;
                    taxes -= p.tax;
                    rounding -= p.rounding;
                }
                (_, back) => {
                    live.extend(back);
                    let a = size.min(total - refunded);
                    if a == 0 { continue; }
                    let p = reversal(refunded, a, (amount, tax, total)).unwrap();
                    prop_assert_eq!(p.credit + p.tax - p.rounding, a);
                    refunded += a;
                    credit += p.credit;
                    taxes += p.tax;
                    rounding += p.rounding;
                    live.push(a);
                }
            }
            prop_assert_eq!((credit, taxes), crate::refunds::shares(refunded, amount, tax, total));
            prop_assert!(credit <= amount && taxes <= tax && credit >= 0 && taxes >= 0);
            prop_assert_eq!(credit + taxes - rounding, refunded);
        }
    }
}
