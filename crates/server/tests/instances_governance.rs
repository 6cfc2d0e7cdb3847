//! Two instances on one PostgreSQL database and one Redis are one gateway for governance: a
//! key's requests per minute and its prepaid balance hold exactly across both (issue #9).
//! Runs when PostgreSQL and Redis answer on loopback (required with `MG_TEST_POSTGRES=1` /
//! `MG_TEST_REDIS=1`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mock::MockUpstream;
use common::{Db, Gateway, Options};
use serde_json::{Value, json};
use std::time::Duration;

fn redis_enabled() -> bool {
    if std::env::var("MG_TEST_REDIS").as_deref() == Ok("1") {
        return true;
    }
    let ok = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().unwrap(),
        Duration::from_millis(200),
    )
    .is_ok();
    if !ok {
        eprintln!("SKIPPED: Redis is not reachable on 127.0.0.1:6379");
    }
    ok
}

/// Instance A on a fresh database with a mock provider serving `m` at `pricing`, and the
/// options for more instances on the same database and Redis prefix.
async fn first_instance(pricing: Value) -> (Gateway, MockUpstream, Options) {
    let prefix = format!("mgtest:{}:", uuid::Uuid::now_v7().simple());
    let base = Options::new(Db::Postgres)
        .env("REDIS_URL", "redis://127.0.0.1:6379")
        .env("MODELGATE_REDIS_PREFIX", &prefix);
    let a = Gateway::start_with(base.clone()).await;
    let mock = MockUpstream::start("mock").await;
    let (s, p) = a
        .post(
            "/providers",
            json!({"name": "mock", "kind": "openai_compatible", "base_url": mock.base_url(),
                                    "api_keys": [{"alias": "k1", "key": "sk-up"}]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, m) = a
        .post(
            "/providers/mock/models",
            json!({"model_id": "m", "provider_model_id": "mock-model", "pricing_info": pricing}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let url = a.pg.as_ref().unwrap().url.clone();
    let more = Options {
        database_url: Some(url),
        ..base
    };
    (a, mock, more)
}

async fn chat(gw: &Gateway, key: &str) -> (u16, Option<String>) {
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let remaining = r
        .headers()
        .get("x-ratelimit-remaining-requests")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status().as_u16(), remaining)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_is_exact_across_two_instances() {
    if !common::postgres_enabled() || !redis_enabled() {
        return;
    }
    let (a, mock, more) = first_instance(json!({})).await;
    let (_, k) = a.add_key(json!({"rpm": 6})).await;
    // B starts after the key exists, so its snapshot has it from the start.
    let b = Gateway::start_with(more).await;
    for (i, gw) in [&a, &b, &a, &b, &a, &b].iter().enumerate() {
        let (s, remaining) = chat(gw, &k).await;
        assert_eq!(s, 200, "request {i}");
        assert_eq!(remaining, Some((5 - i).to_string()), "request {i}");
    }
    assert_eq!(chat(&a, &k).await.0, 429);
    assert_eq!(chat(&b, &k).await.0, 429);
    assert_eq!(mock.chat_requests(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_balance_is_never_overdrawn_across_two_instances() {
    if !common::postgres_enabled() || !redis_enabled() {
        return;
    }
    let (a, mock, more) =
        first_instance(json!({"input": 0, "output": 0, "per_request": "0.01"})).await;
    let (id, k) = a.add_key(json!({"balance": "0.10"})).await;
    let b = Gateway::start_with(more).await;
    let futs = (0..40).map(|i| {
        let gw = if i % 2 == 0 { &a } else { &b };
        let k = k.clone();
        async move { chat(gw, &k).await.0 }
    });
    let statuses = futures::future::join_all(futs).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 402),
        "{statuses:?}"
    );
    assert_eq!(mock.chat_requests(), 10);
    a.wait_logs(&format!("key_id={id}"), 40, 20).await;
    let (s, u) = a.get(&format!("/admin/api-keys/{id}/usage")).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["balance"], "0", "{u}");
}
