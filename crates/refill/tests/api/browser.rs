//! The customer page in a real browser: crates/refill/tests/browser/portal_story.py
//! drives Debian's Chromium through Playwright against the real server. It runs when
//! REFILL_TEST_BROWSER names a python that has Playwright (.ci/run sets it up); set
//! but broken is a failure, unset is a skip said aloud.

use crate::support::{TestApp, spawn_with, stores};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const CHROMIUM: &str = "/usr/bin/chromium";

fn python() -> Option<PathBuf> {
    let Some(p) = std::env::var_os("REFILL_TEST_BROWSER") else {
        println!(
            "browser test skipped: REFILL_TEST_BROWSER is not set (a python with Playwright; see .ci/run)"
        );
        return None;
    };
    let p = PathBuf::from(p);
    assert!(
        p.exists(),
        "REFILL_TEST_BROWSER={} does not exist",
        p.display()
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "REFILL_TEST_BROWSER is set but {CHROMIUM} is missing (apt-get install chromium)"
    );
    Some(p)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn session_url(app: &TestApp, account: &str) -> String {
    let r = app
        .post(
            "/v1/portal-sessions",
            json!({"account_id": account, "return_url": "https://dash.example.test/billing"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["url"].as_str().expect("url").to_string()
}

/// The story's facts: the server, the account whose page it is, another account's
/// ids to try.
async fn facts(app: &TestApp, screenshots: Option<PathBuf>) -> Value {
    let (other, other_card) = app.funded("Other Ltd", "pm_card_visa", 5_000).await;
    let other_top_up = app.manual_top_ups.lock().unwrap()[0].clone();
    let account = app.account("Acme Messaging").await;
    json!({
        "base": app.base, "key": app.key, "account": account,
        "session_url": session_url(app, &account).await,
        "other_account": other, "other_card": other_card, "other_top_up": other_top_up,
        "other_name": "Other Ltd", "other_balance": 5_000,
        "screenshots": screenshots.map(|p| p.display().to_string()),
    })
}

/// Runs the story; answers its ENGINE requests by running the engine.
async fn run_story(app: &TestApp, python: &Path, facts: &Value) -> Vec<String> {
    let script = root().join("crates/refill/tests/browser/portal_story.py");
    let mut child = tokio::process::Command::new(python)
        .arg(&script)
        .arg(facts.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut said = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("the story's output") {
            println!("browser: {line}");
            if line == "ENGINE" {
                app.engine().await;
                stdin.write_all(b"ok\n").await.expect("answered the story");
            }
            if let Some(hours) = line.strip_prefix("ADVANCE ") {
                let hours: i64 = hours.parse().expect("ADVANCE <hours>");
                app.clock.advance(hours * 3_600_000);
                stdin.write_all(b"ok\n").await.expect("answered the story");
            }
            said.push(line);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(240), read)
        .await
        .expect("the browser story finished within 4 minutes");
    let status = child.wait().await.expect("the story ended");
    assert!(
        status.success(),
        "the browser story failed ({status}); its last step: {:?}",
        said.iter().rev().find(|l| l.starts_with("STEP"))
    );
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_story_in_a_real_browser() {
    let Some(python) = python() else { return };
    for (i, store) in stores().await.into_iter().enumerate() {
        // The story spans a week of usage on the simulated clock: a session that lasts.
        let app = spawn_with(&store, |s| {
            s.service.portal.session_ttl = 30 * refill_domain::DAY;
        })
        .await;
        // The screenshots of the README come from the first store's run.
        let shots = (i == 0).then(|| root().join("docs/screenshots"));
        if let Some(dir) = &shots {
            std::fs::create_dir_all(dir).expect("docs/screenshots");
        }
        let facts = facts(&app, shots).await;
        let said = run_story(&app, &python, &facts).await;
        assert!(said.iter().any(|l| l == "STORY PASSED"), "{said:?}");
        app.assert_ledger_ok().await;
    }
}
