//! R26: the event types, as they appear in the outbox, the API and the webhook
//! envelope.

use crate::DomainError;
use std::fmt;
use std::str::FromStr;

/// The event types, as they appear in the outbox, the API and the webhook envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    TopUpSucceeded,
    /// R11: a card payment not settled yet; `top_up.succeeded` follows when it does.
    TopUpPending,
    TopUpFailed,
    AutoTopUpDisabled,
    BalanceLow,
    BalanceApproachingThreshold,
    CapReached,
    /// R11: a pending payment failed and its credit was reversed.
    PaymentReversed,
    /// R31: a top-up's charge was refunded at the gateway; its credit was reversed.
    TopUpRefunded,
    /// R29: a renewal the balance cannot cover (once per period).
    ResourceRenewalFailed,
    /// R29: the grace period ended; the resource is suspended.
    ResourceSuspended,
    /// R31: a refund asked for, approved (its credit reversed), rejected, paid back
    /// to the card, or failed at the gateway (its credit restored).
    RefundRequested,
    RefundApproved,
    RefundRejected,
    RefundSucceeded,
    RefundFailed,
}

impl EventType {
    pub const ALL: [EventType; 16] = [
        EventType::TopUpSucceeded,
        EventType::TopUpPending,
        EventType::TopUpFailed,
        EventType::AutoTopUpDisabled,
        EventType::BalanceLow,
        EventType::BalanceApproachingThreshold,
        EventType::CapReached,
        EventType::PaymentReversed,
        EventType::TopUpRefunded,
        EventType::ResourceRenewalFailed,
        EventType::ResourceSuspended,
        EventType::RefundRequested,
        EventType::RefundApproved,
        EventType::RefundRejected,
        EventType::RefundSucceeded,
        EventType::RefundFailed,
    ];

    pub fn as_str(self) -> &'static str {
        use crate::notifications::event_types::*;
        match self {
            EventType::TopUpSucceeded => TOP_UP_SUCCEEDED,
            EventType::TopUpPending => TOP_UP_PENDING,
            EventType::TopUpFailed => TOP_UP_FAILED,
            EventType::AutoTopUpDisabled => AUTO_TOP_UP_DISABLED,
            EventType::BalanceLow => BALANCE_LOW,
            EventType::BalanceApproachingThreshold => BALANCE_APPROACHING_THRESHOLD,
            EventType::CapReached => CAP_REACHED,
            EventType::PaymentReversed => PAYMENT_REVERSED,
            EventType::TopUpRefunded => TOP_UP_REFUNDED,
            EventType::ResourceRenewalFailed => RESOURCE_RENEWAL_FAILED,
            EventType::ResourceSuspended => RESOURCE_SUSPENDED,
            EventType::RefundRequested => REFUND_REQUESTED,
            EventType::RefundApproved => REFUND_APPROVED,
            EventType::RefundRejected => REFUND_REJECTED,
            EventType::RefundSucceeded => REFUND_SUCCEEDED,
            EventType::RefundFailed => REFUND_FAILED,
        }
    }
}

impl FromStr for EventType {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<EventType, DomainError> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| DomainError::UnknownValue {
                what: "event type",
                value: s.chars().take(64).collect(),
                rule: "R26",
            })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
