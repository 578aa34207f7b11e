//! R31: the arithmetic of a refund reported by the gateway. The gateway reports the
//! total refunded so far on a charge; what this report adds is split between the
//! top-up's credit and its tax, in proportion, so that the parts of several partial
//! refunds add up exactly to what was charged, and never more.

use crate::DomainError;
use crate::error::invariant;
use crate::ledger::credit_share;
use crate::money::sub;

/// What one refund report reverses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundParts {
    /// All refunds of the charge so far, at most its total.
    pub refunded_total: i64,
    /// What this report adds.
    pub refunded: i64,
    /// Of it, the part of the customer's credit to reverse...
    pub credit: i64,
    /// ...and the part of the tax.
    pub tax: i64,
}

/// R31: the parts of a refund of a top-up (`amount` credited, `total` charged) of
/// which `already` was reversed before, the gateway now reporting
/// `reported_total`. None when it adds nothing (a repeated or older report).
pub fn refund_parts(
    reported_total: i64,
    already: i64,
    amount: i64,
    total: i64,
) -> Result<Option<RefundParts>, DomainError> {
    let gross = reported_total.clamp(0, total.max(0));
    if gross <= already {
        return Ok(None);
    }
    let credit = sub(
        credit_share(gross, amount, total),
        credit_share(already, amount, total),
    )?;
    let refunded = sub(gross, already)?;
    let tax = sub(refunded, credit)?;
    invariant(
        credit >= 0 && tax >= 0 && gross <= total,
        "R31",
        "a refund reverses parts of what was charged, never more",
    )?;
    Ok(Some(RefundParts {
        refunded_total: gross,
        refunded,
        credit,
        tax,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn r31_a_partial_refund_splits_credit_and_tax_in_proportion() {
        assert_eq!(
            refund_parts(600, 0, 1_000, 1_200),
            Ok(Some(RefundParts {
                refunded_total: 600,
                refunded: 600,
                credit: 500,
                tax: 100
            }))
        );
        assert_eq!(
            refund_parts(600, 600, 1_000, 1_200),
            Ok(None),
            "seen before"
        );
        assert_eq!(
            refund_parts(500, 600, 1_000, 1_200),
            Ok(None),
            "an older report"
        );
        let rest = refund_parts(5_000, 600, 1_000, 1_200).unwrap().unwrap();
        assert_eq!(
            (rest.refunded_total, rest.refunded, rest.credit, rest.tax),
            (1_200, 600, 500, 100),
            "never more than was charged"
        );
        assert_eq!(refund_parts(-5, 0, 1_000, 1_200), Ok(None));
    }

    proptest! {
        #[test]
        fn r31_the_parts_of_all_refunds_add_up_to_the_charge(
            amount in 1i64..1_000_000, tax in 0i64..300_000,
            reports in proptest::collection::vec(0i64..1_400_000, 1..12),
        ) {
            let total = amount + tax;
            let (mut already, mut credit, mut taxes) = (0, 0, 0);
            for r in reports.into_iter().chain([total]) {
                if let Some(p) = refund_parts(r, already, amount, total).unwrap() {
                    prop_assert!(p.credit >= 0 && p.tax >= 0);
                    prop_assert_eq!(p.credit + p.tax, p.refunded);
                    already = p.refunded_total;
                    credit += p.credit;
                    taxes += p.tax;
                }
                prop_assert!(credit <= amount && taxes <= tax);
            }
            prop_assert_eq!((credit, taxes), (amount, tax));
        }
    }
}
