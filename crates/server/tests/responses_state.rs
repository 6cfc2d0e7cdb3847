//! Responses API state and local token counting over real HTTP: `previous_response_id`
//! continues a conversation modelgate stored (on any upstream dialect), an unknown id is a 400
//! `previous_response_not_found`, `store: false` keeps nothing; `count_tokens` on an upstream
//! that cannot count is answered locally and marked as an estimate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::MockUpstream;
use common::{Db, Gateway};
use serde_json::{Value, json};

async fn setup() -> (Gateway, MockUpstream, String) {
    let mock = MockUpstream::start("mock").await;
    let gw = Gateway::start(Db::Sqlite).await;
    gw.add_provider("mock", &mock.base_url(), "sk-up", &[("m1", "mock-model")])
        .await;
    let (_, key) = gw.add_key(json!({})).await;
    (gw, mock, key)
}

async fn post(
    gw: &Gateway,
    path: &str,
    key: &str,
    body: Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = gw
        .client
        .post(gw.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_response_id_continues_a_stored_conversation() {
    let (gw, mock, key) = setup().await;
    let (s, first, _) = post(
        &gw,
        "/v1/responses",
        &key,
        json!({"model": "m1", "input": "first question"}),
    )
    .await;
    assert_eq!(s, 200, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("resp_"), "{first}");
    // The answer is stored asynchronously; it is there by the next request.
    let mut second = Value::Null;
    for _ in 0..50 {
        let (s, b, _) = post(
            &gw,
            "/v1/responses",
            &key,
            json!({"model": "m1", "input": "second question", "previous_response_id": id}),
        )
        .await;
        if s == 200 {
            second = b;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(second["object"], "response", "{second}");
    // The upstream (OpenAI chat) got the whole history: both questions and the first answer.
    let sent = mock.last().json();
    let texts: Vec<String> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].to_string())
        .collect();
    assert_eq!(texts.len(), 3, "{sent}");
    assert!(texts[0].contains("first question"), "{texts:?}");
    assert!(texts[1].contains("Hello from mock"), "{texts:?}");
    assert!(texts[2].contains("second question"), "{texts:?}");
    assert!(sent.get("previous_response_id").is_none(), "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_unstored_previous_responses_are_400() {
    let (gw, _mock, key) = setup().await;
    let (s, b, _) = post(
        &gw,
        "/v1/responses",
        &key,
        json!({"model": "m1", "input": "x", "previous_response_id": "resp_nope"}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "previous_response_not_found", "{b}");
    assert_eq!(b["error"]["param"], "previous_response_id", "{b}");
    let (s, first, _) = post(
        &gw,
        "/v1/responses",
        &key,
        json!({"model": "m1", "input": "q", "store": false}),
    )
    .await;
    assert_eq!(s, 200, "{first}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (s, b, _) = post(
        &gw,
        "/v1/responses",
        &key,
        json!({"model": "m1", "input": "x", "previous_response_id": first["id"]}),
    )
    .await;
    assert_eq!(s, 400, "store: false keeps nothing: {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_without_an_upstream_counter_is_estimated_locally() {
    let (gw, mock, key) = setup().await;
    let short = json!({"model": "m1", "messages": [{"role": "user", "content": "hi"}]});
    let long = json!({"model": "m1", "system": "You answer in French.", "messages": [{"role": "user", "content": "Tell me a long story about a dragon who learns to fly over the mountains."}]});
    let (s, a, h) = post(&gw, "/v1/messages/count_tokens", &key, short).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(h["x-modelgate-token-estimate"], "true");
    let (s, b, _) = post(&gw, "/v1/messages/count_tokens", &key, long).await;
    assert_eq!(s, 200, "{b}");
    let (a, b) = (
        a["input_tokens"].as_u64().unwrap(),
        b["input_tokens"].as_u64().unwrap(),
    );
    assert!(a > 0 && b > a + 10, "{a} {b}");
    let (s, g, h) = post(
        &gw,
        "/v1beta/models/m1:countTokens",
        &key,
        json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]}),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    assert!(g["totalTokens"].as_u64().unwrap() > 0, "{g}");
    assert_eq!(h["x-modelgate-token-estimate"], "true");
    assert_eq!(
        mock.chat_requests(),
        0,
        "counting never calls a chat upstream"
    );
}

/// An Anthropic client on an Anthropic upstream (bytes passed through) whose stream breaks
/// after some text: billed for the text delivered, flagged as estimated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passthrough_stream_cut_short_is_billed_as_delivered() {
    use common::upstreams::{DialectMock, Reply};
    let long =
        "All the words of a rather long answer that streams in many small pieces. ".repeat(8);
    let up = DialectMock::anthropic()
        .default_reply(Reply::text(&long).break_after(12))
        .start()
        .await;
    let gw = Gateway::start(Db::Sqlite).await;
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "anth", "kind": up.kind(), "base_url": up.base_url(), "api_keys": [{"alias": "k", "key": "sk-ant"}]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, m) = gw
        .post(
            "/providers/anth/models",
            json!({"model_id": "claude", "pricing_info": {"input": 1, "output": 2}}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let (id, key) = gw.add_key(json!({})).await;
    let r = gw
        .client
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap_or_default();
    assert!(text.contains("content_block_delta"), "{text:.500}");
    let page = gw.wait_logs(&format!("key_id={id}"), 1, 10).await;
    let rec = &page["items"][0];
    assert_eq!(rec["usage_estimated"], true, "{rec}");
    assert!(rec["completion_tokens"].as_i64().unwrap() > 0, "{rec}");
    let cost: f64 = rec["cost"].as_str().unwrap().parse().unwrap();
    assert!(cost > 0.0, "{rec}");
}
