//! The OpenAPI document: served as checked in, and every route it lists is routed.

use crate::support::{spawn, stores};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_openapi_document_matches_the_checked_in_file() {
    let checked_in: Value = serde_json::from_str(include_str!("../../../../openapi.json"))
        .expect("openapi.json parses");
    for store in stores().await {
        let app = spawn(&store).await;
        let r = app
            .send(Method::GET, "/v1/openapi.json", None, &[], None)
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body, checked_in,
            "openapi.json differs from the served document: regenerate it from GET /v1/openapi.json"
        );
        assert_eq!(r.body["openapi"], "3.1.0");
        let paths = r.body["paths"].as_object().unwrap();
        for o in refill::openapi::routes() {
            let (method, path) = (o.method, o.path);
            assert!(
                paths[path].get(method).is_some(),
                "{method} {path} documented"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_every_documented_route_answers() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, pm) = app.funded("a", "pm_card_visa", 2000).await;
        let top_up = app.get(&format!("/v1/accounts/{a}/top-ups")).await.body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        for o in refill::openapi::routes() {
            let (method, path) = (o.method, o.path);
            let concrete = if path.starts_with("/v1/top-ups/") {
                path.replace("{id}", &top_up)
            } else {
                path.replace("{id}", &a).replace("{pm}", &pm)
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (m == Method::POST || m == Method::PUT).then(|| json!({}));
            let r = app
                .send(m, &concrete, body.as_ref(), &[], Some(&app.key))
                .await;
            assert_ne!(r.status, 405, "{method} {concrete}: {}", r.body);
            assert!(
                !(r.status == 404 && r.code() == "route_not_found"),
                "{method} {concrete} is documented but not routed"
            );
            assert!(r.status < 500, "{method} {concrete}: {}", r.body);
        }
    }
}

/// The query parameters the document declares as enums are refused outside them, as
/// the document says (R26 event types, R31 refund statuses), not read as "none".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_contract_query_enums_are_refused_outside_their_values() {
    for store in stores().await {
        let app = spawn(&store).await;
        let doc = app.get("/v1/openapi.json").await.body;
        let params = doc["paths"]["/v1/events"]["get"]["parameters"].clone();
        let declared = params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "type");
        assert_eq!(
            declared.unwrap()["schema"]["$ref"],
            "#/components/schemas/EventType"
        );
        let r = app.get("/v1/events?type=top_up.nope").await;
        crate::checks::assert_problem(&r, 400, "invalid_event_type");
        let r = app.get("/v1/events?type=top_up.succeeded").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.get("/v1/refunds?status=nope").await;
        crate::checks::assert_problem(&r, 400, "invalid_status");
    }
}
