//! Anthropic Messages request ↔ canonical `Request` (rules in the module doc of `anthropic`).

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;

use super::types::{AnthBlock, AnthRequest, AnthSource};
use crate::canonical::{
    ConvertError, Effort, EncodeOptions, ImageSource, Message, Part, Reasoning, Request,
    ResponseFormat, Role, Signature, Tool, ToolChoice,
};
use crate::dialect::Dialect;
use crate::openai_chat::types::TextOr;

const D: &str = "anthropic";
/// Anthropic's smallest thinking budget.
pub const MIN_THINKING_BUDGET: u64 = 1024;
/// `max_tokens` when neither the request nor the model configuration gives one.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

fn note(dropped: &mut Vec<String>, field: &str) {
    let name = format!("{D}.{field}");
    if !dropped.contains(&name) {
        dropped.push(name);
    }
}

fn sig(value: String) -> Signature {
    Signature {
        dialect: Dialect::Anthropic,
        value,
    }
}

fn image_from(source: Option<AnthSource>, dropped: &mut Vec<String>) -> Option<Part> {
    let s = source?;
    let source = match s.kind.as_str() {
        "base64" => ImageSource::Base64 {
            media_type: s.media_type.unwrap_or_default(),
            data: s.data.unwrap_or_default(),
        },
        "url" => ImageSource::Url {
            url: s.url.unwrap_or_default(),
        },
        other => {
            note(dropped, &format!("image.source.{other}"));
            return None;
        }
    };
    Some(Part::Image {
        source,
        detail: None,
    })
}

/// Content blocks → canonical parts. `names` maps tool_use ids to names (filled by tool_use
/// blocks, read by tool_result blocks).
fn blocks_to_parts(
    content: TextOr<AnthBlock>,
    names: &mut HashMap<String, String>,
    dropped: &mut Vec<String>,
) -> Vec<Part> {
    let blocks = match content {
        TextOr::Text(t) => return vec![Part::text(t)],
        TextOr::Items(b) => b,
    };
    let mut parts = Vec::with_capacity(blocks.len());
    for b in blocks {
        match b.kind.as_str() {
            "text" => parts.push(Part::Text {
                text: b.text.unwrap_or_default(),
                cache_control: b.cache_control,
                signature: None,
            }),
            "image" => parts.extend(image_from(b.source, dropped)),
            "tool_use" => {
                let id = b.id.unwrap_or_default();
                let name = b.name.unwrap_or_default();
                names.insert(id.clone(), name.clone());
                parts.push(Part::ToolCall {
                    id,
                    name,
                    arguments: b
                        .input
                        .map_or_else(|| "{}".to_owned(), |r| r.get().to_owned()),
                    signature: None,
                });
            }
            "tool_result" => {
                let call_id = b.tool_use_id.unwrap_or_default();
                let name = names.get(&call_id).cloned();
                let content = match b.content {
                    None => Vec::new(),
                    Some(c) => blocks_to_parts(c, names, dropped)
                        .into_iter()
                        .filter(|p| matches!(p, Part::Text { .. } | Part::Image { .. }))
                        .collect(),
                };
                parts.push(Part::ToolResult {
                    call_id,
                    name,
                    content,
                    is_error: b.is_error.unwrap_or(false),
                });
            }
            "thinking" => {
                let (signature, encrypted) = match b.signature.filter(|s| !s.is_empty()) {
                    Some(v) => super::seal::thinking_fields(v),
                    None => (None, None),
                };
                parts.push(Part::Reasoning {
                    text: b.thinking.unwrap_or_default(),
                    signature,
                    encrypted,
                    id: None,
                })
            }
            "redacted_thinking" => parts.push(Part::Reasoning {
                text: String::new(),
                signature: None,
                encrypted: b.data.map(sig),
                id: None,
            }),
            other => note(dropped, other),
        }
    }
    parts
}

fn effort_from_wire(s: &str) -> Option<Effort> {
    Some(match s {
        "low" => Effort::Low,
        "medium" => Effort::Medium,
        "high" | "xhigh" | "max" => Effort::High,
        _ => return None,
    })
}

/// Decodes an Anthropic Messages request body.
pub fn decode_request(body: &[u8]) -> Result<Request, ConvertError> {
    let r: AnthRequest =
        serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let mut dropped = Vec::new();
    let mut names = HashMap::new();
    let system = match r.system {
        None => Vec::new(),
        Some(s) => blocks_to_parts(s, &mut names, &mut dropped),
    };
    let mut messages = Vec::with_capacity(r.messages.len());
    for m in r.messages {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            other => {
                return Err(ConvertError::Invalid(format!(
                    "unknown message role '{other}'"
                )));
            }
        };
        let mut content = blocks_to_parts(m.content, &mut names, &mut dropped);
        if role == Role::Assistant {
            super::seal::reattach_tool_signatures(&mut content);
        }
        messages.push(Message { role, content });
    }

    let mut tools = Vec::new();
    for t in r.tools.into_iter().flatten() {
        match (t.kind.as_deref(), t.input_schema) {
            (None | Some("custom"), Some(schema)) => tools.push(Tool {
                name: t.name,
                description: t.description,
                parameters: schema,
                strict: t.strict,
                cache_control: t.cache_control,
            }),
            // Server tools (web_search_…, bash_…, text_editor_…, code_execution_…) run at
            // Anthropic; no other dialect can run them.
            (kind, _) => note(&mut dropped, &format!("tools.{}", kind.unwrap_or("custom"))),
        }
    }

    let mut parallel_tool_calls = None;
    let tool_choice = r.tool_choice.and_then(|c| {
        if let Some(d) = c.disable_parallel_tool_use {
            parallel_tool_calls = Some(!d);
        }
        match c.kind.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "any" => Some(ToolChoice::Required),
            "none" => Some(ToolChoice::None),
            "tool" => Some(ToolChoice::Tool {
                name: c.name.unwrap_or_default(),
            }),
            _ => {
                note(&mut dropped, "tool_choice");
                None
            }
        }
    });

    let effort = r
        .output_config
        .as_ref()
        .and_then(|o| o.effort.as_deref())
        .and_then(effort_from_wire);
    let reasoning = match r.thinking {
        Some(t) => match t.kind.as_str() {
            // `display` (`summarized` / `omitted`) says whether thoughts are shown; without
            // it the model decides (newer models omit them), so it stays unspecified.
            "enabled" => Some(Reasoning {
                budget_tokens: t.budget_tokens,
                effort,
                include_thoughts: t.display.as_deref().map(|d| d != "omitted"),
                ..Reasoning::default()
            }),
            "disabled" => Some(Reasoning {
                disabled: true,
                ..Reasoning::default()
            }),
            // The model decides how much to think; the effort (if any) says how hard.
            "adaptive" => Some(Reasoning {
                effort: Some(effort.unwrap_or(Effort::High)),
                include_thoughts: t.display.as_deref().map(|d| d != "omitted"),
                ..Reasoning::default()
            }),
            _ => {
                note(&mut dropped, "thinking");
                None
            }
        },
        None => effort.map(|e| Reasoning {
            effort: Some(e),
            ..Reasoning::default()
        }),
    };
    let response_format =
        r.output_config
            .and_then(|o| o.format)
            .and_then(|f| match (f.kind.as_str(), f.schema) {
                ("json_schema", Some(schema)) => Some(ResponseFormat::JsonSchema {
                    name: "output".into(),
                    schema,
                    strict: Some(true),
                }),
                _ => {
                    note(&mut dropped, "output_config.format");
                    None
                }
            });

    let ignored = [
        ("context_management", r.context_management.is_some()),
        ("service_tier", r.service_tier.is_some()),
        ("container", r.container.is_some()),
        ("mcp_servers", r.mcp_servers.is_some()),
        ("inference_geo", r.inference_geo.is_some()),
        ("cache_control", r.cache_control.is_some()),
    ];
    for (field, present) in ignored {
        if present {
            note(&mut dropped, field);
        }
    }

    Ok(Request {
        model: r.model,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        top_k: r.top_k,
        stop: r.stop_sequences.unwrap_or_default(),
        seed: None,
        frequency_penalty: None,
        presence_penalty: None,
        stream: r.stream.unwrap_or(false),
        response_format,
        reasoning,
        user: r.metadata.and_then(|m| m.user_id),
        prompt_cache_key: None,
        dropped,
    })
}

// ---- encoding ----

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutBlock<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Image {
        source: OutSource<'a>,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: &'a str,
        input: &'a RawValue,
    },
    ToolResult {
        tool_use_id: Cow<'a, str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        content: Vec<OutBlock<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: Cow<'a, str>,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

impl<'a> OutSource<'a> {
    pub fn from(s: &'a ImageSource) -> Self {
        match s {
            ImageSource::Base64 { media_type, data } => OutSource::Base64 { media_type, data },
            ImageSource::Url { url } => OutSource::Url { url },
        }
    }
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutSystem<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

#[derive(Serialize)]
struct OutTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
struct OutToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutThinking {
    Enabled {
        budget_tokens: u64,
        /// `summarized` / `omitted` when the client said whether it wants the thoughts (the
        /// API's default depends on the model: newer ones omit them).
        #[serde(skip_serializing_if = "Option::is_none")]
        display: Option<&'static str>,
    },
    Disabled,
}

#[derive(Serialize)]
struct OutOutputConfig<'a> {
    format: OutFormat<'a>,
}

#[derive(Serialize)]
struct OutFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: &'a Value,
}

#[derive(Serialize)]
struct OutMetadata<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<OutSystem<'a>>,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutOutputConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<OutMetadata<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

/// Tool-use ids must match `^[a-zA-Z0-9_-]+$`; other characters become `_` (the same rule on
/// both `tool_use.id` and `tool_result.tool_use_id` keeps them paired).
pub(crate) fn tool_id(id: &str) -> Cow<'_, str> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Cow::Borrowed(id);
    }
    if id.is_empty() {
        return Cow::Borrowed("toolu_empty");
    }
    Cow::Owned(
        id.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    )
}

/// The tool arguments as a JSON object for `input`; `None` when they are not one.
pub(crate) fn arguments_object(arguments: &str) -> Option<&RawValue> {
    let trimmed = arguments.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    serde_json::from_str::<&RawValue>(arguments).ok()
}

fn is_empty_text(b: &OutBlock) -> bool {
    matches!(b, OutBlock::Text { text, .. } if text.is_empty())
}

struct Ctx<'e> {
    empty: &'e RawValue,
}

fn text_or_image<'a>(p: &'a Part) -> Option<OutBlock<'a>> {
    match p {
        Part::Text {
            text,
            cache_control,
            ..
        } => Some(OutBlock::Text {
            text,
            cache_control: cache_control.as_ref(),
        }),
        Part::Image { source, .. } => Some(OutBlock::Image {
            source: OutSource::from(source),
        }),
        _ => None,
    }
}

fn encode_parts<'a>(
    role: Role,
    parts: &'a [Part],
    ctx: &Ctx<'a>,
    dropped: &mut Vec<String>,
) -> Vec<OutBlock<'a>> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text { .. } | Part::Image { .. } => out.extend(text_or_image(p)),
            Part::ToolCall {
                id,
                name,
                arguments,
                ..
            } => {
                if role != Role::Assistant {
                    note(dropped, "tool_call_outside_assistant");
                    continue;
                }
                let input = if arguments.trim().is_empty() {
                    ctx.empty
                } else {
                    match arguments_object(arguments) {
                        Some(raw) => raw,
                        None => {
                            note(dropped, "tool_call.arguments");
                            ctx.empty
                        }
                    }
                };
                out.push(OutBlock::ToolUse {
                    id: tool_id(id),
                    name,
                    input,
                });
            }
            Part::ToolResult {
                call_id,
                content,
                is_error,
                ..
            } => {
                if role != Role::User {
                    note(dropped, "tool_result_outside_user");
                    continue;
                }
                out.push(OutBlock::ToolResult {
                    tool_use_id: tool_id(call_id),
                    content: content
                        .iter()
                        .filter_map(text_or_image)
                        .filter(|b| !is_empty_text(b))
                        .collect(),
                    is_error: *is_error,
                });
            }
            Part::Reasoning {
                text,
                signature,
                encrypted,
                ..
            } => {
                if role != Role::Assistant {
                    continue;
                }
                match (signature, encrypted) {
                    (Some(s), _) if s.dialect == Dialect::Anthropic => {
                        out.push(OutBlock::Thinking {
                            thinking: text,
                            signature: Cow::Borrowed(&s.value),
                        })
                    }
                    (_, Some(e)) if e.dialect == Dialect::Anthropic => {
                        out.push(OutBlock::RedactedThinking { data: &e.value })
                    }
                    // Without Anthropic's signature the API rejects the block: dropped whole.
                    _ => note(dropped, "reasoning_without_signature"),
                }
            }
        }
    }
    out.retain(|b| !is_empty_text(b));
    out
}

/// Encodes a canonical request as an Anthropic Messages body.
pub fn encode_request(
    req: &Request,
    opts: &EncodeOptions,
    dropped: &mut Vec<String>,
) -> Result<Vec<u8>, ConvertError> {
    let empty: Box<RawValue> =
        RawValue::from_string("{}".to_owned()).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let ctx = Ctx { empty: &empty };

    let system = {
        let blocks: Vec<OutBlock> = req
            .system
            .iter()
            .filter_map(text_or_image)
            .filter(|b| matches!(b, OutBlock::Text { .. }) && !is_empty_text(b))
            .collect();
        if req.system.iter().any(|p| matches!(p, Part::Image { .. })) {
            note(dropped, "system.image");
        }
        match blocks.as_slice() {
            [] => None,
            [
                OutBlock::Text {
                    text,
                    cache_control: None,
                },
            ] => Some(OutSystem::Text(text)),
            _ => Some(OutSystem::Blocks(blocks)),
        }
    };

    // Anthropic requires alternating turns: consecutive same-role turns are merged, and tool
    // results go first in a user turn.
    let mut messages: Vec<OutMessage> = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
        };
        let content = encode_parts(m.role, &m.content, &ctx, dropped);
        if content.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(content),
            _ => messages.push(OutMessage { role, content }),
        }
    }
    for m in &mut messages {
        if m.role == "user" {
            // Stable: tool results first, in order, then the rest.
            m.content
                .sort_by_key(|b| !matches!(b, OutBlock::ToolResult { .. }));
        }
    }

    let mut max_tokens = req
        .max_tokens
        .or(opts.default_max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS)
        .max(1);

    let mut thinking = None;
    if let Some(r) = &req.reasoning {
        if r.disabled {
            thinking = Some(OutThinking::Disabled);
        } else if let Some(budget) = r.budget_or_derived() {
            thinking = Some(OutThinking::Enabled {
                budget_tokens: budget.max(MIN_THINKING_BUDGET),
                display: r
                    .include_thoughts
                    .map(|show| if show { "summarized" } else { "omitted" }),
            });
        }
    }
    // With thinking on, an ongoing tool loop whose last assistant turn has no signed thinking
    // block is rejected by the API ("a final assistant message must start with a thinking
    // block"): thinking is switched off for such a request.
    if matches!(thinking, Some(OutThinking::Enabled { .. })) {
        let last_assistant = messages.iter().rev().find(|m| m.role == "assistant");
        let in_tool_loop = messages.last().is_some_and(|m| {
            m.role == "user"
                && m.content
                    .iter()
                    .any(|b| matches!(b, OutBlock::ToolResult { .. }))
        });
        if in_tool_loop
            && last_assistant.is_some_and(|m| {
                !matches!(
                    m.content.first(),
                    Some(OutBlock::Thinking { .. } | OutBlock::RedactedThinking { .. })
                )
            })
        {
            note(dropped, "thinking");
            thinking = None;
        }
    }
    let thinking_on = matches!(thinking, Some(OutThinking::Enabled { .. }));
    if let Some(OutThinking::Enabled { budget_tokens, .. }) = thinking
        && max_tokens <= budget_tokens
    {
        // The client's limit was meant for the answer; the thinking budget comes on top.
        max_tokens += budget_tokens;
    }

    let tools: Vec<OutTool> = req
        .tools
        .iter()
        .map(|t| OutTool {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: &t.parameters,
            cache_control: t.cache_control.as_ref(),
            strict: t.strict,
        })
        .collect();
    let disable_parallel = req.parallel_tool_calls.map(|p| !p).filter(|d| *d);
    let tool_choice = if tools.is_empty() {
        if req.tool_choice.is_some() {
            note(dropped, "tool_choice");
        }
        None
    } else {
        let choice = match &req.tool_choice {
            Some(ToolChoice::Required | ToolChoice::Tool { .. }) if thinking_on => {
                // Thinking cannot be combined with forced tool use.
                note(dropped, "tool_choice");
                None
            }
            other => other.as_ref(),
        };
        match (choice, disable_parallel) {
            (None, None) => None,
            (None, Some(_)) | (Some(ToolChoice::Auto), _) => Some(OutToolChoice {
                kind: "auto",
                name: None,
                disable_parallel_tool_use: disable_parallel,
            }),
            (Some(ToolChoice::None), _) => Some(OutToolChoice {
                kind: "none",
                name: None,
                disable_parallel_tool_use: None,
            }),
            (Some(ToolChoice::Required), _) => Some(OutToolChoice {
                kind: "any",
                name: None,
                disable_parallel_tool_use: disable_parallel,
            }),
            (Some(ToolChoice::Tool { name }), _) => Some(OutToolChoice {
                kind: "tool",
                name: Some(name),
                disable_parallel_tool_use: disable_parallel,
            }),
        }
    };

    let temperature = match req.temperature {
        Some(_) if thinking_on => {
            note(dropped, "temperature");
            None
        }
        t => t,
    };
    let top_p = match req.top_p {
        Some(p) if thinking_on && p < 0.95 => {
            note(dropped, "top_p");
            None
        }
        p => p,
    };
    let top_k = match req.top_k {
        Some(_) if thinking_on => {
            note(dropped, "top_k");
            None
        }
        k => k,
    };

    let output_config = match &req.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(OutOutputConfig {
            format: OutFormat {
                kind: "json_schema",
                schema,
            },
        }),
        Some(ResponseFormat::JsonObject) => {
            note(dropped, "response_format.json_object");
            None
        }
        Some(ResponseFormat::Text) | None => None,
    };
    for (field, present) in [
        ("seed", req.seed.is_some()),
        ("frequency_penalty", req.frequency_penalty.is_some()),
        ("presence_penalty", req.presence_penalty.is_some()),
        ("prompt_cache_key", req.prompt_cache_key.is_some()),
    ] {
        if present {
            note(dropped, field);
        }
    }

    let out = OutRequest {
        model: if opts.model.is_empty() {
            &req.model
        } else {
            &opts.model
        },
        max_tokens,
        system,
        messages,
        tools,
        tool_choice,
        thinking,
        output_config,
        metadata: req.user.as_deref().map(|user_id| OutMetadata { user_id }),
        stop_sequences: &req.stop,
        temperature,
        top_p,
        top_k,
        stream: opts.stream,
    };
    let mut buf = Vec::with_capacity(1024);
    serde_json::to_writer(&mut buf, &out).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod display_tests {
    use super::*;

    fn thinking_of(display: Option<&str>) -> Option<Reasoning> {
        let mut thinking = serde_json::json!({"type": "enabled", "budget_tokens": 2000});
        if let Some(d) = display {
            thinking["display"] = serde_json::json!(d);
        }
        let body = serde_json::json!({"model": "m", "max_tokens": 4000, "thinking": thinking,
            "messages": [{"role": "user", "content": "hi"}]});
        decode_request(body.to_string().as_bytes())
            .unwrap()
            .reasoning
    }

    #[test]
    fn enabled_thinking_reads_and_writes_display() {
        assert_eq!(
            thinking_of(Some("summarized")).and_then(|r| r.include_thoughts),
            Some(true)
        );
        assert_eq!(
            thinking_of(Some("omitted")).and_then(|r| r.include_thoughts),
            Some(false)
        );
        assert_eq!(thinking_of(None).and_then(|r| r.include_thoughts), None);

        let mut req = Request {
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text("hi")],
            }],
            ..Request::default()
        };
        let encode = |req: &Request| -> serde_json::Value {
            let body = encode_request(req, &EncodeOptions::default(), &mut vec![]).unwrap();
            serde_json::from_slice(&body).unwrap()
        };
        for (show, want) in [
            (Some(true), serde_json::json!("summarized")),
            (Some(false), serde_json::json!("omitted")),
            (None, serde_json::Value::Null),
        ] {
            req.reasoning = Some(Reasoning {
                budget_tokens: Some(2000),
                include_thoughts: show,
                ..Reasoning::default()
            });
            let v = encode(&req);
            assert_eq!(v["thinking"]["type"], "enabled", "{v}");
            assert_eq!(v["thinking"]["display"], want, "{v}");
        }
    }
}
