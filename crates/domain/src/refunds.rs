//! R31: the arithmetic of a refund reported by the gateway. The gateway reports the
//! total refunded so far on a charge; what this report adds is split between the
//! top-up's credit and its tax, in proportion, so that the parts of several partial
//! refunds add up exactly to what was charged, and never more. A charge rounded down
//! for the gateway (R1) gave the customer slightly more credit than it charged: its
//! refund takes back that credit, and the rounding returns to the operator.

use crate::DomainError;
use crate::error::invariant;
use crate::money::{add, sub};

/// What one refund report reverses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundParts {
    /// All refunds of the charge so far, at most its total.
    pub refunded_total: i64,
    /// What this report adds.
    pub refunded: i64,
    /// Of it, the part of the customer's credit to reverse...
    pub credit: i64,
    /// ...and the part of the tax...
    pub tax: i64,
    /// ...and the part of the charge's rounding (R1) that comes back to the operator:
    /// `refunded = credit + tax - rounding`.
    pub rounding: i64,
}

/// Of `gross` refunded of a charge of `total` (`amount` credited, `tax` owed): the
/// credit and tax it stands for, so far. Tax first, in proportion and rounded up; the
/// rest pays back the credit, of which the charge paid `total - tax` (less than
/// `amount` by the rounding). Each grows with `gross`, one unit at a time at most for
/// the tax, so the parts of successive reports are never negative.
pub(crate) fn shares(gross: i64, amount: i64, tax: i64, total: i64) -> (i64, i64) {
    let ratio = |n: i64, of: i64, d: i64| i128::from(n) * i128::from(of) / i128::from(d.max(1));
    let tax_share =
        (i128::from(gross) * i128::from(tax) + i128::from(total) - 1) / i128::from(total.max(1));
    let paid = i128::from(gross) - tax_share;
    let credit_paid = i64::try_from(i128::from(total) - i128::from(tax)).unwrap_or(0);
    let credit = ratio(i64::try_from(paid).unwrap_or(0), amount, credit_paid);
    (
        i64::try_from(credit).unwrap_or(amount),
        i64::try_from(tax_share).unwrap_or(tax),
    )
}

/// R31: the parts of a refund of a top-up (`amount` credited, `tax` owed, `total`
/// charged) of which `already` was reversed before, the gateway now reporting
/// `reported_total`. None when it adds nothing (a repeated or older report).
pub fn refund_parts(
    reported_total: i64,
    already: i64,
    amount: i64,
    tax: i64,
    total: i64,
) -> Result<Option<RefundParts>, DomainError> {
    let gross = reported_total.clamp(0, total.max(0));
    if gross <= already {
        return Ok(None);
    }
    invariant(
        total > tax && total <= add(amount, tax)?,
        "R1",
        "a charge is its amount and tax, rounded down",
    )?;
    let (credit_now, tax_now) = shares(gross, amount, tax, total);
    let (credit_before, tax_before) = shares(already.max(0), amount, tax, total);
    let credit = sub(credit_now, credit_before)?;
    let tax = sub(tax_now, tax_before)?;
    let refunded = sub(gross, already)?;
    let rounding = sub(add(credit, tax)?, refunded)?;
    invariant(
        credit >= 0 && tax >= 0 && rounding >= 0 && gross <= total,
        "R31",
        "a refund reverses parts of what was charged, never more",
    )?;
    Ok(Some(RefundParts {
        refunded_total: gross,
        refunded,
        credit,
        tax,
        rounding,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn r31_a_partial_refund_splits_credit_and_tax_in_proportion() {
        assert_eq!(
            refund_parts(600, 0, 1_000, 200, 1_200),
            Ok(Some(RefundParts {
                refunded_total: 600,
                refunded: 600,
                credit: 500,
                tax: 100,
                rounding: 0,
            }))
        );
        assert_eq!(
            refund_parts(600, 600, 1_000, 200, 1_200),
            Ok(None),
            "seen before"
        );
        assert_eq!(
            refund_parts(500, 600, 1_000, 200, 1_200),
            Ok(None),
            "an older report"
        );
        let rest = refund_parts(5_000, 600, 1_000, 200, 1_200)
            .unwrap()
            .unwrap();
        assert_eq!(
            (rest.refunded_total, rest.refunded, rest.credit, rest.tax),
            (1_200, 600, 500, 100),
            "never more than was charged"
        );
        assert_eq!(refund_parts(-5, 0, 1_000, 200, 1_200), Ok(None));
    }

    #[test]
    fn r1_the_refund_of_a_rounded_charge_takes_back_its_credit() {
        // 1.101 BHD credited, 1.100 charged: refunding 1.100 takes back 1.101.
        let p = refund_parts(1_100, 0, 1_101, 0, 1_100).unwrap().unwrap();
        assert_eq!(
            (p.refunded, p.credit, p.tax, p.rounding),
            (1_100, 1_101, 0, 1)
        );
        let half = refund_parts(550, 0, 1_101, 0, 1_100).unwrap().unwrap();
        assert_eq!((half.credit, half.tax, half.rounding), (550, 0, 0));
        // Today's exact charges split as they always did.
        let p = refund_parts(7, 0, 1_000, 200, 1_200).unwrap().unwrap();
        assert_eq!((p.credit, p.tax, p.rounding), (5, 2, 0));
    }

    proptest! {
        #[test]
        fn r31_the_parts_of_all_refunds_add_up_to_the_charge(
            amount in 1i64..1_000_000, tax in 0i64..300_000, rounded in 0i64..10,
            reports in proptest::collection::vec(0i64..1_400_000, 1..12),
        ) {
            // R1: a charge rounded down by less than the gateway's step.
            let rounding = rounded.min(amount - 1);
            let total = amount + tax - rounding;
            let (mut already, mut credit, mut taxes, mut back) = (0, 0, 0, 0);
            for r in reports.into_iter().chain([total]) {
                if let Some(p) = refund_parts(r, already, amount, tax, total).unwrap() {
                    prop_assert!(p.credit >= 0 && p.tax >= 0 && p.rounding >= 0);
                    prop_assert_eq!(p.credit + p.tax - p.rounding, p.refunded);
                    already = p.refunded_total;
                    credit += p.credit;
                    taxes += p.tax;
                    back += p.rounding;
                }
                prop_assert!(credit <= amount && taxes <= tax);
            }
            prop_assert_eq!((credit, taxes, back), (amount, tax, rounding));
        }
    }
}
