//! Every event type reaches email, SMS and webhooks (R26), as the customer's
//! preferences and the endpoints' types choose; the low-balance notice once per
//! crossing (R27).

use super::*;
use refill_domain::{DAY, MINUTE};
use refill_notify::testing::WAIT;
use refill_notify::verify_signature;
use std::collections::{BTreeMap, BTreeSet};

/// Drives one account through every event type (R26, R11, R29).
async fn every_event_type(app: &TestApp, id: &str) {
    app.save_card(id, "pm_card_visa").await;
    // top_up.succeeded (manual)
    app.manual_top_up(id, 10_000).await;
    // A dedicated number at 20.00 a month (R29; R17 turns auto top-up on).
    let r = app
        .post(
            &format!("/v1/accounts/{id}/resources"),
            json!({"name": "+44 7700 900999", "fee": 2_000, "terms_version": TERMS}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // balance.low
    app.set_low_balance_notice(id, 6_000).await;
    app.spend(id, 2_500).await;
    // balance.approaching_threshold, then an automatic top-up.succeeded
    app.turn_on_auto_top_up(id, 2_000, 3_000).await;
    app.spend(id, 3_400).await;
    app.spend(id, 200).await;
    app.engine().await;
    // cap.reached: the daily cap is one automatic top-up.
    app.spend(id, 3_000).await;
    app.clock.advance(31 * MINUTE);
    app.engine().await;
    // top_up.failed: a declined manual top-up.
    let declined = app.save_spare_card(id, "pm_card_chargeDeclined").await;
    let r = app
        .post(
            &format!("/v1/accounts/{id}/top-ups"),
            json!({"amount": 1_000, "payment_method": declined}),
        )
        .await;
    assert_eq!(r.status, 402, "{:?}", r.body);
    // payment.reversed (R11): a pending payment that finally fails.
    let pending = app.save_spare_card(id, "pm_card_pendingThenFails").await;
    app.manual_top_up_by(id, &pending, 1_000).await;
    app.clock.advance(3 * DAY);
    app.running.app.settle_pending().await.unwrap();
    // auto_top_up.disabled: the card it relies on is removed (R22).
    let methods = app.get(&format!("/v1/accounts/{id}/payment-methods")).await;
    for pm in methods.body["data"].as_array().unwrap() {
        app.remove_card(id, pm["id"].as_str().unwrap()).await;
    }
    app.running.app.periodic_check().await.unwrap();
    // resource.renewal_failed a month on (19.00 left), resource.suspended after the grace.
    app.clock.advance(28 * DAY);
    app.running.app.periodic_jobs().await.unwrap();
    app.clock.advance(4 * DAY);
    app.running.app.periodic_jobs().await.unwrap();
    // top_up.refunded comes only from Stripe's charge.refunded webhook (made in
    // tests/api/stripe/refunds.rs); here the outbox row as that handler writes it, to
    // show its delivery.
    let refunded = refill_domain::events::TopUpRefunded {
        top_up_id: "top_x".into(),
        refunded: 1_000,
        refunded_total: 1_000,
        credit_reversed: 834,
        tax_reversed: 166,
        currency: "GBP".into(),
        balance_after: 0,
        transaction_id: None,
    };
    let mut tx = app.running.app.db.begin().await.unwrap();
    refill_service::events::emit(&mut tx, id, refunded, app.clock_now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    refund_events(app, id).await;
}

/// refund.requested, .rejected, .approved, .succeeded, .failed (R31).
async fn refund_events(app: &TestApp, id: &str) {
    let ask = |t: String| async move {
        let path = format!("/v1/top-ups/{t}/refunds");
        let r = app
            .post(&path, json!({"amount": 1_200, "reason": "r"}))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.id()
    };
    let decide = |rfd: String, verb: &'static str| async move {
        let path = format!("/v1/refunds/{rfd}/{verb}");
        let r = app.post(&path, json!({"reason": "decided"})).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    };
    let visa = app.save_spare_card(id, "pm_card_visa").await;
    let paid = app.manual_top_up_by(id, &visa, 5_000).await.id();
    decide(ask(paid.clone()).await, "reject").await;
    decide(ask(paid).await, "approve").await;
    let failing = app.save_spare_card(id, "pm_card_refundFail").await;
    let paid = app.manual_top_up_by(id, &failing, 5_000).await.id();
    decide(ask(paid).await, "approve").await;
    app.clock.advance(3 * DAY);
    app.running.app.settle_refunds().await.unwrap();
}

fn types_of(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_every_event_type_reaches_email_sms_and_webhook() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        let r = app
            .put(
                &format!("/v1/accounts/{id}/notification-settings"),
                json!({"sms": ["*"]}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["sms"]["to"], "+447700900123");
        assert_eq!(r.body["email"]["events"], json!(["*"]));
        let hook = endpoint(&app, &format!("{}/hooks", rx.hooks.url()), json!(["*"])).await;
        assert_eq!(hook.status, 201, "{:?}", hook.body);
        assert_eq!(hook.body["secret"], SECRET, "shown once, at creation");

        every_event_type(&app, &id).await;
        app.notify().await;

        let events = app.all_events(&id).await;
        let want: BTreeSet<String> = ALL_TYPES.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            types_of(&events),
            want,
            "{} on {}",
            json!(events),
            store.name
        );
        let n = events.len();

        // Webhooks: one signed envelope per event, {id, type, created, data}.
        let hooks = rx.hooks.wait_for(n, WAIT).await;
        let mut by_id = BTreeMap::new();
        for h in &hooks {
            let sig = h.header("refill-signature").expect("signed");
            let t: i64 = sig
                .split(',')
                .find_map(|p| p.strip_prefix("t="))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(t, app.clock_now() / 1000, "signed at the service's time");
            assert!(verify_signature(SECRET, sig, &h.body, t, 300), "signature");
            assert!(!verify_signature(
                "whsec_other_secret",
                sig,
                &h.body,
                t,
                300
            ));
            let v = h.json();
            assert!(v["created"].is_i64() || v["created"].is_string(), "{v}");
            by_id.insert(v["id"].as_str().unwrap().to_string(), v["type"].clone());
        }
        assert_eq!(hooks.len(), n, "each event once");
        for e in &events {
            assert_eq!(by_id[e["id"].as_str().unwrap()], e["type"]);
        }

        // SMS: one short text per event to the payer's phone, from the sender.
        let texts = rx.sms.wait_for(n, WAIT).await;
        assert_eq!(texts.len(), n);
        for t in &texts {
            assert_eq!(t.form_value("To").as_deref(), Some("+447700900123"));
            assert_eq!(t.form_value("From").as_deref(), Some("+15550001111"));
            assert!(
                t.path.contains("/Accounts/AC123/Messages.json"),
                "{}",
                t.path
            );
            assert_eq!(t.basic_auth(), Some(("AC123".into(), "sms-token".into())));
            let body = t.form_value("Body").unwrap();
            assert!(!body.is_empty() && body.chars().count() <= 320, "{body}");
        }

        // Email: one per event, text and HTML, Message-ID from the event id.
        let mails = rx.smtp.wait_for(n, WAIT).await;
        assert_eq!(mails.len(), n);
        let ids: BTreeSet<String> = mails
            .iter()
            .map(|m| m.header("Message-ID").unwrap())
            .collect();
        assert_eq!(ids.len(), n, "one email per event");
        for m in &mails {
            assert_eq!(m.to, vec!["ada@example.test".to_string()]);
            assert!(m.text().is_some() && m.html().is_some());
        }
        // The receipt of the automatic top-up: amounts in the currency, card, ids.
        let auto = events
            .iter()
            .find(|e| e["type"] == "top_up.succeeded" && e["data"]["origin"] == "auto")
            .expect("an automatic top-up");
        let mail = mails
            .iter()
            .find(|m| {
                m.header("Message-ID")
                    .unwrap()
                    .contains(auto["id"].as_str().unwrap())
            })
            .expect("its email");
        let text = mail.text().unwrap();
        for want in [
            "30.00 GBP",
            "6.00 GBP",
            "36.00 GBP",
            "4242",
            auto["data"]["top_up_id"].as_str().unwrap(),
        ] {
            assert!(text.contains(want), "receipt lacks {want:?}:\n{text}");
        }
        // A failure says why and what to do.
        let failed = events
            .iter()
            .find(|e| e["type"] == "top_up.failed")
            .unwrap();
        let mail = mails
            .iter()
            .find(|m| {
                m.header("Message-ID")
                    .unwrap()
                    .contains(failed["id"].as_str().unwrap())
            })
            .unwrap();
        assert!(
            mail.text().unwrap().to_lowercase().contains("declined"),
            "{}",
            mail.text().unwrap()
        );

        // Nothing is sent twice once delivered.
        assert_eq!(app.notify().await, 0);
        assert_eq!(rx.hooks.requests().len(), n);
        let d = app
            .get(&format!(
                "/v1/events/{}/deliveries",
                events[0]["id"].as_str().unwrap()
            ))
            .await;
        let channels: BTreeSet<&str> = d.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                assert_eq!(x["status"], "delivered");
                x["channel"].as_str().unwrap()
            })
            .collect();
        assert_eq!(channels, BTreeSet::from(["email", "sms", "webhook"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_preferences_choose_channels_per_event_and_endpoints_their_types() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        let other = customer(&app).await;
        app.set_notification_settings(
            &id,
            json!({"email": ["top_up.succeeded"], "sms": ["balance.low"]}),
        )
        .await;
        // An endpoint of the operator for one account, one type; one for all, all types.
        let r = app
            .post(
                "/v1/webhook-endpoints",
                json!({"url": format!("{}/low", rx.hooks.url()), "event_types": ["balance.low"],
                       "account_id": id}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert!(
            r.body["secret"].as_str().unwrap().starts_with("whsec_"),
            "generated"
        );
        add_endpoint(&app, &format!("{}/all", rx.hooks.url()), json!(["*"])).await;
        for acct in [&id, &other] {
            app.save_card(acct, "pm_card_visa").await;
            app.manual_top_up(acct, 2_000).await;
            app.set_low_balance_notice(acct, 1_500).await;
            app.spend(acct, 1_000).await;
        }
        app.notify().await;
        let mails = rx.smtp.messages();
        let subjects: Vec<String> = mails.iter().map(|m| m.header("Subject").unwrap()).collect();
        assert_eq!(
            mails.len(),
            3,
            "id: its top-up only; other: both by default: {subjects:?}"
        );
        let texts = rx.sms.requests();
        assert_eq!(texts.len(), 1, "SMS only for id's balance.low");
        let hooks = rx.hooks.requests();
        let low: Vec<_> = hooks.iter().filter(|h| h.path == "/low").collect();
        assert_eq!(
            low.len(),
            1,
            "the scoped endpoint hears only its account's low balance"
        );
        assert_eq!(low[0].json()["data"]["balance"], 1_000);
        assert_eq!(hooks.iter().filter(|h| h.path == "/all").count(), 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r27_low_balance_notice_once_per_crossing_rearmed_above() {
    for store in stores().await {
        let rx = Receivers::start().await;
        let app = spawn_notifying(&store, &rx).await;
        let id = customer(&app).await;
        app.set_notification_settings(
            &id,
            json!({"email": ["balance.low"], "sms": ["balance.low"]}),
        )
        .await;
        app.save_card(&id, "pm_card_visa").await;
        app.manual_top_up(&id, 5_000).await;
        app.set_low_balance_notice(&id, 2_000).await;
        for _ in 0..4 {
            app.spend(&id, 1_000).await; // 4000, 3000, 2000 (crosses), 1000
        }
        app.notify().await;
        assert_eq!(rx.smtp.messages().len(), 1, "once per crossing");
        assert_eq!(rx.sms.requests().len(), 1);
        app.manual_top_up(&id, 5_000).await; // 6000: above, re-armed
        app.spend(&id, 4_500).await; // 1500: crosses again
        app.notify().await;
        assert_eq!(rx.smtp.messages().len(), 2, "re-armed above, sent again");
        let text = rx.smtp.messages()[1].text().unwrap();
        assert!(
            text.contains("15.00 GBP") && text.contains("20.00 GBP"),
            "{text}"
        );
        // 0 turns it off.
        app.set_low_balance_notice(&id, 0).await;
        app.manual_top_up(&id, 5_000).await;
        app.spend(&id, 6_400).await;
        app.notify().await;
        assert_eq!(rx.smtp.messages().len(), 2, "off");
    }
}
