//! Chat Completions streams: `chat.completion.chunk` events ↔ canonical `StreamEvent`s.
//!
//! Decoder: the first chunk gives `Start`; `delta.reasoning_content` (or `reasoning`),
//! `delta.content` and `delta.tool_calls` give deltas. A tool call's chat `index` is mapped to
//! its canonical ordinal and its first delta (with `id`/`name`) gives `ToolCallStart`; a new `id`
//! under a known `index` (some compatible servers send every call at index 0) starts a new call.
//! `finish_reason` closes open tool calls and is held until usage (the usage-only chunk of
//! `stream_options.include_usage`) and `[DONE]` have come, so that `Usage` precedes `Stop`.
//!
//! Encoder: first chunk `delta: {"role":"assistant","content":""}`, then one chunk per delta,
//! tool calls as `tool_calls: [{index, id, type: "function", function: {name, arguments: ""}}]`
//! followed by `function.arguments` fragments, a last choice chunk with `finish_reason`, the
//! usage-only chunk `{"choices":[],"usage":…}` when the client asked for it, then `data: [DONE]`.

use serde::Serialize;

use super::error::decode_error;
use super::response::{OutUsage, stop_from_wire, stop_to_wire};
use super::types::{ChatChunk, ChatResponseMessage};
use crate::canonical::{
    ConvertError, ErrorInfo, ErrorKind, ResponseOptions, StopReason, StreamDecoder, StreamEncoder,
    StreamEvent, Usage,
};

#[derive(Debug)]
struct Call {
    chat_index: u32,
    ordinal: u32,
    id: String,
    open: bool,
}

/// Upstream chat stream → canonical events.
#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    /// Open tool calls, in order of appearance.
    calls: Vec<Call>,
    next_call: u32,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    done: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn close_calls(&mut self, out: &mut Vec<StreamEvent>) {
        for c in &mut self.calls {
            if c.open {
                c.open = false;
                out.push(StreamEvent::ToolCallEnd { index: c.ordinal });
            }
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            });
        }
        self.close_calls(out);
        if let Some(usage) = self.usage.take() {
            out.push(StreamEvent::Usage { usage });
        }
        let reason = self
            .stop
            .take()
            .unwrap_or_else(|| StopReason::Other("incomplete".into()));
        out.push(StreamEvent::Stop { reason });
    }

    fn delta(&mut self, d: ChatResponseMessage, out: &mut Vec<StreamEvent>) {
        if let Some(r) = d
            .reasoning_content
            .or(d.reasoning)
            .filter(|s| !s.is_empty())
        {
            out.push(StreamEvent::ReasoningDelta { text: r });
        }
        if let Some(t) = d.content.filter(|s| !s.is_empty()) {
            out.push(StreamEvent::TextDelta { text: t });
        }
        if let Some(t) = d.refusal.filter(|s| !s.is_empty()) {
            out.push(StreamEvent::TextDelta { text: t });
        }
        let legacy = d.function_call.map(|f| super::types::ChatToolCall {
            index: Some(0),
            id: None,
            kind: None,
            function: Some(f),
        });
        for (pos, tc) in d.tool_calls.into_iter().flatten().chain(legacy).enumerate() {
            let chat_index = tc.index.unwrap_or(pos as u32);
            let (name, args) = match tc.function {
                Some(f) => (f.name, f.arguments),
                None => (None, None),
            };
            let id = tc.id.filter(|i| !i.is_empty());
            // The latest call with this chat index; a new id under a known index (some
            // compatible servers send every call at index 0) starts a new call.
            let known = self
                .calls
                .iter()
                .rev()
                .find(|c| c.chat_index == chat_index)
                .filter(|c| id.as_ref().is_none_or(|i| *i == c.id))
                .map(|c| c.ordinal);
            let ordinal = match known {
                Some(ordinal) => ordinal,
                None => {
                    if let Some(prev) = self
                        .calls
                        .iter_mut()
                        .rev()
                        .find(|c| c.chat_index == chat_index && c.open)
                    {
                        prev.open = false;
                        out.push(StreamEvent::ToolCallEnd {
                            index: prev.ordinal,
                        });
                    }
                    let ordinal = self.next_call;
                    self.next_call += 1;
                    let id = id.unwrap_or_else(|| format!("call_{ordinal}"));
                    out.push(StreamEvent::ToolCallStart {
                        index: ordinal,
                        id: id.clone(),
                        name: name.unwrap_or_default(),
                        signature: None,
                    });
                    self.calls.push(Call {
                        chat_index,
                        ordinal,
                        id,
                        open: true,
                    });
                    ordinal
                }
            };
            if let Some(a) = args.filter(|a| !a.is_empty()) {
                out.push(StreamEvent::ToolCallDelta {
                    index: ordinal,
                    arguments: a,
                });
            }
        }
    }
}

impl StreamDecoder for Decoder {
    fn push(
        &mut self,
        _event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ConvertError> {
        if self.done {
            return Ok(());
        }
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.end(out);
            return Ok(());
        }
        let chunk: ChatChunk =
            serde_json::from_str(data).map_err(|e| ConvertError::Invalid(e.to_string()))?;
        if chunk.error.is_some() {
            let error = decode_error(500, data.as_bytes())
                .unwrap_or_else(|| ErrorInfo::new(ErrorKind::Api, "upstream stream error"));
            out.push(StreamEvent::Error { error });
            self.done = true;
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.id,
                model: chunk.model,
            });
        }
        for choice in chunk.choices {
            if choice.index != 0 {
                continue;
            }
            if let Some(d) = choice.delta {
                self.delta(d, out);
            }
            if let Some(f) = choice.finish_reason.filter(|s| !s.is_empty()) {
                self.close_calls(out);
                self.stop = Some(match stop_from_wire(&f) {
                    // Some compatible servers say `stop` after tool calls.
                    StopReason::EndTurn if !self.calls.is_empty() => StopReason::ToolUse,
                    r => r,
                });
            }
        }
        if let Some(u) = chunk.usage {
            let u = u.to_canonical();
            self.usage.get_or_insert_with(Usage::default).merge(&u);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.end(out);
    }
}

/// Canonical events → chat client stream bytes.
#[derive(Debug)]
pub struct Encoder {
    /// `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,` written once.
    prefix: Vec<u8>,
    id: Option<String>,
    model: String,
    created: i64,
    include_usage: bool,
    started: bool,
    usage: Usage,
    /// Canonical tool-call index → chat index.
    calls: Vec<(u32, u32)>,
    stopped: bool,
    finished: bool,
}

#[derive(Serialize)]
struct Head<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Delta<'a> {
    Role {
        role: &'static str,
        content: &'static str,
    },
    Content {
        content: &'a str,
    },
    Reasoning {
        reasoning_content: &'a str,
    },
    Tools {
        tool_calls: [ToolDelta<'a>; 1],
    },
    Empty {},
}

#[derive(Serialize)]
struct ToolDelta<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

impl Encoder {
    pub fn new(opts: &ResponseOptions) -> Self {
        Self {
            prefix: Vec::new(),
            id: opts.id.clone(),
            model: opts.model.clone(),
            created: opts.created,
            include_usage: opts.include_usage,
            started: false,
            usage: Usage::default(),
            calls: Vec::new(),
            stopped: false,
            finished: false,
        }
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = match &self.id {
            Some(mine) => mine.as_str(),
            None if !id.is_empty() => id,
            None => "chatcmpl-modelgate",
        };
        let model = if self.model.is_empty() {
            model
        } else {
            &self.model
        };
        let head = Head {
            id,
            object: "chat.completion.chunk",
            created: self.created,
            model,
        };
        // Serializing these plain structs cannot fail.
        let _ = serde_json::to_writer(&mut self.prefix, &head);
        self.prefix.pop(); // the closing brace: choices (and usage) follow
        self.prefix.push(b',');
        self.chunk(
            Delta::Role {
                role: "assistant",
                content: "",
            },
            None,
            out,
        );
    }

    fn chunk(&self, delta: Delta<'_>, finish: Option<&'static str>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(b"\"choices\":[");
        let _ = serde_json::to_writer(
            &mut *out,
            &ChoiceOut {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            },
        );
        out.extend_from_slice(b"]}\n\n");
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.start("", "", out);
        }
    }

    fn chat_index(&mut self, index: u32) -> u32 {
        match self.calls.iter().find(|c| c.0 == index) {
            Some(c) => c.1,
            None => {
                let i = self.calls.len() as u32;
                self.calls.push((index, i));
                i
            }
        }
    }
}

impl StreamEncoder for Encoder {
    fn push(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.finished || self.stopped {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => self.start(id, model, out),
            StreamEvent::TextDelta { text } => {
                self.ensure_started(out);
                if !text.is_empty() {
                    self.chunk(Delta::Content { content: text }, None, out);
                }
            }
            StreamEvent::ReasoningDelta { text } => {
                self.ensure_started(out);
                if !text.is_empty() {
                    self.chunk(
                        Delta::Reasoning {
                            reasoning_content: text,
                        },
                        None,
                        out,
                    );
                }
            }
            StreamEvent::TextSignature { .. } | StreamEvent::ReasoningEnd { .. } => {}
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => {
                self.ensure_started(out);
                let i = self.chat_index(*index);
                let id = super::seal::seal_id(id, signature);
                self.chunk(
                    Delta::Tools {
                        tool_calls: [ToolDelta {
                            index: i,
                            id: Some(&id),
                            kind: Some("function"),
                            function: FunctionDelta {
                                name: Some(name),
                                arguments: "",
                            },
                        }],
                    },
                    None,
                    out,
                );
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.ensure_started(out);
                if arguments.is_empty() {
                    return;
                }
                let i = self.chat_index(*index);
                self.chunk(
                    Delta::Tools {
                        tool_calls: [ToolDelta {
                            index: i,
                            id: None,
                            kind: None,
                            function: FunctionDelta {
                                name: None,
                                arguments,
                            },
                        }],
                    },
                    None,
                    out,
                );
            }
            StreamEvent::ToolCallEnd { .. } => {}
            StreamEvent::Usage { usage } => self.usage.merge(usage),
            StreamEvent::Stop { reason } => {
                self.ensure_started(out);
                self.stopped = true;
                self.chunk(Delta::Empty {}, Some(stop_to_wire(reason)), out);
                if self.include_usage {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(&self.prefix);
                    out.extend_from_slice(b"\"choices\":[],\"usage\":");
                    let _ = serde_json::to_writer(&mut *out, &OutUsage::from(&self.usage));
                    out.extend_from_slice(b"}\n\n");
                }
            }
            StreamEvent::Error { error } => {
                self.stopped = true;
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&super::error::encode_error(error));
                out.extend_from_slice(b"\n\n");
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}
