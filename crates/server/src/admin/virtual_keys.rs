//! Virtual API keys for the data plane (seeds 001, 002): `/admin/api-keys` and
//! `/users/{user_id}/api-keys`. The plaintext is returned once, at creation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_core::keyring::mint_key;
use modelgate_core::policy::BudgetPeriod;
use modelgate_store::{BalanceEventRecord, UserRecord, VirtualKeyRecord, new_id, now_ms};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Caller, Pagination, Scope, Scoped};
use crate::state::AppState;
use crate::validate::{self, ts};

/// Limits and scope of a virtual key (enforced by the governance layer). Limits are positive
/// integers; `null` clears one (no limit).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualKeyInput {
    /// A name (seed 002 alias: `key_name`).
    #[serde(default, alias = "key_name")]
    pub name: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    /// The owning tenant. A tenant admin's keys always belong to its tenant; a key created
    /// for a user of a tenant defaults to that tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// RFC 3339 time, or a seed-001 period: `DAY`, `WEEK`, `MONTH`, `YEAR`, `NEVER`.
    #[serde(default, alias = "expires_at")]
    pub expiry: Option<String>,
    /// Models this key may use; empty or absent means all.
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
    /// Requests per minute.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub rpm: Option<Option<i64>>,
    /// Requests per hour.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub rph: Option<Option<i64>>,
    /// Tokens (input + output) per minute.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub tpm: Option<Option<i64>>,
    /// Requests in flight at once.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_concurrency: Option<Option<i64>>,
    /// Requests per calendar day (seed 003 quota).
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub daily_requests: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub monthly_requests: Option<Option<i64>>,
    /// Tokens per calendar day.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub daily_tokens: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub monthly_tokens: Option<Option<i64>>,
    /// Spend cap: `{"amount": "12.50", "period": "daily"|"weekly"|"monthly"|"total"}`, or just
    /// the amount (a decimal string or number; the period is then `budget_period`, the key's
    /// current one, or `total`). `null` clears it.
    #[serde(default, deserialize_with = "validate::present")]
    #[schema(value_type = Option<Object>)]
    pub budget: Option<serde_json::Value>,
    /// The budget's period when `budget` is given as an amount.
    #[serde(default)]
    pub budget_period: Option<String>,
    /// Create only: an initial prepaid balance (decimal string or number, >= 0). Present ⇒ the
    /// key is prepaid and a balance event of this amount is recorded; absent ⇒ not prepaid.
    /// Later top-ups: `POST /admin/api-keys/{id}/balance`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub balance: Option<serde_json::Value>,
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
    pub max_concurrency: Option<i64>,
    pub daily_requests: Option<i64>,
    pub monthly_requests: Option<i64>,
    pub daily_tokens: Option<i64>,
    pub monthly_tokens: Option<i64>,
    /// The budget amount (decimal string), or null.
    pub budget: Option<String>,
    /// `daily`, `weekly`, `monthly` or `total` when there is a budget.
    pub budget_period: Option<String>,
    /// Whether the key spends a prepaid balance.
    pub prepaid: bool,
    /// Prepaid keys: the sum of their balance events (decimal string); what is left is this
    /// minus what the key has spent. Null for other keys.
    pub balance_credited: Option<String>,
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

impl VirtualKeyOut {
    /// The key as shown; `credited` is the sum of its balance events (used for prepaid keys).
    pub fn from_record(k: &VirtualKeyRecord, credited: Option<Decimal>) -> Self {
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
            max_concurrency: k.max_concurrency,
            daily_requests: k.daily_requests,
            monthly_requests: k.monthly_requests,
            daily_tokens: k.daily_tokens,
            monthly_tokens: k.monthly_tokens,
            budget: k.budget.clone(),
            budget_period: k.budget.as_ref().map(|_| {
                k.budget_period
                    .clone()
                    .unwrap_or_else(|| BudgetPeriod::Total.as_str().into())
            }),
            prepaid: k.prepaid,
            balance_credited: k
                .prepaid
                .then(|| credited.unwrap_or(Decimal::ZERO).normalize().to_string()),
            enabled: k.enabled,
            created_at: ts(k.created_at),
            updated_at: ts(k.updated_at),
        }
    }

    /// A key read from the database, with its credited sum when it is prepaid.
    pub async fn load(s: &AppState, k: &VirtualKeyRecord) -> ApiResult<Self> {
        let credited = if k.prepaid {
            Some(s.db.balance_credited(&k.id).await?)
        } else {
            None
        };
        Ok(Self::from_record(k, credited))
    }

    /// Keys as listed, with the credited sums of the prepaid ones (one query for all).
    pub async fn load_all(s: &AppState, rows: &[VirtualKeyRecord]) -> ApiResult<Vec<Self>> {
        let prepaid: Vec<&str> = rows
            .iter()
            .filter(|k| k.prepaid)
            .map(|k| k.id.as_str())
            .collect();
        let credits = s.db.balance_credits_of(&prepaid).await?;
        Ok(rows
            .iter()
            .map(|k| Self::from_record(k, credits.get(&k.id).copied()))
            .collect())
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

fn bad_period(field: &str) -> ApiError {
    ApiError::invalid(
        field,
        format!("`{field}` must be one of: daily, weekly, monthly, total"),
    )
}

fn period(field: &str, v: &str) -> ApiResult<BudgetPeriod> {
    v.parse::<BudgetPeriod>().map_err(|_| bad_period(field))
}

/// `budget` (object, amount or null) and `budget_period`.
fn apply_budget(r: &mut VirtualKeyRecord, i: &VirtualKeyInput) -> ApiResult<()> {
    let given_period = i
        .budget_period
        .as_deref()
        .map(|p| period("budget_period", p))
        .transpose()?;
    match &i.budget {
        None => {
            if let Some(p) = given_period {
                if r.budget.is_none() {
                    return Err(ApiError::invalid(
                        "budget_period",
                        "`budget_period` needs a `budget`",
                    ));
                }
                r.budget_period = Some(p.as_str().into());
            }
        }
        Some(serde_json::Value::Null) => {
            r.budget = None;
            r.budget_period = None;
        }
        Some(serde_json::Value::Object(o)) => {
            if let Some(extra) = o.keys().find(|k| *k != "amount" && *k != "period") {
                return Err(ApiError::invalid(
                    &format!("budget.{extra}"),
                    format!("`budget.{extra}` is not a budget field (amount, period)"),
                ));
            }
            let amount = o
                .get("amount")
                .ok_or_else(|| ApiError::invalid("budget.amount", "`budget.amount` is required"))?;
            let amount = validate::amount("budget.amount", amount)?;
            let p = match o.get("period") {
                None | Some(serde_json::Value::Null) => given_period.unwrap_or(BudgetPeriod::Total),
                Some(serde_json::Value::String(p)) => period("budget.period", p)?,
                Some(_) => return Err(bad_period("budget.period")),
            };
            r.budget = Some(amount.to_string());
            r.budget_period = Some(p.as_str().into());
        }
        Some(v) => {
            let amount = validate::amount("budget", v)?;
            let p = given_period
                .or_else(|| r.budget_period.as_deref().and_then(|p| p.parse().ok()))
                .unwrap_or(BudgetPeriod::Total);
            r.budget = Some(amount.to_string());
            r.budget_period = Some(p.as_str().into());
        }
    }
    Ok(())
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
        ("max_concurrency", i.max_concurrency, &mut r.max_concurrency),
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
            if let Some(n) = v {
                validate::positive(field, n)?;
            }
            *slot = v;
        }
    }
    apply_budget(&mut r, i)?;
    if let Some(e) = i.enabled {
        r.enabled = e;
    }
    Ok(r)
}

/// The user a key is for, when it exists in the caller's scope; another tenant's user does
/// not exist for a tenant admin (422 naming `user_id`).
async fn user_in_scope(s: &AppState, scope: &Scope, user_id: &str) -> ApiResult<UserRecord> {
    let missing = || ApiError::invalid("user_id", format!("User '{user_id}' does not exist"));
    let u = s.db.get_user(user_id).await?.ok_or_else(missing)?;
    scope.check(u, missing)
}

/// Mints and stores a key; returns the record and the plaintext. The key's tenant is the
/// scope's (`Scope::assign`); without one given it is the user's tenant.
pub async fn mint(
    s: &AppState,
    scope: &Scope,
    i: &VirtualKeyInput,
    user_id: Option<String>,
) -> ApiResult<(VirtualKeyRecord, String)> {
    let user = match &user_id {
        Some(u) => Some(user_in_scope(s, scope, u).await?),
        None => None,
    };
    let (plain, hash, prefix) = mint_key();
    let base = VirtualKeyRecord::new(hash, prefix, "api key".into(), user_id);
    let mut rec = apply(base, i)?;
    let requested = i
        .tenant_id
        .as_deref()
        .or(user.as_ref().and_then(|u| u.tenant_id.as_deref()));
    rec.tenant_id = scope.assign(requested)?;
    match &i.balance {
        Some(b) => {
            let amount = validate::amount("balance", b)?;
            rec.prepaid = true;
            let event = BalanceEventRecord {
                id: new_id(),
                key_id: rec.id.clone(),
                amount: amount.to_string(),
                note: Some("initial balance".into()),
                created_at: rec.created_at,
            };
            s.db.insert_virtual_key_with_balance(&rec, &event).await?;
        }
        None => s.db.insert_virtual_key(&rec).await?,
    }
    s.gateway.changed().await?;
    Ok((rec, plain))
}

async fn created(
    s: &AppState,
    rec: &VirtualKeyRecord,
    plain: String,
) -> ApiResult<(StatusCode, Json<VirtualKeyCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(VirtualKeyCreated {
            key_info: VirtualKeyOut::load(s, rec).await?,
            api_key: plain.clone(),
            key: plain,
        }),
    ))
}

#[utoipa::path(get, path = "/admin/api-keys", tag = "api-keys", params(Pagination),
    responses((status = 200, body = [VirtualKeyOut], description = "Keys in the caller's scope (a tenant admin: its tenant's)"),
        (status = 403, description = "Not an admin or tenant admin")),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    sc: Scoped,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<VirtualKeyOut>>> {
    let rows =
        s.db.list_virtual_keys_of(None, sc.scope.tenant(), pg.page()?)
            .await?;
    Ok(Json(VirtualKeyOut::load_all(&s, &rows).await?))
}

#[utoipa::path(post, path = "/admin/api-keys", tag = "api-keys", request_body = VirtualKeyInput,
    responses((status = 201, body = VirtualKeyCreated, description = "The plaintext `key` is shown only here"),
        (status = 403, description = "A tenant admin naming another tenant"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    sc: Scoped,
    ApiJson(i): ApiJson<VirtualKeyInput>,
) -> ApiResult<(StatusCode, Json<VirtualKeyCreated>)> {
    let (rec, plain) = mint(&s, &sc.scope, &i, i.user_id.clone()).await?;
    created(&s, &rec, plain).await
}

/// The key with this id when it is in the caller's scope, or 404.
pub async fn key_or_404(s: &AppState, scope: &Scope, id: &str) -> ApiResult<VirtualKeyRecord> {
    let not_found = || ApiError::not_found(format!("API key '{id}' not found"));
    let k = s.db.get_virtual_key(id).await?.ok_or_else(not_found)?;
    scope.check(k, not_found)
}

#[utoipa::path(get, path = "/admin/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 200, body = VirtualKeyOut), (status = 404, description = "Unknown key (or another tenant's)")), security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    sc: Scoped,
    Path(id): Path<String>,
) -> ApiResult<Json<VirtualKeyOut>> {
    let k = key_or_404(&s, &sc.scope, &id).await?;
    Ok(Json(VirtualKeyOut::load(&s, &k).await?))
}

#[utoipa::path(patch, path = "/admin/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)), request_body = VirtualKeyInput,
    responses((status = 200, body = VirtualKeyOut), (status = 403, description = "A tenant admin naming another tenant"),
        (status = 404, description = "Unknown key (or another tenant's)"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    sc: Scoped,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<VirtualKeyInput>,
) -> ApiResult<Json<VirtualKeyOut>> {
    let cur = key_or_404(&s, &sc.scope, &id).await?;
    if i.balance.is_some() {
        return Err(ApiError::invalid(
            "balance",
            "`balance` is only accepted on create; top up with POST /admin/api-keys/{id}/balance",
        ));
    }
    if let Some(u) = &i.user_id {
        user_in_scope(&s, &sc.scope, u).await?;
    }
    let mut rec = apply(cur, &i)?;
    if i.user_id.is_some() {
        rec.user_id = i.user_id.clone();
    }
    if i.tenant_id.is_some() {
        rec.tenant_id = sc.scope.assign(i.tenant_id.as_deref())?;
    }
    rec.updated_at = now_ms();
    s.db.update_virtual_key(&rec).await?;
    s.gateway.changed().await?;
    Ok(Json(VirtualKeyOut::load(&s, &rec).await?))
}

#[utoipa::path(delete, path = "/admin/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "Unknown key (or another tenant's)")), security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    sc: Scoped,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let k = key_or_404(&s, &sc.scope, &id).await?;
    if !s.db.delete_virtual_key(&k.id).await? {
        return Err(ApiError::not_found(format!("API key '{id}' not found")));
    }
    s.gateway.changed().await?;
    Ok(no_content())
}

/// Who may manage `user_id`'s keys: the global admin, a tenant admin of the user's tenant, or
/// the user itself. Returns the scope new keys are created in.
async fn may_manage(s: &AppState, c: &Caller, user_id: &str) -> ApiResult<Scope> {
    let not_found = || ApiError::not_found(format!("User '{user_id}' not found"));
    match c.0.scope() {
        Some(scope) => {
            let u = s.db.get_user(user_id).await?.ok_or_else(not_found)?;
            scope.check(u, not_found)?;
            Ok(scope)
        }
        None if c.0.user_id() == Some(user_id) => {
            let u = s.db.get_user(user_id).await?.ok_or_else(not_found)?;
            // A user's own keys belong to its tenant.
            Ok(match u.tenant_id {
                Some(t) => Scope::Tenant(t),
                None => Scope::All,
            })
        }
        None => Err(ApiError::forbidden("You may only manage your own API keys")),
    }
}

#[utoipa::path(get, path = "/users/{user_id}/api-keys", tag = "api-keys", params(("user_id" = String, Path), Pagination),
    responses((status = 200, body = [VirtualKeyOut]), (status = 403, description = "Another user's keys"), (status = 404, description = "Unknown user (or another tenant's)")), security(("bearer" = [])))]
pub async fn list_for_user(
    State(s): State<AppState>,
    c: Caller,
    Path(user_id): Path<String>,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<VirtualKeyOut>>> {
    may_manage(&s, &c, &user_id).await?;
    let rows = s.db.list_virtual_keys(Some(&user_id), pg.page()?).await?;
    Ok(Json(VirtualKeyOut::load_all(&s, &rows).await?))
}

#[utoipa::path(post, path = "/users/{user_id}/api-keys", tag = "api-keys", params(("user_id" = String, Path)), request_body = VirtualKeyInput,
    responses((status = 201, body = VirtualKeyCreated), (status = 403, description = "Another user's keys, or another tenant"),
        (status = 404, description = "Unknown user (or another tenant's)"), (status = 422, description = "Invalid field")), security(("bearer" = [])))]
pub async fn create_for_user(
    State(s): State<AppState>,
    c: Caller,
    Path(user_id): Path<String>,
    ApiJson(i): ApiJson<VirtualKeyInput>,
) -> ApiResult<(StatusCode, Json<VirtualKeyCreated>)> {
    let scope = may_manage(&s, &c, &user_id).await?;
    if i.user_id.as_ref().is_some_and(|u| *u != user_id) {
        return Err(ApiError::invalid(
            "user_id",
            "`user_id` in the body must match the path",
        ));
    }
    if c.0.scope().is_none() {
        // A user managing its own keys cannot fund them nor move them into a tenant.
        if i.balance.is_some() {
            return Err(ApiError::forbidden(
                "Only an administrator can give a key a prepaid balance",
            )
            .with_param("balance"));
        }
        if scope == Scope::All && i.tenant_id.is_some() {
            return Err(
                ApiError::forbidden("Only an administrator can put a key in a tenant")
                    .with_param("tenant_id"),
            );
        }
    }
    let (rec, plain) = mint(&s, &scope, &i, Some(user_id)).await?;
    created(&s, &rec, plain).await
}
