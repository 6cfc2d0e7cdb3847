//! Seed 004's model management: aliases (`/admin/model-mappings`), registered model names
//! (`/admin/models`) and `POST /admin/reload-config`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_store::{AliasRecord, RegisteredModelRecord, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson};
use crate::state::AppState;
use crate::validate;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingInput {
    #[schema(example = "claude")]
    pub alias: String,
    /// The model the alias stands for (seed name `actual_model`; alias `target`).
    #[serde(alias = "target")]
    #[schema(example = "gpt-4")]
    pub actual_model: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MappingOut {
    pub alias: String,
    pub actual_model: String,
    /// `api` (stored) or `config` (`MODEL_MAPPINGS`; an `api` mapping of the same alias wins).
    pub source: String,
}

#[utoipa::path(get, path = "/admin/model-mappings", tag = "routing", responses((status = 200, body = [MappingOut])), security(("bearer" = [])))]
pub async fn list_mappings(
    State(s): State<AppState>,
    _a: AdminAuth,
) -> ApiResult<Json<Vec<MappingOut>>> {
    let stored = s.db.all_aliases().await?;
    let mut out: Vec<MappingOut> = stored
        .iter()
        .map(|a| MappingOut {
            alias: a.alias.clone(),
            actual_model: a.target.clone(),
            source: "api".into(),
        })
        .collect();
    let cfg = s.gateway.routing.load();
    let mut from_cfg: Vec<_> = cfg
        .mappings
        .iter()
        .filter(|(k, _)| !stored.iter().any(|a| &a.alias == *k))
        .collect();
    from_cfg.sort();
    out.extend(from_cfg.into_iter().map(|(k, v)| MappingOut {
        alias: k.clone(),
        actual_model: v.clone(),
        source: "config".into(),
    }));
    Ok(Json(out))
}

#[utoipa::path(post, path = "/admin/model-mappings", tag = "routing", request_body = MappingInput,
    responses((status = 201, body = MappingOut), (status = 422, description = "Invalid field")), security(("bearer" = [])))]
pub async fn create_mapping(
    State(s): State<AppState>,
    _a: AdminAuth,
    ApiJson(i): ApiJson<MappingInput>,
) -> ApiResult<(StatusCode, Json<MappingOut>)> {
    validate::text("alias", &i.alias, validate::MAX_TEXT)?;
    validate::text("actual_model", &i.actual_model, validate::MAX_TEXT)?;
    if i.alias == i.actual_model {
        return Err(ApiError::invalid(
            "actual_model",
            "an alias cannot point to itself",
        ));
    }
    s.db.upsert_alias(&AliasRecord {
        alias: i.alias.clone(),
        target: i.actual_model.clone(),
        created_at: now_ms(),
    })
    .await?;
    s.gateway.changed().await?;
    Ok((
        StatusCode::CREATED,
        Json(MappingOut {
            alias: i.alias,
            actual_model: i.actual_model,
            source: "api".into(),
        }),
    ))
}

#[utoipa::path(delete, path = "/admin/model-mappings/{alias}", tag = "routing", params(("alias" = String, Path)),
    responses((status = 204), (status = 404, description = "No stored mapping with this alias")), security(("bearer" = [])))]
pub async fn delete_mapping(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(alias): Path<String>,
) -> ApiResult<StatusCode> {
    if !s.db.delete_alias(&alias).await? {
        return Err(ApiError::not_found(format!(
            "No stored mapping '{alias}' (mappings from MODEL_MAPPINGS change with the config)"
        )));
    }
    s.gateway.changed().await?;
    Ok(no_content())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisteredModelInput {
    #[schema(example = "new-model-name")]
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredModelOut {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// `api` (stored) or `config` (`AVAILABLE_MODELS`).
    pub source: String,
}

#[utoipa::path(get, path = "/admin/models", tag = "routing", responses((status = 200, body = [RegisteredModelOut])), security(("bearer" = [])))]
pub async fn list_models(
    State(s): State<AppState>,
    _a: AdminAuth,
) -> ApiResult<Json<Vec<RegisteredModelOut>>> {
    let stored = s.db.all_registered_models().await?;
    let mut out: Vec<RegisteredModelOut> = stored
        .iter()
        .map(|m| RegisteredModelOut {
            name: m.name.clone(),
            display_name: m.display_name.clone(),
            description: m.description.clone(),
            source: "api".into(),
        })
        .collect();
    let cfg = s.gateway.routing.load();
    out.extend(
        cfg.available_models
            .iter()
            .filter(|n| !stored.iter().any(|m| &m.name == *n))
            .map(|n| RegisteredModelOut {
                name: n.clone(),
                display_name: None,
                description: None,
                source: "config".into(),
            }),
    );
    Ok(Json(out))
}

#[utoipa::path(post, path = "/admin/models", tag = "routing", request_body = RegisteredModelInput,
    responses((status = 201, body = RegisteredModelOut), (status = 422, description = "Invalid field")), security(("bearer" = [])))]
pub async fn create_model(
    State(s): State<AppState>,
    _a: AdminAuth,
    ApiJson(i): ApiJson<RegisteredModelInput>,
) -> ApiResult<(StatusCode, Json<RegisteredModelOut>)> {
    validate::text("name", &i.name, validate::MAX_TEXT)?;
    if let Some(d) = &i.display_name {
        validate::text("display_name", d, validate::MAX_TEXT)?;
    }
    if let Some(d) = &i.description {
        validate::bounded("description", d, validate::MAX_DESCRIPTION)?;
    }
    s.db.upsert_registered_model(&RegisteredModelRecord {
        name: i.name.clone(),
        display_name: i.display_name.clone(),
        description: i.description.clone(),
        created_at: now_ms(),
    })
    .await?;
    s.gateway.changed().await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredModelOut {
            name: i.name,
            display_name: i.display_name,
            description: i.description,
            source: "api".into(),
        }),
    ))
}

#[utoipa::path(delete, path = "/admin/models/{name}", tag = "routing", params(("name" = String, Path)),
    responses((status = 204), (status = 404, description = "No stored model with this name")), security(("bearer" = [])))]
pub async fn delete_model(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if !s.db.delete_registered_model(&name).await? {
        return Err(ApiError::not_found(format!("No stored model '{name}'")));
    }
    s.gateway.changed().await?;
    Ok(no_content())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadOut {
    pub reloaded: bool,
    /// Providers declared by the config file or env vars, re-synchronised.
    pub declared_providers: usize,
    pub model_mappings: usize,
    pub available_models: usize,
}

#[utoipa::path(post, path = "/admin/reload-config", tag = "routing",
    responses((status = 200, body = ReloadOut), (status = 422, description = "The config is invalid; nothing changed")), security(("bearer" = [])))]
pub async fn reload_config(State(s): State<AppState>, _a: AdminAuth) -> ApiResult<Json<ReloadOut>> {
    let settings = crate::config::Settings::load(&s.overrides)
        .map_err(|e| ApiError::invalid("config", format!("invalid configuration: {e}")))?;
    let n = crate::declared::sync_declared(&s.db, &s.gateway.secrets, &settings)
        .await
        .map_err(|e| ApiError::invalid("config", e.to_string()))?;
    let routing = settings.routing();
    let out = ReloadOut {
        reloaded: true,
        declared_providers: n,
        model_mappings: routing.mappings.len(),
        available_models: routing.available_models.len(),
    };
    s.gateway.routing.store(std::sync::Arc::new(routing));
    s.gateway.changed().await?;
    tracing::info!(declared_providers = n, "configuration reloaded");
    Ok(Json(out))
}
