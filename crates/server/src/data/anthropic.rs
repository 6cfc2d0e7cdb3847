//! Anthropic Messages handlers: `POST /v1/messages` (also `?beta=true`, as Claude Code sends
//! it) and `POST /v1/messages/count_tokens`, plus the `HEAD /` warm-up Claude Code makes.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use modelgate_core::call::Endpoint;

use super::{inbound, serve};
use crate::extract::RawBody;
use crate::state::AppState;

#[utoipa::path(post, path = "/v1/messages", tag = "data plane",
    request_body(content = super::schemas::MessagesRequest, description = "An Anthropic Messages request"),
    responses((status = 200, description = "A message, or an SSE stream of `message_start`, `content_block_*`, `message_delta`, `message_stop` events", body = super::schemas::Message),
        (status = 400, description = "Invalid body", body = super::schemas::AnthropicError)),
    security(("x_api_key" = [])))]
pub async fn messages(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    serve(&s, inbound(Endpoint::Messages, &headers, &uri, body)).await
}

#[utoipa::path(post, path = "/v1/messages/count_tokens", tag = "data plane",
    request_body(content = super::schemas::MessagesRequest, description = "An Anthropic Messages request (without `max_tokens`)"),
    responses((status = 200, description = "`{\"input_tokens\": N}`; `x-modelgate-token-estimate: true` when counted locally")),
    security(("x_api_key" = [])))]
pub async fn count_tokens(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    serve(
        &s,
        inbound(Endpoint::MessagesCountTokens, &headers, &uri, body),
    )
    .await
}

/// `HEAD /` and `GET /`: the connectivity check some clients make before their first call.
pub async fn root() -> StatusCode {
    StatusCode::OK
}
