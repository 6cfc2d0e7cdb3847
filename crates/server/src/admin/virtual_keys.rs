//! Virtual API keys for the data plane (seeds 001, 002): `/admin/api-keys` and
//! `/users/{user_id}/api-keys`. The plaintext is returned once, at creation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_core::keyring::mint_key;
use modelgate_store::{VirtualKeyRecord, now_ms};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson, ApiQuery, Caller, Pagination};
use crate::state::AppState;
use crate::validate::{self, ts};

/// Limits and scope of a virtual key (enforced by the governance layer).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualKeyInput {
    /// A name (seed 002 alias: `key_name`).
    #[serde(default, alias = "key_name")]
    pub name: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// RFC 3339 time, or a seed-001 period: `DAY`, `WEEK`, `MONTH`, `YEAR`, `NEVER`.
    #[serde(default, alias = "expires_at")]
    pub expiry: Option<String>,
    /// Models this key may use; empty or absent means all.
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
    #[serde(default)]
    pub rpm: Option<i64>,
    #[serde(default)]
    pub rph: Option<i64>,
    #[serde(default)]
    pub tpm: Option<i64>,
    #[serde(default)]
    pub daily_requests: Option<i64>,
    #[serde(default)]
    pub monthly_requests: Option<i64>,
    #[serde(default)]
    pub daily_tokens: Option<i64>,
    #[serde(default)]
    pub monthly_tokens: Option<i64>,
    /// Spend limit as a decimal string or number.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub budget: Option<serde_json::Value>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A virtual key as listed (no secret; `prefix` identifies it).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VirtualKeyOut {
    pub id: String,
    pub name: String,
    /// The first characters of the key, e.g. `mg-AbC123`.
    pub prefix: String,
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub expires_at: Option<String>,
    pub allowed_models: Vec<String>,
    pub rpm: Option<i64>,
    pub rph: Option<i64>,
    pub tpm: Option<i64>,
    pub daily_requests: Option<i64>,
    pub monthly_requests: Option<i64>,
    pub daily_tokens: Option<i64>,
    pub monthly_tokens: Option<i64>,
    pub budget: Option<String>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// The creation response: the listed fields plus the plaintext key, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VirtualKeyCreated {
    #[serde(flatten)]
    pub key_info: VirtualKeyOut,
    /// The plaintext key. It is not stored and cannot be shown again.
    #[schema(example = "mg-…")]
    pub key: String,
    /// Seed 002 alias of `key`.
    pub api_key: String,
}

impl From<&VirtualKeyRecord> for VirtualKeyOut {
    fn from(k: &VirtualKeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            user_id: k.user_id.clone(),
            tenant_id: k.tenant_id.clone(),
            expires_at: k.expires_at.map(ts),
            allowed_models: serde_json::from_str(&k.allowed_models).unwrap_or_default(),
            rpm: k.rpm,
            rph: k.rph,
            tpm: k.tpm,
            daily_requests: k.daily_requests,
            monthly_requests: k.monthly_requests,
            daily_tokens: k.daily_tokens,
            monthly_tokens: k.monthly_tokens,
            budget: k.budget.clone(),
            enabled: k.enabled,
            created_at: ts(k.created_at),
            updated_at: ts(k.updated_at),
        }
    }
}

fn parse_expiry(v: &str) -> ApiResult<Option<i64>> {
    let now = now_ms();
    let day = 86_400_000i64;
    Ok(match v.to_ascii_uppercase().as_str() {
        "NEVER" | "" => None,
        "DAY" => Some(now + day),
        "WEEK" => Some(now + 7 * day),
        "MONTH" => Some(now + 30 * day),
        "YEAR" => Some(now + 365 * day),
        _ => Some(
            chrono::DateTime::parse_from_rfc3339(v)
                .map_err(|_| {
                    ApiError::invalid(
                        "expiry",
                        "`expiry` must be an RFC 3339 time or DAY, WEEK, MONTH, YEAR, NEVER",
                    )
                })?
                .timestamp_millis(),
        ),
    })
}

fn apply(mut r: VirtualKeyRecord, i: &VirtualKeyInput) -> ApiResult<VirtualKeyRecord> {
    if let Some(n) = &i.name {
        validate::text("name", n, validate::MAX_TEXT)?;
        r.name = n.clone();
    }
    if let Some(t) = &i.tenant_id {
        validate::text("tenant_id", t, validate::MAX_TEXT)?;
        r.tenant_id = Some(t.clone());
    }
    if let Some(e) = &i.expiry {
        r.expires_at = parse_expiry(e)?;
    }
    if let Some(m) = &i.allowed_models {
        for (n, name) in m.iter().enumerate() {
            validate::text(&format!("allowed_models[{n}]"), name, validate::MAX_TEXT)?;
        }
        r.allowed_models =
            serde_json::to_string(m).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    for (field, value, slot) in [
        ("rpm", i.rpm, &mut r.rpm),
        ("rph", i.rph, &mut r.rph),
        ("tpm", i.tpm, &mut r.tpm),
        ("daily_requests", i.daily_requests, &mut r.daily_requests),
        (
            "monthly_requests",
            i.monthly_requests,
            &mut r.monthly_requests,
        ),
        ("daily_tokens", i.daily_tokens, &mut r.daily_tokens),
        ("monthly_tokens", i.monthly_tokens, &mut r.monthly_tokens),
    ] {
        if let Some(v) = value {
            validate::range_i64(field, v, 0, i64::MAX / 2)?;
            *slot = Some(v);
        }
    }
    if let Some(b) = &i.budget {
        let text = match b {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => String::new(),
            _ => {
                return Err(ApiError::invalid(
                    "budget",
                    "`budget` must be a decimal number",
                ));
            }
        };
        if text.is_empty() {
            r.budget = None;
        } else {
            let d = Decimal::from_str(&text)
                .map_err(|_| ApiError::invalid("budget", "`budget` must be a decimal number"))?;
            if d.is_sign_negative() {
                return Err(ApiError::invalid("budget", "`budget` must not be negative"));
            }
            r.budget = Some(d.normalize().to_string());
        }
    }
    if let Some(e) = i.enabled {
        r.enabled = e;
    }
    Ok(r)
}

/// Mints and stores a key; returns the record and the plaintext.
pub async fn mint(
    s: &AppState,
    i: &VirtualKeyInput,
    user_id: Option<String>,
) -> ApiResult<(VirtualKeyRecord, String)> {
    if let Some(u) = &user_id
        && s.db.get_user(u).await?.is_none()
    {
        return Err(ApiError::invalid(
            "user_id",
            format!("User '{u}' does not exist"),
        ));
    }
    let (plain, hash, prefix) = mint_key();
    let base = VirtualKeyRecord::new(hash, prefix, "api key".into(), user_id);
    let rec = apply(base, i)?;
    s.db.insert_virtual_key(&rec).await?;
    s.gateway.changed().await?;
    Ok((rec, plain))
}

fn created(rec: &VirtualKeyRecord, plain: String) -> (StatusCode, Json<VirtualKeyCreated>) {
    (
        StatusCode::CREATED,
        Json(VirtualKeyCreated {
            key_info: VirtualKeyOut::from(rec),
            api_key: plain.clone(),
            key: plain,
        }),
    )
}

#[utoipa::path(get, path = "/admin/api-keys", tag = "api-keys", params(Pagination),
    responses((status = 200, body = [VirtualKeyOut])), security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    _a: AdminAuth,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<VirtualKeyOut>>> {
    let rows = s.db.list_virtual_keys(None, pg.page()?).await?;
    Ok(Json(rows.iter().map(VirtualKeyOut::from).collect()))
}

#[utoipa::path(post, path = "/admin/api-keys", tag = "api-keys", request_body = VirtualKeyInput,
    responses((status = 201, body = VirtualKeyCreated, description = "The plaintext `key` is shown only here"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    _a: AdminAuth,
    ApiJson(i): ApiJson<VirtualKeyInput>,
) -> ApiResult<(StatusCode, Json<VirtualKeyCreated>)> {
    let (rec, plain) = mint(&s, &i, i.user_id.clone()).await?;
    Ok(created(&rec, plain))
}

async fn key_or_404(s: &AppState, id: &str) -> ApiResult<VirtualKeyRecord> {
    s.db.get_virtual_key(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("API key '{id}' not found")))
}

#[utoipa::path(get, path = "/admin/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 200, body = VirtualKeyOut), (status = 404, description = "Unknown key")), security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<VirtualKeyOut>> {
    Ok(Json(VirtualKeyOut::from(&key_or_404(&s, &id).await?)))
}

#[utoipa::path(patch, path = "/admin/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)), request_body = VirtualKeyInput,
    responses((status = 200, body = VirtualKeyOut), (status = 404, description = "Unknown key"), (status = 422, description = "Invalid field")), security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<VirtualKeyInput>,
) -> ApiResult<Json<VirtualKeyOut>> {
    let cur = key_or_404(&s, &id).await?;
    if let Some(u) = &i.user_id
        && s.db.get_user(u).await?.is_none()
    {
        return Err(ApiError::invalid(
            "user_id",
            format!("User '{u}' does not exist"),
        ));
    }
    let mut rec = apply(cur, &i)?;
    if i.user_id.is_some() {
        rec.user_id = i.user_id.clone();
    }
    rec.updated_at = now_ms();
    s.db.update_virtual_key(&rec).await?;
    s.gateway.changed().await?;
    Ok(Json(VirtualKeyOut::from(&rec)))
}

#[utoipa::path(delete, path = "/admin/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "Unknown key")), security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !s.db.delete_virtual_key(&id).await? {
        return Err(ApiError::not_found(format!("API key '{id}' not found")));
    }
    s.gateway.changed().await?;
    Ok(no_content())
}

fn may_manage(c: &Caller, user_id: &str) -> ApiResult<()> {
    if c.0.is_admin() || c.0.user_id() == Some(user_id) {
        Ok(())
    } else {
        Err(ApiError::forbidden("You may only manage your own API keys"))
    }
}

#[utoipa::path(get, path = "/users/{user_id}/api-keys", tag = "api-keys", params(("user_id" = String, Path), Pagination),
    responses((status = 200, body = [VirtualKeyOut]), (status = 404, description = "Unknown user")), security(("bearer" = [])))]
pub async fn list_for_user(
    State(s): State<AppState>,
    c: Caller,
    Path(user_id): Path<String>,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<VirtualKeyOut>>> {
    may_manage(&c, &user_id)?;
    if s.db.get_user(&user_id).await?.is_none() {
        return Err(ApiError::not_found(format!("User '{user_id}' not found")));
    }
    let rows = s.db.list_virtual_keys(Some(&user_id), pg.page()?).await?;
    Ok(Json(rows.iter().map(VirtualKeyOut::from).collect()))
}

#[utoipa::path(post, path = "/users/{user_id}/api-keys", tag = "api-keys", params(("user_id" = String, Path)), request_body = VirtualKeyInput,
    responses((status = 201, body = VirtualKeyCreated), (status = 404, description = "Unknown user")), security(("bearer" = [])))]
pub async fn create_for_user(
    State(s): State<AppState>,
    c: Caller,
    Path(user_id): Path<String>,
    ApiJson(i): ApiJson<VirtualKeyInput>,
) -> ApiResult<(StatusCode, Json<VirtualKeyCreated>)> {
    may_manage(&c, &user_id)?;
    if s.db.get_user(&user_id).await?.is_none() {
        return Err(ApiError::not_found(format!("User '{user_id}' not found")));
    }
    if i.user_id.as_ref().is_some_and(|u| *u != user_id) {
        return Err(ApiError::invalid(
            "user_id",
            "`user_id` in the body must match the path",
        ));
    }
    let (rec, plain) = mint(&s, &i, Some(user_id)).await?;
    Ok(created(&rec, plain))
}
