//! Governance is exact (issue #9): every limit, quota, balance, free credit and budget of a
//! virtual key holds at its boundary over HTTP, on the in-process state backend and on Redis.
//!
//! Each test runs once per state backend (`both_states!`): `memory` (the default) and `redis`
//! (`REDIS_URL` on 127.0.0.1:6379 with a fresh key prefix, so tests never share counters; run
//! when Redis answers, required with `MG_TEST_REDIS=1`). The request log is read from the
//! gateway's database directly (its fields `credit_used`, `balance_charged`, `usage_estimated`
//! and `cache` are what settlement wrote). Two instances on one PostgreSQL and one Redis are in
//! `instances_governance.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The Redis proxy's tasks are aborted with the test; nothing waits for them.
#![allow(clippy::disallowed_methods)]

mod common;

use common::mock::{Behavior, MockUpstream};
use common::{Db, Gateway, Options};
use futures::StreamExt;
use modelgate_store::request_logs::RequestLogFilter;
use modelgate_store::{Database, Page, RequestLogRecord};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Which state backend a gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Whether the Redis variants run: with `MG_TEST_REDIS=1` always (a missing server fails the
/// test), otherwise when 127.0.0.1:6379 accepts a connection.
pub fn redis_enabled() -> bool {
    if std::env::var("MG_TEST_REDIS").as_deref() == Ok("1") {
        return true;
    }
    let ok = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().unwrap(),
        Duration::from_millis(200),
    )
    .is_ok();
    if !ok {
        eprintln!("SKIPPED: Redis is not reachable on 127.0.0.1:6379; Redis variant not run");
    }
    ok
}

/// A Redis key prefix no other test uses.
pub fn fresh_prefix() -> String {
    format!("mgtest:{}:", uuid::Uuid::now_v7().simple())
}

/// Gateway options on a backend (SQLite database).
fn options(b: Backend) -> Options {
    let o = Options::new(Db::Sqlite).env("MODELGATE_CIRCUIT_FAILURE_THRESHOLD", "1000");
    match b {
        Backend::Memory => o,
        Backend::Redis => o
            .env("REDIS_URL", REDIS_URL)
            .env("MODELGATE_REDIS_PREFIX", &fresh_prefix()),
    }
}

/// Runs an async test body once per state backend.
macro_rules! both_states {
    ($name:ident, $body:ident $(, $attr:meta)*) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn memory() {
                $body(Backend::Memory).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn redis() {
                if redis_enabled() {
                    $body(Backend::Redis).await;
                }
            }
        }
    };
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("not a decimal: {s:?}"))
}

fn opt_dec(s: &Option<String>) -> Decimal {
    s.as_deref().map_or(Decimal::ZERO, dec)
}

/// A gateway on `b` with a mock provider `mock` serving `models` (each `(model_id, pricing)`).
async fn setup(
    b: Backend,
    env: &[(&str, &str)],
    free_credit: Option<Value>,
    models: &[(&str, Value)],
) -> (Gateway, MockUpstream) {
    let mut o = options(b);
    for (k, v) in env {
        o = o.env(k, v);
    }
    let gw = Gateway::start_with(o).await;
    if b == Backend::Redis {
        assert!(
            gw.log_text().contains("shared state on Redis"),
            "the gateway is not on Redis: {}",
            gw.log_text()
        );
    }
    let mock = MockUpstream::start("mock").await;
    let mut p = json!({"name": "mock", "kind": "openai_compatible", "base_url": mock.base_url(),
                       "api_keys": [{"alias": "k1", "key": "sk-up"}]});
    if let Some(fc) = free_credit {
        p["free_credit"] = fc;
    }
    let (s, body) = gw.post("/providers", p).await;
    assert_eq!(s, 201, "provider: {body}");
    for (model, pricing) in models {
        let (s, m) = gw
            .post(
                "/providers/mock/models",
                json!({"model_id": model, "provider_model_id": "mock-model", "pricing_info": pricing}),
            )
            .await;
        assert_eq!(s, 201, "model: {m}");
    }
    (gw, mock)
}

/// A key with these fields; returns (id, plaintext).
async fn key(gw: &Gateway, fields: Value) -> (String, String) {
    gw.add_key(fields).await
}

/// The body of a chat request, serialized (its length is the input-token estimate × 3).
fn chat_body(model: &str, content: &str, max_tokens: Option<u64>, stream: bool) -> String {
    let mut b = json!({"model": model, "messages": [{"role": "user", "content": content}]});
    if let Some(m) = max_tokens {
        b["max_tokens"] = json!(m);
    }
    if stream {
        b["stream"] = json!(true);
    }
    b.to_string()
}

/// The gateway's worst case for a body: `ceil(len / 3)` input tokens plus `max_tokens`.
fn worst_case(body: &str, max_tokens: u64) -> u64 {
    (body.len() as u64).div_ceil(3) + max_tokens
}

/// A chat body whose worst case is exactly `total` tokens.
fn body_with_worst_case(model: &str, total: u64) -> String {
    for m in (0..total).rev() {
        let b = chat_body(model, "count me", Some(m), false);
        if worst_case(&b, m) == total {
            return b;
        }
    }
    panic!("no max_tokens gives a worst case of {total}");
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn post_raw(
    gw: &Gateway,
    path: &str,
    key: &str,
    body: String,
    extra: &[(&str, &str)],
) -> Resp {
    let mut rb = gw
        .client
        .post(gw.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.expect("request sent");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn chat(gw: &Gateway, key: &str, body: String) -> Resp {
    post_raw(gw, "/v1/chat/completions", key, body, &[]).await
}

/// The request log of a key, read from the gateway's database (oldest first).
async fn records(gw: &Gateway, key_id: &str) -> Vec<RequestLogRecord> {
    let url = gw
        .options
        .database_url
        .clone()
        .or_else(|| gw.pg.as_ref().map(|p| p.url.clone()));
    let db = Database::connect(url.as_deref(), &gw.data_dir)
        .await
        .expect("the gateway's database opens");
    let filter = RequestLogFilter {
        key_id: Some(key_id.to_owned()),
        ..Default::default()
    };
    let mut out = db
        .query_request_logs(
            &filter,
            Page {
                skip: 0,
                limit: 10_000,
            },
        )
        .await
        .expect("request log query");
    db.close().await;
    out.sort_by(|a, b| a.ts_ms.cmp(&b.ts_ms).then(a.id.cmp(&b.id)));
    out
}

/// Waits until the key has `n` request-log records (settled: the record is written after the
/// reservation is settled), or panics after `secs`.
async fn wait_records(gw: &Gateway, key_id: &str, n: usize, secs: u64) -> Vec<RequestLogRecord> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = records(gw, key_id).await;
        if r.len() >= n || Instant::now() > deadline {
            assert_eq!(r.len(), n, "request log records of key {key_id}: {r:#?}");
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn usage(gw: &Gateway, key_id: &str) -> Value {
    let (s, u) = gw.get(&format!("/admin/api-keys/{key_id}/usage")).await;
    assert_eq!(s, 200, "usage view: {u}");
    u
}

/// The gateway's warning and error log lines (state backend trouble shows here).
fn warnings(gw: &Gateway) -> String {
    gw.log_text()
        .lines()
        .filter(|l| {
            l.contains("WARN")
                || l.contains("ERROR")
                || l.contains("\"warn")
                || l.contains("\"error")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_refused(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    common::assert_error_shape(&r.body);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
}

/// Prices where a request costs exactly `per_request` (tokens are free).
fn per_request(amount: &str) -> Value {
    json!({"input": 0, "output": 0, "per_request": amount})
}

// ---- 1. Request limits at their boundary ----------------------------------------------------

async fn rpm_exact_with_headers(b: Backend) {
    let (gw, mock) = setup(b, &[], None, &[("m", json!({}))]).await;
    let (_, k) = key(&gw, json!({"rpm": 3})).await;
    for want in ["2", "1", "0"] {
        let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("3"));
        assert_eq!(r.header("x-ratelimit-remaining-requests"), Some(want));
        assert_eq!(r.header("x-ratelimit-reset-requests"), Some("60s"));
    }
    let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
    assert_eq!(r.body["error"]["type"], "rate_limit_error");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After on a 429")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // The refused request never reached the upstream.
    assert_eq!(mock.chat_requests(), 3);

    // An Anthropic client is refused in its own shape.
    let r = gw
        .client
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &k)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["error"]["type"], "rate_limit_error", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{e}"
    );
    assert_eq!(mock.chat_requests(), 3);
}
both_states!(rpm, rpm_exact_with_headers);

async fn rph_exact(b: Backend) {
    let (gw, _mock) = setup(b, &[], None, &[("m", json!({}))]).await;
    let (_, k) = key(&gw, json!({"rph": 2})).await;
    for want in ["1", "0"] {
        let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("2"));
        assert_eq!(r.header("x-ratelimit-remaining-requests"), Some(want));
        assert_eq!(r.header("x-ratelimit-reset-requests"), Some("1h"));
    }
    let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
    assert!(r.header("retry-after").is_some());
}
both_states!(rph, rph_exact);

async fn tpm_worst_case_boundary(b: Backend) {
    let (gw, mock) = setup(b, &[], None, &[("m", json!({}))]).await;
    let (id, k) = key(&gw, json!({"tpm": 1000})).await;
    // A worst case one token over the limit is refused before anything is used.
    // (It can never fit, so no wait is promised.)
    let r = chat(&gw, &k, body_with_worst_case("m", 1001)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
    assert_eq!(mock.chat_requests(), 0);
    // Exactly the limit fits.
    let r = chat(&gw, &k, body_with_worst_case("m", 1000)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-ratelimit-limit-tokens"), Some("1000"));
    assert_eq!(r.header("x-ratelimit-remaining-tokens"), Some("0"));
    assert_eq!(r.header("x-ratelimit-reset-tokens"), Some("60s"));
    // Settled to the real usage: 12 + 7 = 19 tokens are used, 981 remain.
    let recs = wait_records(&gw, &id, 2, 10).await;
    assert_eq!(
        recs.iter().find(|r| r.status == 200).unwrap().total_tokens,
        19
    );
    let r = chat(&gw, &k, body_with_worst_case("m", 982)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
    // It fits once the used tokens leave the window.
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let r = chat(&gw, &k, body_with_worst_case("m", 981)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-ratelimit-remaining-tokens"), Some("0"));
    assert_eq!(mock.chat_requests(), 2);
}
both_states!(tpm, tpm_worst_case_boundary);

async fn request_quotas(b: Backend) {
    let (gw, mock) = setup(b, &[], None, &[("m", json!({}))]).await;
    for field in ["daily_requests", "monthly_requests"] {
        let (_, k) = key(&gw, json!({ field: 2 })).await;
        for _ in 0..2 {
            let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
            assert_eq!(r.status, 200, "{field}: {}", r.text);
        }
        let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
        assert_refused(&r, 429, "quota_exceeded");
        assert_eq!(r.body["error"]["type"], "rate_limit_error");
        assert!(r.header("retry-after").is_some(), "{field}");
    }
    assert_eq!(mock.chat_requests(), 4);
}
both_states!(quotas, request_quotas);

async fn token_quota(b: Backend) {
    let (gw, _mock) = setup(b, &[], None, &[("m", json!({}))]).await;
    for field in ["daily_tokens", "monthly_tokens"] {
        let (id, k) = key(&gw, json!({ field: 500 })).await;
        let r = chat(&gw, &k, body_with_worst_case("m", 501)).await;
        assert_refused(&r, 429, "quota_exceeded");
        let r = chat(&gw, &k, body_with_worst_case("m", 500)).await;
        assert_eq!(r.status, 200, "{field}: {}", r.text);
        wait_records(&gw, &id, 2, 10).await;
        // 19 tokens used: a worst case of 482 no longer fits, 481 does.
        let r = chat(&gw, &k, body_with_worst_case("m", 482)).await;
        assert_refused(&r, 429, "quota_exceeded");
        let r = chat(&gw, &k, body_with_worst_case("m", 481)).await;
        assert_eq!(r.status, 200, "{field}: {}", r.text);
    }
}
both_states!(token_quotas, token_quota);

// ---- 2. Concurrency -------------------------------------------------------------------------

async fn concurrency_limit(b: Backend) {
    let (gw, mock) = setup(b, &[], None, &[("m", json!({}))]).await;
    let (id, k) = key(&gw, json!({"max_concurrency": 2})).await;
    mock.set(Behavior::StreamHold);
    let mut held = Vec::new();
    for _ in 0..2 {
        let r = gw
            .client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(&k)
            .header("content-type", "application/json")
            .body(chat_body("m", "hold", None, true))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut s = r.bytes_stream();
        let mut seen = String::new();
        while !seen.contains("first ") {
            let c = tokio::time::timeout(Duration::from_secs(5), s.next())
                .await
                .expect("the first chunk arrives")
                .unwrap()
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&c));
        }
        held.push(s);
    }
    let r = chat(&gw, &k, chat_body("m", "third", None, false)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
    assert_eq!(mock.chat_requests(), 2);
    mock.set(Behavior::Ok);
    mock.release();
    for mut s in held {
        while let Some(Ok(_)) = s.next().await {}
    }
    // Both leases are given back when the streams are settled.
    let recs = wait_records(&gw, &id, 3, 10).await;
    assert_eq!(recs.iter().filter(|r| r.status == 200).count(), 2);
    let r = chat(&gw, &k, chat_body("m", "again", None, false)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
both_states!(concurrency, concurrency_limit);

// ---- 3. Prepaid balance ---------------------------------------------------------------------

async fn balance_never_overdrawn(b: Backend) {
    let (gw, mock) = setup(b, &[], None, &[("m", per_request("0.01"))]).await;
    let (id, k) = key(&gw, json!({"balance": "0.50"})).await;
    // Failures before any output cost nothing.
    mock.set(Behavior::Status(
        500,
        json!({"error": {"message": "boom"}}),
        None,
    ));
    for _ in 0..2 {
        let r = chat(&gw, &k, chat_body("m", "fail", None, false)).await;
        assert!(r.status >= 500, "{}", r.text);
    }
    let recs = wait_records(&gw, &id, 2, 10).await;
    assert!(recs.iter().all(|r| opt_dec(&r.cost).is_zero()), "{recs:#?}");
    assert!(recs.iter().all(|r| opt_dec(&r.balance_charged).is_zero()));
    assert_eq!(usage(&gw, &id).await["balance"], "0.5");
    mock.set(Behavior::Ok);

    // 200 at once against exactly 50 worst cases.
    let body = chat_body("m", "spend", Some(16), false);
    let futs = (0..200).map(|_| chat(&gw, &k, body.clone()));
    let results = futures::future::join_all(futs).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 50, "admitted; gateway warnings:\n{}", warnings(&gw));
    for r in results.iter().filter(|r| r.status != 200) {
        assert_refused(r, 402, "insufficient_quota");
    }
    let recs = wait_records(&gw, &id, 202, 20).await;
    let u = usage(&gw, &id).await;
    let balance = dec(u["balance"].as_str().unwrap());
    assert!(!balance.is_sign_negative(), "{u}");
    let charged: Decimal = recs.iter().map(|r| opt_dec(&r.balance_charged)).sum();
    assert_eq!(charged, dec("0.5"));
    assert_eq!(
        dec(u["balance_credited"].as_str().unwrap()) - balance,
        charged
    );
    assert_eq!(balance, Decimal::ZERO);

    // A top-up admits exactly what it covers.
    let (s, t) = gw
        .post(
            &format!("/admin/api-keys/{id}/balance"),
            json!({"add": "0.05"}),
        )
        .await;
    assert!(s == 200 || s == 201, "top-up: {t}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ok = 0;
    let mut sent = 202;
    while ok < 5 {
        let r = chat(&gw, &k, body.clone()).await;
        sent += 1;
        if r.status == 200 {
            ok += 1;
        } else {
            // The key ring picks the credit up within its poll interval.
            assert!(ok == 0 && Instant::now() < deadline, "{}", r.text);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let r = chat(&gw, &k, body.clone()).await;
    assert_refused(&r, 402, "insufficient_quota");
    let recs = wait_records(&gw, &id, sent + 1, 10).await;
    assert_eq!(recs.iter().filter(|r| r.status == 200).count(), 55);
    let charged: Decimal = recs.iter().map(|r| opt_dec(&r.balance_charged)).sum();
    assert_eq!(charged, dec("0.55"));
    let u = usage(&gw, &id).await;
    assert_eq!(u["balance"], "0", "{u}");
    assert_eq!(u["balance_credited"], "0.55", "{u}");
}
both_states!(balance, balance_never_overdrawn);

// ---- 4. Free credits before the balance -----------------------------------------------------

/// Input 0.001 and output 0.002 per token: the mock's 12 + 7 tokens cost 0.026.
fn token_prices() -> Value {
    json!({"input": 1000, "output": 2000})
}

async fn money_grant_then_balance(b: Backend) {
    let (gw, _mock) = setup(
        b,
        &[],
        Some(json!({"type": "money", "amount": "0.03"})),
        &[("m", per_request("0.01"))],
    )
    .await;
    let (id, k) = key(&gw, json!({"balance": "0.05"})).await;
    for i in 0..8 {
        let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
        wait_records(&gw, &id, i + 1, 10).await;
    }
    let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
    assert_refused(&r, 402, "insufficient_quota");
    let recs = wait_records(&gw, &id, 9, 10).await;
    for (i, r) in recs.iter().take(8).enumerate() {
        assert_eq!(opt_dec(&r.cost), dec("0.01"), "{r:?}");
        if i < 3 {
            assert_eq!(opt_dec(&r.credit_used), dec("0.01"), "grant first: {r:?}");
            assert_eq!(opt_dec(&r.balance_charged), Decimal::ZERO, "{r:?}");
        } else {
            assert_eq!(opt_dec(&r.credit_used), Decimal::ZERO, "{r:?}");
            assert_eq!(
                opt_dec(&r.balance_charged),
                dec("0.01"),
                "then balance: {r:?}"
            );
        }
    }
    let u = usage(&gw, &id).await;
    assert_eq!(u["balance"], "0", "{u}");
    let c = &u["credits"][0];
    assert_eq!(c["type"], "money", "{u}");
    assert_eq!(c["provider"], "mock");
    assert_eq!(c["granted"], "0.03");
    assert_eq!(c["used"], "0.03");
    assert_eq!(c["remaining"], "0");
}
both_states!(money_grant, money_grant_then_balance);

async fn token_grant_shared_by_models(b: Backend) {
    let (gw, _mock) = setup(
        b,
        &[],
        Some(json!({"type": "tokens", "tokens": 45})),
        &[("m1", token_prices()), ("m2", token_prices())],
    )
    .await;
    let (id, k) = key(&gw, json!({"balance": "1.00"})).await;
    for (i, model) in ["m1", "m2", "m1", "m2"].iter().enumerate() {
        let r = chat(&gw, &k, chat_body(model, "hi", Some(16), false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        wait_records(&gw, &id, i + 1, 10).await;
    }
    let recs = records(&gw, &id).await;
    let used: Vec<_> = recs.iter().map(|r| r.credit_used.clone()).collect();
    // 19 + 19 from the grant, then the last 7 tokens, all input (input first), then none.
    assert_eq!(
        used,
        [
            Some("19 tokens".to_owned()),
            Some("19 tokens".to_owned()),
            Some("7 tokens".to_owned()),
            Some("0 tokens".to_owned())
        ],
        "{recs:#?}"
    );
    let charged: Vec<Decimal> = recs.iter().map(|r| opt_dec(&r.balance_charged)).collect();
    // Third: 5 input tokens (0.005) + 7 output (0.014) billed; fourth: all of it.
    assert_eq!(
        charged,
        [Decimal::ZERO, Decimal::ZERO, dec("0.019"), dec("0.026")]
    );
    for r in &recs {
        assert_eq!(opt_dec(&r.cost), dec("0.026"), "{r:?}");
    }
    let u = usage(&gw, &id).await;
    assert_eq!(
        dec(u["balance"].as_str().unwrap()),
        dec("1") - dec("0.045"),
        "{u}"
    );
    let credits = u["credits"].as_array().unwrap();
    assert_eq!(credits.len(), 1, "{u}");
    assert_eq!(credits[0]["type"], "tokens");
    assert!(credits[0].get("model").is_none_or(Value::is_null), "{u}");
    assert_eq!(credits[0]["granted"], "45");
    assert_eq!(credits[0]["used"], "45");
    assert_eq!(credits[0]["remaining"], "0");
}
both_states!(token_grant, token_grant_shared_by_models);

async fn model_token_grant_split(b: Backend) {
    let (gw, _mock) = setup(
        b,
        &[],
        Some(json!({"type": "model_tokens", "tokens": 15})),
        &[("m1", token_prices()), ("m2", token_prices())],
    )
    .await;
    let (id, k) = key(&gw, json!({"balance": "1.00"})).await;
    for (i, model) in ["m1", "m2", "m1"].iter().enumerate() {
        let r = chat(&gw, &k, chat_body(model, "hi", Some(16), false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        wait_records(&gw, &id, i + 1, 10).await;
    }
    let recs = records(&gw, &id).await;
    // Each model has its own 15 tokens: 12 input + 3 output covered, 4 output billed (0.008).
    let used: Vec<_> = recs
        .iter()
        .map(|r| r.credit_used.clone().unwrap_or_default())
        .collect();
    assert_eq!(used, ["15 tokens", "15 tokens", "0 tokens"], "{recs:#?}");
    let charged: Vec<Decimal> = recs.iter().map(|r| opt_dec(&r.balance_charged)).collect();
    assert_eq!(charged, [dec("0.008"), dec("0.008"), dec("0.026")]);
    let u = usage(&gw, &id).await;
    let mut credits: Vec<(String, String, String, String, String)> = u["credits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |f: &str| c[f].as_str().unwrap_or_default().to_owned();
            (
                s("model"),
                s("type"),
                s("granted"),
                s("used"),
                s("remaining"),
            )
        })
        .collect();
    credits.sort();
    let row = |m: &str| {
        (
            m.to_owned(),
            "model_tokens".to_owned(),
            "15".to_owned(),
            "15".to_owned(),
            "0".to_owned(),
        )
    };
    assert_eq!(credits, [row("m1"), row("m2")], "{u}");
    assert_eq!(
        dec(u["balance"].as_str().unwrap()),
        dec("1") - dec("0.042"),
        "{u}"
    );
}
both_states!(model_token_grant, model_token_grant_split);

// ---- 5. Budgets -----------------------------------------------------------------------------

async fn total_budget_refuses_when_used_up(b: Backend) {
    let (gw, mock) = setup(b, &[], None, &[("m", per_request("0.01"))]).await;
    let (id, k) = key(&gw, json!({"budget": "0.02"})).await;
    // Failed requests (the upstream answers 500 before any output) are not billed.
    mock.set(Behavior::Status(
        500,
        json!({"error": {"message": "boom"}}),
        None,
    ));
    for _ in 0..3 {
        let r = chat(&gw, &k, chat_body("m", "fail", Some(16), false)).await;
        assert!(r.status >= 500, "{}", r.text);
    }
    let recs = wait_records(&gw, &id, 3, 10).await;
    assert!(recs.iter().all(|r| opt_dec(&r.cost).is_zero()), "{recs:#?}");
    mock.set(Behavior::Ok);
    for _ in 0..2 {
        let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
    assert_refused(&r, 402, "insufficient_quota");
    let recs = wait_records(&gw, &id, 6, 10).await;
    let cost: Decimal = recs.iter().map(|r| opt_dec(&r.cost)).sum();
    assert_eq!(cost, dec("0.02"));
}
both_states!(total_budget, total_budget_refuses_when_used_up);

async fn daily_budget_refuses_when_used_up(b: Backend) {
    let (gw, _mock) = setup(b, &[], None, &[("m", per_request("0.01"))]).await;
    let (id, k) = key(
        &gw,
        json!({"budget": {"amount": "0.02", "period": "daily"}}),
    )
    .await;
    for _ in 0..2 {
        let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
    assert_refused(&r, 402, "insufficient_quota");
    wait_records(&gw, &id, 3, 10).await;
    let u = usage(&gw, &id).await;
    assert_eq!(u["budget"]["period"], "daily", "{u}");
    assert_eq!(u["budget"]["amount"], "0.02", "{u}");
    assert_eq!(u["budget"]["used"], "0.02", "{u}");
    assert_eq!(u["budget"]["remaining"], "0", "{u}");
}
both_states!(daily_budget, daily_budget_refuses_when_used_up);

// ---- 6. Aborted streams are billed as delivered ---------------------------------------------

async fn aborted_stream_billed_as_delivered(b: Backend) {
    let (gw, mock) = setup(b, &[], None, &[("m", token_prices())]).await;
    let (id, k) = key(&gw, json!({"rpm": 1000, "balance": "100"})).await;
    mock.set(Behavior::StreamSlow);
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&k)
        .header("content-type", "application/json")
        .body(chat_body("m", "tell me a long story", None, true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("t3 ") {
        let c = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("chunks arrive")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&c));
    }
    drop(s);
    let recs = wait_records(&gw, &id, 1, 10).await;
    let rec = &recs[0];
    assert_eq!(rec.status, 499, "{rec:?}");
    assert!(rec.usage_estimated, "{rec:?}");
    assert!(rec.completion_tokens > 0, "{rec:?}");
    assert!(rec.prompt_tokens > 0, "{rec:?}");
    assert!(opt_dec(&rec.cost) > Decimal::ZERO, "{rec:?}");
    // What was delivered is charged to the balance, exactly.
    assert_eq!(opt_dec(&rec.balance_charged), opt_dec(&rec.cost), "{rec:?}");
    let u = usage(&gw, &id).await;
    assert_eq!(
        dec(u["balance"].as_str().unwrap()),
        dec("100") - opt_dec(&rec.cost),
        "{u}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !mock.cancelled() {
        assert!(
            Instant::now() < deadline,
            "the upstream stream was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
both_states!(aborted_stream, aborted_stream_billed_as_delivered);

// ---- 7. Response cache ----------------------------------------------------------------------

async fn cache_hits_are_free_but_counted(b: Backend) {
    let (gw, mock) = setup(
        b,
        &[("CACHE_ENABLED", "true")],
        None,
        &[("m", token_prices())],
    )
    .await;
    let (id, k) = key(&gw, json!({"rpm": 4, "tenant_id": "t1", "balance": "100"})).await;
    let body = chat_body("m", "cache me", None, false);
    let r1 = chat(&gw, &k, body.clone()).await;
    assert_eq!(r1.status, 200, "{}", r1.text);
    assert_eq!(r1.header("x-modelgate-cache"), Some("miss"));
    let r2 = chat(&gw, &k, body.clone()).await;
    assert_eq!(r2.status, 200, "{}", r2.text);
    assert_eq!(r2.header("x-modelgate-cache"), Some("hit"));
    assert_eq!(r2.header("x-ratelimit-remaining-requests"), Some("2"));
    assert_eq!(
        r2.body["choices"][0]["message"]["content"],
        r1.body["choices"][0]["message"]["content"]
    );
    assert_eq!(mock.chat_requests(), 1);

    // The same request streamed is answered from the cache as a stream.
    let r3 = post_raw(
        &gw,
        "/v1/chat/completions",
        &k,
        chat_body("m", "cache me", None, true),
        &[],
    )
    .await;
    assert_eq!(r3.status, 200, "{}", r3.text);
    assert_eq!(r3.header("x-modelgate-cache"), Some("hit"));
    assert!(
        r3.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream")),
        "{:?}",
        r3.headers
    );
    assert!(r3.text.contains("Hello from mock"), "{}", r3.text);
    assert!(r3.text.contains("data: [DONE]"), "{}", r3.text);
    assert_eq!(mock.chat_requests(), 1);

    // Cache-Control: no-cache goes to the upstream.
    let r4 = post_raw(
        &gw,
        "/v1/chat/completions",
        &k,
        body.clone(),
        &[("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(r4.status, 200, "{}", r4.text);
    assert_ne!(r4.header("x-modelgate-cache"), Some("hit"));
    assert_eq!(mock.chat_requests(), 2);
    assert_eq!(r4.header("x-ratelimit-remaining-requests"), Some("0"));

    // Hits counted against rpm: the fifth request is refused.
    let r5 = chat(&gw, &k, body.clone()).await;
    assert_refused(&r5, 429, "rate_limit_exceeded");

    let recs = wait_records(&gw, &id, 5, 10).await;
    let hits: Vec<_> = recs
        .iter()
        .filter(|r| r.cache.as_deref() == Some("hit"))
        .collect();
    assert_eq!(hits.len(), 2, "{recs:#?}");
    for h in &hits {
        assert!(opt_dec(&h.cost).is_zero(), "a hit costs nothing: {h:?}");
        assert!(opt_dec(&h.balance_charged).is_zero(), "{h:?}");
        assert_eq!(h.status, 200);
    }
    let u = usage(&gw, &id).await;
    assert_eq!(dec(u["balance"].as_str().unwrap()), dec("99.948"), "{u}");
    let misses = recs
        .iter()
        .filter(|r| r.cache.as_deref() == Some("miss"))
        .count();
    assert_eq!(misses, 1, "{recs:#?}");
    assert_eq!(
        recs.iter()
            .filter(|r| opt_dec(&r.cost) == dec("0.026"))
            .count(),
        2,
        "the two upstream answers are billed: {recs:#?}"
    );

    // Another tenant's key never sees the entry; the same tenant's other key does.
    let (_, other) = key(&gw, json!({"tenant_id": "t2"})).await;
    let r = chat(&gw, &other, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-modelgate-cache"), Some("miss"));
    assert_eq!(mock.chat_requests(), 3);
    let (_, same) = key(&gw, json!({"tenant_id": "t1"})).await;
    let r = chat(&gw, &same, body.clone()).await;
    assert_eq!(r.header("x-modelgate-cache"), Some("hit"));
    assert_eq!(mock.chat_requests(), 3);
}
both_states!(cache, cache_hits_are_free_but_counted);

// ---- 8. Redis down --------------------------------------------------------------------------

async fn closed_redis_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("redis://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_open_on_local_limits() {
    let url = closed_redis_url().await;
    let (gw, mock) = setup(
        Backend::Memory,
        &[
            ("REDIS_URL", &url),
            ("MODELGATE_REDIS_PREFIX", &fresh_prefix()),
        ],
        None,
        &[("m", json!({}))],
    )
    .await;
    let (_, k) = key(&gw, json!({"rpm": 2})).await;
    for _ in 0..2 {
        let t = Instant::now();
        let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "took {:?}",
            t.elapsed()
        );
    }
    // The limit still holds, per instance.
    let t = Instant::now();
    let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(mock.chat_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_with_503() {
    let url = closed_redis_url().await;
    let (gw, mock) = setup(
        Backend::Memory,
        &[
            ("REDIS_URL", &url),
            ("MODELGATE_REDIS_PREFIX", &fresh_prefix()),
            ("MODELGATE_STATE_FAIL_OPEN", "false"),
        ],
        None,
        &[("m", json!({}))],
    )
    .await;
    let (_, k) = key(&gw, json!({"rpm": 2})).await;
    for _ in 0..3 {
        let t = Instant::now();
        let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
        assert_eq!(r.status, 503, "{}", r.text);
        common::assert_error_shape(&r.body);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "took {:?}",
            t.elapsed()
        );
    }
    assert_eq!(mock.chat_requests(), 0);
}

// ---- More: leases, failover, defaults -------------------------------------------------------

async fn aborted_stream_gives_its_lease_back(b: Backend) {
    let (gw, mock) = setup(b, &[], None, &[("m", json!({}))]).await;
    let (id, k) = key(&gw, json!({"max_concurrency": 1})).await;
    mock.set(Behavior::StreamHold);
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&k)
        .header("content-type", "application/json")
        .body(chat_body("m", "hold", None, true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("first ") {
        let c = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("the first chunk arrives")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&c));
    }
    let r = chat(&gw, &k, chat_body("m", "second", None, false)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
    // The client goes away: the request is settled as 499 and its lease is released.
    drop(s);
    mock.set(Behavior::Ok);
    let recs = wait_records(&gw, &id, 2, 10).await;
    assert!(recs.iter().any(|r| r.status == 499), "{recs:#?}");
    let r = chat(&gw, &k, chat_body("m", "third", None, false)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    mock.release();
}
both_states!(lease_after_abort, aborted_stream_gives_its_lease_back);

/// A candidate that fails gives its money reservation back before the next is tried: a
/// balance of two requests pays for two requests that each failed over once.
async fn failover_releases_the_failed_candidate(b: Backend) {
    let (gw, m1) = setup(b, &[], None, &[("m", per_request("0.01"))]).await;
    let m2 = MockUpstream::start("up2").await;
    let (s, p) = gw
        .post(
            "/providers",
            json!({"name": "p2", "kind": "openai_compatible", "base_url": m2.base_url(),
                                    "api_keys": [{"alias": "k1", "key": "sk-up-2"}]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, m) = gw
        .post(
            "/providers/p2/models",
            json!({"model_id": "m", "provider_model_id": "mock-model", "pricing_info": per_request("0.01")}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let (s, lm) = gw
        .post(
            "/logical-models",
            json!({"name": "smart", "strategy": "priority", "upstreams": [
                {"provider": "mock", "model": "m", "weight": 1, "priority": 1},
                {"provider": "p2", "model": "m", "weight": 1, "priority": 2}]}),
        )
        .await;
    assert_eq!(s, 201, "{lm}");
    m1.set(Behavior::Status(
        500,
        json!({"error": {"message": "boom"}}),
        None,
    ));
    let (id, k) = key(&gw, json!({"balance": "0.02"})).await;
    for i in 0..2 {
        let r = chat(&gw, &k, chat_body("smart", "hi", Some(16), false)).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
        assert_eq!(r.header("x-modelgate-provider"), Some("p2"));
        assert_eq!(r.header("x-modelgate-attempts"), Some("2"));
    }
    let r = chat(&gw, &k, chat_body("smart", "hi", Some(16), false)).await;
    assert_refused(&r, 402, "insufficient_quota");
    assert_eq!(m1.chat_requests(), 2);
    assert_eq!(m2.chat_requests(), 2);
    let recs = wait_records(&gw, &id, 3, 10).await;
    let charged: Decimal = recs.iter().map(|r| opt_dec(&r.balance_charged)).sum();
    assert_eq!(charged, dec("0.02"), "{recs:#?}");
    assert_eq!(usage(&gw, &id).await["balance"], "0");
}
both_states!(failover_release, failover_releases_the_failed_candidate);

/// Seed 002: `RATE_LIMIT_ENABLED` applies `RATE_LIMIT_PER_MINUTE` to keys without a limit of
/// their own; a key's own `rpm` wins.
async fn default_rate_limit_from_env(b: Backend) {
    let (gw, _mock) = setup(
        b,
        &[
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_PER_MINUTE", "2"),
        ],
        None,
        &[("m", json!({}))],
    )
    .await;
    let (_, plain) = key(&gw, json!({})).await;
    let (_, own) = key(&gw, json!({"rpm": 3})).await;
    for want in ["1", "0"] {
        let r = chat(&gw, &plain, chat_body("m", "hi", None, false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("2"));
        assert_eq!(r.header("x-ratelimit-remaining-requests"), Some(want));
    }
    let r = chat(&gw, &plain, chat_body("m", "hi", None, false)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
    for _ in 0..3 {
        let r = chat(&gw, &own, chat_body("m", "hi", None, false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("3"));
    }
    let r = chat(&gw, &own, chat_body("m", "hi", None, false)).await;
    assert_refused(&r, 429, "rate_limit_exceeded");
}
both_states!(default_rpm, default_rate_limit_from_env);

// ---- Redis trouble mid-flight ---------------------------------------------------------------

/// A TCP proxy in front of the test Redis that can pass traffic, hold Redis's replies back
/// (so the gateway's calls time out after Redis has run them), or cut every connection.
struct RedisProxy {
    port: u16,
    /// 0: pass, 1: delay replies by 600 ms, 2: cut.
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RedisProxy {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let mode = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (m, c) = (mode.clone(), conns.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = l.accept().await {
                if m.load(Ordering::SeqCst) == 2 {
                    drop(client);
                    continue;
                }
                let Ok(upstream) = tokio::net::TcpStream::connect("127.0.0.1:6379").await else {
                    continue;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let m2 = m.clone();
                let down = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = ur.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if m2.load(Ordering::SeqCst) == 1 {
                            tokio::time::sleep(Duration::from_millis(600)).await;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut v = c.lock().unwrap();
                v.push(up);
                v.push(down);
            }
        });
        Self {
            port,
            mode,
            conns,
            task,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, std::sync::atomic::Ordering::SeqCst);
        if mode == 2 {
            for t in self.conns.lock().unwrap().drain(..) {
                t.abort();
            }
        }
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.set(2);
    }
}

/// Redis goes away after a prepaid balance is spent: fail-open admission on the local
/// fallback must not spend the balance a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_never_spends_a_balance_twice() {
    if !redis_enabled() {
        return;
    }
    let proxy = RedisProxy::start().await;
    let url = proxy.url();
    let (gw, _mock) = setup(
        Backend::Memory,
        &[
            ("REDIS_URL", &url),
            ("MODELGATE_REDIS_PREFIX", &fresh_prefix()),
        ],
        None,
        &[("m", per_request("0.01"))],
    )
    .await;
    let (id, k) = key(&gw, json!({"balance": "0.02"})).await;
    for _ in 0..2 {
        let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
    assert_refused(&r, 402, "insufficient_quota");
    wait_records(&gw, &id, 3, 10).await;
    proxy.set(2);
    let r = chat(&gw, &k, chat_body("m", "hi", Some(16), false)).await;
    assert_ne!(
        r.status,
        200,
        "a spent balance was spent again on the local fallback; warnings:\n{}",
        warnings(&gw)
    );
    let n = records(&gw, &id).await.len();
    wait_records(&gw, &id, n.max(4), 10).await;
    let u = usage(&gw, &id).await;
    assert!(
        !dec(u["balance"].as_str().unwrap()).is_sign_negative(),
        "{u}"
    );
}

/// A Redis call that times out after Redis ran it: the reservation it made (here a
/// concurrency lease) must not stay behind on Redis once the request is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (docs/governance.md): a reservation Redis applied but answered after the timeout stays on Redis until it expires"]
async fn a_timed_out_reservation_does_not_leak_on_redis() {
    if !redis_enabled() {
        return;
    }
    let proxy = RedisProxy::start().await;
    let url = proxy.url();
    let (gw, _mock) = setup(
        Backend::Memory,
        &[
            ("REDIS_URL", &url),
            ("MODELGATE_REDIS_PREFIX", &fresh_prefix()),
        ],
        None,
        &[("m", json!({}))],
    )
    .await;
    let (id, k) = key(&gw, json!({"max_concurrency": 1})).await;
    // Warm up: the connection and the scripts are in place.
    for _ in 0..2 {
        let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    wait_records(&gw, &id, 2, 10).await;
    // Redis runs the admission but its reply comes too late: the gateway fails open.
    proxy.set(1);
    let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    wait_records(&gw, &id, 3, 10).await;
    proxy.set(0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Nothing is in flight: the key may make a request.
    let r = chat(&gw, &k, chat_body("m", "hi", None, false)).await;
    assert_eq!(
        r.status,
        200,
        "the lease of a request that ended is still held on Redis: {}\nwarnings:\n{}",
        r.text,
        warnings(&gw)
    );
}
