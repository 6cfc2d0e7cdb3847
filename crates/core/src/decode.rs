//! Stage 3, decode: the inbound body → a `Call`.
//!
//! Only what admission and routing need is read eagerly (model, stream flag, max tokens,
//! session id); the body stays raw top-level members so that it passes through unconverted when
//! the upstream speaks the client's dialect. Parsing is one linear pass over the body
//! (`RawObject`), whatever its shape. Claude-style and Gemini-style bodies posted to
//! `/v1/chat/completions` (seed 001) are recognised here and decoded in their own dialect; the
//! reply stays OpenAI chat.

use bytes::Bytes;
use modelgate_formats::Dialect;
use modelgate_formats::raw::RawObject;
use serde::Deserialize;

use crate::call::{Call, CallBody, Caller, Endpoint, GeminiMethod, Inbound};
use crate::error::GatewayError;

/// Longest session id accepted (longer ones are ignored, never stored).
const MAX_SESSION_ID: usize = 256;
/// Longest model name accepted. Model names key health stats, pins and logs, so a client must
/// not be able to make them megabytes long.
pub const MAX_MODEL_NAME: usize = 512;

/// Decodes an inbound request for an authenticated caller.
pub fn decode(inbound: Inbound, caller: Caller) -> Result<Call, GatewayError> {
    let Inbound {
        request_id,
        endpoint,
        presented_key: _,
        accepts_sse,
        session_header,
        hints,
        content_type,
        accept,
        cache_control,
        body,
        started,
    } = inbound;
    let reply_dialect = endpoint.reply_dialect();
    let session_header = session_header
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() <= MAX_SESSION_ID);
    if let Endpoint::Passthrough { .. } = endpoint {
        let model = passthrough_model(content_type.as_deref(), &body).unwrap_or_default();
        check_model_length(&model)?;
        return Ok(Call {
            request_id,
            endpoint,
            request_dialect: Dialect::OpenaiChat,
            reply_dialect,
            body: CallBody::Opaque,
            raw: body,
            model,
            stream: false,
            force_stream_field: false,
            client_wants_usage: false,
            max_tokens: None,
            session: session_header,
            caller,
            hints,
            content_type,
            accept,
            cache_control,
            reply_id: Default::default(),
            started,
        });
    }
    let obj = parse_object(&body)?;
    let request_dialect = match &endpoint {
        Endpoint::ChatCompletions => chat_body_dialect(&obj),
        Endpoint::Responses => Dialect::OpenaiResponses,
        Endpoint::Messages | Endpoint::MessagesCountTokens => Dialect::Anthropic,
        Endpoint::Gemini { .. } => Dialect::Gemini,
        Endpoint::Embeddings | Endpoint::Passthrough { .. } => Dialect::OpenaiChat,
    };
    let model = match &endpoint {
        Endpoint::Gemini { model, .. } => model.strip_prefix("models/").unwrap_or(model).to_owned(),
        _ => required_model(&obj)?,
    };
    if model.trim().is_empty() {
        return Err(missing_model());
    }
    check_model_length(&model)?;
    let stream_field = match obj.get_as::<Option<bool>>("stream") {
        None => false,
        Some(Ok(v)) => v.unwrap_or(false),
        Some(Err(_)) => {
            return Err(GatewayError::bad_request(
                "`stream` must be a boolean",
                Some("stream"),
            ));
        }
    };
    let stream = match &endpoint {
        Endpoint::Gemini { method, .. } => *method == GeminiMethod::StreamGenerate,
        Endpoint::ChatCompletions | Endpoint::Responses => stream_field || accepts_sse,
        Endpoint::Messages => stream_field,
        _ => false,
    };
    let force_stream_field = stream
        && !stream_field
        && request_dialect != Dialect::Gemini
        && endpoint_has_stream(&endpoint);
    let client_wants_usage = request_dialect == Dialect::OpenaiChat && wants_usage(&obj);
    let max_tokens = max_tokens(request_dialect, &obj);
    let session = session_header.or_else(|| {
        obj.get_as::<String>("prompt_cache_key")
            .and_then(Result::ok)
            .filter(|v| !v.is_empty() && v.len() <= MAX_SESSION_ID)
    });
    Ok(Call {
        request_id,
        endpoint,
        request_dialect,
        reply_dialect,
        body: CallBody::Json(obj),
        raw: body,
        model,
        stream,
        force_stream_field,
        client_wants_usage,
        max_tokens,
        session,
        caller,
        hints,
        content_type,
        accept,
        cache_control,
        reply_id: Default::default(),
        started,
    })
}

fn endpoint_has_stream(e: &Endpoint) -> bool {
    matches!(
        e,
        Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Messages
    )
}

fn missing_model() -> GatewayError {
    GatewayError::BadRequest {
        message: "you must provide a model parameter".into(),
        param: Some("model".into()),
        code: Some("missing_model"),
    }
}

fn check_model_length(model: &str) -> Result<(), GatewayError> {
    if model.len() > MAX_MODEL_NAME {
        return Err(GatewayError::bad_request(
            format!("`model` is longer than {MAX_MODEL_NAME} bytes"),
            Some("model"),
        ));
    }
    Ok(())
}

fn parse_object(body: &Bytes) -> Result<RawObject, GatewayError> {
    if body.is_empty() {
        return Err(GatewayError::BadRequest {
            message: "The request body is empty; expected a JSON object".into(),
            param: None,
            code: Some("invalid_json"),
        });
    }
    RawObject::parse(body).map_err(|e| GatewayError::BadRequest {
        message: format!("The request body is not a valid JSON object: {e}"),
        param: None,
        code: Some("invalid_json"),
    })
}

fn required_model(obj: &RawObject) -> Result<String, GatewayError> {
    match obj.get_as::<String>("model") {
        Some(Ok(m)) if !m.trim().is_empty() => Ok(m),
        Some(Ok(_)) | None => Err(missing_model()),
        Some(Err(_)) => Err(GatewayError::bad_request(
            "`model` must be a string",
            Some("model"),
        )),
    }
}

/// Which dialect a body posted to `/v1/chat/completions` is written in (seed 001): Gemini
/// `contents`, Responses-style `input`, Claude-style top-level `system`/`stop_sequences`/
/// `anthropic_version`; otherwise OpenAI chat.
fn chat_body_dialect(obj: &RawObject) -> Dialect {
    if let Some(messages) = obj.get("messages") {
        // Anthropic content blocks that chat has no equivalent of.
        let blocks =
            |marker: &[u8]| memchr::memmem::find(messages.get().as_bytes(), marker).is_some();
        if obj.contains("system")
            || obj.contains("stop_sequences")
            || obj.contains("anthropic_version")
            || [&br#""tool_use""#[..], br#""tool_result""#, br#""thinking""#]
                .iter()
                .any(|m| blocks(m))
        {
            return Dialect::Anthropic;
        }
        return Dialect::OpenaiChat;
    }
    if obj.contains("contents") {
        return Dialect::Gemini;
    }
    if obj.contains("input") {
        return Dialect::OpenaiResponses;
    }
    Dialect::OpenaiChat
}

fn wants_usage(obj: &RawObject) -> bool {
    #[derive(Deserialize)]
    struct So {
        #[serde(default)]
        include_usage: Option<bool>,
    }
    matches!(
        obj.get_as::<So>("stream_options"),
        Some(Ok(So {
            include_usage: Some(true)
        }))
    )
}

fn max_tokens(d: Dialect, obj: &RawObject) -> Option<u64> {
    let field = |k: &str| obj.get_as::<u64>(k).and_then(Result::ok);
    match d {
        Dialect::OpenaiChat => field("max_completion_tokens").or_else(|| field("max_tokens")),
        Dialect::OpenaiResponses => field("max_output_tokens"),
        Dialect::Anthropic => field("max_tokens"),
        Dialect::Gemini => {
            #[derive(Deserialize)]
            struct Gc {
                #[serde(default, rename = "maxOutputTokens")]
                max: Option<u64>,
            }
            obj.get_as::<Gc>("generationConfig")
                .and_then(Result::ok)
                .and_then(|g| g.max)
        }
    }
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

    #[test]
    fn chat_bodies_of_other_dialects() {
        let d = |b: &str| chat_body_dialect(&RawObject::parse(b.as_bytes()).unwrap());
        assert_eq!(d(r#"{"model":"m","messages":[]}"#), Dialect::OpenaiChat);
        assert_eq!(
            d(r#"{"model":"m","system":"s","messages":[]}"#),
            Dialect::Anthropic
        );
        assert_eq!(d(r#"{"model":"m","contents":[]}"#), Dialect::Gemini);
        assert_eq!(
            d(
                r#"{"model":"m","max_tokens":9,"messages":[{"role":"assistant","content":[{"type": "tool_use","id":"t","name":"f","input":{}}]}]}"#
            ),
            Dialect::Anthropic
        );
        assert_eq!(d(r#"{"model":"m","input":"hi"}"#), Dialect::OpenaiResponses);
    }

    #[test]
    fn max_tokens_by_dialect() {
        let o = |b: &str| RawObject::parse(b.as_bytes()).unwrap();
        assert_eq!(
            max_tokens(Dialect::OpenaiChat, &o(r#"{"max_tokens":5}"#)),
            Some(5)
        );
        assert_eq!(
            max_tokens(
                Dialect::OpenaiChat,
                &o(r#"{"max_tokens":5,"max_completion_tokens":7}"#)
            ),
            Some(7)
        );
        assert_eq!(
            max_tokens(
                Dialect::Gemini,
                &o(r#"{"generationConfig":{"maxOutputTokens":9}}"#)
            ),
            Some(9)
        );
        assert_eq!(
            max_tokens(Dialect::OpenaiResponses, &o(r#"{"max_output_tokens":3}"#)),
            Some(3)
        );
    }
}
