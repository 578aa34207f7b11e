//! The one place a journal meets a balance (R3, R6, R11, R18, R26, R27, R31): the
//! new balance of one account after a journal, checked against its credit limit
//! where the journal spends or sends money, the account's flag, the low-balance
//! notice's arming, the automatic top-up it triggers and the notices it sends.
//!
//! What the journal is comes from the kinds of the account's own postings:
//! - spending (usage, fees, recurring fees): checked (R6); triggers per `trigger_on`
//!   when any item is of a kind that counts (R18); may send the approaching notice
//!   (R26) and the low-balance notice (R27);
//! - a transfer out or an adjustment down: checked (R6); may send the low-balance
//!   notice; never triggers (R18);
//! - a top-up or a transfer in: a credit; re-arms the low-balance notice;
//! - a reversal of a failed payment (R11): not checked (the bank took the money
//!   back); flags the account; a refund (R31): not checked; flags the account when
//!   it ends below zero. Neither triggers (R18); both may send the low-balance
//!   notice, as any drop through its threshold does (R27, one semantics for every
//!   change: see `debit::effects_of_balance_change`).

use crate::debit::{
    BalanceState, DebitKind, SpendWatch, effects_of_balance_change, effects_of_batch,
};
use crate::error::invariant;
use crate::ledger::{EntryKind, Journal};
use crate::money::add;
use crate::{DomainError, debit};

/// A notice a balance change sends (R26, R27).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// R27: the balance reached the low-balance threshold (`balance.low`).
    Low { balance: i64, threshold: i64 },
    /// R26: the balance went below 110% of the auto top-up threshold
    /// (`balance.approaching_threshold`).
    Approaching { balance: i64, threshold: i64 },
}

/// What a journal does to one account and what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceUpdate {
    pub before: i64,
    pub after: i64,
    /// R27: the low-balance notice is armed after the change.
    pub low_balance_armed: bool,
    /// R11, R31: the account is to be flagged (usage refused while below zero).
    pub flag: bool,
    /// R18: an automatic top-up is due (the store keeps one in flight, R19).
    pub trigger_top_up: bool,
    /// R26, R27: in the order they are to be emitted.
    pub notices: Vec<Notice>,
}

/// What the account's postings in a journal are, by their kinds.
struct Movement {
    net: i64,
    spending: Vec<DebitKind>,
    /// Money out that the account's limit must allow (R6).
    checked: bool,
    flag_always: bool,
    flag_below_zero: bool,
}

fn movement(journal: &Journal, account: &str) -> Result<Movement, DomainError> {
    let mut m = Movement {
        net: 0,
        spending: Vec::new(),
        checked: false,
        flag_always: false,
        flag_below_zero: false,
    };
    let mut posted = false;
    for p in journal
        .postings
        .iter()
        .filter(|p| p.ledger_account == account)
    {
        posted = true;
        m.net = add(m.net, p.amount)?;
        if let Some(kind) = DebitKind::of_entry(p.kind) {
            m.spending.push(kind);
        }
        match p.kind {
            EntryKind::Usage
            | EntryKind::Fee
            | EntryKind::RecurringFee
            | EntryKind::TransferOut
            | EntryKind::Adjustment => m.checked = true,
            EntryKind::TopUpReversal => m.flag_always = true,
            EntryKind::Refund => m.flag_below_zero = true,
            EntryKind::TopUp
            | EntryKind::TransferIn
            | EntryKind::Tax
            | EntryKind::ChargeRounding => {}
        }
    }
    invariant(posted, "R3", "the journal posts to the account")?;
    m.checked &= m.net < 0;
    Ok(m)
}

/// R3, R6, R11, R18, R26, R27, R31: applies `journal` to `account`, whose balance
/// state and notice settings are `state` and `watch`. Refused whole (nothing to
/// write) when it would take a spending or sending account below its limit, or
/// when the journal does not sum to zero.
pub fn apply_journal(
    journal: &Journal,
    account: &str,
    state: BalanceState,
    watch: SpendWatch,
) -> Result<BalanceUpdate, DomainError> {
    invariant(journal.is_balanced(), "R3", "a journal sums to zero")?;
    let m = movement(journal, account)?;
    let after = if m.checked {
        let out = m.net.checked_neg().ok_or(DomainError::AmountOverflow)?;
        let after = debit::authorize(state, &[out])?;
        invariant(
            after >= state.credit_limit,
            "R6",
            "a balance is never below its limit after a debit",
        )?;
        after
    } else {
        add(state.balance, m.net)?
    };
    invariant(
        after.checked_sub(state.balance) == Some(m.net),
        "R3",
        "the balance moves by the journal's postings",
    )?;
    let fx = if !m.spending.is_empty() && m.net < 0 {
        effects_of_batch(watch, &m.spending, state.balance, after)
    } else {
        effects_of_balance_change(watch, state.balance, after)
    };
    let mut notices = Vec::new();
    if fx.low_balance {
        notices.push(Notice::Low {
            balance: after,
            threshold: watch.low_balance_threshold,
        });
    }
    if fx.approaching_threshold
        && let Some(threshold) = watch.auto_threshold
    {
        notices.push(Notice::Approaching {
            balance: after,
            threshold,
        });
    }
    Ok(BalanceUpdate {
        before: state.balance,
        after,
        low_balance_armed: fx.low_balance_armed,
        flag: m.flag_always || (m.flag_below_zero && after < 0),
        trigger_top_up: fx.trigger_top_up,
        notices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debit::TriggerOn;
    use crate::ledger::{self, Posting, system};
    use proptest::prelude::*;

    fn state(balance: i64) -> BalanceState {
        BalanceState {
            balance,
            credit_limit: 0,
            flagged: false,
        }
    }

    fn watch() -> SpendWatch {
        SpendWatch {
            auto_threshold: Some(1_000),
            trigger_on: TriggerOn::Usage,
            low_balance_threshold: 500,
            low_balance_armed: true,
        }
    }

    #[test]
    fn r6_r18_spending_is_checked_and_triggers_when_any_item_counts() {
        use EntryKind::*;
        let j = ledger::spending("a", &[(Fee, 100), (Usage, 150)]).unwrap();
        let u = apply_journal(&j, "a", state(1_200), watch()).unwrap();
        assert_eq!((u.before, u.after), (1_200, 950));
        assert!(u.trigger_top_up, "R18: a usage item counts");
        assert!(
            u.notices.is_empty(),
            "through the threshold: the top-up, no notice"
        );
        let near = apply_journal(&j, "a", state(1_300), watch()).unwrap();
        assert!(!near.trigger_top_up);
        assert_eq!(
            near.notices,
            vec![Notice::Approaching {
                balance: 1_050,
                threshold: 1_000
            }]
        );
        let fee_only = ledger::spending("a", &[(Fee, 250)]).unwrap();
        assert!(
            !apply_journal(&fee_only, "a", state(1_200), watch())
                .unwrap()
                .trigger_top_up
        );
        let e = apply_journal(&j, "a", state(249), watch()).unwrap_err();
        assert_eq!(e.rule(), Some("R6"));
    }

    #[test]
    fn r18_transfers_out_are_checked_and_never_trigger() {
        let j = ledger::transfer("a", "b", 900).unwrap();
        let out = apply_journal(&j, "a", state(1_200), watch()).unwrap();
        assert_eq!(out.after, 300);
        assert!(!out.trigger_top_up);
        assert_eq!(
            out.notices,
            vec![Notice::Low {
                balance: 300,
                threshold: 500
            }],
            "R27: a drop through the low threshold is told, whatever its cause"
        );
        assert!(!out.low_balance_armed);
        assert!(
            apply_journal(&j, "a", state(899), watch())
                .unwrap_err()
                .is_shortfall()
        );
        let into = apply_journal(&j, "b", state(0), watch()).unwrap();
        assert_eq!((into.after, into.low_balance_armed), (900, true));
    }

    #[test]
    fn r27_a_credit_rearms_the_notice() {
        let j = ledger::top_up("a", 1_000, 200, 1_200).unwrap();
        let disarmed = SpendWatch {
            low_balance_armed: false,
            ..watch()
        };
        let u = apply_journal(&j, "a", state(100), disarmed).unwrap();
        assert_eq!((u.after, u.low_balance_armed, u.flag), (1_100, true, false));
        assert!(u.notices.is_empty() && !u.trigger_top_up);
    }

    #[test]
    fn r11_a_reversal_is_not_checked_and_flags_the_account() {
        let j = ledger::reverse_top_up("a", EntryKind::TopUpReversal, 1_000, 200, 1_200).unwrap();
        let u = apply_journal(&j, "a", state(300), watch()).unwrap();
        assert_eq!((u.after, u.flag, u.trigger_top_up), (-700, true, false));
        let still_positive = apply_journal(&j, "a", state(5_000), watch()).unwrap();
        assert!(still_positive.flag, "R11: flagged whatever the balance");
    }

    #[test]
    fn r31_a_refund_flags_only_below_zero_and_never_triggers() {
        let j = ledger::refund_top_up("a", 600, 120, 0).unwrap();
        let u = apply_journal(&j, "a", state(2_000), watch()).unwrap();
        assert_eq!((u.after, u.flag, u.trigger_top_up), (1_400, false, false));
        let below = apply_journal(&j, "a", state(100), watch()).unwrap();
        assert_eq!((below.after, below.flag), (-500, true));
    }

    #[test]
    fn r3_an_unbalanced_journal_or_a_foreign_one_is_refused() {
        let bad = Journal {
            postings: vec![Posting {
                ledger_account: "a".into(),
                kind: EntryKind::Usage,
                amount: -5,
            }],
        };
        let r = std::panic::catch_unwind(|| apply_journal(&bad, "a", state(10), watch()));
        // Asserted in debug builds, refused in release ones.
        assert_eq!(r.is_err(), cfg!(debug_assertions));
        if let Ok(r) = r {
            assert_eq!(r.unwrap_err().code(), "invariant_broken");
        }
        let other = ledger::debit("b", EntryKind::Usage, 5).unwrap();
        let r = std::panic::catch_unwind(|| apply_journal(&other, "a", state(10), watch()));
        assert!(r.is_err() || r.unwrap().is_err());
        let revenue = apply_journal(&other, system::REVENUE_USAGE, state(0), watch()).unwrap();
        assert_eq!(revenue.after, 5);
    }

    #[test]
    fn r11_a_blocked_account_cannot_spend_but_can_be_credited() {
        let blocked = BalanceState {
            balance: -10,
            credit_limit: -100,
            flagged: true,
        };
        let spend = ledger::debit("a", EntryKind::Usage, 1).unwrap();
        assert_eq!(
            apply_journal(&spend, "a", blocked, watch())
                .unwrap_err()
                .code(),
            "account_blocked"
        );
        let credit = ledger::top_up("a", 1_000, 0, 1_000).unwrap();
        assert_eq!(
            apply_journal(&credit, "a", blocked, watch()).unwrap().after,
            990
        );
    }

    proptest! {
        #[test]
        fn r6_r27_spending_never_crosses_the_limit_and_notifies_once_per_crossing(
            start in 0i64..5_000, limit in -1_000i64..=0,
            steps in proptest::collection::vec((any::<bool>(), 1i64..1_500), 1..40),
        ) {
            let mut s = BalanceState { balance: start, credit_limit: limit, flagged: false };
            let mut w = SpendWatch { low_balance_armed: start > 500, ..watch() };
            let mut below = start <= 500;
            for (spend, amount) in steps {
                let j = match spend {
                    true => ledger::debit("a", EntryKind::Usage, amount).unwrap(),
                    false => ledger::top_up("a", amount, 0, amount).unwrap(),
                };
                let Ok(u) = apply_journal(&j, "a", s, w) else {
                    prop_assert!(spend && s.balance - amount < limit);
                    continue;
                };
                prop_assert!(u.after >= limit);
                let lows = u.notices.iter().filter(|n| matches!(n, Notice::Low { .. })).count();
                // A notice exactly when the balance newly reaches the threshold.
                let now_below = u.after <= 500;
                prop_assert_eq!(lows, usize::from(now_below && !below));
                below = now_below;
                s.balance = u.after;
                w.low_balance_armed = u.low_balance_armed;
            }
        }
    }
}
