//! Several instances on one PostgreSQL database behave as one gateway: what the admin API
//! changes on one instance reaches the others' in-memory snapshots within the poll interval.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::MockUpstream;
use common::{Db, Gateway, Options};
use serde_json::json;
use std::time::{Duration, Instant};

async fn status_of(gw: &Gateway, key: &str) -> u16 {
    gw.client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "shared-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn eventually(gw: &Gateway, key: &str, want: u16, within: Duration) {
    let t = Instant::now();
    loop {
        let s = status_of(gw, key).await;
        if s == want {
            return;
        }
        assert!(
            t.elapsed() < within,
            "instance still answers {s} instead of {want} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_on_one_instance_reach_the_other() {
    if !common::postgres_enabled() {
        return;
    }
    let a = Gateway::start(Db::Postgres).await;
    let url = a.pg.as_ref().unwrap().url.clone();
    let b = Gateway::start_with(Options {
        database_url: Some(url),
        ..Options::new(Db::Postgres)
    })
    .await;
    let mock = MockUpstream::start("mock").await;

    // A provider, a model and a key made on A serve traffic on B.
    a.add_provider(
        "mock",
        &mock.base_url(),
        "sk-up",
        &[("shared-model", "mock-model")],
    )
    .await;
    let (id, key) = a.add_key(json!({})).await;
    eventually(&b, &key, 200, Duration::from_secs(3)).await;

    // Disabling the key on A stops it on B within the poll interval (1 s) plus a margin.
    let (s, _) = a
        .patch(&format!("/admin/api-keys/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(s, 200);
    eventually(&b, &key, 401, Duration::from_millis(2500)).await;

    // Re-enabled, then the model removed on A: B no longer routes it.
    let (s, _) = a
        .patch(&format!("/admin/api-keys/{id}"), json!({"enabled": true}))
        .await;
    assert_eq!(s, 200);
    eventually(&b, &key, 200, Duration::from_millis(2500)).await;
    let (s, _) = a.delete("/providers/mock/models/shared-model").await;
    assert_eq!(s, 204);
    eventually(&b, &key, 404, Duration::from_millis(2500)).await;

    // Both instances wrote their request logs to the same database.
    let (_, page) = b.get("/admin/logs?limit=1").await;
    assert!(page["total"].as_i64().unwrap() >= 4, "{page}");
    // The second instance did not create a second admin.
    let (_, users) = b.get("/admin/users").await;
    assert_eq!(users.as_array().unwrap().len(), 1);
}
