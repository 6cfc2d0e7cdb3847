//! `/providers`: the provider catalogue (seed 000). `{provider}` is the id or the unique name.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_providers::ProviderKind;
use modelgate_store::secrets::mask_secret;
use modelgate_store::{ProviderRecord, now_ms};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::models::{ModelInput, new_model_record};
use super::upstream_keys::{KeyInput, KeyOut, new_key_record};
use super::{no_content, provider_or_404};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Pagination, Scoped};
use crate::state::AppState;
use crate::validate::{self, ts};

/// A provider to create or change. On create, `name` (or seed 003's `provider_id`) and a
/// `base_url` (or a kind with a well-known URL) are required.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    /// Unique slug used in URLs and `provider/model` names.
    #[serde(default)]
    #[schema(example = "openai-main")]
    pub name: Option<String>,
    /// Seed 003 compatibility: the slug; `name` then becomes the display name.
    #[serde(default)]
    pub provider_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// openai, azure_openai, anthropic, gemini, deepseek, openai_compatible (default).
    #[serde(default)]
    #[schema(example = "openai")]
    pub kind: Option<String>,
    /// Base URL including the version prefix, e.g. `https://api.openai.com/v1` (alias `api_base`).
    #[serde(default, alias = "api_base")]
    pub base_url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `native` or `aggregator`.
    #[serde(default)]
    pub provider_type: Option<String>,
    #[serde(default)]
    pub extra_headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    #[serde(default)]
    pub connect_timeout_ms: Option<i64>,
    /// Upstream statuses that trigger failover (default 408, 409, 429, 500, 502, 503, 504, 529).
    #[serde(default)]
    pub retryable_statuses: Option<Vec<u16>>,
    /// Azure OpenAI `api-version`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Forward requests with unknown bearer keys using the client's own key.
    #[serde(default)]
    pub passthrough_auth: Option<bool>,
    /// Serve passthrough requests that name no model.
    #[serde(default, alias = "default")]
    pub is_default: Option<bool>,
    /// The owning tenant (none: shared by all tenants). A tenant admin's providers always
    /// belong to its tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Free credit per virtual key (seed 000), exactly one type:
    /// `{"type":"money","amount":"5.00"}`, `{"type":"tokens","tokens":N}` (shared by all the
    /// provider's models) or `{"type":"model_tokens","tokens":N}` (per model); `null` clears.
    #[serde(default, deserialize_with = "crate::validate::present")]
    #[schema(value_type = Option<Object>)]
    pub free_credit: Option<serde_json::Value>,
    /// Dialects the provider speaks beyond its kind's own: `["openai_responses"]` for an
    /// OpenAI-compatible server that has `/v1/responses`.
    #[serde(default)]
    pub dialects: Option<Vec<String>>,
    /// Create only: initial upstream keys, created in the same transaction.
    #[serde(default)]
    pub api_keys: Option<Vec<KeyInput>>,
    /// Create only (seed 003): model names served as is.
    #[serde(default)]
    pub supported_models: Option<Vec<String>>,
}

/// A provider as shown by the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderOut {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub kind: String,
    pub base_url: String,
    pub description: String,
    pub weight: f64,
    pub enabled: bool,
    pub provider_type: String,
    /// Header values that look like credentials are masked.
    pub extra_headers: BTreeMap<String, String>,
    pub timeout_ms: i64,
    pub connect_timeout_ms: i64,
    pub retryable_statuses: Vec<u16>,
    pub api_version: Option<String>,
    pub passthrough_auth: bool,
    pub is_default: bool,
    /// `api`, `config` or `env`.
    pub source: String,
    pub tenant_id: Option<String>,
    /// Extra dialects beyond the kind's own.
    pub dialects: Vec<String>,
    /// The free-credit policy, or null.
    #[schema(value_type = Option<Object>)]
    pub free_credit: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
    /// Present on create and on single reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<Vec<KeyOut>>,
}

fn looks_secret(header: &str) -> bool {
    let h = header.to_ascii_lowercase();
    ["auth", "key", "token", "secret", "cookie", "password"]
        .iter()
        .any(|w| h.contains(w))
}

impl ProviderOut {
    pub fn from_record(p: &ProviderRecord, keys: Option<Vec<KeyOut>>) -> Self {
        let headers: BTreeMap<String, String> =
            serde_json::from_str(&p.extra_headers).unwrap_or_default();
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            display_name: p.display_name.clone(),
            kind: p.kind.clone(),
            base_url: p.base_url.clone(),
            description: p.description.clone(),
            weight: p.weight,
            enabled: p.enabled,
            provider_type: p.provider_type.clone(),
            extra_headers: headers
                .into_iter()
                .map(|(k, v)| {
                    let v = if looks_secret(&k) { mask_secret(&v) } else { v };
                    (k, v)
                })
                .collect(),
            timeout_ms: p.timeout_ms,
            connect_timeout_ms: p.connect_timeout_ms,
            retryable_statuses: serde_json::from_str::<Vec<u16>>(&p.retryable_statuses)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| {
                    modelgate_providers::failure::DEFAULT_RETRYABLE_STATUSES.to_vec()
                }),
            api_version: p.api_version.clone(),
            passthrough_auth: p.passthrough_auth,
            is_default: p.is_default,
            source: p.source.clone(),
            tenant_id: p.tenant_id.clone(),
            dialects: serde_json::from_str(&p.dialects).unwrap_or_default(),
            free_credit: p
                .free_credit
                .as_deref()
                .and_then(|f| serde_json::from_str(f).ok()),
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
            api_keys: keys,
        }
    }
}

/// Applies input fields to a record, validating each. `base` is the record to start from.
fn apply_fields(mut r: ProviderRecord, i: &ProviderInput) -> ApiResult<ProviderRecord> {
    // Seed 003: `provider_id` is the slug and `name` the display name.
    let (slug, display) = match (&i.provider_id, &i.name) {
        (Some(pid), name) => (
            Some(pid.clone()),
            i.display_name.clone().or_else(|| name.clone()),
        ),
        (None, name) => (name.clone(), i.display_name.clone()),
    };
    if let Some(n) = slug {
        validate::slug("name", &n)?;
        r.name = n;
    }
    if let Some(d) = display {
        validate::text("display_name", &d, validate::MAX_TEXT)?;
        r.display_name = d;
    }
    if let Some(k) = &i.kind {
        let kind: ProviderKind = k
            .parse()
            .map_err(|e: String| ApiError::invalid("kind", e))?;
        r.kind = kind.as_str().to_owned();
    }
    if let Some(u) = &i.base_url {
        validate::url("base_url", u)?;
        r.base_url = u.trim_end_matches('/').to_owned();
    }
    if let Some(d) = &i.description {
        validate::bounded("description", d, validate::MAX_DESCRIPTION)?;
        r.description = d.clone();
    }
    if let Some(w) = i.weight {
        validate::range_f64("weight", w, 0.0, 1_000_000.0)?;
        r.weight = w;
    }
    if let Some(e) = i.enabled {
        r.enabled = e;
    }
    if let Some(t) = &i.provider_type {
        validate::one_of("provider_type", t, &["native", "aggregator"])?;
        r.provider_type = t.clone();
    }
    if let Some(h) = &i.extra_headers {
        for (k, v) in h {
            if axum::http::HeaderName::try_from(k.as_str()).is_err()
                || axum::http::HeaderValue::try_from(v.as_str()).is_err()
            {
                return Err(ApiError::invalid(
                    "extra_headers",
                    format!("`extra_headers` has an invalid header: {k}"),
                ));
            }
        }
        r.extra_headers =
            serde_json::to_string(h).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    if let Some(t) = i.timeout_ms {
        validate::range_i64("timeout_ms", t, 1, 3_600_000)?;
        r.timeout_ms = t;
    }
    if let Some(t) = i.connect_timeout_ms {
        validate::range_i64("connect_timeout_ms", t, 1, 600_000)?;
        r.connect_timeout_ms = t;
    }
    if let Some(s) = &i.retryable_statuses {
        if s.iter().any(|c| !(100..=599).contains(c)) {
            return Err(ApiError::invalid(
                "retryable_statuses",
                "`retryable_statuses` must be HTTP statuses (100-599)",
            ));
        }
        r.retryable_statuses =
            serde_json::to_string(s).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    if let Some(v) = &i.api_version {
        validate::text("api_version", v, validate::MAX_TEXT)?;
        r.api_version = Some(v.clone());
    }
    if let Some(ds) = &i.dialects {
        let mut out: Vec<&str> = Vec::new();
        for d in ds {
            let d: modelgate_formats::Dialect = d
                .parse()
                .map_err(|e: String| ApiError::invalid("dialects", e))?;
            out.push(d.as_str());
        }
        r.dialects = serde_json::to_string(&out).unwrap_or_else(|_| "[]".into());
    }
    if let Some(v) = i.passthrough_auth {
        r.passthrough_auth = v;
    }
    if let Some(v) = i.is_default {
        r.is_default = v;
    }
    if let Some(t) = &i.tenant_id {
        validate::text("tenant_id", t, validate::MAX_TEXT)?;
        r.tenant_id = Some(t.clone());
    }
    if let Some(f) = &i.free_credit {
        r.free_credit = validate::free_credit("free_credit", f)?;
    }
    Ok(r)
}

/// Fills what a full record needs after fields were applied: required name, a base URL
/// (from the kind when it has a well-known one), a display name.
fn complete(mut r: ProviderRecord) -> ApiResult<ProviderRecord> {
    if r.name.is_empty() {
        return Err(ApiError::invalid("name", "`name` is required"));
    }
    if r.base_url.is_empty() {
        let kind: ProviderKind = r
            .kind
            .parse()
            .map_err(|e: String| ApiError::invalid("kind", e))?;
        match kind.spec().default_base_url {
            Some(u) => r.base_url = u.into(),
            None => {
                return Err(ApiError::invalid(
                    "base_url",
                    "`base_url` is required for this kind",
                ));
            }
        }
    }
    if r.display_name.is_empty() {
        r.display_name = r.name.clone();
    }
    // Every stored setting is applied or refused: a dialect the kind cannot speak is refused.
    let kind: ProviderKind = r
        .kind
        .parse()
        .map_err(|e: String| ApiError::invalid("kind", e))?;
    for d in serde_json::from_str::<Vec<String>>(&r.dialects).unwrap_or_default() {
        let ok = d
            .parse::<modelgate_formats::Dialect>()
            .is_ok_and(|d| kind.can_speak(d));
        if !ok {
            return Err(ApiError::invalid(
                "dialects",
                format!("a `{kind}` provider cannot speak `{d}`"),
            ));
        }
    }
    Ok(r)
}

#[utoipa::path(get, path = "/providers", tag = "providers", params(Pagination),
    responses((status = 200, body = [ProviderOut]), (status = 401, description = "Missing or bad credentials")),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    sc: Scoped,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<ProviderOut>>> {
    let rows =
        s.db.list_providers_of(sc.scope.tenant(), pg.page()?)
            .await?;
    Ok(Json(
        rows.iter()
            .map(|p| ProviderOut::from_record(p, None))
            .collect(),
    ))
}

#[utoipa::path(post, path = "/providers", tag = "providers", request_body = ProviderInput,
    responses((status = 201, body = ProviderOut, description = "Created, with masked keys"),
        (status = 409, description = "Name taken"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    sc: Scoped,
    ApiJson(input): ApiJson<ProviderInput>,
) -> ApiResult<(StatusCode, Json<ProviderOut>)> {
    let mut rec = complete(apply_fields(ProviderRecord::blank("api"), &input)?)?;
    rec.tenant_id = sc.scope.assign(input.tenant_id.as_deref())?;
    let mut keys = Vec::new();
    for (n, k) in input.api_keys.iter().flatten().enumerate() {
        keys.push(new_key_record(
            &s,
            &rec.id,
            k,
            &format!("api_keys[{n}]."),
            n,
        )?);
    }
    let mut models = Vec::new();
    for (n, m) in input.supported_models.iter().flatten().enumerate() {
        validate::text(&format!("supported_models[{n}]"), m, validate::MAX_TEXT)?;
        models.push(new_model_record(
            &rec,
            &ModelInput {
                model_id: Some(m.clone()),
                ..Default::default()
            },
        )?);
    }
    s.db.create_provider(&rec, &keys, &models).await?;
    s.gateway.changed().await?;
    let out = ProviderOut::from_record(&rec, Some(keys.iter().map(KeyOut::from).collect()));
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(get, path = "/providers/{provider}", tag = "providers",
    params(("provider" = String, Path, description = "Provider id or name")),
    responses((status = 200, body = ProviderOut), (status = 404, description = "Unknown provider")),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
) -> ApiResult<Json<ProviderOut>> {
    let rec = provider_or_404(&s, &sc.scope, &p).await?;
    let keys =
        s.db.list_upstream_keys(
            &rec.id,
            modelgate_store::Page {
                skip: 0,
                limit: 1000,
            },
        )
        .await?;
    Ok(Json(ProviderOut::from_record(
        &rec,
        Some(keys.iter().map(KeyOut::from).collect()),
    )))
}

async fn change(
    s: &AppState,
    sc: &Scoped,
    p: &str,
    input: ProviderInput,
    replace: bool,
) -> ApiResult<Json<ProviderOut>> {
    if input.api_keys.is_some() || input.supported_models.is_some() {
        let field = if input.api_keys.is_some() {
            "api_keys"
        } else {
            "supported_models"
        };
        return Err(ApiError::invalid(
            field,
            format!("`{field}` is only accepted on create; use the keys and models endpoints"),
        ));
    }
    let current = provider_or_404(s, &sc.scope, p).await?;
    let base = if replace {
        let mut b = ProviderRecord::blank(&current.source);
        b.id = current.id.clone();
        b.created_at = current.created_at;
        b.name = current.name.clone();
        b
    } else {
        current
    };
    let mut rec = complete(apply_fields(base, &input)?)?;
    if replace || input.tenant_id.is_some() {
        rec.tenant_id = sc.scope.assign(input.tenant_id.as_deref())?;
    }
    rec.updated_at = now_ms();
    s.db.update_provider(&rec).await?;
    s.gateway.changed().await?;
    Ok(Json(ProviderOut::from_record(&rec, None)))
}

#[utoipa::path(put, path = "/providers/{provider}", tag = "providers",
    params(("provider" = String, Path)), request_body = ProviderInput,
    responses((status = 200, body = ProviderOut), (status = 404, description = "Unknown provider"), (status = 409, description = "Name taken"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn replace(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
    body: ApiResult<ApiJson<ProviderInput>>,
) -> ApiResult<Json<ProviderOut>> {
    // An unknown provider is a 404 whatever the body.
    provider_or_404(&s, &sc.scope, &p).await?;
    let ApiJson(input) = body?;
    change(&s, &sc, &p, input, true).await
}

#[utoipa::path(patch, path = "/providers/{provider}", tag = "providers",
    params(("provider" = String, Path)), request_body = ProviderInput,
    responses((status = 200, body = ProviderOut), (status = 404, description = "Unknown provider"), (status = 409, description = "Name taken"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
    body: ApiResult<ApiJson<ProviderInput>>,
) -> ApiResult<Json<ProviderOut>> {
    // An unknown provider is a 404 whatever the body.
    provider_or_404(&s, &sc.scope, &p).await?;
    let ApiJson(input) = body?;
    change(&s, &sc, &p, input, false).await
}

#[utoipa::path(delete, path = "/providers/{provider}", tag = "providers",
    params(("provider" = String, Path)),
    responses((status = 204, description = "Deleted with its keys and models"), (status = 404, description = "Unknown provider")),
    security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
) -> ApiResult<StatusCode> {
    let rec = provider_or_404(&s, &sc.scope, &p).await?;
    s.db.delete_provider(&rec.id).await?;
    s.gateway.changed().await?;
    Ok(no_content())
}
