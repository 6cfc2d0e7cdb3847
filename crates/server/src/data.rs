//! Data-plane handlers: OpenAI chat completions, embeddings, the model list and passthrough
//! of every other `/v1/*` endpoint. Each authenticates the virtual key, decodes only what
//! routing needs and hands the request to the gateway core.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use modelgate_core::dispatch::{Call, Endpoint, Reply, ReplyBody};
use modelgate_core::gateway::{Auth, PassRequest};
use modelgate_formats::raw::RawObject;
use std::time::Instant;

use crate::error::{ApiError, ApiResult};
use crate::extract::RawBody;
use crate::state::AppState;

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(modelgate_store::new_id)
}

fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t);
        }
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok())
}

fn authenticate(s: &AppState, headers: &HeaderMap) -> ApiResult<Auth> {
    s.gateway
        .authenticate(presented(headers))
        .map_err(ApiError::from)
}

fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
}

/// Turns a core reply into an HTTP response.
pub fn into_response(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let streaming = matches!(r.body, ReplyBody::Stream(_));
    let mut resp = match r.body {
        ReplyBody::Full(b) => Response::new(Body::from(b)),
        ReplyBody::Stream(s) => Response::new(Body::from_stream(s)),
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&r.content_type) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if streaming && r.content_type.starts_with("text/event-stream") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    for (k, v) in r.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    resp
}

/// The sticky-session id: `X-Session-Id`, Claude Code's `X-Claude-Code-Session-Id`, or the
/// body's `prompt_cache_key`.
fn session_id(headers: &HeaderMap, body: &RawObject) -> Option<String> {
    ["x-session-id", "x-claude-code-session-id"]
        .iter()
        .find_map(|h| {
            headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= 256)
                .map(str::to_owned)
        })
        .or_else(|| {
            body.get_as::<String>("prompt_cache_key")
                .and_then(Result::ok)
                .filter(|v| !v.is_empty() && v.len() <= 256)
        })
}

fn decode(body: &Bytes) -> ApiResult<(RawObject, String)> {
    if body.is_empty() {
        return Err(
            ApiError::bad_request("The request body is empty; expected a JSON object")
                .with_code("invalid_json"),
        );
    }
    let obj = RawObject::parse(body).map_err(|e| {
        ApiError::bad_request(format!("The request body is not a valid JSON object: {e}"))
            .with_code("invalid_json")
    })?;
    let model = match obj.get_as::<String>("model") {
        Some(Ok(m)) if !m.trim().is_empty() => m,
        Some(Ok(_)) | None => {
            return Err(ApiError::bad_request("you must provide a model parameter")
                .with_param("model")
                .with_code("missing_model"));
        }
        Some(Err(_)) => {
            return Err(ApiError::bad_request("`model` must be a string").with_param("model"));
        }
    };
    Ok((obj, model))
}

async fn run(s: AppState, headers: HeaderMap, body: Bytes, endpoint: Endpoint) -> Response {
    let started = Instant::now();
    let rid = request_id(&headers);
    let auth = match authenticate(&s, &headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let (obj, model) = match decode(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let stream_field = match obj.get_as::<Option<bool>>("stream") {
        None => false,
        Some(Ok(v)) => v.unwrap_or(false),
        Some(Err(_)) => {
            return ApiError::bad_request("`stream` must be a boolean")
                .with_param("stream")
                .into_response();
        }
    };
    let session = session_id(&headers, &obj);
    let sse = endpoint == Endpoint::ChatCompletions && wants_sse(&headers);
    let stream = endpoint == Endpoint::ChatCompletions && (stream_field || sse);
    let call = Call {
        request_id: rid,
        endpoint,
        raw_body: s.settings.log_bodies.then(|| body.clone()),
        body: obj,
        model,
        stream,
        force_stream_field: stream && !stream_field,
        auth,
        started,
        session,
    };
    into_response(s.gateway.dispatch(call).await)
}

#[utoipa::path(post, path = "/v1/chat/completions", tag = "data plane",
    request_body(content = Object, description = "An OpenAI chat completion request"),
    responses((status = 200, description = "A chat completion, or an SSE stream when `stream` is true or `Accept: text/event-stream`"),
        (status = 401, description = "Unknown, expired or disabled key"), (status = 403, description = "Model not allowed for this key"),
        (status = 404, description = "Unknown model (`model_not_found`)"), (status = 502, description = "Upstream unreachable"), (status = 504, description = "Upstream timeout")),
    security(("bearer" = [])))]
pub async fn chat_completions(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    run(s, headers, body, Endpoint::ChatCompletions).await
}

#[utoipa::path(post, path = "/v1/embeddings", tag = "data plane",
    request_body(content = Object, description = "An OpenAI embeddings request"),
    responses((status = 200, description = "Embeddings")), security(("bearer" = [])))]
pub async fn embeddings(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    run(s, headers, body, Endpoint::Embeddings).await
}

#[utoipa::path(get, path = "/v1/models", tag = "data plane",
    responses((status = 200, description = "OpenAI-shaped model list: catalogue models and providers' own lists, filtered by the key's allowed models")),
    security(("bearer" = [])))]
pub async fn models(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let auth = authenticate(&s, &headers)?;
    let list = s.gateway.list_models(&auth).await;
    let data: Vec<serde_json::Value> = list
        .into_iter()
        .map(|(id, owner)| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
        .collect();
    Ok(axum::Json(serde_json::json!({"object": "list", "data": data})).into_response())
}

/// The `model` of a passthrough body: a JSON field or a multipart form field.
fn passthrough_model(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let ct = content_type?;
    if ct.contains("json") {
        return RawObject::parse(body).ok()?.get_as::<String>("model")?.ok();
    }
    if ct.starts_with("multipart/form-data") {
        let marker = b"name=\"model\"";
        let at = memchr::memmem::find(body, marker)?;
        let rest = &body[at..];
        let start = memchr::memmem::find(rest, b"\r\n\r\n")? + 4;
        let end = memchr::memmem::find(&rest[start..], b"\r\n")?;
        return std::str::from_utf8(&rest[start..start + end])
            .ok()
            .map(|s| s.trim().to_owned());
    }
    None
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
    let started = Instant::now();
    let auth = match authenticate(&s, &headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let model = passthrough_model(content_type.as_deref(), &body);
    let req = PassRequest {
        request_id: request_id(&headers),
        method,
        path,
        query: uri.query().map(str::to_owned),
        accept: headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        content_type,
        body,
        model,
        auth,
        started,
    };
    into_response(s.gateway.passthrough(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_multipart_model() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nxx\r\n--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b--\r\n";
        assert_eq!(
            passthrough_model(Some("multipart/form-data; boundary=b"), body).as_deref(),
            Some("whisper-1")
        );
        assert_eq!(
            passthrough_model(Some("application/json"), br#"{"model":"dall-e-3"}"#).as_deref(),
            Some("dall-e-3")
        );
        assert_eq!(passthrough_model(None, b"{}"), None);
    }
}

#[utoipa::path(get, path = "/context/{session_id}", tag = "data plane", params(("session_id" = String, Path)),
    responses((status = 200, description = "The stored messages of a session: `{session_id, messages: [{role, content, at_ms}]}`"), (status = 404, description = "No context of this key under this session id (unknown, expired, or another key's)")),
    security(("bearer" = [])))]
pub async fn context(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(session): Path<String>,
) -> ApiResult<Response> {
    // A key sees only the context it built itself under this session id.
    let auth = authenticate(&s, &headers)?;
    match s.gateway.sessions.context(&session, &auth.owner()) {
        Some(messages) => Ok(axum::Json(
            serde_json::json!({"session_id": session, "messages": messages}),
        )
        .into_response()),
        None => Err(ApiError::not_found(format!(
            "Session '{session}' has no stored context"
        ))),
    }
}
