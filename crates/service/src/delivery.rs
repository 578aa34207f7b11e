//! R28: the outbox's events reach people and systems, at least once, never lost.
//!
//! Two steps, each crash-safe on its own:
//! 1. fan-out: an event not yet dispatched becomes one delivery row per (channel,
//!    recipient), in the transaction that marks it dispatched;
//! 2. delivery: due rows are claimed with a lease (one node sends each at a time),
//!    sent, and their outcome recorded: delivered, retried later with backoff and
//!    jitter, or dead-lettered with the reason once the retry window (3 days by
//!    default) is over or the failure is permanent.
//!
//! A crash between sending and recording means the row is sent again after its lease:
//! receivers dedupe by event id (the webhook envelope's `id`, the email's Message-ID).

use crate::accounts::Caller;
use crate::api_objects::{Page, rfc3339};
use crate::notifications::{contacts_of, preferences_of, reach_of};
use crate::{Idem, Refill, Result, ServiceError, idempotency};
use refill_domain::notifications::{self, Channel, Contacts, EventSet, Subscription};
use refill_notify::{DeliveryError, Notification, WebhookEndpoint};
use refill_store::{DeliveryRow, EventRow, Redeliver, Tx, delivery_status};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many events one fan-out transaction takes, and deliveries one claim takes.
const FAN_OUT_BATCH: i64 = 200;
const CLAIM_BATCH: i64 = 50;

/// This node's delivery counts, for /metrics.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub dead: AtomicU64,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct DeliveryView {
    pub id: String,
    pub object: &'static str,
    pub event_id: String,
    #[schemars(with = "refill_domain::notifications::Channel")]
    pub channel: String,
    pub recipient: String,
    /// pending | delivered | dead
    #[schemars(extend("enum" = ["pending", "delivered", "dead"]))]
    pub status: String,
    pub attempts: i64,
    pub next_attempt: Option<String>,
    pub last_error: Option<String>,
    pub delivered: Option<String>,
}

impl From<&DeliveryRow> for DeliveryView {
    fn from(d: &DeliveryRow) -> Self {
        DeliveryView {
            id: d.id.clone(),
            object: "delivery",
            event_id: d.event_id.clone(),
            channel: d.channel.clone(),
            recipient: d.recipient.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            next_attempt: (d.status == delivery_status::PENDING)
                .then(|| rfc3339(d.next_attempt_at)),
            last_error: d.last_error.clone(),
            delivered: d.delivered_at.map(rfc3339),
        }
    }
}

fn notification(e: &EventRow) -> Notification {
    Notification {
        event_id: e.id.clone(),
        event_type: e.event_type.clone(),
        created_ms: e.created_at,
        account_id: e.account_id.clone(),
        data: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
    }
}

impl Refill {
    /// Fans out and delivers until nothing is due at the current time. Returns how
    /// many deliveries were attempted. Tests call it after each step.
    pub async fn deliver_notifications(&self) -> Result<usize> {
        let mut attempted = 0;
        loop {
            let fanned = self.fan_out().await?;
            let sent = self.deliver_due().await?;
            attempted += sent;
            if fanned == 0 && sent == 0 {
                return Ok(attempted);
            }
        }
    }

    /// Step 1: turns undispatched events into deliveries. Returns the events handled.
    ///
    /// The routes are worked out on a reader's connection first: the write
    /// transaction only claims each event and inserts its rows. Reading inside it
    /// held the store's writer (and the debits queued behind it) for about 1 ms per
    /// event under load.
    pub async fn fan_out(&self) -> Result<usize> {
        let mut conn = self.db.pool.acquire().await?;
        let events = refill_store::undispatched_events(&mut conn, FAN_OUT_BATCH).await?;
        let mut planned = Vec::with_capacity(events.len());
        for e in &events {
            planned.push((e.id.as_str(), self.deliveries_of(&mut conn, e).await?));
        }
        drop(conn);
        let mut tx = self.db.begin().await?;
        for (event_id, deliveries) in &planned {
            // Another node may have fanned it out meanwhile: then it adds nothing.
            if refill_store::mark_dispatched(&mut tx, event_id).await? {
                for d in deliveries {
                    refill_store::insert_delivery(&mut tx, d).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(events.len())
    }

    /// The delivery rows an event makes: one per route.
    async fn deliveries_of(&self, conn: &mut Tx, e: &EventRow) -> Result<Vec<DeliveryRow>> {
        let Some(account) = refill_store::get_account(&mut *conn, &e.account_id).await? else {
            return Ok(vec![]);
        };
        let parent = account.parent_id.clone();
        let contact = contacts_of(conn, &account).await?;
        let contacts = Contacts {
            email: contact.email,
            phone: contact.phone,
            email_configured: self.channels.email.is_some(),
            sms_configured: self.channels.sms.is_some(),
        };
        let prefs = preferences_of(conn, &e.account_id).await?;
        let subs: Vec<Subscription> =
            refill_store::endpoints_hearing(&mut *conn, &e.account_id, parent.as_deref())
                .await?
                .into_iter()
                .map(|w| Subscription {
                    endpoint_id: w.id,
                    events: EventSet::from_text(&w.event_types),
                })
                .collect();
        let now = self.now();
        let routes = notifications::routes(&e.event_type, &contacts, &prefs, &subs);
        Ok(routes
            .into_iter()
            .map(|route| DeliveryRow {
                id: refill_store::new_id("dlv"),
                event_id: e.id.clone(),
                channel: route.channel.as_str().into(),
                recipient: route.recipient,
                status: delivery_status::PENDING.into(),
                next_attempt_at: now,
                created_at: now,
                ..DeliveryRow::default()
            })
            .collect())
    }

    /// Step 2: claims due deliveries and sends them, concurrently. Returns how many
    /// were attempted.
    pub async fn deliver_due(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let claimed = refill_store::claim_deliveries(
            &mut tx,
            self.db.dialect,
            &self.node_id,
            now,
            self.config.lease,
            CLAIM_BATCH,
        )
        .await?;
        tx.commit().await?;
        let n = claimed.len();
        let mut sends = tokio::task::JoinSet::new();
        for d in claimed {
            let app = self.clone();
            sends.spawn(async move { app.deliver_one(d).await });
        }
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("refill: delivery: {e}, will retry after its lease"),
                Err(e) => eprintln!("refill: delivery task: {e}"),
            }
        }
        Ok(n)
    }

    async fn deliver_one(&self, mut d: DeliveryRow) -> Result<()> {
        let outcome = self.send(&d).await;
        let now = self.now();
        d.attempts += 1;
        let first = *d.first_attempt_at.get_or_insert(now);
        match outcome {
            Ok(()) => {
                d.status = delivery_status::DELIVERED.into();
                d.delivered_at = Some(now);
                d.last_error = None;
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters
                    .failed_attempts
                    .fetch_add(1, Ordering::Relaxed);
                let next = e
                    .retryable
                    .then(|| {
                        let r: f64 = rand::random();
                        self.config
                            .notify_retry
                            .next_attempt_ms(d.attempts as u32, first, now, r)
                    })
                    .flatten();
                d.last_error = Some(e.reason.chars().take(1000).collect());
                match next {
                    Some(at) => d.next_attempt_at = at,
                    None => {
                        d.status = delivery_status::DEAD.into();
                        self.counters.dead.fetch_add(1, Ordering::Relaxed);
                        eprintln!("refill: delivery {} dead-lettered: {}", d.id, e.reason);
                    }
                }
            }
        }
        let mut tx = self.db.begin().await?;
        refill_store::finish_delivery(&mut tx, &d, &self.node_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends one delivery through its channel.
    async fn send(&self, d: &DeliveryRow) -> std::result::Result<(), DeliveryError> {
        let store =
            |e: refill_store::StoreError| DeliveryError::retryable(format!("database: {e}"));
        let event = refill_store::get_event(&self.db.pool, &d.event_id)
            .await
            .map_err(store)?
            .ok_or_else(|| DeliveryError::permanent("the event no longer exists"))?;
        let n = notification(&event);
        match Channel::parse(&d.channel) {
            Some(Channel::Email) => {
                let email = self.channels.email.as_ref().ok_or_else(|| {
                    DeliveryError::retryable("email is not configured on this node")
                })?;
                let name = refill_store::get_account(&self.db.pool, &event.account_id)
                    .await
                    .map_err(store)?
                    .and_then(|a| a.payer_name);
                email.deliver(&d.recipient, name.as_deref(), &n).await
            }
            Some(Channel::Sms) => {
                let sms = self.channels.sms.as_ref().ok_or_else(|| {
                    DeliveryError::retryable("SMS is not configured on this node")
                })?;
                sms.deliver(&d.recipient, &n).await
            }
            Some(Channel::Webhook) => {
                let w = refill_store::get_webhook_endpoint(&self.db.pool, &d.recipient)
                    .await
                    .map_err(store)?
                    .filter(|w| w.removed_at.is_none())
                    .ok_or_else(|| DeliveryError::permanent("the webhook endpoint was removed"))?;
                // The channel resolves the host and checks every address on the
                // connection it makes: a host that now resolves to a private address
                // fails here, unsent.
                let endpoint = WebhookEndpoint {
                    url: w.url,
                    secret: w.secret,
                    reach: reach_of(w.trusted),
                };
                let t = self.now().div_euclid(1000);
                self.channels.webhook.deliver_at(&endpoint, &n, t).await
            }
            None => Err(DeliveryError::permanent(format!(
                "unknown channel {}",
                d.channel
            ))),
        }
    }

    /// The deliveries of one event the caller may see: all for the operator; for an
    /// account key, those to its payer and to its own tree's webhook endpoints.
    pub async fn deliveries(&self, caller: &Caller, event_id: &str) -> Result<Page<DeliveryView>> {
        self.visible_event(caller, event_id).await?;
        let rows = self.visible_deliveries(caller, event_id).await?;
        Ok(Page::from_rows(rows, i64::MAX, |r| DeliveryView::from(r)))
    }

    async fn visible_deliveries(
        &self,
        caller: &Caller,
        event_id: &str,
    ) -> Result<Vec<DeliveryRow>> {
        let rows = refill_store::deliveries_of_event(&self.db.pool, event_id).await?;
        if caller.is_operator() {
            return Ok(rows);
        }
        let mine: Vec<String> = refill_store::list_webhook_endpoints(&self.db.pool, caller.root())
            .await?
            .into_iter()
            .map(|w| w.id)
            .collect();
        Ok(rows
            .into_iter()
            .filter(|d| d.channel != Channel::Webhook.as_str() || mine.contains(&d.recipient))
            .collect())
    }

    /// Sends an event again: every delivery the caller may see (`only_dead` false) or
    /// the dead-lettered ones, from a fresh retry window. Receivers dedupe by event id.
    pub async fn redeliver(
        &self,
        caller: &Caller,
        event_id: &str,
        only_dead: bool,
        idem: Option<&Idem>,
    ) -> Result<Page<DeliveryView>> {
        self.visible_event(caller, event_id).await?;
        let visible = self.visible_deliveries(caller, event_id).await?;
        let ids: Vec<&str> = visible.iter().map(|d| d.id.as_str()).collect();
        let chosen = visible
            .iter()
            .filter(|d| !only_dead || d.status == delivery_status::DEAD);
        let now = self.now();
        let mut tx = self.db.begin().await?;
        for d in chosen {
            refill_store::redeliver(&mut tx, Redeliver::One(&d.id), now).await?;
        }
        let rows: Vec<DeliveryRow> = refill_store::deliveries_of_event(&mut *tx, event_id)
            .await?
            .into_iter()
            .filter(|d| ids.contains(&d.id.as_str()))
            .collect();
        let page = Page::from_rows(rows, i64::MAX, |r| DeliveryView::from(r));
        idempotency::remember(&mut tx, idem, 200, &page, now).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn visible_event(&self, caller: &Caller, event_id: &str) -> Result<EventRow> {
        let e = refill_store::get_event(&self.db.pool, event_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("event", event_id))?;
        // Access follows the event's account; a hidden one reads as not found.
        self.account(caller, &e.account_id)
            .await
            .map_err(|_| ServiceError::not_found("event", event_id))?;
        Ok(e)
    }
}
