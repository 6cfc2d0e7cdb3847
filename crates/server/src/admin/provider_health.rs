//! Provider health and metrics (seeds 001, 003): `GET /providers/{provider}/health`,
//! `GET /providers/{provider}/metrics`, `GET /providers/statistics`, and the live connection
//! test `POST /providers/{provider}/test`.

use axum::Json;
use axum::extract::{Path, State};
use modelgate_core::health::{Circuit, KeyView, ProbeResult, StatsView};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

use super::provider_or_404;
use crate::error::ApiResult;
use crate::extract::{RawBody, Scoped};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamHealth {
    pub upstream_model: String,
    #[schema(value_type = Object)]
    pub stats: StatsView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyHealth {
    pub id: String,
    pub alias: String,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub state: KeyView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderHealth {
    pub provider: String,
    pub provider_id: String,
    pub enabled: bool,
    /// `healthy`, `degraded` (some circuit open or half-open, or some key unusable),
    /// `unhealthy` (every circuit open or no usable key), `disabled`, or `unknown` (no traffic
    /// yet).
    pub status: String,
    pub upstreams: Vec<UpstreamHealth>,
    pub keys: Vec<KeyHealth>,
    #[schema(value_type = Option<Object>)]
    pub last_probe: Option<ProbeResult>,
}

fn health_of(s: &AppState, id: &str) -> Option<ProviderHealth> {
    let cat = s.gateway.catalogue();
    let p = cat.provider(id)?;
    let hs = &s.gateway.health.settings;
    let upstreams: Vec<UpstreamHealth> = s
        .gateway
        .health
        .upstreams_of(&p.id)
        .into_iter()
        .map(|(m, st)| UpstreamHealth {
            upstream_model: m,
            stats: st.view(hs),
        })
        .collect();
    let keys: Vec<KeyHealth> = p
        .keys
        .iter()
        .map(|k| KeyHealth {
            id: k.id.clone(),
            alias: k.alias.clone(),
            enabled: k.enabled,
            state: s.gateway.health.key(&k.id, &k.secret).view(),
        })
        .collect();
    let usable_keys = keys
        .iter()
        .filter(|k| k.enabled && k.state.state == "ok")
        .count();
    let open = upstreams
        .iter()
        .filter(|u| u.stats.circuit == Circuit::Open)
        .count();
    // A half-open circuit is recovering, not yet healthy: no trial has succeeded.
    let recovering = upstreams
        .iter()
        .filter(|u| u.stats.circuit == Circuit::HalfOpen)
        .count();
    let probe = s.gateway.health.probe(&p.id);
    let status = if !p.enabled {
        "disabled"
    } else if usable_keys == 0
        || (!upstreams.is_empty() && open == upstreams.len())
        || probe.as_ref().is_some_and(|r| !r.ok)
    {
        "unhealthy"
    } else if open + recovering > 0 || usable_keys < keys.iter().filter(|k| k.enabled).count() {
        "degraded"
    } else if upstreams.is_empty() && probe.is_none() {
        "unknown"
    } else {
        "healthy"
    };
    Some(ProviderHealth {
        provider: p.name.clone(),
        provider_id: p.id.clone(),
        enabled: p.enabled,
        status: status.into(),
        upstreams,
        keys,
        last_probe: probe,
    })
}

#[utoipa::path(get, path = "/providers/{provider}/health", tag = "providers", params(("provider" = String, Path)),
    responses((status = 200, body = ProviderHealth), (status = 404, description = "Unknown provider")), security(("bearer" = [])))]
pub async fn health(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
) -> ApiResult<Json<ProviderHealth>> {
    let rec = provider_or_404(&s, &sc.scope, &p).await?;
    health_of(&s, &rec.id)
        .map(Json)
        .ok_or_else(|| crate::error::ApiError::not_found(format!("Provider '{p}' is not loaded")))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderMetrics {
    pub provider: String,
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    pub in_flight: i64,
    pub success_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p90_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Worst circuit state among its upstreams.
    pub circuit: String,
    pub upstreams: Vec<UpstreamHealth>,
}

fn metrics_of(s: &AppState, id: &str, name: &str) -> ProviderMetrics {
    let hs = &s.gateway.health.settings;
    let ups: Vec<UpstreamHealth> = s
        .gateway
        .health
        .upstreams_of(id)
        .into_iter()
        .map(|(m, st)| UpstreamHealth {
            upstream_model: m,
            stats: st.view(hs),
        })
        .collect();
    let sum = |f: fn(&StatsView) -> u64| ups.iter().map(|u| f(&u.stats)).sum::<u64>();
    let requests = sum(|v| v.requests);
    let successes = sum(|v| v.successes);
    let failures = sum(|v| v.failures);
    // Percentiles of the busiest upstream (sample rings are per upstream).
    let busiest = ups.iter().max_by_key(|u| u.stats.requests);
    let circuit = if ups.iter().any(|u| u.stats.circuit == Circuit::Open) {
        "open"
    } else if ups.iter().any(|u| u.stats.circuit == Circuit::HalfOpen) {
        "half_open"
    } else {
        "closed"
    };
    ProviderMetrics {
        provider: name.into(),
        requests,
        successes,
        failures,
        in_flight: ups.iter().map(|u| u.stats.in_flight).sum(),
        success_rate: (successes + failures > 0)
            .then(|| successes as f64 / (successes + failures) as f64),
        latency_p50_ms: busiest.and_then(|u| u.stats.latency_p50_ms),
        latency_p90_ms: busiest.and_then(|u| u.stats.latency_p90_ms),
        latency_p99_ms: busiest.and_then(|u| u.stats.latency_p99_ms),
        circuit: circuit.into(),
        upstreams: ups,
    }
}

#[utoipa::path(get, path = "/providers/{provider}/metrics", tag = "providers", params(("provider" = String, Path)),
    responses((status = 200, body = ProviderMetrics), (status = 404, description = "Unknown provider")), security(("bearer" = [])))]
pub async fn metrics(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
) -> ApiResult<Json<ProviderMetrics>> {
    let rec = provider_or_404(&s, &sc.scope, &p).await?;
    Ok(Json(metrics_of(&s, &rec.id, &rec.name)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderStatistics {
    pub provider: String,
    pub kind: String,
    pub enabled: bool,
    pub status: String,
    pub keys: usize,
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    pub in_flight: i64,
    pub success_rate: Option<f64>,
    pub circuit: String,
}

/// Every provider in the caller's scope (a tenant admin: its tenant's providers only).
#[utoipa::path(get, path = "/providers/statistics", tag = "providers", responses((status = 200, body = [ProviderStatistics], description = "Providers in the caller's scope"), (status = 403, description = "Not an admin or tenant admin")), security(("bearer" = [])))]
pub async fn statistics(
    State(s): State<AppState>,
    sc: Scoped,
) -> ApiResult<Json<Vec<ProviderStatistics>>> {
    let cat = s.gateway.catalogue();
    Ok(Json(
        cat.providers
            .iter()
            .filter(|p| sc.scope.sees(p.tenant_id.as_deref()))
            .map(|p| {
                let m = metrics_of(&s, &p.id, &p.name);
                ProviderStatistics {
                    provider: p.name.clone(),
                    kind: p.kind.as_str().into(),
                    enabled: p.enabled,
                    status: health_of(&s, &p.id)
                        .map(|h| h.status)
                        .unwrap_or_else(|| "unknown".into()),
                    keys: p.keys.len(),
                    requests: m.requests,
                    successes: m.successes,
                    failures: m.failures,
                    in_flight: m.in_flight,
                    success_rate: m.success_rate,
                    circuit: m.circuit,
                }
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TestInput {
    /// Seed 003: `{"credentials": {"api_key": "sk-..."}}` tests these instead of the stored key.
    #[serde(default)]
    pub credentials: Option<TestCredentials>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TestCredentials {
    #[serde(default)]
    pub api_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestOut {
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub models: Option<usize>,
    pub error: Option<String>,
    /// `stored` or `supplied`.
    pub credentials: String,
}

/// Lists the provider's models with the stored (or supplied) key: never a billed completion.
pub async fn probe(p: &modelgate_core::catalogue::ProviderEntry, key: Option<&str>) -> TestOut {
    use modelgate_providers::Adapter;
    let supplied = key.is_some();
    let secret = key
        .map(str::to_owned)
        .or_else(|| p.keys.iter().find(|k| k.enabled).map(|k| k.secret.clone()));
    let Some(secret) = secret else {
        return TestOut {
            ok: false,
            status: None,
            latency_ms: 0.0,
            models: None,
            error: Some("no enabled key to test with".into()),
            credentials: "stored".into(),
        };
    };
    let credentials = if supplied { "supplied" } else { "stored" }.to_owned();
    let t = Instant::now();
    let timeout = p.timeout.min(Duration::from_secs(15));
    match modelgate_core::clients::get_models(p, &secret, timeout, 8 * 1024 * 1024).await {
        Ok((status, raw)) => {
            let body: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
            let latency_ms = t.elapsed().as_secs_f64() * 1000.0;
            let ok = (200..300).contains(&status);
            TestOut {
                ok,
                status: Some(status),
                latency_ms,
                models: ok.then(|| p.api.parse_models(&raw).len()),
                error: (!ok).then(|| {
                    body["error"]["message"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("upstream answered {status}"))
                }),
                credentials,
            }
        }
        Err(e) => TestOut {
            ok: false,
            status: None,
            latency_ms: t.elapsed().as_secs_f64() * 1000.0,
            models: None,
            error: Some(e),
            credentials,
        },
    }
}

#[utoipa::path(post, path = "/providers/{provider}/test", tag = "providers", params(("provider" = String, Path)), request_body(content = TestInput, description = "Optional"),
    responses((status = 200, body = TestOut), (status = 404, description = "Unknown provider")), security(("bearer" = [])))]
pub async fn test(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<Json<TestOut>> {
    let rec = provider_or_404(&s, &sc.scope, &p).await?;
    let input: TestInput = if body.iter().all(u8::is_ascii_whitespace) {
        TestInput::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| crate::error::ApiError::bad_request(format!("Malformed JSON body: {e}")))?
    };
    let cat = s.gateway.catalogue();
    let entry = cat.provider(&rec.id).ok_or_else(|| {
        crate::error::ApiError::not_found(format!("Provider '{p}' is not loaded"))
    })?;
    let key = input.credentials.and_then(|c| c.api_key);
    Ok(Json(probe(entry, key.as_deref()).await))
}
