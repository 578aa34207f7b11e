//! `refill verify` reconciles the money records with the ledger (R3) and the sandbox's
//! charges with the top-ups (R25): run as the binary on a database made by the real
//! server, then on that database corrupted, where it names each problem and fails.

use crate::support::*;
use refill_gateway::sandbox::Sandbox;
use serde_json::json;
use std::process::{Command, Output};
use std::sync::Arc;

fn verify(store: &Store, record: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refill"))
        .arg("verify")
        .env("REFILL_DATABASE_URL", &store.url)
        .env("REFILL_SANDBOX_RECORD", record)
        .env("REFILL_GATEWAY", "sandbox")
        .output()
        .expect("refill verify ran")
}

/// What a database holds after a day of business: top-ups paid and declined, a
/// verified card, a fee period, an approved refund. Returns (paid top-up refunded,
/// paid top-up, declined top-up, resource).
async fn business(app: &TestApp, id: &str) -> (String, String, String, String) {
    let refunded = app.manual_top_up(id, 5_000).await.id();
    let kept = app.manual_top_up(id, 2_000).await.id();
    let declined = app.card_used_once(id, "pm_card_chargeDeclined").await;
    let r = app
        .post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 1_000, "payment_method": declined}),
        )
        .await;
    assert_eq!(r.code(), "card_declined", "{}", r.body);
    let declined = r.body["top_up_id"].as_str().unwrap().to_string();
    app.turn_on_auto_top_up(id, 1_000, 2_000).await;
    let resource = app
        .post(
            &format!("/v1/accounts/{id}/resources"),
            json!({"name": "number", "fee": 500}),
        )
        .await;
    assert_eq!(resource.status, 201, "{}", resource.body);
    let ask = app
        .post(
            &format!("/v1/top-ups/{refunded}/refunds"),
            json!({"amount": 1_200, "reason": "not needed"}),
        )
        .await;
    assert_eq!(ask.status, 201, "{}", ask.body);
    let ok = app
        .post(&format!("/v1/refunds/{}/approve", ask.id()), json!({}))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    (refunded, kept, declined, resource.id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_r25_verify_reconciles_credits_fees_refunds_and_gateway_charges() {
    for store in stores().await {
        let dir = ScratchDir::new("refill-reconcile");
        let record = dir.path().join("charges.jsonl");
        let sandbox = Sandbox::open(&record, Arc::new(|| T0)).expect("sandbox record");
        let app = spawn_with_gateway(&store, Arc::new(sandbox), |_| {}).await;
        let (id, _) = app.funded("acme", "pm_card_visa", 0).await;
        let (refunded, kept, declined, resource) = business(&app, &id).await;
        let out = verify(&store, &record);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{}: {stderr}", store.name);
        assert!(
            stdout.contains("every sandbox charge belongs to a top-up"),
            "{stdout}"
        );
        // Corrupted: a declined top-up marked paid, a fee period with no debit, a
        // refund's reversal lost, a charge no top-up names.
        let db = refill_store::Db::connect(&store.url).await.unwrap();
        let corrupt = [
            format!("UPDATE top_ups SET status = 'succeeded' WHERE id = '{declined}'"),
            format!(
                "INSERT INTO resource_fees (resource_id, period, amount, due_at, charged_at) \
                 VALUES ('{resource}', 7, 500, {T0}, {T0})"
            ),
            format!(
                "DELETE FROM entries WHERE journal_id IN (SELECT journal_id FROM entries \
                 WHERE reference = 'refund of top-up {refunded}')"
            ),
            format!("UPDATE top_ups SET gateway_charge_id = NULL WHERE id = '{kept}'"),
        ];
        for sql in &corrupt {
            refill_store::sqlx::query(refill_store::sqlx::AssertSqlSafe(sql.as_str()))
                .execute(&db.pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let out = verify(&store, &record);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", store.name);
        let named = [
            format!(
                "top-up {declined} (account {id}) succeeded but its credit is not in the ledger"
            ),
            format!(
                "fee period 8 of resource {resource} (account {id}) was charged but has no debit"
            ),
            format!(
                "of top-up {refunded} (account {id}) reversed credit at approval but the ledger has no reversal"
            ),
            format!("account {id}: balance"),
            "has no top-up".to_string(),
            "problems found".to_string(),
        ];
        for n in &named {
            assert!(
                stderr.contains(n.as_str()),
                "{}: {n:?} not in:\n{stderr}",
                store.name
            );
        }
        assert_eq!(
            stderr.matches("has no top-up").count(),
            1,
            "only the charge of {kept}: {stderr}"
        );
    }
}
