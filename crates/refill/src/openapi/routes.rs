//! Every route of the API with the types its handler reads and answers: the
//! document's paths are built from this table, their schemas from those types.

use super::operation::{Operation, op};
use crate::api::types::*;
use refill_domain::events::EventType;
use refill_domain::refund_lifecycle::RefundStatus;
use refill_service::account_changes::AccountChanges;
use refill_service::accounts::{NewAccount, NewTransfer};
use refill_service::api_keys::{ApiKeyView, NewApiKey, Rotation};
use refill_service::api_objects::{
    AccountView, EntryView, EventView, Page, PaymentMethodView, TopUpView, TransferView,
};
use refill_service::auto_top_up::{AutoTopUpRequest, AutoTopUpView};
use refill_service::debit_pipeline::DebitResult;
use refill_service::delivery::DeliveryView;
use refill_service::notifications::{
    NewWebhookEndpoint, NotificationSettingsUpdate, NotificationSettingsView, WebhookEndpointView,
};
use refill_service::portal_sessions::{NewPortalSession, PortalSessionView};
use refill_service::recurring_fees::{NewResource, ResourceView};
use refill_service::refunds::{ApproveRefund, NewRefund, RefundView, RejectRefund};
use refill_service::scheduled_recharge::{
    DeletedScheduledRecharge, ScheduledRechargeRequest, ScheduledRechargeView,
};
use refill_service::stripe_webhooks::WebhookReceipt;
use refill_service::top_ups::{NewPaymentMethod, NewTopUp};

/// The routes, in the order the document lists them.
pub fn routes() -> Vec<Operation> {
    let mut all = accounts();
    all.extend(spending());
    all.extend(payments());
    all.extend(settings());
    all.extend(notifications());
    all
}

fn accounts() -> Vec<Operation> {
    vec![
        op("post", "/v1/accounts", 201, "R2, R4", "Create an account or, with parent_id, a sub-account")
            .body::<NewAccount>().answers::<AccountView>().idempotent(),
        op("get", "/v1/accounts", 200, "R4", "List the accounts the key can see")
            .answers::<Page<AccountView>>().paged(),
        op("get", "/v1/accounts/{id}", 200, "R2", "An account and its balance")
            .answers::<AccountView>(),
        op("patch", "/v1/accounts/{id}", 200, "R4, R5, R22", "Change the name or the payer (a merge patch: null removes); without a payer, card auto top-up is disabled")
            .body::<AccountChanges>().answers::<AccountView>().idempotent(),
        op("post", "/v1/accounts/{id}/close", 200, "R4", "Close the account (refused while a top-up is in progress, the balance is not 0 or a sub-account is open)")
            .optional_body::<Close>().answers::<AccountView>().idempotent(),
        op("post", "/v1/accounts/{id}/keys", 201, "R4", "Create an API key scoped to the account and its sub-accounts (operator only); its secret is shown once")
            .optional_body::<NewApiKey>().answers::<ApiKeyView>().idempotent(),
        op("get", "/v1/keys", 200, "R4", "The API keys the key manages (operator: all; account key: its tree's), by prefix, never their secrets")
            .answers::<Page<ApiKeyView>>().paged(),
        op("delete", "/v1/keys/{id}", 200, "R4", "Revoke an API key: refused at once by this node, within 2 s by every other")
            .answers::<ApiKeyView>(),
        op("post", "/v1/keys/{id}/rotate", 200, "R4", "Give an API key a new secret (shown once); the old one works for the grace (default a day)")
            .optional_body::<Rotation>().answers::<ApiKeyView>().idempotent(),
        op("get", "/v1/accounts/{id}/entries", 200, "R3", "The account's ledger entries, newest first")
            .answers::<Page<EntryView>>().paged(),
        op("post", "/v1/transfers", 201, "R4, R18", "Move credit between a main account and its sub-account")
            .body::<NewTransfer>().answers::<TransferView>().idempotent(),
    ]
}

fn spending() -> Vec<Operation> {
    vec![
        op("post", "/v1/accounts/{id}/debits", 201, "R6, R18", "Debit usage or a fee; refused whole below the credit limit")
            .body::<DebitBody>().answers::<DebitResult>().idempotent(),
        op("post", "/v1/accounts/{id}/debits/batch", 201, "R6", "Debit a batch, all or nothing")
            .body::<BatchBody>().answers::<DebitResult>().idempotent(),
        op("post", "/v1/accounts/{id}/estimate", 200, "R7", "Price planned usage: cost, balance after, top-up needed")
            .body::<EstimateBody>().answers::<EstimateView>(),
        op("post", "/v1/accounts/{id}/resources", 201, "R17, R29", "Buy a recurring-fee resource (a dedicated number): the first period's fee now; may turn auto top-up on")
            .body::<NewResource>().answers::<ResourceView>().idempotent(),
        op("get", "/v1/accounts/{id}/resources", 200, "R29", "The resources the account holds, their fees and next renewal")
            .answers::<Page<ResourceView>>().paged(),
        op("delete", "/v1/accounts/{id}/resources/{resource_id}", 200, "R17, R29", "Remove a resource: its fees stop; the last one also stops the auto top-up its purchase turned on")
            .answers::<ResourceView>(),
    ]
}

fn payments() -> Vec<Operation> {
    vec![
        op("post", "/v1/accounts/{id}/payment-methods", 201, "R5", "Save a tokenised card")
            .body::<NewPaymentMethod>().answers::<PaymentMethodView>().idempotent(),
        op("get", "/v1/accounts/{id}/payment-methods", 200, "R5", "The saved cards, primary first (one page)")
            .answers::<Page<PaymentMethodView>>(),
        op("delete", "/v1/accounts/{id}/payment-methods/{pm}", 200, "R5, R22", "Remove a saved card")
            .answers::<PaymentMethodView>(),
        op("post", "/v1/accounts/{id}/payment-methods/{pm}/confirm", 200, "R5, R14", "After 3-D Secure: ask the gateway whether the card's setup succeeded")
            .answers::<PaymentMethodView>(),
        op("post", "/v1/accounts/{id}/checkout", 200, "R8, R9", "Checkout summary: amount, tax, total")
            .body::<CheckoutBody>().answers::<CheckoutView>(),
        op("post", "/v1/accounts/{id}/top-ups", 201, "R8, R10", "Top up by card now; returns the receipt")
            .body::<NewTopUp>().answers::<TopUpView>().idempotent(),
        op("get", "/v1/accounts/{id}/top-ups", 200, "R10, R24", "The account's top-ups, newest first")
            .answers::<Page<TopUpView>>().paged(),
        op("get", "/v1/top-ups/{id}", 200, "R10", "A top-up and its receipt")
            .answers::<TopUpView>(),
        op("post", "/v1/top-ups/{id}/confirm", 200, "R23", "Confirm a top-up after 3-D Secure")
            .answers::<TopUpView>(),
        op("post", "/v1/top-ups/{id}/refunds", 201, "R31", "Ask for a refund of a top-up, all or part, with the customer's reason")
            .body::<NewRefund>().answers::<RefundView>().idempotent(),
        op("get", "/v1/refunds", 200, "R31", "Refunds, newest first: ?status=requested is the approval queue; ?account_id= one account")
            .answers::<Page<RefundView>>().paged()
            .query_enum::<RefundStatus>("status", "Only refunds in this status (requested: the approval queue)")
            .query("account_id", "Only this account's refunds"),
        op("get", "/v1/refunds/{id}", 200, "R31", "A refund: amount, status, reasons, what it reversed")
            .answers::<RefundView>(),
        op("post", "/v1/refunds/{id}/approve", 200, "R31", "Approve a refund for at most the amount asked (operator only): its credit and tax share are reversed, the refund sent to the gateway")
            .optional_body::<ApproveRefund>().answers::<RefundView>().idempotent(),
        op("post", "/v1/refunds/{id}/reject", 200, "R31", "Reject a refund with a reason (operator only)")
            .optional_body::<RejectRefund>().answers::<RefundView>().idempotent(),
        op("post", "/v1/portal-sessions", 201, "", "A customer page session for an account the key sees: its url is a one-time link that opens the page (a cookie scoped to the account and its sub-accounts)")
            .body::<NewPortalSession>().answers::<PortalSessionView>().idempotent(),
        op("get", "/v1/portal-sessions/{id}", 200, "", "A customer page session: active, opened, expired or revoked")
            .answers::<PortalSessionView>(),
        op("delete", "/v1/portal-sessions/{id}", 200, "", "Revoke a customer page session: its cookie opens nothing from the next request on")
            .answers::<PortalSessionView>(),
        op("post", "/v1/webhooks/stripe", 200, "R11, R14, R22, R25, R31", "Stripe's events (no API key: authenticated by Stripe-Signature); each processed once")
            .body::<StripeEvent>().answers::<WebhookReceipt>().webhook(),
    ]
}

fn settings() -> Vec<Operation> {
    vec![
        op(
            "get",
            "/v1/accounts/{id}/auto-top-up",
            200,
            "R12-R24",
            "Auto top-up settings, state, last and next attempt, why not",
        )
        .answers::<AutoTopUpView>()
        .etag(),
        op(
            "put",
            "/v1/accounts/{id}/auto-top-up",
            200,
            "R12-R16",
            "Turn auto top-up on, change it, or turn it off (If-Match)",
        )
        .body::<AutoTopUpRequest>()
        .answers::<AutoTopUpView>()
        .etag()
        .if_match(),
        op(
            "get",
            "/v1/accounts/{id}/scheduled-recharge",
            200,
            "R30",
            "The monthly scheduled recharge and its next run",
        )
        .answers::<ScheduledRechargeView>()
        .etag(),
        op(
            "put",
            "/v1/accounts/{id}/scheduled-recharge",
            200,
            "R30",
            "Set the monthly scheduled recharge: amount, day of month, card (If-Match)",
        )
        .body::<ScheduledRechargeRequest>()
        .answers::<ScheduledRechargeView>()
        .etag()
        .if_match(),
        op(
            "delete",
            "/v1/accounts/{id}/scheduled-recharge",
            200,
            "R30",
            "Stop the monthly scheduled recharge",
        )
        .answers::<DeletedScheduledRecharge>(),
        op(
            "put",
            "/v1/accounts/{id}/low-balance-notice",
            200,
            "R27",
            "Set the low-balance notice threshold (0 turns it off)",
        )
        .body::<LowBalance>()
        .answers::<AccountView>(),
    ]
}

fn notifications() -> Vec<Operation> {
    vec![
        op("get", "/v1/events", 200, "R26", "Events, newest first: of every account the key sees, of one account, or with include=sub_accounts its sub-accounts' too")
            .answers::<Page<EventView>>().paged()
            .query("account_id", "Only this account's events (default: every account the key sees)")
            .query_enum::<EventType>("type", "Only events of this type")
            .query_values("include", "With account_id: its sub-accounts' events too", &["sub_accounts"]),
        op("get", "/v1/events/{id}/deliveries", 200, "R28", "An event's deliveries: channel, recipient, status, attempts, last error")
            .answers::<Page<DeliveryView>>(),
        op("post", "/v1/events/{id}/redeliver", 200, "R28", "Send an event again (all its deliveries, or only the dead-lettered ones)")
            .optional_body::<RedeliverBody>().answers::<Page<DeliveryView>>().idempotent(),
        op("get", "/v1/accounts/{id}/notification-settings", 200, "R26, R27", "Which events the payer gets by email and by SMS")
            .answers::<NotificationSettingsView>(),
        op("put", "/v1/accounts/{id}/notification-settings", 200, "R26", "Choose which events go by email and by SMS")
            .body::<NotificationSettingsUpdate>().answers::<NotificationSettingsView>(),
        op("post", "/v1/webhook-endpoints", 201, "R26", "Register a webhook endpoint: URL, event types, signing secret")
            .body::<NewWebhookEndpoint>().answers::<WebhookEndpointView>().idempotent(),
        op("get", "/v1/webhook-endpoints", 200, "R26", "The webhook endpoints the key registered (operator: all; one page)")
            .answers::<Page<WebhookEndpointView>>(),
        op("delete", "/v1/webhook-endpoints/{id}", 204, "R26", "Stop sending to a webhook endpoint"),
    ]
}
