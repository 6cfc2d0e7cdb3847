//! Responses stream state machines: upstream `response.*` events → canonical events
//! (`Decoder`), and canonical events → the full Responses event sequence Codex CLI expects
//! (`Encoder`). Event names and fields follow `types/responses/response_*_event.py` of
//! openai/openai-python.

use serde::{Deserialize, Serialize};

use super::response::{item_id, response_id, stop_from, stop_to, usage_from, usage_to};
use super::seal;
use super::types::{
    IncompleteDetails, Item, OutputItem, OutputText, ResponseError, ResponseObject, ResponseWire,
    SummaryText,
};
use crate::canonical::{
    ConvertError, ErrorInfo, ErrorKind, ResponseOptions, StopReason, StreamDecoder, StreamEncoder,
    StreamEvent, Usage,
};
use crate::dialect::Dialect;

// ---- Decoder -------------------------------------------------------------------------------

#[derive(Deserialize)]
struct EventWire {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    response: Option<ResponseWire>,
    #[serde(default)]
    item: Option<Item>,
    #[serde(default)]
    output_index: Option<u32>,
    #[serde(default)]
    summary_index: Option<u32>,
    #[serde(default)]
    delta: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
}

/// What the decoder knows about one output item.
struct SeenItem {
    output_index: u32,
    /// The canonical tool-call index, for function calls.
    tool: Option<u32>,
    /// Whether any delta arrived for it (otherwise its `done` item supplies the content).
    deltas: bool,
    summary_index: Option<u32>,
}

/// Upstream Responses events → canonical events.
#[derive(Default)]
pub struct Decoder {
    started: bool,
    done: bool,
    items: Vec<SeenItem>,
    tool_calls: u32,
    called: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("openai_responses::Decoder")
            .field("tool_calls", &self.tool_calls)
            .finish()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn item(&mut self, output_index: u32) -> &mut SeenItem {
        let pos = match self
            .items
            .iter()
            .position(|i| i.output_index == output_index)
        {
            Some(p) => p,
            None => {
                self.items.push(SeenItem {
                    output_index,
                    tool: None,
                    deltas: false,
                    summary_index: None,
                });
                self.items.len() - 1
            }
        };
        &mut self.items[pos]
    }

    fn start(&mut self, id: String, model: String, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id, model });
        }
    }

    fn end(&mut self, r: ResponseWire, kind: &str, out: &mut Vec<StreamEvent>) {
        self.start(r.id.clone(), r.model.clone(), out);
        if let Some(u) = &r.usage {
            out.push(StreamEvent::Usage {
                usage: usage_from(u),
            });
        }
        if kind == "response.failed" {
            let e = r.error.unwrap_or_default();
            let mut info = ErrorInfo::new(ErrorKind::Api, e.message);
            info.code = e.code;
            out.push(StreamEvent::Error { error: info });
        } else {
            let reason = r.incomplete_details.and_then(|d| d.reason);
            let status = r.status.as_deref().or(match kind {
                "response.incomplete" => Some("incomplete"),
                _ => Some("completed"),
            });
            out.push(StreamEvent::Stop {
                reason: stop_from(status, reason.as_deref(), self.called),
            });
        }
        self.done = true;
    }
}

impl StreamDecoder for Decoder {
    fn push(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ConvertError> {
        let data = data.trim();
        if self.done || data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let ev: EventWire =
            serde_json::from_str(data).map_err(|e| ConvertError::Invalid(e.to_string()))?;
        let kind = if ev.kind.is_empty() {
            event.unwrap_or("")
        } else {
            ev.kind.as_str()
        };
        let oi = ev.output_index.unwrap_or(0);
        match kind {
            "response.created" | "response.in_progress" => {
                let (id, model) = ev.response.map(|r| (r.id, r.model)).unwrap_or_default();
                self.start(id, model, out);
            }
            "response.output_item.added" => {
                self.start(String::new(), String::new(), out);
                let Some(item) = ev.item else { return Ok(()) };
                if item.kind.as_deref() == Some("function_call") {
                    let index = self.tool_calls;
                    self.tool_calls += 1;
                    self.called = true;
                    self.item(oi).tool = Some(index);
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: item.call_id.or(item.id).unwrap_or_default(),
                        name: item.name.unwrap_or_default(),
                        signature: None,
                    });
                    if let Some(a) = item.arguments.filter(|a| !a.is_empty()) {
                        self.item(oi).deltas = true;
                        out.push(StreamEvent::ToolCallDelta {
                            index,
                            arguments: a,
                        });
                    }
                } else {
                    self.item(oi);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                self.start(String::new(), String::new(), out);
                self.item(oi).deltas = true;
                if let Some(text) = ev.delta.filter(|d| !d.is_empty()) {
                    out.push(StreamEvent::TextDelta { text });
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                self.start(String::new(), String::new(), out);
                let si = ev.summary_index;
                let it = self.item(oi);
                let new_part = it.deltas && si.is_some() && it.summary_index != si;
                it.deltas = true;
                it.summary_index = si;
                if new_part {
                    out.push(StreamEvent::ReasoningDelta {
                        text: "\n\n".into(),
                    });
                }
                if let Some(text) = ev.delta.filter(|d| !d.is_empty()) {
                    out.push(StreamEvent::ReasoningDelta { text });
                }
            }
            "response.function_call_arguments.delta" => {
                let it = self.item(oi);
                it.deltas = true;
                if let (Some(index), Some(arguments)) = (it.tool, ev.delta) {
                    out.push(StreamEvent::ToolCallDelta { index, arguments });
                }
            }
            "response.output_item.done" => {
                let Some(item) = ev.item else { return Ok(()) };
                let (deltas, tool) = {
                    let it = self.item(oi);
                    (it.deltas, it.tool)
                };
                match item.kind.as_deref() {
                    Some("function_call") => {
                        let index = match tool {
                            Some(i) => i,
                            None => {
                                // `done` without `added`: start it now.
                                let index = self.tool_calls;
                                self.tool_calls += 1;
                                self.called = true;
                                out.push(StreamEvent::ToolCallStart {
                                    index,
                                    id: item
                                        .call_id
                                        .clone()
                                        .or(item.id.clone())
                                        .unwrap_or_default(),
                                    name: item.name.clone().unwrap_or_default(),
                                    signature: None,
                                });
                                index
                            }
                        };
                        if !deltas && let Some(a) = item.arguments.filter(|a| !a.is_empty()) {
                            out.push(StreamEvent::ToolCallDelta {
                                index,
                                arguments: a,
                            });
                        }
                        out.push(StreamEvent::ToolCallEnd { index });
                    }
                    Some("reasoning") => {
                        if !deltas {
                            let text: Vec<String> = item
                                .summary
                                .unwrap_or_default()
                                .into_iter()
                                .filter_map(|s| s.text)
                                .collect();
                            if !text.is_empty() {
                                out.push(StreamEvent::ReasoningDelta {
                                    text: text.join("\n\n"),
                                });
                            }
                        }
                        let (signature, encrypted) = seal::reasoning_fields(item.encrypted_content);
                        out.push(StreamEvent::ReasoningEnd {
                            signature,
                            encrypted,
                            id: item.id,
                        });
                    }
                    Some("message") if !deltas => {
                        let texts = super::response::decode_output(vec![item]);
                        for p in texts {
                            if let crate::canonical::Part::Text { text, .. } = p {
                                out.push(StreamEvent::TextDelta { text });
                            }
                        }
                    }
                    _ => {}
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(r) = ev.response {
                    self.end(r, kind, out);
                } else {
                    self.end(ResponseWire::default(), kind, out);
                }
            }
            "error" => {
                let mut info = ErrorInfo::new(
                    ErrorKind::Api,
                    ev.message.unwrap_or_else(|| "upstream error".into()),
                );
                info.code = ev.code;
                info.param = ev.param;
                out.push(StreamEvent::Error { error: info });
                self.done = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        self.start(String::new(), String::new(), out);
        out.push(StreamEvent::Stop {
            reason: if self.called {
                StopReason::ToolUse
            } else {
                StopReason::EndTurn
            },
        });
    }
}

// ---- Encoder -------------------------------------------------------------------------------

#[derive(Serialize)]
struct Ev<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct ResponseEv<'a> {
    response: ResponseObject<'a>,
}

#[derive(Serialize)]
struct ItemEv<'a> {
    output_index: usize,
    item: &'a OutputItem,
}

#[derive(Serialize)]
struct ContentPartEv<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    part: &'a OutputText,
}

#[derive(Serialize)]
struct TextEv<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct SummaryPartEv<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    part: &'a SummaryText,
}

#[derive(Serialize)]
struct SummaryTextEv<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct ArgsEv<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
}

/// The text or reasoning item being streamed.
enum Open {
    None,
    Text {
        output_index: usize,
        item_id: String,
        text: String,
    },
    Reasoning {
        output_index: usize,
        item_id: String,
        text: String,
    },
}

struct OpenCall {
    tool_index: u32,
    output_index: usize,
    item_id: String,
    call_id: String,
    name: String,
    arguments: String,
}

/// Canonical events → Responses SSE (`event: <type>` + `data: {…}`): `response.created`,
/// `response.in_progress`, per item `output_item.added` … `output_item.done` with the content
/// events the SDK defines, then `response.completed` (or `.incomplete` / `.failed`) carrying the
/// whole response with its id, output and usage. `sequence_number` counts from 0.
pub struct Encoder {
    id: String,
    model: String,
    created: i64,
    seq: u64,
    started: bool,
    finished: bool,
    /// One slot per output index, filled when the item is done.
    output: Vec<Option<OutputItem>>,
    open: Open,
    calls: Vec<OpenCall>,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    upstream_id: bool,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("openai_responses::Encoder")
            .field("id", &self.id)
            .field("seq", &self.seq)
            .finish()
    }
}

impl Encoder {
    pub fn new(opts: &ResponseOptions) -> Self {
        let given = opts.id.as_deref().filter(|s| !s.is_empty());
        Self {
            id: given.map(|s| response_id(Some(s), "")).unwrap_or_default(),
            model: opts.model.clone(),
            created: opts.created,
            seq: 0,
            started: false,
            finished: false,
            output: Vec::new(),
            open: Open::None,
            calls: Vec::new(),
            usage: None,
            stop: None,
            upstream_id: given.is_none(),
        }
    }

    fn emit<T: Serialize>(&mut self, out: &mut Vec<u8>, kind: &str, body: T) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        let ev = Ev {
            kind,
            sequence_number: self.seq,
            body,
        };
        if serde_json::to_writer(&mut *out, &ev).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b"\n\n");
        self.seq += 1;
    }

    fn emit_response(
        &mut self,
        out: &mut Vec<u8>,
        kind: &str,
        status: &str,
        error: Option<&ResponseError>,
        incomplete: Option<&IncompleteDetails>,
    ) {
        let output: Vec<OutputItem> = if status == "in_progress" {
            Vec::new()
        } else {
            self.output.iter().flatten().cloned().collect()
        };
        let id = std::mem::take(&mut self.id);
        let model = std::mem::take(&mut self.model);
        let usage = if status == "in_progress" {
            None
        } else {
            self.usage.as_ref().map(usage_to)
        };
        let obj = ResponseObject {
            id: &id,
            object: "response",
            created_at: self.created,
            status,
            model: &model,
            output: &output,
            parallel_tool_calls: true,
            tool_choice: "auto",
            tools: [],
            error,
            incomplete_details: incomplete,
            usage,
        };
        self.emit(out, kind, ResponseEv { response: obj });
        self.id = id;
        self.model = model;
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        if self.id.is_empty() {
            self.id = "resp_gateway".into();
        }
        self.emit_response(out, "response.created", "in_progress", None, None);
        self.emit_response(out, "response.in_progress", "in_progress", None, None);
    }

    fn reserve(&mut self) -> usize {
        self.output.push(None);
        self.output.len() - 1
    }

    fn close_open(&mut self, out: &mut Vec<u8>) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Text {
                output_index,
                item_id,
                text,
            } => {
                self.emit(
                    out,
                    "response.output_text.done",
                    TextEv {
                        item_id: &item_id,
                        output_index,
                        content_index: 0,
                        delta: None,
                        text: Some(&text),
                        logprobs: [],
                    },
                );
                let part = OutputText::new(text);
                self.emit(
                    out,
                    "response.content_part.done",
                    ContentPartEv {
                        item_id: &item_id,
                        output_index,
                        content_index: 0,
                        part: &part,
                    },
                );
                let item = OutputItem::Message {
                    id: item_id,
                    status: "completed",
                    role: "assistant",
                    content: vec![part],
                };
                self.emit(
                    out,
                    "response.output_item.done",
                    ItemEv {
                        output_index,
                        item: &item,
                    },
                );
                self.output[output_index] = Some(item);
            }
            Open::Reasoning {
                output_index,
                item_id,
                text,
            } => self.close_reasoning(out, output_index, item_id, text, None),
        }
    }

    fn close_reasoning(
        &mut self,
        out: &mut Vec<u8>,
        output_index: usize,
        item_id: String,
        text: String,
        encrypted: Option<String>,
    ) {
        let summary = if text.is_empty() {
            Vec::new()
        } else {
            self.emit(
                out,
                "response.reasoning_summary_text.done",
                SummaryTextEv {
                    item_id: &item_id,
                    output_index,
                    summary_index: 0,
                    delta: None,
                    text: Some(&text),
                },
            );
            let part = SummaryText::new(text);
            self.emit(
                out,
                "response.reasoning_summary_part.done",
                SummaryPartEv {
                    item_id: &item_id,
                    output_index,
                    summary_index: 0,
                    part: &part,
                },
            );
            vec![part]
        };
        let item = OutputItem::Reasoning {
            id: item_id,
            summary,
            encrypted_content: encrypted,
        };
        self.emit(
            out,
            "response.output_item.done",
            ItemEv {
                output_index,
                item: &item,
            },
        );
        self.output[output_index] = Some(item);
    }

    fn open_reasoning(&mut self, out: &mut Vec<u8>, id: Option<&str>) -> (usize, String) {
        let output_index = self.reserve();
        let item_id = id
            .map(str::to_owned)
            .unwrap_or_else(|| item_id("rs", &self.id, output_index));
        let item = OutputItem::Reasoning {
            id: item_id.clone(),
            summary: Vec::new(),
            encrypted_content: None,
        };
        self.emit(
            out,
            "response.output_item.added",
            ItemEv {
                output_index,
                item: &item,
            },
        );
        (output_index, item_id)
    }

    fn close_call(&mut self, out: &mut Vec<u8>, pos: usize) {
        let c = self.calls.remove(pos);
        self.emit(
            out,
            "response.function_call_arguments.done",
            ArgsEv {
                item_id: &c.item_id,
                output_index: c.output_index,
                delta: None,
                name: Some(&c.name),
                arguments: Some(&c.arguments),
            },
        );
        let item = OutputItem::FunctionCall {
            id: c.item_id,
            status: "completed",
            call_id: c.call_id,
            name: c.name,
            arguments: c.arguments,
        };
        self.emit(
            out,
            "response.output_item.done",
            ItemEv {
                output_index: c.output_index,
                item: &item,
            },
        );
        self.output[c.output_index] = Some(item);
    }

    fn fail(&mut self, out: &mut Vec<u8>, e: &ErrorInfo) {
        self.ensure_started(out);
        let err = ResponseError {
            code: Some(e.code.clone().unwrap_or_else(|| {
                match e.kind {
                    ErrorKind::RateLimit => "rate_limit_exceeded",
                    ErrorKind::InvalidRequest => "invalid_request_error",
                    _ => "server_error",
                }
                .to_owned()
            })),
            message: e.message.clone(),
        };
        self.emit_response(out, "response.failed", "failed", Some(&err), None);
        self.finished = true;
    }
}

impl StreamEncoder for Encoder {
    fn push(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        if let StreamEvent::Start { id, model } = event {
            if self.upstream_id && !id.is_empty() && !self.started {
                self.id = response_id(None, id);
            }
            if self.model.is_empty() {
                self.model = model.clone();
            }
            self.ensure_started(out);
            return;
        }
        self.ensure_started(out);
        match event {
            StreamEvent::Start { .. } | StreamEvent::TextSignature { .. } => {}
            StreamEvent::TextDelta { text } => {
                if !matches!(self.open, Open::Text { .. }) {
                    self.close_open(out);
                    let output_index = self.reserve();
                    let item_id = item_id("msg", &self.id, output_index);
                    let item = OutputItem::Message {
                        id: item_id.clone(),
                        status: "in_progress",
                        role: "assistant",
                        content: Vec::new(),
                    };
                    self.emit(
                        out,
                        "response.output_item.added",
                        ItemEv {
                            output_index,
                            item: &item,
                        },
                    );
                    let part = OutputText::new(String::new());
                    self.emit(
                        out,
                        "response.content_part.added",
                        ContentPartEv {
                            item_id: &item_id,
                            output_index,
                            content_index: 0,
                            part: &part,
                        },
                    );
                    self.open = Open::Text {
                        output_index,
                        item_id,
                        text: String::new(),
                    };
                }
                let Open::Text {
                    output_index,
                    item_id,
                    text: buf,
                } = std::mem::replace(&mut self.open, Open::None)
                else {
                    return;
                };
                self.emit(
                    out,
                    "response.output_text.delta",
                    TextEv {
                        item_id: &item_id,
                        output_index,
                        content_index: 0,
                        delta: Some(text),
                        text: None,
                        logprobs: [],
                    },
                );
                let mut buf = buf;
                buf.push_str(text);
                self.open = Open::Text {
                    output_index,
                    item_id,
                    text: buf,
                };
            }
            StreamEvent::ReasoningDelta { text } => {
                if !matches!(self.open, Open::Reasoning { .. }) {
                    self.close_open(out);
                    let (output_index, item_id) = self.open_reasoning(out, None);
                    let part = SummaryText::new(String::new());
                    self.emit(
                        out,
                        "response.reasoning_summary_part.added",
                        SummaryPartEv {
                            item_id: &item_id,
                            output_index,
                            summary_index: 0,
                            part: &part,
                        },
                    );
                    self.open = Open::Reasoning {
                        output_index,
                        item_id,
                        text: String::new(),
                    };
                }
                let Open::Reasoning {
                    output_index,
                    item_id,
                    text: buf,
                } = std::mem::replace(&mut self.open, Open::None)
                else {
                    return;
                };
                self.emit(
                    out,
                    "response.reasoning_summary_text.delta",
                    SummaryTextEv {
                        item_id: &item_id,
                        output_index,
                        summary_index: 0,
                        delta: Some(text),
                        text: None,
                    },
                );
                let mut buf = buf;
                buf.push_str(text);
                self.open = Open::Reasoning {
                    output_index,
                    item_id,
                    text: buf,
                };
            }
            StreamEvent::ReasoningEnd {
                encrypted,
                id,
                signature,
            } => {
                let encrypted = seal::client_encrypted(signature.as_ref(), encrypted.as_ref());
                match std::mem::replace(&mut self.open, Open::None) {
                    Open::Reasoning {
                        output_index,
                        item_id,
                        text,
                    } => self.close_reasoning(out, output_index, item_id, text, encrypted),
                    other => {
                        self.open = other;
                        if encrypted.is_some() {
                            self.close_open(out);
                            let (output_index, item_id) = self.open_reasoning(out, id.as_deref());
                            self.close_reasoning(
                                out,
                                output_index,
                                item_id,
                                String::new(),
                                encrypted,
                            );
                        }
                    }
                }
            }
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => {
                self.close_open(out);
                if let Some(s) = signature
                    .as_ref()
                    .filter(|s| s.dialect != Dialect::OpenaiResponses)
                {
                    // Carry the call's signature in a reasoning item just before it.
                    let (output_index, item_id) = self.open_reasoning(out, None);
                    self.close_reasoning(
                        out,
                        output_index,
                        item_id,
                        String::new(),
                        Some(seal::seal(s)),
                    );
                }
                let output_index = self.reserve();
                let item_id = item_id("fc", &self.id, output_index);
                let item = OutputItem::FunctionCall {
                    id: item_id.clone(),
                    status: "in_progress",
                    call_id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                };
                self.emit(
                    out,
                    "response.output_item.added",
                    ItemEv {
                        output_index,
                        item: &item,
                    },
                );
                self.calls.push(OpenCall {
                    tool_index: *index,
                    output_index,
                    item_id,
                    call_id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                let Some(pos) = self.calls.iter().position(|c| c.tool_index == *index) else {
                    return;
                };
                let c = self.calls.remove(pos);
                self.emit(
                    out,
                    "response.function_call_arguments.delta",
                    ArgsEv {
                        item_id: &c.item_id,
                        output_index: c.output_index,
                        delta: Some(arguments),
                        name: None,
                        arguments: None,
                    },
                );
                let mut c = c;
                c.arguments.push_str(arguments);
                self.calls.insert(pos, c);
            }
            StreamEvent::ToolCallEnd { index } => {
                if let Some(pos) = self.calls.iter().position(|c| c.tool_index == *index) {
                    self.close_call(out, pos);
                }
            }
            StreamEvent::Usage { usage } => match &mut self.usage {
                Some(u) => u.merge(usage),
                None => self.usage = Some(*usage),
            },
            StreamEvent::Stop { reason } => self.stop = Some(reason.clone()),
            StreamEvent::Error { error } => self.fail(out, error),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.ensure_started(out);
        self.close_open(out);
        while !self.calls.is_empty() {
            self.close_call(out, 0);
        }
        self.finished = true;
        let reason = self.stop.take().unwrap_or(StopReason::EndTurn);
        let (status, incomplete) = stop_to(&reason);
        let kind = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit_response(out, kind, status, None, incomplete.as_ref());
    }
}
