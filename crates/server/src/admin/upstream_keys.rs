//! `/providers/{provider}/keys`: a provider's upstream API keys. The secret is write-only;
//! every read shows a masked preview.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_store::secrets::mask_secret;
use modelgate_store::{UpstreamKeyRecord, new_id, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{no_content, provider_or_404};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Pagination, Scoped};
use crate::state::AppState;
use crate::validate::{self, ts};

/// An upstream key to create or change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    /// A name for the key (seed alias: `label`).
    #[serde(default, alias = "label")]
    pub alias: Option<String>,
    /// The secret (write-only; alias `api_key`).
    #[serde(default, alias = "api_key")]
    #[schema(example = "sk-...")]
    pub key: Option<String>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub max_qps: Option<i64>,
    #[serde(default)]
    pub max_rpm: Option<i64>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// An upstream key as shown by the API (never the secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyOut {
    pub id: String,
    pub provider_id: String,
    pub alias: String,
    /// Masked preview, e.g. `sk-a…9f2c`.
    pub key_preview: String,
    pub weight: f64,
    pub max_qps: Option<i64>,
    pub max_rpm: Option<i64>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UpstreamKeyRecord> for KeyOut {
    fn from(k: &UpstreamKeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            provider_id: k.provider_id.clone(),
            alias: k.alias.clone(),
            key_preview: k.preview.clone(),
            weight: k.weight,
            max_qps: k.max_qps,
            max_rpm: k.max_rpm,
            enabled: k.enabled,
            created_at: ts(k.created_at),
            updated_at: ts(k.updated_at),
        }
    }
}

fn validate_key_fields(prefix: &str, k: &KeyInput) -> ApiResult<()> {
    if let Some(a) = &k.alias {
        validate::text(&format!("{prefix}alias"), a, validate::MAX_TEXT)?;
    }
    if let Some(s) = &k.key {
        validate::text(&format!("{prefix}key"), s, validate::MAX_SECRET)?;
    }
    if let Some(w) = k.weight {
        validate::range_f64(&format!("{prefix}weight"), w, 0.0, 1_000_000.0)?;
    }
    if let Some(q) = k.max_qps {
        validate::range_i64(&format!("{prefix}max_qps"), q, 1, 1_000_000)?;
    }
    if let Some(q) = k.max_rpm {
        validate::range_i64(&format!("{prefix}max_rpm"), q, 1, 100_000_000)?;
    }
    Ok(())
}

/// Builds a new key record (encrypting the secret). `prefix` names the field in errors.
pub fn new_key_record(
    state: &AppState,
    provider_id: &str,
    k: &KeyInput,
    prefix: &str,
    n: usize,
) -> ApiResult<UpstreamKeyRecord> {
    validate_key_fields(prefix, k)?;
    let secret = k.key.as_deref().ok_or_else(|| {
        ApiError::invalid(
            &format!("{prefix}key"),
            format!("`{prefix}key` is required"),
        )
    })?;
    let now = now_ms();
    Ok(UpstreamKeyRecord {
        id: new_id(),
        provider_id: provider_id.to_owned(),
        alias: k.alias.clone().unwrap_or_else(|| format!("key-{}", n + 1)),
        secret_enc: state.gateway.secrets.encrypt(secret)?,
        preview: mask_secret(secret),
        weight: k.weight.unwrap_or(1.0),
        max_qps: k.max_qps,
        max_rpm: k.max_rpm,
        enabled: k.enabled.unwrap_or(true),
        created_at: now,
        updated_at: now,
    })
}

#[utoipa::path(get, path = "/providers/{provider}/keys", tag = "providers",
    params(("provider" = String, Path, description = "Provider id or name"), Pagination),
    responses((status = 200, body = [KeyOut]), (status = 404, description = "Unknown provider")),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<KeyOut>>> {
    let provider = provider_or_404(&s, &sc.scope, &p).await?;
    let page = pg.page()?;
    let keys = s.db.list_upstream_keys(&provider.id, page).await?;
    Ok(Json(keys.iter().map(KeyOut::from).collect()))
}

#[utoipa::path(post, path = "/providers/{provider}/keys", tag = "providers",
    params(("provider" = String, Path, description = "Provider id or name")),
    request_body = KeyInput,
    responses((status = 201, body = KeyOut), (status = 404, description = "Unknown provider"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
    body: ApiResult<ApiJson<KeyInput>>,
) -> ApiResult<(StatusCode, Json<KeyOut>)> {
    // An unknown provider is a 404 whatever the body.
    let provider = provider_or_404(&s, &sc.scope, &p).await?;
    let ApiJson(input) = body?;
    let n =
        s.db.list_upstream_keys(
            &provider.id,
            modelgate_store::Page {
                skip: 0,
                limit: 1000,
            },
        )
        .await?
        .len();
    let rec = new_key_record(&s, &provider.id, &input, "", n)?;
    s.db.insert_upstream_key(&rec).await?;
    s.gateway.changed().await?;
    Ok((StatusCode::CREATED, Json(KeyOut::from(&rec))))
}

async fn key_or_404(
    s: &AppState,
    sc: &Scoped,
    provider: &str,
    key_id: &str,
) -> ApiResult<UpstreamKeyRecord> {
    let provider = provider_or_404(s, &sc.scope, provider).await?;
    s.db.get_upstream_key(&provider.id, key_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Key '{key_id}' not found for this provider")))
}

#[utoipa::path(get, path = "/providers/{provider}/keys/{key_id}", tag = "providers",
    params(("provider" = String, Path), ("key_id" = String, Path)),
    responses((status = 200, body = KeyOut), (status = 404, description = "Unknown provider or key")),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    sc: Scoped,
    Path((p, k)): Path<(String, String)>,
) -> ApiResult<Json<KeyOut>> {
    Ok(Json(KeyOut::from(&key_or_404(&s, &sc, &p, &k).await?)))
}

async fn apply(
    s: &AppState,
    sc: &Scoped,
    p: &str,
    k: &str,
    input: KeyInput,
    replace: bool,
) -> ApiResult<Json<KeyOut>> {
    let mut rec = key_or_404(s, sc, p, k).await?;
    validate_key_fields("", &input)?;
    if let Some(secret) = &input.key {
        rec.secret_enc = s.gateway.secrets.encrypt(secret)?;
        rec.preview = mask_secret(secret);
    }
    if replace {
        rec.weight = input.weight.unwrap_or(1.0);
        rec.max_qps = input.max_qps;
        rec.max_rpm = input.max_rpm;
        rec.enabled = input.enabled.unwrap_or(true);
        if let Some(a) = input.alias {
            rec.alias = a;
        }
    } else {
        if let Some(a) = input.alias {
            rec.alias = a;
        }
        if let Some(w) = input.weight {
            rec.weight = w;
        }
        if input.max_qps.is_some() {
            rec.max_qps = input.max_qps;
        }
        if input.max_rpm.is_some() {
            rec.max_rpm = input.max_rpm;
        }
        if let Some(e) = input.enabled {
            rec.enabled = e;
        }
    }
    rec.updated_at = now_ms();
    s.db.update_upstream_key(&rec).await?;
    s.gateway.changed().await?;
    Ok(Json(KeyOut::from(&rec)))
}

#[utoipa::path(put, path = "/providers/{provider}/keys/{key_id}", tag = "providers",
    params(("provider" = String, Path), ("key_id" = String, Path)), request_body = KeyInput,
    responses((status = 200, body = KeyOut), (status = 404, description = "Unknown provider or key")),
    security(("bearer" = [])))]
pub async fn replace(
    State(s): State<AppState>,
    sc: Scoped,
    Path((p, k)): Path<(String, String)>,
    body: ApiResult<ApiJson<KeyInput>>,
) -> ApiResult<Json<KeyOut>> {
    // An unknown provider or key is a 404 whatever the body.
    key_or_404(&s, &sc, &p, &k).await?;
    let ApiJson(input) = body?;
    apply(&s, &sc, &p, &k, input, true).await
}

#[utoipa::path(patch, path = "/providers/{provider}/keys/{key_id}", tag = "providers",
    params(("provider" = String, Path), ("key_id" = String, Path)), request_body = KeyInput,
    responses((status = 200, body = KeyOut), (status = 404, description = "Unknown provider or key")),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    sc: Scoped,
    Path((p, k)): Path<(String, String)>,
    body: ApiResult<ApiJson<KeyInput>>,
) -> ApiResult<Json<KeyOut>> {
    // An unknown provider or key is a 404 whatever the body.
    key_or_404(&s, &sc, &p, &k).await?;
    let ApiJson(input) = body?;
    apply(&s, &sc, &p, &k, input, false).await
}

#[utoipa::path(delete, path = "/providers/{provider}/keys/{key_id}", tag = "providers",
    params(("provider" = String, Path), ("key_id" = String, Path)),
    responses((status = 204), (status = 404, description = "Unknown provider or key")),
    security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    sc: Scoped,
    Path((p, k)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let rec = key_or_404(&s, &sc, &p, &k).await?;
    s.db.delete_upstream_key(&rec.provider_id, &rec.id).await?;
    s.gateway.changed().await?;
    Ok(no_content())
}
