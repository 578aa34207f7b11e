//! R31: a refund the customer asks for and the operator decides. Its status and the
//! moves between them, the checks that refuse a request or an approval, the gateway
//! key it carries, and the ledger parts it reverses and, if the gateway fails it,
//! restores.
//!
//! ```text
//! requested -> approved -> pending -> succeeded
//!           \           \         \-> failed
//!            -> rejected  -> succeeded | failed (the gateway answered at once)
//! ```
//!
//! The credit is reversed at approval, in the transaction that commits the approval
//! before the gateway is called (the refund's recovery point): the money is on its
//! way back to the card, so it must not be spent meanwhile, and the unspent balance
//! is checked where it is taken. A failed refund restores it by new entries, once:
//! only a move into `failed` restores, and a failed refund never moves again.
//!
//! The parts are always those of the top-up's refunded total (`refunds::shares`),
//! going up at approval and down at a failure, so that however refunds and failures
//! interleave the credit reversed is exactly the share of the total refunded, never
//! more than the top-up's credit, and the tax likewise.

use crate::error::invariant;
use crate::ledger::{Journal, refund_top_up};
use crate::money::{positive, sub};
use crate::refunds::{RefundParts, shares};
use crate::top_up::TopUpStatus;
use crate::{DomainError, ErrorKind};
use std::fmt;
use std::str::FromStr;

/// The status of a refund, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Asked for by the customer (or the operator), waiting for a decision.
    Requested,
    /// Approved and reversed; the gateway has not answered yet (an outage is retried
    /// with the same key).
    Approved,
    /// Refused by the operator, with a reason: nothing was reversed.
    Rejected,
    /// The gateway accepted it; the bank has not returned the money yet.
    Pending,
    Succeeded,
    /// The gateway failed it: its reversal was restored.
    Failed,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 6] = [
        RefundStatus::Requested,
        RefundStatus::Approved,
        RefundStatus::Rejected,
        RefundStatus::Pending,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Requested => "requested",
            RefundStatus::Approved => "approved",
            RefundStatus::Rejected => "rejected",
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    /// No move leaves it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RefundStatus::Rejected | RefundStatus::Succeeded | RefundStatus::Failed
        )
    }

    /// Its amount is reversed in the ledger (counted in the top-up's `refunded`).
    pub fn holds_reversal(self) -> bool {
        matches!(
            self,
            RefundStatus::Approved | RefundStatus::Pending | RefundStatus::Succeeded
        )
    }

    pub fn can_move_to(self, to: RefundStatus) -> bool {
        use RefundStatus::*;
        match self {
            Requested => matches!(to, Approved | Rejected),
            Approved => matches!(to, Pending | Succeeded | Failed),
            Pending => matches!(to, Succeeded | Failed),
            Rejected | Succeeded | Failed => false,
        }
    }

    /// The move to `to`, or the refusal: a wrong move is an error, never written.
    pub fn move_to(self, to: RefundStatus) -> Result<RefundStatus, DomainError> {
        if self.can_move_to(to) {
            return Ok(to);
        }
        let refusal = match (self, to) {
            // Approving twice, approving a rejected request, rejecting an approved one.
            (_, RefundStatus::Approved | RefundStatus::Rejected) => {
                RefundRefusal::NotAwaitingDecision {
                    status: self.as_str(),
                }
            }
            _ => RefundRefusal::Transition {
                from: self.as_str(),
                to: to.as_str(),
            },
        };
        Err(refusal.into())
    }

    /// Where the gateway's report of the refund takes it: the move, or None when the
    /// report changes nothing (the same status again, an older report, or a refund
    /// already final).
    pub fn after_report(self, reported: RefundStatus) -> Option<RefundStatus> {
        (reported != self && self.can_move_to(reported)).then_some(reported)
    }
}

impl FromStr for RefundStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<RefundStatus, DomainError> {
        RefundStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| DomainError::UnknownValue {
                what: "refund status",
                value: s.chars().take(40).collect(),
                rule: "R31",
            })
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a refund request or decision is refused (R31). Each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    #[error("the top-up cannot be refunded: {why}")]
    TopUpNotRefundable { why: &'static str },
    #[error("the refund of {amount} is more than is left of the charge to refund ({refundable})")]
    ExceedsCharge { amount: i64, refundable: i64 },
    #[error("the approved amount {amount} is more than the {requested} asked for")]
    ExceedsRequest { amount: i64, requested: i64 },
    #[error(
        "the refund would take {credit} of credit back from a balance of {balance}: more than is unspent"
    )]
    ExceedsBalance { credit: i64, balance: i64 },
    #[error("the refund is {status}, not waiting for a decision")]
    NotAwaitingDecision { status: &'static str },
    #[error("a refund is approved or rejected by the operator only")]
    OperatorOnly,
    #[error("reason must be 1 to 500 characters")]
    InvalidReason,
    #[error("a refund cannot go from {from} to {to}")]
    Transition {
        from: &'static str,
        to: &'static str,
    },
}

impl RefundRefusal {
    pub fn code(&self) -> &'static str {
        use RefundRefusal::*;
        match self {
            TopUpNotRefundable { .. } => "top_up_not_refundable",
            ExceedsCharge { .. } => "refund_exceeds_charge",
            ExceedsRequest { .. } => "refund_exceeds_request",
            ExceedsBalance { .. } => "refund_exceeds_balance",
            NotAwaitingDecision { .. } => "refund_not_awaiting_decision",
            OperatorOnly => "refund_decided_by_operator",
            InvalidReason => "invalid_reason",
            Transition { .. } => "invalid_refund_transition",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        use RefundRefusal::*;
        match self {
            InvalidReason => ErrorKind::BadInput,
            OperatorOnly => ErrorKind::Forbidden,
            NotAwaitingDecision { .. } | Transition { .. } => ErrorKind::Conflict,
            TopUpNotRefundable { .. }
            | ExceedsCharge { .. }
            | ExceedsRequest { .. }
            | ExceedsBalance { .. } => ErrorKind::Refused,
        }
    }
}

/// A top-up as a refund is measured against it, with its account's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refundable {
    pub status: TopUpStatus,
    /// Paid by a card charge (a transfer from the main account has nothing to refund
    /// at the gateway).
    pub by_card: bool,
    /// The credit...
    pub amount: i64,
    /// ...the tax on it...
    pub tax: i64,
    /// ...and what was charged for both (R1: rounded down for the gateway).
    pub total: i64,
    /// Of the total, what is reversed already (refunds approved, or made at the
    /// gateway).
    pub refunded: i64,
    /// Asked for by refunds not decided yet.
    pub requested: i64,
    /// The account's balance: what is unspent.
    pub balance: i64,
    /// `refund_into_negative`: a refund may take more credit than is unspent.
    pub into_negative: bool,
}

impl Refundable {
    fn check_top_up(&self) -> Result<(), DomainError> {
        let why = match (self.status, self.by_card) {
            (_, false) => "it was paid by a transfer from the main account, not by card",
            (TopUpStatus::Succeeded, true) => return Ok(()),
            (TopUpStatus::Failed, true) => "its payment failed (its credit, if any, was reversed)",
            (TopUpStatus::Pending, true) => "its payment has not settled yet",
            _ => "it was not paid",
        };
        Err(RefundRefusal::TopUpNotRefundable { why }.into())
    }

    /// The parts that refunding `amount` more reverses; refused above what is left of
    /// the charge (`left`) or, by default, above the unspent balance.
    fn parts(&self, amount: i64, left: i64) -> Result<RefundParts, DomainError> {
        let amount = positive(amount)?;
        if amount > left {
            let refundable = left.max(0);
            return Err(RefundRefusal::ExceedsCharge { amount, refundable }.into());
        }
        let parts = reversal(self.refunded, amount, self.charge())?;
        if !self.into_negative && parts.credit > self.balance.max(0) {
            let (credit, balance) = (parts.credit, self.balance);
            return Err(RefundRefusal::ExceedsBalance { credit, balance }.into());
        }
        Ok(parts)
    }
}

impl Refundable {
    /// The top-up's `(amount, tax, total)`, which refunds are shares of.
    pub fn charge(&self) -> (i64, i64, i64) {
        (self.amount, self.tax, self.total)
    }
}

/// R31: a refund request of `amount` (None: all that is left of the charge, less what
/// other requests ask for). The amount asked for, or the refusal.
pub fn check_request(r: &Refundable, amount: Option<i64>) -> Result<i64, DomainError> {
    r.check_top_up()?;
    let left = sub(sub(r.total, r.refunded)?, r.requested)?;
    let amount = match amount {
        Some(a) => a,
        None if left > 0 => left,
        None => {
            return Err(RefundRefusal::ExceedsCharge {
                amount: 0,
                refundable: 0,
            }
            .into());
        }
    };
    r.parts(amount, left)?;
    Ok(amount)
}

/// R31: the operator approves `amount` (None: all that was asked) of a request for
/// `asked`. What the approval reverses, or the refusal.
pub fn check_approval(
    r: &Refundable,
    asked: i64,
    amount: Option<i64>,
) -> Result<RefundParts, DomainError> {
    r.check_top_up()?;
    let amount = positive(amount.unwrap_or(asked))?;
    if amount > asked {
        let requested = asked;
        return Err(RefundRefusal::ExceedsRequest { amount, requested }.into());
    }
    r.parts(amount, sub(r.total, r.refunded)?)
}

/// The parts that taking the refunded total of a top-up (`(amount, tax, total)`:
/// credited, owed, charged) from `refunded` to `refunded + more` reverses.
pub fn reversal(
    refunded: i64,
    more: i64,
    top_up: (i64, i64, i64),
) -> Result<RefundParts, DomainError> {
    let to = crate::money::add(refunded, more)?;
    parts_between(refunded, to, top_up)
}

/// The parts that a failed refund of `less` restores, taking the refunded total back
/// from `refunded` to `refunded - less`.
pub fn restoration(
    refunded: i64,
    less: i64,
    top_up: (i64, i64, i64),
) -> Result<RefundParts, DomainError> {
    let to = sub(refunded, less)?;
    let p = parts_between(to, refunded, top_up)?;
    Ok(RefundParts {
        refunded_total: to,
        ..p
    })
}

/// The credit and tax between two refunded totals (`low <= high <= total`), as the
/// difference of their shares: parts taken this way always add up to the share of
/// the total, whatever the order of refunds and failures.
fn parts_between(
    low: i64,
    high: i64,
    (amount, tax, total): (i64, i64, i64),
) -> Result<RefundParts, DomainError> {
    invariant(
        0 <= low && low <= high && high <= total,
        "R31",
        "a refund moves the refunded total within what was charged",
    )?;
    let (credit_high, tax_high) = shares(high, amount, tax, total);
    let (credit_low, tax_low) = shares(low, amount, tax, total);
    let (credit, tax) = (sub(credit_high, credit_low)?, sub(tax_high, tax_low)?);
    let refunded = sub(high, low)?;
    let rounding = sub(crate::money::add(credit, tax)?, refunded)?;
    invariant(
        credit >= 0 && tax >= 0 && rounding >= 0,
        "R31",
        "a refund reverses parts of what was charged, never more",
    )?;
    Ok(RefundParts {
        refunded_total: high,
        refunded,
        credit,
        tax,
        rounding,
    })
}

/// R3, R31: the journal that restores what a failed refund reversed: the exact
/// mirror of `refund_top_up` for these parts.
pub fn restore_journal(account: &str, p: &RefundParts) -> Result<Journal, DomainError> {
    let mut journal = refund_top_up(account, p.credit, p.tax, p.rounding)?;
    for p in &mut journal.postings {
        p.amount = -p.amount;
    }
    invariant(journal.is_balanced(), "R3", "a journal sums to zero")?;
    Ok(journal)
}

const KEY_PREFIX: &str = "refund:";

/// R25, R31: the gateway's idempotency key of a refund, derived from its id: a retry
/// after a timeout or a crash can never refund twice, and the refund is recognised
/// when the gateway reports it (its metadata carries the key).
pub fn refund_key(refund_id: &str) -> String {
    format!("{KEY_PREFIX}{refund_id}")
}

/// The refill refund a gateway key names, if it is one of refill's.
pub fn refund_of_key(key: &str) -> Option<&str> {
    key.strip_prefix(KEY_PREFIX).filter(|id| !id.is_empty())
}

/// A customer's or operator's reason, trimmed: 1 to 500 characters.
pub fn check_reason(reason: &str) -> Result<&str, DomainError> {
    let reason = reason.trim();
    let n = reason.chars().count();
    if (1..=500).contains(&n) {
        Ok(reason)
    } else {
        Err(RefundRefusal::InvalidReason.into())
    }
}

#[cfg(test)]
#[path = "refund_lifecycle_tests.rs"]
mod tests;
