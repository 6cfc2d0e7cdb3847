//! Gemini `GenerateContentResponse` ↔ canonical `Response`, finish reasons and usage.

use std::borrow::Cow;

use super::request::{CallIds, decode_parts, own_sig};
use super::types::{
    Candidate, Content, FunctionCall, GenerateContentResponse, UsageMetadata, WirePart,
};
use crate::canonical::{ConvertError, Part, Response, ResponseOptions, StopReason, Usage};

/// `usageMetadata` → canonical usage: output = candidates + thoughts; input already includes
/// the cached part (`cachedContentTokenCount`) and tool-use prompt tokens are added to it.
pub(crate) fn usage_from(u: &UsageMetadata) -> Usage {
    let thoughts = u.thoughts_token_count.unwrap_or(0);
    Usage {
        input_tokens: u
            .prompt_token_count
            .saturating_add(u.tool_use_prompt_token_count.unwrap_or(0)),
        output_tokens: u
            .candidates_token_count
            .unwrap_or(0)
            .saturating_add(thoughts),
        cache_read_tokens: u.cached_content_token_count.unwrap_or(0),
        cache_creation_tokens: 0,
        reasoning_tokens: thoughts,
    }
}

/// Canonical usage → `usageMetadata`.
pub(crate) fn usage_to(u: &Usage) -> UsageMetadata {
    UsageMetadata {
        prompt_token_count: u.input_tokens,
        candidates_token_count: Some(u.output_tokens.saturating_sub(u.reasoning_tokens)),
        thoughts_token_count: (u.reasoning_tokens > 0).then_some(u.reasoning_tokens),
        cached_content_token_count: (u.cache_read_tokens > 0).then_some(u.cache_read_tokens),
        tool_use_prompt_token_count: None,
        total_token_count: u.input_tokens.saturating_add(u.output_tokens),
    }
}

/// A Gemini `finishReason` → canonical; `STOP` becomes `ToolUse` when the answer called tools.
pub(crate) fn stop_from(reason: Option<&str>, called_tools: bool) -> StopReason {
    match reason {
        None | Some("STOP") | Some("FINISH_REASON_UNSPECIFIED") => {
            if called_tools {
                StopReason::ToolUse
            } else {
                StopReason::EndTurn
            }
        }
        Some("MAX_TOKENS") => StopReason::MaxTokens,
        Some(
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION",
        ) => StopReason::ContentFilter,
        Some(other) => StopReason::Other(other.to_owned()),
    }
}

/// Canonical stop reason → Gemini `finishReason`.
pub(crate) fn stop_to(r: &StopReason) -> &str {
    match r {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
        StopReason::Other(s) => match s.as_str() {
            "RECITATION"
            | "LANGUAGE"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "MALFORMED_FUNCTION_CALL"
            | "IMAGE_SAFETY"
            | "UNEXPECTED_TOOL_CALL"
            | "TOO_MANY_TOOL_CALLS" => s.as_str(),
            _ => "OTHER",
        },
    }
}

/// Decodes an upstream's whole response (the first candidate).
pub fn decode_response(body: &[u8]) -> Result<Response, ConvertError> {
    let w: GenerateContentResponse =
        serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    if let Some(e) = w.error {
        return Err(ConvertError::Invalid(format!(
            "upstream error {}: {}",
            e.code, e.message
        )));
    }
    let mut ids = CallIds::default();
    let mut dropped = Vec::new();
    let cand = w.candidates.into_iter().next();
    let (content, finish) = match cand {
        Some(Candidate {
            content,
            finish_reason,
            ..
        }) => (
            content
                .map(|c| decode_parts(c.parts, &mut ids, &mut dropped))
                .unwrap_or_default(),
            finish_reason,
        ),
        None => (Vec::new(), None),
    };
    let called = content.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    let blocked = w
        .prompt_feedback
        .as_ref()
        .is_some_and(|f| f.block_reason.is_some());
    let stop_reason = if blocked && content.is_empty() {
        StopReason::ContentFilter
    } else {
        stop_from(finish.as_deref(), called)
    };
    Ok(Response {
        id: w.response_id.map(Cow::into_owned).unwrap_or_default(),
        model: w.model_version.map(Cow::into_owned).unwrap_or_default(),
        content,
        stop_reason,
        usage: w.usage_metadata.as_ref().map(usage_from),
    })
}

/// Canonical output parts → Gemini parts for a client, borrowing the canonical strings (tool
/// calls keep their ids; reasoning becomes `thought: true` text, signed only when Gemini signed
/// it).
pub(crate) fn output_parts(content: &[Part]) -> Vec<WirePart<'_>> {
    let mut parts = Vec::with_capacity(content.len());
    for p in content {
        match p {
            Part::Text {
                text, signature, ..
            } => parts.push(WirePart {
                text: Some(Cow::Borrowed(text)),
                thought_signature: own_sig(signature),
                ..WirePart::default()
            }),
            Part::Reasoning {
                text, signature, ..
            } => parts.push(WirePart {
                text: Some(Cow::Borrowed(text)),
                thought: Some(true),
                thought_signature: own_sig(signature),
                ..WirePart::default()
            }),
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => parts.push(call_part(id, name, arguments, signature)),
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    parts
}

/// One `functionCall` part (arguments parsed; unparsable ones become `{}`).
pub(crate) fn call_part<'a>(
    id: &'a str,
    name: &'a str,
    arguments: &str,
    signature: &'a Option<crate::canonical::Signature>,
) -> WirePart<'a> {
    WirePart {
        function_call: Some(FunctionCall {
            id: Some(Cow::Borrowed(id)),
            name: Cow::Borrowed(name),
            args: Some(
                serde_json::from_str(arguments)
                    .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
            ),
        }),
        thought_signature: own_sig(signature),
        ..WirePart::default()
    }
}

/// Encodes a canonical response for a Gemini client.
pub fn encode_response(resp: &Response, opts: &ResponseOptions) -> Vec<u8> {
    let model = if opts.model.is_empty() {
        &resp.model
    } else {
        &opts.model
    };
    let w = GenerateContentResponse {
        candidates: vec![Candidate {
            content: Some(Content {
                role: Some(Cow::Borrowed("model")),
                parts: output_parts(&resp.content),
            }),
            finish_reason: Some(stop_to(&resp.stop_reason).to_owned()),
            index: Some(0),
        }],
        prompt_feedback: None,
        usage_metadata: resp.usage.as_ref().map(usage_to),
        model_version: Some(Cow::Borrowed(model)),
        response_id: Some(Cow::Borrowed(opts.id.as_deref().unwrap_or(&resp.id))),
        error: None,
    };
    serde_json::to_vec(&w).unwrap_or_default()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageOnly {
    usage_metadata: Option<UsageMetadata>,
}

/// Reads only `usageMetadata` of a response body (or stream chunk).
pub fn usage_of_response(body: &[u8]) -> Option<Usage> {
    let u: UsageOnly = serde_json::from_slice(body).ok()?;
    u.usage_metadata.as_ref().map(usage_from)
}

/// Usage of one stream chunk (each chunk is a whole `GenerateContentResponse`).
pub fn sniff_usage(_event: Option<&str>, data: &str) -> Option<Usage> {
    if !data.contains("\"usageMetadata\"") {
        return None;
    }
    usage_of_response(data.as_bytes())
}
