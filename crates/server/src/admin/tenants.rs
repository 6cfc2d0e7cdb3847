//! `/admin/tenants` (seed 003): the tenants that own providers, users, virtual keys and their
//! request logs. The global admin creates and deletes them; a tenant admin sees only its own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_store::{TenantRecord, new_id, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson, ApiQuery, Pagination, Scoped};
use crate::state::AppState;
use crate::validate::{self, ts};

/// A tenant to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    /// A unique display name.
    #[schema(example = "Acme Corp")]
    pub name: String,
    /// The id other objects name in `tenant_id` (a slug; default: a new UUID). Giving it lets
    /// keys and providers already tagged `"acme"` belong to the new tenant.
    #[serde(default)]
    #[schema(example = "acme")]
    pub id: Option<String>,
}

/// A tenant as shown by the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantOut {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl From<&TenantRecord> for TenantOut {
    fn from(t: &TenantRecord) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            created_at: ts(t.created_at),
        }
    }
}

#[utoipa::path(get, path = "/admin/tenants", tag = "tenants", params(Pagination),
    responses((status = 200, body = [TenantOut], description = "Every tenant (a tenant admin: its own)"),
        (status = 403, description = "Not an admin or tenant admin")),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    sc: Scoped,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<TenantOut>>> {
    let page = pg.page()?;
    let rows = match sc.scope.tenant() {
        None => s.db.list_tenants(page).await?,
        Some(t) => s.db.get_tenant(t).await?.into_iter().collect(),
    };
    Ok(Json(rows.iter().map(TenantOut::from).collect()))
}

#[utoipa::path(post, path = "/admin/tenants", tag = "tenants", request_body = TenantInput,
    responses((status = 201, body = TenantOut), (status = 403, description = "Needs the admin role"),
        (status = 409, description = "Id or name taken"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    _a: AdminAuth,
    ApiJson(i): ApiJson<TenantInput>,
) -> ApiResult<(StatusCode, Json<TenantOut>)> {
    validate::text("name", &i.name, validate::MAX_TEXT)?;
    if let Some(id) = &i.id {
        validate::slug("id", id)?;
    }
    let rec = TenantRecord {
        id: i.id.clone().unwrap_or_else(new_id),
        name: i.name.clone(),
        created_at: now_ms(),
    };
    s.db.insert_tenant(&rec).await?;
    Ok((StatusCode::CREATED, Json(TenantOut::from(&rec))))
}

#[utoipa::path(get, path = "/admin/tenants/{id}", tag = "tenants", params(("id" = String, Path)),
    responses((status = 200, body = TenantOut), (status = 404, description = "Unknown tenant (or another tenant)")),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    sc: Scoped,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantOut>> {
    let not_found = || ApiError::not_found(format!("Tenant '{id}' not found"));
    let t = s.db.get_tenant(&id).await?.ok_or_else(not_found)?;
    let t = sc.scope.check(t, not_found)?;
    Ok(Json(TenantOut::from(&t)))
}

#[utoipa::path(delete, path = "/admin/tenants/{id}", tag = "tenants", params(("id" = String, Path)),
    responses((status = 204), (status = 403, description = "Needs the admin role"), (status = 404, description = "Unknown tenant"),
        (status = 409, description = "The tenant still owns providers, users or virtual keys")),
    security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !s.db.delete_tenant(&id).await? {
        return Err(ApiError::not_found(format!("Tenant '{id}' not found")));
    }
    Ok(no_content())
}
