//! `/logical-models`: one public model name over several upstreams (model implementations),
//! balanced by a strategy, with an optional fallback chain (seeds 001, 003).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_core::strategy::Strategy;
use modelgate_store::{LogicalModelRecord, LogicalUpstreamRecord, new_id, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson};
use crate::state::AppState;
use crate::validate::{self, ts};

/// An upstream of a logical model: a provider's model implementation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamInput {
    /// Provider id or name (with `model`).
    #[serde(default)]
    pub provider: Option<String>,
    /// The implementation's `model_id` on that provider.
    #[serde(default)]
    pub model: Option<String>,
    /// Or the implementation's id directly.
    #[serde(default)]
    pub model_implementation_id: Option<String>,
    #[serde(default)]
    pub weight: Option<f64>,
    /// Lower is tried first by the `priority` strategy.
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A logical model to create or change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogicalModelInput {
    #[schema(example = "fast-model")]
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// weighted_random (default), round_robin, least_connections, best_performance, adaptive, priority.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Names tried after this model's upstreams fail (logical models or any model names).
    #[serde(default)]
    pub fallback: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub upstreams: Option<Vec<UpstreamInput>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpstreamOut {
    pub id: String,
    pub model_implementation_id: String,
    pub provider_id: Option<String>,
    pub provider: Option<String>,
    pub model_id: Option<String>,
    pub provider_model_id: Option<String>,
    pub weight: f64,
    pub priority: i64,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogicalModelOut {
    pub id: String,
    pub name: String,
    pub description: String,
    pub strategy: String,
    pub fallback: Vec<String>,
    pub enabled: bool,
    pub upstreams: Vec<UpstreamOut>,
    pub created_at: String,
    pub updated_at: String,
}

async fn upstreams_out(s: &AppState, ups: &[LogicalUpstreamRecord]) -> ApiResult<Vec<UpstreamOut>> {
    let cat = s.gateway.catalogue();
    Ok(ups
        .iter()
        .map(|u| {
            let m = cat.model_impl(&u.model_implementation_id);
            let p = m.and_then(|m| cat.provider(&m.provider_id));
            UpstreamOut {
                id: u.id.clone(),
                model_implementation_id: u.model_implementation_id.clone(),
                provider_id: m.map(|m| m.provider_id.clone()),
                provider: p.map(|p| p.name.clone()),
                model_id: m.map(|m| m.model_id.clone()),
                provider_model_id: m.map(|m| m.provider_model_id.clone()),
                weight: u.weight,
                priority: u.priority,
                enabled: u.enabled,
            }
        })
        .collect())
}

async fn out(s: &AppState, m: &LogicalModelRecord) -> ApiResult<LogicalModelOut> {
    let ups = s.db.logical_upstreams_of(&m.id).await?;
    Ok(LogicalModelOut {
        id: m.id.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        strategy: m.strategy.clone(),
        fallback: serde_json::from_str(&m.fallback).unwrap_or_default(),
        enabled: m.enabled,
        upstreams: upstreams_out(s, &ups).await?,
        created_at: ts(m.created_at),
        updated_at: ts(m.updated_at),
    })
}

/// Resolves upstream inputs to implementation ids (422 naming the entry when unknown).
async fn resolve_upstreams(
    s: &AppState,
    lm_id: &str,
    ups: &[UpstreamInput],
) -> ApiResult<Vec<LogicalUpstreamRecord>> {
    let mut out = Vec::with_capacity(ups.len());
    for (n, u) in ups.iter().enumerate() {
        let field = format!("upstreams[{n}]");
        let impl_id = match (&u.model_implementation_id, &u.provider, &u.model) {
            (Some(id), _, _) => {
                if s.gateway.catalogue().model_impl(id).is_none() {
                    return Err(ApiError::invalid(
                        &field,
                        format!("`{field}`: no model implementation with id '{id}'"),
                    ));
                }
                id.clone()
            }
            (None, Some(p), Some(m)) => {
                let provider = s.db.find_provider(p).await?.ok_or_else(|| {
                    ApiError::invalid(&field, format!("`{field}`: unknown provider '{p}'"))
                })?;
                s.db.find_model(&provider.id, m)
                    .await?
                    .ok_or_else(|| ApiError::invalid(&field, format!("`{field}`: provider '{p}' has no model '{m}'; create it under /providers/{p}/models first")))?
                    .id
            }
            _ => {
                return Err(ApiError::invalid(
                    &field,
                    format!("`{field}` needs `model_implementation_id`, or `provider` and `model`"),
                ));
            }
        };
        // The same implementation twice would share one upstream's health and selection
        // state and be tried twice on failover.
        if let Some(k) = out
            .iter()
            .position(|o: &LogicalUpstreamRecord| o.model_implementation_id == impl_id)
        {
            return Err(ApiError::invalid(
                &field,
                format!("`{field}` is the same model implementation as `upstreams[{k}]`"),
            ));
        }
        let weight = u.weight.unwrap_or(1.0);
        validate::range_f64(&format!("{field}.weight"), weight, 0.0, 1_000_000.0)?;
        let priority = u.priority.unwrap_or(0);
        validate::range_i64(
            &format!("{field}.priority"),
            priority,
            -1_000_000,
            1_000_000,
        )?;
        out.push(LogicalUpstreamRecord {
            id: new_id(),
            logical_model_id: lm_id.to_owned(),
            model_implementation_id: impl_id,
            weight,
            priority,
            enabled: u.enabled.unwrap_or(true),
            position: n as i64,
        });
    }
    Ok(out)
}

fn apply(mut r: LogicalModelRecord, i: &LogicalModelInput) -> ApiResult<LogicalModelRecord> {
    if let Some(n) = &i.name {
        validate::slug("name", n)?;
        r.name = n.clone();
    }
    if let Some(d) = &i.description {
        validate::bounded("description", d, validate::MAX_DESCRIPTION)?;
        r.description = d.clone();
    }
    if let Some(st) = &i.strategy {
        let parsed: Strategy = st
            .parse()
            .map_err(|e: String| ApiError::invalid("strategy", e))?;
        r.strategy = parsed.as_str().into();
    }
    if let Some(f) = &i.fallback {
        for (n, name) in f.iter().enumerate() {
            validate::text(&format!("fallback[{n}]"), name, validate::MAX_TEXT)?;
            if *name == r.name {
                return Err(ApiError::invalid(
                    "fallback",
                    "a logical model cannot fall back to itself",
                ));
            }
        }
        r.fallback = serde_json::to_string(f).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    if let Some(e) = i.enabled {
        r.enabled = e;
    }
    Ok(r)
}

async fn or_404(s: &AppState, id: &str) -> ApiResult<LogicalModelRecord> {
    s.db.find_logical_model(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Logical model '{id}' not found")))
}

#[utoipa::path(get, path = "/logical-models", tag = "routing", responses((status = 200, body = [LogicalModelOut])), security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    _a: AdminAuth,
) -> ApiResult<Json<Vec<LogicalModelOut>>> {
    let mut v = Vec::new();
    for m in s.db.all_logical_models().await? {
        v.push(out(&s, &m).await?);
    }
    Ok(Json(v))
}

#[utoipa::path(post, path = "/logical-models", tag = "routing", request_body = LogicalModelInput,
    responses((status = 201, body = LogicalModelOut), (status = 409, description = "Name taken"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    _a: AdminAuth,
    ApiJson(i): ApiJson<LogicalModelInput>,
) -> ApiResult<(StatusCode, Json<LogicalModelOut>)> {
    let now = now_ms();
    let base = LogicalModelRecord {
        id: new_id(),
        name: String::new(),
        description: String::new(),
        strategy: Strategy::WeightedRandom.as_str().into(),
        fallback: "[]".into(),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    let rec = apply(base, &i)?;
    if rec.name.is_empty() {
        return Err(ApiError::invalid("name", "`name` is required"));
    }
    let ups = resolve_upstreams(&s, &rec.id, i.upstreams.as_deref().unwrap_or(&[])).await?;
    s.db.save_logical_model(&rec, &ups, true).await?;
    s.gateway.changed().await?;
    Ok((StatusCode::CREATED, Json(out(&s, &rec).await?)))
}

#[utoipa::path(get, path = "/logical-models/{id}", tag = "routing", params(("id" = String, Path, description = "Id or name")),
    responses((status = 200, body = LogicalModelOut), (status = 404, description = "Unknown logical model")), security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<LogicalModelOut>> {
    Ok(Json(out(&s, &or_404(&s, &id).await?).await?))
}

#[utoipa::path(get, path = "/logical-models/{id}/upstreams", tag = "routing", params(("id" = String, Path, description = "Id or name")),
    responses((status = 200, body = [UpstreamOut]), (status = 404, description = "Unknown logical model")), security(("bearer" = [])))]
pub async fn upstreams(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<UpstreamOut>>> {
    let m = or_404(&s, &id).await?;
    let ups = s.db.logical_upstreams_of(&m.id).await?;
    Ok(Json(upstreams_out(&s, &ups).await?))
}

async fn change(
    s: &AppState,
    id: &str,
    i: LogicalModelInput,
    replace: bool,
) -> ApiResult<Json<LogicalModelOut>> {
    let cur = or_404(s, id).await?;
    let base = if replace {
        LogicalModelRecord {
            description: String::new(),
            strategy: Strategy::WeightedRandom.as_str().into(),
            fallback: "[]".into(),
            enabled: true,
            ..cur.clone()
        }
    } else {
        cur.clone()
    };
    let mut rec = apply(base, &i)?;
    rec.updated_at = now_ms();
    let ups = match (&i.upstreams, replace) {
        (Some(u), _) => resolve_upstreams(s, &rec.id, u).await?,
        (None, true) => vec![],
        (None, false) => s.db.logical_upstreams_of(&rec.id).await?,
    };
    s.db.save_logical_model(&rec, &ups, false).await?;
    s.gateway.changed().await?;
    Ok(Json(out(s, &rec).await?))
}

#[utoipa::path(put, path = "/logical-models/{id}", tag = "routing", params(("id" = String, Path)), request_body = LogicalModelInput,
    responses((status = 200, body = LogicalModelOut), (status = 404, description = "Unknown logical model"), (status = 422, description = "Invalid field")), security(("bearer" = [])))]
pub async fn replace(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<LogicalModelInput>,
) -> ApiResult<Json<LogicalModelOut>> {
    change(&s, &id, i, true).await
}

#[utoipa::path(patch, path = "/logical-models/{id}", tag = "routing", params(("id" = String, Path)), request_body = LogicalModelInput,
    responses((status = 200, body = LogicalModelOut), (status = 404, description = "Unknown logical model"), (status = 422, description = "Invalid field")), security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<LogicalModelInput>,
) -> ApiResult<Json<LogicalModelOut>> {
    change(&s, &id, i, false).await
}

#[utoipa::path(delete, path = "/logical-models/{id}", tag = "routing", params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "Unknown logical model")), security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let m = or_404(&s, &id).await?;
    s.db.delete_logical_model(&m.id).await?;
    s.gateway.changed().await?;
    Ok(no_content())
}
