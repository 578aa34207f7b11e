//! The one table of settings. Each key has a name, a slot (which gives its kind and the
//! field of `Settings` it sets) and a meaning; its default is that field in
//! `Settings::default()`. Reading refill.toml, the `REFILL_*` overlay and
//! docs/configuration.md all go through this table.

use super::Settings;
use super::forms::{self, DURATION_FORMS, Unit};
use refill_domain::Millis;
use refill_domain::debit::TriggerOn;
use std::collections::BTreeMap;

/// Where a key's value lives in `Settings`.
type Field<T> = fn(&mut Settings) -> &mut T;

pub enum Slot {
    Text(Field<String>),
    /// Unset by default; the text says what happens then.
    Optional(Field<Option<String>>, &'static str),
    Choice(Field<String>, &'static [&'static str]),
    /// Minor units, 0 or more.
    Amount(Field<i64>),
    Count(Field<u32>),
    Size(Field<usize>),
    Flag(Field<bool>),
    /// `30s`; the older name `<name>_<unit>` (when there is one) reads a plain number.
    Duration(Field<Millis>, Option<Unit>),
    Trigger(Field<TriggerOn>),
    TaxRates(Field<BTreeMap<String, u32>>),
    /// Minor units by ISO 4217 currency code (R8, R14).
    PerCurrency(Field<BTreeMap<String, i64>>),
}

pub struct Key {
    pub name: &'static str,
    pub slot: Slot,
    pub meaning: &'static str,
}

const TRIGGERS: [(&str, TriggerOn); 3] = [
    ("usage", TriggerOn::Usage),
    ("usage_and_fees", TriggerOn::UsageAndFees),
    ("any_debit", TriggerOn::AnyDebit),
];

impl Key {
    /// The older name with a unit in it (`retry_delay_hours`), for a duration that has one.
    pub fn old_name(&self) -> Option<String> {
        match self.slot {
            Slot::Duration(_, Some(unit)) => Some(format!("{}_{}", self.name, unit.word())),
            _ => None,
        }
    }

    /// Sets this key from its text (`old`: given by its older name). Err: the forms it
    /// takes.
    pub fn set(&self, s: &mut Settings, text: &str, old: bool) -> Result<(), String> {
        let bad = || self.forms(old);
        match self.slot {
            Slot::Text(f) => *f(s) = text.to_string(),
            Slot::Optional(f, _) => *f(s) = Some(text.to_string()),
            Slot::Choice(f, options) => {
                *f(s) = options
                    .iter()
                    .find(|o| **o == text.trim())
                    .ok_or_else(bad)?
                    .to_string()
            }
            Slot::Amount(f) => *f(s) = forms::whole(text).ok_or_else(bad)?,
            Slot::Count(f) => *f(s) = text.trim().parse().map_err(|_| bad())?,
            Slot::Size(f) => *f(s) = text.trim().parse().map_err(|_| bad())?,
            Slot::Flag(f) => *f(s) = text.trim().parse().map_err(|_| bad())?,
            Slot::Duration(f, unit) => {
                *f(s) = match unit.filter(|_| old) {
                    Some(unit) => unit.parse(text),
                    None => forms::parse_duration(text),
                }
                .ok_or_else(bad)?
            }
            Slot::Trigger(f) => *f(s) = trigger(text.trim()).ok_or_else(bad)?,
            Slot::TaxRates(f) => *f(s) = forms::parse_tax_rates(text).ok_or_else(bad)?,
            Slot::PerCurrency(f) => *f(s) = forms::parse_per_currency(text).ok_or_else(bad)?,
        }
        Ok(())
    }

    /// What the key takes, for messages.
    pub fn forms(&self, old: bool) -> String {
        match self.slot {
            Slot::Duration(_, Some(unit)) if old => format!(
                "a whole number of {} (or {} with a unit: 90s, 30m, 24h or 7d)",
                unit.word(),
                self.name
            ),
            Slot::Duration(..) => DURATION_FORMS.into(),
            Slot::Text(_) | Slot::Optional(..) => "text".into(),
            Slot::Choice(_, options) => options.join(" or "),
            Slot::Amount(_) => "a whole number of minor units, 0 or more".into(),
            Slot::Count(_) | Slot::Size(_) => "a whole number, 0 or more".into(),
            Slot::Flag(_) => "true or false".into(),
            Slot::Trigger(_) => "usage, usage_and_fees or any_debit".into(),
            Slot::TaxRates(_) => {
                "COUNTRY:BASIS_POINTS pairs, GB:2000,DE:1900 (in refill.toml: { GB = 2000 })".into()
            }
            Slot::PerCurrency(_) => "CURRENCY:MINOR_UNITS pairs of known ISO 4217 codes, \
                 JPY:1000,KWD:10000 (in refill.toml: { JPY = 1000 })"
                .into(),
        }
    }

    /// The kind, for the docs.
    pub fn kind(&self) -> String {
        match self.slot {
            Slot::Text(_) | Slot::Optional(..) => "text".into(),
            Slot::Choice(_, options) => {
                let quoted: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
                quoted.join(" or ")
            }
            Slot::Amount(_) => "amount".into(),
            Slot::Count(_) | Slot::Size(_) => "count".into(),
            Slot::Flag(_) => "`true` or `false`".into(),
            Slot::Duration(..) => "duration".into(),
            Slot::Trigger(_) => "`usage`, `usage_and_fees` or `any_debit`".into(),
            Slot::TaxRates(_) => "country: basis points".into(),
            Slot::PerCurrency(_) => "currency: amount".into(),
        }
    }

    /// The value in `s`, in the form `set` reads back (None: unset).
    pub fn value(&self, s: &Settings) -> Option<String> {
        let mut s = s.clone();
        let s = &mut s;
        Some(match self.slot {
            Slot::Text(f) | Slot::Choice(f, _) => f(s).clone(),
            Slot::Optional(f, _) => f(s).clone()?,
            Slot::Amount(f) => f(s).to_string(),
            Slot::Count(f) => f(s).to_string(),
            Slot::Size(f) => f(s).to_string(),
            Slot::Flag(f) => f(s).to_string(),
            Slot::Duration(f, _) => forms::render_duration(*f(s)),
            Slot::Trigger(f) => {
                let now = *f(s);
                TRIGGERS.iter().find(|(_, t)| *t == now)?.0.to_string()
            }
            Slot::TaxRates(f) => forms::render_tax_rates(f(s)),
            Slot::PerCurrency(f) => forms::render_per_currency(f(s)),
        })
    }

    /// What an unset key does, for the docs.
    pub fn when_unset(&self) -> Option<&'static str> {
        match self.slot {
            Slot::Optional(_, unset) => Some(unset),
            _ => None,
        }
    }
}

fn trigger(text: &str) -> Option<TriggerOn> {
    TRIGGERS.iter().find(|(n, _)| *n == text).map(|(_, t)| *t)
}

/// Every setting, in the order of the docs.
pub static KEYS: &[Key] = &[
    Key {
        name: "listen",
        slot: Slot::Text(|s| &mut s.listen),
        meaning: "address of the HTTP API (port 0 picks a free one)",
    },
    Key {
        name: "database_url",
        slot: Slot::Text(|s| &mut s.database_url),
        meaning: "`sqlite://path` (WAL, synchronous=FULL) or `postgres://user:password@host/db`",
    },
    Key {
        name: "gateway",
        slot: Slot::Choice(|s| &mut s.gateway, &["sandbox", "stripe"]),
        meaning: "the payment gateway: the built-in sandbox card network, or Stripe \
                  (`stripe_secret_key`)",
    },
    Key {
        name: "sandbox_record",
        slot: Slot::Optional(|s| &mut s.sandbox_record, "beside the database"),
        meaning: "the sandbox's record of charges, kept across restarts: by default \
                  `<SQLite file>.sandbox.jsonl`, or `refill-sandbox.jsonl` with PostgreSQL",
    },
    Key {
        name: "sandbox_settle_after",
        slot: Slot::Duration(|s| &mut s.sandbox_settle_after, None),
        meaning: "R11: how long the sandbox keeps a payment pending (`pm_card_pending`, \
                  `pm_card_pendingThenFails`) before it settles; refill sees it settle at \
                  the next periodic check",
    },
    Key {
        name: "stripe_secret_key",
        slot: Slot::Optional(|s| &mut s.stripe_secret_key, "none"),
        meaning: "`sk_live_...`, `sk_test_...` or a restricted key: needed with \
                  `gateway = \"stripe\"`",
    },
    Key {
        name: "stripe_webhook_secret",
        slot: Slot::Optional(|s| &mut s.stripe_webhook_secret, "none"),
        meaning: "the signing secret (`whsec_...`) of the endpoint Stripe posts to at \
                  `/v1/webhooks/stripe`; without it Stripe's events are refused",
    },
    Key {
        name: "stripe_api_base",
        slot: Slot::Optional(|s| &mut s.stripe_api_base, "Stripe's"),
        meaning: "another server speaking Stripe's API (a proxy, the test fake)",
    },
    Key {
        name: "bootstrap_key",
        slot: Slot::Optional(|s| &mut s.bootstrap_key, "generated"),
        meaning: "the operator API key created at first start; by default one is generated \
                  and printed once",
    },
    Key {
        name: "minimum_top_up",
        slot: Slot::Amount(|s| &mut s.service.limits.minimum_top_up),
        meaning: "R8: the smallest top-up, in minor units of a two-decimal currency (1000: \
                  10.00), meaning as many major units in every currency (10 JPY, 10.000 \
                  KWD) and never below the gateway's minimum charge (50 JPY); an \
                  automatic amount must reach it too (R13)",
    },
    Key {
        name: "minimum_top_up_per_currency",
        slot: Slot::PerCurrency(|s| &mut s.service.minimum_top_up_per_currency),
        meaning: "R8: the smallest top-up set for a currency, in its own minor units, over \
                  `minimum_top_up`: `{ JPY = 1000 }` in refill.toml, `JPY:1000,KWD:5000` \
                  in the environment (raised to the gateway's minimum charge)",
    },
    Key {
        name: "tax_rates",
        slot: Slot::TaxRates(|s| &mut s.service.tax.by_country),
        meaning: "R9: tax by the payer's country, in basis points: `{ GB = 2000 }` in \
                  refill.toml, `GB:2000,DE:1900` in the environment",
    },
    Key {
        name: "trigger_on",
        slot: Slot::Trigger(|s| &mut s.service.trigger_on),
        meaning: "R18: which debits count as spending that triggers an auto top-up: usage, \
                  usage and fees, or any debit",
    },
    Key {
        name: "card_interval",
        slot: Slot::Duration(|s| &mut s.service.limits.card_interval, Some(Unit::Minutes)),
        meaning: "R20: the least time between automatic card top-ups (a failed attempt \
                  keeps the window used, so it also spaces retries)",
    },
    Key {
        name: "retry_delay",
        slot: Slot::Duration(|s| &mut s.service.limits.retry_delay, Some(Unit::Hours)),
        meaning: "R23: how long after a failed charge it is retried",
    },
    Key {
        name: "max_consecutive_failures",
        slot: Slot::Count(|s| &mut s.service.limits.max_consecutive_failures),
        meaning: "R23: failures in a row that disable auto top-up (1: the first failure)",
    },
    Key {
        name: "authentication_expiry",
        slot: Slot::Duration(|s| &mut s.service.limits.authentication_expiry, None),
        meaning: "R23: how long a top-up waits for the customer's 3-D Secure before it \
                  expires as a failed attempt (`authentication_expired`), retried or \
                  disabling auto top-up as any failure",
    },
    Key {
        name: "daily_count_cap",
        slot: Slot::Count(|s| &mut s.service.limits.daily_count_cap),
        meaning: "R21: automatic top-ups a day at most (0: no cap)",
    },
    Key {
        name: "daily_amount_cap",
        slot: Slot::Amount(|s| &mut s.service.limits.daily_amount_cap),
        meaning: "R21: amount of automatic top-ups a day at most (0: no cap)",
    },
    Key {
        name: "monthly_count_cap",
        slot: Slot::Count(|s| &mut s.service.limits.monthly_count_cap),
        meaning: "R21: automatic top-ups a calendar month at most (0: no cap)",
    },
    Key {
        name: "monthly_amount_cap",
        slot: Slot::Amount(|s| &mut s.service.limits.monthly_amount_cap),
        meaning: "R21: amount of automatic top-ups a calendar month at most (0: no cap)",
    },
    Key {
        name: "verification_amount",
        slot: Slot::Amount(|s| &mut s.service.verification_amount),
        meaning: "R14: the verification charge (refunded) when a card is set up for auto \
                  top-up, in minor units of a two-decimal currency (100: 1.00), meaning as \
                  many major units in every currency and at least the gateway's minimum \
                  charge (175.00 HUF, 50 JPY); 0 skips it",
    },
    Key {
        name: "verification_amount_per_currency",
        slot: Slot::PerCurrency(|s| &mut s.service.verification_amount_per_currency),
        meaning: "R14: the verification charge set for a currency, in its own minor units, \
                  over `verification_amount` (at least the gateway's minimum charge; 0 \
                  skips it there)",
    },
    Key {
        name: "periodic_check",
        slot: Slot::Duration(|s| &mut s.service.periodic_check, Some(Unit::Seconds)),
        meaning: "R22: how often the periodic check runs; it also settles pending payments \
                  (R11) and renews resources (R29)",
    },
    Key {
        name: "lease",
        slot: Slot::Duration(|s| &mut s.service.lease, Some(Unit::Seconds)),
        meaning: "how long a node's claim on a top-up lasts before another node may take \
                  it over",
    },
    Key {
        name: "pipelines",
        slot: Slot::Size(|s| &mut s.service.pipelines),
        meaning: "parallel debit pipelines (PostgreSQL: separate transactions for separate \
                  accounts)",
    },
    Key {
        name: "resource_auto_top_up_threshold",
        slot: Slot::Amount(|s| &mut s.service.recurring.auto_top_up_threshold),
        meaning: "R17: the threshold of the auto top-up that buying a recurring-fee resource \
                  turns on",
    },
    Key {
        name: "resource_auto_top_up_amount",
        slot: Slot::Amount(|s| &mut s.service.recurring.auto_top_up_amount),
        meaning: "R17: its amount (at least the threshold and `minimum_top_up`)",
    },
    Key {
        name: "renewal_grace",
        slot: Slot::Duration(
            |s| &mut s.service.recurring.renewal_grace,
            Some(Unit::Hours),
        ),
        meaning: "R29: how long an unpaid renewal is retried before its resource is \
                  suspended",
    },
    Key {
        name: "credit_pending",
        slot: Slot::Flag(|s| &mut s.service.credit_pending),
        meaning: "R11: credit a pending card payment at once (`false`: when it settles)",
    },
    Key {
        name: "refund_into_negative",
        slot: Slot::Flag(|s| &mut s.service.refund_into_negative),
        meaning: "R31: an approved refund may take back more credit than is unspent, \
                  driving the balance below zero (usage is then refused until it is \
                  repaid, as R11); `false` refuses such a refund",
    },
    Key {
        name: "smtp_url",
        slot: Slot::Optional(|s| &mut s.notify.smtp_url, "no email"),
        meaning: "email: `smtp://host:2525`, `smtp://user:pass@host:587?tls=required`, \
                  `smtps://...:465`",
    },
    Key {
        name: "smtp_from",
        slot: Slot::Text(|s| &mut s.notify.smtp_from),
        meaning: "the sender of the emails",
    },
    Key {
        name: "sms_base_url",
        slot: Slot::Text(|s| &mut s.notify.sms_base_url),
        meaning: "SMS through this Twilio-style Messages API",
    },
    Key {
        name: "sms_account_sid",
        slot: Slot::Optional(|s| &mut s.notify.sms_account_sid, "no SMS"),
        meaning: "SMS credentials: all three of `sms_account_sid`, `sms_auth_token` and \
                  `sms_from`, or none",
    },
    Key {
        name: "sms_auth_token",
        slot: Slot::Optional(|s| &mut s.notify.sms_auth_token, "no SMS"),
        meaning: "see `sms_account_sid`",
    },
    Key {
        name: "sms_from",
        slot: Slot::Optional(|s| &mut s.notify.sms_from, "no SMS"),
        meaning: "the sender number of the texts; see `sms_account_sid`",
    },
    Key {
        name: "webhook_timeout",
        slot: Slot::Duration(|s| &mut s.notify.webhook_timeout, Some(Unit::Seconds)),
        meaning: "R28: a webhook receiver slower than this is retried (at least 1s)",
    },
    Key {
        name: "notify_retry",
        slot: Slot::Duration(
            |s| &mut s.service.notify_retry.max_age_ms,
            Some(Unit::Hours),
        ),
        meaning: "R28: how long a failing notification is retried before it is \
                  dead-lettered",
    },
    Key {
        name: "header_read_timeout",
        slot: Slot::Duration(|s| &mut s.http.header_read_timeout, None),
        meaning: "a connection that sends no complete request head within this is closed \
                  (at least 1s)",
    },
    Key {
        name: "idle_timeout",
        slot: Slot::Duration(|s| &mut s.http.idle_timeout, None),
        meaning: "a kept-alive connection with no request for this long is closed (at least 1s)",
    },
    Key {
        name: "body_timeout",
        slot: Slot::Duration(|s| &mut s.http.body_timeout, None),
        meaning: "a request body that has not arrived within this is refused with 408 \
                  (at least 1s)",
    },
    Key {
        name: "max_connections",
        slot: Slot::Size(|s| &mut s.http.max_connections),
        meaning: "connections served at once; past them a connection may only ask for \
                  `/healthz` and `/readyz`",
    },
    Key {
        name: "health_connections",
        slot: Slot::Size(|s| &mut s.http.health_connections),
        meaning: "connections allowed past `max_connections` for `/healthz`/`/readyz`; \
                  past these a connection gets 503 at once",
    },
    Key {
        name: "portal_public_url",
        slot: Slot::Optional(
            |s| &mut s.service.portal.public_url,
            "the Host the request was sent to, over http",
        ),
        meaning: "the address customers reach refill at (`https://billing.example.com`): \
                  the start of a portal session's one-time link; https makes the cookie Secure",
    },
    Key {
        name: "portal_link_ttl",
        slot: Slot::Duration(|s| &mut s.service.portal.link_ttl, None),
        meaning: "how long a portal session's one-time link may wait to be opened",
    },
    Key {
        name: "portal_session_ttl",
        slot: Slot::Duration(|s| &mut s.service.portal.session_ttl, None),
        meaning: "how long a customer page session lasts from its creation",
    },
    Key {
        name: "portal_frame_ancestors",
        slot: Slot::Text(|s| &mut s.portal.frame_ancestors),
        meaning: "origins allowed to embed the customer page in a frame, space-separated \
                  (`https://dash.example.com`); empty: none",
    },
    Key {
        name: "portal_operator_name",
        slot: Slot::Text(|s| &mut s.portal.operator_name),
        meaning: "the name the customer page shows as its title",
    },
    Key {
        name: "portal_logo_url",
        slot: Slot::Optional(|s| &mut s.portal.logo_url, "no logo"),
        meaning: "an https image shown beside the name on the customer page",
    },
    Key {
        name: "portal_color_primary",
        slot: Slot::Text(|s| &mut s.portal.color_primary),
        meaning: "the customer page's main colour (buttons, links, the chart): `#rrggbb`, \
                  dark enough for white text",
    },
    Key {
        name: "portal_color_background",
        slot: Slot::Text(|s| &mut s.portal.color_background),
        meaning: "the customer page's background colour: `#rrggbb`, light enough for dark text",
    },
];
