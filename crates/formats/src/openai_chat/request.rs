//! Chat Completions request ↔ canonical `Request` (rules in the module doc of `openai_chat`).

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

use super::types::{
    ChatContentPart, ChatMessage, ChatRequest, ChatResponseFormat, ChatToolChoice, TextOr,
};
use crate::canonical::{
    ConvertError, Effort, EncodeOptions, ImageSource, Message, Part, Reasoning, Request,
    ResponseFormat, Role, Tool, ToolChoice,
};

const D: &str = "openai_chat";

fn note(dropped: &mut Vec<String>, field: &str) {
    let name = format!("{D}.{field}");
    if !dropped.contains(&name) {
        dropped.push(name);
    }
}

/// `reasoning_effort` → canonical reasoning (`none` switches reasoning off; `xhigh`/`max` are
/// treated as `high`, the highest canonical effort).
pub(crate) fn effort_from_wire(s: &str) -> Option<Reasoning> {
    let effort = match s {
        "none" => {
            return Some(Reasoning {
                disabled: true,
                ..Reasoning::default()
            });
        }
        "minimal" => Effort::Minimal,
        "low" => Effort::Low,
        "medium" => Effort::Medium,
        "high" | "xhigh" | "max" => Effort::High,
        _ => return None,
    };
    Some(Reasoning {
        effort: Some(effort),
        ..Reasoning::default()
    })
}

pub(crate) fn effort_to_wire(e: Effort) -> &'static str {
    match e {
        Effort::Minimal => "minimal",
        Effort::Low => "low",
        Effort::Medium => "medium",
        Effort::High => "high",
    }
}

/// `data:<media>;base64,<data>` → a base64 image; any other URL stays a URL.
fn image_from_url(url: String) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        };
    }
    ImageSource::Url { url }
}

fn content_parts(content: Option<TextOr<ChatContentPart>>, dropped: &mut Vec<String>) -> Vec<Part> {
    match content {
        None => Vec::new(),
        Some(TextOr::Text(t)) => vec![Part::text(t)],
        Some(TextOr::Items(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for p in items {
                match p.kind.as_str() {
                    "text" => parts.push(Part::text(p.text.unwrap_or_default())),
                    "refusal" => parts.push(Part::text(p.refusal.unwrap_or_default())),
                    "image_url" => match p.image_url {
                        Some(img) => parts.push(Part::Image {
                            source: image_from_url(img.url),
                            detail: img.detail,
                        }),
                        None => note(dropped, "image_url"),
                    },
                    "input_audio" => note(dropped, "input_audio"),
                    "file" => note(dropped, "file"),
                    other => note(dropped, &format!("content.{other}")),
                }
            }
            parts
        }
    }
}

fn tool_choice_from(c: ChatToolChoice, dropped: &mut Vec<String>) -> Option<ToolChoice> {
    match c {
        ChatToolChoice::Mode(m) => match m.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => {
                note(dropped, "tool_choice");
                None
            }
        },
        ChatToolChoice::Named(n) => {
            let name = n.function.map(|f| f.name).or(n.name);
            match (n.kind.as_deref(), name) {
                (None | Some("function"), Some(name)) => Some(ToolChoice::Tool { name }),
                _ => {
                    // `allowed_tools` and custom-tool choices have no canonical form.
                    note(dropped, "tool_choice");
                    None
                }
            }
        }
    }
}

fn response_format_from(
    f: ChatResponseFormat,
    dropped: &mut Vec<String>,
) -> Option<ResponseFormat> {
    match f.kind.as_str() {
        "text" => Some(ResponseFormat::Text),
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => match f.json_schema {
            Some(s) => Some(ResponseFormat::JsonSchema {
                name: s.name,
                schema: s
                    .schema
                    .unwrap_or_else(|| Value::Object(Default::default())),
                strict: s.strict,
            }),
            None => Some(ResponseFormat::JsonObject),
        },
        _ => {
            note(dropped, "response_format");
            None
        }
    }
}

/// Decodes a Chat Completions request body.
pub fn decode_request(body: &[u8]) -> Result<Request, ConvertError> {
    let r: ChatRequest =
        serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    if r.n.is_some_and(|n| n > 1) {
        return Err(ConvertError::Unsupported(
            "n > 1 (several choices) cannot be converted; send n = 1".into(),
        ));
    }
    let mut dropped = Vec::new();
    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::with_capacity(r.messages.len());
    // Tool-call id → function name, for tool results (and ids made up for legacy calls).
    let mut call_names: HashMap<String, String> = HashMap::new();
    let mut legacy_calls: Vec<(String, String)> = Vec::new();
    let mut leading = true;

    for m in r.messages {
        let ChatMessage {
            role,
            content,
            tool_calls,
            tool_call_id,
            function_call,
            reasoning_content,
        } = m;
        match role.as_str() {
            "system" | "developer" => {
                let parts = content_parts(content, &mut dropped);
                if leading {
                    system.extend(parts);
                } else {
                    messages.push(Message {
                        role: Role::System,
                        content: parts,
                    });
                }
            }
            "user" => {
                leading = false;
                messages.push(Message {
                    role: Role::User,
                    content: content_parts(content, &mut dropped),
                });
            }
            "assistant" => {
                leading = false;
                let mut parts = Vec::new();
                if let Some(rc) = reasoning_content.filter(|s| !s.is_empty()) {
                    parts.push(Part::Reasoning {
                        text: rc,
                        signature: None,
                        encrypted: None,
                        id: None,
                    });
                }
                parts.extend(
                    content_parts(content, &mut dropped)
                        .into_iter()
                        .filter(|p| !matches!(p, Part::Text { text, .. } if text.is_empty())),
                );
                for tc in tool_calls.into_iter().flatten() {
                    if tc.kind.as_deref().is_some_and(|k| k != "function") {
                        note(&mut dropped, "custom_tool_call");
                        continue;
                    }
                    let f = tc.function;
                    let name = f.as_ref().and_then(|f| f.name.clone()).unwrap_or_default();
                    let (id, signature) = super::seal::unseal_id(tc.id.unwrap_or_default());
                    call_names.insert(id.clone(), name.clone());
                    parts.push(Part::ToolCall {
                        id,
                        name,
                        arguments: f.and_then(|f| f.arguments).unwrap_or_default(),
                        signature,
                    });
                }
                if let Some(fc) = function_call {
                    let name = fc.name.unwrap_or_default();
                    let id = format!("call_legacy_{}", legacy_calls.len());
                    legacy_calls.push((name.clone(), id.clone()));
                    parts.push(Part::ToolCall {
                        id,
                        name,
                        arguments: fc.arguments.unwrap_or_default(),
                        signature: None,
                    });
                }
                messages.push(Message {
                    role: Role::Assistant,
                    content: parts,
                });
            }
            "tool" | "function" => {
                leading = false;
                let (call_id, name) = if role == "tool" {
                    let (id, _) = super::seal::unseal_id(tool_call_id.unwrap_or_default());
                    let name = call_names.get(&id).cloned();
                    (id, name)
                } else {
                    // Legacy `function` results carry no id: they answer the latest legacy call.
                    match legacy_calls.last() {
                        Some((name, id)) => (id.clone(), Some(name.clone())),
                        None => (String::new(), None),
                    }
                };
                let content = content_parts(content, &mut dropped);
                let part = Part::ToolResult {
                    call_id,
                    name,
                    content,
                    is_error: false,
                };
                match messages.last_mut() {
                    Some(last)
                        if last.role == Role::User
                            && last
                                .content
                                .iter()
                                .all(|p| matches!(p, Part::ToolResult { .. })) =>
                    {
                        last.content.push(part)
                    }
                    _ => messages.push(Message {
                        role: Role::User,
                        content: vec![part],
                    }),
                }
            }
            other => {
                return Err(ConvertError::Invalid(format!(
                    "unknown message role '{other}'"
                )));
            }
        }
    }

    let mut tools = Vec::new();
    for t in r.tools.into_iter().flatten() {
        match (t.kind.as_str(), t.function) {
            ("function", Some(f)) => tools.push(tool_from(f)),
            (kind, _) => note(&mut dropped, &format!("tools.{kind}")),
        }
    }
    for f in r.functions.into_iter().flatten() {
        tools.push(tool_from(f));
    }
    let tool_choice = r
        .tool_choice
        .or(r.function_call)
        .and_then(|c| tool_choice_from(c, &mut dropped));

    if r.logprobs == Some(true) {
        note(&mut dropped, "logprobs");
    }
    let ignored = [
        ("top_logprobs", r.top_logprobs.is_some()),
        ("logit_bias", r.logit_bias.is_some()),
        ("modalities", r.modalities.is_some()),
        ("audio", r.audio.is_some()),
        ("prediction", r.prediction.is_some()),
        ("service_tier", r.service_tier.is_some()),
        ("store", r.store.is_some()),
        ("metadata", r.metadata.is_some()),
        ("web_search_options", r.web_search_options.is_some()),
        ("verbosity", r.verbosity.is_some()),
        ("prompt_cache_retention", r.prompt_cache_retention.is_some()),
    ];
    for (field, present) in ignored {
        if present {
            note(&mut dropped, field);
        }
    }
    let _ = r.stream_options;

    Ok(Request {
        model: r.model,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: r.parallel_tool_calls,
        max_tokens: r.max_completion_tokens.or(r.max_tokens),
        temperature: r.temperature,
        top_p: r.top_p,
        top_k: r.top_k,
        stop: r.stop,
        seed: r.seed,
        frequency_penalty: r.frequency_penalty,
        presence_penalty: r.presence_penalty,
        stream: r.stream.unwrap_or(false),
        response_format: r
            .response_format
            .and_then(|f| response_format_from(f, &mut dropped)),
        reasoning: r.reasoning_effort.as_deref().and_then(effort_from_wire),
        user: r.user.or(r.safety_identifier),
        prompt_cache_key: r.prompt_cache_key,
        dropped,
    })
}

fn tool_from(f: super::types::ChatFunctionDef) -> Tool {
    Tool {
        name: f.name,
        description: f.description,
        parameters: f
            .parameters
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
        strict: f.strict,
        cache_control: None,
    }
}

// ---- encoding ----

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_cache_key: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutContent<'a> {
    Text(&'a str),
    Joined(String),
    Parts(Vec<OutPart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: OutImageUrl<'a> },
}

#[derive(Serialize)]
struct OutImageUrl<'a> {
    url: std::borrow::Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    /// `null` for an assistant turn with only tool calls.
    content: Option<OutContent<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct OutToolCall<'a> {
    pub id: std::borrow::Cow<'a, str>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutFunction<'a>,
}

#[derive(Serialize)]
pub(crate) struct OutFunction<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

#[derive(Serialize)]
struct OutTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunctionDef<'a>,
}

#[derive(Serialize)]
struct OutFunctionDef<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

fn text_content<'a>(texts: &[&'a str]) -> Option<OutContent<'a>> {
    match texts {
        [] => None,
        [one] => Some(OutContent::Text(one)),
        many => Some(OutContent::Joined(many.concat())),
    }
}

fn image_part<'a>(source: &'a ImageSource, detail: &'a Option<String>) -> OutPart<'a> {
    let url = match source {
        ImageSource::Url { url } => std::borrow::Cow::Borrowed(url.as_str()),
        ImageSource::Base64 { media_type, data } => {
            std::borrow::Cow::Owned(format!("data:{media_type};base64,{data}"))
        }
    };
    OutPart::ImageUrl {
        image_url: OutImageUrl {
            url,
            detail: detail.as_deref(),
        },
    }
}

/// Text and image parts as chat `content`: a plain string when it is text only.
fn user_content<'a>(parts: &[&'a Part], dropped: &mut Vec<String>) -> Option<OutContent<'a>> {
    let has_image = parts.iter().any(|p| matches!(p, Part::Image { .. }));
    if !has_image {
        let texts: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        return text_content(&texts);
    }
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text { text, .. } => out.push(OutPart::Text { text }),
            Part::Image { source, detail } => out.push(image_part(source, detail)),
            Part::Reasoning { .. } => note(dropped, "reasoning"),
            _ => {}
        }
    }
    Some(OutContent::Parts(out))
}

fn tool_choice_to(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => Value::from("auto"),
        ToolChoice::None => Value::from("none"),
        ToolChoice::Required => Value::from("required"),
        ToolChoice::Tool { name } => {
            serde_json::json!({"type": "function", "function": {"name": name}})
        }
    }
}

fn response_format_to(f: &ResponseFormat) -> Value {
    match f {
        ResponseFormat::Text => serde_json::json!({"type": "text"}),
        ResponseFormat::JsonObject => serde_json::json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut js = serde_json::Map::new();
            js.insert(
                "name".into(),
                Value::from(if name.is_empty() { "response" } else { name }),
            );
            js.insert("schema".into(), schema.clone());
            if let Some(s) = strict {
                js.insert("strict".into(), Value::from(*s));
            }
            serde_json::json!({"type": "json_schema", "json_schema": js})
        }
    }
}

/// A `system` message of the text parts (chat takes no images there); `None` when empty.
fn system_message<'a>(parts: &'a [Part], dropped: &mut Vec<String>) -> Option<OutMessage<'a>> {
    let mut texts = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text { text, .. } => texts.push(text.as_str()),
            _ => note(dropped, "system.non_text"),
        }
    }
    Some(OutMessage {
        role: "system",
        content: Some(text_content(&texts)?),
        tool_calls: Vec::new(),
        tool_call_id: None,
    })
}

/// The longest `user` OpenAI accepts (Claude Code's `metadata.user_id` is a ~150-character
/// JSON blob); a longer one is dropped.
const MAX_USER: usize = 64;

/// Chat takes at most four stop sequences; the rest are dropped.
const MAX_STOP: usize = 4;

/// Encodes a canonical request as a Chat Completions body.
pub fn encode_request(
    req: &Request,
    opts: &EncodeOptions,
    dropped: &mut Vec<String>,
) -> Result<Vec<u8>, ConvertError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    messages.extend(system_message(&req.system, dropped));
    for m in &req.messages {
        match m.role {
            Role::System => messages.extend(system_message(&m.content, dropped)),
            Role::User => {
                // Tool results become `tool` messages, placed first (they answer the previous
                // assistant turn); the rest stays a user message.
                let mut rest = Vec::new();
                for p in &m.content {
                    match p {
                        Part::ToolResult {
                            call_id,
                            content,
                            is_error,
                            ..
                        } => {
                            if *is_error {
                                note(dropped, "tool_result.is_error");
                            }
                            if content.iter().any(|p| matches!(p, Part::Image { .. })) {
                                note(dropped, "tool_result.image");
                            }
                            let texts: Vec<&str> = content
                                .iter()
                                .filter_map(|p| match p {
                                    Part::Text { text, .. } => Some(text.as_str()),
                                    _ => None,
                                })
                                .collect();
                            messages.push(OutMessage {
                                role: "tool",
                                content: Some(text_content(&texts).unwrap_or(OutContent::Text(""))),
                                tool_calls: Vec::new(),
                                tool_call_id: Some(call_id),
                            });
                        }
                        other => rest.push(other),
                    }
                }
                if let Some(content) = user_content(&rest, dropped) {
                    messages.push(OutMessage {
                        role: "user",
                        content: Some(content),
                        tool_calls: Vec::new(),
                        tool_call_id: None,
                    });
                }
            }
            Role::Assistant => {
                let mut texts = Vec::new();
                let mut tool_calls = Vec::new();
                for p in &m.content {
                    match p {
                        Part::Text { text, .. } => texts.push(text.as_str()),
                        Part::ToolCall {
                            id,
                            name,
                            arguments,
                            ..
                        } => tool_calls.push(OutToolCall {
                            id: std::borrow::Cow::Borrowed(id),
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
                        // Chat has no input field for earlier reasoning: dropped (DeepSeek
                        // rejects `reasoning_content` sent back; OpenAI ignores reasoning here).
                        Part::Reasoning { .. } => note(dropped, "reasoning"),
                        Part::Image { .. } => note(dropped, "assistant_image"),
                        Part::ToolResult { .. } => {}
                    }
                }
                let content = text_content(&texts);
                if content.is_none() && tool_calls.is_empty() {
                    continue;
                }
                messages.push(OutMessage {
                    role: "assistant",
                    content,
                    tool_calls,
                    tool_call_id: None,
                });
            }
        }
    }

    let tools = req
        .tools
        .iter()
        .map(|t| OutTool {
            kind: "function",
            function: OutFunctionDef {
                name: &t.name,
                description: t.description.as_deref(),
                parameters: &t.parameters,
                strict: t.strict,
            },
        })
        .collect::<Vec<_>>();
    let (tool_choice, parallel_tool_calls) = if tools.is_empty() {
        if req.tool_choice.is_some() {
            note(dropped, "tool_choice");
        }
        (None, None)
    } else {
        (
            req.tool_choice.as_ref().map(tool_choice_to),
            req.parallel_tool_calls,
        )
    };

    let reasoning_effort = req
        .reasoning
        .as_ref()
        .and_then(|r| r.effort_or_derived())
        .map(effort_to_wire);
    // Reasoning models reject `max_tokens`; everything else knows it best.
    let (max_tokens, max_completion_tokens) = if reasoning_effort.is_some() {
        (None, req.max_tokens)
    } else {
        (req.max_tokens, None)
    };
    if req.top_k.is_some() {
        note(dropped, "top_k");
    }

    let out = OutRequest {
        model: if opts.model.is_empty() {
            &req.model
        } else {
            &opts.model
        },
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        max_tokens,
        max_completion_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: if req.stop.len() > MAX_STOP {
            note(dropped, "stop");
            &req.stop[..MAX_STOP]
        } else {
            &req.stop
        },
        seed: req.seed,
        frequency_penalty: req.frequency_penalty,
        presence_penalty: req.presence_penalty,
        response_format: req.response_format.as_ref().map(response_format_to),
        reasoning_effort,
        user: match req.user.as_deref() {
            Some(u) if u.len() > MAX_USER => {
                note(dropped, "user");
                None
            }
            u => u,
        },
        prompt_cache_key: req.prompt_cache_key.as_deref(),
        stream: opts.stream,
        stream_options: (opts.stream && opts.include_usage).then_some(StreamOptions {
            include_usage: true,
        }),
    };
    let mut buf = Vec::with_capacity(1024);
    serde_json::to_writer(&mut buf, &out).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    Ok(buf)
}
