//! The OpenAPI 3.1 document, built from one table of routes. It is served at
//! /v1/openapi.json and checked in as openapi.json; a test fails when they differ and
//! when a route in the table does not answer.

use serde_json::{Value, json};

/// (method, path, summary, rule, request body schema, success status)
pub type Route = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    u16,
);

pub const ROUTES: &[Route] = &[
    (
        "post",
        "/v1/accounts",
        "Create an account or, with parent_id, a sub-account",
        "R2, R4",
        Some("NewAccount"),
        201,
    ),
    (
        "get",
        "/v1/accounts",
        "List the accounts the key can see",
        "R4",
        None,
        200,
    ),
    (
        "get",
        "/v1/accounts/{id}",
        "An account and its balance",
        "R2",
        None,
        200,
    ),
    (
        "patch",
        "/v1/accounts/{id}",
        "Change the name or the payer (a merge patch: null removes); without a payer, card auto top-up is disabled",
        "R4, R5, R22",
        Some("AccountChanges"),
        200,
    ),
    (
        "post",
        "/v1/accounts/{id}/close",
        "Close the account (refused while a top-up is in progress, the balance is not 0 or a sub-account is open)",
        "R4",
        None,
        200,
    ),
    (
        "post",
        "/v1/accounts/{id}/keys",
        "Create an API key scoped to the account and its sub-accounts (operator only); its secret is shown once",
        "R4",
        Some("NewApiKey"),
        201,
    ),
    (
        "get",
        "/v1/keys",
        "The API keys the key manages (operator: all; account key: its tree's), by prefix, never their secrets",
        "R4",
        None,
        200,
    ),
    (
        "delete",
        "/v1/keys/{id}",
        "Revoke an API key: refused at once by this node, within 2 s by every other",
        "R4",
        None,
        200,
    ),
    (
        "post",
        "/v1/keys/{id}/rotate",
        "Give an API key a new secret (shown once); the old one works for the grace (default a day)",
        "R4",
        Some("Rotation"),
        200,
    ),
    (
        "put",
        "/v1/accounts/{id}/low-balance-notice",
        "Set the low-balance notice threshold (0 turns it off)",
        "R27",
        Some("LowBalance"),
        200,
    ),
    (
        "get",
        "/v1/accounts/{id}/entries",
        "The account's ledger entries, newest first",
        "R3",
        None,
        200,
    ),
    (
        "post",
        "/v1/accounts/{id}/debits",
        "Debit usage or a fee; refused whole below the credit limit",
        "R6, R18",
        Some("Debit"),
        201,
    ),
    (
        "post",
        "/v1/accounts/{id}/debits/batch",
        "Debit a batch, all or nothing",
        "R6",
        Some("DebitBatch"),
        201,
    ),
    (
        "post",
        "/v1/accounts/{id}/estimate",
        "Price planned usage: cost, balance after, top-up needed",
        "R7",
        Some("Estimate"),
        200,
    ),
    (
        "post",
        "/v1/accounts/{id}/payment-methods",
        "Save a tokenised card",
        "R5",
        Some("NewPaymentMethod"),
        201,
    ),
    (
        "get",
        "/v1/accounts/{id}/payment-methods",
        "The saved cards, primary first",
        "R5",
        None,
        200,
    ),
    (
        "delete",
        "/v1/accounts/{id}/payment-methods/{pm}",
        "Remove a saved card",
        "R5, R22",
        None,
        200,
    ),
    (
        "post",
        "/v1/accounts/{id}/checkout",
        "Checkout summary: amount, tax, total",
        "R8, R9",
        Some("Checkout"),
        200,
    ),
    (
        "post",
        "/v1/accounts/{id}/top-ups",
        "Top up by card now; returns the receipt",
        "R8, R10",
        Some("NewTopUp"),
        201,
    ),
    (
        "get",
        "/v1/accounts/{id}/top-ups",
        "The account's top-ups, newest first",
        "R10, R24",
        None,
        200,
    ),
    (
        "get",
        "/v1/top-ups/{id}",
        "A top-up and its receipt",
        "R10",
        None,
        200,
    ),
    (
        "post",
        "/v1/top-ups/{id}/confirm",
        "Confirm a top-up after 3-D Secure",
        "R23",
        None,
        200,
    ),
    (
        "post",
        "/v1/top-ups/{id}/refunds",
        "Ask for a refund of a top-up, all or part, with the customer's reason",
        "R31",
        Some("NewRefund"),
        201,
    ),
    (
        "get",
        "/v1/refunds",
        "Refunds, newest first: ?status=requested is the approval queue; ?account_id= one account",
        "R31",
        None,
        200,
    ),
    (
        "get",
        "/v1/refunds/{id}",
        "A refund: amount, status, reasons, what it reversed",
        "R31",
        None,
        200,
    ),
    (
        "post",
        "/v1/refunds/{id}/approve",
        "Approve a refund for at most the amount asked (operator only): its credit and tax share are reversed, the refund sent to the gateway",
        "R31",
        Some("ApproveRefund"),
        200,
    ),
    (
        "post",
        "/v1/refunds/{id}/reject",
        "Reject a refund with a reason (operator only)",
        "R31",
        Some("RejectRefund"),
        200,
    ),
    (
        "post",
        "/v1/portal-sessions",
        "A customer page session for an account the key sees: its url is a one-time link that opens the page (a cookie scoped to the account and its sub-accounts)",
        "",
        Some("NewPortalSession"),
        201,
    ),
    (
        "get",
        "/v1/portal-sessions/{id}",
        "A customer page session: active, opened, expired or revoked",
        "",
        None,
        200,
    ),
    (
        "delete",
        "/v1/portal-sessions/{id}",
        "Revoke a customer page session: its cookie opens nothing from the next request on",
        "",
        None,
        200,
    ),
    (
        "post",
        "/v1/transfers",
        "Move credit between a main account and its sub-account",
        "R4, R18",
        Some("NewTransfer"),
        201,
    ),
    (
        "get",
        "/v1/accounts/{id}/auto-top-up",
        "Auto top-up settings, state, last and next attempt, why not",
        "R12-R24",
        None,
        200,
    ),
    (
        "put",
        "/v1/accounts/{id}/auto-top-up",
        "Turn auto top-up on, change it, or turn it off (If-Match)",
        "R12-R16",
        Some("AutoTopUp"),
        200,
    ),
    (
        "get",
        "/v1/events",
        "Events: top-up succeeded, failed, disabled, balance low, ... (of one account, or with include=sub_accounts its sub-accounts' too)",
        "R26",
        None,
        200,
    ),
    (
        "get",
        "/v1/accounts/{id}/notification-settings",
        "Which events the payer gets by email and by SMS",
        "R26, R27",
        None,
        200,
    ),
    (
        "put",
        "/v1/accounts/{id}/notification-settings",
        "Choose which events go by email and by SMS",
        "R26",
        Some("NotificationSettings"),
        200,
    ),
    (
        "post",
        "/v1/webhook-endpoints",
        "Register a webhook endpoint: URL, event types, signing secret",
        "R26",
        Some("NewWebhookEndpoint"),
        201,
    ),
    (
        "get",
        "/v1/webhook-endpoints",
        "The webhook endpoints the key registered (operator: all)",
        "R26",
        None,
        200,
    ),
    (
        "delete",
        "/v1/webhook-endpoints/{id}",
        "Stop sending to a webhook endpoint",
        "R26",
        None,
        204,
    ),
    (
        "get",
        "/v1/events/{id}/deliveries",
        "An event's deliveries: channel, recipient, status, attempts, last error",
        "R28",
        None,
        200,
    ),
    (
        "post",
        "/v1/events/{id}/redeliver",
        "Send an event again (all its deliveries, or only the dead-lettered ones)",
        "R28",
        Some("Redeliver"),
        200,
    ),
    (
        "post",
        "/v1/accounts/{id}/resources",
        "Buy a recurring-fee resource (a dedicated number): the first period's fee now; may turn auto top-up on",
        "R17, R29",
        Some("NewResource"),
        201,
    ),
    (
        "get",
        "/v1/accounts/{id}/resources",
        "The resources the account holds, their fees and next renewal",
        "R29",
        None,
        200,
    ),
    (
        "delete",
        "/v1/accounts/{id}/resources/{resource_id}",
        "Remove a resource: its fees stop; the last one also stops the auto top-up its purchase turned on",
        "R17, R29",
        None,
        200,
    ),
    (
        "get",
        "/v1/accounts/{id}/scheduled-recharge",
        "The monthly scheduled recharge and its next run",
        "R30",
        None,
        200,
    ),
    (
        "put",
        "/v1/accounts/{id}/scheduled-recharge",
        "Set the monthly scheduled recharge: amount, day of month, card (If-Match)",
        "R30",
        Some("ScheduledRecharge"),
        200,
    ),
    (
        "delete",
        "/v1/accounts/{id}/scheduled-recharge",
        "Stop the monthly scheduled recharge",
        "R30",
        None,
        200,
    ),
    (
        "post",
        "/v1/accounts/{id}/payment-methods/{pm}/confirm",
        "After 3-D Secure: ask the gateway whether the card's setup succeeded",
        "R5, R14",
        None,
        200,
    ),
    (
        "post",
        "/v1/webhooks/stripe",
        "Stripe's events (no API key: authenticated by Stripe-Signature); each processed once",
        "R11, R14, R22, R25, R31",
        Some("StripeEvent"),
        200,
    ),
];

/// (path, name, description, the values it takes if only some): the query
/// parameters of a route beyond a list's `limit` and `starting_after`.
pub type QueryParameter = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

pub const QUERY_PARAMETERS: &[QueryParameter] = &[
    (
        "/v1/events",
        "account_id",
        "Only this account's events (default: every account the key sees)",
        &[],
    ),
    ("/v1/events", "type", "Only events of this type", &[]),
    (
        "/v1/events",
        "include",
        "With account_id: its sub-accounts' events too",
        &["sub_accounts"],
    ),
];

/// Routes called by a payment gateway, not by API key holders.
fn is_webhook(path: &str) -> bool {
    path.starts_with("/v1/webhooks/")
}

fn schemas() -> Value {
    let money =
        json!({"type": "integer", "format": "int64", "description": "minor units (pence, cents)"});
    json!({
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "code"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "code": {"type": "string"}, "rule": {"type": "string"}}},
        "NewAccount": {"type": "object", "required": ["name", "currency"], "properties": {
            "name": {"type": "string"}, "currency": {"type": "string", "example": "GBP"}, "parent_id": {"type": "string"},
            "credit_limit": money, "low_balance_threshold": money,
            "payer": {"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string"},
                "phone": {"type": "string"}, "country": {"type": "string", "example": "GB"}}}}},
        "AccountChanges": {"type": "object", "description": "A JSON merge patch: a field left out is kept, null removes it", "properties": {
            "name": {"type": "string"},
            "payer": {"type": ["object", "null"], "description": "null removes the payer (card auto top-up is then disabled, R22)", "properties": {
                "name": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
                "phone": {"type": ["string", "null"], "example": "+447700900123"},
                "country": {"type": ["string", "null"], "example": "GB"}}}}},
        "NewApiKey": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 200},
            "expires_in": {"type": "integer", "minimum": 1, "description": "seconds until the key stops working; none: never"}}},
        "Rotation": {"type": "object", "properties": {"grace": {"type": "integer", "minimum": 0, "maximum": 604800, "default": 86400,
            "description": "seconds the replaced secret keeps working; 0 for a leaked secret"}}},
        "LowBalance": {"type": "object", "required": ["threshold"], "properties": {"threshold": money}},
        "Debit": {"type": "object", "required": ["amount"], "properties": {"amount": money, "currency": {"type": "string"},
            "kind": {"type": "string", "enum": ["usage", "fee"]}, "reference": {"type": "string"}}},
        "DebitBatch": {"type": "object", "required": ["items"], "properties": {"currency": {"type": "string"},
            "items": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/Debit"}}}},
        "Estimate": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
            "type": "object", "required": ["quantity", "unit_price"], "properties": {"quantity": {"type": "integer"},
            "unit_price": money, "description": {"type": "string"}}}}}},
        "NewPaymentMethod": {"type": "object", "required": ["token"], "properties": {"token": {"type": "string", "example": "pm_card_visa"},
            "save": {"type": "boolean"}, "primary": {"type": "boolean"}}},
        "Checkout": {"type": "object", "required": ["amount"], "properties": {"amount": money, "currency": {"type": "string"}}},
        "NewTopUp": {"type": "object", "required": ["amount"], "properties": {"amount": money, "currency": {"type": "string"},
            "payment_method": {"type": "string"}}},
        "NewTransfer": {"type": "object", "required": ["from_account", "to_account", "amount"], "properties": {
            "from_account": {"type": "string"}, "to_account": {"type": "string"}, "amount": money,
            "currency": {"type": "string"}, "reference": {"type": "string"}}},
        "AutoTopUp": {"type": "object", "required": ["enabled"], "properties": {"enabled": {"type": "boolean"},
            "threshold": money, "amount": money, "target_balance": money,
            "source": {"type": "string", "enum": ["card", "transfer"]}, "payment_method": {"type": "string"},
            "terms_version": {"type": "string"}, "three_d_secure": {"type": "string", "enum": ["completed"]}}},
        "NotificationSettings": {"type": "object", "properties": {
            "email": {"type": "array", "items": {"type": "string"}, "example": ["*"]},
            "sms": {"type": "array", "items": {"type": "string"}, "example": ["top_up.failed", "auto_top_up.disabled"]}}},
        "NewWebhookEndpoint": {"type": "object", "required": ["url", "event_types"], "properties": {
            "url": {"type": "string", "example": "https://example.com/refill-hooks"},
            "event_types": {"type": "array", "items": {"type": "string"}, "example": ["*"]},
            "secret": {"type": "string", "minLength": 16}, "description": {"type": "string"},
            "account_id": {"type": "string"}}},
        "Redeliver": {"type": "object", "properties": {"only_dead": {"type": "boolean"}}},
        "NewResource": {"type": "object", "required": ["name", "fee"], "properties": {
            "name": {"type": "string", "example": "+44 7700 900123"}, "fee": money, "currency": {"type": "string"},
            "period": {"type": "string", "enum": ["weekly", "monthly", "yearly"], "default": "monthly"},
            "terms_version": {"type": "string", "description": "auto top-up terms: needed when the purchase turns auto top-up on (R14, R17)"},
            "three_d_secure": {"type": "string", "enum": ["completed"]}}},
        "ScheduledRecharge": {"type": "object", "required": ["amount", "day_of_month"], "properties": {
            "amount": money, "day_of_month": {"type": "integer", "minimum": 1, "maximum": 31},
            "payment_method": {"type": "string", "description": "a saved card; default: the primary card at each run"}}},
        "NewRefund": {"type": "object", "required": ["reason"], "properties": {
            "amount": {"type": "integer", "format": "int64", "description": "minor units to return to the card, at most the total charged (credit and tax) not refunded yet; default: all of it"},
            "currency": {"type": "string"}, "reason": {"type": "string", "maxLength": 500}}},
        "ApproveRefund": {"type": "object", "properties": {
            "amount": {"type": "integer", "format": "int64", "description": "at most the amount asked; default: all of it"},
            "reason": {"type": "string", "maxLength": 500, "description": "a note with the decision"}}},
        "RejectRefund": {"type": "object", "required": ["reason"], "properties": {
            "reason": {"type": "string", "maxLength": 500}}},
        "NewPortalSession": {"type": "object", "required": ["account_id"], "properties": {"account_id": {"type": "string"},
            "return_url": {"type": "string", "description": "the page's link back to your dashboard (http or https)"},
            "locale": {"type": "string", "example": "en-GB", "description": "how money and dates are written; default en-GB"}}},
        "StripeEvent": {"type": "object", "required": ["id", "type", "created", "data"], "description": "A Stripe event, as Stripe signs and sends it", "properties": {
            "id": {"type": "string"}, "type": {"type": "string"}, "created": {"type": "integer"}, "data": {"type": "object"}}},
    })
}

fn operation(
    method: &str,
    path: &str,
    summary: &str,
    rule: &str,
    body: Option<&str>,
    status: u16,
) -> Value {
    let mut op = json!({
        "summary": summary,
        "description": if rule.is_empty() { String::new() } else { format!("Domain rules: {rule}") },
        "security": [{"bearer": []}],
        "responses": {
            status.to_string(): {"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {"description": "a problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        },
    });
    let params: Vec<Value> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let mut params = params;
    if is_webhook(path) {
        op["security"] = json!([]);
        params.push(json!({"name": "Stripe-Signature", "in": "header", "required": true, "schema": {"type": "string"}}));
    } else if method == "post" || method == "patch" {
        params.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"}}));
    }
    if method == "put" && (path.ends_with("auto-top-up") || path.ends_with("scheduled-recharge")) {
        params.push(json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"}}));
    }
    if method == "get" && !path.ends_with('}') {
        params.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}));
        params.push(json!({"name": "starting_after", "in": "query", "schema": {"type": "string"}}));
        for &(_, name, description, values) in QUERY_PARAMETERS.iter().filter(|q| q.0 == path) {
            let mut schema = json!({"type": "string"});
            if !values.is_empty() {
                schema["enum"] = json!(values);
            }
            params.push(
                json!({"name": name, "in": "query", "description": description, "schema": schema}),
            );
        }
    }
    if method == "get" && path == "/v1/refunds" {
        for name in ["status", "account_id"] {
            params.push(json!({"name": name, "in": "query", "schema": {"type": "string"}}));
        }
    }
    op["parameters"] = Value::Array(params);
    if let Some(schema) = body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    }
    op
}

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for &(method, path, summary, rule, body, status) in ROUTES {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = operation(method, path, summary, rule, body, status);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "refill", "version": env!("CARGO_PKG_VERSION"),
            "description": "Prepaid balances with automatic top-up. Amounts are integers in minor units with an ISO 4217 code."},
        "paths": paths,
        "components": {"schemas": schemas(), "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    })
}
