//! Stripe's webhook signatures: valid, tampered, expired and replayed.

use super::*;
use crate::fixtures::no_verification;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_webhook_signatures_valid_tampered_expired_and_replayed() {
    for store in stores().await {
        let h = stripe_app_with(&store, no_verification).await;
        let (id, _) = h.funded("acme", "pm_card_pending", 0).await;
        let r = h.manual_top_up(&id, 5_000).await;
        let pi = r.body["transaction_id"].as_str().unwrap().to_string();
        let failed = FakeStripe::event(
            "payment_intent.payment_failed",
            h.fake.settle(&pi, false).unwrap(),
        );
        let payload = serde_json::to_vec(&failed).unwrap();
        let refused = |r: Resp| {
            assert_eq!(
                (r.status, r.code()),
                (400, "invalid_signature"),
                "{}",
                r.body
            );
        };
        // Tampered: the body changed after signing.
        let sig = sign(&payload, FAKE_WEBHOOK_SECRET, h.now_secs());
        let mut tampered = failed.clone();
        tampered["data"]["object"]["amount"] = json!(1);
        refused(
            h.post_webhook(&serde_json::to_vec(&tampered).unwrap(), Some(&sig))
                .await,
        );
        // Signed with another secret, not signed, a malformed header.
        let other = sign(&payload, "whsec_someone_else", h.now_secs());
        refused(h.post_webhook(&payload, Some(&other)).await);
        refused(h.post_webhook(&payload, None).await);
        refused(h.post_webhook(&payload, Some("t=1,v1=zz")).await);
        // Expired: more than 5 minutes old by refill's clock.
        let old = sign(&payload, FAKE_WEBHOOK_SECRET, h.now_secs() - 301);
        refused(h.post_webhook(&payload, Some(&old)).await);
        assert_eq!(h.balance(&id).await, 5_000, "nothing changed");
        assert_eq!(h.top_up(&r.id()).await["status"], "pending");
        // Valid, just inside the tolerance.
        let fresh = sign(&payload, FAKE_WEBHOOK_SECRET, h.now_secs() - 299);
        let ok = h.post_webhook(&payload, Some(&fresh)).await;
        assert_eq!((ok.status, &ok.body["outcome"]), (200, &json!("processed")));
        assert_eq!(ok.body["event_id"], failed["id"]);
        assert_eq!(h.balance(&id).await, 0, "R11: reversed");
        // Replayed: the same signed request again, and the same event re-signed.
        let again = h.post_webhook(&payload, Some(&fresh)).await;
        assert_eq!(
            (again.status, &again.body["outcome"]),
            (200, &json!("duplicate"))
        );
        assert_eq!(h.outcome(&failed).await, "duplicate");
        assert_eq!(h.balance(&id).await, 0, "no second effect");
        assert_eq!(h.events(&id, "payment.reversed").await.len(), 1);
        // The captured request is refused once it is older than the tolerance.
        h.clock.advance(301_000);
        refused(h.post_webhook(&payload, Some(&fresh)).await);
        // Unknown event types are acknowledged and ignored; unreadable events refused.
        let unknown = FakeStripe::event(
            "customer.created",
            json!({"id": "cus_1", "object": "customer"}),
        );
        assert_eq!(h.outcome(&unknown).await, "ignored");
        let junk = b"{not json";
        let sig = sign(junk, FAKE_WEBHOOK_SECRET, h.now_secs());
        let r = h.post_webhook(junk, Some(&sig)).await;
        assert_eq!((r.status, r.code()), (400, "invalid_event"));
        h.assert_ledger_ok().await;

        // Without a webhook secret the endpoint is not there.
        let bare = spawn(&store).await;
        let r = bare
            .send(
                reqwest::Method::POST,
                "/v1/webhooks/stripe",
                Some(&failed),
                &[],
                None,
            )
            .await;
        assert_eq!((r.status, r.code()), (404, "webhook_not_configured"));
    }
}
