//! The API reference at /docs: served by refill from the OpenAPI document, every
//! operation on it, nothing loaded from elsewhere (its Content-Security-Policy says so
//! and the page holds no script and no outside address).

use crate::support::{spawn, stores};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_reference_page_lists_every_operation_and_loads_nothing_from_elsewhere() {
    for store in stores().await {
        let app = spawn(&store).await;
        let client = reqwest::Client::new();
        let r = client
            .get(format!("{}/docs", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert!(header("content-type").starts_with("text/html"));
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(
            csp.contains("style-src 'self'") && !csp.contains("script-src"),
            "{csp}"
        );
        let page = r.text().await.unwrap();
        for o in refill::openapi::routes() {
            let heading = format!(
                "<span class=\"method\">{}</span> <span class=\"path\">{}</span></h3>",
                o.method, o.path
            );
            assert!(
                page.contains(&heading),
                "{} {} not on the page",
                o.method,
                o.path
            );
        }
        for schema in ["TopUpSucceeded", "RefundView", "WhyNot", "Problem"] {
            assert!(
                page.contains(&format!("id=\"schema-{schema}\"")),
                "{schema}"
            );
        }
        assert!(!page.contains("<script") && !page.contains("src="));
        for href in page.split("href=\"").skip(1) {
            assert!(
                href.starts_with('#') || href.starts_with('/'),
                "{}",
                &href[..40.min(href.len())]
            );
        }
        let css = client
            .get(format!("{}/docs/style.css", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(css.status(), 200);
        assert!(
            css.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/css")
        );
    }
}
