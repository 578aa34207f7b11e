//! Health, readiness and metrics (the operator's: api::metrics).

use crate::checks::assert_created;
use crate::support::{spawn, stores};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_health_readiness_and_metrics() {
    for store in stores().await {
        let app = spawn(&store).await;
        for path in ["/healthz", "/readyz"] {
            let r = app.send(Method::GET, path, None, &[], None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
        let accepted = || async {
            let r = app.get("/metrics").await;
            assert_eq!(r.status, 200);
            let text = r.body.as_str().expect("metrics are text").to_string();
            text.lines()
                .find_map(|l| l.strip_prefix("refill_debits_accepted_total "))
                .expect("refill_debits_accepted_total")
                .trim()
                .parse::<u64>()
                .expect("a counter")
        };
        let n = accepted().await;
        let (a, _) = app.funded("a", "pm_card_visa", 1000).await;
        assert_created(&app.debit(&a, 10).await);
        assert_eq!(app.debit(&a, 10_000).await.status, 402);
        assert_eq!(accepted().await, n + 1);
        let r = app.get("/metrics").await;
        let text = r.body.as_str().expect("metrics are text");
        assert!(
            text.lines()
                .any(|l| l == "refill_api_key_rereads_failed_total 0"),
            "{text}"
        );
    }
}
