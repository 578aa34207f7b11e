//! R26, R28: the events refill emits, one typed payload per event type. Their JSON is
//! the public webhook contract (and what the notification channels read back by
//! field name): each payload serializes to exactly the JSON refill has always sent.
//! Fields are declared in alphabetical order, the order a `serde_json::Value` keeps
//! them in, so `to_string` and `to_value(..).to_string()` give the same bytes.

use crate::Millis;
use crate::auto_top_up::{Cap, SourceKind, StateReason};
use crate::balance::Notice;
use crate::time::rfc3339;
use crate::top_up::{Origin, TopUpStatus};
use serde::{Serialize, Serializer};

pub use crate::event_type::EventType;

macro_rules! serialize_as_str {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}
serialize_as_str!(EventType, Origin, TopUpStatus, SourceKind, Cap);

/// R24: a reason as the API and the events say it: a stable code, and a message for
/// people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Reason {
    pub code: &'static str,
    pub message: String,
}

impl From<&StateReason> for Reason {
    fn from(r: &StateReason) -> Reason {
        Reason {
            code: r.code(),
            message: r.message(),
        }
    }
}

fn time<S: Serializer>(t: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// `Some(None)` is a JSON null, `None` is left out (`skip_serializing_if`).
fn maybe_time<S: Serializer>(t: &Option<Option<Millis>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(Some(t)) => s.serialize_str(&rfc3339(*t)),
        _ => s.serialize_none(),
    }
}

/// A payload: its event type is part of its type.
pub trait Payload: Serialize {
    const TYPE: EventType;
}

/// `top_up.succeeded` (R10, R26): the receipt of a payment that succeeded, and
/// settled: a pending one (R11) is `top_up.pending` until then. `status` is
/// `succeeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TopUpSucceeded {
    pub amount: i64,
    pub balance_after: i64,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub currency: String,
    pub origin: Origin,
    #[serde(serialize_with = "time")]
    #[schemars(with = "String")]
    pub paid_at: Millis,
    pub source: SourceKind,
    pub status: TopUpStatus,
    pub tax: i64,
    pub top_up_id: String,
    pub total: i64,
    pub transaction_id: Option<String>,
}

/// `top_up.pending` (R11): a card payment the gateway has not settled yet, never told
/// as a success. `credited`: its credit is usable now (or, with `credit_pending`
/// off, waits until it settles). Then `top_up.succeeded` when it settles; if it
/// fails, `payment.reversed` (credited) or `top_up.failed` (nothing credited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TopUpPending {
    pub amount: i64,
    pub balance_after: i64,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub credited: bool,
    pub currency: String,
    pub message: &'static str,
    pub origin: Origin,
    pub source: SourceKind,
    pub tax: i64,
    pub top_up_id: String,
    pub total: i64,
    pub transaction_id: Option<String>,
}

impl TopUpPending {
    pub const CREDITED: &'static str = "The card payment is pending at the bank. Its credit can be used now; it is taken back if the payment fails.";
    pub const WITHHELD: &'static str =
        "The card payment is pending at the bank. Its credit is added when the payment settles.";

    /// What the receipt of the payment would say, told as pending: `credited` or
    /// not (then `balance_after` is the balance without it).
    pub fn of(receipt: TopUpSucceeded, credited: bool) -> TopUpPending {
        TopUpPending {
            amount: receipt.amount,
            balance_after: receipt.balance_after,
            card_brand: receipt.card_brand,
            card_last4: receipt.card_last4,
            credited,
            currency: receipt.currency,
            message: if credited {
                Self::CREDITED
            } else {
                Self::WITHHELD
            },
            origin: receipt.origin,
            source: receipt.source,
            tax: receipt.tax,
            top_up_id: receipt.top_up_id,
            total: receipt.total,
            transaction_id: receipt.transaction_id,
        }
    }
}

/// `top_up.failed` (R23, R26). One payload for its three builders, which differ in
/// the fields about what follows: after a charge attempt (the engine) all three are
/// present (null when there is no next attempt or nothing to do); for a scheduled
/// recharge that could not start, only `next_attempt` (null); for a pending payment
/// that failed at settlement, none. Build it with the constructor of the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TopUpFailed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_required: Option<Option<String>>,
    pub amount: i64,
    pub currency: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "maybe_time")]
    #[schemars(with = "Option<String>")]
    pub next_attempt: Option<Option<Millis>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_ms: Option<Option<Millis>>,
    pub origin: Origin,
    pub reason: String,
    pub top_up_id: String,
}

/// What a `top_up.failed` is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTopUp<'a> {
    pub top_up_id: &'a str,
    pub origin: Origin,
    pub amount: i64,
    pub currency: &'a str,
    /// The failure code (the gateway's decline code, or refill's).
    pub reason: &'a str,
    pub message: &'a str,
}

impl TopUpFailed {
    fn of(t: &FailedTopUp) -> TopUpFailed {
        TopUpFailed {
            action_required: None,
            amount: t.amount,
            currency: t.currency.into(),
            message: t.message.into(),
            next_attempt: None,
            next_attempt_ms: None,
            origin: t.origin,
            reason: t.reason.into(),
            top_up_id: t.top_up_id.into(),
        }
    }

    /// After a charge attempt (R23): when it is tried again, and whether the customer
    /// must confirm it (3-D Secure).
    pub fn after_attempt(
        t: &FailedTopUp,
        next_attempt: Option<Millis>,
        awaiting_customer: bool,
    ) -> TopUpFailed {
        let confirm = format!("POST /v1/top-ups/{}/confirm", t.top_up_id);
        TopUpFailed {
            action_required: Some(awaiting_customer.then_some(confirm)),
            next_attempt: Some(next_attempt),
            next_attempt_ms: Some(next_attempt),
            ..TopUpFailed::of(t)
        }
    }

    /// R30: a scheduled recharge that could not start (no usable card).
    pub fn not_started(t: &FailedTopUp) -> TopUpFailed {
        TopUpFailed {
            next_attempt: Some(None),
            ..TopUpFailed::of(t)
        }
    }

    /// R23, R24: ended without a charge when auto top-up was turned off while it was
    /// queued, planned or waiting for the customer: never tried again.
    pub fn canceled(t: &FailedTopUp) -> TopUpFailed {
        TopUpFailed {
            next_attempt: Some(None),
            next_attempt_ms: Some(None),
            ..TopUpFailed::of(t)
        }
    }

    /// R11: a pending payment, credit withheld, that failed at the bank.
    pub fn at_settlement(t: &FailedTopUp) -> TopUpFailed {
        TopUpFailed::of(t)
    }
}

/// `auto_top_up.disabled` (R24, R26): the reason's code (`reason`) and message, and
/// the failures in a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AutoTopUpDisabled {
    pub failures: i64,
    pub message: String,
    pub reason: &'static str,
}

impl AutoTopUpDisabled {
    pub fn new(failures: i64, reason: &StateReason) -> AutoTopUpDisabled {
        AutoTopUpDisabled {
            failures,
            message: reason.message(),
            reason: reason.code(),
        }
    }
}

/// `balance.low` (R27); `resource_id` when a resource's renewal caused it (R29).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BalanceLow {
    pub balance: i64,
    pub currency: String,
    pub low_balance_threshold: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

/// `balance.approaching_threshold` (R26); `resource_id` as for `balance.low`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BalanceApproachingThreshold {
    pub balance: i64,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    pub threshold: Option<i64>,
}

/// `cap.reached` (R21): until when the top-up waits, as a time and in milliseconds;
/// when an unpaid renewal waits for it (R29), the resource and when it is suspended
/// unless paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CapReached {
    pub cap: Cap,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "maybe_time")]
    pub suspend_at: Option<Option<Millis>>,
    pub top_up_id: String,
    #[serde(serialize_with = "time")]
    #[schemars(with = "String")]
    pub until: Millis,
    pub until_ms: Millis,
}

impl CapReached {
    pub fn new(cap: Cap, until: Millis, top_up_id: &str) -> CapReached {
        CapReached {
            cap,
            resource_id: None,
            suspend_at: None,
            top_up_id: top_up_id.into(),
            until,
            until_ms: until,
        }
    }

    /// R29: the renewal of `resource_id` waits for this top-up.
    pub fn for_renewal(self, resource_id: &str, suspend_at: Millis) -> CapReached {
        CapReached {
            resource_id: Some(resource_id.into()),
            suspend_at: Some(Some(suspend_at)),
            ..self
        }
    }
}

/// `payment.reversed` (R11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PaymentReversed {
    pub amount: i64,
    pub balance_after: i64,
    pub currency: String,
    pub message: &'static str,
    pub top_up_id: String,
}

impl PaymentReversed {
    pub const MESSAGE: &'static str = "A pending card payment failed; its credit was reversed. Usage is blocked while the balance is below zero.";

    pub fn new(top_up_id: &str, amount: i64, currency: &str, balance_after: i64) -> Self {
        PaymentReversed {
            amount,
            balance_after,
            currency: currency.into(),
            message: Self::MESSAGE,
            top_up_id: top_up_id.into(),
        }
    }
}

/// `top_up.refunded` (R31): this refund (`refunded`) and all so far, and what of
/// the credit and the tax they reversed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TopUpRefunded {
    pub balance_after: i64,
    pub credit_reversed: i64,
    pub currency: String,
    pub refunded: i64,
    pub refunded_total: i64,
    pub tax_reversed: i64,
    pub top_up_id: String,
    pub transaction_id: Option<String>,
}

/// What a resource event is about (R29).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpaidResource<'a> {
    pub resource_id: &'a str,
    pub name: &'a str,
    pub fee: i64,
    pub currency: &'a str,
    pub balance: i64,
    pub due: Millis,
}

/// `resource.renewal_failed` (R29): told once per period, with the suspension date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ResourceRenewalFailed {
    pub balance: i64,
    pub currency: String,
    #[serde(serialize_with = "time")]
    #[schemars(with = "String")]
    pub due: Millis,
    pub fee: i64,
    pub message: &'static str,
    pub name: String,
    pub resource_id: String,
    #[serde(serialize_with = "time")]
    #[schemars(with = "String")]
    pub suspend_at: Millis,
}

impl ResourceRenewalFailed {
    pub const MESSAGE: &'static str = "The balance cannot cover this renewal. Top up before suspend_at, or the resource is suspended.";

    pub fn new(r: &UnpaidResource, suspend_at: Millis) -> Self {
        ResourceRenewalFailed {
            balance: r.balance,
            currency: r.currency.into(),
            due: r.due,
            fee: r.fee,
            message: Self::MESSAGE,
            name: r.name.into(),
            resource_id: r.resource_id.into(),
            suspend_at,
        }
    }
}

/// `resource.suspended` (R29): the grace period ended unpaid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ResourceSuspended {
    pub balance: i64,
    pub currency: String,
    #[serde(serialize_with = "time")]
    #[schemars(with = "String")]
    pub due: Millis,
    pub fee: i64,
    pub name: String,
    pub reason: &'static str,
    pub resource_id: String,
}

impl ResourceSuspended {
    pub fn new(r: &UnpaidResource) -> Self {
        ResourceSuspended {
            balance: r.balance,
            currency: r.currency.into(),
            due: r.due,
            fee: r.fee,
            name: r.name.into(),
            reason: "renewal_unpaid",
            resource_id: r.resource_id.into(),
        }
    }
}

/// `refund.requested` (R31): what the customer asked back, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RefundRequested {
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub refund_id: String,
    pub top_up_id: String,
}

/// `refund.approved` (R31): the amount approved (at most what was asked) and the
/// credit and tax its approval reversed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RefundApproved {
    pub amount: i64,
    pub balance_after: i64,
    pub credit_reversed: i64,
    pub currency: String,
    pub refund_id: String,
    pub requested_amount: i64,
    pub tax_reversed: i64,
    pub top_up_id: String,
}

/// `refund.rejected` (R31): the operator's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RefundRejected {
    pub amount: i64,
    pub currency: String,
    pub decision_reason: String,
    pub refund_id: String,
    pub top_up_id: String,
}

/// `refund.succeeded` (R31): the bank returned the money; `transaction_id` is the
/// gateway's refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RefundSucceeded {
    pub amount: i64,
    pub currency: String,
    pub refund_id: String,
    pub top_up_id: String,
    pub transaction_id: Option<String>,
}

/// `refund.failed` (R31): the gateway failed the refund; what its approval reversed
/// was restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RefundFailed {
    pub amount: i64,
    pub balance_after: i64,
    pub credit_restored: i64,
    pub currency: String,
    pub failure_code: String,
    pub message: String,
    pub refund_id: String,
    pub tax_restored: i64,
    pub top_up_id: String,
}

macro_rules! payloads {
    ($($name:ident),*) => {
        $(impl Payload for $name {
            const TYPE: EventType = EventType::$name;
        })*

        /// Any event: its type and its payload (serialized alone, untagged).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub enum Event {
            $($name($name),)*
        }

        impl Event {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(Event::$name(_) => EventType::$name,)*
                }
            }

            /// Each event type with the schema of its payload (the webhook contract).
            pub fn payload_schemas(
                g: &mut schemars::SchemaGenerator,
            ) -> Vec<(EventType, schemars::Schema)> {
                vec![$((EventType::$name, g.subschema_for::<$name>()),)*]
            }
        }

        $(impl From<$name> for Event {
            fn from(p: $name) -> Event {
                Event::$name(p)
            }
        })*
    };
}

payloads!(
    TopUpSucceeded,
    TopUpPending,
    TopUpFailed,
    AutoTopUpDisabled,
    BalanceLow,
    BalanceApproachingThreshold,
    CapReached,
    PaymentReversed,
    TopUpRefunded,
    ResourceRenewalFailed,
    ResourceSuspended,
    RefundRequested,
    RefundApproved,
    RefundRejected,
    RefundSucceeded,
    RefundFailed
);

impl Notice {
    /// R26, R27: the event of a balance notice, for an account in `currency`;
    /// `resource_id` when a resource's fee caused it (R29).
    pub fn event(self, currency: &str, resource_id: Option<&str>) -> Event {
        let resource_id = resource_id.map(str::to_string);
        match self {
            Notice::Low { balance, threshold } => Event::BalanceLow(BalanceLow {
                balance,
                currency: currency.into(),
                low_balance_threshold: threshold,
                resource_id,
            }),
            Notice::Approaching { balance, threshold } => {
                Event::BalanceApproachingThreshold(BalanceApproachingThreshold {
                    balance,
                    currency: currency.into(),
                    resource_id,
                    threshold: Some(threshold),
                })
            }
        }
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
