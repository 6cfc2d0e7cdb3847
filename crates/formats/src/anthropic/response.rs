//! Anthropic `message` response ↔ canonical `Response`; stop reasons and usage.

use serde::Serialize;

use super::request::{OutBlock, arguments_object, tool_id};
use super::seal::foreign_of;
use super::types::{AnthResponse, AnthUsage};
use crate::canonical::{
    ConvertError, Part, Response, ResponseOptions, Signature, StopReason, Usage,
};
use crate::dialect::Dialect;
use std::borrow::Cow;

/// `stop_reason` → canonical (`model_context_window_exceeded` is a length stop; `pause_turn`
/// and unknown reasons stay `Other`).
pub fn stop_from_wire(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Canonical → `stop_reason` (an `Other` that is one of Anthropic's names is kept, the rest are
/// `end_turn`).
pub fn stop_to_wire(r: &StopReason) -> &'static str {
    match r {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "refusal",
        StopReason::Other(s) => match s.as_str() {
            "pause_turn" => "pause_turn",
            "model_context_window_exceeded" => "model_context_window_exceeded",
            _ => "end_turn",
        },
    }
}

/// Canonical usage in Anthropic's shape: `input_tokens` excludes cache reads and writes.
#[derive(Serialize)]
pub(crate) struct OutUsage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

impl From<&Usage> for OutUsage {
    fn from(u: &Usage) -> Self {
        OutUsage {
            input_tokens: u
                .input_tokens
                .saturating_sub(u.cache_read_tokens)
                .saturating_sub(u.cache_creation_tokens),
            cache_creation_input_tokens: u.cache_creation_tokens,
            cache_read_input_tokens: u.cache_read_tokens,
            output_tokens: u.output_tokens,
        }
    }
}

fn sig(value: String) -> Signature {
    Signature {
        dialect: Dialect::Anthropic,
        value,
    }
}

/// Decodes a whole `message` body. Server-tool blocks (`server_tool_use`,
/// `web_search_tool_result`…) are skipped: no other dialect can show them.
pub fn decode_response(body: &[u8]) -> Result<Response, ConvertError> {
    let r: AnthResponse =
        serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let mut content = Vec::with_capacity(r.content.len());
    for b in r.content {
        match b.kind.as_str() {
            "text" => content.push(Part::text(b.text.unwrap_or_default())),
            "thinking" => content.push(Part::Reasoning {
                text: b.thinking.unwrap_or_default(),
                signature: b.signature.filter(|s| !s.is_empty()).map(sig),
                encrypted: None,
                id: None,
            }),
            "redacted_thinking" => content.push(Part::Reasoning {
                text: String::new(),
                signature: None,
                encrypted: b.data.map(sig),
                id: None,
            }),
            "tool_use" => content.push(Part::ToolCall {
                id: b.id.unwrap_or_default(),
                name: b.name.unwrap_or_default(),
                arguments: b
                    .input
                    .map_or_else(|| "{}".to_owned(), |r| r.get().to_owned()),
                signature: None,
            }),
            _ => {}
        }
    }
    Ok(Response {
        id: r.id,
        model: r.model,
        content,
        stop_reason: r
            .stop_reason
            .as_deref()
            .map_or(StopReason::EndTurn, stop_from_wire),
        usage: r.usage.map(AnthUsage::canonical),
    })
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<()>,
    usage: OutUsage,
}

/// The id shown to the client: the gateway's, else the upstream's, else a fixed one.
pub(crate) fn message_id<'a>(opts_id: Option<&'a str>, upstream: &'a str) -> &'a str {
    match opts_id.unwrap_or(upstream) {
        "" => "msg_modelgate",
        id => id,
    }
}

/// Encodes a canonical response as an Anthropic `message` body. Reasoning signed by another
/// dialect becomes a `thinking` block with the sealed signature (`seal`), a Gemini tool call's
/// signature an empty `thinking` block before its `tool_use`; unsigned reasoning gets an empty
/// signature (readable, not replayable to Anthropic: a later request's encoder drops it).
pub fn encode_response(resp: &Response, opts: &ResponseOptions) -> Vec<u8> {
    let empty = serde_json::value::RawValue::from_string("{}".to_owned()).ok();
    let mut content = Vec::with_capacity(resp.content.len());
    for p in &resp.content {
        match p {
            Part::Text { text, .. } => content.push(OutBlock::Text {
                text,
                cache_control: None,
            }),
            Part::Reasoning {
                text,
                signature,
                encrypted,
                ..
            } => match (signature, encrypted) {
                (_, Some(e)) if e.dialect == Dialect::Anthropic && text.is_empty() => {
                    content.push(OutBlock::RedactedThinking { data: &e.value })
                }
                (Some(s), _) if s.dialect == Dialect::Anthropic => {
                    content.push(OutBlock::Thinking {
                        thinking: text,
                        signature: Cow::Borrowed(&s.value),
                    })
                }
                _ => match foreign_of(signature, encrypted) {
                    Some(sealed) => content.push(OutBlock::Thinking {
                        thinking: text,
                        signature: Cow::Owned(sealed),
                    }),
                    None if !text.is_empty() => content.push(OutBlock::Thinking {
                        thinking: text,
                        signature: Cow::Borrowed(""),
                    }),
                    None => {}
                },
            },
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => {
                // A Gemini function-call signature rides on an empty thinking block before it.
                if let Some(sealed) = foreign_of(signature, &None) {
                    content.push(OutBlock::Thinking {
                        thinking: "",
                        signature: Cow::Owned(sealed),
                    });
                }
                let input = arguments_object(arguments).or(empty.as_deref());
                if let Some(input) = input {
                    content.push(OutBlock::ToolUse {
                        id: tool_id(id),
                        name,
                        input,
                    });
                }
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    let out = OutResponse {
        id: message_id(opts.id.as_deref(), &resp.id),
        kind: "message",
        role: "assistant",
        model: if opts.model.is_empty() {
            &resp.model
        } else {
            &opts.model
        },
        content,
        stop_reason: stop_to_wire(&resp.stop_reason),
        stop_sequence: None,
        usage: OutUsage::from(&resp.usage.unwrap_or_default()),
    };
    let mut buf = Vec::with_capacity(512);
    // Serializing these plain structs cannot fail.
    let _ = serde_json::to_writer(&mut buf, &out);
    buf
}

/// Reads only `usage` of a whole Anthropic response body.
pub fn usage_of_response(body: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct UsageOnly {
        usage: Option<AnthUsage>,
    }
    serde_json::from_slice::<UsageOnly>(body)
        .ok()?
        .usage
        .map(|u| u.canonical())
}

/// Reads usage from `message_start` (`message.usage`) and `message_delta` (`usage`, cumulative)
/// events; other events are not parsed.
pub fn sniff_usage(event: Option<&str>, data: &str) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct Start {
        message: UsageOnly,
    }
    #[derive(serde::Deserialize)]
    struct UsageOnly {
        usage: Option<AnthUsage>,
    }
    let bytes = data.as_bytes();
    let kind = match event {
        Some(e) => e,
        None if memchr::memmem::find(bytes, b"\"message_start\"").is_some() => "message_start",
        None if memchr::memmem::find(bytes, b"\"message_delta\"").is_some() => "message_delta",
        None => return None,
    };
    match kind {
        "message_start" => serde_json::from_slice::<Start>(bytes)
            .ok()?
            .message
            .usage
            .map(|u| u.canonical()),
        "message_delta" => serde_json::from_slice::<UsageOnly>(bytes)
            .ok()?
            .usage
            .map(|u| u.canonical()),
        _ => None,
    }
}
