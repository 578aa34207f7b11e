//! The authorization walk: every route of the route table (`refill::openapi::routes()`),
//! sent as a hostile client would (no key, a malformed Authorization, an unknown,
//! expired, revoked or rotated-out key) and as a hostile tenant would (another
//! tenant's key; a sub-account's key reaching for its main account). Each is refused
//! with its problem; a foreign object answers exactly as an unknown one (R4: its
//! existence is not revealed); and nothing changes in the database.

use crate::checks::assert_problem;
use crate::support::{Resp, TestApp, spawn, stores};
use refill::openapi::routes;
use reqwest::Method;
use serde_json::{Value, json};

/// (method, route, the request sent, its body): every route of the table, with the
/// victim's objects named by placeholder (`{acct}` its main account, `{sub}` its
/// sub-account, `{pm}` a card, `{res}` a resource, `{top}` a top-up, `{rfd}` a refund,
/// `{evt}` an event, `{key}` a key, `{we}` a webhook endpoint). Each body would do
/// its work for a caller allowed to: a refusal is the authorization's.
const WALK: &[(&str, &str, &str, &str)] = &[
    ("get", "/v1/accounts", "/v1/accounts", ""),
    (
        "post",
        "/v1/accounts",
        "/v1/accounts",
        r#"{"name": "x", "currency": "GBP", "parent_id": "{acct}"}"#,
    ),
    ("get", "/v1/accounts/{id}", "/v1/accounts/{acct}", ""),
    (
        "patch",
        "/v1/accounts/{id}",
        "/v1/accounts/{acct}",
        r#"{"name": "taken over", "payer": null}"#,
    ),
    (
        "post",
        "/v1/accounts/{id}/close",
        "/v1/accounts/{sub}/close",
        "",
    ),
    (
        "post",
        "/v1/accounts/{id}/keys",
        "/v1/accounts/{acct}/keys",
        r#"{"name": "stolen"}"#,
    ),
    ("get", "/v1/keys", "/v1/keys", ""),
    ("delete", "/v1/keys/{id}", "/v1/keys/{key}", ""),
    (
        "post",
        "/v1/keys/{id}/rotate",
        "/v1/keys/{key}/rotate",
        r#"{"grace": 0}"#,
    ),
    (
        "put",
        "/v1/accounts/{id}/low-balance-notice",
        "/v1/accounts/{acct}/low-balance-notice",
        r#"{"threshold": 700}"#,
    ),
    (
        "get",
        "/v1/accounts/{id}/entries",
        "/v1/accounts/{acct}/entries",
        "",
    ),
    (
        "post",
        "/v1/accounts/{id}/debits",
        "/v1/accounts/{acct}/debits",
        r#"{"amount": 100, "reference": "theft"}"#,
    ),
    (
        "post",
        "/v1/accounts/{id}/debits/batch",
        "/v1/accounts/{acct}/debits/batch",
        r#"{"items": [{"amount": 100}, {"amount": 200}]}"#,
    ),
    (
        "post",
        "/v1/accounts/{id}/estimate",
        "/v1/accounts/{acct}/estimate",
        r#"{"items": [{"quantity": 1, "unit_price": 100}]}"#,
    ),
    (
        "post",
        "/v1/accounts/{id}/payment-methods",
        "/v1/accounts/{acct}/payment-methods",
        r#"{"token": "pm_card_visa", "primary": true}"#,
    ),
    (
        "get",
        "/v1/accounts/{id}/payment-methods",
        "/v1/accounts/{acct}/payment-methods",
        "",
    ),
    (
        "delete",
        "/v1/accounts/{id}/payment-methods/{pm}",
        "/v1/accounts/{acct}/payment-methods/{pm}",
        "",
    ),
    (
        "post",
        "/v1/accounts/{id}/payment-methods/{pm}/confirm",
        "/v1/accounts/{acct}/payment-methods/{pm}/confirm",
        "",
    ),
    (
        "post",
        "/v1/accounts/{id}/checkout",
        "/v1/accounts/{acct}/checkout",
        r#"{"amount": 1000}"#,
    ),
    (
        "post",
        "/v1/accounts/{id}/top-ups",
        "/v1/accounts/{acct}/top-ups",
        r#"{"amount": 1000, "payment_method": "{pm}"}"#,
    ),
    (
        "get",
        "/v1/accounts/{id}/top-ups",
        "/v1/accounts/{acct}/top-ups",
        "",
    ),
    ("get", "/v1/top-ups/{id}", "/v1/top-ups/{top}", ""),
    (
        "post",
        "/v1/top-ups/{id}/confirm",
        "/v1/top-ups/{top}/confirm",
        "",
    ),
    (
        "post",
        "/v1/top-ups/{id}/refunds",
        "/v1/top-ups/{top}/refunds",
        r#"{"amount": 100, "reason": "mine now"}"#,
    ),
    ("get", "/v1/refunds", "/v1/refunds?account_id={acct}", ""),
    ("get", "/v1/refunds/{id}", "/v1/refunds/{rfd}", ""),
    (
        "post",
        "/v1/refunds/{id}/approve",
        "/v1/refunds/{rfd}/approve",
        "{}",
    ),
    (
        "post",
        "/v1/refunds/{id}/reject",
        "/v1/refunds/{rfd}/reject",
        r#"{"reason": "no"}"#,
    ),
    (
        "post",
        "/v1/portal-sessions",
        "/v1/portal-sessions",
        r#"{"account_id": "{acct}"}"#,
    ),
    (
        "get",
        "/v1/portal-sessions/{id}",
        "/v1/portal-sessions/{ps}",
        "",
    ),
    (
        "delete",
        "/v1/portal-sessions/{id}",
        "/v1/portal-sessions/{ps}",
        "",
    ),
    (
        "post",
        "/v1/transfers",
        "/v1/transfers",
        r#"{"from_account": "{acct}", "to_account": "{sub}", "amount": 100}"#,
    ),
    (
        "get",
        "/v1/accounts/{id}/auto-top-up",
        "/v1/accounts/{acct}/auto-top-up",
        "",
    ),
    (
        "put",
        "/v1/accounts/{id}/auto-top-up",
        "/v1/accounts/{acct}/auto-top-up",
        r#"{"enabled": true, "threshold": 500, "amount": 1000, "terms_version": "2026-01"}"#,
    ),
    ("get", "/v1/events", "/v1/events?account_id={acct}", ""),
    (
        "get",
        "/v1/events/{id}/deliveries",
        "/v1/events/{evt}/deliveries",
        "",
    ),
    (
        "post",
        "/v1/events/{id}/redeliver",
        "/v1/events/{evt}/redeliver",
        "{}",
    ),
    (
        "get",
        "/v1/accounts/{id}/notification-settings",
        "/v1/accounts/{acct}/notification-settings",
        "",
    ),
    (
        "put",
        "/v1/accounts/{id}/notification-settings",
        "/v1/accounts/{acct}/notification-settings",
        r#"{"sms": ["*"]}"#,
    ),
    (
        "get",
        "/v1/accounts/{id}/resources",
        "/v1/accounts/{acct}/resources",
        "",
    ),
    (
        "post",
        "/v1/accounts/{id}/resources",
        "/v1/accounts/{acct}/resources",
        r#"{"name": "+44 7700 900999", "fee": 500, "terms_version": "2026-01"}"#,
    ),
    (
        "delete",
        "/v1/accounts/{id}/resources/{resource_id}",
        "/v1/accounts/{acct}/resources/{res}",
        "",
    ),
    (
        "get",
        "/v1/accounts/{id}/scheduled-recharge",
        "/v1/accounts/{acct}/scheduled-recharge",
        "",
    ),
    (
        "put",
        "/v1/accounts/{id}/scheduled-recharge",
        "/v1/accounts/{acct}/scheduled-recharge",
        r#"{"amount": 2000, "day_of_month": 2}"#,
    ),
    (
        "delete",
        "/v1/accounts/{id}/scheduled-recharge",
        "/v1/accounts/{acct}/scheduled-recharge",
        "",
    ),
    ("get", "/v1/webhook-endpoints", "/v1/webhook-endpoints", ""),
    (
        "post",
        "/v1/webhook-endpoints",
        "/v1/webhook-endpoints",
        r#"{"url": "https://93.184.215.14/hook", "event_types": ["*"], "account_id": "{acct}"}"#,
    ),
    (
        "delete",
        "/v1/webhook-endpoints/{id}",
        "/v1/webhook-endpoints/{we}",
        "",
    ),
    // No API key: Stripe-Signature authenticates it (here no secret is configured).
    (
        "post",
        "/v1/webhooks/stripe",
        "/v1/webhooks/stripe",
        r#"{"id": "evt_1", "type": "charge.refunded", "data": {"object": {}}}"#,
    ),
];

const STRIPE_WEBHOOK: &str = "/v1/webhooks/stripe";

#[test]
fn r4_the_authorization_walk_covers_every_route_of_the_table() {
    let table = routes();
    for operation in &table {
        let (method, route) = (&operation.method, &operation.path);
        let walked = WALK.iter().any(|(m, r, ..)| m == method && r == route);
        assert!(
            walked,
            "{method} {route} is not walked: add it to the authorization walk (WALK)"
        );
    }
    for (method, route, ..) in WALK {
        let routed = table
            .iter()
            .any(|o| o.method == *method && o.path == *route);
        assert!(
            routed,
            "{method} {route} is walked but not in the route table"
        );
    }
}

/// One placeholder: the victim's object, and an id of the same kind that names
/// nothing.
struct Named {
    placeholder: &'static str,
    id: String,
    unknown: String,
}

/// The tenant under attack: its objects, and the keys it had.
struct Victim {
    named: Vec<Named>,
    revoked: String,
    rotated_out: String,
    expired: String,
    sub_key: String,
}

impl Victim {
    /// `text` with each placeholder replaced by the victim's object, or (`unknown`)
    /// by an id that names nothing; `spared` keeps the victim's object (the caller's
    /// own).
    fn fill(&self, text: &str, unknown: bool, spared: &[&str]) -> String {
        let mut out = text.to_string();
        for n in &self.named {
            let hide = unknown && !spared.contains(&n.placeholder);
            out = out.replace(n.placeholder, if hide { &n.unknown } else { &n.id });
        }
        out
    }

    /// `body` with the victim's ids (but the spared ones) replaced by their unknowns:
    /// what the answer for unknown ids must be, word for word.
    fn as_unknown(&self, body: &Value, spared: &[&str]) -> Value {
        let mut text = body.to_string();
        for n in self
            .named
            .iter()
            .filter(|n| !spared.contains(&n.placeholder))
        {
            text = text.replace(&n.id, &n.unknown);
        }
        serde_json::from_str(&text).expect("still JSON")
    }

    /// The first of the victim's ids (but the spared ones) `body` shows, if any; a
    /// sub-account's key may see its main account's id as its parent.
    fn mentions_any(&self, body: &Value, spared: &[&str]) -> Option<String> {
        let mut body = body.clone();
        for item in body["data"].as_array_mut().into_iter().flatten() {
            if let Some(item) = item.as_object_mut() {
                item.remove("parent_id");
            }
        }
        let text = body.to_string();
        let named = self
            .named
            .iter()
            .filter(|n| !spared.contains(&n.placeholder));
        named.map(|n| n.id.clone()).find(|id| text.contains(id))
    }
}

/// An id of the same kind as `id` that names nothing.
fn unknown_like(id: &str) -> String {
    let (prefix, rest) = id.split_once('_').expect("a prefixed id");
    format!("{prefix}_{}", "0".repeat(rest.len()))
}

async fn victim(app: &TestApp) -> Victim {
    let (acct, pm) = app.funded("victim", "pm_card_visa", 5_000).await;
    let sub = crate::fixtures::sub_account(app, &acct, "victim's sub").await;
    let top = app.manual_top_up(&acct, 1_000).await.id();
    let refund = app
        .post(
            &format!("/v1/top-ups/{top}/refunds"),
            json!({"amount": 300, "reason": "too much"}),
        )
        .await;
    assert_eq!(refund.status, 201, "{}", refund.body);
    let path = format!("/v1/accounts/{acct}/resources");
    let res = app
        .post(
            &path,
            json!({"name": "+44 7700 900123", "fee": 500, "terms_version": "2026-01"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let evt = app.events(&acct, "top_up.succeeded").await[0]["id"]
        .as_str()
        .expect("an event")
        .to_string();
    let we = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "https://93.184.215.14/victim", "event_types": ["*"], "account_id": acct}),
        )
        .await;
    assert_eq!(we.status, 201, "{}", we.body);
    let sr = format!("/v1/accounts/{acct}/scheduled-recharge");
    let r = app
        .put(&sr, json!({"amount": 1_000, "day_of_month": 1}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ps = app
        .post("/v1/portal-sessions", json!({"account_id": acct}))
        .await;
    assert_eq!(ps.status, 201, "{}", ps.body);
    let kept = key_object(app, &acct, json!({"name": "kept"})).await;
    let revoked = key_object(app, &acct, json!({"name": "revoked"})).await;
    let r = app
        .delete(&format!("/v1/keys/{}", revoked["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = key_object(app, &acct, json!({"name": "rotated"})).await;
    let r = app
        .post(
            &format!("/v1/keys/{}/rotate", rotated["id"].as_str().unwrap()),
            json!({"grace": 60}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let expiring = key_object(app, &acct, json!({"expires_in": 60})).await;
    let sub_key = app.account_key(&sub).await;
    // Past the rotation's grace and the expiry.
    app.clock.advance(61_000);
    let named = [
        ("{acct}", acct),
        ("{sub}", sub),
        ("{pm}", pm),
        ("{res}", res.id()),
        ("{top}", top),
        ("{rfd}", refund.id()),
        ("{evt}", evt),
        ("{key}", kept["id"].as_str().unwrap().to_string()),
        ("{we}", we.id()),
        ("{ps}", ps.id()),
    ];
    Victim {
        named: named
            .into_iter()
            .map(|(placeholder, id)| Named {
                placeholder,
                unknown: unknown_like(&id),
                id,
            })
            .collect(),
        revoked: secret(&revoked),
        rotated_out: secret(&rotated),
        expired: secret(&expiring),
        sub_key,
    }
}

async fn key_object(app: &TestApp, account: &str, body: Value) -> Value {
    let r = app
        .post(&format!("/v1/accounts/{account}/keys"), body)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

fn secret(key: &Value) -> String {
    key["secret"].as_str().expect("a secret").to_string()
}

/// Sends the walk's request for `route` with `authorization` headers (none, one or
/// several).
async fn send(app: &TestApp, req: (&str, String, Option<Value>), authorization: &[&str]) -> Resp {
    let (method, path, body) = req;
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|v| ("Authorization", *v))
        .collect();
    app.send(method, &path, body.as_ref(), &headers, None).await
}

/// The walk's request for one row, its ids filled in.
fn request(
    v: &Victim,
    row: &(&'static str, &str, &str, &str),
    unknown: bool,
    spared: &[&str],
) -> (&'static str, String, Option<Value>) {
    let (method, _, path, body) = *row;
    let body = (!body.is_empty()).then(|| {
        serde_json::from_str(&v.fill(body, unknown, spared)).expect("a walk body is JSON")
    });
    (method, v.fill(path, unknown, spared), body)
}

/// What "nothing changed" compares: the rows of every table, and the victim's
/// objects as the operator reads them.
async fn fingerprint(app: &TestApp, v: &Victim) -> Value {
    let db = &app.running.app.db;
    let tables_sql = match db.dialect {
        refill_store::Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        }
        refill_store::Dialect::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
        }
    };
    let tables: Vec<(String,)> = refill_store::sqlx::query_as(tables_sql)
        .fetch_all(&db.pool)
        .await
        .expect("tables listed");
    let mut rows = serde_json::Map::new();
    for (table,) in tables {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (n,): (i64,) = refill_store::sqlx::query_as(refill_store::sqlx::AssertSqlSafe(sql))
            .fetch_one(&db.pool)
            .await
            .expect("rows counted");
        rows.insert(table, n.into());
    }
    let mut objects = serde_json::Map::new();
    for path in [
        "/v1/accounts/{acct}",
        "/v1/accounts/{sub}",
        "/v1/accounts/{acct}/auto-top-up",
        "/v1/accounts/{acct}/scheduled-recharge",
        "/v1/accounts/{acct}/notification-settings",
        "/v1/accounts/{acct}/payment-methods",
        "/v1/accounts/{acct}/resources",
        "/v1/top-ups/{top}",
        "/v1/refunds/{rfd}",
        "/v1/webhook-endpoints",
        "/v1/keys?limit=500",
    ] {
        let path = v.fill(path, false, &[]);
        let mut body = app.get(&path).await.body;
        forget_last_use(&mut body);
        objects.insert(path, body);
    }
    json!({"rows": rows, "objects": objects})
}

/// A key's last use moves with every request that presents it, refused or not.
fn forget_last_use(body: &mut Value) {
    if let Some(keys) = body["data"].as_array_mut() {
        for k in keys {
            if let Some(k) = k.as_object_mut() {
                k.remove("last_used");
            }
        }
    }
}

/// A client without a valid key: every route refuses it with `code`, the webhook
/// route aside (it takes no key).
async fn refused_everywhere(
    app: &TestApp,
    v: &Victim,
    who: &str,
    authorization: &[&str],
    status: u16,
    code: &str,
) {
    for row in WALK.iter().filter(|row| row.1 != STRIPE_WEBHOOK) {
        let r = send(app, request(v, row, false, &[]), authorization).await;
        assert!(
            r.status == status && r.code() == code,
            "{who}: {} {} answered {} {} (expected {status} {code})",
            row.0,
            row.2,
            r.status,
            r.body
        );
        assert_problem(&r, status, code);
    }
}

/// A tenant's key on the victim's objects (all but `spared`): each answers exactly
/// as for ids that name nothing; objects named in the path are not found (404).
async fn foreign_everywhere(app: &TestApp, v: &Victim, who: &str, key: &str, spared: &[&str]) {
    let bearer = format!("Bearer {key}");
    for row in WALK.iter().filter(|row| row.1 != STRIPE_WEBHOOK) {
        let (victims, unknowns) = (
            request(v, row, false, spared),
            request(v, row, true, spared),
        );
        let names_victim = victims != unknowns;
        let r = send(app, victims, &[&bearer]).await;
        let u = send(app, unknowns, &[&bearer]).await;
        let (method, _, path, _) = row;
        // A refusal may name the id it was sent; a list names none of the victim's.
        let as_unknown = match r.status {
            200 => r.body.clone(),
            _ if names_victim => v.as_unknown(&r.body, spared),
            _ => r.body.clone(),
        };
        assert_eq!(
            (r.status, as_unknown),
            (u.status, u.body.clone()),
            "{who}: {method} {path} answers the victim's objects unlike unknown ones"
        );
        let names_object = v.fill(path, false, spared) != v.fill(path, true, spared);
        if names_object || r.status >= 400 {
            assert_eq!(r.status, 404, "{who}: {method} {path}: {}", r.body);
            assert!(r.code().ends_with("_not_found"), "{who}: {}", r.body);
            assert_problem(&r, 404, r.code());
        } else {
            assert_eq!(r.status, 200, "{who}: {method} {path}: {}", r.body);
            let leaked = v.mentions_any(&r.body, spared);
            assert!(leaked.is_none(), "{who}: {method} {path} shows {leaked:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_every_route_refuses_bad_keys_and_foreign_tenants_and_changes_nothing() {
    for store in stores().await {
        let app = spawn(&store).await;
        let v = victim(&app).await;
        let (attacker, _) = app.funded("attacker", "pm_card_visa", 2_000).await;
        let foreign = app.account_key(&attacker).await;
        let before = fingerprint(&app, &v).await;

        let op = &app.key;
        let (s, n) = (store.name, "no key");
        refused_everywhere(&app, &v, n, &[], 401, "missing_api_key").await;
        let other_scheme = ["Basic b3BlcmF0b3I6cGFzcw=="];
        refused_everywhere(&app, &v, "Basic", &other_scheme, 401, "missing_api_key").await;
        for malformed in [
            format!("Bearer  {op}"),
            format!("Bearer {op} extra"),
            format!("Bearer\t{op}"),
            "Bearer".to_string(),
            "Bearer ".to_string(),
        ] {
            let auth = [malformed.as_str()];
            let who = format!("{s}: {malformed:?}");
            refused_everywhere(&app, &v, &who, &auth, 400, "invalid_authorization").await;
        }
        let twice = format!("Bearer {op}");
        let two = [twice.as_str(), twice.as_str()];
        refused_everywhere(&app, &v, "two headers", &two, 400, "invalid_authorization").await;
        for (who, key) in [
            (
                "an unknown key",
                "rk_acct_0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
            ("a revoked key", &v.revoked),
            ("a rotated-out secret", &v.rotated_out),
            ("an expired key", &v.expired),
        ] {
            let auth = [format!("Bearer {key}")];
            let auth = [auth[0].as_str()];
            let who = format!("{s}: {who}");
            refused_everywhere(&app, &v, &who, &auth, 401, "invalid_api_key").await;
        }
        assert_eq!(
            fingerprint(&app, &v).await,
            before,
            "{s}: bad keys changed something"
        );

        foreign_everywhere(&app, &v, &format!("{s}: another tenant"), &foreign, &[]).await;
        assert_eq!(
            fingerprint(&app, &v).await,
            before,
            "{s}: a tenant changed another"
        );

        let who = format!("{s}: a sub-account's key");
        foreign_everywhere(&app, &v, &who, &v.sub_key, &["{sub}"]).await;
        assert_eq!(
            fingerprint(&app, &v).await,
            before,
            "{s}: a sub-account changed its main"
        );
        app.assert_ledger_ok().await;
    }
}
