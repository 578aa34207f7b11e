//! R3: an append-only, double-entry ledger. Every change of a balance is a journal of
//! postings that sum to zero: the customer's balance against a system account. Entries
//! are never edited, only reversed by new journals.

use crate::DomainError;
use crate::error::invariant;
use crate::money::{add, positive, sub};

/// The system accounts a customer balance is posted against. They have no stored
/// balance (that would be one hot row shared by every debit); theirs is the sum of
/// their entries.
pub mod system {
    /// Money received from (or returned to) the payment gateway.
    pub const GATEWAY_CLEARING: &str = "sys:gateway_clearing";
    /// Usage sold (messages, calls).
    pub const REVENUE_USAGE: &str = "sys:revenue_usage";
    /// Recurring fees (dedicated numbers, renewals).
    pub const REVENUE_FEES: &str = "sys:revenue_fees";
    /// Tax collected on top-ups, owed to the tax authority.
    pub const TAX_PAYABLE: &str = "sys:tax_payable";
    /// Operator adjustments.
    pub const ADJUSTMENTS: &str = "sys:adjustments";
    /// R1: what charges were rounded by so that the gateway takes them (rounded down:
    /// what the operator gave up).
    pub const CHARGE_ROUNDING: &str = "sys:charge_rounding";
}

/// What an entry is, in the customer's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Usage,
    Fee,
    /// R29: a resource's periodic fee (a dedicated number).
    RecurringFee,
    TopUp,
    TopUpReversal,
    TransferIn,
    TransferOut,
    Refund,
    Tax,
    Adjustment,
    /// R1: a charge rounded to what the gateway takes.
    ChargeRounding,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        use EntryKind::*;
        match self {
            Usage => "usage",
            Fee => "fee",
            RecurringFee => "recurring_fee",
            TopUp => "top_up",
            TopUpReversal => "top_up_reversal",
            TransferIn => "transfer_in",
            TransferOut => "transfer_out",
            Refund => "refund",
            Tax => "tax",
            Adjustment => "adjustment",
            ChargeRounding => "charge_rounding",
        }
    }
}

/// One line of a journal: `amount` is signed; positive raises the ledger account's
/// balance (for a customer, credit), negative lowers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub ledger_account: String,
    pub kind: EntryKind,
    pub amount: i64,
}

/// A balanced set of postings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    pub postings: Vec<Posting>,
}

impl Journal {
    /// Checks the double-entry invariant: the postings sum to exactly zero.
    pub fn is_balanced(&self) -> bool {
        self.postings
            .iter()
            .try_fold(0i64, |acc, p| acc.checked_add(p.amount))
            == Some(0)
    }

    /// What the journal does to one ledger account.
    pub fn net_for(&self, ledger_account: &str) -> i64 {
        self.postings
            .iter()
            .filter(|p| p.ledger_account == ledger_account)
            .map(|p| p.amount)
            .sum()
    }
}

/// Every journal made here sums to zero by construction; the invariant is checked
/// where it is made (R3), as TigerBeetle checks its postconditions.
fn balanced(postings: Vec<Posting>) -> Result<Journal, DomainError> {
    let journal = Journal { postings };
    invariant(journal.is_balanced(), "R3", "a journal sums to zero")?;
    Ok(journal)
}

fn posting(account: &str, kind: EntryKind, amount: i64) -> Posting {
    Posting {
        ledger_account: account.to_string(),
        kind,
        amount,
    }
}

/// Spending (R6): the customer's balance against usage or fee revenue.
pub fn debit(account: &str, kind: EntryKind, amount: i64) -> Result<Journal, DomainError> {
    spending(account, &[(kind, amount)])
}

/// The revenue account that spending of `kind` is posted against.
fn revenue_of(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Fee | EntryKind::RecurringFee => system::REVENUE_FEES,
        _ => system::REVENUE_USAGE,
    }
}

/// Spending of several items at once (R6, a batch of debits): for each kind of item,
/// in the order the kinds first appear, one customer posting for the sum of that
/// kind's items; then the revenue's posting of each kind, in the same order. Why per
/// kind and not per item: a batch of 100 messages is then two entries, not 200, and
/// the entry lists its items (the storage of a row per item bounded the batch
/// endpoint). So the first half of the postings are the customer's, one per
/// kind, and their kinds say which items each sums.
pub fn spending(account: &str, items: &[(EntryKind, i64)]) -> Result<Journal, DomainError> {
    let kinds = kinds_of(items);
    let mut sums = vec![0i64; kinds.len()];
    for &(kind, amount) in items {
        let at = kinds.iter().position(|k| *k == kind).unwrap_or(0);
        sums[at] = add(sums[at], positive(amount)?)?;
    }
    if kinds.is_empty() {
        return Err(DomainError::AmountNotPositive);
    }
    let customer = kinds
        .iter()
        .zip(&sums)
        .map(|(&k, &s)| posting(account, k, -s));
    let revenue = kinds
        .iter()
        .zip(&sums)
        .map(|(&k, &s)| posting(revenue_of(k), k, s));
    balanced(customer.chain(revenue).collect())
}

/// The revenue side of many debits posted as one journal (a batch of the debit
/// pipeline): per currency, revenue account and kind, one posting summing the
/// revenue postings of every debit's `spending`. The customers' postings stay one per
/// debit and kind, so each debit keeps its own entry; a revenue entry per debit was
/// half the rows a hot batch wrote (measured: a third of the batch's time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevenueSums {
    sums: Vec<(String, Posting)>,
}

impl RevenueSums {
    /// These sums with `revenue` (postings of one `spending`, in `currency`) added;
    /// an error, and `self` untouched, if a sum would overflow.
    pub fn plus(&self, currency: &str, revenue: &[Posting]) -> Result<RevenueSums, DomainError> {
        let mut next = self.clone();
        for p in revenue {
            let same = |(c, s): &&mut (String, Posting)| {
                c == currency && s.ledger_account == p.ledger_account && s.kind == p.kind
            };
            match next.sums.iter_mut().find(same) {
                Some((_, sum)) => sum.amount = add(sum.amount, p.amount)?,
                None => next.sums.push((currency.to_string(), p.clone())),
            }
        }
        Ok(next)
    }

    /// Each sum with its currency, in the order they first appeared.
    pub fn postings(&self) -> impl Iterator<Item = (&str, &Posting)> {
        self.sums.iter().map(|(c, p)| (c.as_str(), p))
    }
}

/// The kinds of `items`, each once, in the order they first appear.
fn kinds_of(items: &[(EntryKind, i64)]) -> Vec<EntryKind> {
    let mut kinds: Vec<EntryKind> = Vec::with_capacity(1);
    for (kind, _) in items {
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    kinds
}

/// A paid top-up (R10): the gateway collected `total`; the customer is credited
/// `amount`, the tax is owed, and what the charge was rounded by for the gateway (R1:
/// `total - amount - tax`, usually 0) is the operator's.
pub fn top_up(account: &str, amount: i64, tax: i64, total: i64) -> Result<Journal, DomainError> {
    let amount = positive(amount)?;
    let rounding = sub(total, add(amount, tax)?)?;
    let mut postings = vec![
        posting(account, EntryKind::TopUp, amount),
        posting(system::GATEWAY_CLEARING, EntryKind::TopUp, -total),
    ];
    if tax != 0 {
        postings.push(posting(system::TAX_PAYABLE, EntryKind::Tax, tax));
    }
    if rounding != 0 {
        postings.push(posting(
            system::CHARGE_ROUNDING,
            EntryKind::ChargeRounding,
            rounding,
        ));
    }
    balanced(postings)
}

/// Reverses a top-up whose payment finally failed (R11): the exact mirror of its
/// credit (`amount`, `tax` and `total` as in `top_up`).
pub fn reverse_top_up(
    account: &str,
    kind: EntryKind,
    amount: i64,
    tax: i64,
    total: i64,
) -> Result<Journal, DomainError> {
    let mut journal = top_up(account, amount, tax, total)?;
    for p in &mut journal.postings {
        p.amount = -p.amount;
        if p.kind == EntryKind::TopUp {
            p.kind = kind;
        }
    }
    balanced(journal.postings)
}

/// A refund made at the gateway (R31): `credit` of the top-up's credit and `tax` of
/// its tax go back, against the gateway clearing account, and `rounding` of what its
/// charge was rounded down by (R1) comes back to the operator: the refund is `credit +
/// tax - rounding`. Any part may be zero (a small refund can fall wholly on one side
/// when it is split in proportion).
pub fn refund_top_up(
    account: &str,
    credit: i64,
    tax: i64,
    rounding: i64,
) -> Result<Journal, DomainError> {
    if credit < 0 || tax < 0 || rounding < 0 {
        return Err(DomainError::AmountNotPositive);
    }
    let refunded = positive(sub(add(credit, tax)?, rounding)?)?;
    let mut postings = vec![posting(
        system::GATEWAY_CLEARING,
        EntryKind::Refund,
        refunded,
    )];
    if credit > 0 {
        postings.push(posting(account, EntryKind::Refund, -credit));
    }
    if tax > 0 {
        postings.push(posting(system::TAX_PAYABLE, EntryKind::Tax, -tax));
    }
    if rounding > 0 {
        postings.push(posting(
            system::CHARGE_ROUNDING,
            EntryKind::ChargeRounding,
            rounding,
        ));
    }
    balanced(postings)
}

/// R31: the part of a top-up's credit that `refunded` of its `total` stands for, in
/// proportion (rounded down). At `refunded == total` it is the whole `amount`, so the
/// parts of several partial refunds add up exactly.
pub fn credit_share(refunded: i64, amount: i64, total: i64) -> i64 {
    if total <= 0 {
        return 0;
    }
    let share = i128::from(refunded.clamp(0, total)) * i128::from(amount) / i128::from(total);
    i64::try_from(share).unwrap_or(amount)
}

/// Moves credit between a main account and its sub-account (R4, R12, R15).
pub fn transfer(from: &str, to: &str, amount: i64) -> Result<Journal, DomainError> {
    let amount = positive(amount)?;
    balanced(vec![
        posting(from, EntryKind::TransferOut, -amount),
        posting(to, EntryKind::TransferIn, amount),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn r3_top_up_with_tax_balances() {
        let j = top_up("acct_1", 1000, 200, 1200).unwrap();
        assert!(j.is_balanced());
        assert_eq!(j.net_for("acct_1"), 1000);
        assert_eq!(j.net_for(system::TAX_PAYABLE), 200);
        assert_eq!(j.net_for(system::GATEWAY_CLEARING), -1200);
    }

    #[test]
    fn r1_a_rounded_charge_books_its_rounding_to_the_operator() {
        // 1.101 BHD credited, charged 1.100 (Stripe takes multiples of 10 fils).
        let j = top_up("a", 1_101, 0, 1_100).unwrap();
        assert!(j.is_balanced());
        assert_eq!(j.net_for("a"), 1_101, "the credit is never rounded");
        assert_eq!(j.net_for(system::GATEWAY_CLEARING), -1_100);
        assert_eq!(j.net_for(system::CHARGE_ROUNDING), -1);
        let back = reverse_top_up("a", EntryKind::TopUpReversal, 1_101, 0, 1_100).unwrap();
        assert_eq!(back.net_for(system::CHARGE_ROUNDING), 1);
        let refund = refund_top_up("a", 1_101, 0, 1).unwrap();
        assert_eq!(refund.net_for(system::GATEWAY_CLEARING), 1_100);
        assert_eq!(refund.net_for(system::CHARGE_ROUNDING), 1);
        assert!(refund_top_up("a", 5, 0, -1).is_err());
    }

    #[test]
    fn r3_reversal_mirrors_the_credit() {
        let credit = top_up("a", 1000, 200, 1200).unwrap();
        let reversal = reverse_top_up("a", EntryKind::TopUpReversal, 1000, 200, 1200).unwrap();
        assert!(reversal.is_balanced());
        assert_eq!(reversal.net_for("a"), -credit.net_for("a"));
        assert_eq!(
            reversal.net_for(system::GATEWAY_CLEARING),
            -credit.net_for(system::GATEWAY_CLEARING)
        );
    }

    #[test]
    fn r3_spending_posts_one_customer_and_one_revenue_line_per_kind() {
        use EntryKind::*;
        let items = [(Usage, 5), (Fee, 7), (Usage, 3), (RecurringFee, 2)];
        let j = spending("a", &items).unwrap();
        assert!(j.is_balanced());
        let lines: Vec<(&str, EntryKind, i64)> = j
            .postings
            .iter()
            .map(|p| (p.ledger_account.as_str(), p.kind, p.amount))
            .collect();
        assert_eq!(
            lines,
            [
                ("a", Usage, -8),
                ("a", Fee, -7),
                ("a", RecurringFee, -2),
                (system::REVENUE_USAGE, Usage, 8),
                (system::REVENUE_FEES, Fee, 7),
                (system::REVENUE_FEES, RecurringFee, 2),
            ]
        );
        assert_eq!(kinds_of(&items), [Usage, Fee, RecurringFee]);
        assert_eq!(spending("a", &[(Usage, 5)]), debit("a", Usage, 5));
    }

    #[test]
    fn r3_a_batch_of_debits_posts_one_revenue_line_per_currency_account_and_kind() {
        use EntryKind::*;
        let revenue = |items: &[(EntryKind, i64)]| {
            let j = spending("a", items).unwrap();
            j.postings[j.postings.len() / 2..].to_vec()
        };
        let sums = RevenueSums::default();
        let sums = sums.plus("GBP", &revenue(&[(Usage, 5), (Fee, 7)])).unwrap();
        let sums = sums.plus("GBP", &revenue(&[(Usage, 3)])).unwrap();
        let sums = sums.plus("EUR", &revenue(&[(Usage, 4)])).unwrap();
        let sums = sums
            .plus("GBP", &revenue(&[(RecurringFee, 2), (Fee, 1)]))
            .unwrap();
        let lines: Vec<(&str, &str, EntryKind, i64)> = sums
            .postings()
            .map(|(c, p)| (c, p.ledger_account.as_str(), p.kind, p.amount))
            .collect();
        assert_eq!(
            lines,
            [
                ("GBP", system::REVENUE_USAGE, Usage, 8),
                ("GBP", system::REVENUE_FEES, Fee, 8),
                ("EUR", system::REVENUE_USAGE, Usage, 4),
                ("GBP", system::REVENUE_FEES, RecurringFee, 2),
            ]
        );
        let most = revenue(&[(Usage, crate::money::MAX_AMOUNT)]);
        let mut full = RevenueSums::default();
        let fit = i64::MAX / crate::money::MAX_AMOUNT;
        for _ in 0..fit {
            full = full.plus("GBP", &most).unwrap();
        }
        assert!(
            full.plus("GBP", &most).is_err(),
            "the sum would pass i64::MAX"
        );
        let (_, sum) = full.postings().next().unwrap();
        assert_eq!(sum.amount, fit * crate::money::MAX_AMOUNT);
    }

    #[test]
    fn r1_spending_refuses_an_empty_batch_a_bad_item_and_an_overflowing_total() {
        use EntryKind::*;
        assert!(spending("a", &[]).is_err());
        assert!(spending("a", &[(Usage, 5), (Usage, 0)]).is_err());
        assert!(spending("a", &[(Usage, i64::MAX), (Usage, 1)]).is_err());
    }

    #[test]
    fn r1_zero_or_negative_amounts_make_no_journal() {
        assert!(debit("a", EntryKind::Usage, 0).is_err());
        assert!(transfer("a", "b", -5).is_err());
        assert!(top_up("a", i64::MAX, 1, i64::MAX).is_err());
    }

    #[test]
    fn r31_refund_parts_add_up_to_the_top_up() {
        let (amount, total) = (1000, 1200);
        let steps = [0, 1, 7, 599, 600, 1199, 1200];
        let mut credit = 0;
        for w in steps.windows(2) {
            let part = credit_share(w[1], amount, total) - credit_share(w[0], amount, total);
            let tax = (w[1] - w[0]) - part;
            assert!(part >= 0 && tax >= 0);
            let j = refund_top_up("a", part, tax, 0).unwrap();
            assert!(j.is_balanced());
            assert_eq!(j.net_for("a"), -part);
            credit += part;
        }
        assert_eq!(credit, amount);
        assert!(refund_top_up("a", 0, 0, 0).is_err());
        assert!(refund_top_up("a", -1, 5, 0).is_err());
    }

    proptest! {
        #[test]
        fn r3_every_journal_sums_to_zero(amount in 1i64..1_000_000_000, tax in 0i64..1_000_000) {
            prop_assert!(debit("a", EntryKind::Usage, amount).unwrap().is_balanced());
            prop_assert!(debit("a", EntryKind::Fee, amount).unwrap().is_balanced());
            prop_assert!(debit("a", EntryKind::RecurringFee, amount).unwrap().is_balanced());
            prop_assert!(top_up("a", amount, tax, amount + tax).unwrap().is_balanced());
            prop_assert!(reverse_top_up("a", EntryKind::Refund, amount, tax, amount + tax).unwrap().is_balanced());
            prop_assert!(transfer("a", "b", amount).unwrap().is_balanced());
        }
    }
}
