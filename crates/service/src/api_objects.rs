//! What the API shows: the JSON objects of refill, built from stored rows. Amounts are
//! minor units with their currency; times are RFC 3339 UTC.

use refill_domain::top_up::TopUpStatus;
use refill_store::{AccountRow, EntryRow, EventRow, PaymentMethodRow, TopUpRow, TransferRow};
use serde::Serialize;
use serde_json::Value;

/// Unix milliseconds as RFC 3339, UTC: 2026-11-21T17:46:04.123Z (the domain's form,
/// the one the event payloads carry).
pub use refill_domain::time::rfc3339;

fn opt_time(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Payer {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct AccountView {
    pub id: String,
    pub object: &'static str,
    pub parent_id: Option<String>,
    pub name: String,
    pub currency: String,
    pub balance: i64,
    pub credit_limit: i64,
    pub flagged: bool,
    pub low_balance_threshold: i64,
    pub payer: Payer,
    /// R4: `open`, or `closed` for good.
    #[schemars(with = "refill_domain::accounts::AccountStatus")]
    pub status: &'static str,
    pub created: String,
    pub closed: Option<String>,
}

impl From<&AccountRow> for AccountView {
    fn from(a: &AccountRow) -> Self {
        AccountView {
            id: a.id.clone(),
            object: "account",
            parent_id: a.parent_id.clone(),
            name: a.name.clone(),
            currency: a.currency.clone(),
            balance: a.balance,
            credit_limit: a.credit_limit,
            flagged: a.flagged,
            low_balance_threshold: a.low_balance_threshold,
            payer: Payer {
                name: a.payer_name.clone(),
                email: a.payer_email.clone(),
                phone: a.payer_phone.clone(),
                country: a.payer_country.clone(),
            },
            status: refill_domain::accounts::AccountStatus::of(a.closed_at).as_str(),
            created: rfc3339(a.created_at),
            closed: a.closed_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct EntryView {
    pub id: String,
    pub object: &'static str,
    pub journal_id: String,
    pub account_id: String,
    #[schemars(with = "refill_domain::ledger::EntryKind")]
    pub kind: String,
    pub amount: i64,
    pub currency: String,
    pub balance_after: Option<i64>,
    pub reference: Option<String>,
    /// The items an entry of a batch sums (`amount`, `reference`), in posting order;
    /// null for an entry of one item.
    #[schemars(with = "Option<Vec<BatchItem>>")]
    pub items: Option<serde_json::Value>,
    pub created: String,
}

impl From<&EntryRow> for EntryView {
    fn from(e: &EntryRow) -> Self {
        EntryView {
            id: e.id.clone(),
            object: "entry",
            journal_id: e.journal_id.clone(),
            account_id: e.account_id.clone(),
            kind: e.kind.clone(),
            amount: e.amount,
            currency: e.currency.clone(),
            balance_after: e.balance_after,
            reference: e.reference.clone(),
            items: e
                .items
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
            created: rfc3339(e.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct PaymentMethodView {
    pub id: String,
    pub object: &'static str,
    pub account_id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub saved: bool,
    pub primary: bool,
    pub verified: bool,
    pub removed: bool,
    /// ready | requires_action (R14: 3-D Secure when the card is saved at Stripe)
    #[schemars(extend("enum" = ["ready", "requires_action"]))]
    pub status: String,
    /// The gateway's setup (a Stripe SetupIntent), while it waits for 3-D Secure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_intent: Option<String>,
    /// For Stripe.js (`handleNextAction`), while it waits for 3-D Secure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub created: String,
}

impl PaymentMethodView {
    /// With the card's setup at the gateway, where it has one.
    pub fn with_setup(mut self, setup: Option<&refill_store::CardSetupRow>) -> Self {
        if let Some(s) = setup.filter(|s| s.status != crate::saved_cards::READY) {
            self.status = s.status.clone();
            self.setup_intent = s.setup_id.clone();
            self.client_secret = s.client_secret.clone();
        }
        self
    }
}

impl From<&PaymentMethodRow> for PaymentMethodView {
    fn from(p: &PaymentMethodRow) -> Self {
        PaymentMethodView {
            id: p.id.clone(),
            object: "payment_method",
            account_id: p.account_id.clone(),
            brand: p.brand.clone(),
            last4: p.last4.clone(),
            exp_month: p.exp_month,
            exp_year: p.exp_year,
            saved: p.saved,
            primary: p.is_primary,
            verified: p.verified_at.is_some(),
            removed: p.removed_at.is_some(),
            status: "ready".into(),
            setup_intent: None,
            client_secret: None,
            created: rfc3339(p.created_at),
        }
    }
}

/// R10: the receipt of a top-up.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct TopUpView {
    pub id: String,
    pub object: &'static str,
    pub account_id: String,
    /// manual | auto | scheduled (R30)
    #[schemars(with = "refill_domain::top_up::Origin")]
    pub origin: String,
    /// card | transfer
    #[schemars(with = "refill_domain::auto_top_up::SourceKind")]
    pub source: String,
    #[schemars(with = "refill_domain::top_up::TopUpStatus")]
    pub status: String,
    pub amount: i64,
    pub tax: i64,
    /// R1: what the charge was rounded by so that the gateway takes it (0, or
    /// negative: rounded down): total = amount + tax + charge_rounding.
    pub charge_rounding: i64,
    pub total: i64,
    pub currency: String,
    pub payment_method: Option<CardSummary>,
    /// The id the customer can quote: the gateway's charge id.
    pub transaction_id: Option<String>,
    pub attempt: i64,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    #[schemars(with = "Option<refill_domain::auto_top_up::WhyNot>")]
    pub waiting_for: Option<String>,
    pub next_attempt: Option<String>,
    pub refunded: i64,
    pub created: String,
    pub completed: Option<String>,
}

/// R1: a top-up's total is its amount and tax, rounded for the gateway (none before
/// its total is known).
fn charge_rounding(t: &TopUpRow) -> i64 {
    match t.total {
        0 => 0,
        total => total.saturating_sub(t.amount.saturating_add(t.tax)),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CardSummary {
    pub id: String,
    pub brand: String,
    pub last4: String,
}

impl TopUpView {
    pub fn new(t: &TopUpRow, pm: Option<&PaymentMethodRow>) -> TopUpView {
        TopUpView {
            id: t.id.clone(),
            object: "top_up",
            account_id: t.account_id.clone(),
            origin: t.origin.as_str().into(),
            source: t.source.as_str().into(),
            status: t.status.as_str().into(),
            amount: t.amount,
            tax: t.tax,
            charge_rounding: charge_rounding(t),
            total: t.total,
            currency: t.currency.clone(),
            payment_method: pm.map(|p| CardSummary {
                id: p.id.clone(),
                brand: p.brand.clone(),
                last4: p.last4.clone(),
            }),
            transaction_id: t.gateway_charge_id.clone(),
            attempt: t.attempt,
            failure_code: t.failure_code.clone(),
            failure_message: t.failure_message.clone(),
            waiting_for: t.why_waiting.map(|w| w.as_str().into()),
            next_attempt: if t.status == TopUpStatus::Queued {
                opt_time(t.not_before)
            } else {
                None
            },
            refunded: t.refunded,
            created: rfc3339(t.created_at),
            completed: opt_time(t.completed_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct TransferView {
    pub id: String,
    pub object: &'static str,
    pub from_account: String,
    pub to_account: String,
    pub amount: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub created: String,
}

impl From<&TransferRow> for TransferView {
    fn from(t: &TransferRow) -> Self {
        TransferView {
            id: t.id.clone(),
            object: "transfer",
            from_account: t.from_account.clone(),
            to_account: t.to_account.clone(),
            amount: t.amount,
            currency: t.currency.clone(),
            reference: t.reference.clone(),
            created: rfc3339(t.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventView {
    pub id: String,
    pub object: &'static str,
    #[serde(rename = "type")]
    pub event_type: String,
    pub account_id: String,
    pub data: Value,
    pub created: String,
}

impl From<&EventRow> for EventView {
    fn from(e: &EventRow) -> Self {
        EventView {
            id: e.id.clone(),
            object: "event",
            event_type: e.event_type.clone(),
            account_id: e.account_id.clone(),
            data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
            created: rfc3339(e.created_at),
        }
    }
}

impl schemars::JsonSchema for EventView {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Event".into()
    }
    /// One of an event object per event type (`TopUpSucceededEvent`, ...), told apart
    /// by `type`: each with the payload of its type as `data`.
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let path = g.settings().definitions_path.to_string();
        let mut branches = Vec::new();
        let mut mapping = serde_json::Map::new();
        for (t, data) in refill_domain::events::Event::payload_schemas(g) {
            let name = event_schema_name(t.as_str());
            let reference = format!("{path}{name}");
            let branch = serde_json::json!({
                "type": "object",
                "description": format!("An event of type {t}"),
                "required": ["id", "object", "type", "account_id", "data", "created"],
                "properties": {
                    "id": {"type": "string"}, "object": {"const": "event"},
                    "type": {"const": t.as_str()}, "account_id": {"type": "string"},
                    "data": data, "created": {"type": "string"},
                },
            });
            g.definitions_mut().insert(name, branch);
            branches.push(serde_json::json!({"$ref": reference}));
            mapping.insert(t.as_str().into(), reference.into());
        }
        schemars::json_schema!({
            "description": "R26: something that happened to an account; its `data` is the payload of its `type`.",
            "oneOf": branches,
            "discriminator": {"propertyName": "type", "mapping": mapping},
        })
    }
}

/// `top_up.succeeded` -> `TopUpSucceededEvent`.
fn event_schema_name(t: &str) -> String {
    let mut name: String = t
        .split(['.', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Event");
    name
}

/// An item of a batch's entry, in posting order (the schema of `EntryView::items`).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct BatchItem {
    amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
}

/// A list page: `{"data": [...], "has_more": bool}`.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct Page<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// A list that is always whole: one page.
    pub fn whole(data: Vec<T>) -> Page<T> {
        Page {
            object: "list",
            data,
            has_more: false,
        }
    }

    /// Builds a page from `limit + 1` fetched rows.
    pub fn from_rows<R>(mut rows: Vec<R>, limit: i64, view: impl Fn(&R) -> T) -> Page<T> {
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        Page {
            object: "list",
            data: rows.iter().map(view).collect(),
            has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_795_283_164_123),
            "2026-11-21T17:46:04.123Z"
        );
    }
}
