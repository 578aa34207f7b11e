//! Configuration: defaults that run as is, then `refill.toml` (or the file named by
//! REFILL_CONFIG), then `REFILL_*` environment variables. Every key is one row of
//! the table in `keys`, which also makes docs/configuration.md (`docs`).

mod docs;
mod forms;
mod keys;
#[cfg(test)]
mod tests;

pub use docs::{STAGING, markdown};
pub use keys::{KEYS, Key, Slot};

use anyhow::{Context, bail};
use refill_domain::Millis;
use refill_domain::auto_top_up::{AmountRule, check_amount_rule, check_within_caps};
use refill_domain::{Currency, Money};
use refill_service::Config;

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    /// "sandbox" (default) or "stripe".
    pub gateway: String,
    /// Where the sandbox keeps its record of charges (survives restarts).
    pub sandbox_record: Option<String>,
    /// R11: how long the sandbox keeps a payment pending before it settles.
    pub sandbox_settle_after: Millis,
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub stripe_api_base: Option<String>,
    /// Sets the operator key at first start instead of generating one.
    pub bootstrap_key: Option<String>,
    pub service: Config,
    pub notify: NotifySettings,
    pub http: HttpSettings,
    /// The customer page: who it shows as, who may frame it.
    pub portal: crate::portal::PortalSettings,
}

/// The HTTP connections: how long a client may take, how many may be open.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// A connection that sends no complete request head within this is closed.
    pub header_read_timeout: Millis,
    /// A kept-alive connection with no request for this long is closed.
    pub idle_timeout: Millis,
    /// A request body that has not arrived within this is refused (408).
    pub body_timeout: Millis,
    /// Connections served at once; past them, a new one may only ask for /healthz
    /// and /readyz...
    pub max_connections: usize,
    /// ...for this many more; past those it is refused at once (503).
    pub health_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout: 10_000,
            idle_timeout: 60_000,
            body_timeout: 30_000,
            max_connections: 10_000,
            health_connections: 32,
        }
    }
}

impl HttpSettings {
    pub fn body_timeout(&self) -> std::time::Duration {
        millis_at_least_a_second(self.body_timeout)
    }
}

/// A setting's duration for the network code, at least one second.
pub fn millis_at_least_a_second(ms: Millis) -> std::time::Duration {
    std::time::Duration::from_millis(ms.max(1_000).unsigned_abs())
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
    /// R28: a webhook receiver slower than this is retried.
    pub webhook_timeout: Millis,
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
            webhook_timeout: 10_000,
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
            sandbox_settle_after: refill_gateway::sandbox::DEFAULT_SETTLE_AFTER,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: None,
            bootstrap_key: None,
            service: Config::default(),
            notify: NotifySettings::default(),
            http: HttpSettings::default(),
            portal: Default::default(),
        }
    }
}

impl Settings {
    /// Reads refill.toml (or the file named by REFILL_CONFIG) and the environment.
    pub fn load() -> anyhow::Result<Settings> {
        let named = std::env::var("REFILL_CONFIG").ok();
        let path = named.clone().unwrap_or_else(|| "refill.toml".into());
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && named.is_none() => None,
            Err(e) => bail!("cannot read {path}: {e}"),
        };
        let mut env = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().filter(|n| n.starts_with("REFILL_")) else {
                continue;
            };
            let value = value
                .into_string()
                .map_err(|_| anyhow::anyhow!("{name} is not UTF-8"))?;
            env.push((name.to_string(), value));
        }
        Settings::read(text.as_deref().map(|t| (path.as_str(), t)), &env)
    }

    /// The defaults, then the file (path, text) if any, then the `REFILL_*` variables:
    /// each source's keys override the earlier ones.
    pub fn read(file: Option<(&str, &str)>, env: &[(String, String)]) -> anyhow::Result<Settings> {
        let mut s = Settings::default();
        if let Some((path, text)) = file {
            let table: toml::Table =
                toml::from_str(text).with_context(|| format!("{path} is not valid"))?;
            apply(&mut s, &file_values(path, table)?)?;
        }
        apply(&mut s, &env_values(env)?)?;
        check_resource_defaults(&s.service)?;
        s.portal.check().map_err(|e| anyhow::anyhow!(e))?;
        Ok(s)
    }
}

/// R13, R17: the auto top-up a purchase turns on must itself be valid settings.
/// R13, R17: the operator's defaults for the auto top-up a purchase turns on pass the
/// same check as a customer's settings (`check_amount_rule`). Operator amounts are
/// minor units of a two-decimal currency (as `limits.minimum_top_up`): the check
/// compares them as such, and the message names no currency.
fn check_resource_defaults(c: &Config) -> anyhow::Result<()> {
    let r = c.recurring;
    let two_decimal = Currency::parse("EUR")?;
    let minimum = Money::new(c.limits.minimum_top_up, two_decimal);
    let amount = AmountRule::Fixed(r.auto_top_up_amount);
    if let Err(e) = check_amount_rule(r.auto_top_up_threshold, amount, minimum) {
        bail!(
            "resource_auto_top_up_amount ({}) must be at least resource_auto_top_up_threshold \
             ({}) and minimum_top_up ({}), and the threshold not negative: {} ({})",
            r.auto_top_up_amount,
            r.auto_top_up_threshold,
            c.limits.minimum_top_up,
            e.code(),
            e.rule().unwrap_or("R13"),
        );
    }
    // R21: nor above a cap, where its top-ups could never run.
    if let Err(e) = check_within_caps(amount, &c.limits, two_decimal) {
        bail!(
            "resource_auto_top_up_amount ({}) must not be above the daily or monthly amount \
             cap: {} ({})",
            r.auto_top_up_amount,
            e.code(),
            e.rule().unwrap_or("R21"),
        );
    }
    Ok(())
}

/// REFILL_* variables read on purpose that are not settings.
pub const OTHER_VARIABLES: &[(&str, &str)] = &[
    (
        "REFILL_CONFIG",
        "the settings file to read instead of `refill.toml` (it must then exist)",
    ),
    (
        "REFILL_TEST_DATABASE_URL",
        "tests only: every integration test also runs on this PostgreSQL server",
    ),
    (
        "REFILL_TEST_BROWSER",
        "tests only: a python with Playwright; the customer page's browser test runs with it",
    ),
];

/// One key given by one source, as the user wrote it.
struct Given {
    key: &'static Key,
    /// The name used: the key's, or its older name with a unit.
    name: String,
    old: bool,
    text: String,
    /// How the user wrote it, for messages: `retry_delay = "30"`, `REFILL_LEASE="x"`.
    shown: String,
    /// Where: the file's path, or "the environment".
    source: String,
}

/// Sets each key given; one key given twice by one source (by its two names) is
/// ambiguous.
fn apply(s: &mut Settings, given: &[Given]) -> anyhow::Result<()> {
    for (i, g) in given.iter().enumerate() {
        if let Some(first) = given[..i].iter().find(|f| f.key.name == g.key.name) {
            bail!(
                "{} and {} are both set in {}: they are the same setting, give one",
                first.name,
                g.name,
                g.source
            );
        }
        g.key
            .set(s, &g.text, g.old)
            .map_err(|forms| anyhow::anyhow!("{}: must be {forms}", g.shown))?;
    }
    Ok(())
}

/// The key a name stands for (and whether by its older name), as `spell` writes names.
fn lookup(name: &str, spell: impl Fn(&str) -> String) -> Option<(&'static Key, bool)> {
    KEYS.iter().find_map(|k| {
        if spell(k.name) == name {
            Some((k, false))
        } else if k.old_name().is_some_and(|old| spell(&old) == name) {
            Some((k, true))
        } else {
            None
        }
    })
}

/// Every name a source may use, as `spell` writes them, plus `others`.
fn known_names(spell: impl Fn(&str) -> String, others: &[&str]) -> Vec<String> {
    let names = KEYS
        .iter()
        .flat_map(|k| std::iter::once(k.name.to_string()).chain(k.old_name()));
    let mut known: Vec<String> = names.map(|n| spell(&n)).collect();
    known.extend(others.iter().map(|o| o.to_string()));
    known
}

fn unknown(name: &str, known: &[String], source: &str) -> anyhow::Error {
    let hint = match forms::nearest(name, known.iter().map(String::as_str)) {
        Some(near) => format!("; did you mean {near}?"),
        None => String::new(),
    };
    anyhow::anyhow!(
        "unknown setting {name} in {source}{hint} (every setting: docs/configuration.md)"
    )
}

fn file_values(path: &str, table: toml::Table) -> anyhow::Result<Vec<Given>> {
    let same = |n: &str| n.to_string();
    let mut given = Vec::new();
    for (name, value) in table {
        let Some((key, old)) = lookup(&name, same) else {
            bail!(unknown(&name, &known_names(same, &[]), path));
        };
        let Some((text, shown)) = toml_text(key, &name, &value) else {
            bail!("{path}: {name} must be {}", key.forms(old));
        };
        given.push(Given {
            key,
            name,
            old,
            text,
            shown: format!("{path}: {shown}"),
            source: path.into(),
        });
    }
    Ok(given)
}

/// A TOML value as the text the key reads (as the environment would give it), and as
/// the user wrote it. None: not a form any key takes.
fn toml_text(key: &Key, name: &str, value: &toml::Value) -> Option<(String, String)> {
    Some(match (&key.slot, value) {
        (_, toml::Value::String(t)) => (t.clone(), format!("{name} = {t:?}")),
        (_, toml::Value::Integer(n)) => (n.to_string(), format!("{name} = {n}")),
        (_, toml::Value::Boolean(b)) => (b.to_string(), format!("{name} = {b}")),
        (Slot::TaxRates(_) | Slot::PerCurrency(_), toml::Value::Table(rates)) => {
            let pairs: Option<Vec<String>> = rates
                .iter()
                .map(|(c, r)| Some(format!("{c}:{}", r.as_integer()?)))
                .collect();
            let text = pairs?.join(",");
            (text.clone(), format!("{name} = {{ {text} }}"))
        }
        _ => return None,
    })
}

fn env_values(env: &[(String, String)]) -> anyhow::Result<Vec<Given>> {
    let spell = |n: &str| format!("REFILL_{}", n.to_ascii_uppercase());
    let others: Vec<&str> = OTHER_VARIABLES.iter().map(|(n, _)| *n).collect();
    let mut given = Vec::new();
    for (name, text) in env.iter().filter(|(n, _)| n.starts_with("REFILL_")) {
        if others.contains(&name.as_str()) {
            continue;
        }
        let Some((key, old)) = lookup(name, spell) else {
            bail!(unknown(
                name,
                &known_names(spell, &others),
                "the environment"
            ));
        };
        // An empty variable counts as unset.
        if text.is_empty() {
            continue;
        }
        given.push(Given {
            key,
            name: name.clone(),
            old,
            text: text.clone(),
            shown: format!("{name}={text:?}"),
            source: "the environment".into(),
        });
    }
    Ok(given)
}
