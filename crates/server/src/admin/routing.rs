//! `POST /routing/decide` and `GET|DELETE /routing/sessions/{session_id}` (seed 001).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_core::route::Decision;
use modelgate_core::sessions::Pin;
use serde::Deserialize;
use utoipa::ToSchema;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    /// A model name as a client would send it (aliases, logical models, `provider/model`).
    #[schema(example = "fast-model")]
    #[serde(alias = "logical_model")]
    pub model: String,
    /// A session id, to see its pin.
    #[serde(default, alias = "conversation_id")]
    pub session_id: Option<String>,
}

/// Ordered candidates with scores and the one that would be chosen; no upstream is called.
#[utoipa::path(post, path = "/routing/decide", tag = "routing", request_body = DecideInput,
    responses((status = 200, description = "The routing decision: `chosen`, ordered `candidates` with strategy scores, circuit state, in-flight, EWMA latency, success rate; `session` pin if any"),
        (status = 404, description = "Unknown model")),
    security(("bearer" = [])))]
pub async fn decide(
    State(s): State<AppState>,
    _a: AdminAuth,
    ApiJson(i): ApiJson<DecideInput>,
) -> ApiResult<Json<Decision>> {
    Ok(Json(
        modelgate_core::route::decide(&s.gateway, &i.model, i.session_id.as_deref()).await?,
    ))
}

#[utoipa::path(get, path = "/routing/sessions/{session_id}", tag = "routing", params(("session_id" = String, Path)),
    responses((status = 200, description = "The session's pin: model, provider, upstream model, times, request count"), (status = 404, description = "Unknown or expired session")),
    security(("bearer" = [])))]
pub async fn get_session(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Pin>> {
    s.gateway
        .sessions
        .pin(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("Session '{id}' not found")))
}

#[utoipa::path(delete, path = "/routing/sessions/{session_id}", tag = "routing", params(("session_id" = String, Path)),
    responses((status = 204, description = "Unpinned (context forgotten too)"), (status = 404, description = "Unknown session")), security(("bearer" = [])))]
pub async fn delete_session(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if s.gateway.sessions.remove(&id) {
        Ok(no_content())
    } else {
        Err(ApiError::not_found(format!("Session '{id}' not found")))
    }
}
