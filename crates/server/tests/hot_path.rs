//! The hot path (auth → route → dispatch → stream) reads only in-memory snapshots: with the
//! database gone, requests are still served, routed over a logical model and failed over.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::{Behavior, MockUpstream};
use serde_json::json;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_served_while_the_database_is_unreachable() {
    if !common::postgres_enabled() {
        return;
    }
    let gw = common::Gateway::start(common::Db::Postgres).await;
    let a = MockUpstream::start("a").await;
    let b = MockUpstream::start("b").await;
    gw.add_provider("pa", &a.base_url(), "sk-a", &[("m", "mock-model")])
        .await;
    gw.add_provider("pb", &b.base_url(), "sk-b", &[("m", "mock-model")])
        .await;
    let (s, lm) = gw
        .post("/logical-models", json!({"name": "lm", "strategy": "priority", "upstreams": [
            {"provider": "pa", "model": "m", "priority": 0}, {"provider": "pb", "model": "m", "priority": 1}]}))
        .await;
    assert_eq!(s, 201, "{lm}");
    let (_, key) = gw.add_key(json!({})).await;

    // Take the database away: refuse new connections and end the existing ones.
    let db = gw.pg.as_ref().unwrap().name.clone();
    let admin = common::pg_admin_url();
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([&admin, "-q", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"));
    psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ));

    a.set(Behavior::Status(
        503,
        json!({"error": {"message": "down", "type": "server_error"}}),
        None,
    ));
    for stream in [false, true, false] {
        let r = gw
            .client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "lm", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "served without the database");
        assert_eq!(
            r.headers()["x-modelgate-provider"],
            "pb",
            "failed over without the database"
        );
        let text = r.text().await.unwrap();
        assert!(
            text.contains("Hello from") || text.contains("[DONE]"),
            "{text}"
        );
    }
    // The control plane, which does need the database, says so.
    let health = gw.client.get(gw.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);

    // Allow connections again (so the harness can drop the database).
    psql(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"));
}
