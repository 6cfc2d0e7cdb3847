//! `/admin/users`: people and service accounts (seeds 001, 002).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_store::{UserRecord, new_id, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Pagination, ROLES, Scope, Scoped};
use crate::state::AppState;
use crate::validate::{self, ts};

/// A user to create.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[schema(example = "alice")]
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Optional; a user without a password cannot log in but can own keys.
    #[serde(default)]
    pub password: Option<String>,
    /// `admin`, `tenant_admin` (manages only its tenant; needs `tenant_id`) or `user` (default).
    #[serde(default)]
    pub role: Option<String>,
    /// The tenant the user belongs to (must exist). A tenant admin's users always belong to
    /// its tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// A user as shown by the API (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: String,
    pub tenant_id: Option<String>,
    pub enabled: bool,
    pub has_password: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserRecord> for UserOut {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role.clone(),
            tenant_id: u.tenant_id.clone(),
            enabled: u.enabled,
            has_password: u.password_hash.is_some(),
            created_at: ts(u.created_at),
            updated_at: ts(u.updated_at),
        }
    }
}

/// Validates and builds a user record (hashing the password).
pub async fn new_user_record(i: &UserInput) -> ApiResult<UserRecord> {
    validate::slug("username", &i.username)?;
    if let Some(e) = &i.email {
        validate::text("email", e, validate::MAX_TEXT)?;
        if !e.contains('@') {
            return Err(ApiError::invalid(
                "email",
                "`email` must be an email address",
            ));
        }
    }
    if let Some(d) = &i.display_name {
        validate::text("display_name", d, validate::MAX_TEXT)?;
    }
    if let Some(p) = &i.password
        && (p.len() < 8 || p.len() > 1024)
    {
        return Err(ApiError::invalid(
            "password",
            "`password` must be 8 to 1024 bytes long",
        ));
    }
    let role = i.role.clone().unwrap_or_else(|| "user".into());
    validate::one_of("role", &role, &ROLES)?;
    if let Some(t) = &i.tenant_id {
        validate::text("tenant_id", t, validate::MAX_TEXT)?;
    }
    if role == "tenant_admin" && i.tenant_id.is_none() {
        return Err(ApiError::invalid(
            "tenant_id",
            "a `tenant_admin` needs a `tenant_id`",
        ));
    }
    let password_hash = match &i.password {
        Some(p) => Some(super::passwords::hash(p.clone()).await?),
        None => None,
    };
    let now = now_ms();
    Ok(UserRecord {
        id: new_id(),
        username: i.username.clone(),
        email: i.email.clone(),
        display_name: i.display_name.clone(),
        password_hash,
        role,
        enabled: true,
        created_at: now,
        updated_at: now,
        tenant_id: i.tenant_id.clone(),
    })
}

#[utoipa::path(get, path = "/admin/users", tag = "users", params(Pagination),
    responses((status = 200, body = [UserOut], description = "Users in the caller's scope (a tenant admin: its tenant's)"),
        (status = 403, description = "Not an admin or tenant admin")),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    sc: Scoped,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<UserOut>>> {
    let rows = s.db.list_users_of(sc.scope.tenant(), pg.page()?).await?;
    Ok(Json(rows.iter().map(UserOut::from).collect()))
}

#[utoipa::path(post, path = "/admin/users", tag = "users", request_body = UserInput,
    responses((status = 201, body = UserOut), (status = 403, description = "A tenant admin naming another tenant or the admin role"),
        (status = 409, description = "Username taken"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    sc: Scoped,
    ApiJson(mut i): ApiJson<UserInput>,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    i.tenant_id = sc.scope.assign(i.tenant_id.as_deref())?;
    if sc.scope != Scope::All && i.role.as_deref() == Some("admin") {
        return Err(
            ApiError::forbidden("A tenant admin cannot create global admins").with_param("role"),
        );
    }
    let rec = new_user_record(&i).await?;
    if let Some(t) = &rec.tenant_id
        && s.db.get_tenant(t).await?.is_none()
    {
        return Err(ApiError::invalid(
            "tenant_id",
            format!("Tenant '{t}' does not exist"),
        ));
    }
    s.db.insert_user(&rec).await?;
    Ok((StatusCode::CREATED, Json(UserOut::from(&rec))))
}

async fn user_or_404(s: &AppState, scope: &Scope, id: &str) -> ApiResult<UserRecord> {
    let not_found = || ApiError::not_found(format!("User '{id}' not found"));
    let u = s.db.get_user(id).await?.ok_or_else(not_found)?;
    scope.check(u, not_found)
}

#[utoipa::path(get, path = "/admin/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserOut), (status = 404, description = "Unknown user (or another tenant's)")), security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    sc: Scoped,
    Path(id): Path<String>,
) -> ApiResult<Json<UserOut>> {
    Ok(Json(UserOut::from(&user_or_404(&s, &sc.scope, &id).await?)))
}

#[utoipa::path(delete, path = "/admin/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted with their virtual keys"), (status = 404, description = "Unknown user (or another tenant's)")), security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    sc: Scoped,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let u = user_or_404(&s, &sc.scope, &id).await?;
    if !s.db.delete_user(&u.id).await? {
        return Err(ApiError::not_found(format!("User '{id}' not found")));
    }
    s.gateway.changed().await?;
    Ok(no_content())
}
