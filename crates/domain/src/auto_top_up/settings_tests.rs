//! Tests of the settings' validation (R12-R15, R21).

use super::*;
use proptest::prelude::*;

fn gbp() -> Currency {
    Currency::parse("GBP").unwrap()
}
fn m(amount: i64) -> Money {
    Money::new(amount, gbp())
}
fn ctx() -> SettingsContext {
    SettingsContext {
        currency: gbp(),
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
fn validate(
    threshold: i64,
    rule: AmountRule,
    source: SourceKind,
    c: SettingsContext,
) -> Result<(), DomainError> {
    validate_settings(threshold, rule, source, c, &limits())
}
use AmountRule::{Fixed, UpToTarget};
use SourceKind::{Card, Transfer};

#[test]
fn r13_threshold_must_be_below_the_balance() {
    assert_eq!(
        validate(5_000, Fixed(5_000), Card, ctx()),
        Err(DomainError::ThresholdNotBelowBalance {
            threshold: m(5_000),
            balance: m(5_000)
        })
    );
    assert!(validate(4_999, Fixed(5_000), Card, ctx()).is_ok());
    assert_eq!(
        validate(-1, Fixed(5_000), Card, ctx()),
        Err(DomainError::ThresholdNegative)
    );
}

#[test]
fn r13_amount_at_least_threshold_and_minimum() {
    let code = |t, r| validate(t, r, Card, ctx()).unwrap_err().code();
    assert_eq!(code(2_000, Fixed(1_500)), "amount_below_threshold");
    assert_eq!(
        validate(100, Fixed(999), Card, ctx()).unwrap_err().rule(),
        Some("R8")
    );
    assert_eq!(code(1_000, UpToTarget(1_500)), "amount_below_minimum");
    assert_eq!(code(1_000, UpToTarget(900)), "target_not_above_threshold");
}

#[test]
fn r13_refusals_tell_amounts_in_major_units() {
    let kwd = SettingsContext {
        currency: Currency::parse("KWD").unwrap(),
        balance: 50_000,
        ..ctx()
    };
    let limits = Limits {
        minimum_top_up: 10_000,
        ..limits()
    };
    let say = |t, r| {
        validate_settings(t, r, Card, kwd, &limits)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        say(5_000, Fixed(4_500)),
        "the top-up amount 4.500 KWD must be at least the threshold 5.000 KWD"
    );
    assert_eq!(
        say(1_000, Fixed(9_990)),
        "9.990 KWD is below the minimum top-up of 10.000 KWD"
    );
    assert_eq!(
        say(60_000, Fixed(70_000)),
        "the threshold 60.000 KWD must be below the current balance 50.000 KWD"
    );
    let e = validate_settings(1_000, Fixed(9_990), Card, kwd, &limits).unwrap_err();
    let (currency, fields) = e.amounts().unwrap();
    assert_eq!(currency.code(), "KWD");
    assert_eq!(fields, vec![("amount", 9_990), ("minimum", 10_000)]);
}

#[test]
fn r13_the_operators_defaults_pass_the_same_check() {
    assert_eq!(check_amount_rule(500, Fixed(1_000), m(1_000)), Ok(()));
    assert_eq!(
        check_amount_rule(-1, Fixed(1_000), m(1_000)),
        Err(DomainError::ThresholdNegative)
    );
    assert_eq!(
        check_amount_rule(2_000, Fixed(1_500), m(1_000))
            .unwrap_err()
            .code(),
        "amount_below_threshold"
    );
    assert_eq!(
        check_amount_rule(0, Fixed(999), m(1_000))
            .unwrap_err()
            .code(),
        "amount_below_minimum"
    );
}

#[test]
fn r12_r15_transfer_source_only_for_sub_accounts() {
    assert_eq!(
        validate(1_000, Fixed(2_000), Transfer, ctx()),
        Err(DomainError::TransferSourceNeedsSubAccount)
    );
    let sub = SettingsContext {
        is_sub_account: true,
        terms_accepted: false,
        has_payment_method: false,
        ..ctx()
    };
    assert!(validate(1_000, Fixed(2_000), Transfer, sub).is_ok());
    assert_eq!(
        check_transfer_source_setter(Transfer, true)
            .unwrap_err()
            .rule(),
        Some("R15")
    );
    assert_eq!(check_transfer_source_setter(Transfer, false), Ok(()));
    assert_eq!(check_transfer_source_setter(Card, true), Ok(()));
}

#[test]
fn r14_card_source_needs_terms_when_turning_on_only() {
    let no_terms = SettingsContext {
        terms_accepted: false,
        ..ctx()
    };
    assert_eq!(
        validate(1_000, Fixed(2_000), Card, no_terms),
        Err(DomainError::TermsNotAccepted)
    );
    let change = SettingsContext {
        turning_on: false,
        ..no_terms
    };
    assert!(validate(1_000, Fixed(3_000), Card, change).is_ok());
    let no_pm = SettingsContext {
        has_payment_method: false,
        ..ctx()
    };
    let code = |c| validate(1_000, Fixed(2_000), Card, c).unwrap_err().code();
    assert_eq!(code(no_pm), "payment_method_required");
    let no_payer = SettingsContext {
        has_payer: false,
        ..ctx()
    };
    assert_eq!(code(no_payer), "payer_missing");
}

#[test]
fn r14_terms_are_the_current_version() {
    assert_eq!(check_terms(Some("2026-01"), "2026-01"), Ok(()));
    assert_eq!(
        check_terms(None, "2026-01"),
        Err(DomainError::TermsNotAccepted)
    );
    let e = check_terms(Some("2025-01"), "2026-01").unwrap_err();
    assert_eq!((e.code(), e.rule()), ("terms_version_unknown", Some("R14")));
}

#[test]
fn r12_requests_name_one_amount_and_a_known_source() {
    assert_eq!(AmountRule::from_request(Some(5), None), Ok(Fixed(5)));
    assert_eq!(AmountRule::from_request(None, Some(9)), Ok(UpToTarget(9)));
    assert_eq!(
        AmountRule::from_request(Some(5), Some(9)),
        Err(DomainError::AmountRequired)
    );
    assert_eq!(
        AmountRule::from_request(None, None),
        Err(DomainError::AmountRequired)
    );
    assert_eq!(
        AmountRule::from_request(Some(0), None),
        Err(DomainError::AmountNotPositive)
    );
    assert_eq!(SourceKind::from_request(None), Ok(Card));
    assert_eq!(SourceKind::from_request(Some("transfer")), Ok(Transfer));
    assert_eq!(
        SourceKind::from_request(Some("cash")).unwrap_err().code(),
        "invalid_source"
    );
}

#[test]
fn r12_stored_forms_round_trip() {
    for s in ["card", "transfer"] {
        assert_eq!(s.parse::<SourceKind>().unwrap().as_str(), s);
    }
    assert!("Card".parse::<SourceKind>().is_err());
    for rule in [Fixed(1_500), UpToTarget(9_000)] {
        assert_eq!(
            AmountRule::from_stored(rule.mode(), rule.amount()),
            Ok(rule)
        );
    }
    assert!(AmountRule::from_stored("percent", 5).is_err());
}

#[test]
fn r21_settings_above_a_cap_can_be_refused() {
    assert_eq!(
        check_within_caps(Fixed(1_000_000), &limits(), gbp()),
        Ok(())
    );
    let e = check_within_caps(Fixed(1_000_001), &limits(), gbp()).unwrap_err();
    assert_eq!((e.code(), e.rule()), ("amount_above_cap", Some("R21")));
    assert_eq!(
        e.to_string(),
        "the top-up amount 10000.01 GBP is above the daily cap of 10000.00 GBP"
    );
    let no_caps = Limits {
        daily_amount_cap: 0,
        monthly_amount_cap: 0,
        ..limits()
    };
    assert_eq!(check_within_caps(Fixed(i64::MAX), &no_caps, gbp()), Ok(()));
}

#[test]
fn r21_validation_refuses_settings_above_a_cap() {
    let caps = Limits {
        daily_amount_cap: 1_500,
        ..limits()
    };
    let e = validate_settings(500, Fixed(2_000), Card, ctx(), &caps).unwrap_err();
    assert_eq!((e.code(), e.rule()), ("amount_above_cap", Some("R21")));
    let e = validate_settings(500, UpToTarget(1_600), Card, ctx(), &caps).unwrap_err();
    assert_eq!(e.code(), "amount_above_cap");
    assert!(validate_settings(500, Fixed(1_500), Card, ctx(), &caps).is_ok());
}

#[test]
fn r14_changing_the_card_or_the_source_is_turning_on() {
    let card = |id| Means {
        source: Card,
        card: Some(id),
    };
    let transfer = Means {
        source: Transfer,
        card: None,
    };
    assert!(turns_on(None, card("pm_1")), "from off or disabled");
    assert!(
        !turns_on(Some(card("pm_1")), card("pm_1")),
        "threshold or amount"
    );
    assert!(turns_on(Some(card("pm_1")), card("pm_2")), "another card");
    assert!(
        turns_on(Some(transfer), card("pm_1")),
        "away from a transfer"
    );
    assert!(turns_on(Some(card("pm_1")), transfer));
    assert!(!turns_on(Some(transfer), transfer));
}

#[test]
fn r12_up_to_target_charges_the_difference_at_least_the_minimum() {
    assert_eq!(
        amount_to_charge(UpToTarget(10_000), 2_000, 1_000),
        Ok(8_000)
    );
    assert_eq!(
        amount_to_charge(UpToTarget(10_000), 9_500, 1_000),
        Ok(1_000)
    );
    assert_eq!(amount_to_charge(Fixed(3_000), 2_000, 1_000), Ok(3_000));
}

proptest! {
    #[test]
    fn r13_valid_settings_charge_at_least_the_minimum_at_the_threshold(
        threshold in 0i64..100_000, amount in 0i64..200_000, target in any::<bool>(),
        minimum in 0i64..5_000,
    ) {
        let rule = if target { UpToTarget(amount) } else { Fixed(amount) };
        if check_amount_rule(threshold, rule, m(minimum)).is_ok() {
            let charge = amount_to_charge(rule, threshold, minimum).unwrap();
            prop_assert!(charge >= minimum);
            match rule {
                // A fixed amount is at least the threshold...
                Fixed(_) => prop_assert!(charge >= threshold),
                // ...and a target is reached from the threshold, above it.
                UpToTarget(t) => prop_assert!(threshold + charge >= t && t > threshold),
            }
        }
    }
}
