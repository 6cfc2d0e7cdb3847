//! Routing and resilience over real HTTP: logical models, strategies, failover, health,
//! sticky sessions, aliases and `/routing/decide`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::{Behavior, MockUpstream, closed_base_url};
use common::{Cred, Db, Gateway, Options};
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Three mock upstreams behind one logical model `smart` (each provider serves `m` as `mock-model`).
async fn three(strategy: &str, opts: Options) -> (Gateway, Vec<MockUpstream>, String) {
    let gw = Gateway::start_with(opts).await;
    let mut mocks = Vec::new();
    let mut ups = Vec::new();
    for i in 1..=3 {
        let m = MockUpstream::start(&format!("up{i}")).await;
        gw.add_provider(
            &format!("p{i}"),
            &m.base_url(),
            &format!("sk-up-{i}"),
            &[("m", "mock-model")],
        )
        .await;
        ups.push(json!({"provider": format!("p{i}"), "model": "m", "weight": 1, "priority": i}));
        mocks.push(m);
    }
    let (s, lm) = gw
        .post(
            "/logical-models",
            json!({"name": "smart", "strategy": strategy, "upstreams": ups}),
        )
        .await;
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

/// A data-plane answer, read to the end.
#[derive(Debug)]
struct Answer {
    status: u16,
    provider: String,
    attempts: String,
    text: String,
}

impl Answer {
    async fn read(r: reqwest::Response) -> Self {
        let h = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (status, provider, attempts) = (
            r.status().as_u16(),
            h("x-modelgate-provider"),
            h("x-modelgate-attempts"),
        );
        let text = r.text().await.unwrap();
        Self {
            status,
            provider,
            attempts,
            text,
        }
    }

    /// A complete, successful answer (a whole completion, or a stream ending in `[DONE]`
    /// without an error event).
    fn assert_complete(&self, stream: bool) {
        assert_eq!(self.status, 200, "{self:?}");
        if stream {
            assert!(self.text.contains("Hello"), "{self:?}");
            assert!(self.text.contains("data: [DONE]"), "{self:?}");
            assert!(!self.text.contains("\"error\""), "{self:?}");
        } else {
            let v: Value = serde_json::from_str(&self.text).unwrap();
            assert!(
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("Hello from")),
                "{self:?}"
            );
        }
    }
}

async fn ask(gw: &Gateway, key: &str, model: &str, stream: bool) -> Answer {
    Answer::read(chat(gw, key, model, stream).await).await
}

/// Sends a chat request with extra headers and body fields.
async fn ask_with(
    gw: &Gateway,
    key: &str,
    model: &str,
    headers: &[(&str, &str)],
    extra: Value,
) -> Answer {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let mut rb = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    Answer::read(rb.send().await.unwrap()).await
}

/// `n` requests with at most `concurrency` in flight; returns the answers.
async fn burst(gw: &Gateway, key: &str, model: &str, n: usize, concurrency: usize) -> Vec<Answer> {
    futures::stream::iter(0..n)
        .map(|_| ask(gw, key, model, false))
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// `(provider, outcome)` of each attempt of a request log record.
fn outcomes(rec: &Value) -> Vec<(String, String)> {
    rec["attempt_log"]
        .as_array()
        .unwrap_or_else(|| panic!("attempt_log of {rec}"))
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap().to_owned(),
                a["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The request log records of `model`, oldest first, once there are `n`.
async fn records(gw: &Gateway, model: &str, n: i64) -> Vec<Value> {
    let page = gw
        .wait_logs(&format!("model={model}&limit=500"), n, 10)
        .await;
    let mut items = page["items"].as_array().unwrap().clone();
    items.sort_by_key(|r| r["time"].as_str().unwrap_or("").to_owned());
    items
}

async fn health(gw: &Gateway, provider: &str) -> Value {
    let (s, h) = gw.get(&format!("/providers/{provider}/health")).await;
    assert_eq!(s, 200, "{h}");
    h
}

/// The circuit of a provider's (only) upstream.
async fn circuit(gw: &Gateway, provider: &str) -> String {
    let h = health(gw, provider).await;
    h["upstreams"][0]["stats"]["circuit"]
        .as_str()
        .unwrap_or_else(|| panic!("no upstream stats: {h}"))
        .to_owned()
}

fn err500() -> Behavior {
    Behavior::Status(
        500,
        json!({"error": {"message": "boom", "type": "server_error"}}),
        None,
    )
}

fn hits(mocks: &[MockUpstream]) -> Vec<usize> {
    mocks.iter().map(MockUpstream::hits).collect()
}

// ---- 1. Failover ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_fails_over_on_500_and_logs_every_attempt() {
    let (gw, mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    mocks[0].set(err500());
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

/// p1 fails with `behavior` for both a non-stream and a stream request: both succeed on p2
/// after two attempts, and the log names the failure.
async fn fails_over_with(behavior: Behavior, outcome: &str, setup: Option<Value>) {
    let (gw, mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    if let Some(patch) = setup {
        let (s, p) = gw.patch("/providers/p1", patch).await;
        assert_eq!(s, 200, "{p}");
    }
    mocks[0].set(behavior);
    for stream in [false, true] {
        let t = Instant::now();
        let a = ask(&gw, &key, "smart", stream).await;
        a.assert_complete(stream);
        assert_eq!(
            (a.provider.as_str(), a.attempts.as_str()),
            ("p2", "2"),
            "{a:?}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
    }
    assert_eq!(mocks[0].chat_requests(), 2, "p1 was tried each time");
    assert_eq!(mocks[2].hits(), 0, "p3 was never needed");
    for rec in records(&gw, "smart", 2).await {
        assert_eq!(rec["status"], 200, "{rec}");
        assert_eq!(rec["attempts"], 2, "{rec}");
        assert_eq!(rec["provider"], "p2", "{rec}");
        assert_eq!(
            outcomes(&rec),
            pairs(&[("p1", outcome), ("p2", "ok")]),
            "{rec}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_on_503() {
    let b = Behavior::Status(
        503,
        json!({"error": {"message": "overloaded", "type": "server_error"}}),
        None,
    );
    fails_over_with(b, "status_503", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_when_slower_than_the_provider_timeout() {
    let t = Instant::now();
    fails_over_with(
        Behavior::Delay(Duration::from_secs(3)),
        "timeout",
        Some(json!({"timeout_ms": 300})),
    )
    .await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the 300 ms timeout cut both attempts short: {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_on_429_and_cools_the_key_down() {
    let (gw, mocks, key) = three(
        "priority",
        Options::new(Db::Sqlite).env("MODELGATE_KEY_COOLDOWN_MS", "700"),
    )
    .await;
    let limited = |retry_after| {
        Behavior::Status(
            429,
            json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
            retry_after,
        )
    };
    // Retry-After: 3 s the first time; no Retry-After the second time.
    mocks[0].script(vec![limited(Some(3)), limited(None)]);
    let a = ask(&gw, &key, "smart", true).await;
    a.assert_complete(true);
    assert_eq!((a.provider.as_str(), a.attempts.as_str()), ("p2", "2"));
    assert_eq!(mocks[0].hits(), 1);

    let h = health(&gw, "p1").await;
    assert_eq!(h["keys"][0]["state"]["state"], "cooldown", "{h}");
    let left = h["keys"][0]["state"]["cooldown_remaining_ms"]
        .as_u64()
        .unwrap();
    assert!(left > 1000 && left <= 3000, "Retry-After: 3 → ≤ 3 s: {h}");
    assert_ne!(h["status"], "healthy", "{h}");

    // While it cools down, p1 is not even tried.
    for stream in [false, true] {
        let a = ask(&gw, &key, "smart", stream).await;
        a.assert_complete(stream);
        assert_eq!((a.provider.as_str(), a.attempts.as_str()), ("p2", "1"));
    }
    assert_eq!(mocks[0].hits(), 1, "no request reached the cooling key");

    // After Retry-After the key is used again (and answers 429 again: non-stream failover).
    let deadline = Instant::now() + Duration::from_secs(5);
    while health(&gw, "p1").await["keys"][0]["state"]["state"] != "ok" {
        assert!(Instant::now() < deadline, "cooldown never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a = ask(&gw, &key, "smart", false).await;
    a.assert_complete(false);
    assert_eq!((a.provider.as_str(), a.attempts.as_str()), ("p2", "2"));
    assert_eq!(mocks[0].hits(), 2);
    // Without Retry-After the configured cooldown (700 ms) applies.
    let h = health(&gw, "p1").await;
    assert_eq!(h["keys"][0]["state"]["state"], "cooldown", "{h}");
    let left = h["keys"][0]["state"]["cooldown_remaining_ms"]
        .as_u64()
        .unwrap();
    assert!(left > 0 && left <= 700, "MODELGATE_KEY_COOLDOWN_MS: {h}");

    let recs = records(&gw, "smart", 4).await;
    let expected = [
        pairs(&[("p1", "status_429"), ("p2", "ok")]),
        pairs(&[("p2", "ok")]),
        pairs(&[("p2", "ok")]),
        pairs(&[("p1", "status_429"), ("p2", "ok")]),
    ];
    for (rec, want) in recs.iter().zip(expected) {
        assert_eq!(outcomes(rec), want, "{rec}");
        assert_eq!(rec["attempts"], want.len(), "{rec}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_when_the_connection_is_refused() {
    let (gw, mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    gw.add_provider(
        "dead",
        &closed_base_url().await,
        "sk-dead",
        &[("m", "mock-model")],
    )
    .await;
    let (s, lm) = gw
        .post(
            "/logical-models",
            json!({"name": "with-dead", "strategy": "priority", "upstreams": [
                {"provider": "dead", "model": "m", "priority": 1},
                {"provider": "p2", "model": "m", "priority": 2}]}),
        )
        .await;
    assert_eq!(s, 201, "{lm}");
    for stream in [false, true] {
        let a = ask(&gw, &key, "with-dead", stream).await;
        a.assert_complete(stream);
        assert_eq!((a.provider.as_str(), a.attempts.as_str()), ("p2", "2"));
    }
    assert_eq!(mocks[1].chat_requests(), 2);
    for rec in records(&gw, "with-dead", 2).await {
        assert_eq!(
            outcomes(&rec),
            pairs(&[("dead", "connect_error"), ("p2", "ok")]),
            "{rec}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_fails_over_when_broken_or_erroring_before_the_first_chunk() {
    let (gw, mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    mocks[0].script(vec![
        Behavior::StreamDropBeforeFirst,
        Behavior::StreamErrorFirst,
    ]);
    for _ in 0..2 {
        let a = ask(&gw, &key, "smart", true).await;
        a.assert_complete(true);
        assert_eq!((a.provider.as_str(), a.attempts.as_str()), ("p2", "2"));
        assert!(
            !a.text.contains("overloaded"),
            "nothing of p1 reached the client: {a:?}"
        );
    }
    assert_eq!(mocks[0].chat_requests(), 2);
    for rec in records(&gw, "smart", 2).await {
        assert_eq!(rec["status"], 200, "{rec}");
        assert_eq!(
            outcomes(&rec),
            pairs(&[("p1", "broken_response"), ("p2", "ok")]),
            "{rec}"
        );
    }
    let h = health(&gw, "p1").await;
    assert_eq!(h["upstreams"][0]["stats"]["failures"], 2, "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_retried() {
    let (gw, mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    mocks[0].set(Behavior::Status(
        400,
        json!({"error": {"message": "bad parameter 'foo'", "type": "invalid_request_error", "param": "foo", "code": null}}),
        None,
    ));
    for stream in [false, true] {
        let a = ask(&gw, &key, "smart", stream).await;
        assert_eq!(a.status, 400, "{a:?}");
        assert_eq!(a.attempts, "1", "{a:?}");
        assert!(a.text.contains("bad parameter 'foo'"), "{a:?}");
    }
    assert_eq!(mocks[0].hits(), 2);
    assert_eq!(mocks[1].hits() + mocks[2].hits(), 0, "no failover on 400");
    for rec in records(&gw, "smart", 2).await {
        assert_eq!(rec["status"], 400, "{rec}");
        assert_eq!(rec["attempts"], 1, "{rec}");
        assert_eq!(outcomes(&rec), pairs(&[("p1", "status_400")]), "{rec}");
    }
    // A client error says nothing about the upstream's health.
    assert_eq!(circuit(&gw, "p1").await, "closed");
    let (_, m) = gw.get("/providers/p1/metrics").await;
    assert_eq!(m["failures"], 0, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_is_marked_invalid_and_the_next_key_is_used() {
    let gw = Gateway::start_with(Options::new(Db::Sqlite)).await;
    let mock = MockUpstream::start("keys").await;
    mock.set(Behavior::RejectKey("sk-bad".into()));
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "pk", "kind": "openai_compatible", "base_url": mock.base_url(),
                   "api_keys": [{"alias": "k1", "key": "sk-bad"}, {"alias": "k2", "key": "sk-good"}]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, m) = gw
        .post(
            "/providers/pk/models",
            json!({"model_id": "m", "provider_model_id": "mock-model"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let (_, key) = gw.add_key(json!({})).await;

    // Keys rotate, so within two requests one starts with the bad key.
    let mut both = None;
    for (i, stream) in [false, true, false].into_iter().enumerate() {
        let a = ask(&gw, &key, "m", stream).await;
        a.assert_complete(stream);
        if a.attempts == "2" {
            both = Some(i);
            break;
        }
    }
    assert!(both.is_some(), "the bad key was never tried first");
    let n = both.unwrap() as i64 + 1;
    let recs = records(&gw, "m", n).await;
    let rec = recs.last().unwrap();
    let log = rec["attempt_log"].as_array().unwrap();
    assert_eq!(
        (&log[0]["provider"], &log[0]["key"], &log[0]["outcome"]),
        (&json!("pk"), &json!("k1"), &json!("status_401")),
        "{rec}"
    );
    assert_eq!(
        (&log[1]["provider"], &log[1]["key"], &log[1]["outcome"]),
        (&json!("pk"), &json!("k2"), &json!("ok")),
        "{rec}"
    );

    let h = health(&gw, "pk").await;
    let keys = h["keys"].as_array().unwrap();
    let state = |alias: &str| {
        keys.iter()
            .find(|k| k["alias"] == alias)
            .map(|k| k["state"].clone())
            .unwrap()
    };
    assert_eq!(state("k1")["state"], "invalid", "{h}");
    assert!(
        state("k1")["invalid_reason"]
            .as_str()
            .is_some_and(|r| r.contains("Incorrect API key")),
        "{h}"
    );
    assert_eq!(state("k2")["state"], "ok", "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    // The refused key is not an upstream failure.
    assert_eq!(h["upstreams"][0]["stats"]["circuit"], "closed", "{h}");

    // From now on only the good key is used.
    let before = mock.requests().len();
    for stream in [false, true, false, true] {
        let a = ask(&gw, &key, "m", stream).await;
        a.assert_complete(stream);
        assert_eq!(a.attempts, "1", "{a:?}");
    }
    let later = mock.requests();
    assert_eq!(later.len(), before + 4);
    for r in &later[before..] {
        assert_eq!(r.headers["authorization"], "Bearer sk-good");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_attempts_limits_failover() {
    let (gw, mocks, key) = three(
        "priority",
        Options::new(Db::Sqlite).env("MODELGATE_MAX_ATTEMPTS", "2"),
    )
    .await;
    mocks[0].set(err500());
    mocks[1].set(Behavior::Status(
        502,
        json!({"error": {"message": "bad gateway", "type": "server_error"}}),
        None,
    ));
    for stream in [false, true] {
        let a = ask(&gw, &key, "smart", stream).await;
        assert_eq!(a.status, 502, "the last failure is returned: {a:?}");
        assert_eq!(a.attempts, "2", "{a:?}");
        assert!(a.text.contains("bad gateway"), "{a:?}");
    }
    assert_eq!(mocks[2].hits(), 0, "a third attempt was never made");
    for rec in records(&gw, "smart", 2).await {
        assert_eq!(rec["attempts"], 2, "{rec}");
        assert_eq!(
            outcomes(&rec),
            pairs(&[("p1", "status_500"), ("p2", "status_502")]),
            "{rec}"
        );
    }
}

// ---- 2. Fallback chain ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_chain_reaches_another_logical_model() {
    let (gw, mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    let (s, b) = gw
        .post(
            "/logical-models",
            json!({"name": "backup-b", "upstreams": [{"provider": "p3", "model": "m"}]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, a) = gw
        .post(
            "/logical-models",
            json!({"name": "primary-a", "fallback": ["backup-b"], "upstreams": [{"provider": "p1", "model": "m"}]}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["fallback"], json!(["backup-b"]));

    // Healthy: the primary serves.
    let r = ask(&gw, &key, "primary-a", false).await;
    r.assert_complete(false);
    assert_eq!(r.provider, "p1");

    mocks[0].set(err500());
    for stream in [false, true] {
        let r = ask(&gw, &key, "primary-a", stream).await;
        r.assert_complete(stream);
        assert_eq!((r.provider.as_str(), r.attempts.as_str()), ("p3", "2"));
    }
    assert_eq!(mocks[1].hits(), 0, "p2 is not part of either chain");
    let recs = records(&gw, "primary-a", 3).await;
    for rec in &recs[1..] {
        assert_eq!(
            outcomes(rec),
            pairs(&[("p1", "status_500"), ("p3", "ok")]),
            "{rec}"
        );
    }
    // A cycle in the chain is harmless: every upstream is tried once.
    let (s, b) = gw
        .patch(
            "/logical-models/backup-b",
            json!({"fallback": ["primary-a"]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    mocks[2].set(err500());
    let r = ask(&gw, &key, "primary-a", false).await;
    assert_eq!((r.status, r.attempts.as_str()), (500, "2"), "{r:?}");
    mocks[2].set(Behavior::Ok);
    let (s, d) = gw
        .post("/routing/decide", json!({"model": "primary-a"}))
        .await;
    assert_eq!(s, 200, "{d}");
    let groups: Vec<_> = d["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["group"].clone(), c["provider"].clone()))
        .collect();
    assert_eq!(
        groups,
        vec![
            (json!("primary-a"), json!("p1")),
            (json!("backup-b"), json!("p3"))
        ],
        "{d}"
    );
}

// ---- 3. Strategies -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_and_priority_strategies_over_http() {
    let (gw, mocks, key) = three("round_robin", Options::new(Db::Sqlite)).await;

    // round_robin: even.
    let before = hits(&mocks);
    for a in burst(&gw, &key, "smart", 300, 4).await {
        a.assert_complete(false);
    }
    let after = hits(&mocks);
    for i in 0..3 {
        let n = after[i] - before[i];
        assert!(
            (97..=103).contains(&n),
            "round_robin share of p{}: {n} of 300",
            i + 1
        );
    }

    // weighted 1:3.
    let (s, w) = gw
        .post(
            "/logical-models",
            json!({"name": "weighted", "strategy": "weighted_random", "upstreams": [
                {"provider": "p1", "model": "m", "weight": 1},
                {"provider": "p2", "model": "m", "weight": 3}]}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let before = hits(&mocks);
    for a in burst(&gw, &key, "weighted", 400, 4).await {
        a.assert_complete(false);
    }
    let after = hits(&mocks);
    let (a, b) = (after[0] - before[0], after[1] - before[1]);
    assert_eq!(a + b, 400);
    assert_eq!(after[2], before[2], "p3 is not an upstream of `weighted`");
    let share = a as f64 / 400.0;
    assert!(
        (share - 0.25).abs() <= 0.05,
        "weight 1 of 1:3 got {share} ({a} of 400)"
    );

    // priority: everything to the lowest number while healthy …
    let (s, p) = gw
        .post(
            "/logical-models",
            json!({"name": "tiers", "strategy": "priority", "upstreams": [
                {"provider": "p3", "model": "m", "priority": 5},
                {"provider": "p2", "model": "m", "priority": 1},
                {"provider": "p1", "model": "m", "priority": 9}]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let before = hits(&mocks);
    for a in burst(&gw, &key, "tiers", 40, 4).await {
        a.assert_complete(false);
        assert_eq!(a.provider, "p2");
    }
    let after = hits(&mocks);
    assert_eq!(
        (
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        ),
        (0, 40, 0)
    );
    // … and the next tier when it fails.
    mocks[1].set(err500());
    for _ in 0..20 {
        let a = ask(&gw, &key, "tiers", false).await;
        a.assert_complete(false);
        assert_eq!(a.provider, "p3", "{a:?}");
    }
    assert_eq!(mocks[0].hits(), after[0], "the last tier was never needed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_avoids_a_slow_upstream() {
    let (gw, mocks, key) = three("least_connections", Options::new(Db::Sqlite)).await;
    mocks[0].set(Behavior::Delay(Duration::from_millis(300)));
    let answers = burst(&gw, &key, "smart", 60, 6).await;
    for a in &answers {
        a.assert_complete(false);
    }
    let h = hits(&mocks);
    assert_eq!(h.iter().sum::<usize>(), 60);
    assert!(
        h[0] <= 8,
        "the slow upstream should get few of 60 concurrent requests (even would be 20): {h:?}"
    );
    assert!(h[1] >= 20 && h[2] >= 20, "{h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_performance_avoids_a_slow_upstream() {
    let (gw, mocks, key) = three("best_performance", Options::new(Db::Sqlite)).await;
    mocks[2].set(Behavior::Delay(Duration::from_millis(200)));
    for _ in 0..10 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
    }
    let after_warmup = mocks[2].hits();
    assert!(
        (1..=2).contains(&after_warmup),
        "the slow upstream is measured once, then avoided: {:?}",
        hits(&mocks)
    );
    for _ in 0..30 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
    }
    let later = mocks[2].hits() - after_warmup;
    assert!(
        later <= 2,
        "only exploration reaches the slow upstream: {later} of 30 ({:?})",
        hits(&mocks)
    );
    let (_, d) = gw.post("/routing/decide", json!({"model": "smart"})).await;
    assert_ne!(d["chosen"]["provider"], "p3", "{d}");
    let last = d["candidates"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["provider"], "p3", "the slow one is ranked last: {d}");
    assert!(last["ewma_latency_ms"].as_f64().unwrap() > 100.0, "{d}");
}

// ---- 4. Circuit breaker and metrics --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_opens_moves_traffic_and_closes_after_a_half_open_trial() {
    let (gw, mocks, key) = three(
        "round_robin",
        Options::new(Db::Sqlite)
            .env("MODELGATE_CIRCUIT_FAILURE_THRESHOLD", "3")
            .env("MODELGATE_CIRCUIT_OPEN_MS", "500"),
    )
    .await;

    // A single error opens nothing.
    mocks[1].script(vec![err500()]);
    for _ in 0..6 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
    }
    let h = health(&gw, "p2").await;
    assert_eq!(h["upstreams"][0]["stats"]["failures"], 1, "{h}");
    assert_eq!(h["upstreams"][0]["stats"]["circuit"], "closed", "{h}");
    assert_eq!(h["status"], "healthy", "{h}");
    let (s, m) = gw.get("/providers/p2/metrics").await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["failures"], 1, "{m}");
    assert!(m["successes"].as_u64().unwrap() >= 1, "{m}");
    assert_eq!(
        m["requests"].as_u64().unwrap(),
        m["successes"].as_u64().unwrap() + 1,
        "{m}"
    );
    assert!(m["latency_p50_ms"].as_f64().is_some(), "{m}");
    assert!(m["latency_p99_ms"].as_f64().is_some(), "{m}");
    assert_eq!(m["in_flight"], 0, "{m}");
    assert_eq!(m["circuit"], "closed", "{m}");

    // Three consecutive failures open p1's circuit.
    mocks[0].set(err500());
    let mut n = 0;
    while mocks[0].hits() - 2 < 3 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
        n += 1;
        assert!(n < 20, "p1 was not tried three times: {:?}", hits(&mocks));
    }
    let opened = Instant::now();
    let h = health(&gw, "p1").await;
    assert_eq!(h["upstreams"][0]["stats"]["circuit"], "open", "{h}");
    assert_ne!(h["status"], "healthy", "{h}");
    let (_, m) = gw.get("/providers/p1/metrics").await;
    assert_eq!(m["circuit"], "open", "{m}");
    let (s, st) = gw.get("/providers/statistics").await;
    assert_eq!(s, 200, "{st}");
    let row = |name: &str| {
        st.as_array()
            .unwrap()
            .iter()
            .find(|r| r["provider"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no statistics for {name}: {st}"))
    };
    assert_eq!(row("p1")["circuit"], "open", "{st}");
    assert_eq!(row("p1")["status"], "unhealthy", "{st}");
    assert!(row("p1")["failures"].as_u64().unwrap() >= 3, "{st}");
    assert_eq!(row("p3")["circuit"], "closed", "{st}");
    assert!(row("p3")["requests"].as_u64().unwrap() > 0, "{st}");

    // While open, p1 gets nothing.
    let frozen = mocks[0].hits();
    for _ in 0..6 {
        let a = ask(&gw, &key, "smart", false).await;
        a.assert_complete(false);
        assert_eq!(a.attempts, "1", "{a:?}");
    }
    assert!(
        opened.elapsed() < Duration::from_millis(500),
        "too slow to observe the open circuit"
    );
    assert_eq!(mocks[0].hits(), frozen, "an open circuit received traffic");

    // Recovered upstream + open time elapsed → one half-open trial closes it.
    mocks[0].set(Behavior::Ok);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(circuit(&gw, "p1").await, "half_open");
    assert_eq!(
        health(&gw, "p1").await["status"],
        "degraded",
        "recovering, not healthy yet"
    );
    let mut n = 0;
    while mocks[0].hits() == frozen {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
        n += 1;
        assert!(n <= 3, "no half-open trial was sent to p1");
    }
    assert_eq!(circuit(&gw, "p1").await, "closed");
    assert_eq!(health(&gw, "p1").await["status"], "healthy");
    let base = mocks[0].hits();
    for _ in 0..9 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
    }
    assert_eq!(mocks[0].hits() - base, 3, "p1 is back in the rotation");
}

// ---- 5/6. Active probe and connection test -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_probe_reports_up_and_down_without_completions() {
    let (gw, mocks, _key) = three(
        "weighted_random",
        Options::new(Db::Sqlite).env("MODELGATE_HEALTH_PROBE_INTERVAL_SECS", "1"),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let probe = loop {
        let h = health(&gw, "p1").await;
        if h["last_probe"].is_object() {
            break h["last_probe"].clone();
        }
        assert!(Instant::now() < deadline, "no probe within 5 s: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(probe["ok"], true, "{probe}");
    assert!(probe["latency_ms"].as_f64().is_some(), "{probe}");
    assert!(probe["at_ms"].as_i64().unwrap() > 0, "{probe}");

    mocks[0].stop();
    let deadline = Instant::now() + Duration::from_secs(6);
    let h = loop {
        let h = health(&gw, "p1").await;
        if h["last_probe"]["ok"] == false {
            break h;
        }
        assert!(
            Instant::now() < deadline,
            "the stopped mock still probes ok: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(h["last_probe"]["error"].as_str().is_some(), "{h}");
    assert_eq!(h["status"], "unhealthy", "{h}");
    assert_eq!(health(&gw, "p2").await["last_probe"]["ok"], true);

    for m in &mocks[1..] {
        assert!(m.hits() >= 2, "probes reached the mock");
        assert!(
            m.requests().is_empty(),
            "a probe sent something else than GET /v1/models: {:?}",
            m.requests()
                .iter()
                .map(|r| r.path.clone())
                .collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_connection_test() {
    let (gw, mocks, _key) = three("weighted_random", Options::new(Db::Sqlite)).await;
    mocks[0].set_models(&["mock-model", "other-model"]);
    let (s, t) = gw.post("/providers/p1/test", json!({})).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["status"], 200, "{t}");
    assert_eq!(t["models"], 2, "{t}");
    assert_eq!(t["credentials"], "stored", "{t}");
    assert!(t["latency_ms"].as_f64().unwrap() > 0.0, "{t}");
    assert!(t["error"].is_null(), "{t}");

    // No body at all works too.
    let r = gw
        .raw(
            reqwest::Method::POST,
            "/providers/p2/test",
            Cred::Admin,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["ok"], true, "{}", r.text);

    let (s, t) = gw
        .post(
            "/providers/p1/test",
            json!({"credentials": {"api_key": "sk-supplied-123"}}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        (&t["ok"], &t["credentials"]),
        (&json!(true), &json!("supplied")),
        "{t}"
    );

    gw.add_provider("dead", &closed_base_url().await, "sk-dead", &[])
        .await;
    let (s, t) = gw.post("/providers/dead/test", json!({})).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["ok"], false, "{t}");
    assert!(t["error"].as_str().is_some_and(|e| !e.is_empty()), "{t}");

    let (s, _) = gw.post("/providers/nope/test", json!({})).await;
    assert_eq!(s, 404);
    for m in &mocks {
        assert_eq!(m.chat_requests(), 0, "a test never sends a completion");
    }
}

// ---- 7. Sticky sessions and context --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_sessions_pin_repin_and_forget() {
    let (gw, mocks, key) = three("weighted_random", Options::new(Db::Sqlite)).await;
    // Without a session the three upstreams share the traffic.
    for a in burst(&gw, &key, "smart", 30, 1).await {
        a.assert_complete(false);
    }
    assert!(hits(&mocks).iter().all(|&h| h >= 5), "{:?}", hits(&mocks));

    let mut first = String::new();
    for i in 0..50 {
        let a = ask_with(&gw, &key, "smart", &[("x-session-id", "sess-a")], json!({})).await;
        a.assert_complete(false);
        if i == 0 {
            first = a.provider.clone();
        }
        assert_eq!(a.provider, first, "request {i} left the pinned upstream");
    }
    let (s, pin) = gw.get("/routing/sessions/sess-a").await;
    assert_eq!(s, 200, "{pin}");
    assert_eq!(pin["provider"], first.as_str(), "{pin}");
    assert_eq!(pin["requests"], 50, "{pin}");
    assert_eq!(pin["model"], "smart", "{pin}");
    assert_eq!(pin["upstream_model"], "mock-model", "{pin}");

    // The pinned provider goes away: the session moves and re-pins.
    let (s, p) = gw
        .patch(&format!("/providers/{first}"), json!({"enabled": false}))
        .await;
    assert_eq!(s, 200, "{p}");
    let a = ask_with(&gw, &key, "smart", &[("x-session-id", "sess-a")], json!({})).await;
    a.assert_complete(false);
    assert_ne!(a.provider, first);
    let second = a.provider.clone();
    let (_, pin) = gw.get("/routing/sessions/sess-a").await;
    assert_eq!(pin["provider"], second.as_str(), "{pin}");
    assert_eq!(pin["requests"], 51, "{pin}");
    for _ in 0..10 {
        let a = ask_with(&gw, &key, "smart", &[("x-session-id", "sess-a")], json!({})).await;
        assert_eq!(a.provider, second, "the new pin holds");
    }

    let (s, _) = gw.delete("/routing/sessions/sess-a").await;
    assert_eq!(s, 204);
    let (s, _) = gw.get("/routing/sessions/sess-a").await;
    assert_eq!(s, 404);
    let (s, _) = gw.delete("/routing/sessions/sess-a").await;
    assert_eq!(s, 404);

    // Claude Code's header and the body's prompt_cache_key are session ids too.
    type Ask<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value);
    let cases: [Ask<'_>; 2] = [
        (
            "cc-1",
            vec![("x-claude-code-session-id", "cc-1")],
            json!({}),
        ),
        ("pck-1", vec![], json!({"prompt_cache_key": "pck-1"})),
    ];
    for (id, headers, extra) in cases {
        let mut seen = Vec::new();
        for _ in 0..15 {
            let a = ask_with(&gw, &key, "smart", &headers, extra.clone()).await;
            a.assert_complete(false);
            seen.push(a.provider);
        }
        assert!(seen.iter().all(|p| *p == seen[0]), "{id}: {seen:?}");
        let (s, pin) = gw.get(&format!("/routing/sessions/{id}")).await;
        assert_eq!(s, 200, "{pin}");
        assert_eq!(pin["provider"], seen[0].as_str(), "{pin}");
        assert_eq!(pin["requests"], 15, "{pin}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_context_keeps_questions_and_answers() {
    let (gw, _mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    let a = ask_with(
        &gw,
        &key,
        "smart",
        &[("x-session-id", "ctx-ns")],
        json!({"messages": [{"role": "user", "content": "first question"}]}),
    )
    .await;
    a.assert_complete(false);
    let a = ask_with(
        &gw,
        &key,
        "smart",
        &[("x-session-id", "ctx-ns")],
        json!({"messages": [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "Hello from up1"},
            {"role": "user", "content": "second question"}]}),
    )
    .await;
    a.assert_complete(false);
    let a = ask_with(
        &gw,
        &key,
        "smart",
        &[("x-session-id", "ctx-s")],
        json!({"stream": true, "messages": [{"role": "user", "content": "streamed question"}]}),
    )
    .await;
    a.assert_complete(true);

    let (s, c) = gw
        .call_as(
            Cred::Bearer(&key),
            reqwest::Method::GET,
            "/context/ctx-ns",
            None,
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["session_id"], "ctx-ns");
    let msgs: Vec<(Value, Value)> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (json!("user"), json!("first question")),
            (json!("assistant"), json!("Hello from up1")),
            (json!("user"), json!("second question")),
            (json!("assistant"), json!("Hello from up1")),
        ],
        "{c}"
    );

    let deadline = Instant::now() + Duration::from_secs(3);
    let c = loop {
        let (s, c) = gw
            .call_as(
                Cred::Bearer(&key),
                reqwest::Method::GET,
                "/context/ctx-s",
                None,
            )
            .await;
        assert_eq!(s, 200, "{c}");
        if c["messages"].as_array().is_some_and(|m| m.len() == 2) || Instant::now() > deadline {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let msgs: Vec<(Value, Value)> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (json!("user"), json!("streamed question")),
            (json!("assistant"), json!("Hello from the mock")),
        ],
        "{c}"
    );

    let (s, _) = gw
        .call_as(
            Cred::Bearer(&key),
            reqwest::Method::GET,
            "/context/unknown-session",
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = gw
        .call_as(Cred::None, reqwest::Method::GET, "/context/ctx-ns", None)
        .await;
    assert_eq!(s, 401);

    // Another key sees nothing of this key's context under the same session id, and what it
    // adds there stays its own.
    let (_, other) = gw.add_key(json!({})).await;
    let (s, _) = gw
        .call_as(
            Cred::Bearer(&other),
            reqwest::Method::GET,
            "/context/ctx-ns",
            None,
        )
        .await;
    assert_eq!(s, 404, "a different key must not read this context");
    let a = ask_with(
        &gw,
        &other,
        "smart",
        &[("x-session-id", "ctx-ns")],
        json!({"messages": [{"role": "user", "content": "other question"}]}),
    )
    .await;
    a.assert_complete(false);
    let (_, mine) = gw
        .call_as(
            Cred::Bearer(&key),
            reqwest::Method::GET,
            "/context/ctx-ns",
            None,
        )
        .await;
    assert_eq!(mine["messages"].as_array().unwrap().len(), 4, "{mine}");
    assert!(!mine.to_string().contains("other question"));
    let (s, theirs) = gw
        .call_as(
            Cred::Bearer(&other),
            reqwest::Method::GET,
            "/context/ctx-ns",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(theirs["messages"][0]["content"], "other question");
}

// ---- 8. /routing/decide --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_is_a_dry_run_that_predicts_the_pick() {
    let (gw, mocks, key) = three("round_robin", Options::new(Db::Sqlite)).await;
    let (s, d) = gw.post("/routing/decide", json!({"model": "smart"})).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["model"], "smart");
    assert_eq!(d["resolved_model"], "smart");
    assert_eq!(d["source"], "logical_model");
    let cands = d["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 3, "{d}");
    for c in cands {
        assert_eq!(c["circuit"], "closed", "{c}");
        assert!(c["score"].as_f64().is_some(), "{c}");
        assert_eq!(c["strategy"], "round_robin", "{c}");
        assert_eq!(c["upstream_model"], "mock-model", "{c}");
    }
    assert_eq!(d["chosen"]["provider"], cands[0]["provider"], "{d}");
    assert!(d["session"].is_null(), "{d}");

    // Deciding advances nothing and calls nobody; the next request goes where it said.
    for _ in 0..3 {
        let (_, again) = gw.post("/routing/decide", json!({"model": "smart"})).await;
        assert_eq!(again["chosen"], d["chosen"]);
    }
    assert_eq!(hits(&mocks), vec![0, 0, 0]);
    for _ in 0..4 {
        let (_, d) = gw.post("/routing/decide", json!({"model": "smart"})).await;
        let a = ask(&gw, &key, "smart", false).await;
        assert_eq!(d["chosen"]["provider"], a.provider.as_str(), "{d}");
    }

    // With a session: the pin is shown and comes first.
    let a = ask_with(&gw, &key, "smart", &[("x-session-id", "dec-1")], json!({})).await;
    a.assert_complete(false);
    let before = hits(&mocks);
    for _ in 0..3 {
        let (s, d) = gw
            .post(
                "/routing/decide",
                json!({"model": "smart", "session_id": "dec-1"}),
            )
            .await;
        assert_eq!(s, 200, "{d}");
        assert_eq!(d["session"]["provider"], a.provider.as_str(), "{d}");
        assert_eq!(d["session"]["requests"], 1, "{d}");
        assert_eq!(d["candidates"][0]["pinned"], true, "{d}");
        assert_eq!(d["candidates"][0]["provider"], a.provider.as_str(), "{d}");
        assert_eq!(d["chosen"]["provider"], a.provider.as_str(), "{d}");
    }
    assert_eq!(hits(&mocks), before);

    let (s, e) = gw
        .post("/routing/decide", json!({"model": "no-such-model"}))
        .await;
    assert_eq!(s, 404, "{e}");
    common::assert_error_shape(&e);
    assert_eq!(
        hits(&mocks),
        before,
        "an unknown model does not trigger discovery calls"
    );
}

// ---- 9. Resolution order and model management ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_discovery_and_registered_models() {
    let (gw, mocks, key) = three(
        "priority",
        Options::new(Db::Sqlite).env("MODEL_MAPPINGS", r#"{"claude":"smart"}"#),
    )
    .await;
    // MODEL_MAPPINGS from the environment.
    let (s, maps) = gw.get("/admin/model-mappings").await;
    assert_eq!(s, 200, "{maps}");
    assert_eq!(
        maps,
        json!([{"alias": "claude", "actual_model": "smart", "source": "config"}])
    );
    let a = ask(&gw, &key, "claude", false).await;
    a.assert_complete(false);
    assert_eq!(a.provider, "p1");
    let (_, d) = gw.post("/routing/decide", json!({"model": "claude"})).await;
    assert_eq!(
        (&d["source"], &d["resolved_model"]),
        (&json!("alias"), &json!("smart"))
    );

    // An alias through the API.
    let (s, _) = gw.get("/admin/model-mappings").await;
    assert_eq!(s, 200);
    let a = ask(&gw, &key, "fast", false).await;
    assert_eq!(a.status, 404, "{a:?}");
    let (s, m) = gw
        .post(
            "/admin/model-mappings",
            json!({"alias": "fast", "actual_model": "smart"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(
        m,
        json!({"alias": "fast", "actual_model": "smart", "source": "api"})
    );
    for stream in [false, true] {
        let a = ask(&gw, &key, "fast", stream).await;
        a.assert_complete(stream);
        assert_eq!(a.provider, "p1");
    }
    let (_, maps) = gw.get("/admin/model-mappings").await;
    assert!(
        maps.as_array()
            .unwrap()
            .contains(&json!({"alias": "fast", "actual_model": "smart", "source": "api"})),
        "{maps}"
    );
    let (s, e) = gw
        .post(
            "/admin/model-mappings",
            json!({"alias": "x", "actual_model": "x"}),
        )
        .await;
    common::assert_invalid(s, &e, "actual_model");
    let (s, _) = gw.delete("/admin/model-mappings/fast").await;
    assert_eq!(s, 204);
    let (s, _) = gw.delete("/admin/model-mappings/fast").await;
    assert_eq!(s, 404);
    let (s, _) = gw.delete("/admin/model-mappings/claude").await;
    assert_eq!(s, 404, "config mappings are not deleted through the API");
    // A stored mapping of the same alias wins over the config one.
    let (s, _) = gw
        .post(
            "/admin/model-mappings",
            json!({"alias": "claude", "actual_model": "m"}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, maps) = gw.get("/admin/model-mappings").await;
    assert_eq!(
        maps,
        json!([{"alias": "claude", "actual_model": "m", "source": "api"}])
    );
    let (_, d) = gw.post("/routing/decide", json!({"model": "claude"})).await;
    assert_eq!(d["resolved_model"], "m", "{d}");
    assert_eq!(d["candidates"].as_array().unwrap().len(), 3, "{d}");
    assert_eq!(d["candidates"][0]["group"], "m", "{d}");
    let (s, _) = gw.delete("/admin/model-mappings/claude").await;
    assert_eq!(s, 204);
    let (_, maps) = gw.get("/admin/model-mappings").await;
    assert_eq!(
        maps[0]["source"], "config",
        "the config mapping is back: {maps}"
    );
    assert_eq!(ask(&gw, &key, "fast", false).await.status, 404);

    // Registered model names.
    let (s, l) = gw.get("/admin/models").await;
    assert_eq!((s, l), (200, json!([])));
    let (s, m) = gw
        .post(
            "/admin/models",
            json!({"name": "reg-model", "display_name": "Registered", "description": "d"}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    assert_eq!(m["source"], "api");
    let (_, l) = gw.get("/admin/models").await;
    assert_eq!(l[0]["name"], "reg-model", "{l}");
    assert_eq!(l[0]["display_name"], "Registered", "{l}");
    let (s, _) = gw.delete("/admin/models/reg-model").await;
    assert_eq!(s, 204);
    let (s, _) = gw.delete("/admin/models/reg-model").await;
    assert_eq!(s, 404);
    let (_, l) = gw.get("/admin/models").await;
    assert_eq!(l, json!([]));

    // Zero-config discovery: a name only p2's model list has goes to p2 as is.
    mocks[1].set_models(&["mock-model", "disc-model"]);
    let a = ask(&gw, &key, "disc-model", false).await;
    a.assert_complete(false);
    assert_eq!(a.provider, "p2");
    assert_eq!(mocks[1].last().json()["model"], "disc-model");
    // Nothing serves this one.
    let a = ask(&gw, &key, "unknown-model", false).await;
    assert_eq!(a.status, 404, "{a:?}");
}

/// Two providers, p1 the default; returns the gateway, the mocks and a key.
async fn with_default(opts: Options) -> (Gateway, Vec<MockUpstream>, String) {
    let gw = Gateway::start_with(opts).await;
    let mut mocks = Vec::new();
    for i in 1..=2 {
        let m = MockUpstream::start(&format!("up{i}")).await;
        gw.add_provider(
            &format!("p{i}"),
            &m.base_url(),
            "sk-x",
            &[("m", "mock-model")],
        )
        .await;
        mocks.push(m);
    }
    let (s, p) = gw.patch("/providers/p1", json!({"is_default": true})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["is_default"], true, "{p}");
    let (_, key) = gw.add_key(json!({})).await;
    (gw, mocks, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn available_models_and_validate_models() {
    let (gw, mocks, key) = with_default(
        Options::new(Db::Sqlite)
            .env("AVAILABLE_MODELS", "extra-a, extra-b")
            .env("VALIDATE_MODELS", "true"),
    )
    .await;
    let (_, l) = gw.get("/admin/models").await;
    let names: Vec<_> = l
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].clone(), m["source"].clone()))
        .collect();
    assert_eq!(
        names,
        vec![
            (json!("extra-a"), json!("config")),
            (json!("extra-b"), json!("config"))
        ]
    );
    // A model only in AVAILABLE_MODELS is served by the default provider, under its name.
    for stream in [false, true] {
        let a = ask(&gw, &key, "extra-a", stream).await;
        a.assert_complete(stream);
        assert_eq!(a.provider, "p1");
        assert_eq!(mocks[0].last().json()["model"], "extra-a");
    }
    // The catalogue still works.
    ask(&gw, &key, "m", false).await.assert_complete(false);
    // p2 lists a model, but validation refuses names it does not know.
    mocks[1].set_models(&["mock-model", "disc-model"]);
    let before = (mocks[0].chat_requests(), mocks[1].chat_requests());
    let a = ask(&gw, &key, "disc-model", false).await;
    assert_eq!(a.status, 404, "{a:?}");
    assert_eq!((mocks[0].chat_requests(), mocks[1].chat_requests()), before);
    // A name registered through the API becomes available.
    let (s, _) = gw
        .post("/admin/models", json!({"name": "disc-model"}))
        .await;
    assert_eq!(s, 201);
    let a = ask(&gw, &key, "disc-model", false).await;
    a.assert_complete(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_unknown_models_goes_to_the_default_provider() {
    let (gw, mocks, key) =
        with_default(Options::new(Db::Sqlite).env("ALLOW_UNKNOWN_MODELS", "true")).await;
    for stream in [false, true] {
        let a = ask(&gw, &key, "anything-goes", stream).await;
        a.assert_complete(stream);
        assert_eq!(a.provider, "p1");
        assert_eq!(mocks[0].last().json()["model"], "anything-goes");
    }
    assert_eq!(mocks[1].chat_requests(), 0);
    // The default moves: so does the traffic.
    let (s, _) = gw
        .patch("/providers/p1", json!({"is_default": false}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = gw.patch("/providers/p2", json!({"is_default": true})).await;
    assert_eq!(s, 200);
    let a = ask(&gw, &key, "anything-goes", false).await;
    a.assert_complete(false);
    assert_eq!(a.provider, "p2");

    // Without the flag the same name is unknown.
    let (gw2, _mocks2, key2) = with_default(Options::new(Db::Sqlite)).await;
    assert_eq!(ask(&gw2, &key2, "anything-goes", false).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_config_picks_up_providers_and_mappings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("modelgate.toml");
    std::fs::write(&path, "[model_mappings]\nold-alias = \"nothing\"\n").unwrap();
    let gw = Gateway::start_with(
        Options::new(Db::Sqlite)
            .env("MODELGATE_CONFIG", path.to_str().unwrap())
            .env("MODELGATE_ENV_PROVIDERS", "false"),
    )
    .await;
    let (_, key) = gw.add_key(json!({})).await;
    let (_, maps) = gw.get("/admin/model-mappings").await;
    assert_eq!(
        maps,
        json!([{"alias": "old-alias", "actual_model": "nothing", "source": "config"}])
    );
    assert_eq!(ask(&gw, &key, "cfg-alias", false).await.status, 404);

    let mock = MockUpstream::start("cfg").await;
    std::fs::write(
        &path,
        format!(
            r#"
[model_mappings]
cfg-alias = "cm"

[[providers]]
name = "cfgp"
kind = "openai_compatible"
base_url = "{}"
api_keys = ["sk-from-config"]
models = [{{ model_id = "cm", provider_model_id = "mock-model" }}]
"#,
            mock.base_url()
        ),
    )
    .unwrap();
    let (s, r) = gw.post("/admin/reload-config", json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r,
        json!({"reloaded": true, "declared_providers": 1, "model_mappings": 1, "available_models": 0})
    );
    let (_, maps) = gw.get("/admin/model-mappings").await;
    assert_eq!(
        maps,
        json!([{"alias": "cfg-alias", "actual_model": "cm", "source": "config"}])
    );
    for stream in [false, true] {
        let a = ask(&gw, &key, "cfg-alias", stream).await;
        a.assert_complete(stream);
        assert_eq!(a.provider, "cfgp");
    }
    assert_eq!(
        mock.last().headers["authorization"],
        "Bearer sk-from-config"
    );
    let (s, p) = gw.get("/providers/cfgp").await;
    assert_eq!(s, 200, "{p}");

    // A broken file changes nothing.
    std::fs::write(&path, "model_mappings = 3\n[[[").unwrap();
    let (s, e) = gw.post("/admin/reload-config", json!({})).await;
    assert_eq!(s, 422, "{e}");
    ask(&gw, &key, "cfg-alias", false)
        .await
        .assert_complete(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_model_crud_and_validation() {
    let (gw, mocks, key) = three("priority", Options::new(Db::Sqlite)).await;
    let (s, list) = gw.get("/logical-models").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let lm = list[0].clone();
    assert_eq!(lm["name"], "smart");
    assert_eq!(lm["strategy"], "priority");
    assert_eq!(lm["enabled"], true);
    assert_eq!(lm["fallback"], json!([]));
    let id = lm["id"].as_str().unwrap().to_owned();
    let (s, by_id) = gw.get(&format!("/logical-models/{id}")).await;
    assert_eq!(s, 200);
    let (s, by_name) = gw.get("/logical-models/smart").await;
    assert_eq!(s, 200);
    assert_eq!(by_id, by_name);
    assert_eq!(by_id, lm);
    let (s, ups) = gw.get("/logical-models/smart/upstreams").await;
    assert_eq!(s, 200, "{ups}");
    let ups = ups.as_array().unwrap().clone();
    assert_eq!(ups.len(), 3);
    for (i, u) in ups.iter().enumerate() {
        assert_eq!(u["provider"], format!("p{}", i + 1), "{u}");
        assert_eq!(u["model_id"], "m", "{u}");
        assert_eq!(u["provider_model_id"], "mock-model", "{u}");
        assert_eq!(u["priority"], i as i64 + 1, "{u}");
        assert_eq!(u["weight"], 1.0, "{u}");
        assert_eq!(u["enabled"], true, "{u}");
    }
    assert_eq!(json!(ups), lm["upstreams"]);
    let (s, _) = gw.get("/logical-models/nope").await;
    assert_eq!(s, 404);
    let (s, _) = gw.get("/logical-models/nope/upstreams").await;
    assert_eq!(s, 404);

    // Conflicts and validation.
    let (s, e) = gw
        .post("/logical-models", json!({"name": "smart", "upstreams": []}))
        .await;
    assert_eq!(s, 409, "{e}");
    let (s, e) = gw
        .post(
            "/logical-models",
            json!({"name": "x1", "strategy": "fastest"}),
        )
        .await;
    common::assert_invalid(s, &e, "strategy");
    let (s, e) = gw
        .post(
            "/logical-models",
            json!({"name": "x1", "upstreams": [{"provider": "nope", "model": "m"}]}),
        )
        .await;
    common::assert_invalid(s, &e, "upstreams[0]");
    let (s, e) = gw
        .post(
            "/logical-models",
            json!({"name": "x1", "upstreams": [{"provider": "p1", "model": "m"}, {"provider": "p1", "model": "nope"}]}),
        )
        .await;
    common::assert_invalid(s, &e, "upstreams[1]");
    let (s, e) = gw
        .post(
            "/logical-models",
            json!({"name": "x1", "upstreams": [{"model_implementation_id": "no-such-id"}]}),
        )
        .await;
    common::assert_invalid(s, &e, "upstreams[0]");
    let (s, e) = gw
        .post("/logical-models", json!({"name": "x1", "fallback": ["x1"]}))
        .await;
    common::assert_invalid(s, &e, "fallback");
    let (s, e) = gw
        .post(
            "/logical-models",
            json!({"name": "x1", "upstreams": [{"provider": "p1", "model": "m"}, {"provider": "p2", "model": "m"}, {"provider": "p1", "model": "m", "weight": 5}]}),
        )
        .await;
    common::assert_invalid(s, &e, "upstreams[2]");
    let (s, e) = gw
        .patch("/logical-models/smart", json!({"fallback": ["smart"]}))
        .await;
    common::assert_invalid(s, &e, "fallback");
    let (s, e) = gw
        .post("/logical-models", json!({"name": "x1", "bogus": 1}))
        .await;
    assert_eq!(s, 422, "{e}");
    let (_, list) = gw.get("/logical-models").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "nothing invalid was stored"
    );

    // PATCH changes only what it names.
    let (s, p) = gw
        .patch(
            "/logical-models/smart",
            json!({"strategy": "round_robin", "description": "three mocks"}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["strategy"], "round_robin");
    assert_eq!(p["description"], "three mocks");
    assert_eq!(p["upstreams"].as_array().unwrap().len(), 3);
    for _ in 0..6 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
    }
    assert_eq!(hits(&mocks), vec![2, 2, 2], "round_robin after PATCH");
    // A disabled upstream takes no traffic.
    let (s, p) = gw
        .patch(
            "/logical-models/smart",
            json!({"upstreams": [
                {"provider": "p1", "model": "m", "enabled": false},
                {"provider": "p2", "model": "m"},
                {"provider": "p3", "model": "m"}]}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["upstreams"][0]["enabled"], false, "{p}");
    assert_eq!(p["strategy"], "round_robin", "PATCH keeps the strategy");
    for _ in 0..6 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
    }
    assert_eq!(hits(&mocks), vec![2, 5, 5]);

    // A second model; renaming onto a taken name is a conflict.
    let (s, other) = gw
        .post(
            "/logical-models",
            json!({"name": "other", "upstreams": [{"provider": "p3", "model": "m"}]}),
        )
        .await;
    assert_eq!(s, 201, "{other}");
    let (s, e) = gw
        .patch("/logical-models/other", json!({"name": "smart"}))
        .await;
    assert_eq!(s, 409, "{e}");

    // PUT replaces everything.
    let (s, p) = gw
        .put(
            &format!("/logical-models/{id}"),
            json!({"name": "smart", "upstreams": [{"provider": "p2", "model": "m"}]}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["strategy"], "weighted_random");
    assert_eq!(p["description"], "");
    assert_eq!(p["upstreams"].as_array().unwrap().len(), 1);
    let before = hits(&mocks);
    for _ in 0..5 {
        let a = ask(&gw, &key, "smart", false).await;
        assert_eq!(a.provider, "p2");
    }
    assert_eq!(hits(&mocks)[1], before[1] + 5);

    // Disabled: the name no longer resolves.
    let (s, p) = gw
        .patch("/logical-models/smart", json!({"enabled": false}))
        .await;
    assert_eq!((s, &p["enabled"]), (200, &json!(false)), "{p}");
    assert_eq!(ask(&gw, &key, "smart", false).await.status, 404);
    let (s, _) = gw
        .patch("/logical-models/smart", json!({"enabled": true}))
        .await;
    assert_eq!(s, 200);
    ask(&gw, &key, "smart", false).await.assert_complete(false);

    let (s, _) = gw.delete(&format!("/logical-models/{id}")).await;
    assert_eq!(s, 204);
    let (s, _) = gw.get(&format!("/logical-models/{id}")).await;
    assert_eq!(s, 404);
    let (s, _) = gw.delete("/logical-models/smart").await;
    assert_eq!(s, 404);
    assert_eq!(ask(&gw, &key, "smart", false).await.status, 404);
    let (_, list) = gw.get("/logical-models").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_reach_available_and_discovered_models() {
    let (gw, mocks, key) = with_default(
        Options::new(Db::Sqlite)
            .env("AVAILABLE_MODELS", "extra-a")
            .env(
                "MODEL_MAPPINGS",
                r#"{"to-extra":"extra-a","to-disc":"disc-model"}"#,
            ),
    )
    .await;
    mocks[1].set_models(&["mock-model", "disc-model"]);
    let a = ask(&gw, &key, "to-extra", false).await;
    a.assert_complete(false);
    assert_eq!(a.provider, "p1");
    assert_eq!(mocks[0].last().json()["model"], "extra-a");
    let a = ask(&gw, &key, "to-disc", false).await;
    a.assert_complete(false);
    assert_eq!(a.provider, "p2");
    assert_eq!(mocks[1].last().json()["model"], "disc-model");
    let (_, d) = gw
        .post("/routing/decide", json!({"model": "to-extra"}))
        .await;
    assert_eq!(
        (&d["source"], &d["resolved_model"], &d["chosen"]["provider"]),
        (&json!("alias"), &json!("extra-a"), &json!("p1")),
        "{d}"
    );
    // An alias of nothing is still unknown, under the name asked for.
    let (s, _) = gw
        .post(
            "/admin/model-mappings",
            json!({"alias": "to-nothing", "actual_model": "nothing-at-all"}),
        )
        .await;
    assert_eq!(s, 201);
    let a = ask(&gw, &key, "to-nothing", false).await;
    assert_eq!(a.status, 404, "{a:?}");
    assert!(a.text.contains("to-nothing"), "{a:?}");

    // With VALIDATE_MODELS an alias of an available name passes; of a discovered one not.
    let (gw, mocks, key) = with_default(
        Options::new(Db::Sqlite)
            .env("AVAILABLE_MODELS", "extra-a")
            .env("VALIDATE_MODELS", "true")
            .env(
                "MODEL_MAPPINGS",
                r#"{"to-extra":"extra-a","to-disc":"disc-model"}"#,
            ),
    )
    .await;
    mocks[1].set_models(&["mock-model", "disc-model"]);
    ask(&gw, &key, "to-extra", false)
        .await
        .assert_complete(false);
    assert_eq!(mocks[0].last().json()["model"], "extra-a");
    assert_eq!(ask(&gw, &key, "to-disc", false).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_expire_after_the_ttl() {
    let (gw, _mocks, key) = three(
        "weighted_random",
        Options::new(Db::Sqlite).env("MODELGATE_SESSION_TTL_SECS", "1"),
    )
    .await;
    let a = ask_with(&gw, &key, "smart", &[("x-session-id", "short")], json!({})).await;
    a.assert_complete(false);
    let (s, _) = gw.get("/routing/sessions/short").await;
    assert_eq!(s, 200);
    let (s, _) = gw
        .call_as(
            Cred::Bearer(&key),
            reqwest::Method::GET,
            "/context/short",
            None,
        )
        .await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (s, _) = gw.get("/routing/sessions/short").await;
    assert_eq!(s, 404, "the pin outlived its TTL");
    let (s, _) = gw
        .call_as(
            Cred::Bearer(&key),
            reqwest::Method::GET,
            "/context/short",
            None,
        )
        .await;
    assert_eq!(s, 404, "the context outlived its TTL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_half_open_trial_does_not_wedge_the_circuit() {
    let (gw, mocks, key) = three(
        "priority",
        Options::new(Db::Sqlite)
            .env("MODELGATE_CIRCUIT_FAILURE_THRESHOLD", "3")
            .env("MODELGATE_CIRCUIT_OPEN_MS", "500"),
    )
    .await;
    mocks[0].set(err500());
    for _ in 0..3 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
    }
    assert_eq!(circuit(&gw, "p1").await, "open");
    // The half-open trial hangs and its client gives up: the gateway drops the request.
    mocks[0].set(Behavior::Delay(Duration::from_millis(1000)));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .timeout(Duration::from_millis(200))
        .json(&json!({"model": "smart", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    assert!(r.is_err(), "the client timed out");
    assert_eq!(mocks[0].hits(), 4, "the trial reached p1");
    mocks[0].set(Behavior::Ok);
    // Well after the abandoned trial (and its upstream delay) is over, p1 gets a new trial.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        ask(&gw, &key, "smart", false).await.assert_complete(false);
    }
    assert!(
        mocks[0].hits() > 4,
        "p1 never got another trial: {}",
        health(&gw, "p1").await
    );
    assert_eq!(circuit(&gw, "p1").await, "closed");
}
