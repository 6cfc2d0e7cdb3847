//! Gemini request body ↔ canonical `Request` (rules in the module doc of `gemini`).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::types::{
    Blob, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration,
    FunctionResponse, GenerateContentRequest, GenerationConfig, Str, ThinkingConfig,
    Tool as WireTool, ToolConfig, WirePart,
};
use crate::canonical::{
    ConvertError, Effort, EncodeOptions, ImageSource, Message, Part, Reasoning, Request,
    ResponseFormat, Role, Signature, Tool, ToolChoice,
};
use crate::dialect::Dialect;

fn gemini_sig(s: Option<Str<'_>>) -> Option<Signature> {
    s.map(|value| Signature {
        dialect: Dialect::Gemini,
        value: value.into_owned(),
    })
}

/// Assigns tool-call ids (`call_<n>`) where Gemini gives none and pairs function responses
/// with the earliest unanswered call of the same name.
#[derive(Default)]
pub(crate) struct CallIds {
    next: usize,
    /// (id, name, answered)
    calls: Vec<(String, String, bool)>,
}

impl CallIds {
    pub(crate) fn call(&mut self, id: Option<Str<'_>>, name: &str) -> String {
        let id = id
            .filter(|s| !s.is_empty())
            .map(Str::into_owned)
            .unwrap_or_else(|| format!("call_{}", self.next));
        self.next += 1;
        self.calls.push((id.clone(), name.to_owned(), false));
        id
    }
    fn response(&mut self, id: Option<Str<'_>>, name: &str) -> String {
        if let Some(id) = id.filter(|s| !s.is_empty()).map(Str::into_owned) {
            if let Some(c) = self.calls.iter_mut().find(|c| c.0 == id) {
                c.2 = true;
            }
            return id;
        }
        if let Some(c) = self.calls.iter_mut().find(|c| !c.2 && c.1 == name) {
            c.2 = true;
            return c.0.clone();
        }
        let id = format!("call_{}", self.next);
        self.next += 1;
        id
    }
}

/// Gemini parts → canonical parts (shared with the response decoder).
pub(crate) fn decode_parts(
    parts: Vec<WirePart<'_>>,
    ids: &mut CallIds,
    dropped: &mut Vec<String>,
) -> Vec<Part> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let signature = gemini_sig(p.thought_signature);
        if let Some(fc) = p.function_call {
            let id = ids.call(fc.id, &fc.name);
            let arguments = match fc.args {
                Some(v) => serde_json::to_string(&v).unwrap_or_else(|_| "{}".into()),
                None => "{}".into(),
            };
            out.push(Part::ToolCall {
                id,
                name: fc.name.into_owned(),
                arguments,
                signature,
            });
        } else if let Some(fr) = p.function_response {
            let call_id = ids.response(fr.id, &fr.name);
            let (text, is_error) = function_response_text(fr.response);
            out.push(Part::ToolResult {
                call_id,
                name: Some(fr.name.into_owned()),
                content: vec![Part::text(text)],
                is_error,
            });
        } else if let Some(b) = p.inline_data {
            if b.mime_type.starts_with("image/") {
                out.push(Part::Image {
                    source: ImageSource::Base64 {
                        media_type: b.mime_type.into_owned(),
                        data: b.data.into_owned(),
                    },
                    detail: None,
                });
            } else {
                dropped.push(format!("gemini.inlineData({})", b.mime_type));
            }
        } else if let Some(f) = p.file_data {
            match f.mime_type.as_deref() {
                None => out.push(image_url(f.file_uri.into_owned())),
                Some(m) if m.starts_with("image/") => out.push(image_url(f.file_uri.into_owned())),
                Some(m) => dropped.push(format!("gemini.fileData({m})")),
            }
        } else if let Some(text) = p.text {
            if p.thought == Some(true) {
                out.push(Part::Reasoning {
                    text: text.into_owned(),
                    signature,
                    encrypted: None,
                    id: None,
                });
            } else {
                // Gemini signs the first part after its thoughts: on text, that signature
                // belongs to the unsigned reasoning just before (dialects without signed text
                // carry it there).
                let signature = match (signature, out.last_mut()) {
                    (
                        Some(sig),
                        Some(Part::Reasoning {
                            signature: slot @ None,
                            encrypted: None,
                            ..
                        }),
                    ) => {
                        *slot = Some(sig);
                        None
                    }
                    (signature, _) => signature,
                };
                out.push(Part::Text {
                    text: text.into_owned(),
                    cache_control: None,
                    signature,
                });
            }
        } else if let Some(sig) = signature {
            // A part that carries only a signature belongs to the reasoning before it.
            out.push(Part::Reasoning {
                text: String::new(),
                signature: Some(sig),
                encrypted: None,
                id: None,
            });
        } else if p.executable_code.is_some() {
            dropped.push("gemini.parts.executableCode".into());
        } else if p.code_execution_result.is_some() {
            dropped.push("gemini.parts.codeExecutionResult".into());
        }
        if p.video_metadata.is_some() {
            dropped.push("gemini.parts.videoMetadata".into());
        }
    }
    out
}

fn image_url(url: String) -> Part {
    Part::Image {
        source: ImageSource::Url { url },
        detail: None,
    }
}

/// `{"output": "…"}` → the string; `{"error": …}` → an error result; anything else → its JSON.
fn function_response_text(v: Value) -> (String, bool) {
    if let Value::Object(m) = &v
        && m.len() == 1
    {
        if let Some(o) = m.get("output") {
            return (value_text(o), false);
        }
        if let Some(e) = m.get("error") {
            return (value_text(e), true);
        }
    }
    (value_text(&v), false)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Gemini's OpenAPI-subset `Schema` → JSON Schema: `type` names lower-cased, `nullable: true`
/// becomes a `"null"` type, `propertyOrdering` removed.
pub(crate) fn openapi_to_json_schema(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            let nullable = matches!(m.get("nullable"), Some(Value::Bool(true)));
            for (k, v) in m {
                match k.as_str() {
                    "nullable" | "propertyOrdering" => {}
                    "type" => {
                        let t = match v {
                            Value::String(s) => Value::String(s.to_ascii_lowercase()),
                            other => other,
                        };
                        let t = match (nullable, t) {
                            (true, Value::String(s)) => {
                                Value::Array(vec![Value::String(s), Value::String("null".into())])
                            }
                            (_, t) => t,
                        };
                        out.insert(k, t);
                    }
                    "properties" => {
                        let props = match v {
                            Value::Object(p) => Value::Object(
                                p.into_iter()
                                    .map(|(k, v)| (k, openapi_to_json_schema(v)))
                                    .collect(),
                            ),
                            other => other,
                        };
                        out.insert(k, props);
                    }
                    "items" | "anyOf" => {
                        out.insert(k, openapi_to_json_schema(v));
                    }
                    _ => {
                        out.insert(k, v);
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(openapi_to_json_schema).collect()),
        other => other,
    }
}

fn parse_effort(s: &str) -> Option<Effort> {
    match s.to_ascii_uppercase().as_str() {
        "MINIMAL" => Some(Effort::Minimal),
        "LOW" => Some(Effort::Low),
        "MEDIUM" => Some(Effort::Medium),
        "HIGH" => Some(Effort::High),
        _ => None,
    }
}

/// Decodes a Gemini request body. `model` stays empty and `stream` false (they are in the URL).
pub fn decode_request(body: &[u8]) -> Result<Request, ConvertError> {
    let w: GenerateContentRequest =
        serde_json::from_slice(body).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let mut req = Request::default();
    let mut ids = CallIds::default();
    if let Some(si) = w.system_instruction {
        req.system = decode_parts(si.parts, &mut ids, &mut req.dropped);
    }
    for c in w.contents {
        let role = match c.role.as_deref() {
            Some("model") => Role::Assistant,
            Some("user") | Some("function") | None => Role::User,
            Some(other) => {
                return Err(ConvertError::Invalid(format!(
                    "unknown content role '{other}'"
                )));
            }
        };
        let content = decode_parts(c.parts, &mut ids, &mut req.dropped);
        req.messages.push(Message { role, content });
    }
    for t in w.tools {
        for k in t.builtins() {
            req.dropped.push(format!("gemini.tools.{k}"));
        }
        for f in t.function_declarations.unwrap_or_default() {
            let parameters = match (f.parameters_json_schema, f.parameters) {
                (Some(js), _) => js.into_owned(),
                (None, Some(p)) => openapi_to_json_schema(p),
                (None, None) => serde_json::json!({"type": "object", "properties": {}}),
            };
            if f.response.is_some() || f.response_json_schema.is_some() {
                req.dropped
                    .push(format!("gemini.functionDeclarations.response({})", f.name));
            }
            if f.behavior.is_some() {
                req.dropped
                    .push("gemini.functionDeclarations.behavior".into());
            }
            req.tools.push(Tool {
                name: f.name.into_owned(),
                description: f.description.map(Str::into_owned),
                parameters,
                strict: None,
                cache_control: None,
            });
        }
    }
    if let Some(fcc) = w.tool_config.and_then(|t| t.function_calling_config) {
        let names = fcc.allowed_function_names.unwrap_or_default();
        req.tool_choice = match fcc.mode.as_deref() {
            Some("NONE") => Some(ToolChoice::None),
            Some("ANY") if names.len() == 1 => Some(ToolChoice::Tool {
                name: names[0].clone(),
            }),
            Some("ANY") => {
                if !names.is_empty() {
                    req.dropped
                        .push("gemini.toolConfig.allowedFunctionNames".into());
                }
                Some(ToolChoice::Required)
            }
            Some("AUTO") => Some(ToolChoice::Auto),
            Some("VALIDATED") => {
                req.dropped.push("gemini.toolConfig.mode.VALIDATED".into());
                Some(ToolChoice::Auto)
            }
            _ => None,
        };
    }
    if let Some(g) = w.generation_config {
        decode_generation_config(g, &mut req)?;
    }
    if w.safety_settings.is_some() {
        req.dropped.push("gemini.safetySettings".into());
    }
    if w.cached_content.is_some() {
        req.dropped.push("gemini.cachedContent".into());
    }
    if w.labels.is_some() {
        req.dropped.push("gemini.labels".into());
    }
    Ok(req)
}

fn decode_generation_config(
    g: GenerationConfig<'_>,
    req: &mut Request,
) -> Result<(), ConvertError> {
    if g.candidate_count.is_some_and(|n| n > 1) {
        return Err(ConvertError::Unsupported(
            "generationConfig.candidateCount > 1".into(),
        ));
    }
    req.temperature = g.temperature;
    req.top_p = g.top_p;
    req.top_k = g.top_k.and_then(|k| {
        k.as_u64()
            .or_else(|| k.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
    });
    req.max_tokens = g.max_output_tokens;
    req.stop = g.stop_sequences.unwrap_or_default();
    req.seed = g.seed;
    req.presence_penalty = g.presence_penalty;
    req.frequency_penalty = g.frequency_penalty;
    let json = g.response_mime_type.as_deref() == Some("application/json");
    req.response_format = match (g.response_json_schema, g.response_schema) {
        (Some(schema), _) => Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: schema.into_owned(),
            strict: None,
        }),
        (None, Some(s)) => Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: openapi_to_json_schema(s),
            strict: None,
        }),
        (None, None) if json => Some(ResponseFormat::JsonObject),
        (None, None) => match g.response_mime_type.as_deref() {
            Some("text/plain") => Some(ResponseFormat::Text),
            Some(other) => {
                req.dropped
                    .push(format!("gemini.generationConfig.responseMimeType({other})"));
                None
            }
            None => None,
        },
    };
    if let Some(t) = g.thinking_config {
        let mut r = Reasoning {
            include_thoughts: t.include_thoughts,
            ..Reasoning::default()
        };
        match t.thinking_budget {
            Some(0) => r.disabled = true,
            Some(b) if b > 0 => r.budget_tokens = Some(b as u64),
            _ => {}
        }
        r.effort = t.thinking_level.as_deref().and_then(parse_effort);
        req.reasoning = Some(r);
    }
    for k in g.rest.keys() {
        req.dropped.push(format!("gemini.generationConfig.{k}"));
    }
    Ok(())
}

/// A MIME type for an image URL, from its extension (Gemini's `fileData` wants one).
fn mime_from_url(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => "image/jpeg",
    }
}

/// `data:<mime>;base64,<data>` → (mime, data).
pub(crate) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some((mime, data))
}

fn encode_image(source: &ImageSource) -> WirePart<'_> {
    match source {
        ImageSource::Base64 { media_type, data } => WirePart {
            inline_data: Some(Blob {
                mime_type: Cow::Borrowed(media_type),
                data: Cow::Borrowed(data),
            }),
            ..WirePart::default()
        },
        ImageSource::Url { url } => match parse_data_url(url) {
            Some((mime, data)) => WirePart {
                inline_data: Some(Blob {
                    mime_type: Cow::Borrowed(mime),
                    data: Cow::Borrowed(data),
                }),
                ..WirePart::default()
            },
            None => WirePart {
                file_data: Some(FileData {
                    mime_type: Some(Cow::Borrowed(mime_from_url(url))),
                    file_uri: Cow::Borrowed(url),
                }),
                ..WirePart::default()
            },
        },
    }
}

/// The signature's value when Gemini produced it (others are dropped: Gemini cannot check them).
pub(crate) fn own_sig(s: &Option<Signature>) -> Option<Str<'_>> {
    s.as_ref()
        .filter(|s| s.dialect == Dialect::Gemini)
        .map(|s| Cow::Borrowed(s.value.as_str()))
}

/// Canonical parts → Gemini parts (borrowing the canonical strings).
fn encode_parts<'a>(
    parts: &'a [Part],
    names: &[(&'a str, &'a str)],
    dropped: &mut Vec<String>,
) -> Vec<WirePart<'a>> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Part::Text {
                text, signature, ..
            } => out.push(WirePart {
                text: Some(Cow::Borrowed(text)),
                thought_signature: own_sig(signature),
                ..WirePart::default()
            }),
            Part::Image { source, .. } => out.push(encode_image(source)),
            Part::ToolCall {
                name,
                arguments,
                signature,
                ..
            } => {
                let args = match serde_json::from_str::<Value>(arguments) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => {
                        dropped.push(format!("gemini.functionCall.args({name})"));
                        Value::Object(Map::new())
                    }
                };
                out.push(WirePart {
                    function_call: Some(FunctionCall {
                        id: None,
                        name: Cow::Borrowed(name),
                        args: Some(args),
                    }),
                    thought_signature: own_sig(signature),
                    ..WirePart::default()
                });
            }
            Part::ToolResult {
                call_id,
                name,
                content,
                is_error,
            } => {
                let name: &str = match name
                    .as_deref()
                    .or_else(|| names.iter().find(|(id, _)| id == call_id).map(|(_, n)| *n))
                {
                    Some(n) => n,
                    None => {
                        dropped.push("gemini.functionResponse.name(unknown call)".into());
                        "unknown"
                    }
                };
                let mut text = String::new();
                for c in content {
                    match c {
                        Part::Text { text: t, .. } => text.push_str(t),
                        _ => dropped.push("gemini.functionResponse.image".into()),
                    }
                }
                let key = if *is_error { "error" } else { "output" };
                let mut resp = Map::with_capacity(1);
                resp.insert(key.into(), Value::String(text));
                out.push(WirePart {
                    function_response: Some(FunctionResponse {
                        id: None,
                        name: Cow::Borrowed(name),
                        response: Value::Object(resp),
                    }),
                    ..WirePart::default()
                });
            }
            Part::Reasoning {
                text, signature, ..
            } => match own_sig(signature) {
                Some(sig) => out.push(WirePart {
                    text: Some(Cow::Borrowed(text)),
                    thought: Some(true),
                    thought_signature: Some(sig),
                    ..WirePart::default()
                }),
                None => dropped.push("gemini.reasoning(unsigned)".into()),
            },
        }
    }
    out
}

/// Canonical JSON Schema → `parametersJsonSchema`, minus the `$schema` keyword (copied only
/// when it has one).
fn tool_schema(v: &Value) -> Cow<'_, Value> {
    match v {
        Value::Object(m) if m.contains_key("$schema") => {
            let mut m = m.clone();
            m.remove("$schema");
            Cow::Owned(Value::Object(m))
        }
        other => Cow::Borrowed(other),
    }
}

/// Encodes a canonical request as a Gemini body (model and stream go in the URL).
pub fn encode_request(
    req: &Request,
    _opts: &EncodeOptions,
    dropped: &mut Vec<String>,
) -> Result<Vec<u8>, ConvertError> {
    let mut w = GenerateContentRequest::default();
    let names: Vec<(&str, &str)> = req
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .filter_map(|p| match p {
            Part::ToolCall { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    if !req.system.is_empty() {
        w.system_instruction = Some(Content {
            role: None,
            parts: encode_parts(&req.system, &names, dropped),
        });
    }
    let mut pending_system: Vec<WirePart> = Vec::new();
    for m in &req.messages {
        let mut parts = encode_parts(&m.content, &names, dropped);
        let role = match m.role {
            Role::System => {
                dropped.push("system_mid_conversation".into());
                for p in parts {
                    if let Some(t) = p.text {
                        pending_system.push(WirePart {
                            text: Some(t),
                            ..WirePart::default()
                        });
                    }
                }
                continue;
            }
            Role::User => "user",
            Role::Assistant => "model",
        };
        if m.role == Role::User && !pending_system.is_empty() {
            pending_system.append(&mut parts);
            parts = std::mem::take(&mut pending_system);
        }
        if parts.is_empty() {
            continue;
        }
        w.contents.push(Content {
            role: Some(Cow::Borrowed(role)),
            parts,
        });
    }
    if !pending_system.is_empty() {
        w.contents.push(Content {
            role: Some(Cow::Borrowed("user")),
            parts: pending_system,
        });
    }
    if !req.tools.is_empty() {
        w.tools.push(WireTool {
            function_declarations: Some(
                req.tools
                    .iter()
                    .map(|t| FunctionDeclaration {
                        name: Cow::Borrowed(&t.name),
                        description: t.description.as_deref().map(Cow::Borrowed),
                        parameters_json_schema: Some(tool_schema(&t.parameters)),
                        ..FunctionDeclaration::default()
                    })
                    .collect(),
            ),
            ..WireTool::default()
        });
    }
    if let Some(tc) = &req.tool_choice {
        let (mode, allowed) = match tc {
            ToolChoice::Auto => ("AUTO", None),
            ToolChoice::None => ("NONE", None),
            ToolChoice::Required => ("ANY", None),
            ToolChoice::Tool { name } => ("ANY", Some(vec![name.clone()])),
        };
        w.tool_config = Some(ToolConfig {
            function_calling_config: Some(FunctionCallingConfig {
                mode: Some(mode.into()),
                allowed_function_names: allowed,
            }),
            rest: Map::new(),
        });
    }
    if req.parallel_tool_calls.is_some() {
        dropped.push("gemini.parallel_tool_calls".into());
    }
    let mut g = GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k.map(serde_json::Number::from),
        max_output_tokens: req.max_tokens,
        stop_sequences: (!req.stop.is_empty()).then(|| req.stop.clone()),
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        ..GenerationConfig::default()
    };
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            g.response_mime_type = Some("application/json".into());
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            g.response_mime_type = Some("application/json".into());
            g.response_json_schema = Some(tool_schema(schema));
        }
        Some(ResponseFormat::Text) | None => {}
    }
    if let Some(r) = &req.reasoning {
        let budget = if r.disabled {
            Some(0)
        } else {
            r.budget_or_derived().map(|b| b.min(i64::MAX as u64) as i64)
        };
        g.thinking_config = Some(ThinkingConfig {
            include_thoughts: r.include_thoughts,
            thinking_budget: budget,
            thinking_level: None,
        });
    }
    w.generation_config = Some(g);
    if req.user.is_some() {
        dropped.push("gemini.user".into());
    }
    if req.prompt_cache_key.is_some() {
        dropped.push("gemini.prompt_cache_key".into());
    }
    serde_json::to_vec(&w).map_err(|e| ConvertError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body google-genai 3.x (Python) sends: camelCase outside, snake_case inside the
    /// nested objects (`inlineData.mime_type`, `parameters_json_schema`, `include_thoughts`).
    /// Google's API takes both spellings, so the decoder does too.
    #[test]
    fn snake_case_fields_from_google_genai_decode() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"},
            {"inlineData":{"data":"iVBORw==","mime_type":"image/png"}},
            {"fileData":{"file_uri":"http://x/p.png","mime_type":"image/png"}}]}],
          "tools":[{"functionDeclarations":[{"name":"f","parameters_json_schema":
            {"type":"object","properties":{"a":{"type":"string"}}}}]}],
          "generationConfig":{"max_output_tokens":100,
            "thinkingConfig":{"include_thoughts":true,"thinking_budget":1024}},
          "system_instruction":{"parts":[{"text":"be brief"}]}}"#;
        let req = decode_request(body).unwrap();
        let parts = &req.messages[0].content;
        assert_eq!(
            parts[1],
            Part::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw==".into()
                },
                detail: None
            }
        );
        assert!(
            matches!(&parts[2], Part::Image { source: ImageSource::Url { url }, .. } if url == "http://x/p.png"),
            "{parts:?}"
        );
        assert_eq!(req.tools[0].parameters["properties"]["a"]["type"], "string");
        assert_eq!(req.max_tokens, Some(100));
        let r = req.reasoning.unwrap();
        assert_eq!(
            (r.include_thoughts, r.budget_tokens),
            (Some(true), Some(1024))
        );
        assert_eq!(req.system, vec![Part::text("be brief")]);
    }

    #[test]
    fn a_text_signature_after_thoughts_signs_the_thoughts() {
        let sig = |v: &str| Signature {
            dialect: Dialect::Gemini,
            value: v.into(),
        };
        let mut ids = CallIds::default();
        let parts: Vec<WirePart> = serde_json::from_str(
            r#"[{"text":"hm","thought":true},{"text":"4","thoughtSignature":"s1"}]"#,
        )
        .unwrap();
        let out = decode_parts(parts, &mut ids, &mut vec![]);
        assert!(
            matches!(&out[0], Part::Reasoning { signature: Some(s), .. } if *s == sig("s1")),
            "{out:?}"
        );
        assert!(
            matches!(
                &out[1],
                Part::Text {
                    signature: None,
                    ..
                }
            ),
            "{out:?}"
        );
        // Without thoughts before it, the text keeps its signature.
        let parts: Vec<WirePart> =
            serde_json::from_str(r#"[{"text":"4","thoughtSignature":"s2"}]"#).unwrap();
        let out = decode_parts(parts, &mut ids, &mut vec![]);
        assert!(
            matches!(&out[0], Part::Text { signature: Some(s), .. } if *s == sig("s2")),
            "{out:?}"
        );
    }
}
