//! Responses request body ↔ canonical `Request` (rules in the module doc of `openai_responses`),
//! and `envelope`, the fields the gateway acts on itself.

use serde::Serialize;
use serde_json::Value;

use super::seal;
use super::types::{ContentPart, CreateRequest, Envelope, Input, Item, MessageContent};
use crate::canonical::{
    ConvertError, Effort, EncodeOptions, ImageSource, Message, Part, Reasoning, Request,
    ResponseFormat, Role, Signature, Tool, ToolChoice,
};
use crate::dialect::Dialect;

/// Reads `store`, `previous_response_id` and `include` of a Responses request body.
pub fn envelope(body: &[u8]) -> Result<Envelope, ConvertError> {
    serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))
}

/// `data:<mime>;base64,<data>` → a base64 source; anything else → a URL source.
pub(crate) fn image_source(url: String) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(mime) = meta.strip_suffix(";base64")
    {
        return ImageSource::Base64 {
            media_type: mime.to_owned(),
            data: data.to_owned(),
        };
    }
    ImageSource::Url { url }
}

fn content_parts(c: MessageContent, dropped: &mut Vec<String>) -> Vec<Part> {
    match c {
        MessageContent::Text(t) => vec![Part::text(t)],
        MessageContent::Parts(ps) => ps
            .into_iter()
            .filter_map(|p| content_part(p, dropped))
            .collect(),
    }
}

fn content_part(p: ContentPart, dropped: &mut Vec<String>) -> Option<Part> {
    match p.kind.as_str() {
        "input_text" | "output_text" | "text" | "summary_text" | "reasoning_text" => {
            Some(Part::text(p.text.unwrap_or_default()))
        }
        "refusal" => Some(Part::text(p.refusal.unwrap_or_default())),
        "input_image" => match p.image_url {
            Some(url) => Some(Part::Image {
                source: image_source(url),
                detail: p.detail,
            }),
            None => {
                dropped.push("openai_responses.input_image.file_id".into());
                None
            }
        },
        other => {
            dropped.push(format!("openai_responses.content.{other}"));
            None
        }
    }
}

fn parse_effort(s: &str, dropped: &mut Vec<String>) -> Option<Effort> {
    match s {
        "minimal" => Some(Effort::Minimal),
        "low" => Some(Effort::Low),
        "medium" => Some(Effort::Medium),
        "high" => Some(Effort::High),
        "xhigh" => {
            dropped.push("openai_responses.reasoning.effort(xhigh→high)".into());
            Some(Effort::High)
        }
        _ => None,
    }
}

/// Appends a part to the last message when it has `role` (and, for tool results, holds only
/// tool results), else starts a new message.
fn push_part(messages: &mut Vec<Message>, role: Role, part: Part) {
    let joinable = match messages.last() {
        Some(m) if m.role == role => match (&part, role) {
            (Part::ToolResult { .. }, Role::User) => m
                .content
                .iter()
                .all(|p| matches!(p, Part::ToolResult { .. })),
            _ => role == Role::Assistant,
        },
        _ => false,
    };
    match messages.last_mut() {
        Some(m) if joinable => m.content.push(part),
        _ => messages.push(Message {
            role,
            content: vec![part],
        }),
    }
}

fn decode_items(items: Vec<Item>, req: &mut Request) {
    let mut leading = true;
    let mut pending_call_sig: Option<Signature> = None;
    for it in items {
        let kind = it.kind.as_deref().unwrap_or("message");
        if kind != "function_call"
            && let Some(sig) = pending_call_sig.take()
        {
            push_part(&mut req.messages, Role::Assistant, signature_only(sig));
        }
        match kind {
            "message" => {
                let role = it.role.as_deref().unwrap_or("user");
                let parts = it
                    .content
                    .map(|c| content_parts(c, &mut req.dropped))
                    .unwrap_or_default();
                match role {
                    "system" | "developer" if leading => req.system.extend(parts),
                    "system" | "developer" => req.messages.push(Message {
                        role: Role::System,
                        content: parts,
                    }),
                    "assistant" => {
                        leading = false;
                        for p in parts {
                            push_part(&mut req.messages, Role::Assistant, p);
                        }
                    }
                    _ => {
                        leading = false;
                        req.messages.push(Message {
                            role: Role::User,
                            content: parts,
                        });
                    }
                }
            }
            "function_call" => {
                leading = false;
                let part = Part::ToolCall {
                    id: it.call_id.or(it.id).unwrap_or_default(),
                    name: it.name.unwrap_or_default(),
                    arguments: it.arguments.unwrap_or_default(),
                    signature: pending_call_sig.take(),
                };
                push_part(&mut req.messages, Role::Assistant, part);
            }
            "function_call_output" => {
                leading = false;
                let call_id = it.call_id.unwrap_or_default();
                let name = it.name.or_else(|| {
                    req.messages
                        .iter()
                        .flat_map(|m| m.content.iter())
                        .find_map(|p| match p {
                            Part::ToolCall { id, name, .. } if *id == call_id => Some(name.clone()),
                            _ => None,
                        })
                });
                let content = it
                    .output
                    .map(|c| content_parts(c, &mut req.dropped))
                    .unwrap_or_default();
                let part = Part::ToolResult {
                    call_id,
                    name,
                    content,
                    is_error: false,
                };
                push_part(&mut req.messages, Role::User, part);
            }
            "reasoning" => {
                leading = false;
                let mut texts: Vec<String> = it
                    .summary
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|s| s.text)
                    .collect();
                if texts.is_empty()
                    && let Some(MessageContent::Parts(ps)) = it.content
                {
                    texts = ps.into_iter().filter_map(|s| s.text).collect();
                }
                let (signature, encrypted) = seal::reasoning_fields(it.encrypted_content);
                let text = texts.join("\n\n");
                if text.is_empty() && encrypted.is_none() && signature.is_some() {
                    // A sealed signature of the function call that follows (Gemini).
                    pending_call_sig = signature;
                    continue;
                }
                let part = Part::Reasoning {
                    text,
                    signature,
                    encrypted,
                    id: it.id,
                };
                push_part(&mut req.messages, Role::Assistant, part);
            }
            other => req.dropped.push(format!("openai_responses.input.{other}")),
        }
    }
    if let Some(sig) = pending_call_sig {
        push_part(&mut req.messages, Role::Assistant, signature_only(sig));
    }
}

fn signature_only(sig: Signature) -> Part {
    Part::Reasoning {
        text: String::new(),
        signature: Some(sig),
        encrypted: None,
        id: None,
    }
}

/// Decodes a client's Responses request body.
pub fn decode_request(body: &[u8]) -> Result<Request, ConvertError> {
    let w: CreateRequest =
        serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let mut req = Request {
        model: w.model,
        stream: w.stream.unwrap_or(false),
        parallel_tool_calls: w.parallel_tool_calls,
        max_tokens: w.max_output_tokens,
        temperature: w.temperature,
        top_p: w.top_p,
        user: w.user,
        prompt_cache_key: w.prompt_cache_key,
        ..Request::default()
    };
    if let Some(i) = w.instructions {
        req.system.push(Part::text(i));
    }
    match w.input {
        Some(Input::Text(t)) => req.messages.push(Message {
            role: Role::User,
            content: vec![Part::text(t)],
        }),
        Some(Input::Items(items)) => decode_items(items, &mut req),
        None => {}
    }
    for t in w.tools {
        match t.kind.as_str() {
            "function" => req.tools.push(Tool {
                name: t.name.unwrap_or_default(),
                description: t.description,
                parameters: t
                    .parameters
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
                strict: t.strict,
                cache_control: None,
            }),
            other => req.dropped.push(format!("openai_responses.tools.{other}")),
        }
    }
    req.tool_choice = match w.tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => {
                req.dropped
                    .push(format!("openai_responses.tool_choice.{s}"));
                None
            }
        },
        Some(Value::Object(o)) => match (o.get("type"), o.get("name")) {
            (Some(Value::String(t)), Some(Value::String(n))) if t == "function" => {
                Some(ToolChoice::Tool { name: n.clone() })
            }
            (Some(Value::String(t)), _) => {
                req.dropped
                    .push(format!("openai_responses.tool_choice.{t}"));
                None
            }
            _ => None,
        },
        Some(_) => None,
    };
    if let Some(r) = w.reasoning {
        let mut out = Reasoning::default();
        match r.effort.as_deref() {
            Some("none") => out.disabled = true,
            Some(e) => out.effort = parse_effort(e, &mut req.dropped),
            None => {}
        }
        if r.summary.or(r.generate_summary).is_some() {
            out.include_thoughts = Some(true);
        }
        req.reasoning = Some(out);
    }
    if let Some(t) = w.text {
        if let Some(f) = t.format {
            req.response_format = match f.kind.as_str() {
                "json_schema" => match f.schema {
                    Some(schema @ Value::Object(_)) => Some(ResponseFormat::JsonSchema {
                        name: f.name.unwrap_or_else(|| "response".into()),
                        schema,
                        strict: f.strict,
                    }),
                    // No usable schema: any JSON object.
                    _ => Some(ResponseFormat::JsonObject),
                },
                "json_object" => Some(ResponseFormat::JsonObject),
                "text" => Some(ResponseFormat::Text),
                other => {
                    req.dropped
                        .push(format!("openai_responses.text.format.{other}"));
                    None
                }
            };
        }
        if t.verbosity.is_some() {
            req.dropped.push("openai_responses.text.verbosity".into());
        }
    }
    if w.previous_response_id.is_some() {
        req.dropped
            .push("openai_responses.previous_response_id".into());
    }
    let ignored = [
        ("metadata", w.metadata.is_some()),
        ("service_tier", w.service_tier.is_some()),
        ("client_metadata", w.client_metadata.is_some()),
        ("safety_identifier", w.safety_identifier.is_some()),
        ("truncation", w.truncation.is_some()),
        ("top_logprobs", w.top_logprobs.is_some()),
        ("background", w.background.is_some()),
        ("conversation", w.conversation.is_some()),
        ("prompt", w.prompt.is_some()),
        ("max_tool_calls", w.max_tool_calls.is_some()),
        ("stream_options", w.stream_options.is_some()),
        ("prompt_cache_retention", w.prompt_cache_retention.is_some()),
    ];
    for (name, present) in ignored {
        if present {
            req.dropped.push(format!("openai_responses.{name}"));
        }
    }
    // `store` and `include` are read by the gateway through `envelope`.
    let _ = (w.store, w.include);
    Ok(req)
}

// ---- Encode ------------------------------------------------------------------------------

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    input: Vec<OutItem<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<OutReasoning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<OutText<'a>>,
    store: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    include: Vec<&'static str>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_cache_key: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutItem<'a> {
    Message {
        role: &'static str,
        content: Vec<OutContent<'a>>,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: OutOutput<'a>,
    },
    Reasoning {
        id: &'a str,
        summary: Vec<OutSummary<'a>>,
        encrypted_content: &'a str,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutOutput<'a> {
    Text(String),
    Parts(Vec<OutContent<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutContent<'a> {
    InputText { text: &'a str },
    OutputText { text: &'a str, annotations: [(); 0] },
    InputImage { image_url: String, detail: &'a str },
}

#[derive(Serialize)]
struct OutSummary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct OutTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
    strict: bool,
}

#[derive(Serialize)]
struct OutReasoning {
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'static str>,
}

#[derive(Serialize)]
struct OutText<'a> {
    format: OutFormat<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutFormat<'a> {
    Text,
    JsonObject,
    JsonSchema {
        name: &'a str,
        schema: &'a Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

fn image_url(source: &ImageSource) -> String {
    match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url.clone(),
    }
}

fn effort_name(e: Effort) -> &'static str {
    match e {
        Effort::Minimal => "minimal",
        Effort::Low => "low",
        Effort::Medium => "medium",
        Effort::High => "high",
    }
}

const MIN_OUTPUT_TOKENS: u64 = 16;

/// Encodes a canonical request for a Responses upstream (stateless: `store: false`).
pub fn encode_request(
    req: &Request,
    opts: &EncodeOptions,
    dropped: &mut Vec<String>,
) -> Result<Vec<u8>, ConvertError> {
    let mut input: Vec<OutItem> = Vec::with_capacity(req.messages.len());
    let mut encrypted_reasoning = false;
    let mut sys = String::new();
    for p in &req.system {
        match p {
            Part::Text { text, .. } => {
                if !sys.is_empty() {
                    sys.push_str("\n\n");
                }
                sys.push_str(text);
            }
            _ => dropped.push("openai_responses.instructions(non-text)".into()),
        }
    }
    for m in &req.messages {
        let (role, assistant) = match m.role {
            Role::System => ("system", false),
            Role::User => ("user", false),
            Role::Assistant => ("assistant", true),
        };
        let mut content: Vec<OutContent> = Vec::new();
        for p in &m.content {
            match p {
                Part::Text { text, .. } => content.push(if assistant {
                    OutContent::OutputText {
                        text,
                        annotations: [],
                    }
                } else {
                    OutContent::InputText { text }
                }),
                Part::Image { source, detail } => {
                    if assistant {
                        dropped.push("openai_responses.assistant_image".into());
                    } else {
                        content.push(OutContent::InputImage {
                            image_url: image_url(source),
                            detail: detail.as_deref().unwrap_or("auto"),
                        });
                    }
                }
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    if !content.is_empty() {
                        input.push(OutItem::Message {
                            role,
                            content: std::mem::take(&mut content),
                        });
                    }
                    input.push(OutItem::FunctionCall {
                        call_id: id,
                        name,
                        arguments,
                    });
                }
                Part::ToolResult {
                    call_id,
                    content: rc,
                    is_error,
                    ..
                } => {
                    if !content.is_empty() {
                        input.push(OutItem::Message {
                            role,
                            content: std::mem::take(&mut content),
                        });
                    }
                    if *is_error {
                        dropped.push("openai_responses.function_call_output.is_error".into());
                    }
                    let only_text = rc.iter().all(|p| matches!(p, Part::Text { .. }));
                    let output = if only_text {
                        let mut s = String::new();
                        for p in rc {
                            if let Part::Text { text, .. } = p {
                                s.push_str(text);
                            }
                        }
                        OutOutput::Text(s)
                    } else {
                        OutOutput::Parts(
                            rc.iter()
                                .filter_map(|p| match p {
                                    Part::Text { text, .. } => Some(OutContent::InputText { text }),
                                    Part::Image { source, detail } => {
                                        Some(OutContent::InputImage {
                                            image_url: image_url(source),
                                            detail: detail.as_deref().unwrap_or("auto"),
                                        })
                                    }
                                    _ => None,
                                })
                                .collect(),
                        )
                    };
                    input.push(OutItem::FunctionCallOutput { call_id, output });
                }
                Part::Reasoning {
                    text,
                    encrypted,
                    id,
                    ..
                } => match (
                    encrypted
                        .as_ref()
                        .filter(|e| e.dialect == Dialect::OpenaiResponses),
                    id,
                ) {
                    (Some(_), None) => {
                        // The API requires a reasoning item's id; without it the item is
                        // dropped rather than risk a 400.
                        dropped.push("openai_responses.reasoning(no id)".into());
                    }
                    (Some(enc), Some(id)) => {
                        if !content.is_empty() {
                            input.push(OutItem::Message {
                                role,
                                content: std::mem::take(&mut content),
                            });
                        }
                        encrypted_reasoning = true;
                        let summary = if text.is_empty() {
                            Vec::new()
                        } else {
                            vec![OutSummary {
                                kind: "summary_text",
                                text,
                            }]
                        };
                        input.push(OutItem::Reasoning {
                            id,
                            summary,
                            encrypted_content: &enc.value,
                        });
                    }
                    (None, _) => dropped.push("openai_responses.reasoning(foreign)".into()),
                },
            }
        }
        if !content.is_empty() {
            input.push(OutItem::Message { role, content });
        }
    }
    let tools = req
        .tools
        .iter()
        .map(|t| OutTool {
            kind: "function",
            name: &t.name,
            description: t.description.as_deref(),
            parameters: &t.parameters,
            // Responses makes function tools strict when `strict` is absent; most schemas
            // written for other dialects are not strict-compatible.
            strict: t.strict.unwrap_or(false),
        })
        .collect();
    let tool_choice = req.tool_choice.as_ref().map(|tc| match tc {
        ToolChoice::Auto => Value::String("auto".into()),
        ToolChoice::None => Value::String("none".into()),
        ToolChoice::Required => Value::String("required".into()),
        ToolChoice::Tool { name } => serde_json::json!({"type": "function", "name": name}),
    });
    let reasoning = match &req.reasoning {
        Some(r) if r.disabled => {
            dropped.push("openai_responses.reasoning.disabled".into());
            None
        }
        Some(r) => match r.effort_or_derived() {
            Some(e) => Some(OutReasoning {
                effort: Some(effort_name(e)),
                summary: r.include_thoughts.filter(|b| *b).map(|_| "auto"),
            }),
            None => {
                // Only "show thoughts": not sent, because non-reasoning models reject any
                // `reasoning` parameter.
                if r.include_thoughts == Some(true) {
                    dropped.push("openai_responses.reasoning.summary(no effort)".into());
                }
                None
            }
        },
        None => None,
    };
    let text = req.response_format.as_ref().map(|f| OutText {
        format: match f {
            ResponseFormat::Text => OutFormat::Text,
            ResponseFormat::JsonObject => OutFormat::JsonObject,
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => OutFormat::JsonSchema {
                name,
                schema,
                strict: *strict,
            },
        },
    });
    for (name, present) in [
        ("top_k", req.top_k.is_some()),
        ("stop", !req.stop.is_empty()),
        ("seed", req.seed.is_some()),
        ("frequency_penalty", req.frequency_penalty.is_some()),
        ("presence_penalty", req.presence_penalty.is_some()),
    ] {
        if present {
            dropped.push(format!("openai_responses.{name}"));
        }
    }
    let include = if reasoning.is_some() || encrypted_reasoning {
        vec!["reasoning.encrypted_content"]
    } else {
        Vec::new()
    };
    // The API rejects `max_output_tokens` below 16.
    let max_output_tokens = req.max_tokens.map(|m| {
        if m < MIN_OUTPUT_TOKENS {
            dropped.push("openai_responses.max_output_tokens(raised to 16)".into());
        }
        m.max(MIN_OUTPUT_TOKENS)
    });
    let out = OutRequest {
        model: if opts.model.is_empty() {
            &req.model
        } else {
            &opts.model
        },
        instructions: (!sys.is_empty()).then_some(sys),
        input,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        reasoning,
        text,
        store: false,
        include,
        stream: opts.stream,
        user: req.user.as_deref(),
        prompt_cache_key: req.prompt_cache_key.as_deref(),
    };
    serde_json::to_vec(&out).map_err(|e| ConvertError::Invalid(e.to_string()))
}
