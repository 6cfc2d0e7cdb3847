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

/// The ingress serves the hot data routes without the router unless the request needs the
/// router's layers (an `Origin` header, for CORS). Both ways must answer alike: each hot path
/// is routed by the router too, to the same endpoint, with the request id echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_routes_answer_alike_with_and_without_the_router() {
    let gw = common::Gateway::start(common::Db::Sqlite).await;
    let a = MockUpstream::start("a").await;
    gw.add_provider("pa", &a.base_url(), "sk-a", &[("m", "mock-model")])
        .await;
    let (_, key) = gw.add_key(json!({})).await;
    let paths = [
        "/v1/chat/completions",
        "/chat/completions",
        "/api/v1/chat/completions",
        "/api/v1/proxy/chat/completions",
        "/v1/responses",
        "/responses",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/embeddings",
        "/embeddings",
    ];
    let bodies: [&[u8]; 3] = [
        b"{",
        br#"{"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}], "input": "hi", "max_tokens": 5}"#,
        br#"{"model": 7}"#,
    ];
    for path in paths {
        for body in bodies {
            let mut answers = Vec::new();
            for origin in [None, Some("http://app.example")] {
                let mut req = gw
                    .client
                    .post(gw.url(path))
                    .bearer_auth(&key)
                    .header("x-api-key", &key)
                    .header("content-type", "application/json")
                    .header("x-request-id", "req-fixed-1")
                    .body(body.to_vec());
                if let Some(o) = origin {
                    req = req.header("origin", o);
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let cors = r.headers().contains_key("access-control-allow-origin");
                assert_eq!(
                    r.headers().get("x-request-id").map(|v| v.to_str().unwrap()),
                    Some("req-fixed-1"),
                    "{path} origin={origin:?}: request id echoed"
                );
                assert_eq!(cors, origin.is_some(), "{path}: CORS only via the router");
                let text = r.text().await.unwrap();
                answers.push((status, text));
            }
            // A route the router lacks answers 404/405 with an empty body; the endpoint's own
            // refusals carry an error object.
            let e: serde_json::Value = serde_json::from_str(&answers[0].1)
                .unwrap_or_else(|_| panic!("{path}: not an error object: {answers:?}"));
            assert!(e.get("error").is_some(), "{path}: {e}");
            assert!(
                (400..500).contains(&answers[0].0),
                "{path} {:?}: {answers:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(
                answers[0],
                answers[1],
                "{path} {:?}: ingress and router answer alike",
                String::from_utf8_lossy(body)
            );
        }
    }
}

/// At the default level each request writes one compact JSON access line to stdout (through
/// the log sink's writer thread): its fields are there, the key is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_writes_one_access_line_without_the_key() {
    let gw = common::Gateway::start(common::Db::Sqlite).await;
    let a = MockUpstream::start("a").await;
    gw.add_provider(
        "pa",
        &a.base_url(),
        "sk-upstream-secret",
        &[("m", "mock-model")],
    )
    .await;
    let (key_id, key) = gw.add_key(json!({})).await;
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-request-id", "access-line-1")
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The writer thread drains its buffer every 100 ms.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let line = loop {
        let log = gw.log_text();
        if let Some(l) = log.lines().find(|l| l.contains("\"access-line-1\"")) {
            break l.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access line in:\n{log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], "INFO", "{v}");
    assert_eq!(v["target"], "modelgate::request", "{v}");
    assert_eq!(v["request_id"], "access-line-1", "{v}");
    assert_eq!(v["key_id"], key_id.as_str(), "{v}");
    assert_eq!(v["endpoint"], "chat_completions", "{v}");
    assert_eq!(v["model"], "m", "{v}");
    assert_eq!(v["provider"], "pa", "{v}");
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["attempts"], 1, "{v}");
    assert!(v["latency_ms"].as_f64().unwrap() > 0.0, "{v}");
    let log = gw.log_text();
    assert_eq!(
        log.matches("\"access-line-1\"").count(),
        1,
        "one line per request"
    );
    assert!(!log.contains(&key), "the virtual key is never logged");
    assert!(!log.contains("sk-upstream-secret"), "nor the upstream key");
}
