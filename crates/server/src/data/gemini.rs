//! Gemini handlers: `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`
//! (`alt=sse` for SSE, otherwise Gemini's JSON-array stream) and `:countTokens`, also under
//! `/v1/models/` (the google-genai SDK's default).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use modelgate_core::call::{Endpoint, GeminiMethod};
use modelgate_formats::Dialect;

use super::{inbound, into_response, serve};
use crate::extract::RawBody;
use crate::state::AppState;

#[utoipa::path(post, path = "/v1beta/models/{model_method}", tag = "data plane",
    params(("model_method" = String, Path, description = "`{model}:generateContent`, `{model}:streamGenerateContent` (with `?alt=sse` for SSE) or `{model}:countTokens`")),
    request_body(content = super::schemas::GenerateContentRequest, description = "A Gemini GenerateContent request"),
    responses((status = 200, description = "A GenerateContentResponse, a stream of them, or `{\"totalTokens\": N}`", body = super::schemas::GenerateContentResponse),
        (status = 400, description = "Invalid body or method", body = super::schemas::GeminiError)),
    security(("x_goog_api_key" = [])))]
pub async fn model_method(
    State(s): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Path(model_method): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let parsed = model_method
        .rsplit_once(':')
        .and_then(|(model, method)| match method {
            "generateContent" => Some((model, GeminiMethod::Generate)),
            "streamGenerateContent" => Some((model, GeminiMethod::StreamGenerate)),
            "countTokens" => Some((model, GeminiMethod::CountTokens)),
            _ => None,
        });
    let Some((model, method)) = parsed else {
        // Who is asking is checked first: a caller without a key learns nothing else.
        let key = super::presented_key(&headers, &uri);
        if let Err(r) =
            modelgate_core::pipeline::caller_usable_in(&s.gateway, key.as_deref(), Dialect::Gemini)
        {
            return into_response(r);
        }
        return unknown_method(&model_method);
    };
    let sse = uri.query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "alt" && v == "sse")
    });
    let endpoint = Endpoint::Gemini {
        model: model.to_owned(),
        method,
        sse,
    };
    serve(&s, inbound(endpoint, &headers, &uri, body)).await
}

fn unknown_method(what: &str) -> Response {
    let e = modelgate_core::GatewayError::BadRequest {
        message: format!(
            "Unknown method `{}`: expected `{{model}}:generateContent`, `:streamGenerateContent` or `:countTokens`",
            what.chars().take(200).collect::<String>()
        ),
        param: None,
        code: None,
    };
    into_response(modelgate_core::reply::error(Dialect::Gemini, &e))
}
