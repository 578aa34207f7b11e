//! Configuration: defaults that run as is, then `refill.toml` (or the file named by
//! REFILL_CONFIG), then `REFILL_*` environment variables.

use anyhow::{Context, bail};
use refill_domain::debit::TriggerOn;
use refill_domain::{HOUR, MINUTE};
use refill_service::Config;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    /// "sandbox" (default) or "stripe".
    pub gateway: String,
    /// Where the sandbox keeps its record of charges (survives restarts).
    pub sandbox_record: Option<String>,
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub stripe_api_base: Option<String>,
    /// Sets the operator key at first start instead of generating one.
    pub bootstrap_key: Option<String>,
    pub service: Config,
    pub notify: NotifySettings,
    pub http: HttpSettings,
}

/// The HTTP connections: how long a client may take, how many may be open.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// A connection that sends no complete request head within this is closed.
    pub header_read_timeout_seconds: u64,
    /// A kept-alive connection with no request for this long is closed.
    pub idle_timeout_seconds: u64,
    /// A request body that has not arrived within this is refused (408).
    pub body_timeout_seconds: u64,
    /// Connections served at once; past them, a new one may only ask for /healthz
    /// and /readyz...
    pub max_connections: usize,
    /// ...for this many more; past those it is refused at once (503).
    pub health_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            body_timeout_seconds: 30,
            max_connections: 10_000,
            health_connections: 32,
        }
    }
}

impl HttpSettings {
    pub fn body_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.body_timeout_seconds.max(1))
    }
}

/// Notification channels (R26). Email and SMS are off until configured.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// smtp://host:port, smtps://user:pass@host:465, ...?tls=required
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    /// A Twilio-style Messages API.
    pub sms_base_url: String,
    pub sms_account_sid: Option<String>,
    pub sms_auth_token: Option<String>,
    pub sms_from: Option<String>,
    pub webhook_timeout_seconds: u64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            smtp_url: None,
            smtp_from: "refill <notifications@localhost>".into(),
            sms_base_url: refill_notify::sms::TWILIO_BASE_URL.into(),
            sms_account_sid: None,
            sms_auth_token: None,
            sms_from: None,
            webhook_timeout_seconds: 10,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://refill.db".into(),
            gateway: "sandbox".into(),
            sandbox_record: None,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: None,
            bootstrap_key: None,
            service: Config::default(),
            notify: NotifySettings::default(),
            http: HttpSettings::default(),
        }
    }
}

/// The keys of refill.toml; each also reads from REFILL_<KEY in capitals>.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    gateway: Option<String>,
    sandbox_record: Option<String>,
    stripe_secret_key: Option<String>,
    stripe_webhook_secret: Option<String>,
    stripe_api_base: Option<String>,
    bootstrap_key: Option<String>,
    minimum_top_up: Option<i64>,
    /// Tax rates in basis points by payer country: { GB = 2000 }.
    tax_rates: Option<BTreeMap<String, u32>>,
    /// usage | usage_and_fees | any_debit
    trigger_on: Option<String>,
    card_interval_minutes: Option<i64>,
    retry_delay_hours: Option<i64>,
    max_consecutive_failures: Option<u32>,
    daily_count_cap: Option<u32>,
    daily_amount_cap: Option<i64>,
    monthly_count_cap: Option<u32>,
    monthly_amount_cap: Option<i64>,
    verification_amount: Option<i64>,
    periodic_check_seconds: Option<i64>,
    pipelines: Option<usize>,
    /// How long a node's claim on a top-up lasts before another node may take it over.
    lease_seconds: Option<i64>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    sms_base_url: Option<String>,
    sms_account_sid: Option<String>,
    sms_auth_token: Option<String>,
    sms_from: Option<String>,
    webhook_timeout_seconds: Option<u64>,
    /// How long a failing notification is retried before it is dead-lettered.
    notify_retry_hours: Option<i64>,
    /// R17: the auto top-up turned on by buying a recurring-fee resource.
    resource_auto_top_up_threshold: Option<i64>,
    resource_auto_top_up_amount: Option<i64>,
    /// R29: how long an unpaid renewal is retried before its resource is suspended.
    renewal_grace_hours: Option<i64>,
    /// R11: credit a pending card payment at once (true) or when it settles.
    credit_pending: Option<bool>,
    header_read_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    body_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
    health_connections: Option<usize>,
}

impl Settings {
    /// Reads refill.toml (if there is one) and the environment.
    pub fn load() -> anyhow::Result<Settings> {
        let path = std::env::var("REFILL_CONFIG").unwrap_or_else(|_| "refill.toml".into());
        let mut file: FileSettings = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("{path} is not valid"))?,
            Err(_) if std::env::var("REFILL_CONFIG").is_err() => FileSettings::default(),
            Err(e) => bail!("cannot read {path}: {e}"),
        };
        overlay_env(&mut file)?;
        Settings::from_file(file)
    }

    fn from_file(f: FileSettings) -> anyhow::Result<Settings> {
        let mut s = Settings::default();
        let c = &mut s.service;
        set(&mut s.listen, f.listen);
        set(&mut s.database_url, f.database_url);
        set(&mut s.gateway, f.gateway);
        (
            s.sandbox_record,
            s.stripe_secret_key,
            s.stripe_webhook_secret,
        ) = (
            f.sandbox_record,
            f.stripe_secret_key,
            f.stripe_webhook_secret,
        );
        (s.stripe_api_base, s.bootstrap_key) = (f.stripe_api_base, f.bootstrap_key);
        set(&mut c.credit_pending, f.credit_pending);
        set(&mut c.limits.minimum_top_up, f.minimum_top_up);
        if let Some(rates) = f.tax_rates {
            c.tax.by_country = rates
                .into_iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), v))
                .collect();
        }
        if let Some(t) = f.trigger_on {
            c.trigger_on = TriggerOn::parse(&t).with_context(|| {
                format!("trigger_on {t:?}: use usage, usage_and_fees or any_debit")
            })?;
        }
        set(
            &mut c.limits.card_interval,
            f.card_interval_minutes.map(|m| m * MINUTE),
        );
        set(
            &mut c.limits.retry_delay,
            f.retry_delay_hours.map(|h| h * HOUR),
        );
        set(
            &mut c.limits.max_consecutive_failures,
            f.max_consecutive_failures,
        );
        set(&mut c.limits.daily_count_cap, f.daily_count_cap);
        set(&mut c.limits.daily_amount_cap, f.daily_amount_cap);
        set(&mut c.limits.monthly_count_cap, f.monthly_count_cap);
        set(&mut c.limits.monthly_amount_cap, f.monthly_amount_cap);
        set(&mut c.verification_amount, f.verification_amount);
        set(
            &mut c.periodic_check_every,
            f.periodic_check_seconds.map(|s| s * 1000),
        );
        set(&mut c.pipelines, f.pipelines);
        set(&mut c.lease_ms, f.lease_seconds.map(|s| s * 1000));
        set(
            &mut c.notify_retry.max_age_ms,
            f.notify_retry_hours.map(|h| h * HOUR),
        );
        let n = &mut s.notify;
        (n.smtp_url, n.sms_account_sid, n.sms_auth_token, n.sms_from) =
            (f.smtp_url, f.sms_account_sid, f.sms_auth_token, f.sms_from);
        set(&mut n.smtp_from, f.smtp_from);
        set(&mut n.sms_base_url, f.sms_base_url);
        set(&mut n.webhook_timeout_seconds, f.webhook_timeout_seconds);
        set(
            &mut c.recurring.auto_top_up_threshold,
            f.resource_auto_top_up_threshold,
        );
        set(
            &mut c.recurring.auto_top_up_amount,
            f.resource_auto_top_up_amount,
        );
        set(
            &mut c.recurring.renewal_grace,
            f.renewal_grace_hours.map(|h| h * HOUR),
        );
        let h = &mut s.http;
        set(
            &mut h.header_read_timeout_seconds,
            f.header_read_timeout_seconds,
        );
        set(&mut h.idle_timeout_seconds, f.idle_timeout_seconds);
        set(&mut h.body_timeout_seconds, f.body_timeout_seconds);
        set(&mut h.max_connections, f.max_connections);
        set(&mut h.health_connections, f.health_connections);
        check_resource_defaults(&s.service)?;
        if !matches!(s.gateway.as_str(), "sandbox" | "stripe") {
            bail!("gateway {:?}: use sandbox or stripe", s.gateway);
        }
        Ok(s)
    }
}

/// R13, R17: the auto top-up a purchase turns on must itself be valid settings.
fn check_resource_defaults(c: &Config) -> anyhow::Result<()> {
    let r = c.recurring;
    if r.auto_top_up_threshold < 0
        || r.auto_top_up_amount < r.auto_top_up_threshold
        || r.auto_top_up_amount < c.limits.minimum_top_up
        || r.renewal_grace < 0
    {
        bail!(
            "resource_auto_top_up_amount ({}) must be at least resource_auto_top_up_threshold ({}, not negative) \
             and minimum_top_up ({}); renewal_grace_hours must not be negative",
            r.auto_top_up_amount,
            r.auto_top_up_threshold,
            c.limits.minimum_top_up
        );
    }
    Ok(())
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// REFILL_<KEY> overrides each key of the file.
fn overlay_env(f: &mut FileSettings) -> anyhow::Result<()> {
    fn var(name: &str) -> Option<String> {
        std::env::var(format!("REFILL_{name}"))
            .ok()
            .filter(|v| !v.is_empty())
    }
    fn num<T: std::str::FromStr>(name: &str, slot: &mut Option<T>) -> anyhow::Result<()> {
        if let Some(v) = var(name) {
            *slot = Some(
                v.parse()
                    .map_err(|_| anyhow::anyhow!("REFILL_{name}={v:?} is not a number"))?,
            );
        }
        Ok(())
    }
    for (name, slot) in [
        ("LISTEN", &mut f.listen),
        ("DATABASE_URL", &mut f.database_url),
        ("GATEWAY", &mut f.gateway),
        ("SANDBOX_RECORD", &mut f.sandbox_record),
        ("STRIPE_SECRET_KEY", &mut f.stripe_secret_key),
        ("STRIPE_WEBHOOK_SECRET", &mut f.stripe_webhook_secret),
        ("STRIPE_API_BASE", &mut f.stripe_api_base),
        ("BOOTSTRAP_KEY", &mut f.bootstrap_key),
        ("TRIGGER_ON", &mut f.trigger_on),
        ("SMTP_URL", &mut f.smtp_url),
        ("SMTP_FROM", &mut f.smtp_from),
        ("SMS_BASE_URL", &mut f.sms_base_url),
        ("SMS_ACCOUNT_SID", &mut f.sms_account_sid),
        ("SMS_AUTH_TOKEN", &mut f.sms_auth_token),
        ("SMS_FROM", &mut f.sms_from),
    ] {
        if let Some(v) = var(name) {
            *slot = Some(v);
        }
    }
    num("MINIMUM_TOP_UP", &mut f.minimum_top_up)?;
    num("CARD_INTERVAL_MINUTES", &mut f.card_interval_minutes)?;
    num("RETRY_DELAY_HOURS", &mut f.retry_delay_hours)?;
    num("MAX_CONSECUTIVE_FAILURES", &mut f.max_consecutive_failures)?;
    num("DAILY_COUNT_CAP", &mut f.daily_count_cap)?;
    num("DAILY_AMOUNT_CAP", &mut f.daily_amount_cap)?;
    num("MONTHLY_COUNT_CAP", &mut f.monthly_count_cap)?;
    num("MONTHLY_AMOUNT_CAP", &mut f.monthly_amount_cap)?;
    num("VERIFICATION_AMOUNT", &mut f.verification_amount)?;
    num("PERIODIC_CHECK_SECONDS", &mut f.periodic_check_seconds)?;
    num("PIPELINES", &mut f.pipelines)?;
    num("LEASE_SECONDS", &mut f.lease_seconds)?;
    num("WEBHOOK_TIMEOUT_SECONDS", &mut f.webhook_timeout_seconds)?;
    num("NOTIFY_RETRY_HOURS", &mut f.notify_retry_hours)?;
    num(
        "RESOURCE_AUTO_TOP_UP_THRESHOLD",
        &mut f.resource_auto_top_up_threshold,
    )?;
    num(
        "RESOURCE_AUTO_TOP_UP_AMOUNT",
        &mut f.resource_auto_top_up_amount,
    )?;
    num("RENEWAL_GRACE_HOURS", &mut f.renewal_grace_hours)?;
    num(
        "HEADER_READ_TIMEOUT_SECONDS",
        &mut f.header_read_timeout_seconds,
    )?;
    num("IDLE_TIMEOUT_SECONDS", &mut f.idle_timeout_seconds)?;
    num("BODY_TIMEOUT_SECONDS", &mut f.body_timeout_seconds)?;
    num("MAX_CONNECTIONS", &mut f.max_connections)?;
    num("HEALTH_CONNECTIONS", &mut f.health_connections)?;
    if let Some(v) = var("CREDIT_PENDING") {
        f.credit_pending = Some(
            v.parse()
                .map_err(|_| anyhow::anyhow!("REFILL_CREDIT_PENDING={v:?}: use true or false"))?,
        );
    }
    if let Some(v) = var("TAX_RATES") {
        // REFILL_TAX_RATES=GB:2000,DE:1900
        let mut rates = BTreeMap::new();
        for pair in v.split(',') {
            let (c, r) = pair
                .split_once(':')
                .with_context(|| format!("REFILL_TAX_RATES: {pair:?} is not COUNTRY:BPS"))?;
            rates.insert(
                c.trim().to_string(),
                r.trim()
                    .parse()
                    .with_context(|| format!("REFILL_TAX_RATES: {r:?}"))?,
            );
        }
        f.tax_rates = Some(rates);
    }
    Ok(())
}
