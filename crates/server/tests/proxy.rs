//! The OpenAI-compatible data plane over real HTTP: routing to the catalogue, streaming,
//! usage, errors, passthrough and zero-step start.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::{Behavior, MockUpstream};
use common::{Db, Gateway, Options};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const UPSTREAM_KEY: &str = "sk-upstream-secret-0001";

async fn setup() -> (Gateway, MockUpstream, String) {
    let mock = MockUpstream::start("mock").await;
    let gw = Gateway::start(Db::Sqlite).await;
    gw.add_provider(
        "mock",
        &mock.base_url(),
        UPSTREAM_KEY,
        &[("gpt-test", "mock-model")],
    )
    .await;
    let (_, key) = gw.add_key(json!({})).await;
    (gw, mock, key)
}

fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

async fn chat(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    gw.client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_stream_chat_reaches_the_upstream_with_its_model_key_and_defaults() {
    let (gw, mock, key) = setup().await;
    let (s, _) = gw
        .patch(
            "/providers/mock/models/gpt-test",
            json!({"custom_parameters": {"temperature": 0.3, "top_p": 0.5}}),
        )
        .await;
    assert_eq!(s, 200);
    let sent_at = Instant::now();
    let resp = chat(&gw, &key, json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.9})).await;
    let round_trip_ms = sent_at.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["x-modelgate-provider"], "mock");
    assert!(h.contains_key("x-request-id"));
    let overhead: f64 = h["x-modelgate-overhead-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The gateway's own time is part of the round trip the client measured, never more.
    assert!(
        overhead.is_finite() && overhead >= 0.0 && overhead < round_trip_ms,
        "overhead {overhead} ms of a {round_trip_ms} ms round trip"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from mock");
    let up = mock.last();
    assert_eq!(
        up.headers["authorization"],
        format!("Bearer {UPSTREAM_KEY}")
    );
    let sent = up.json();
    assert_eq!(sent["model"], "mock-model");
    assert_eq!(sent["temperature"], 0.9, "the client's own field wins");
    assert_eq!(
        sent["top_p"], 0.5,
        "defaults fill what the client did not set"
    );
    // Usage and cost land in the request log.
    let page = gw.wait_logs("model=gpt-test", 1, 10).await;
    let rec = &page["items"][0];
    assert_eq!(rec["status"], 200);
    assert_eq!(rec["provider"], "mock");
    assert_eq!(rec["provider_model"], "mock-model");
    assert_eq!(
        (
            rec["prompt_tokens"].as_i64(),
            rec["completion_tokens"].as_i64()
        ),
        (Some(12), Some(7))
    );
    assert_eq!(
        (
            rec["cached_tokens"].as_i64(),
            rec["reasoning_tokens"].as_i64()
        ),
        (Some(2), Some(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_is_computed_from_pricing() {
    let (gw, _mock, key) = setup().await;
    let (s, _) = gw
        .patch(
            "/providers/mock/models/gpt-test",
            json!({"pricing_info": {"input": "2.5", "output": 10, "cached_input": 1.25}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(chat(&gw, &key, chat_body("gpt-test")).await.status(), 200);
    let page = gw.wait_logs("model=gpt-test", 1, 10).await;
    // 10 uncached * 2.5 + 2 cached * 1.25 + 7 * 10 = 25 + 2.5 + 70 = 97.5 per million
    assert_eq!(page["items"][0]["cost"], "0.0000975");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_form_routes_to_the_named_provider() {
    let (gw, mock, key) = setup().await;
    let resp = chat(&gw, &key, chat_body("mock/some-upstream-name")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.last().json()["model"], "some-upstream-name");
    let resp = chat(&gw, &key, chat_body("mock/gpt-test")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        mock.last().json()["model"],
        "mock-model",
        "a catalogue model under the prefix uses its upstream name"
    );
}

async fn read_sse(resp: reqwest::Response) -> String {
    String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap()
}

fn data_events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| {
            e.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_usage_is_captured_and_the_extra_chunk_removed() {
    let (gw, mock, key) = setup().await;
    let mut body = chat_body("gpt-test");
    body["stream"] = json!(true);
    let resp = chat(&gw, &key, body).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = read_sse(resp).await;
    let events = data_events(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(
        !text.contains("\"usage\""),
        "the usage chunk the gateway asked for is removed: {text}"
    );
    assert_eq!(
        mock.last().json()["stream_options"]["include_usage"],
        true,
        "the gateway asked the upstream for usage"
    );
    let page = gw.wait_logs("model=gpt-test", 1, 10).await;
    let rec = &page["items"][0];
    assert_eq!(
        (
            rec["prompt_tokens"].as_i64(),
            rec["completion_tokens"].as_i64(),
            rec["stream"].as_bool()
        ),
        (Some(12), Some(7), Some(true))
    );
    assert!(rec["ttft_ms"].as_f64().is_some());

    // A client that asked for usage gets the chunk.
    let mut body = chat_body("gpt-test");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = read_sse(chat(&gw, &key, body).await).await;
    assert!(text.contains("\"usage\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_on_a_content_chunk_is_taken_and_forwarded() {
    let (gw, mock, key) = setup().await;
    mock.set(Behavior::StreamUsageOnContent);
    let mut body = chat_body("gpt-test");
    body["stream"] = json!(true);
    let text = read_sse(chat(&gw, &key, body).await).await;
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
    let page = gw.wait_logs("model=gpt-test", 1, 10).await;
    assert_eq!(page["items"][0]["total_tokens"].as_i64(), Some(19));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_event_stream_turns_streaming_on() {
    let (gw, mock, key) = setup().await;
    let resp = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .json(&chat_body("gpt-test"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = read_sse(resp).await;
    assert!(text.contains("[DONE]"));
    assert_eq!(mock.last().json()["stream"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_is_incremental() {
    let (gw, mock, key) = setup().await;
    mock.set(Behavior::StreamHold);
    let mut body = chat_body("gpt-test");
    body["stream"] = json!(true);
    let resp = chat(&gw, &key, body).await;
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("first ") {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .expect("first chunk arrives while the upstream holds the rest")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        !seen.contains("[DONE]"),
        "the rest is still held back upstream"
    );
    mock.release();
    while let Some(Ok(c)) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&c));
    }
    assert!(seen.contains("[DONE]"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_cancels_the_upstream() {
    let (gw, mock, key) = setup().await;
    mock.set(Behavior::StreamSlow);
    let mut body = chat_body("gpt-test");
    body["stream"] = json!(true);
    let resp = chat(&gw, &key, body).await;
    let mut stream = resp.bytes_stream();
    let _ = stream.next().await.unwrap().unwrap();
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !mock.cancelled() {
        assert!(
            Instant::now() < deadline,
            "the upstream stream was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = gw.wait_logs("model=gpt-test", 1, 10).await;
    assert_eq!(page["items"][0]["status"], 499);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_stream_ends_with_an_error_event() {
    let (gw, mock, key) = setup().await;
    for behavior in [Behavior::StreamBreakAfter(2), Behavior::StreamNoDone] {
        mock.set(behavior.clone());
        let mut body = chat_body("gpt-test");
        body["stream"] = json!(true);
        let resp = chat(&gw, &key, body).await;
        assert_eq!(resp.status(), 200);
        let text = read_sse(resp).await;
        let last = data_events(&text).pop().unwrap();
        let err: Value = serde_json::from_str(&last)
            .unwrap_or_else(|_| panic!("{behavior:?}: last event is not JSON: {text}"));
        assert_eq!(
            err["error"]["code"], "stream_broken",
            "{behavior:?}: {text}"
        );
        assert!(!data_events(&text).iter().any(|e| e == "[DONE]"), "{text}");
    }
    let page = gw.wait_logs("model=gpt-test&status=502", 2, 10).await;
    assert!(
        page["items"][0]["error"]
            .as_str()
            .unwrap()
            .contains("stream")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors() {
    let (gw, _mock, key) = setup().await;
    let no_key = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .json(&chat_body("gpt-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let e: Value = no_key.json().await.unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");
    assert_eq!(
        chat(&gw, "mg-not-a-real-key", chat_body("gpt-test"))
            .await
            .status(),
        401
    );
    // X-API-Key works too.
    let r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .header("x-api-key", &key)
        .json(&chat_body("gpt-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Expired keys.
    let (_, expired) = gw.add_key(json!({"expiry": "2020-01-01T00:00:00Z"})).await;
    assert_eq!(
        chat(&gw, &expired, chat_body("gpt-test")).await.status(),
        401
    );
    // A disabled key stops working within a second.
    let (id, k2) = gw.add_key(json!({})).await;
    assert_eq!(chat(&gw, &k2, chat_body("gpt-test")).await.status(), 200);
    let (s, _) = gw
        .patch(&format!("/admin/api-keys/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(s, 200);
    let t = Instant::now();
    loop {
        if chat(&gw, &k2, chat_body("gpt-test")).await.status() == 401 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "disabled key still works after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, _) = gw.delete(&format!("/admin/api-keys/{id}")).await;
    assert_eq!(s, 204);
    assert_eq!(chat(&gw, &k2, chat_body("gpt-test")).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_errors_403_404_400() {
    let (gw, _mock, _key) = setup().await;
    let (_, limited) = gw.add_key(json!({"allowed_models": ["gpt-test"]})).await;
    let (s, _) = gw
        .post(
            "/providers/mock/models",
            json!({"model_id": "other", "provider_model_id": "x"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        chat(&gw, &limited, chat_body("gpt-test")).await.status(),
        200
    );
    let r = chat(&gw, &limited, chat_body("other")).await;
    assert_eq!(r.status(), 403);
    let r = chat(&gw, &limited, chat_body("no-such-model")).await;
    assert_eq!(
        r.status(),
        403,
        "a limited key learns nothing about other models"
    );
    let (_, key) = gw.add_key(json!({})).await;
    let r = chat(&gw, &key, chat_body("no-such-model")).await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "model_not_found");
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = chat(&gw, &key, json!({"messages": []})).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "model");
    // Allowed models filter the model list.
    let list: Value = gw
        .client
        .get(gw.url("/v1/models"))
        .bearer_auth(&limited)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["gpt-test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_502_504_and_passthrough_status() {
    let (gw, mock, key) = setup().await;
    // Upstream's own error comes back with its status and body.
    mock.set(Behavior::Status(400, json!({"error": {"message": "bad thing", "type": "invalid_request_error", "param": null, "code": "bad"}}), None));
    let r = chat(&gw, &key, chat_body("gpt-test")).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["message"], "bad thing");
    // Timeout → 504.
    mock.set(Behavior::Delay(Duration::from_secs(3)));
    let (s, _) = gw
        .patch("/providers/mock", json!({"timeout_ms": 300}))
        .await;
    assert_eq!(s, 200);
    let t = Instant::now();
    let r = chat(&gw, &key, chat_body("gpt-test")).await;
    assert_eq!(r.status(), 504);
    assert!(t.elapsed() < Duration::from_secs(2));
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "upstream_timeout");
    // Unreachable → 502.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/v1", dead.local_addr().unwrap());
    drop(dead);
    gw.add_provider("dead", &dead_url, "sk-dead", &[("dead-model", "x")])
        .await;
    let r = chat(&gw, &key, chat_body("dead-model")).await;
    assert_eq!(r.status(), 502);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "upstream_unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_models_and_multipart_passthrough() {
    let (gw, mock, key) = setup().await;
    let (s, _) = gw.post("/providers/mock/models", json!({"model_id": "embed-test", "provider_model_id": "mock-embed", "dialect": "openai_embeddings"})).await;
    assert_eq!(s, 201);
    let r = gw
        .client
        .post(gw.url("/v1/embeddings"))
        .bearer_auth(&key)
        .json(&json!({"model": "embed-test", "input": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 3);
    assert_eq!(mock.last().path, "/v1/embeddings");
    assert_eq!(mock.last().json()["model"], "mock-embed");
    gw.wait_logs("model=embed-test", 1, 10).await;

    // The model list is the union of the catalogue and the provider's own list.
    mock.set_models(&["mock-model", "listed-upstream"]);
    for path in ["/v1/models", "/models", "/api/v1/models"] {
        let list: Value = gw
            .client
            .get(gw.url(path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["object"], "list");
        let ids: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        for want in ["gpt-test", "embed-test", "listed-upstream"] {
            assert!(ids.contains(&want), "{path}: {ids:?}");
        }
    }

    // Multipart upload passes through to the provider serving the named model.
    let (s, _) = gw
        .post("/providers/mock/models", json!({"model_id": "whisper-1"}))
        .await;
    assert_eq!(s, 201);
    let audio = vec![7u8; 200_000];
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(audio)
                .file_name("a.wav")
                .mime_str("audio/wav")
                .unwrap(),
        )
        .text("model", "whisper-1");
    let r = gw
        .client
        .post(gw.url("/v1/audio/transcriptions"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["path"], "/v1/audio/transcriptions");
    assert!(
        v["content_type"]
            .as_str()
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    assert!(v["received_bytes"].as_u64().unwrap() > 200_000);
    assert_eq!(v["authorization"], format!("Bearer {UPSTREAM_KEY}"));
    gw.wait_logs("model=whisper-1", 1, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_discovery_finds_models_in_provider_lists() {
    let (gw, mock, key) = setup().await;
    mock.set_models(&["mock-model", "discovered-model"]);
    let r = chat(&gw, &key, chat_body("discovered-model")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(mock.last().json()["model"], "discovered-model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_step_start_from_env_and_config_and_legacy_keys() {
    let mock = MockUpstream::start("envmock").await;
    mock.set_models(&["gpt-4o-mini"]);
    let declared = MockUpstream::start("declared").await;
    declared.set_models(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("modelgate.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[providers]]
name = "declared"
kind = "openai_compatible"
base_url = "{}"
api_keys = ["env:DECLARED_KEY"]
[[providers.models]]
model_id = "declared-model"
provider_model_id = "mock-model"
pricing = {{ input = 1, output = 2 }}
"#,
            declared.base_url()
        ),
    )
    .unwrap();
    let gw = Gateway::start_with(
        Options::new(Db::Sqlite)
            .env("OPENAI_API_KEY", "sk-from-env-123456")
            .env("OPENAI_BASE_URL", &mock.base_url())
            .env("DECLARED_KEY", "sk-declared-7890")
            .env("API_KEYS", "legacy-one, legacy-two")
            .env("MODELGATE_CONFIG", cfg.to_str().unwrap()),
    )
    .await;
    let (_, providers) = gw.get("/providers").await;
    let by_name = |n: &str| {
        providers
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_name("openai")["source"], "env");
    assert_eq!(by_name("declared")["source"], "config");
    // The legacy static key works; the env provider serves models from its own list.
    let r = chat(&gw, "legacy-two", chat_body("gpt-4o-mini")).await;
    assert_eq!(r.status(), 200);
    let up = mock.last();
    assert_eq!(up.headers["authorization"], "Bearer sk-from-env-123456");
    let r = chat(&gw, "legacy-one", chat_body("declared-model")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        declared.last().headers["authorization"],
        "Bearer sk-declared-7890"
    );
    assert_eq!(declared.last().json()["model"], "mock-model");
    assert!(!gw.log_text().contains("sk-from-env-123456"));
    assert!(!gw.log_text().contains("sk-declared-7890"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_openai_deployment_urls() {
    let mock = MockUpstream::start("azure").await;
    let gw = Gateway::start(Db::Sqlite).await;
    let (s, p) = gw
        .post("/providers", json!({"name": "az", "kind": "azure_openai", "base_url": format!("http://{}", mock.addr), "api_version": "2024-06-01", "api_keys": [{"key": "azure-key-abcdef"}]}))
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, _) = gw
        .post(
            "/providers/az/models",
            json!({"model_id": "gpt-az", "provider_model_id": "my-deployment"}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, key) = gw.add_key(json!({})).await;
    let r = chat(&gw, &key, chat_body("gpt-az")).await;
    assert_eq!(r.status(), 200);
    let up = mock.last();
    assert_eq!(
        up.path,
        "/openai/deployments/my-deployment/chat/completions"
    );
    assert_eq!(up.query.as_deref(), Some("api-version=2024-06-01"));
    assert_eq!(up.headers["api-key"], "azure-key-abcdef");
    assert!(!up.headers.contains_key("authorization"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_auth_forwards_the_clients_own_key() {
    let (gw, mock, _key) = setup().await;
    let r = chat(&gw, "sk-client-own-key", chat_body("gpt-test")).await;
    assert_eq!(r.status(), 401, "off by default");
    let (s, _) = gw
        .patch("/providers/mock", json!({"passthrough_auth": true}))
        .await;
    assert_eq!(s, 200);
    let r = chat(&gw, "sk-client-own-key", chat_body("gpt-test")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        mock.last().headers["authorization"],
        "Bearer sk-client-own-key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_logged_only_when_enabled() {
    let mock = MockUpstream::start("mock").await;
    let gw = Gateway::start_with(Options::new(Db::Sqlite).env("LOG_BODIES", "true")).await;
    gw.add_provider(
        "mock",
        &mock.base_url(),
        UPSTREAM_KEY,
        &[("gpt-test", "mock-model")],
    )
    .await;
    let (_, key) = gw.add_key(json!({})).await;
    assert_eq!(chat(&gw, &key, chat_body("gpt-test")).await.status(), 200);
    let page = gw.wait_logs("model=gpt-test", 1, 10).await;
    let rec = &page["items"][0];
    assert!(rec["request_body"].as_str().unwrap().contains("\"hi\""));
    assert!(
        rec["response_body"]
            .as_str()
            .unwrap()
            .contains("Hello from mock")
    );
    assert!(
        !page.to_string().contains(&key),
        "the virtual key is never stored"
    );
    assert!(!page.to_string().contains(UPSTREAM_KEY));

    let (gw2, _m2, key2) = setup().await;
    assert_eq!(chat(&gw2, &key2, chat_body("gpt-test")).await.status(), 200);
    let page = gw2.wait_logs("model=gpt-test", 1, 10).await;
    assert!(page["items"][0]["request_body"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_log_lines_go_to_stdout_and_the_log_file() {
    let mock = MockUpstream::start("mock").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("logs/modelgate.log");
    let gw =
        Gateway::start_with(Options::new(Db::Sqlite).env("LOG_FILE_PATH", file.to_str().unwrap()))
            .await;
    gw.add_provider(
        "mock",
        &mock.base_url(),
        UPSTREAM_KEY,
        &[("gpt-test", "mock-model")],
    )
    .await;
    let (_, key) = gw.add_key(json!({})).await;
    let r = chat(&gw, &key, chat_body("gpt-test")).await;
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let line_of = |text: &str| text.lines().find(|l| l.contains(&rid)).map(str::to_owned);
    let (stdout_line, file_line) = loop {
        let file_text = std::fs::read_to_string(&file).unwrap_or_default();
        if let (Some(a), Some(b)) = (line_of(&gw.log_text()), line_of(&file_text)) {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "no request line in stdout or {}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in [stdout_line, file_line] {
        let v: Value = serde_json::from_str(&line).expect("a JSON log line");
        assert_eq!(v["model"], "gpt-test");
        assert_eq!(v["provider"], "mock");
        assert_eq!(v["status"], 200);
        assert!(!line.contains(&key) && !line.contains(UPSTREAM_KEY));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_providers_serve_only_that_tenant() {
    let shared = MockUpstream::start("shared").await;
    let private = MockUpstream::start("private").await;
    let gw = Gateway::start(Db::Sqlite).await;
    gw.add_provider(
        "shared",
        &shared.base_url(),
        "sk-shared",
        &[("m", "mock-model")],
    )
    .await;
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "acme-only", "kind": "openai_compatible", "base_url": private.base_url(),
            "tenant_id": "acme", "api_keys": [{"key": "sk-acme"}]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, _) = gw
        .post(
            "/providers/acme-only/models",
            json!({"model_id": "acme-model"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = gw
        .post("/providers/acme-only/models", json!({"model_id": "m"}))
        .await;
    assert_eq!(s, 201);
    let (_, acme) = gw.add_key(json!({"tenant_id": "acme"})).await;
    let (_, other) = gw.add_key(json!({"tenant_id": "globex"})).await;
    let (_, untenanted) = gw.add_key(json!({})).await;

    assert_eq!(
        chat(&gw, &acme, chat_body("acme-model")).await.status(),
        200
    );
    for key in [&other, &untenanted] {
        let r = chat(&gw, key, chat_body("acme-model")).await;
        assert_eq!(
            r.status(),
            404,
            "another tenant's model does not exist for this key"
        );
        let list: Value = gw
            .client
            .get(gw.url("/v1/models"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(!list.to_string().contains("acme-model"), "{list}");
        // A shared model never goes to another tenant's provider.
        for _ in 0..6 {
            let r = chat(&gw, key, chat_body("m")).await;
            assert_eq!(r.headers()["x-modelgate-provider"], "shared");
        }
    }
    assert_eq!(private.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_count_requests_latency_tokens_and_failovers() {
    let (gw, _mock, key) = setup().await;
    for _ in 0..3 {
        assert_eq!(chat(&gw, &key, chat_body("gpt-test")).await.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = gw
            .client
            .get(gw.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let has = |needle: &str| text.lines().any(|l| l.starts_with(needle));
        if has("modelgate_requests_total{")
            && has("modelgate_request_duration_seconds_bucket{")
            && has("modelgate_tokens_total{")
        {
            let line = text
                .lines()
                .find(|l| {
                    l.starts_with("modelgate_requests_total{")
                        && l.contains("provider=\"mock\"")
                        && l.contains("status=\"200\"")
                })
                .unwrap_or_else(|| panic!("{text}"));
            assert!(line.ends_with(" 3"), "{line}");
            assert!(
                !text.contains("gpt-test"),
                "model names (client-chosen) are never labels"
            );
            break;
        }
        assert!(Instant::now() < deadline, "metrics missing:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
