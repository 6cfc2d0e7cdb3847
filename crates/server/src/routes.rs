//! The route table: every public path → its handler. Nothing else lives here.

use axum::Router;
use axum::routing::{any, delete, get, post};

use crate::state::AppState;
use crate::{admin, data, health};

/// Control-plane routes (also mounted under `/api/v1`).
fn control_plane() -> Router<AppState> {
    use admin::*;
    Router::new()
        .route("/auth/login", post(auth::login))
        .route(
            "/system/secret-key/generate",
            post(system::generate_secret_key),
        )
        .route("/system/admin/init", post(system::admin_init))
        .route("/providers", get(providers::list).post(providers::create))
        .route("/providers/statistics", get(provider_health::statistics))
        .route("/providers/{provider}/health", get(provider_health::health))
        .route(
            "/providers/{provider}/metrics",
            get(provider_health::metrics),
        )
        .route("/providers/{provider}/test", post(provider_health::test))
        .route(
            "/providers/{provider}",
            get(providers::get)
                .put(providers::replace)
                .patch(providers::update)
                .delete(providers::delete),
        )
        .route(
            "/providers/{provider}/keys",
            get(upstream_keys::list).post(upstream_keys::create),
        )
        .route(
            "/providers/{provider}/keys/{key_id}",
            get(upstream_keys::get)
                .put(upstream_keys::replace)
                .patch(upstream_keys::update)
                .delete(upstream_keys::delete),
        )
        .route(
            "/providers/{provider}/models",
            get(models::list).post(models::create),
        )
        .route(
            "/providers/{provider}/models/{id}",
            get(models::get)
                .put(models::replace)
                .patch(models::update)
                .delete(models::delete),
        )
        .route("/admin/users", get(users::list).post(users::create))
        .route("/admin/users/{id}", get(users::get).delete(users::delete))
        .route(
            "/admin/api-keys",
            get(virtual_keys::list).post(virtual_keys::create),
        )
        .route(
            "/admin/api-keys/{id}",
            get(virtual_keys::get)
                .patch(virtual_keys::update)
                .delete(virtual_keys::delete),
        )
        .route("/admin/api-keys/{id}/usage", get(usage::usage))
        .route("/admin/api-keys/{id}/balance", post(balance::top_up))
        .route("/admin/api-keys/{id}/balance-events", get(balance::events))
        .route("/admin/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/admin/tenants/{id}",
            get(tenants::get).delete(tenants::delete),
        )
        .route(
            "/users/{user_id}/api-keys",
            get(virtual_keys::list_for_user).post(virtual_keys::create_for_user),
        )
        .route(
            "/logical-models",
            get(logical_models::list).post(logical_models::create),
        )
        .route(
            "/logical-models/{id}",
            get(logical_models::get)
                .put(logical_models::replace)
                .patch(logical_models::update)
                .delete(logical_models::delete),
        )
        .route(
            "/logical-models/{id}/upstreams",
            get(logical_models::upstreams),
        )
        .route("/routing/decide", post(routing::decide))
        .route(
            "/routing/sessions/{session_id}",
            get(routing::get_session).delete(routing::delete_session),
        )
        .route(
            "/admin/model-mappings",
            get(model_mappings::list_mappings).post(model_mappings::create_mapping),
        )
        .route(
            "/admin/model-mappings/{alias}",
            delete(model_mappings::delete_mapping),
        )
        .route(
            "/admin/models",
            get(model_mappings::list_models).post(model_mappings::create_model),
        )
        .route("/admin/models/{name}", delete(model_mappings::delete_model))
        .route("/admin/reload-config", post(model_mappings::reload_config))
        .route("/admin/stats", get(stats::stats))
        .route("/admin/logs", get(logs::list))
}

/// Data-plane routes: the four dialects, with the seeds' compatible prefixes.
fn data_plane() -> Router<AppState> {
    use data::{anthropic, gemini, openai};
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/chat/completions", post(openai::chat_completions))
        .route("/api/v1/chat/completions", post(openai::chat_completions))
        .route(
            "/api/v1/proxy/chat/completions",
            post(openai::chat_completions),
        )
        .route("/v1/responses", post(openai::responses))
        .route("/responses", post(openai::responses))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/models", get(openai::models))
        .route("/api/v1/models", get(openai::models))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1beta/models/{model_method}", post(gemini::model_method))
        .route("/v1/models/{model_method}", post(gemini::model_method))
        .route("/context/{session_id}", get(openai::context))
        .route("/", get(anthropic::root).head(anthropic::root))
        .route("/v1/{*path}", any(openai::passthrough))
}

/// The data-plane POST routes whose endpoint is fixed by the path alone. The ingress serves
/// these without the router (same handlers' work, fewer layers); `data_plane` routes the same
/// paths for requests that need the router's layers (CORS). A test keeps the two in step.
pub fn hot_data_post(path: &str) -> Option<modelgate_core::call::Endpoint> {
    use modelgate_core::call::Endpoint;
    Some(match path {
        "/v1/chat/completions"
        | "/chat/completions"
        | "/api/v1/chat/completions"
        | "/api/v1/proxy/chat/completions" => Endpoint::ChatCompletions,
        "/v1/responses" | "/responses" => Endpoint::Responses,
        "/v1/messages" => Endpoint::Messages,
        "/v1/messages/count_tokens" => Endpoint::MessagesCountTokens,
        "/v1/embeddings" | "/embeddings" => Endpoint::Embeddings,
        _ => return None,
    })
}

/// Every route of the server.
pub fn all() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(crate::openapi::openapi_json))
        .merge(data_plane())
        .merge(control_plane())
        .nest("/api/v1", control_plane())
}
