//! Responses `Response` object ↔ canonical `Response`; stop reasons and usage.

use serde::Deserialize;

use super::seal;
use super::types::{
    ContentPart, IncompleteDetails, Item, MessageContent, OutputItem, OutputText,
    OutputTokensDetails, ResponseObject, ResponseWire, SummaryText, TokensDetails, UsageWire,
};
use crate::canonical::{
    ConvertError, Part, Response, ResponseOptions, Signature, StopReason, Usage,
};
use crate::dialect::Dialect;

pub(crate) fn usage_from(u: &UsageWire) -> Usage {
    Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_tokens: u.input_tokens_details.cached_tokens,
        cache_creation_tokens: 0,
        reasoning_tokens: u.output_tokens_details.reasoning_tokens,
    }
}

pub(crate) fn usage_to(u: &Usage) -> UsageWire {
    UsageWire {
        input_tokens: u.input_tokens,
        input_tokens_details: TokensDetails {
            cached_tokens: u.cache_read_tokens,
        },
        output_tokens: u.output_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
        total_tokens: u.input_tokens.saturating_add(u.output_tokens),
    }
}

/// `status` (+ `incomplete_details.reason`) → canonical stop reason.
pub(crate) fn stop_from(status: Option<&str>, reason: Option<&str>, called: bool) -> StopReason {
    match status {
        Some("incomplete") => match reason {
            Some("max_output_tokens") => StopReason::MaxTokens,
            Some("content_filter") => StopReason::ContentFilter,
            Some(r) => StopReason::Other(r.to_owned()),
            None => StopReason::Other("incomplete".into()),
        },
        Some(s @ ("failed" | "cancelled")) => StopReason::Other(s.to_owned()),
        _ if called => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

/// Canonical stop reason → `status` and `incomplete_details`.
pub(crate) fn stop_to(r: &StopReason) -> (&'static str, Option<IncompleteDetails>) {
    let incomplete = |reason: &str| {
        (
            "incomplete",
            Some(IncompleteDetails {
                reason: Some(reason.to_owned()),
            }),
        )
    };
    match r {
        StopReason::MaxTokens => incomplete("max_output_tokens"),
        StopReason::ContentFilter => incomplete("content_filter"),
        _ => ("completed", None),
    }
}

fn text_of(parts: Option<MessageContent>) -> Vec<String> {
    match parts {
        Some(MessageContent::Text(t)) => vec![t],
        Some(MessageContent::Parts(ps)) => ps
            .into_iter()
            .filter_map(|p: ContentPart| p.text.or(p.refusal))
            .collect(),
        None => Vec::new(),
    }
}

/// Output items → canonical parts.
pub(crate) fn decode_output(items: Vec<Item>) -> Vec<Part> {
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        match it.kind.as_deref() {
            Some("message") => {
                for t in text_of(it.content) {
                    out.push(Part::text(t));
                }
            }
            Some("function_call") => out.push(Part::ToolCall {
                id: it.call_id.or(it.id).unwrap_or_default(),
                name: it.name.unwrap_or_default(),
                arguments: it.arguments.unwrap_or_default(),
                signature: None,
            }),
            Some("reasoning") => {
                let mut texts: Vec<String> = it
                    .summary
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|s| s.text)
                    .collect();
                if texts.is_empty() {
                    texts = text_of(it.content);
                }
                let (signature, encrypted) = seal::reasoning_fields(it.encrypted_content);
                out.push(Part::Reasoning {
                    text: texts.join("\n\n"),
                    signature,
                    encrypted,
                    id: it.id,
                });
            }
            _ => {}
        }
    }
    out
}

/// Decodes an upstream's whole `Response` object.
pub fn decode_response(body: &[u8]) -> Result<Response, ConvertError> {
    let w: ResponseWire =
        serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let content = decode_output(w.output);
    let called = content.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    let reason = w.incomplete_details.and_then(|d| d.reason);
    Ok(Response {
        id: w.id,
        model: w.model,
        stop_reason: stop_from(w.status.as_deref(), reason.as_deref(), called),
        content,
        usage: w.usage.as_ref().map(usage_from),
    })
}

/// The response id shown to clients: `opts.id`, else the upstream's, as `resp_…`.
pub(crate) fn response_id(opts_id: Option<&str>, upstream: &str) -> String {
    let id = opts_id
        .filter(|s| !s.is_empty())
        .or(Some(upstream).filter(|s| !s.is_empty()))
        .unwrap_or("gateway");
    if id.starts_with("resp_") {
        id.to_owned()
    } else {
        format!("resp_{id}")
    }
}

/// An item id derived from the response id: `msg_…`, `fc_…`, `rs_…` plus the output index.
pub(crate) fn item_id(prefix: &str, resp_id: &str, index: usize) -> String {
    let base = resp_id.strip_prefix("resp_").unwrap_or(resp_id);
    format!("{prefix}_{base}_{index}")
}

/// Canonical output parts → Responses output items (consecutive texts share one message).
pub(crate) fn output_items(content: &[Part], resp_id: &str) -> Vec<OutputItem> {
    let mut items: Vec<OutputItem> = Vec::with_capacity(content.len());
    for p in content {
        let n = items.len();
        match p {
            Part::Text { text, .. } => {
                if let Some(OutputItem::Message { content, .. }) = items.last_mut() {
                    content.push(OutputText::new(text.clone()));
                } else {
                    items.push(OutputItem::Message {
                        id: item_id("msg", resp_id, n),
                        status: "completed",
                        role: "assistant",
                        content: vec![OutputText::new(text.clone())],
                    });
                }
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => {
                if let Some(sealed) = call_signature_item(signature.as_ref(), resp_id, n) {
                    items.push(sealed);
                }
                let n = items.len();
                items.push(OutputItem::FunctionCall {
                    id: item_id("fc", resp_id, n),
                    status: "completed",
                    call_id: id.clone(),
                    name: name.clone(),
                    arguments: arguments.clone(),
                });
            }
            Part::Reasoning {
                text,
                encrypted,
                id,
                signature,
            } => items.push(OutputItem::Reasoning {
                id: id.clone().unwrap_or_else(|| item_id("rs", resp_id, n)),
                summary: if text.is_empty() {
                    Vec::new()
                } else {
                    vec![SummaryText::new(text.clone())]
                },
                encrypted_content: seal::client_encrypted(signature.as_ref(), encrypted.as_ref()),
            }),
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    items
}

/// A reasoning item carrying a function call's foreign signature (Gemini `thoughtSignature`),
/// placed just before the call so that it comes back with it.
pub(crate) fn call_signature_item(
    signature: Option<&Signature>,
    resp_id: &str,
    index: usize,
) -> Option<OutputItem> {
    let s = signature.filter(|s| s.dialect != Dialect::OpenaiResponses)?;
    Some(OutputItem::Reasoning {
        id: item_id("rs", resp_id, index),
        summary: Vec::new(),
        encrypted_content: Some(seal::seal(s)),
    })
}

/// Encodes a canonical response as a Responses `Response` object.
pub fn encode_response(resp: &Response, opts: &ResponseOptions) -> Vec<u8> {
    let id = response_id(opts.id.as_deref(), &resp.id);
    let output = output_items(&resp.content, &id);
    let (status, incomplete) = stop_to(&resp.stop_reason);
    let model = if opts.model.is_empty() {
        &resp.model
    } else {
        &opts.model
    };
    let obj = ResponseObject {
        id: &id,
        object: "response",
        created_at: opts.created,
        status,
        model,
        output: &output,
        parallel_tool_calls: true,
        tool_choice: "auto",
        tools: [],
        error: None,
        incomplete_details: incomplete.as_ref(),
        usage: resp.usage.as_ref().map(usage_to),
    };
    serde_json::to_vec(&obj).unwrap_or_default()
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<UsageWire>,
}

#[derive(Deserialize)]
struct EventUsage {
    #[serde(default)]
    response: Option<UsageOnly>,
}

/// Reads only `usage` of a whole `Response` body.
pub fn usage_of_response(body: &[u8]) -> Option<Usage> {
    let u: UsageOnly = serde_json::from_slice(body).ok()?;
    u.usage.as_ref().map(usage_from)
}

/// Usage of a `response.completed` / `response.incomplete` / `response.failed` event.
pub fn sniff_usage(event: Option<&str>, data: &str) -> Option<Usage> {
    match event {
        Some("response.completed" | "response.incomplete" | "response.failed") | None => {}
        Some(_) => return None,
    }
    if !data.contains("\"usage\"") {
        return None;
    }
    let e: EventUsage = serde_json::from_str(data).ok()?;
    e.response?.usage.as_ref().map(usage_from)
}
