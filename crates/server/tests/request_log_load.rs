//! Under load nothing is lost: 2,000 concurrent requests give 2,000 request-log records, on
//! SQLite and on PostgreSQL; a graceful stop flushes what is still queued.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::MockUpstream;
use serde_json::json;

async fn two_thousand_concurrent(db: common::Db) {
    let mock = MockUpstream::start("mock").await;
    let gw = common::Gateway::start(db).await;
    gw.add_provider(
        "mock",
        &mock.base_url(),
        "sk-up",
        &[("load-model", "mock-model")],
    )
    .await;
    let (_, key) = gw.add_key(json!({})).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(2000)
        .build()
        .unwrap();
    let body = json!({"model": "load-model", "messages": [{"role": "user", "content": "hi"}]});
    let reqs = (0..2000).map(|i| {
        let mut b = body.clone();
        b["stream"] = json!(i % 2 == 0);
        client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&b)
            .send()
    });
    let results = futures::future::join_all(reqs).await;
    let mut ok = 0;
    for r in results {
        let r = r.expect("request completes");
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        ok += 1;
    }
    assert_eq!(ok, 2000);
    gw.wait_logs("model=load-model", 2000, 60).await;
    let (_, page) = gw
        .get("/admin/logs?model=load-model&status=200&limit=1")
        .await;
    assert_eq!(page["total"], 2000);
}

both_databases!(request_log_keeps_every_record, two_thousand_concurrent);

async fn graceful_stop_flushes(db: common::Db) {
    let mock = MockUpstream::start("mock").await;
    let gw = common::Gateway::start(db).await;
    gw.add_provider(
        "mock",
        &mock.base_url(),
        "sk-up",
        &[("flush-model", "mock-model")],
    )
    .await;
    let (_, key) = gw.add_key(json!({})).await;
    let body = json!({"model": "flush-model", "messages": []});
    for _ in 0..50 {
        let r = gw
            .client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Stop at once (records are written in batches every 200 ms), then look after a restart.
    let gw = gw.restart().await;
    let (_, page) = gw.get("/admin/logs?model=flush-model&limit=1").await;
    assert_eq!(page["total"], 50, "records queued at shutdown were flushed");
}

both_databases!(graceful_stop_flushes_the_request_log, graceful_stop_flushes);
