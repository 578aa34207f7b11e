//! R6, R18, R26, R27: spending. Whether a debit (or an all-or-nothing batch) is
//! accepted, and what its new balance sets off: an automatic top-up, the
//! approaching-threshold notice, the low-balance notice.

use crate::DomainError;
use crate::ledger::EntryKind;
use crate::money::{positive, sub};

/// What the debit path needs to know of an account, read from its one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceState {
    pub balance: i64,
    /// The balance may not go below this (R6; 0 by default, negative for credit).
    pub credit_limit: i64,
    /// Flagged after a payment that finally failed (R11).
    pub flagged: bool,
}

/// What counts as spending for triggering (R18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriggerOn {
    /// Usage only (the default).
    #[default]
    Usage,
    /// Usage and recurring fees.
    UsageAndFees,
    /// Any debit.
    AnyDebit,
}

impl TriggerOn {
    pub fn parse(s: &str) -> Option<TriggerOn> {
        match s {
            "usage" => Some(TriggerOn::Usage),
            "usage_and_fees" => Some(TriggerOn::UsageAndFees),
            "any_debit" => Some(TriggerOn::AnyDebit),
            _ => None,
        }
    }
    pub fn counts(self, kind: DebitKind) -> bool {
        match self {
            TriggerOn::Usage => kind == DebitKind::Usage,
            TriggerOn::UsageAndFees => matches!(
                kind,
                DebitKind::Usage | DebitKind::Fee | DebitKind::RecurringFee
            ),
            TriggerOn::AnyDebit => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebitKind {
    Usage,
    Fee,
    /// R29: the periodic fee of a resource the account holds (a dedicated number),
    /// charged by refill itself; not accepted from the debit API.
    RecurringFee,
}

impl DebitKind {
    /// The spending kind of a ledger entry, if it is spending (R18: transfers,
    /// top-ups, reversals, refunds and adjustments are not).
    pub fn of_entry(kind: EntryKind) -> Option<DebitKind> {
        match kind {
            EntryKind::Usage => Some(DebitKind::Usage),
            EntryKind::Fee => Some(DebitKind::Fee),
            EntryKind::RecurringFee => Some(DebitKind::RecurringFee),
            _ => None,
        }
    }

    /// The ledger entry kind of spending of this kind.
    pub fn entry_kind(self) -> EntryKind {
        match self {
            DebitKind::Usage => EntryKind::Usage,
            DebitKind::Fee => EntryKind::Fee,
            DebitKind::RecurringFee => EntryKind::RecurringFee,
        }
    }

    pub fn parse(s: &str) -> Option<DebitKind> {
        match s {
            "usage" => Some(DebitKind::Usage),
            "fee" => Some(DebitKind::Fee),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DebitKind::Usage => "usage",
            DebitKind::Fee => "fee",
            DebitKind::RecurringFee => "recurring_fee",
        }
    }
}

/// R6: the balance after taking `amounts` (in order), or the refusal. All or nothing:
/// one item over the limit refuses the whole set and nothing is debited.
pub fn authorize(state: BalanceState, amounts: &[i64]) -> Result<i64, DomainError> {
    if state.flagged && state.balance < 0 {
        return Err(DomainError::AccountBlocked {
            balance: state.balance,
        });
    }
    let mut requested: i64 = 0;
    for &a in amounts {
        requested = requested
            .checked_add(positive(a)?)
            .ok_or(DomainError::AmountOverflow)?;
    }
    let after = sub(state.balance, requested)?;
    if after < state.credit_limit {
        return Err(DomainError::InsufficientBalance {
            balance: state.balance,
            requested,
            credit_limit: state.credit_limit,
        });
    }
    Ok(after)
}

/// The account's notice settings that spending is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpendWatch {
    /// The auto top-up threshold, when auto top-up is active.
    pub auto_threshold: Option<i64>,
    pub trigger_on: TriggerOn,
    /// R27: the low-balance notice threshold; 0 (or less) turns it off.
    pub low_balance_threshold: i64,
    /// R27: the notice is armed (not yet sent for this crossing).
    pub low_balance_armed: bool,
}

/// What a balance change from `before` to `after` sets off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpendEffects {
    /// R18: an automatic top-up is due (the store makes sure only one is in flight, R19).
    pub trigger_top_up: bool,
    /// R26: the balance went below 110% of the auto top-up threshold.
    pub approaching_threshold: bool,
    /// R27: the balance reached the low-balance threshold while the notice was armed.
    pub low_balance: bool,
    /// R27: whether the low-balance notice is armed after this change.
    pub low_balance_armed: bool,
}

/// 110% of the threshold, rounded up, without overflow.
fn approach_level(threshold: i64) -> i64 {
    let t = threshold as i128;
    let level = t + (t.abs() + 9) / 10;
    level.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// R18, R26, R27: the effects of spending `kind` that took the balance from
/// `before` to `after`.
pub fn effects_of_spending(
    watch: SpendWatch,
    kind: DebitKind,
    before: i64,
    after: i64,
) -> SpendEffects {
    effects_of_batch(watch, &[kind], before, after)
}

/// R18, R26, R27: the effects of a batch of spending with items of `kinds` that took
/// the balance from `before` to `after`. The batch counts as spending when any of
/// its items is of a kind that counts (`trigger_on`).
pub fn effects_of_batch(
    watch: SpendWatch,
    kinds: &[DebitKind],
    before: i64,
    after: i64,
) -> SpendEffects {
    let mut fx = effects_of_balance_change(watch, before, after);
    if let Some(threshold) = watch.auto_threshold {
        let counts = kinds.iter().any(|k| watch.trigger_on.counts(*k));
        fx.trigger_top_up = counts && after <= threshold;
        let level = approach_level(threshold);
        fx.approaching_threshold = before >= level && after < level && after > threshold;
    }
    fx
}

/// R27 for any balance change (credits re-arm the notice; transfers out and
/// adjustments may set it off, but never a top-up, R18). The semantics: the notice
/// is armed until it is sent; it is sent by a drop (`after < before`) that ends at or
/// below the low-balance threshold while armed, once, which disarms it; any change
/// that ends above the threshold arms it again. So one crossing sends one notice,
/// however many debits follow, and the next crossing after a recovery sends another.
/// A threshold of 0 (or less) turns it off.
pub fn effects_of_balance_change(watch: SpendWatch, before: i64, after: i64) -> SpendEffects {
    let low = watch.low_balance_threshold;
    let mut fx = SpendEffects {
        low_balance_armed: watch.low_balance_armed,
        ..SpendEffects::default()
    };
    if low <= 0 {
        return fx;
    }
    if watch.low_balance_armed && after <= low && before > after {
        fx.low_balance = true;
        fx.low_balance_armed = false;
    } else if !watch.low_balance_armed && after > low {
        fx.low_balance_armed = true;
    }
    fx
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state(balance: i64) -> BalanceState {
        BalanceState {
            balance,
            credit_limit: 0,
            flagged: false,
        }
    }

    #[test]
    fn r6_debit_below_zero_is_refused_whole() {
        assert_eq!(authorize(state(100), &[60, 40]), Ok(0));
        assert_eq!(
            authorize(state(100), &[60, 41]),
            Err(DomainError::InsufficientBalance {
                balance: 100,
                requested: 101,
                credit_limit: 0
            })
        );
        let credit = BalanceState {
            credit_limit: -50,
            ..state(0)
        };
        assert_eq!(authorize(credit, &[50]), Ok(-50));
        assert!(authorize(credit, &[51]).is_err());
        assert_eq!(
            authorize(state(100), &[0]),
            Err(DomainError::AmountNotPositive)
        );
        assert_eq!(
            authorize(state(100), &[i64::MAX, 1]),
            Err(DomainError::AmountOverflow)
        );
    }

    #[test]
    fn r11_flagged_account_below_zero_is_blocked() {
        let s = BalanceState {
            balance: -10,
            credit_limit: -100,
            flagged: true,
        };
        assert_eq!(
            authorize(s, &[1]),
            Err(DomainError::AccountBlocked { balance: -10 })
        );
    }

    fn watch(threshold: i64) -> SpendWatch {
        SpendWatch {
            auto_threshold: Some(threshold),
            ..SpendWatch::default()
        }
    }

    #[test]
    fn r18_reaching_the_threshold_triggers() {
        assert!(effects_of_spending(watch(500), DebitKind::Usage, 600, 500).trigger_top_up);
        assert!(effects_of_spending(watch(500), DebitKind::Usage, 600, 499).trigger_top_up);
        assert!(!effects_of_spending(watch(500), DebitKind::Usage, 700, 501).trigger_top_up);
    }

    #[test]
    fn r18_what_counts_as_spending_is_configurable() {
        let fee = |on| {
            let w = SpendWatch {
                trigger_on: on,
                ..watch(500)
            };
            effects_of_spending(w, DebitKind::Fee, 600, 400).trigger_top_up
        };
        assert!(!fee(TriggerOn::Usage));
        assert!(fee(TriggerOn::UsageAndFees));
        assert!(fee(TriggerOn::AnyDebit));
        let recurring = |on| {
            let w = SpendWatch {
                trigger_on: on,
                ..watch(500)
            };
            effects_of_spending(w, DebitKind::RecurringFee, 600, 400).trigger_top_up
        };
        assert!(!recurring(TriggerOn::Usage), "R18: usage only by default");
        assert!(
            recurring(TriggerOn::UsageAndFees),
            "R29: recurring fees count"
        );
        assert!(recurring(TriggerOn::AnyDebit));
        assert_eq!(DebitKind::parse("recurring_fee"), None, "refill's own kind");
        let none = SpendWatch::default();
        assert!(!effects_of_spending(none, DebitKind::Usage, 600, 0).trigger_top_up);
    }

    #[test]
    fn r18_a_batch_counts_when_any_of_its_items_counts() {
        let w = watch(500);
        let mixed = [DebitKind::Fee, DebitKind::Usage];
        assert!(effects_of_batch(w, &mixed, 600, 400).trigger_top_up);
        assert!(!effects_of_batch(w, &[DebitKind::Fee], 600, 400).trigger_top_up);
        for k in [DebitKind::Usage, DebitKind::Fee, DebitKind::RecurringFee] {
            assert_eq!(DebitKind::of_entry(k.entry_kind()), Some(k));
        }
        assert_eq!(DebitKind::of_entry(EntryKind::TransferOut), None);
    }

    #[test]
    fn r26_approaching_is_below_110_percent_once() {
        assert!(
            effects_of_spending(watch(1000), DebitKind::Usage, 1200, 1099).approaching_threshold
        );
        assert!(
            !effects_of_spending(watch(1000), DebitKind::Usage, 1099, 1050).approaching_threshold
        );
        // Straight through the threshold: the top-up notice, not the approaching one.
        assert!(
            !effects_of_spending(watch(1000), DebitKind::Usage, 1200, 900).approaching_threshold
        );
    }

    #[test]
    fn r27_low_balance_once_per_crossing_and_rearmed_above() {
        let w = SpendWatch {
            low_balance_threshold: 300,
            low_balance_armed: true,
            ..SpendWatch::default()
        };
        let fx = effects_of_balance_change(w, 400, 300);
        assert!(fx.low_balance && !fx.low_balance_armed);
        let disarmed = SpendWatch {
            low_balance_armed: false,
            ..w
        };
        assert!(!effects_of_balance_change(disarmed, 300, 200).low_balance);
        assert!(effects_of_balance_change(disarmed, 200, 301).low_balance_armed);
        assert!(!effects_of_balance_change(disarmed, 200, 300).low_balance_armed);
        let off = SpendWatch {
            low_balance_threshold: 0,
            ..w
        };
        assert!(!effects_of_balance_change(off, 400, 0).low_balance);
    }

    proptest! {
        #[test]
        fn r6_accepted_debits_never_cross_the_limit(
            balance in 0i64..10_000, limit in -1_000i64..=0,
            amounts in proptest::collection::vec(1i64..5_000, 1..8)
        ) {
            let s = BalanceState { balance, credit_limit: limit, flagged: false };
            match authorize(s, &amounts) {
                Ok(after) => {
                    prop_assert!(after >= limit);
                    prop_assert_eq!(after, balance - amounts.iter().sum::<i64>());
                }
                Err(_) => prop_assert!(balance - amounts.iter().sum::<i64>() < limit),
            }
        }
    }
}
