//! `/providers/{provider}/models`: model implementations (public model name → the provider's
//! model name, pricing, defaults).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_core::pricing::Pricing;
use modelgate_providers::ProviderKind;
use modelgate_store::{ModelRecord, ProviderRecord, new_id, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{no_content, provider_or_404};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Pagination, Scoped};
use crate::state::AppState;
use crate::validate::{self, ts};

/// The endpoint dialects a model implementation can be served with.
pub const DIALECTS: [&str; 5] = [
    "openai_chat",
    "openai_responses",
    "openai_embeddings",
    "anthropic_messages",
    "gemini",
];

/// A model implementation to create or change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    /// The public model name clients ask for.
    #[serde(default)]
    #[schema(example = "gpt-4o")]
    pub model_id: Option<String>,
    /// The provider's own name for it (defaults to `model_id`).
    #[serde(default)]
    pub provider_model_id: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub context_window: Option<i64>,
    /// Per-million-token prices: `{"input": 2.5, "output": 10, "cached_input": 1.25, "per_request": 0, "currency": "USD"}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub pricing_info: Option<serde_json::Value>,
    #[serde(default)]
    pub is_available: Option<bool>,
    /// Request defaults merged under the client's own fields, e.g. `{"temperature": 0.2}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_parameters: Option<serde_json::Value>,
    /// Endpoint dialect (alias `endpoint`): openai_chat (default), openai_responses, openai_embeddings, anthropic_messages, gemini.
    #[serde(default, alias = "endpoint")]
    pub dialect: Option<String>,
}

/// A model implementation as shown by the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelOut {
    pub id: String,
    pub provider_id: String,
    pub model_id: String,
    pub provider_model_id: String,
    pub version: Option<String>,
    pub context_window: Option<i64>,
    #[schema(value_type = Object)]
    pub pricing_info: serde_json::Value,
    pub is_available: bool,
    #[schema(value_type = Object)]
    pub custom_parameters: serde_json::Value,
    pub dialect: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ModelRecord> for ModelOut {
    fn from(m: &ModelRecord) -> Self {
        Self {
            id: m.id.clone(),
            provider_id: m.provider_id.clone(),
            model_id: m.model_id.clone(),
            provider_model_id: m.provider_model_id.clone(),
            version: m.version.clone(),
            context_window: m.context_window,
            pricing_info: serde_json::from_str(&m.pricing_info).unwrap_or_default(),
            is_available: m.is_available,
            custom_parameters: serde_json::from_str(&m.custom_parameters).unwrap_or_default(),
            dialect: m.dialect.clone(),
            created_at: ts(m.created_at),
            updated_at: ts(m.updated_at),
        }
    }
}

fn validate_input(m: &ModelInput) -> ApiResult<()> {
    if let Some(v) = &m.model_id {
        validate::text("model_id", v, validate::MAX_TEXT)?;
    }
    if let Some(v) = &m.provider_model_id {
        validate::text("provider_model_id", v, validate::MAX_TEXT)?;
    }
    if let Some(v) = &m.version {
        validate::bounded("version", v, validate::MAX_TEXT)?;
    }
    if let Some(v) = m.context_window {
        validate::range_i64("context_window", v, 1, 100_000_000)?;
    }
    if let Some(v) = &m.pricing_info {
        validate::object("pricing_info", v)?;
        Pricing::parse(&v.to_string())
            .map_err(|e| ApiError::invalid("pricing_info", format!("Invalid pricing_info: {e}")))?;
    }
    if let Some(v) = &m.custom_parameters {
        validate::object("custom_parameters", v)?;
    }
    if let Some(v) = &m.dialect {
        validate::one_of("dialect", v, &DIALECTS)?;
    }
    Ok(())
}

/// The model dialect a provider kind serves by default.
fn default_dialect(kind: &str) -> &'static str {
    match kind {
        "anthropic" => "anthropic_messages",
        "gemini" => "gemini",
        _ => "openai_chat",
    }
}

/// Every stored setting is applied or refused: a model `dialect` its provider cannot serve is
/// refused (422) instead of being accepted and ignored.
pub fn check_dialect(provider: &ProviderRecord, dialect: &str) -> ApiResult<()> {
    use modelgate_formats::Dialect;
    let kind: ProviderKind = provider
        .kind
        .parse()
        .map_err(|e: String| ApiError::invalid("kind", e))?;
    let extra: Vec<String> = serde_json::from_str(&provider.dialects).unwrap_or_default();
    let speaks = |d: Dialect| {
        kind.spec().dialects.contains(&d)
            || (kind.can_speak(d) && extra.iter().any(|e| e == d.as_str()))
    };
    let ok = match dialect {
        "openai_chat" => speaks(Dialect::OpenaiChat),
        "openai_responses" => speaks(Dialect::OpenaiResponses),
        "openai_embeddings" => kind.spec().openai_endpoints,
        "anthropic_messages" => speaks(Dialect::Anthropic),
        "gemini" => speaks(Dialect::Gemini),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "dialect",
            format!(
                "a `{}` provider cannot serve models of dialect `{dialect}`",
                provider.kind
            ),
        ))
    }
}

/// Builds a new model record from input.
pub fn new_model_record(provider: &ProviderRecord, m: &ModelInput) -> ApiResult<ModelRecord> {
    validate_input(m)?;
    let provider_id = provider.id.as_str();
    let model_id = m
        .model_id
        .clone()
        .ok_or_else(|| ApiError::invalid("model_id", "`model_id` is required"))?;
    let now = now_ms();
    Ok(ModelRecord {
        id: new_id(),
        provider_id: provider_id.to_owned(),
        provider_model_id: m
            .provider_model_id
            .clone()
            .unwrap_or_else(|| model_id.clone()),
        model_id,
        version: m.version.clone(),
        context_window: m.context_window,
        pricing_info: m
            .pricing_info
            .as_ref()
            .map_or_else(|| "{}".into(), |v| v.to_string()),
        is_available: m.is_available.unwrap_or(true),
        custom_parameters: m
            .custom_parameters
            .as_ref()
            .map_or_else(|| "{}".into(), |v| v.to_string()),
        dialect: {
            let d = m
                .dialect
                .clone()
                .unwrap_or_else(|| default_dialect(&provider.kind).into());
            check_dialect(provider, &d)?;
            d
        },
        created_at: now,
        updated_at: now,
    })
}

#[utoipa::path(get, path = "/providers/{provider}/models", tag = "providers",
    params(("provider" = String, Path, description = "Provider id or name"), Pagination),
    responses((status = 200, body = [ModelOut]), (status = 404, description = "Unknown provider")),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<ModelOut>>> {
    let provider = provider_or_404(&s, &sc.scope, &p).await?;
    let models = s.db.list_models(&provider.id, pg.page()?).await?;
    Ok(Json(models.iter().map(ModelOut::from).collect()))
}

#[utoipa::path(post, path = "/providers/{provider}/models", tag = "providers",
    params(("provider" = String, Path)), request_body = ModelInput,
    responses((status = 201, body = ModelOut), (status = 404, description = "Unknown provider"), (status = 409, description = "model_id already exists for this provider"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    sc: Scoped,
    Path(p): Path<String>,
    body: ApiResult<ApiJson<ModelInput>>,
) -> ApiResult<(StatusCode, Json<ModelOut>)> {
    // An unknown provider is a 404 whatever the body.
    let provider = provider_or_404(&s, &sc.scope, &p).await?;
    let ApiJson(input) = body?;
    let rec = new_model_record(&provider, &input)?;
    s.db.insert_model(&rec).await?;
    s.gateway.changed().await?;
    Ok((StatusCode::CREATED, Json(ModelOut::from(&rec))))
}

async fn model_or_404(s: &AppState, sc: &Scoped, p: &str, id: &str) -> ApiResult<ModelRecord> {
    let provider = provider_or_404(s, &sc.scope, p).await?;
    s.db.find_model(&provider.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Model '{id}' not found for this provider")))
}

#[utoipa::path(get, path = "/providers/{provider}/models/{id}", tag = "providers",
    params(("provider" = String, Path), ("id" = String, Path, description = "Model implementation id or model_id")),
    responses((status = 200, body = ModelOut), (status = 404, description = "Unknown provider or model")),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    sc: Scoped,
    Path((p, id)): Path<(String, String)>,
) -> ApiResult<Json<ModelOut>> {
    Ok(Json(ModelOut::from(&model_or_404(&s, &sc, &p, &id).await?)))
}

async fn apply(
    s: &AppState,
    sc: &Scoped,
    p: &str,
    id: &str,
    m: ModelInput,
    replace: bool,
) -> ApiResult<Json<ModelOut>> {
    let provider = provider_or_404(s, &sc.scope, p).await?;
    let mut rec = model_or_404(s, sc, p, id).await?;
    validate_input(&m)?;
    if replace {
        let model_id = m
            .model_id
            .clone()
            .ok_or_else(|| ApiError::invalid("model_id", "`model_id` is required"))?;
        let mut fresh = new_model_record(
            &provider,
            &ModelInput {
                model_id: Some(model_id),
                ..m
            },
        )?;
        fresh.id = rec.id;
        fresh.created_at = rec.created_at;
        rec = fresh;
    } else {
        if let Some(v) = m.model_id {
            rec.model_id = v;
        }
        if let Some(v) = m.provider_model_id {
            rec.provider_model_id = v;
        }
        if m.version.is_some() {
            rec.version = m.version;
        }
        if m.context_window.is_some() {
            rec.context_window = m.context_window;
        }
        if let Some(v) = m.pricing_info {
            rec.pricing_info = v.to_string();
        }
        if let Some(v) = m.is_available {
            rec.is_available = v;
        }
        if let Some(v) = m.custom_parameters {
            rec.custom_parameters = v.to_string();
        }
        if let Some(v) = m.dialect {
            rec.dialect = v;
        }
    }
    check_dialect(&provider, &rec.dialect)?;
    rec.updated_at = now_ms();
    s.db.update_model(&rec).await?;
    s.gateway.changed().await?;
    Ok(Json(ModelOut::from(&rec)))
}

#[utoipa::path(put, path = "/providers/{provider}/models/{id}", tag = "providers",
    params(("provider" = String, Path), ("id" = String, Path)), request_body = ModelInput,
    responses((status = 200, body = ModelOut), (status = 404, description = "Unknown provider or model"), (status = 409, description = "model_id taken")),
    security(("bearer" = [])))]
pub async fn replace(
    State(s): State<AppState>,
    sc: Scoped,
    Path((p, id)): Path<(String, String)>,
    body: ApiResult<ApiJson<ModelInput>>,
) -> ApiResult<Json<ModelOut>> {
    // An unknown provider or model is a 404 whatever the body.
    model_or_404(&s, &sc, &p, &id).await?;
    let ApiJson(m) = body?;
    apply(&s, &sc, &p, &id, m, true).await
}

#[utoipa::path(patch, path = "/providers/{provider}/models/{id}", tag = "providers",
    params(("provider" = String, Path), ("id" = String, Path)), request_body = ModelInput,
    responses((status = 200, body = ModelOut), (status = 404, description = "Unknown provider or model"), (status = 409, description = "model_id taken")),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    sc: Scoped,
    Path((p, id)): Path<(String, String)>,
    body: ApiResult<ApiJson<ModelInput>>,
) -> ApiResult<Json<ModelOut>> {
    // An unknown provider or model is a 404 whatever the body.
    model_or_404(&s, &sc, &p, &id).await?;
    let ApiJson(m) = body?;
    apply(&s, &sc, &p, &id, m, false).await
}

#[utoipa::path(delete, path = "/providers/{provider}/models/{id}", tag = "providers",
    params(("provider" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, description = "Unknown provider or model")),
    security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    sc: Scoped,
    Path((p, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let rec = model_or_404(&s, &sc, &p, &id).await?;
    s.db.delete_model(&rec.provider_id, &rec.id).await?;
    s.gateway.changed().await?;
    Ok(no_content())
}
