//! The OpenAPI document, generated from the handlers' annotations (the data plane's request
//! and response schemas of the four dialects are in `data::schemas`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{admin, data, health};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(
                    "Control plane: the admin key or a JWT from /auth/login. Data plane: a virtual key (`mg-…`), also accepted as `X-API-Key`, `x-goog-api-key` or `?key=`.",
                )).build()),
            );
            c.add_security_scheme(
                "x_api_key",
                SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                    utoipa::openapi::security::ApiKeyValue::new("x-api-key"),
                )),
            );
            c.add_security_scheme(
                "x_goog_api_key",
                SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                    utoipa::openapi::security::ApiKeyValue::new("x-goog-api-key"),
                )),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "modelgate", description = "An AI gateway: OpenAI Chat and Responses, Anthropic Messages and Gemini endpoints in front of many LLM providers, converting between dialects. Every admin path is also served under `/api/v1`. Admin errors use the OpenAI shape `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`; data-plane errors use the shape of the client's dialect."),
    modifiers(&BearerAuth),
    paths(
        health::health,
        admin::auth::login,
        admin::system::generate_secret_key, admin::system::admin_init,
        admin::providers::list, admin::providers::create, admin::providers::get, admin::providers::replace, admin::providers::update, admin::providers::delete,
        admin::upstream_keys::list, admin::upstream_keys::create, admin::upstream_keys::get, admin::upstream_keys::replace, admin::upstream_keys::update, admin::upstream_keys::delete,
        admin::models::list, admin::models::create, admin::models::get, admin::models::replace, admin::models::update, admin::models::delete,
        admin::users::list, admin::users::create, admin::users::get, admin::users::delete,
        admin::virtual_keys::list, admin::virtual_keys::create, admin::virtual_keys::get, admin::virtual_keys::update, admin::virtual_keys::delete,
        admin::virtual_keys::list_for_user, admin::virtual_keys::create_for_user, admin::usage::usage,
        admin::balance::top_up, admin::balance::events,
        admin::tenants::list, admin::tenants::create, admin::tenants::get, admin::tenants::delete,
        admin::stats::stats, admin::logs::list,
        admin::provider_health::health, admin::provider_health::metrics, admin::provider_health::statistics, admin::provider_health::test,
        admin::logical_models::list, admin::logical_models::create, admin::logical_models::get, admin::logical_models::replace, admin::logical_models::update, admin::logical_models::delete, admin::logical_models::upstreams,
        admin::routing::decide, admin::routing::get_session, admin::routing::delete_session,
        admin::model_mappings::list_mappings, admin::model_mappings::create_mapping, admin::model_mappings::delete_mapping,
        admin::model_mappings::list_models, admin::model_mappings::create_model, admin::model_mappings::delete_model, admin::model_mappings::reload_config,
        data::openai::context,
        data::openai::chat_completions, data::openai::responses, data::openai::embeddings, data::openai::models, data::openai::passthrough,
        data::anthropic::messages, data::anthropic::count_tokens,
        data::gemini::model_method,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "providers", description = "Providers, their upstream keys and model implementations"),
        (name = "api-keys", description = "Virtual API keys for the data plane"),
        (name = "data plane", description = "OpenAI-compatible endpoints for applications"),
        (name = "routing", description = "Logical models, aliases, routing decisions and sticky sessions"),
        (name = "tenants", description = "Tenants (seed 003): a tenant admin sees only its tenant's objects"),
    )
)]
pub struct ApiDoc;

/// The error body every endpoint uses.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    message: String,
    #[schema(rename = "type")]
    kind: String,
    param: Option<String>,
    code: Option<String>,
}

/// `GET /openapi.json`: the document is generated on first use, not at start-up.
pub async fn openapi_json() -> impl axum::response::IntoResponse {
    static DOC: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| ApiDoc::openapi().to_json().unwrap_or_default());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOC.as_str(),
    )
}
