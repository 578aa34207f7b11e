//! Reading settings from refill.toml and the environment, through the table.

use super::docs::STAGING;
use super::*;
use refill_domain::{DAY, HOUR, MINUTE};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn from_file(text: &str) -> anyhow::Result<Settings> {
    Settings::read(Some(("refill.toml", text)), &[])
}

fn from_env(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
    Settings::read(None, &env(pairs))
}

fn error(result: anyhow::Result<Settings>) -> String {
    match result {
        Ok(_) => panic!("the settings were accepted"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn nothing_given_is_the_defaults() {
    let read = from_env(&[]).expect("defaults");
    let defaults = Settings::default();
    for key in KEYS {
        assert_eq!(key.value(&read), key.value(&defaults), "{}", key.name);
    }
}

/// Each key's default, as the docs show it, reads back to itself: the docs' default
/// column is the value a deployment gets.
#[test]
fn every_default_reads_back_as_itself() {
    let defaults = Settings::default();
    for key in KEYS {
        let Some(text) = key.value(&defaults) else {
            continue;
        };
        let mut s = Settings::default();
        key.set(&mut s, &text, false)
            .unwrap_or_else(|forms| panic!("{} = {text:?}: {forms}", key.name));
        assert_eq!(key.value(&s), Some(text), "{}", key.name);
    }
}

#[test]
fn a_duration_takes_a_unit_in_the_file_and_in_the_environment() {
    let s = from_file("retry_delay = \"30s\"\ncard_interval = \"0s\"\nrenewal_grace = \"7d\"")
        .expect("valid");
    assert_eq!(s.service.limits.retry_delay, 30_000);
    assert_eq!(s.service.limits.card_interval, 0);
    assert_eq!(s.service.recurring.renewal_grace, 7 * DAY);
    let s = from_env(&[
        ("REFILL_RETRY_DELAY", "90s"),
        ("REFILL_PERIODIC_CHECK", "30m"),
        ("REFILL_WEBHOOK_TIMEOUT", "5s"),
        ("REFILL_NOTIFY_RETRY", "24h"),
        ("REFILL_LEASE", "2m"),
        ("REFILL_SANDBOX_SETTLE_AFTER", "1m"),
    ])
    .expect("valid");
    assert_eq!(s.service.limits.retry_delay, 90_000);
    assert_eq!(s.service.periodic_check, 30 * MINUTE);
    assert_eq!(s.notify.webhook_timeout, 5_000);
    assert_eq!(s.service.notify_retry.max_age_ms, 24 * HOUR);
    assert_eq!(s.service.lease, 2 * MINUTE);
    assert_eq!(s.sandbox_settle_after, MINUTE);
}

#[test]
fn the_older_names_with_a_unit_still_read_plain_numbers() {
    let s = from_file("retry_delay_hours = 2\ncard_interval_minutes = 0\nlease_seconds = 1")
        .expect("valid");
    assert_eq!(s.service.limits.retry_delay, 2 * HOUR);
    assert_eq!(s.service.limits.card_interval, 0);
    assert_eq!(s.service.lease, 1_000);
    let s = from_env(&[
        ("REFILL_PERIODIC_CHECK_SECONDS", "300"),
        ("REFILL_RENEWAL_GRACE_HOURS", "72"),
        ("REFILL_NOTIFY_RETRY_HOURS", "1"),
        ("REFILL_WEBHOOK_TIMEOUT_SECONDS", "3"),
    ])
    .expect("valid");
    assert_eq!(s.service.periodic_check, 5 * MINUTE);
    assert_eq!(s.service.recurring.renewal_grace, 3 * DAY);
    assert_eq!(s.service.notify_retry.max_age_ms, HOUR);
    assert_eq!(s.notify.webhook_timeout, 3_000);
}

#[test]
fn both_names_of_a_duration_in_one_source_are_refused_as_ambiguous() {
    let e = error(from_file("retry_delay = \"30s\"\nretry_delay_hours = 24"));
    assert!(e.contains("retry_delay and retry_delay_hours"), "{e}");
    let e = error(from_env(&[
        ("REFILL_LEASE_SECONDS", "1"),
        ("REFILL_LEASE", "1s"),
    ]));
    assert!(e.contains("REFILL_LEASE_SECONDS and REFILL_LEASE"), "{e}");
}

#[test]
fn the_environment_overrides_the_file_whichever_name_each_uses() {
    let file = Some((
        "refill.toml",
        "retry_delay_hours = 24\nlisten = \"0.0.0.0:80\"",
    ));
    let s = Settings::read(file, &env(&[("REFILL_RETRY_DELAY", "30s")])).expect("valid");
    assert_eq!(s.service.limits.retry_delay, 30_000);
    assert_eq!(s.listen, "0.0.0.0:80");
}

#[test]
fn an_unknown_key_in_the_file_names_the_nearest_known_key() {
    let e = error(from_file("retry_delay_hour = 24"));
    assert!(
        e.contains(
            "unknown setting retry_delay_hour in refill.toml; did you mean retry_delay_hours?"
        ),
        "{e}"
    );
    let e = error(from_file("gatway = \"stripe\""));
    assert!(e.contains("did you mean gateway?"), "{e}");
}

#[test]
fn an_unknown_refill_variable_names_the_nearest_known_variable() {
    let e = error(from_env(&[("REFILL_RETRY_DELAY_HOUR", "24")]));
    assert!(
        e.contains(
            "unknown setting REFILL_RETRY_DELAY_HOUR in the environment; \
             did you mean REFILL_RETRY_DELAY_HOURS?"
        ),
        "{e}"
    );
    let e = error(from_env(&[("REFILL_TEST_DATABASE_URI", "postgres://x")]));
    assert!(e.contains("did you mean REFILL_TEST_DATABASE_URL?"), "{e}");
    // Even empty: a misspelt name is a mistake whatever its value.
    let e = error(from_env(&[("REFILL_LISTN", "")]));
    assert!(e.contains("did you mean REFILL_LISTEN?"), "{e}");
    // Names are in capitals, as the docs write them.
    assert!(from_env(&[("REFILL_listen", "x")]).is_err());
}

#[test]
fn the_variables_refill_reads_on_purpose_are_not_unknown() {
    let s = from_env(&[
        ("REFILL_CONFIG", "/etc/refill.toml"),
        (
            "REFILL_TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1/postgres",
        ),
        ("REFILL_BOOTSTRAP_KEY", "rk_op_x"),
        ("PATH", "/usr/bin"),
    ])
    .expect("valid");
    assert_eq!(s.bootstrap_key.as_deref(), Some("rk_op_x"));
}

#[test]
fn a_bad_value_names_the_key_and_the_forms_it_takes() {
    let cases: &[(&str, &str, &str)] = &[
        ("REFILL_RETRY_DELAY", "30", "90s, 30m, 24h or 7d"),
        ("REFILL_RETRY_DELAY", "-30s", "90s, 30m, 24h or 7d"),
        ("REFILL_RETRY_DELAY_HOURS", "24h", "a whole number of hours"),
        ("REFILL_GATEWAY", "paypal", "sandbox or stripe"),
        (
            "REFILL_TRIGGER_ON",
            "fees",
            "usage, usage_and_fees or any_debit",
        ),
        ("REFILL_CREDIT_PENDING", "yes", "true or false"),
        ("REFILL_MINIMUM_TOP_UP", "-5", "minor units"),
        ("REFILL_DAILY_COUNT_CAP", "ten", "a whole number"),
        ("REFILL_TAX_RATES", "GB=2000", "GB:2000,DE:1900"),
    ];
    for (name, value, forms) in cases {
        let e = error(from_env(&[(name, value)]));
        assert!(e.starts_with(&format!("{name}={value:?}: must be ")), "{e}");
        assert!(e.contains(forms), "{e}");
    }
    let e = error(from_file("retry_delay = 30"));
    assert!(
        e.contains("retry_delay = 30: must be a whole number with a unit"),
        "{e}"
    );
    let e = error(from_file("listen = [1]"));
    assert!(e.contains("refill.toml: listen must be text"), "{e}");
}

#[test]
fn r9_tax_rates_read_from_a_table_or_pairs() {
    let s = from_file("tax_rates = { gb = 2000, DE = 1900 }").expect("valid");
    assert_eq!(s.service.tax.rate_bps(Some("gb")), 2000);
    assert_eq!(s.service.tax.rate_bps(Some("DE")), 1900);
    let s = from_env(&[("REFILL_TAX_RATES", "GB:2000,fr:2000")]).expect("valid");
    assert_eq!(s.service.tax.rate_bps(Some("FR")), 2000);
    assert!(from_file("tax_rates = { GB = \"20%\" }").is_err());
}

#[test]
fn r17_the_resource_auto_top_up_must_be_valid_settings() {
    let e = error(from_env(&[
        ("REFILL_RESOURCE_AUTO_TOP_UP_THRESHOLD", "5000"),
        ("REFILL_RESOURCE_AUTO_TOP_UP_AMOUNT", "2000"),
    ]));
    assert!(e.contains("resource_auto_top_up_amount"), "{e}");
}

/// The docs' staging example gives what it says, in the file and in the environment.
#[test]
fn the_staging_example_retries_after_30s_and_settles_after_a_minute() {
    let toml: Vec<String> = STAGING
        .iter()
        .map(|(k, v, _)| format!("{k} = \"{v}\""))
        .collect();
    let vars: Vec<(String, String)> = STAGING
        .iter()
        .map(|(k, v, _)| (format!("REFILL_{}", k.to_ascii_uppercase()), v.to_string()))
        .collect();
    for s in [
        from_file(&toml.join("\n")).expect("valid"),
        Settings::read(None, &vars).expect("valid"),
    ] {
        assert_eq!(s.service.limits.retry_delay, 30_000);
        assert!(s.service.limits.card_interval <= 30_000);
        assert_eq!(s.sandbox_settle_after, MINUTE);
        assert_eq!(s.service.periodic_check, 30_000);
    }
}
