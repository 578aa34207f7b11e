//! Cards on Stripe: saved on the payer's customer with 3-D Secure (R5, R14), and a
//! card detached at Stripe (R22).

use super::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r5_r14_cards_are_saved_on_the_payers_customer_with_3d_secure() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        let id = h.account("acme").await;
        let visa = h
            .post(&pm_path(&id), json!({"token": "pm_card_visa"}))
            .await;
        assert_eq!(visa.status, 201, "{}", visa.body);
        assert_eq!(visa.body["status"], "ready");
        assert_eq!(
            visa.body["verified"], true,
            "R14: a setup that succeeded at once was checked by the bank"
        );
        assert!(visa.body.get("client_secret").is_none());
        let customer = h.customer(&id).await.expect("R5: the payer is a customer");
        let token = h.token(&visa.id()).await;
        assert_ne!(token, "pm_card_visa", "the SetupIntent's own PaymentMethod");
        assert_eq!(h.fake.object(&token).unwrap()["customer"], customer);

        // R14: the bank asks for 3-D Secure when the card is saved.
        let three = h
            .post(
                &pm_path(&id),
                json!({"token": "pm_card_authenticationRequiredOnSetup"}),
            )
            .await;
        assert_eq!(three.status, 201, "{}", three.body);
        assert_eq!(
            (&three.body["status"], &three.body["verified"]),
            (&json!("requires_action"), &json!(false))
        );
        let setup = three.body["setup_intent"].as_str().unwrap().to_string();
        let secret = three.body["client_secret"].as_str().unwrap();
        assert!(
            secret.starts_with(&setup),
            "the SetupIntent's client secret"
        );
        let top_up = |pm: String| {
            let path = format!("/v1/accounts/{id}/top-ups");
            let h = &h;
            async move {
                h.post(&path, json!({"amount": 2_000, "payment_method": pm}))
                    .await
            }
        };
        let r = top_up(three.id()).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "payment_method_requires_action")
        );
        let r = h
            .put(
                &format!("/v1/accounts/{id}/auto-top-up"),
                json!({"enabled": true, "threshold": 1_000, "amount": 2_000,
                    "terms_version": TERMS, "payment_method": three.id()}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (409, "payment_method_requires_action")
        );
        let confirm = format!("{}/{}/confirm", pm_path(&id), three.id());
        let c = h.post(&confirm, json!({})).await;
        assert_eq!(
            (c.status, &c.body["status"]),
            (200, &json!("requires_action"))
        );
        h.fake.authenticate_setup_intent(&setup).unwrap();
        let c = h.post(&confirm, json!({})).await;
        assert_eq!((c.status, &c.body["status"]), (200, &json!("ready")));
        assert_eq!(c.body["verified"], true);
        assert!(c.body.get("client_secret").is_none());
        let r = top_up(three.id()).await;
        assert_eq!((r.status, &r.body["status"]), (201, &json!("succeeded")));
        let pi = h
            .fake
            .object(r.body["transaction_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(pi["customer"], customer, "charges carry the customer");
        assert_eq!(pi["metadata"]["refill_top_up"], r.id());

        // The same through the webhook: setup_intent.succeeded, delivered twice.
        let four = h
            .post(
                &pm_path(&id),
                json!({"token": "pm_card_authenticationRequiredOnSetup"}),
            )
            .await;
        assert_eq!(four.status, 201, "{}", four.body);
        let si = h
            .fake
            .authenticate_setup_intent(four.body["setup_intent"].as_str().unwrap())
            .unwrap();
        let event = FakeStripe::event("setup_intent.succeeded", si);
        assert_eq!(h.outcome(&event).await, "processed");
        assert_eq!(h.outcome(&event).await, "duplicate");
        let list = h.get(&pm_path(&id)).await.body["data"].clone();
        let four_now = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == four.id().as_str())
            .unwrap();
        assert_eq!(
            (&four_now["status"], &four_now["verified"]),
            (&json!("ready"), &json!(true))
        );

        // A card the bank declines is not saved.
        let bad = h
            .post(&pm_path(&id), json!({"token": "pm_card_chargeDeclined"}))
            .await;
        assert_eq!((bad.status, bad.code()), (402, "card_declined"));
        assert_eq!(
            h.get(&pm_path(&id)).await.body["data"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        // One customer for the payer, however many cards.
        let customers = h.fake.requests();
        let customers = customers.iter().filter(|r| r.path == "/v1/customers");
        assert_eq!(customers.count(), 1);
        // R5: a removed card is detached at Stripe too.
        assert_eq!(
            h.delete(&format!("{}/{}", pm_path(&id), visa.id()))
                .await
                .status,
            200
        );
        assert_eq!(h.fake.object(&token).unwrap()["customer"], Value::Null);
        h.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_r22_a_card_detached_at_stripe_disables_auto_top_up() {
    for store in stores().await {
        let h = stripe_app(&store).await;
        let (id, pm) = h.funded("acme", "pm_card_visa", 5_000).await;
        h.turn_on_auto_top_up(&id, 1_000, 2_000).await;
        let token = h.token(&pm).await;
        let customer = h.customer(&id).await.unwrap();
        h.stripe
            .detach_payment_method(&token, "dashboard")
            .await
            .unwrap();
        let mut e = FakeStripe::event("payment_method.detached", h.fake.object(&token).unwrap());
        e["data"]["previous_attributes"] = json!({"customer": customer});
        assert_eq!(h.outcome(&e).await, "processed");
        assert_eq!(h.outcome(&e).await, "duplicate");
        let cards = h.get(&pm_path(&id)).await.body["data"].clone();
        assert!(
            cards
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["id"] != pm.as_str())
        );
        let (_, disabled) = h.running.app.periodic_check().await.unwrap();
        assert_eq!(disabled, 1);
        let s = h.auto_top_up(&id).await;
        assert_eq!(
            (&s["state"], &s["state_reason"]["code"]),
            (&json!("disabled"), &json!("payment_method_removed"))
        );
        // Another customer's card of the same id is left alone.
        let mut other = e.clone();
        other["id"] = json!("evt_other_customer");
        other["data"]["previous_attributes"] = json!({"customer": "cus_someone_else"});
        assert_eq!(h.outcome(&other).await, "ignored");
    }
}
