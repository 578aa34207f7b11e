//! What customers and providers hear about (R26, R27): per-account channel preferences
//! and webhook endpoints. Delivery itself is in `delivery.rs`.

use crate::accounts::Caller;
use crate::api_objects::rfc3339;
use crate::{Idem, Refill, Result, ServiceError, idempotency};
use refill_domain::notifications::{EventSet, Preferences};
use refill_notify::{DestinationError, EmailChannel, Reach, SmsChannel, WebhookChannel};
use refill_store::sqlx::AnyConnection;
use refill_store::{AccountRow, WebhookEndpointRow};
use serde::{Deserialize, Serialize};

/// The configured channels. Email and SMS exist once configured; webhooks always.
#[derive(Debug, Clone)]
pub struct Channels {
    pub email: Option<EmailChannel>,
    pub sms: Option<SmsChannel>,
    pub webhook: WebhookChannel,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            email: None,
            sms: None,
            // Building a client with only a timeout set does not fail in practice; if it
            // ever did there would be no webhooks at all, so fail loudly at start.
            webhook: WebhookChannel::new().expect("an HTTP client for webhooks"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingsUpdate {
    /// Event types sent by email to the payer, or ["*"] for all.
    pub email: Option<Vec<String>>,
    /// Event types sent by SMS to the payer's phone, or ["*"] for all.
    pub sms: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ChannelView {
    /// Where it goes: the payer's address or phone (of the main account when the
    /// sub-account has none).
    pub to: Option<String>,
    pub events: Vec<String>,
    /// Whether this deployment has the channel set up.
    pub configured: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct NotificationSettingsView {
    pub object: &'static str,
    pub account_id: String,
    pub email: ChannelView,
    pub sms: ChannelView,
    /// R27: set with PUT /v1/accounts/{id}/low-balance.
    pub low_balance_threshold: i64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    pub url: String,
    /// Event types wanted, or ["*"].
    pub event_types: Vec<String>,
    /// The signing secret; generated when absent.
    pub secret: Option<String>,
    pub description: Option<String>,
    /// Operator only: hear only this account (and its sub-accounts).
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct WebhookEndpointView {
    pub id: String,
    pub object: &'static str,
    pub url: String,
    pub event_types: Vec<String>,
    pub account_id: Option<String>,
    pub description: Option<String>,
    /// Shown once, when the endpoint is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created: String,
}

impl WebhookEndpointView {
    fn new(w: &WebhookEndpointRow, show_secret: bool) -> Self {
        WebhookEndpointView {
            id: w.id.clone(),
            object: "webhook_endpoint",
            url: w.url.clone(),
            event_types: EventSet::from_text(&w.event_types).to_list(),
            account_id: w.account_id.clone(),
            description: w.description.clone(),
            secret: show_secret.then(|| w.secret.clone()),
            created: rfc3339(w.created_at),
        }
    }
}

fn event_set(field: &str, types: &[String]) -> Result<EventSet> {
    EventSet::parse_list(types).map_err(|bad| {
        ServiceError::invalid(
            "unknown_event_type",
            format!(
                "{field}: {bad:?} is not an event type; use \"*\" or some of {:?}",
                refill_domain::notifications::EVENT_TYPES
            ),
        )
    })
}

/// An endpoint URL: http(s), a host, no credentials in it, a sane length.
fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| ServiceError::invalid("invalid_url", format!("url {why}"));
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// or http://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if url.len() > 2048 || url.chars().any(char::is_whitespace) {
        return Err(bad("must be at most 2048 characters, without spaces"));
    }
    if host.is_empty() || host.contains('@') {
        return Err(bad("must name a host, without user or password"));
    }
    Ok(())
}

/// Which addresses an endpoint may have: any for the operator's own, public otherwise.
pub(crate) fn reach_of(trusted: bool) -> Reach {
    if trusted { Reach::Any } else { Reach::Public }
}

fn check_secret(secret: &str) -> Result<()> {
    if secret.len() < 16 || secret.len() > 200 {
        return Err(ServiceError::invalid(
            "invalid_secret",
            "secret must be 16 to 200 characters (or leave it out to get one generated)",
        ));
    }
    Ok(())
}

/// R26: an account's preferences as stored, defaults where nothing is stored.
pub async fn preferences_of(conn: &mut AnyConnection, account_id: &str) -> Result<Preferences> {
    let mut prefs = Preferences::default();
    for (channel, types) in refill_store::notification_preferences(&mut *conn, account_id).await? {
        match channel.as_str() {
            "email" => prefs.email = EventSet::from_text(&types),
            "sms" => prefs.sms = EventSet::from_text(&types),
            _ => {}
        }
    }
    Ok(prefs)
}

/// The payer's email and phone: the account's own, else its main account's (then
/// `inherited` says so).
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub inherited: bool,
}

pub async fn contacts_of(conn: &mut AnyConnection, account: &AccountRow) -> Result<Contact> {
    let parent = match &account.parent_id {
        Some(p) => refill_store::get_account(&mut *conn, p).await?,
        None => None,
    };
    let up = |f: fn(&AccountRow) -> &Option<String>| parent.as_ref().and_then(|p| f(p).clone());
    let email = account
        .payer_email
        .clone()
        .or_else(|| up(|p| &p.payer_email));
    let phone = account
        .payer_phone
        .clone()
        .or_else(|| up(|p| &p.payer_phone));
    let inherited = (account.payer_email.is_none() && email.is_some())
        || (account.payer_phone.is_none() && phone.is_some());
    Ok(Contact {
        email,
        phone,
        inherited,
    })
}

/// "a***@example.com" / "***0123": enough to recognise, not to read.
fn mask(contact: Option<String>) -> Option<String> {
    contact.map(|c| match c.split_once('@') {
        Some((user, domain)) => format!("{}***@{domain}", user.chars().next().unwrap_or('*')),
        None => {
            let tail: String = c
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("***{tail}")
        }
    })
}

impl Refill {
    pub async fn notification_settings(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<NotificationSettingsView> {
        let a = self.account(caller, account_id).await?;
        let mut conn = self.db.pool.acquire().await?;
        let prefs = preferences_of(&mut conn, account_id).await?;
        let mut c = contacts_of(&mut conn, &a).await?;
        // A sub-account's own key may not read its main account's payer.
        if c.inherited && caller.root() == Some(account_id) {
            (c.email, c.phone) = (mask(c.email), mask(c.phone));
        }
        let (email, phone) = (c.email, c.phone);
        Ok(NotificationSettingsView {
            object: "notification_settings",
            account_id: a.id,
            email: ChannelView {
                to: email,
                events: prefs.email.to_list(),
                configured: self.channels.email.is_some(),
            },
            sms: ChannelView {
                to: phone,
                events: prefs.sms.to_list(),
                configured: self.channels.sms.is_some(),
            },
            low_balance_threshold: a.low_balance_threshold,
        })
    }

    /// R26: chooses which events go by email and by SMS. Fields left out keep their value.
    pub async fn put_notification_settings(
        &self,
        caller: &Caller,
        account_id: &str,
        req: NotificationSettingsUpdate,
    ) -> Result<NotificationSettingsView> {
        self.open_account(caller, account_id).await?;
        let email = req
            .email
            .as_deref()
            .map(|t| event_set("email", t))
            .transpose()?;
        let sms = req
            .sms
            .as_deref()
            .map(|t| event_set("sms", t))
            .transpose()?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        for (channel, set) in [("email", email), ("sms", sms)] {
            if let Some(set) = set {
                refill_store::put_notification_preference(
                    &mut tx,
                    account_id,
                    channel,
                    &set.to_text(),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.notification_settings(caller, account_id).await
    }

    /// R26: registers a webhook endpoint. The operator's hear every account (or the one
    /// named); an account's hear its own tree.
    pub async fn create_webhook_endpoint(
        &self,
        caller: &Caller,
        req: NewWebhookEndpoint,
        idem: Option<&Idem>,
    ) -> Result<WebhookEndpointView> {
        check_url(&req.url)?;
        let events = event_set("event_types", &req.event_types)?;
        if events == EventSet::Only(vec![]) {
            return Err(ServiceError::invalid(
                "event_types_empty",
                "event_types must list at least one event type, or \"*\"",
            ));
        }
        let account_id = match (caller, &req.account_id) {
            (Caller::Account { account_id, .. }, None) => Some(account_id.clone()),
            (_, Some(id)) => Some(self.account(caller, id).await?.id),
            (Caller::Operator { .. }, None) => None,
        };
        if let Some(s) = &req.secret {
            check_secret(s)?;
        }
        // The operator may point an endpoint at an internal host; a customer may not.
        let trusted = caller.is_operator();
        self.check_destination(&req.url, reach_of(trusted)).await?;
        let row = WebhookEndpointRow {
            id: refill_store::new_id("we"),
            account_id,
            url: req.url,
            secret: req
                .secret
                .unwrap_or_else(|| crate::accounts::new_secret("whsec")),
            event_types: events.to_text(),
            description: req.description.map(|d| d.chars().take(500).collect()),
            trusted,
            removed_at: None,
            created_at: self.now(),
        };
        let view = WebhookEndpointView::new(&row, true);
        let mut tx = self.db.begin().await?;
        refill_store::insert_webhook_endpoint(&mut tx, &row).await?;
        idempotency::remember(&mut tx, idem, 201, &view, self.now()).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// The URL's host must resolve, to public addresses only unless the endpoint is
    /// the operator's. Deliveries check again, on the connection itself.
    async fn check_destination(&self, url: &str, reach: Reach) -> Result<()> {
        let refused = match self.channels.webhook.check_destination(url, reach).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let code = match refused {
            DestinationError::BadUrl(_) => "invalid_url",
            DestinationError::Unresolvable { .. } => "url_not_resolvable",
            DestinationError::NotPublic { .. } => "url_not_public",
        };
        Err(ServiceError::invalid(code, refused.to_string()))
    }

    pub async fn list_webhook_endpoints(
        &self,
        caller: &Caller,
    ) -> Result<Vec<WebhookEndpointView>> {
        let rows = refill_store::list_webhook_endpoints(&self.db.pool, caller.root()).await?;
        Ok(rows
            .iter()
            .map(|w| WebhookEndpointView::new(w, false))
            .collect())
    }

    /// Stops sending to an endpoint; its pending deliveries are dead-lettered when due.
    pub async fn remove_webhook_endpoint(&self, caller: &Caller, id: &str) -> Result<()> {
        let found = refill_store::get_webhook_endpoint(&self.db.pool, id)
            .await?
            .filter(|w| w.removed_at.is_none())
            .ok_or_else(|| ServiceError::not_found("webhook endpoint", id))?;
        let visible = match &found.account_id {
            Some(acct) => self.account(caller, acct).await.is_ok(),
            None => caller.is_operator(),
        };
        if !visible {
            return Err(ServiceError::not_found("webhook endpoint", id));
        }
        let mut tx = self.db.begin().await?;
        refill_store::remove_webhook_endpoint(&mut tx, id, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r26_endpoint_urls_are_checked() {
        for ok in ["https://example.com/hooks", "http://127.0.0.1:9000/x?y=1"] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "https://",
            "https://user:pw@example.com/",
            "https://exa mple.com",
            "example.com",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(3000))).is_err());
    }
}
