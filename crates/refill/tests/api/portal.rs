//! The customer page's sessions and its refusals, over plain HTTP (the browser story
//! is browser.rs): a one-time link becomes a cookie scoped to one account tree, which
//! expires and can be revoked; forms need the session's CSRF token; another tree's
//! ids and bad amounts change nothing.

use crate::checks::assert_problem;
use crate::fixtures::{snapshot, sub_account};
use crate::support::{TestApp, spawn, stores};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, redirect::Policy};
use serde_json::json;

/// A browser of sorts: keeps the one cookie, follows no redirect.
struct Browser {
    http: Client,
    base: String,
    cookie: String,
}

struct Page {
    status: u16,
    location: String,
    csp: String,
    body: String,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        let http = Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        Browser {
            http,
            base: app.base.clone(),
            cookie: String::new(),
        }
    }
    async fn answer(&mut self, req: reqwest::RequestBuilder) -> Page {
        let r = req.header(COOKIE, &self.cookie).send().await.expect("sent");
        if let Some(c) = r.headers().get(SET_COOKIE) {
            self.cookie = c.to_str().unwrap().split(';').next().unwrap().to_string();
        }
        let h = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let (location, csp) = (h(LOCATION.as_str()), h("content-security-policy"));
        let status = r.status().as_u16();
        Page {
            status,
            location,
            csp,
            body: r.text().await.unwrap_or_default(),
        }
    }
    async fn get(&mut self, url: &str) -> Page {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        };
        let req = self.http.get(url);
        self.answer(req).await
    }
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.answer(req).await
    }
}

/// The CSRF token of a page's forms.
fn csrf(page: &Page) -> String {
    let at = page
        .body
        .find("name=\"csrf\" value=\"")
        .expect("a form with its token")
        + 19;
    page.body[at..at + 40].to_string()
}

async fn session(app: &TestApp, account: &str, key: &str) -> serde_json::Value {
    let r = app
        .send(
            reqwest::Method::POST,
            "/v1/portal-sessions",
            Some(&json!({"account_id": account})),
            &[],
            Some(key),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_link_opens_once_into_a_cookie_that_sees_one_account_tree() {
    for store in stores().await {
        let app = spawn(&store).await;
        let mine = app.account("mine").await;
        let sub = sub_account(&app, &mine, "mine-sub").await;
        let other = app.account("Other Ltd").await;
        let s = session(&app, &mine, &app.key).await;
        let url = s["url"].as_str().unwrap().to_string();
        assert!(url.contains("/portal/session/pst_"), "{url}");
        assert_eq!(s["status"], "active");

        let mut b = Browser::new(&app);
        let opened = b.get(&url).await;
        assert_eq!(
            (opened.status, opened.location.as_str()),
            (303, format!("/portal/a/{mine}").as_str())
        );
        assert!(b.cookie.starts_with("refill_portal=psc_"), "{}", b.cookie);
        let overview = b.get(&opened.location).await;
        assert_eq!(overview.status, 200, "{}", overview.body);
        assert!(overview.body.contains("£0.00"));
        assert!(
            overview.csp.contains("script-src 'self'")
                && overview.csp.contains("frame-ancestors 'none'"),
            "{}",
            overview.csp
        );
        assert_eq!(
            b.get(&format!("/portal/a/{sub}")).await.status,
            200,
            "a sub-account is in the tree"
        );
        for path in [
            format!("/portal/a/{other}"),
            format!("/portal/a/{other}/history.csv"),
            format!("/portal/a/{other}/cards"),
        ] {
            let p = b.get(&path).await;
            assert_eq!(p.status, 404, "{path}");
            assert!(!p.body.contains("Other Ltd"), "{path}");
        }

        // The link works once, in any browser.
        let again = Browser::new(&app).get(&url).await;
        assert_eq!(again.status, 403);
        assert!(again.body.contains("used already"), "{}", again.body);
        let forged = Browser::new(&app).get("/portal/session/pst_0000").await;
        assert!(
            forged.status == 403 && forged.body.contains("not valid"),
            "{}",
            forged.body
        );
        let id = s["id"].as_str().unwrap();
        assert_eq!(
            app.get(&format!("/v1/portal-sessions/{id}")).await.body["status"],
            "opened"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_sessions_expire_and_are_revoked() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        // A link not opened within portal_link_ttl (10 minutes) is refused.
        let late = session(&app, &a, &app.key).await;
        app.clock.advance(10 * 60_000);
        let p = Browser::new(&app).get(late["url"].as_str().unwrap()).await;
        assert!(p.status == 403 && p.body.contains("expired"), "{}", p.body);

        // An opened session ends after portal_session_ttl (an hour).
        let s = session(&app, &a, &app.key).await;
        let mut b = Browser::new(&app);
        b.get(s["url"].as_str().unwrap()).await;
        assert_eq!(b.get(&format!("/portal/a/{a}")).await.status, 200);
        app.clock.advance(60 * 60_000);
        let ended = b.get(&format!("/portal/a/{a}")).await;
        assert!(
            ended.status == 401 && ended.body.contains("has ended"),
            "{}",
            ended.body
        );

        // Revoked: the cookie opens nothing from the next request on.
        let s = session(&app, &a, &app.key).await;
        let mut b = Browser::new(&app);
        b.get(s["url"].as_str().unwrap()).await;
        assert_eq!(b.get(&format!("/portal/a/{a}")).await.status, 200);
        let id = s["id"].as_str().unwrap();
        let r = app.delete(&format!("/v1/portal-sessions/{id}")).await;
        assert_eq!(
            (r.status, r.body["status"].as_str()),
            (200, Some("revoked"))
        );
        assert_eq!(b.get(&format!("/portal/a/{a}")).await.status, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_sessions_by_an_account_key_stay_in_its_tree_and_bad_fields_are_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let sub = sub_account(&app, &a, "a-sub").await;
        let other = app.account("other").await;
        let key = app.account_key(&a).await;
        assert_eq!(session(&app, &sub, &key).await["account_id"], sub.as_str());
        let post = |body: serde_json::Value, k: String| {
            let app = &app;
            async move {
                app.send(
                    reqwest::Method::POST,
                    "/v1/portal-sessions",
                    Some(&body),
                    &[],
                    Some(&k),
                )
                .await
            }
        };
        let r = post(json!({"account_id": other}), key.clone()).await;
        assert!(r.status == 403 || r.status == 404, "{}", r.body);
        let r = post(json!({"account_id": a, "locale": "<script>"}), key.clone()).await;
        assert_problem(&r, 400, "invalid_locale");
        let r = post(
            json!({"account_id": a, "return_url": "javascript:alert(1)"}),
            key.clone(),
        )
        .await;
        assert_problem(&r, 400, "invalid_return_url");
        // A session made by another tree's key is not found by this one.
        let theirs = session(&app, &other, &app.key).await;
        let r = app
            .send(
                reqwest::Method::DELETE,
                &format!("/v1/portal-sessions/{}", theirs["id"].as_str().unwrap()),
                None,
                &[],
                Some(&key),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_forms_need_the_csrf_token_and_refuse_bad_amounts_changing_nothing() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let (other, other_card) = app.funded("other", "pm_card_visa", 3_000).await;
        let s = session(&app, &a, &app.key).await;
        let mut b = Browser::new(&app);
        b.get(s["url"].as_str().unwrap()).await;
        let token = csrf(&b.get(&format!("/portal/a/{a}/add-balance")).await);
        let before = snapshot(&app, &[&a, &other]).await;

        let pay = format!("/portal/a/{a}/add-balance/pay");
        for form in [
            vec![("amount", "2000")],
            vec![
                ("amount", "2000"),
                ("csrf", "0000000000000000000000000000000000000000"),
            ],
        ] {
            let p = b.post(&pay, &form).await;
            assert!(
                p.status == 403 && p.body.contains("security token"),
                "{}",
                p.body
            );
        }
        let summary = format!("/portal/a/{a}/add-balance/summary");
        for (amount, words) in [
            ("12.345", "at most 2 decimals"),
            ("12abc", "as a number"),
            ("", "Enter an amount"),
        ] {
            let p = b
                .post(&summary, &[("amount", amount), ("csrf", &token)])
                .await;
            assert_eq!(p.status, 400, "{amount}");
            assert!(p.body.contains(words), "{amount}: {}", p.body);
        }
        // Another tree's ids in forms and URLs.
        let p = b
            .post(
                &format!("/portal/a/{other}/add-balance/pay"),
                &[("amount", "2000"), ("csrf", &token)],
            )
            .await;
        assert_eq!(p.status, 404);
        let p = b
            .post(
                &pay,
                &[
                    ("amount", "2000"),
                    ("payment_method", &other_card),
                    ("csrf", &token),
                ],
            )
            .await;
        assert!(
            p.status == 402 || p.status == 404 || p.status == 400,
            "{}",
            p.status
        );
        let p = b
            .post(
                &format!("/portal/a/{a}/cards/{other_card}/remove"),
                &[("csrf", &token)],
            )
            .await;
        assert_eq!(p.status, 404);
        let p = b
            .post(
                &format!("/portal/a/{a}/transfers"),
                &[
                    ("from", &other),
                    ("to", &a),
                    ("amount", "10"),
                    ("csrf", &token),
                ],
            )
            .await;
        assert_eq!(p.status, 404);
        assert_eq!(
            snapshot(&app, &[&a, &other]).await,
            before,
            "nothing changed"
        );
        let cards = app
            .get(&format!("/v1/accounts/{other}/payment-methods"))
            .await;
        assert_eq!(
            cards.body["data"].as_array().map(Vec::len),
            Some(2),
            "both its cards are kept: {}",
            cards.body
        );

        // The same form, with its token, pays once however often it is sent.
        let form = [
            ("amount", "2000"),
            ("request", "req_once"),
            ("csrf", token.as_str()),
        ];
        let first = b.post(&pay, &form).await;
        assert_eq!(first.status, 303, "{}", first.body);
        let again = b.post(&pay, &form).await;
        assert_eq!(
            (again.status, again.location.as_str()),
            (303, first.location.as_str())
        );
        assert_eq!(app.balance(&a).await, 4_000);
        let receipt = b.get(&first.location).await;
        assert!(
            receipt.body.contains("Transaction id") && receipt.body.contains("£24.00"),
            "{}",
            receipt.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r14_r23_the_page_asks_for_3_d_secure_and_goes_on_once_it_is_done() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app
            .funded("a", "pm_card_authenticationRequired", 5_000)
            .await;
        let s = session(&app, &a, &app.key).await;
        let mut b = Browser::new(&app);
        b.get(s["url"].as_str().unwrap()).await;
        let form_page = b.get(&format!("/portal/a/{a}/auto-top-up")).await;
        let token = csrf(&form_page);
        let path = format!("/portal/a/{a}/auto-top-up");
        let fields = [
            ("enabled", "on"),
            ("threshold", "10"),
            ("rule", "fixed"),
            ("amount", "20"),
            ("terms", "on"),
            ("version", "0"),
            ("csrf", token.as_str()),
        ];
        // R14: the verification charge asks for 3-D Secure: the form offers it.
        let asked = b.post(&path, &fields).await;
        assert!((400..500).contains(&asked.status), "{}", asked.body);
        assert!(
            asked.body.contains("name=\"three_d_secure\""),
            "{}",
            asked.body
        );
        assert_eq!(app.auto_top_up(&a).await["state"], "off");
        let mut done = fields.to_vec();
        done.push(("three_d_secure", "completed"));
        let saved = b.post(&path, &done).await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        assert_eq!(app.auto_top_up(&a).await["state"], "active");

        // R23: a manual payment the bank wants confirmed waits on its receipt page.
        let pay = format!("/portal/a/{a}/add-balance/pay");
        let p = b
            .post(
                &pay,
                &[("amount", "2000"), ("request", "req_3ds"), ("csrf", &token)],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.body);
        let waiting = b.get(&p.location).await;
        assert!(
            waiting.body.contains("Confirm with my bank"),
            "{}",
            waiting.body
        );
        assert_eq!(app.balance(&a).await, 5_000);
        let confirmed = b
            .post(&format!("{}/confirm", p.location), &[("csrf", &token)])
            .await;
        assert_eq!(confirmed.status, 303, "{}", confirmed.body);
        let receipt = b.get(&confirmed.location).await;
        assert!(
            receipt.body.contains("Payment received"),
            "{}",
            receipt.body
        );
        assert_eq!(app.balance(&a).await, 7_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r31_the_page_moves_credit_to_a_sub_account_and_asks_for_a_refund() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (main, _) = app.funded("main", "pm_card_visa", 5_000).await;
        let sub = sub_account(&app, &main, "team").await;
        let s = session(&app, &main, &app.key).await;
        let mut b = Browser::new(&app);
        b.get(s["url"].as_str().unwrap()).await;
        let page = b.get(&format!("/portal/a/{main}/sub-accounts")).await;
        assert!(page.body.contains("team"), "{}", page.body);
        let token = csrf(&page);
        let top_up = app.manual_top_ups.lock().unwrap()[0].clone();
        let asked = b
            .post(
                &format!("/portal/a/{main}/refund-requests"),
                &[
                    ("top_up", top_up.as_str()),
                    ("reason", "bought too much"),
                    ("csrf", &token),
                ],
            )
            .await;
        assert_eq!(asked.status, 303, "{}", asked.body);
        let refunds = app.get(&format!("/v1/refunds?account_id={main}")).await;
        assert_eq!(
            refunds.body["data"][0]["status"], "requested",
            "{}",
            refunds.body
        );
        assert_eq!(refunds.body["data"][0]["reason"], "bought too much");
        let move_to = |amount: &'static str| {
            [
                ("from", main.as_str()),
                ("to", sub.as_str()),
                ("amount", amount),
                ("csrf", token.as_str()),
            ]
        };
        let path = format!("/portal/a/{main}/transfers");
        let refused = b.post(&path, &move_to("60")).await;
        assert!(
            refused.status == 400 || refused.status == 402,
            "{}",
            refused.status
        );
        assert_eq!(
            (app.balance(&main).await, app.balance(&sub).await),
            (5_000, 0)
        );
        let moved = b.post(&path, &move_to("12.50")).await;
        assert_eq!(moved.status, 303, "{}", moved.body);
        assert_eq!(
            (app.balance(&main).await, app.balance(&sub).await),
            (3_750, 1_250)
        );
    }
}
