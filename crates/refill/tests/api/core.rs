//! Issue 2: core API tests.

use crate::support::{spawn, stores};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmp_write_openapi_once() {
    let store = stores().await.remove(0);
    let app = spawn(&store).await;
    let r = app.get("/v1/openapi.json").await;
    assert_eq!(r.status, 200);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
    assert!(!std::path::Path::new(path).exists());
    std::fs::write(path, serde_json::to_string_pretty(&r.body).unwrap() + "\n").unwrap();
}
