//! The JSON Schemas of the domain's values as the API and the webhooks show them, for
//! the OpenAPI document: each enum is the strings its `as_str` writes, listed from
//! its variants so that a new variant cannot be left out of the contract.

use crate::accounts::AccountStatus;
use crate::auto_top_up::{Cap, SourceKind, State, WhyNot};
use crate::debit::DebitKind;
use crate::events::EventType;
use crate::ledger::EntryKind;
use crate::notifications::Channel;
use crate::recurring::Period;
use crate::refund_lifecycle::RefundStatus;
use crate::resources::ResourceStatus;
use crate::top_up::{Origin, TopUpStatus};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

/// A string schema of `values`, with a description.
pub fn string_enum(values: &[&str], description: &str) -> Schema {
    json_schema!({"type": "string", "enum": values, "description": description})
}

/// Implements JsonSchema for an enum shown by `as_str`, from the match of every
/// variant (so the compiler names a variant missing here).
macro_rules! string_enums {
    ($($t:ident [$($v:ident),* $(,)?] $doc:literal;)*) => {$(
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                stringify!($t).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                // Exhaustive: a variant added to the enum and not here fails to build.
                let _exhaustive = |v: $t| match v { $($t::$v => ()),* };
                string_enum(&[$($t::$v.as_str()),*], $doc)
            }
        }
    )*};
}

string_enums! {
    AccountStatus [Open, Closed] "R4: an account is open, or closed for good.";
    SourceKind [Card, Transfer] "Where an automatic top-up takes its money: a saved card, or the main account (sub-accounts only).";
    State [Active, Off, Disabled] "R24: the state of auto top-up: active, off (by the customer), disabled (by refill).";
    WhyNot [NotActive, AboveThreshold, InWindow, DailyCapReached, MonthlyCapReached,
        WaitingForCustomer, RetryScheduled, GatewayUnavailable, PaymentPending, AmountAboveCap,
        TurnedOff]
        "R24: why an automatic top-up did not run, or what it waits for.";
    Cap [Daily, Monthly] "R21: the cap an automatic top-up reached.";
    DebitKind [Usage, Fee, RecurringFee] "What a debit pays for (recurring_fee is charged by refill itself).";
    EventType [TopUpSucceeded, TopUpPending, TopUpFailed, AutoTopUpDisabled, BalanceLow,
        BalanceApproachingThreshold, CapReached, PaymentReversed, TopUpRefunded,
        ResourceRenewalFailed, ResourceSuspended, RefundRequested, RefundApproved,
        RefundRejected, RefundSucceeded, RefundFailed]
        "R26: the type of an event.";
    EntryKind [Usage, Fee, RecurringFee, TopUp, TopUpReversal, TransferIn, TransferOut,
        Refund, Tax, Adjustment, ChargeRounding]
        "What a ledger entry is.";
    Channel [Email, Sms, Webhook] "R26: how a notification is sent.";
    Period [Weekly, Monthly, Yearly] "R29: how often a resource's fee is charged.";
    RefundStatus [Requested, Approved, Rejected, Pending, Succeeded, Failed]
        "R31: requested, then approved or rejected; an approved refund is pending at the gateway, then succeeded or failed.";
    ResourceStatus [Active, Suspended, Removed] "R29: a resource's status.";
    TopUpStatus [Queued, Charging, RequiresAction, Pending, Succeeded, Failed, Canceled]
        "The status of a top-up.";
    Origin [Manual, Auto, Scheduled] "What started a top-up: the customer, the auto top-up, a scheduled recharge (R30).";
}
