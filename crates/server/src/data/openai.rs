//! OpenAI-dialect handlers: chat completions (also Claude- and Gemini-style bodies, seed 001),
//! responses, embeddings, the model list, session context, and every other `/v1/*` endpoint
//! passed through.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use modelgate_core::call::Endpoint;

use super::{inbound, into_response, serve};
use crate::error::{ApiError, ApiResult};
use crate::extract::RawBody;
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/chat/completions", tag = "data plane",
    request_body(content = super::schemas::ChatCompletionRequest, description = "An OpenAI chat completion request (Claude-style `system`/`messages` and Gemini-style `contents` bodies are detected and converted)"),
    responses((status = 200, description = "A chat completion, or an SSE stream of chunks when `stream` is true or `Accept: text/event-stream`", body = super::schemas::ChatCompletion),
        (status = 400, description = "Invalid body", body = super::schemas::OpenAiError),
        (status = 401, description = "Unknown, expired or disabled key"), (status = 403, description = "Model not allowed for this key"),
        (status = 404, description = "Unknown model (`model_not_found`)"), (status = 502, description = "Upstream unreachable"), (status = 504, description = "Upstream timeout")),
    security(("bearer" = [])))]
pub async fn chat_completions(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    serve(&s, inbound(Endpoint::ChatCompletions, &headers, &uri, body)).await
}

#[utoipa::path(post, path = "/v1/responses", tag = "data plane",
    request_body(content = super::schemas::ResponsesRequest, description = "An OpenAI Responses request"),
    responses((status = 200, description = "A response object, or an SSE stream of `response.*` events when `stream` is true", body = super::schemas::ResponseObject),
        (status = 400, description = "Invalid body, or `previous_response_not_found`", body = super::schemas::OpenAiError)),
    security(("bearer" = [])))]
pub async fn responses(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    serve(&s, inbound(Endpoint::Responses, &headers, &uri, body)).await
}

#[utoipa::path(post, path = "/v1/embeddings", tag = "data plane",
    request_body(content = super::schemas::EmbeddingsRequest, description = "An OpenAI embeddings request"),
    responses((status = 200, description = "Embeddings")), security(("bearer" = [])))]
pub async fn embeddings(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    serve(&s, inbound(Endpoint::Embeddings, &headers, &uri, body)).await
}

#[utoipa::path(get, path = "/v1/models", tag = "data plane",
    responses((status = 200, description = "OpenAI-shaped model list: catalogue models and providers' own lists, filtered by the key's allowed models")),
    security(("bearer" = [])))]
pub async fn models(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let key = super::presented_key(&headers, &uri);
    let caller = match modelgate_core::pipeline::caller_usable(&s.gateway, key.as_deref()) {
        Ok(c) => c,
        Err(r) => return into_response(r),
    };
    let list = modelgate_core::route::list_models(&s.gateway, &caller).await;
    let data: Vec<serde_json::Value> = list
        .into_iter()
        .map(|(id, owner)| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
        .collect();
    axum::Json(serde_json::json!({"object": "list", "data": data})).into_response()
}

#[utoipa::path(post, path = "/v1/{path}", tag = "data plane",
    params(("path" = String, Path, description = "Any other OpenAI endpoint: images, audio (multipart), moderations, files, …")),
    responses((status = 200, description = "The upstream's answer, unchanged")), security(("bearer" = [])))]
pub async fn passthrough(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    Path(path): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    // The path as the client sent it, still percent-encoded: `a%2Fb` must not become `a/b`.
    let raw_path = uri.path().strip_prefix("/v1/").map_or(path, str::to_owned);
    let endpoint = Endpoint::Passthrough {
        method,
        path: raw_path,
        query: uri.query().map(str::to_owned),
    };
    serve(&s, inbound(endpoint, &headers, &uri, body)).await
}

#[utoipa::path(get, path = "/context/{session_id}", tag = "data plane", params(("session_id" = String, Path)),
    responses((status = 200, description = "The stored messages of a session: `{session_id, messages: [{role, content, at_ms}]}`"), (status = 404, description = "No context of this key under this session id (unknown, expired, or another key's)")),
    security(("bearer" = [])))]
pub async fn context(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Path(session): Path<String>,
) -> ApiResult<Response> {
    let key = super::presented_key(&headers, &uri);
    let caller = match modelgate_core::pipeline::caller_usable(&s.gateway, key.as_deref()) {
        Ok(c) => c,
        Err(r) => return Ok(into_response(r)),
    };
    // A key sees only the context it built itself under this session id.
    match s.gateway.sessions.context(&session, &caller.owner()) {
        Some(messages) => Ok(axum::Json(
            serde_json::json!({"session_id": session, "messages": messages}),
        )
        .into_response()),
        None => Err(ApiError::not_found(format!(
            "Session '{session}' has no stored context"
        ))),
    }
}
