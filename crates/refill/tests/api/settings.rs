//! Settings as a deployment gives them: the staging example of docs/configuration.md
//! at work, and a misspelt setting stopping `refill` before it starts.

use crate::support::*;
use refill::settings::{KEYS, STAGING};
use serde_json::json;
use std::process::{Command, Output};

/// The docs' staging example, over the test settings.
fn staging(s: &mut refill::Settings) {
    for (name, value, _) in STAGING {
        let key = KEYS.iter().find(|k| k.name == *name).expect("a key");
        key.set(s, value, false).expect("a valid value");
    }
}

async fn failures(app: &TestApp, id: &str) -> i64 {
    let s = app.get(&format!("/v1/accounts/{id}/auto-top-up")).await;
    s.body["consecutive_failures"].as_i64().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r23_the_staging_example_retries_a_failed_charge_after_30_seconds() {
    for store in stores().await {
        let app = spawn_with(&store, staging).await;
        let (id, _) = app
            .funded("acme", "pm_card_chargeCustomerFail", 5_000)
            .await;
        assert_eq!(
            enable_auto_top_up(&app, &id, 1_000, 2_000).await.status,
            200
        );
        app.debit(&id, 4_500).await;
        app.engine().await;
        assert_eq!(failures(&app, &id).await, 1);
        app.clock.advance(29_000);
        app.engine().await;
        assert_eq!(failures(&app, &id).await, 1, "not before 30 s");
        app.clock.advance(1_000);
        app.engine().await;
        assert_eq!(failures(&app, &id).await, 2, "retried at 30 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_the_staging_example_settles_a_pending_payment_after_a_minute() {
    for store in stores().await {
        let app = spawn_with(&store, staging).await;
        let (id, _) = app.funded("acme", "pm_card_pending", 0).await;
        let r = app
            .post(
                &format!("/v1/accounts/{id}/top-ups"),
                json!({"amount": 5_000}),
            )
            .await;
        assert_eq!(
            (r.status, r.body["status"].as_str()),
            (201, Some("pending"))
        );
        app.clock.advance(59_000);
        assert_eq!(app.running.app.settle_pending().await.unwrap(), 0);
        app.clock.advance(1_000);
        assert_eq!(app.running.app.settle_pending().await.unwrap(), 1);
        let t = app.get(&format!("/v1/top-ups/{}", r.id())).await;
        assert_eq!(t.body["status"], "succeeded", "{}", t.body);
    }
}

/// `refill migrate` in an empty directory, with these variables (and `refill.toml`).
fn migrate(vars: &[(&str, &str)], toml: Option<&str>) -> (Output, ScratchDir) {
    let dir = ScratchDir::new("refill-settings");
    if let Some(text) = toml {
        std::fs::write(dir.path().join("refill.toml"), text).expect("refill.toml written");
    }
    let url = format!("sqlite://{}/refill.db", dir.path().display());
    let out = Command::new(env!("CARGO_BIN_EXE_refill"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_remove("REFILL_CONFIG")
        .env("REFILL_DATABASE_URL", url)
        .envs(vars.iter().copied())
        .output()
        .expect("refill ran");
    (out, dir)
}

#[test]
fn a_misspelt_refill_variable_stops_the_start_naming_the_nearest() {
    let (out, dir) = migrate(&[("REFILL_RETRY_DELAY_HOUR", "1")], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unknown setting REFILL_RETRY_DELAY_HOUR in the environment; did you mean REFILL_RETRY_DELAY_HOURS?"),
        "{err}"
    );
    assert!(!dir.path().join("refill.db").exists(), "nothing was done");
    let (out, _dir) = migrate(&[("REFILL_RETRY_DELAY_HOURS", "1")], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_misspelt_key_in_refill_toml_stops_the_start_naming_the_nearest() {
    let (out, dir) = migrate(&[], Some("retry_dealy = \"30s\"\n"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unknown setting retry_dealy in refill.toml; did you mean retry_delay?"),
        "{err}"
    );
    assert!(!dir.path().join("refill.db").exists(), "nothing was done");
    let (out, _dir) = migrate(&[], Some("retry_delay = \"30s\"\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
