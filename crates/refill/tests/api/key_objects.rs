//! API keys as objects: made with an id, a name and a prefix, the secret shown once;
//! listed, revoked and rotated; an account key manages only its tree's keys (R4); a
//! revoked key is refused at once by its node and within the bound by the others.

use crate::checks::{assert_created, assert_problem};
use crate::fixtures::{all_pages, sub_account};
use crate::support::{T0, TestApp, spawn, stores};
use refill_service::caches::KEY_CHANGES_BOUND_MS;
use reqwest::Method;
use serde_json::{Value, json};

/// A key for `account`, made by the operator with `body`: its object, secret included.
async fn new_key(app: &TestApp, account: &str, body: Value) -> Value {
    let r = app
        .post(&format!("/v1/accounts/{account}/keys"), body)
        .await;
    assert_created(&r);
    r.body
}

fn secret(key: &Value) -> String {
    key["secret"].as_str().expect("the secret").to_string()
}

fn id(key: &Value) -> String {
    key["id"].as_str().expect("an id").to_string()
}

/// GET `path` with `key`: its status.
async fn status_with(app: &TestApp, key: &str, path: &str) -> u16 {
    app.send(Method::GET, path, None, &[], Some(key))
        .await
        .status
}

/// The keys `key` lists, all pages.
async fn listed(app: &TestApp, key: &str) -> Vec<String> {
    let (mut ids, _) = all_pages(app, "/v1/keys", 2, key).await;
    ids.sort();
    ids
}

/// The key `id` as the operator lists it.
async fn listed_key(app: &TestApp, id: &str) -> Value {
    let r = app.get("/v1/keys?limit=500").await;
    let data = r.body["data"].as_array().expect("data").clone();
    data.into_iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("{id} listed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_made_with_id_name_and_prefix_the_secret_shown_once() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let key = new_key(&app, &a, json!({"name": "ci", "expires_in": 3600})).await;
        let s = secret(&key);
        assert!(id(&key).starts_with("key_"), "{key}");
        assert_eq!(key["object"], "api_key");
        assert_eq!(key["name"], "ci");
        assert_eq!(key["account_id"], a.as_str());
        assert_eq!(key["key"], s.as_str(), "the first answer's field is kept");
        let prefix = key["prefix"].as_str().expect("a prefix");
        assert!(s.starts_with(prefix) && prefix.len() == "rk_acct_".len() + 8);
        assert_eq!(key["expires"], "2026-11-21T13:00:00.000Z");
        assert_eq!(key["last_used"], Value::Null);
        assert_eq!(
            status_with(&app, &s, &format!("/v1/accounts/{a}")).await,
            200
        );

        // Listed by prefix, never with a secret.
        let list = app.get("/v1/keys").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(!list.body.to_string().contains(&s), "{}", list.body);
        for k in list.body["data"].as_array().unwrap() {
            assert!(k.get("secret").is_none() && k.get("key").is_none(), "{k}");
        }
        let shown = listed_key(&app, &id(&key)).await;
        assert_eq!(shown["prefix"], prefix);
        assert_eq!(shown["name"], "ci");

        // A replay of its Idempotency-Key makes no second key and shows no secret.
        let path = format!("/v1/accounts/{a}/keys");
        let body = json!({"name": "once"});
        let first = app.post_idem(&path, body.clone(), "k-1").await;
        assert_created(&first);
        let again = app.post_idem(&path, body, "k-1").await;
        assert_created(&again);
        assert_eq!(again.body["id"], first.body["id"]);
        assert!(again.body.get("secret").is_none(), "{}", again.body);
        assert_eq!(listed(&app, &app.key).await.len(), 3, "operator, ci, once");

        // A body may be left out; bad input is refused.
        let r = app
            .send(Method::POST, &path, None, &[], Some(&app.key))
            .await;
        assert_created(&r);
        assert_eq!(r.body["name"], Value::Null);
        let r = app.post(&path, json!({"expires_in": 0})).await;
        assert_problem(&r, 400, "invalid_expires_in");
        let r = app.post(&path, json!({"secret": "mine"})).await;
        assert_problem(&r, 400, "invalid_request");

        // Past its expiry the key is refused.
        app.clock.advance(3_600_000);
        let r = app.send(Method::GET, "/v1/keys", None, &[], Some(&s)).await;
        assert_problem(&r, 401, "invalid_api_key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_a_revoked_key_is_refused_at_once_by_its_node() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let key = new_key(&app, &a, json!({})).await;
        let (s, key_id) = (secret(&key), id(&key));
        // Known to the node's memory before it is revoked.
        assert_eq!(
            status_with(&app, &s, &format!("/v1/accounts/{a}")).await,
            200
        );
        let r = app.delete(&format!("/v1/keys/{key_id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["revoked"], "2026-11-21T12:00:00.000Z");
        let r = app.send(Method::GET, "/v1/keys", None, &[], Some(&s)).await;
        assert_problem(&r, 401, "invalid_api_key");
        assert!(!listed(&app, &app.key).await.contains(&key_id));
        let r = app.delete(&format!("/v1/keys/{key_id}")).await;
        assert_problem(&r, 404, "key_not_found");

        // The last operator key is kept.
        let operator = listed(&app, &app.key).await;
        assert_eq!(operator.len(), 1);
        let r = app.delete(&format!("/v1/keys/{}", operator[0])).await;
        assert_problem(&r, 409, "last_operator_key");
        assert_eq!(status_with(&app, &app.key, "/v1/keys").await, 200);
    }
}

/// Two nodes on one database, each with its own simulated clock: a key revoked or
/// rotated through one is refused by the other once KEY_CHANGES_BOUND_MS (2 s) passed
/// on its clock, though it knew the key from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_a_revoked_key_is_refused_by_another_node_within_the_bound() {
    for store in stores().await {
        let one = spawn(&store).await;
        let two = spawn(&store).await;
        let a = one.account("a").await;
        let revoked = new_key(&one, &a, json!({})).await;
        let rotated = new_key(&one, &a, json!({})).await;
        let path = format!("/v1/accounts/{a}");
        let (s_revoked, s_rotated) = (secret(&revoked), secret(&rotated));
        for s in [&s_revoked, &s_rotated] {
            assert_eq!(status_with(&two, s, &path).await, 200, "{}", store.name);
        }
        let r = one.delete(&format!("/v1/keys/{}", id(&revoked))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let rotate = format!("/v1/keys/{}/rotate", id(&rotated));
        let r = one.post(&rotate, json!({"grace": 0})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let s_new = secret(&r.body);
        assert_eq!(status_with(&one, &s_revoked, &path).await, 401);
        assert_eq!(status_with(&one, &s_rotated, &path).await, 401);
        // The other node still answers from memory: the bound has not passed on it.
        assert_eq!(status_with(&two, &s_revoked, &path).await, 200);
        two.clock.advance(KEY_CHANGES_BOUND_MS);
        let r = two
            .send(Method::GET, &path, None, &[], Some(&s_revoked))
            .await;
        assert_problem(&r, 401, "invalid_api_key");
        assert_eq!(status_with(&two, &s_rotated, &path).await, 401);
        assert_eq!(status_with(&two, &s_new, &path).await, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_a_rotated_secret_works_for_the_grace_then_stops() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let key = new_key(&app, &a, json!({"name": "web"})).await;
        let (old, key_id) = (secret(&key), id(&key));
        let path = format!("/v1/accounts/{a}");
        assert_eq!(status_with(&app, &old, &path).await, 200);
        let rotate = format!("/v1/keys/{key_id}/rotate");
        let r = app.post(&rotate, json!({"grace": 100_000_000})).await;
        assert_problem(&r, 400, "invalid_grace");

        // The default grace: a day. A replay rotates nothing more.
        let r = app.post_idem(&rotate, json!({}), "rot-1").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let new = secret(&r.body);
        assert_eq!(r.body["id"], key_id.as_str());
        assert_eq!(r.body["name"], "web");
        assert_eq!(r.body["previous_prefix"], key["prefix"]);
        assert_eq!(r.body["previous_expires"], "2026-11-22T12:00:00.000Z");
        assert!(new.starts_with(r.body["prefix"].as_str().unwrap()));
        let replay = app.post_idem(&rotate, json!({}), "rot-1").await;
        assert_eq!(replay.status, 200);
        assert!(replay.body.get("secret").is_none(), "{}", replay.body);
        assert_eq!(replay.body["prefix"], r.body["prefix"]);

        assert_eq!(status_with(&app, &old, &path).await, 200);
        assert_eq!(status_with(&app, &new, &path).await, 200);
        app.clock.advance(86_400_000 - 1);
        assert_eq!(status_with(&app, &old, &path).await, 200, "{}", store.name);
        app.clock.advance(1);
        let r = app.send(Method::GET, &path, None, &[], Some(&old)).await;
        assert_problem(&r, 401, "invalid_api_key");
        assert_eq!(status_with(&app, &new, &path).await, 200);
        let shown = listed_key(&app, &key_id).await;
        assert_eq!(shown["previous_prefix"], Value::Null, "the grace is over");

        // A second rotation: the secret it replaces works for its grace (60 s)...
        let r = app.post(&rotate, json!({"grace": 60})).await;
        let newest = secret(&r.body);
        app.clock.advance(59_999);
        assert_eq!(status_with(&app, &new, &path).await, 200);
        assert_eq!(status_with(&app, &newest, &path).await, 200);
        // ...unless a third replaces it first: at most two secrets live at once.
        let r = app.post(&rotate, json!({"grace": 60})).await;
        let third = secret(&r.body);
        assert_eq!(status_with(&app, &new, &path).await, 401);
        assert_eq!(status_with(&app, &newest, &path).await, 200);
        assert_eq!(status_with(&app, &third, &path).await, 200);
    }
}

/// R4: an account key lists, revokes and rotates the keys of its own tree; keys
/// outside it, and the operator's, are unknown to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_an_account_key_manages_only_its_tree_s_keys() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let a1 = sub_account(&app, &a, "a1").await;
        let b = app.account("b").await;
        let ka = secret(&new_key(&app, &a, json!({})).await);
        let ka1 = new_key(&app, &a1, json!({})).await;
        let kb = new_key(&app, &b, json!({})).await;
        let all = listed(&app, &app.key).await;
        assert_eq!(all.len(), 4, "{all:?}");
        let operator = listed_key_where(&app, Value::Null).await;
        let ka_id = listed_key_where(&app, json!(a)).await;

        let mut mine = vec![ka_id.clone(), id(&ka1)];
        mine.sort();
        assert_eq!(listed(&app, &ka).await, mine);
        assert_eq!(listed(&app, &secret(&ka1)).await, vec![id(&ka1)]);
        let as_a = |m: Method, path: String| {
            let (app, ka) = (&app, ka.clone());
            async move { app.send(m, &path, Some(&json!({})), &[], Some(&ka)).await }
        };
        for other in [id(&kb), operator] {
            let r = as_a(Method::DELETE, format!("/v1/keys/{other}")).await;
            assert_problem(&r, 404, "key_not_found");
            let r = as_a(Method::POST, format!("/v1/keys/{other}/rotate")).await;
            assert_problem(&r, 404, "key_not_found");
        }
        assert_eq!(status_with(&app, &secret(&kb), "/v1/keys").await, 200);
        let r = as_a(Method::POST, format!("/v1/accounts/{a}/keys")).await;
        assert_problem(&r, 403, "forbidden");

        // Its own tree: rotate and revoke its sub-account's key.
        let r = as_a(Method::POST, format!("/v1/keys/{}/rotate", id(&ka1))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = as_a(Method::DELETE, format!("/v1/keys/{}", id(&ka1))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .send(Method::GET, "/v1/keys", None, &[], Some(&secret(&ka1)))
            .await;
        assert_problem(&r, 401, "invalid_api_key");
        assert_eq!(listed(&app, &ka).await, vec![ka_id]);
    }
}

/// The id of the one key the operator lists with this `account_id`.
async fn listed_key_where(app: &TestApp, account: Value) -> String {
    let r = app.get("/v1/keys?limit=500").await;
    let found: Vec<&Value> = r.body["data"].as_array().unwrap().iter().collect();
    let found: Vec<&&Value> = found
        .iter()
        .filter(|k| k["account_id"] == account)
        .collect();
    assert_eq!(found.len(), 1, "{}", r.body);
    id(found[0])
}

/// A key's last use is written in batches (off the request path), and moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_last_use_is_recorded_and_moves() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let key = new_key(&app, &a, json!({})).await;
        let (s, key_id) = (secret(&key), id(&key));
        let path = format!("/v1/accounts/{a}");
        app.clock.advance(1_000);
        assert_eq!(status_with(&app, &s, &path).await, 200);
        assert_eq!(listed_key(&app, &key_id).await["last_used"], Value::Null);
        assert!(app.running.app.record_key_uses().await.unwrap() >= 1);
        let at = |ms: i64| refill_service::api_objects::rfc3339(T0 + ms);
        assert_eq!(listed_key(&app, &key_id).await["last_used"], at(1_000));
        app.clock.advance(120_000);
        assert_eq!(status_with(&app, &s, &path).await, 200);
        app.running.app.record_key_uses().await.unwrap();
        assert_eq!(listed_key(&app, &key_id).await["last_used"], at(121_000));
    }
}
