//! Routing and resilience over real HTTP: logical models, strategies, failover, health,
//! sticky sessions, aliases and `/routing/decide`.

mod common;

use common::mock::{Behavior, MockUpstream};
use common::{Db, Gateway, Options};
use serde_json::{Value, json};
use std::time::Duration;

/// Three mock upstreams behind one logical model `smart` (each provider serves `m` as `mock-model`).
async fn three(strategy: &str, opts: Options) -> (Gateway, Vec<MockUpstream>, String) {
    let gw = Gateway::start_with(opts).await;
    let mut mocks = Vec::new();
    let mut ups = Vec::new();
    for i in 1..=3 {
        let m = MockUpstream::start(&format!("up{i}")).await;
        gw.add_provider(&format!("p{i}"), &m.base_url(), &format!("sk-up-{i}"), &[("m", "mock-model")]).await;
        ups.push(json!({"provider": format!("p{i}"), "model": "m", "weight": 1, "priority": i}));
        mocks.push(m);
    }
    let (s, lm) = gw.post("/logical-models", json!({"name": "smart", "strategy": strategy, "upstreams": ups})).await;
    assert_eq!(s, 201, "{lm}");
    let (_, key) = gw.add_key(json!({})).await;
    (gw, mocks, key)
}

async fn chat(gw: &Gateway, key: &str, model: &str, stream: bool) -> reqwest::Response {
    gw.client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_fails_over_on_500_and_logs_every_attempt() {
    let (gw, mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    mocks[0].set(Behavior::Status(500, json!({"error": {"message": "boom", "type": "server_error"}}), None));
    for stream in [false, true] {
        let r = chat(&gw, &key, "smart", stream).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-modelgate-provider"], "p2");
        assert_eq!(r.headers()["x-modelgate-attempts"], "2");
        let text = r.text().await.unwrap();
        assert!(stream || text.contains("Hello from up2"), "{text}");
        assert!(!stream || text.contains("[DONE]"), "{text}");
    }
    let page = gw.wait_logs("model=smart", 2, 10).await;
    for rec in page["items"].as_array().unwrap() {
        assert_eq!(rec["attempts"], 2, "{rec}");
        let log: Vec<Value> = rec["attempt_log"].as_array().unwrap().clone();
        assert_eq!(log[0]["provider"], "p1");
        assert_eq!(log[0]["outcome"], "status_500");
        assert_eq!(log[1]["provider"], "p2");
        assert_eq!(log[1]["outcome"], "ok");
    }
}
