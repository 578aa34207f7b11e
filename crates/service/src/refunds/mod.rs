//! R31: refunds of top-ups. The customer (an account key) or the operator asks for
//! one (`requests`); the operator approves it, possibly for less, or rejects it with a
//! reason. An approval reverses the credit and its tax share at once, in the
//! transaction that commits it, then sends the refund to the gateway with a key
//! derived from the refund's id (`gateway`); the gateway's answer, the periodic job
//! and Stripe's webhooks (`reconcile`) move it on to succeeded, or to failed, which
//! restores what was reversed, once. See docs/decisions/0018-refunds-reversed-at-approval.md.

mod gateway;
mod reconcile;
mod requests;

use crate::api_objects::rfc3339;
use crate::{Result, ServiceError, events};
use refill_domain::events::{Event, Payload};
use refill_domain::refund_lifecycle::RefundStatus;
use refill_store::{RefundRow, Tx};
use serde::{Deserialize, Serialize};

/// A refund as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct RefundView {
    pub id: String,
    pub object: &'static str,
    /// requested | approved | rejected | pending | succeeded | failed
    #[schemars(with = "refill_domain::refund_lifecycle::RefundStatus")]
    pub status: String,
    /// Approved (at most what was asked); until the decision, what was asked.
    pub amount: i64,
    pub requested_amount: i64,
    pub currency: String,
    pub top_up_id: String,
    pub account_id: String,
    /// The customer's reason.
    pub reason: String,
    /// The operator's reason for a rejection (or a note with an approval).
    pub decision_reason: Option<String>,
    /// What the approval took back from the balance, and from the tax.
    pub credit_reversed: i64,
    pub tax_reversed: i64,
    /// The gateway's refund id, once it answered.
    pub transaction_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created: String,
    pub decided: Option<String>,
    pub completed: Option<String>,
}

impl From<&RefundRow> for RefundView {
    fn from(r: &RefundRow) -> Self {
        RefundView {
            id: r.id.clone(),
            object: "refund",
            status: r.status.clone(),
            amount: r.amount,
            requested_amount: r.requested_amount,
            currency: r.currency.clone(),
            top_up_id: r.top_up_id.clone(),
            account_id: r.account_id.clone(),
            reason: r.reason.clone(),
            decision_reason: r.decision_reason.clone(),
            credit_reversed: r.credit_reversed,
            tax_reversed: r.tax_reversed,
            transaction_id: r.gateway_refund_id.clone(),
            failure_code: r.failure_code.clone(),
            failure_message: r.failure_message.clone(),
            created: rfc3339(r.created_at),
            decided: r.decided_at.map(rfc3339),
            completed: r.completed_at.map(rfc3339),
        }
    }
}

/// `POST /v1/top-ups/{id}/refunds`: `amount` (default: all that is left of the
/// charge), in the top-up's currency, and the customer's reason.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub reason: Option<String>,
}

/// `POST /v1/refunds/{id}/approve`: an amount no larger than asked (default: all).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRefund {
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

/// `POST /v1/refunds/{id}/reject`: the operator's reason.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRefund {
    pub reason: Option<String>,
}

/// The filters of `GET /v1/refunds`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefundQuery {
    pub status: Option<String>,
    pub account_id: Option<String>,
    pub starting_after: Option<String>,
    pub limit: i64,
}

fn status_of(r: &RefundRow) -> Result<RefundStatus> {
    Ok(r.status.parse()?)
}

/// Writes a typed event payload to the outbox, in `tx` (R28).
async fn emit<P: Payload + Clone + Into<Event>>(
    tx: &mut Tx,
    account_id: &str,
    payload: &P,
    now: i64,
) -> Result<()> {
    events::emit(tx, account_id, payload.clone(), now).await
}
