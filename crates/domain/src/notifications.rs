//! R26: which event goes to which channel and recipient. Pure: the caller loads the
//! account's contacts, its preferences and the webhook endpoints, and stores the
//! deliveries this returns.

/// The event types refill emits, as they appear in the outbox, the API and the webhook
/// envelope's `type`. The one list: the service emits these, the channels render them.
pub mod event_types {
    pub const TOP_UP_SUCCEEDED: &str = "top_up.succeeded";
    /// R11: a card payment the gateway has not settled yet (never a success).
    pub const TOP_UP_PENDING: &str = "top_up.pending";
    pub const TOP_UP_FAILED: &str = "top_up.failed";
    pub const AUTO_TOP_UP_DISABLED: &str = "auto_top_up.disabled";
    pub const BALANCE_LOW: &str = "balance.low";
    pub const BALANCE_APPROACHING_THRESHOLD: &str = "balance.approaching_threshold";
    pub const CAP_REACHED: &str = "cap.reached";
    /// R11: a pending payment failed and its credit was reversed.
    pub const PAYMENT_REVERSED: &str = "payment.reversed";
    /// R31: a top-up's charge was refunded at the gateway; its credit was reversed.
    pub const TOP_UP_REFUNDED: &str = "top_up.refunded";
    /// R29: a renewal the balance cannot cover (once per period), and the suspension
    /// of its resource when the grace period ends.
    pub const RESOURCE_RENEWAL_FAILED: &str = "resource.renewal_failed";
    pub const RESOURCE_SUSPENDED: &str = "resource.suspended";
    /// R31: a refund asked for, approved, rejected, paid back, or failed.
    pub const REFUND_REQUESTED: &str = "refund.requested";
    pub const REFUND_APPROVED: &str = "refund.approved";
    pub const REFUND_REJECTED: &str = "refund.rejected";
    pub const REFUND_SUCCEEDED: &str = "refund.succeeded";
    pub const REFUND_FAILED: &str = "refund.failed";
}

/// Every event type (R26, R11, R29, R31).
pub const EVENT_TYPES: &[&str] = {
    use event_types::*;
    &[
        TOP_UP_SUCCEEDED,
        TOP_UP_PENDING,
        TOP_UP_FAILED,
        AUTO_TOP_UP_DISABLED,
        BALANCE_LOW,
        BALANCE_APPROACHING_THRESHOLD,
        CAP_REACHED,
        PAYMENT_REVERSED,
        TOP_UP_REFUNDED,
        RESOURCE_RENEWAL_FAILED,
        RESOURCE_SUSPENDED,
        REFUND_REQUESTED,
        REFUND_APPROVED,
        REFUND_REJECTED,
        REFUND_SUCCEEDED,
        REFUND_FAILED,
    ]
};

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Email,
    Sms,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Webhook => "webhook",
        }
    }
    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "email" => Some(Channel::Email),
            "sms" => Some(Channel::Sms),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

/// A set of event types: every type, or those listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSet {
    All,
    Only(Vec<String>),
}

impl EventSet {
    pub fn contains(&self, event_type: &str) -> bool {
        match self {
            EventSet::All => true,
            EventSet::Only(types) => types.iter().any(|t| t == event_type),
        }
    }

    /// Stored form: "*" or a comma-separated list.
    pub fn to_text(&self) -> String {
        match self {
            EventSet::All => "*".into(),
            EventSet::Only(types) => types.join(","),
        }
    }

    pub fn from_text(text: &str) -> EventSet {
        if text == "*" {
            return EventSet::All;
        }
        EventSet::Only(
            text.split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    /// From a request's list: "*" alone means all; every other entry must be a known
    /// event type. Returns the first unknown type as the error.
    pub fn parse_list(types: &[String]) -> Result<EventSet, String> {
        if types.len() == 1 && types[0] == "*" {
            return Ok(EventSet::All);
        }
        if let Some(bad) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
            return Err(bad.clone());
        }
        let mut list: Vec<String> = types.to_vec();
        list.sort();
        list.dedup();
        Ok(EventSet::Only(list))
    }

    /// As a list for responses: ["*"] or the types.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            EventSet::All => vec!["*".into()],
            EventSet::Only(types) => types.clone(),
        }
    }
}

/// An account's choice of events per customer channel (R26). Defaults: every event by
/// email, none by SMS (texts cost money and interrupt: the customer opts in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub email: EventSet,
    pub sms: EventSet,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            email: EventSet::All,
            sms: EventSet::Only(vec![]),
        }
    }
}

/// The payer's contacts, and which customer channels this deployment has configured.
#[derive(Debug, Clone, Default)]
pub struct Contacts {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub email_configured: bool,
    pub sms_configured: bool,
}

/// A webhook endpoint as routing sees it: its id and the events it asked for.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub endpoint_id: String,
    pub events: EventSet,
}

/// One delivery to make: a channel and its recipient (address, phone number, or
/// webhook endpoint id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub channel: Channel,
    pub recipient: String,
}

/// R26: the deliveries of one event. Email and SMS follow the account's preferences
/// and need both a configured channel and a contact; webhooks follow each endpoint's
/// own subscription (they are the provider's integration, not the customer's choice).
pub fn routes(
    event_type: &str,
    contacts: &Contacts,
    prefs: &Preferences,
    subscriptions: &[Subscription],
) -> Vec<Route> {
    let mut out = Vec::new();
    if let Some(email) = contacts
        .email
        .as_ref()
        .filter(|_| contacts.email_configured)
        && prefs.email.contains(event_type)
    {
        out.push(Route {
            channel: Channel::Email,
            recipient: email.clone(),
        });
    }
    if let Some(phone) = contacts.phone.as_ref().filter(|_| contacts.sms_configured)
        && prefs.sms.contains(event_type)
    {
        out.push(Route {
            channel: Channel::Sms,
            recipient: phone.clone(),
        });
    }
    for s in subscriptions
        .iter()
        .filter(|s| s.events.contains(event_type))
    {
        out.push(Route {
            channel: Channel::Webhook,
            recipient: s.endpoint_id.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contacts() -> Contacts {
        Contacts {
            email: Some("ada@example.test".into()),
            phone: Some("+447700900123".into()),
            email_configured: true,
            sms_configured: true,
        }
    }

    #[test]
    fn r26_defaults_send_every_event_by_email_and_none_by_sms() {
        for t in EVENT_TYPES {
            let r = routes(t, &contacts(), &Preferences::default(), &[]);
            assert_eq!(
                r,
                vec![Route {
                    channel: Channel::Email,
                    recipient: "ada@example.test".into()
                }],
                "{t}"
            );
        }
    }

    #[test]
    fn r26_preferences_choose_the_channels_per_event() {
        let prefs = Preferences {
            email: EventSet::Only(vec!["top_up.succeeded".into()]),
            sms: EventSet::Only(vec!["top_up.failed".into()]),
        };
        let ok = routes("top_up.succeeded", &contacts(), &prefs, &[]);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].channel, Channel::Email);
        let failed = routes("top_up.failed", &contacts(), &prefs, &[]);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].channel, Channel::Sms);
        assert!(routes("balance.low", &contacts(), &prefs, &[]).is_empty());
    }

    #[test]
    fn r26_a_channel_needs_a_contact_and_configuration() {
        let all = Preferences {
            email: EventSet::All,
            sms: EventSet::All,
        };
        let mut c = contacts();
        c.sms_configured = false;
        c.email = None;
        assert!(routes("balance.low", &c, &all, &[]).is_empty());
    }

    #[test]
    fn r26_webhooks_follow_their_own_subscription() {
        let subs = vec![
            Subscription {
                endpoint_id: "we_all".into(),
                events: EventSet::All,
            },
            Subscription {
                endpoint_id: "we_low".into(),
                events: EventSet::Only(vec!["balance.low".into()]),
            },
        ];
        let none = Preferences {
            email: EventSet::Only(vec![]),
            sms: EventSet::Only(vec![]),
        };
        let r = routes("balance.low", &contacts(), &none, &subs);
        assert_eq!(r.len(), 2);
        let r = routes("cap.reached", &contacts(), &none, &subs);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].recipient, "we_all");
    }

    #[test]
    fn r26_event_lists_parse_strictly() {
        assert_eq!(EventSet::parse_list(&["*".into()]), Ok(EventSet::All));
        assert_eq!(
            EventSet::parse_list(&[
                "cap.reached".into(),
                "balance.low".into(),
                "cap.reached".into()
            ]),
            Ok(EventSet::Only(vec![
                "balance.low".into(),
                "cap.reached".into()
            ]))
        );
        assert_eq!(
            EventSet::parse_list(&["balance.low".into(), "nope".into()]),
            Err("nope".into())
        );
        assert_eq!(EventSet::from_text(""), EventSet::Only(vec![]));
        let s = EventSet::Only(vec!["a.b".into(), "c.d".into()]);
        assert_eq!(EventSet::from_text(&s.to_text()), s);
        assert_eq!(EventSet::from_text("*"), EventSet::All);
    }
}
