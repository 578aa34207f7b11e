//! An account after its creation: its payer changed and validated (R5), removed
//! (card auto top-up disabled at once, R22), the account closed (R4), and the events
//! of one account or of its tree (R26).

use crate::checks::{assert_problem, assert_rule};
use crate::fixtures::{entries, sub_account};
use crate::support::{Resp, TestApp, spawn, stores};
use refill_domain::DAY;
use reqwest::Method;
use serde_json::{Value, json};

impl TestApp {
    async fn patch(&self, id: &str, body: Value) -> Resp {
        self.patch_with(id, body, &[], &self.key).await
    }

    async fn patch_with(&self, id: &str, body: Value, headers: &[(&str, &str)], key: &str) -> Resp {
        let path = format!("/v1/accounts/{id}");
        self.send(Method::PATCH, &path, Some(&body), headers, Some(key))
            .await
    }

    async fn close(&self, id: &str) -> Resp {
        self.close_with(id, &self.key).await
    }

    async fn close_with(&self, id: &str, key: &str) -> Resp {
        let path = format!("/v1/accounts/{id}/close");
        self.send(Method::POST, &path, None, &[], Some(key)).await
    }

    /// The ids of the accounts whose events GET /v1/events?`query` lists.
    async fn accounts_with_events(&self, query: &str) -> Vec<String> {
        let r = self.get(&format!("/v1/events?{query}&limit=500")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        let mut ids: Vec<String> = (r.body["data"].as_array().expect("data").iter())
            .map(|e| e["account_id"].as_str().expect("account_id").to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_the_payer_can_be_changed_and_is_validated() {
    for store in stores().await {
        let app = spawn(&store).await;
        let id = app.account("acme").await;
        let r = app
            .patch(
                &id,
                json!({"name": "Acme Ltd", "payer": {"email": "bills@acme.test", "phone": "+447700900456"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let payer = json!({"name": "Ada", "email": "bills@acme.test", "phone": "+447700900456", "country": "GB"});
        assert_eq!(
            (&r.body["name"], &r.body["payer"]),
            (&json!("Acme Ltd"), &payer)
        );
        assert_eq!(app.get(&format!("/v1/accounts/{id}")).await.body, r.body);

        // Validated as at creation (400, a stable code), and nothing changes.
        for (body, code) in [
            (json!({"payer": {"email": "nobody"}}), "invalid_email"),
            (json!({"payer": {"country": "gb"}}), "invalid_country"),
            (json!({"payer": {"phone": "07700 900456"}}), "invalid_phone"),
            (json!({"name": "  "}), "invalid_name"),
            (json!({"name": null}), "invalid_name"),
            (json!({"balance": 5}), "invalid_request"),
            (json!({"payer": {"iban": "x"}}), "invalid_request"),
        ] {
            assert_problem(&app.patch(&id, body).await, 400, code);
        }
        let r = app
            .post(
                "/v1/accounts",
                json!({"name": "b", "currency": "GBP", "payer": {"phone": "123"}}),
            )
            .await;
        assert_problem(&r, 400, "invalid_phone");
        assert_eq!(
            app.get(&format!("/v1/accounts/{id}")).await.body["payer"],
            payer
        );

        // null removes one field; the others stay. The tax follows the new country (R9).
        let r = app
            .patch(&id, json!({"payer": {"phone": null, "country": "FR"}}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["payer"]["phone"].is_null());
        assert_eq!(r.body["payer"]["email"], "bills@acme.test");
        let c = app
            .post(
                &format!("/v1/accounts/{id}/checkout"),
                json!({"amount": 1000}),
            )
            .await;
        assert_eq!(c.body["tax"], 0, "{}", c.body);

        // Idempotency-Key: a replay answers the same; another body is refused.
        let key = [("Idempotency-Key", "rename-1")];
        let first = app
            .patch_with(&id, json!({"name": "One"}), &key, &app.key)
            .await;
        let again = app
            .patch_with(&id, json!({"name": "One"}), &key, &app.key)
            .await;
        assert_eq!((first.status, &first.body), (200, &again.body));
        assert_eq!(again.headers["idempotent-replayed"], "true");
        let other = app
            .patch_with(&id, json!({"name": "Two"}), &key, &app.key)
            .await;
        assert_problem(&other, 409, "idempotency_key_reused");

        // An account key changes its own tree's payers, no other.
        let sub = sub_account(&app, &id, "team").await;
        let key = app.account_key(&id).await;
        let r = app
            .patch_with(&sub, json!({"payer": {"name": "Bea"}}), &[], &key)
            .await;
        assert_eq!((r.status, &r.body["payer"]["name"]), (200, &json!("Bea")));
        let stranger = app.account("other").await;
        let r = app
            .patch_with(&stranger, json!({"name": "x"}), &[], &key)
            .await;
        assert_problem(&r, 404, "account_not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r22_removing_the_payer_disables_card_auto_top_up() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 10_000).await;
        app.turn_on_auto_top_up(&main, 1_000, 2_000).await;
        let sub = sub_account(&app, &main, "sub").await;
        app.transfer(&main, &sub, 3_000).await;
        let transfer =
            json!({"enabled": true, "threshold": 1_000, "amount": 1_000, "source": "transfer"});
        let r = app
            .put(&format!("/v1/accounts/{sub}/auto-top-up"), transfer)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);

        let r = app.patch(&main, json!({"payer": null})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let no_payer = json!({"name": null, "email": null, "phone": null, "country": null});
        assert_eq!(r.body["payer"], no_payer);
        let s = app.auto_top_up(&main).await;
        assert_eq!(
            (&s["state"], &s["state_reason"]["code"]),
            (&json!("disabled"), &json!("payer_removed"))
        );
        let disabled = app.events(&main, "auto_top_up.disabled").await;
        assert_eq!(disabled.len(), 1);
        assert_eq!(disabled[0]["data"]["reason"], "payer_removed");

        // A transfer source needs no payer.
        app.patch(&sub, json!({"payer": null})).await;
        assert_eq!(app.auto_top_up(&sub).await["state"], "active");
        let (_, disabled_later) = app.running.app.periodic_check().await.unwrap();
        assert_eq!(disabled_later, 0, "nothing left for the periodic check");

        // R5: no payer, no card auto top-up; a payer given back, it can be turned on.
        let r = crate::support::enable_auto_top_up(&app, &main, 1_000, 2_000).await;
        assert_problem(&r, 422, "payer_missing");
        app.patch(&main, json!({"payer": {"email": "ada@example.test"}}))
            .await;
        app.turn_on_auto_top_up(&main, 1_000, 2_000).await;
        // Its email alone removed is a payer removed too.
        app.patch(&main, json!({"payer": {"email": null}})).await;
        assert_eq!(
            app.auto_top_up(&main).await["state_reason"]["code"],
            "payer_removed"
        );
        assert_eq!(app.events(&main, "auto_top_up.disabled").await.len(), 2);
    }
}

/// A main account with everything that closing stops: auto top-up (with a top-up it
/// queued), a resource, a scheduled recharge; a sub-account with a pending top-up.
async fn busy_family(app: &TestApp) -> (String, String) {
    let (main, _) = app.funded("main", "pm_card_visa", 3_000).await;
    app.turn_on_auto_top_up(&main, 500, 1_000).await;
    let r = app
        .post(
            &format!("/v1/accounts/{main}/resources"),
            json!({"name": "+44 7700 900123", "fee": 500}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .put(
            &format!("/v1/accounts/{main}/scheduled-recharge"),
            json!({"amount": 1_000, "day_of_month": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sub = sub_account(app, &main, "sub").await;
    app.save_primary_card(&sub, "pm_card_pending").await;
    let r = app.manual_top_up(&sub, 1_000).await;
    assert_eq!(r.body["status"], "pending", "{}", r.body);
    (main, sub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_closing_an_account_waits_for_money_and_work_then_stops_everything() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, sub) = busy_family(&app).await;
        let refused = |r: &Resp, code: &str| {
            assert_problem(r, 422, code);
            assert_rule(r, "R4");
        };
        refused(&app.close(&main).await, "balance_not_zero");
        refused(&app.close(&sub).await, "top_up_in_progress");
        // Closing is for whoever may create the account: not a sub-account's own key,
        // nor a main account's key for the main account itself.
        let sub_key = app.account_key(&sub).await;
        // (the sub-account's key cannot see its main account: 404 as unknown)
        assert_problem(
            &app.close_with(&sub, &sub_key).await,
            404,
            "account_not_found",
        );
        let main_key = app.account_key(&main).await;
        assert_problem(&app.close_with(&main, &main_key).await, 403, "forbidden");

        app.clock.advance(8 * DAY);
        assert_eq!(app.running.app.settle_pending().await.unwrap(), 1);
        app.spend(&sub, 1_000).await;
        // Spent to 0: auto top-up queues a top-up (the engine has not run it).
        assert_eq!(app.spend(&main, 2_500).await, 0);
        refused(&app.close(&main).await, "sub_accounts_open");
        let r = app.close_with(&sub, &main_key).await;
        assert_eq!(
            (r.status, &r.body["status"]),
            (200, &json!("closed")),
            "{}",
            r.body
        );

        let ledger = entries(&app, &main).await;
        let charges = app.sandbox.charges().len();
        let r = app.close(&main).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (&r.body["status"], r.body["closed"].is_string()),
            (&json!("closed"), true)
        );
        assert_eq!(app.get(&format!("/v1/accounts/{main}")).await.body, r.body);
        assert_eq!(
            app.close(&main).await.body,
            r.body,
            "closing again answers it"
        );

        // Auto top-up off, what it queued canceled; no schedule, no resource.
        let s = app.auto_top_up(&main).await;
        assert_eq!(
            (&s["state"], &s["state_reason"]["code"]),
            (&json!("off"), &json!("account_closed"))
        );
        let top_ups = app.get(&format!("/v1/accounts/{main}/top-ups")).await;
        assert_eq!(
            top_ups.body["data"][0]["status"], "canceled",
            "{}",
            top_ups.body
        );
        let r = app
            .get(&format!("/v1/accounts/{main}/scheduled-recharge"))
            .await;
        assert_eq!(r.status, 404, "{}", r.body);
        let r = app.get(&format!("/v1/accounts/{main}/resources")).await;
        assert_eq!(r.body["data"], json!([]));

        // Months later: no fee, no recharge, no top-up; the ledger is as it was.
        app.clock.advance(40 * DAY);
        app.running.app.periodic_jobs().await.unwrap();
        app.engine().await;
        assert_eq!(app.sandbox.charges().len(), charges, "nothing charged");
        assert_eq!(entries(&app, &main).await, ledger);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_a_closed_account_refuses_debits_top_ups_transfers_and_changes() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 3_000).await;
        // A credit limit: a debit of the closed account would fit it.
        let sub = app
            .create_account(json!({"name": "sub", "currency": "GBP", "parent_id": main,
                "credit_limit": -5_000}))
            .await;
        app.save_primary_card(&sub, "pm_card_visa").await;
        app.manual_top_up(&sub, 2_000).await;
        // The debit pipeline remembers the account as these debits leave it, at 0.
        app.spend(&sub, 1_000).await;
        assert_eq!(app.spend(&sub, 1_000).await, 0);
        let ledger = entries(&app, &sub).await;
        assert_eq!(app.close(&sub).await.status, 200);

        let closed = |r: Resp| {
            assert_problem(&r, 422, "account_closed");
            assert_rule(&r, "R4");
        };
        closed(app.debit(&sub, 100).await);
        let batch = json!({"items": [{"amount": 1}, {"amount": 2}]});
        closed(
            app.post(&format!("/v1/accounts/{sub}/debits/batch"), batch)
                .await,
        );
        closed(
            app.post(
                &format!("/v1/accounts/{sub}/top-ups"),
                json!({"amount": 1_000}),
            )
            .await,
        );
        let transfer = json!({"from_account": main, "to_account": sub, "amount": 1});
        closed(app.post("/v1/transfers", transfer).await);
        closed(app.patch(&sub, json!({"name": "again"})).await);
        closed(crate::support::enable_auto_top_up(&app, &sub, 100, 1_000).await);
        let notice = json!({"threshold": 10});
        closed(
            app.put(&format!("/v1/accounts/{sub}/low-balance-notice"), notice)
                .await,
        );
        let card = json!({"token": "pm_card_visa"});
        closed(
            app.post(&format!("/v1/accounts/{sub}/payment-methods"), card)
                .await,
        );
        assert_eq!(
            (app.balance(&sub).await, app.balance(&main).await),
            (0, 3_000)
        );
        assert_eq!(
            entries(&app, &sub).await,
            ledger,
            "the ledger is kept, unchanged"
        );

        // A closed main account takes no new sub-account; closed ones are still listed.
        app.spend(&main, 3_000).await;
        assert_eq!(app.close(&main).await.status, 200);
        let late = json!({"name": "late", "currency": "GBP", "parent_id": main});
        closed(app.post("/v1/accounts", late).await);
        let (ids, _) = crate::fixtures::all_pages(&app, "/v1/accounts", 500, &app.key).await;
        assert_eq!(ids.len(), 2);
        app.assert_ledger_ok().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r26_events_of_one_account_or_its_tree() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 10_000).await;
        let sub = sub_account(&app, &main, "sub").await;
        for id in [&main, &sub] {
            app.set_low_balance_notice(id, 1_000).await;
        }
        app.transfer(&main, &sub, 2_000).await;
        app.spend(&main, 7_500).await;
        app.spend(&sub, 1_500).await;

        let (one, both) = (vec![main.clone()], {
            let mut v = vec![main.clone(), sub.clone()];
            v.sort();
            v
        });
        let q = format!("account_id={main}");
        assert_eq!(app.accounts_with_events(&q).await, one, "its own only");
        let tree = format!("account_id={main}&include=sub_accounts");
        assert_eq!(app.accounts_with_events(&tree).await, both);
        let q = format!("account_id={sub}&include=sub_accounts");
        assert_eq!(app.accounts_with_events(&q).await, vec![sub.clone()]);
        // Without account_id: all the key sees, as before.
        assert_eq!(app.accounts_with_events("type=balance.low").await, both);
        let r = app
            .get(&format!("/v1/events?account_id={main}&include=everything"))
            .await;
        assert_problem(&r, 400, "invalid_query");

        // Declared in the OpenAPI document.
        let doc = app.get("/v1/openapi.json").await.body;
        let params = doc["paths"]["/v1/events"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .clone();
        let include = params
            .iter()
            .find(|p| p["name"] == "include")
            .expect("include declared");
        assert_eq!(include["schema"]["enum"], json!(["sub_accounts"]));
    }
}
