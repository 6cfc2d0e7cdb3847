//! Chat Completions response (`chat.completion`) ↔ canonical `Response`; stop reasons and usage.

use serde::Serialize;

use super::request::{OutFunction, OutToolCall};
use super::types::{ChatResponse, ChatUsage};
use crate::canonical::{ConvertError, Part, Response, ResponseOptions, StopReason, Usage};

/// `finish_reason` → canonical. Chat's `stop` covers both a natural end and a stop sequence; it
/// decodes to `EndTurn`.
pub fn stop_from_wire(s: &str) -> StopReason {
    match s {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Canonical → `finish_reason` (`Other` becomes `stop`: chat clients know only the five names).
pub fn stop_to_wire(r: &StopReason) -> &'static str {
    match r {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::Other(_) => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

/// Canonical usage in chat's shape (`prompt_tokens` includes cached tokens, as canonical does).
#[derive(Serialize)]
pub(crate) struct OutUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: OutPromptDetails,
    completion_tokens_details: OutCompletionDetails,
}

#[derive(Serialize)]
struct OutPromptDetails {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct OutCompletionDetails {
    reasoning_tokens: u64,
}

impl From<&Usage> for OutUsage {
    fn from(u: &Usage) -> Self {
        OutUsage {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.total(),
            prompt_tokens_details: OutPromptDetails {
                cached_tokens: u.cache_read_tokens,
            },
            completion_tokens_details: OutCompletionDetails {
                reasoning_tokens: u.reasoning_tokens,
            },
        }
    }
}

/// Decodes a whole `chat.completion` body (the first choice; others are ignored).
pub fn decode_response(body: &[u8]) -> Result<Response, ConvertError> {
    let r: ChatResponse =
        serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let choice = r
        .choices
        .into_iter()
        .min_by_key(|c| c.index)
        .ok_or_else(|| ConvertError::Invalid("chat completion without choices".into()))?;
    let msg = choice.message.unwrap_or_default();
    let mut content = Vec::new();
    if let Some(rc) = msg
        .reasoning_content
        .or(msg.reasoning)
        .filter(|s| !s.is_empty())
    {
        content.push(Part::Reasoning {
            text: rc,
            signature: None,
            encrypted: None,
            id: None,
        });
    }
    if let Some(t) = msg.content.filter(|s| !s.is_empty()) {
        content.push(Part::text(t));
    }
    if let Some(t) = msg.refusal.filter(|s| !s.is_empty()) {
        content.push(Part::text(t));
    }
    for (i, tc) in msg.tool_calls.into_iter().flatten().enumerate() {
        let f = tc.function;
        content.push(Part::ToolCall {
            id: tc.id.unwrap_or_else(|| format!("call_{i}")),
            name: f.as_ref().and_then(|f| f.name.clone()).unwrap_or_default(),
            arguments: f.and_then(|f| f.arguments).unwrap_or_default(),
            signature: None,
        });
    }
    if let Some(fc) = msg.function_call {
        content.push(Part::ToolCall {
            id: "call_legacy_0".into(),
            name: fc.name.unwrap_or_default(),
            arguments: fc.arguments.unwrap_or_default(),
            signature: None,
        });
    }
    let has_calls = content.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    let stop_reason = match choice.finish_reason.as_deref().map(stop_from_wire) {
        // Some compatible servers say `stop` after tool calls.
        Some(StopReason::EndTurn) | None if has_calls => StopReason::ToolUse,
        Some(r) => r,
        None => StopReason::EndTurn,
    };
    Ok(Response {
        id: r.id,
        model: r.model,
        content,
        stop_reason,
        usage: r.usage.as_ref().map(ChatUsage::to_canonical),
    })
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [OutChoice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<OutUsage>,
}

#[derive(Serialize)]
struct OutChoice<'a> {
    index: u32,
    message: OutMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
    refusal: Option<()>,
}

fn joined<'a>(it: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut out: Option<String> = None;
    for s in it {
        out.get_or_insert_with(String::new).push_str(s);
    }
    out
}

/// Encodes a canonical response as a `chat.completion` body. Reasoning text goes to
/// `message.reasoning_content`; signatures and encrypted reasoning cannot be expressed.
pub fn encode_response(resp: &Response, opts: &ResponseOptions) -> Vec<u8> {
    let content = joined(resp.content.iter().filter_map(|p| match p {
        Part::Text { text, .. } => Some(text.as_str()),
        _ => None,
    }));
    let reasoning_content = joined(resp.content.iter().filter_map(|p| match p {
        Part::Reasoning { text, .. } if !text.is_empty() => Some(text.as_str()),
        _ => None,
    }));
    let tool_calls: Vec<OutToolCall> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => Some(OutToolCall {
                id: super::seal::seal_id(id, signature),
                kind: "function",
                function: OutFunction {
                    name,
                    arguments: if arguments.is_empty() {
                        "{}"
                    } else {
                        arguments
                    },
                },
            }),
            _ => None,
        })
        .collect();
    let out = OutResponse {
        id: opts.id.as_deref().unwrap_or(&resp.id),
        object: "chat.completion",
        created: opts.created,
        model: if opts.model.is_empty() {
            &resp.model
        } else {
            &opts.model
        },
        choices: [OutChoice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                content,
                reasoning_content,
                tool_calls,
                refusal: None,
            },
            logprobs: None,
            finish_reason: stop_to_wire(&resp.stop_reason),
        }],
        usage: resp.usage.as_ref().map(OutUsage::from),
    };
    let mut buf = Vec::with_capacity(512);
    // Serializing these plain structs cannot fail; an empty body would be the only outcome.
    let _ = serde_json::to_writer(&mut buf, &out);
    buf
}

/// Reads only `usage` of a whole chat response body.
pub fn usage_of_response(body: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct UsageOnly {
        usage: Option<ChatUsage>,
    }
    serde_json::from_slice::<UsageOnly>(body)
        .ok()?
        .usage
        .map(|u| u.to_canonical())
}

/// Reads usage from one stream chunk (only chunks mentioning `"usage"` are parsed).
pub fn sniff_usage(_event: Option<&str>, data: &str) -> Option<Usage> {
    if !crate::scan::mentions_usage(data.as_bytes()) {
        return None;
    }
    usage_of_response(data.as_bytes())
}
