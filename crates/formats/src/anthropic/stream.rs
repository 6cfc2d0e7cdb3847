//! Anthropic Messages streams ↔ canonical `StreamEvent`s.
//!
//! Decoder: `message_start` → `Start` (its usage is kept); `content_block_start` of `text`,
//! `thinking`, `redacted_thinking` (→ `ReasoningEnd` with the encrypted data) or `tool_use` (→
//! `ToolCallStart` with the call's ordinal); `content_block_delta` `text_delta`,
//! `thinking_delta`, `signature_delta` (kept for the block's `ReasoningEnd`) and
//! `input_json_delta` (→ `ToolCallDelta`); `content_block_stop` → `ReasoningEnd` / `ToolCallEnd`;
//! `message_delta` gives the stop reason and cumulative usage; `message_stop` → `Usage`, `Stop`.
//! `ping` is ignored, `error` → `Error`. Server-tool blocks are skipped.
//!
//! Encoder: `message_start` (usage known so far: input tokens, cache reads/writes, output 0),
//! then blocks with increasing indices: text and thinking blocks open on their first delta and
//! close when anything else comes; a thinking block gets a `signature_delta` before its stop
//! (Anthropic's signature, or another dialect's sealed as in `seal`; a Gemini tool call's
//! signature goes on an empty thinking block just before its `tool_use`); a tool call opens a
//! `tool_use` block with `input: {}` followed by `input_json_delta` fragments. Blocks never
//! interleave: a tool call that starts while another is open is buffered and written (start, its
//! arguments so far, …) when the open one ends.
//! `Stop` → `message_delta` (`stop_reason`, `stop_sequence: null`, cumulative usage) and
//! `message_stop`; `Error` → an `error` event. A stream that ends without `Stop` gets an `error`
//! event (`api_error`), never a fake `message_stop`.

use serde::Serialize;
use serde_json::value::RawValue;

use super::error::{encode_error, stream_error};
use super::response::{OutUsage, message_id, stop_from_wire, stop_to_wire};
use super::seal::foreign_of;
use super::types::{AnthEvent, AnthUsage};
use crate::canonical::{
    ConvertError, ErrorInfo, ErrorKind, ResponseOptions, Signature, StopReason, StreamDecoder,
    StreamEncoder, StreamEvent, Usage,
};
use crate::dialect::Dialect;
use std::borrow::Cow;

#[derive(Debug)]
enum Block {
    Text,
    Thinking { signature: Option<String> },
    Tool { ordinal: u32 },
    Skipped,
}

/// Upstream Anthropic stream → canonical events.
#[derive(Debug, Default)]
pub struct Decoder {
    started: bool,
    /// Open blocks by Anthropic index.
    blocks: Vec<(u32, Block)>,
    next_tool: u32,
    usage: Option<AnthUsage>,
    stop: Option<StopReason>,
    done: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn close_block(b: Block, out: &mut Vec<StreamEvent>) {
        match b {
            Block::Thinking { signature } => out.push(StreamEvent::ReasoningEnd {
                signature: signature.map(|value| Signature {
                    dialect: Dialect::Anthropic,
                    value,
                }),
                encrypted: None,
                id: None,
            }),
            Block::Tool { ordinal } => out.push(StreamEvent::ToolCallEnd { index: ordinal }),
            Block::Text | Block::Skipped => {}
        }
    }

    fn ensure_started(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            });
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        self.ensure_started(out);
        for (_, b) in std::mem::take(&mut self.blocks) {
            Self::close_block(b, out);
        }
        if let Some(u) = self.usage.take() {
            out.push(StreamEvent::Usage {
                usage: u.canonical(),
            });
        }
        let reason = self
            .stop
            .take()
            .unwrap_or_else(|| StopReason::Other("incomplete".into()));
        out.push(StreamEvent::Stop { reason });
    }

    fn merge_usage(&mut self, u: &AnthUsage) {
        self.usage.get_or_insert_with(AnthUsage::default).merge(u);
    }
}

impl StreamDecoder for Decoder {
    fn push(
        &mut self,
        _event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ConvertError> {
        if self.done || data.trim().is_empty() {
            return Ok(());
        }
        let ev: AnthEvent =
            serde_json::from_str(data).map_err(|e| ConvertError::Invalid(e.to_string()))?;
        match ev.kind.as_str() {
            "message_start" => {
                if let Some(m) = ev.message {
                    if let Some(u) = &m.usage {
                        self.merge_usage(u);
                    }
                    if !self.started {
                        self.started = true;
                        out.push(StreamEvent::Start {
                            id: m.id,
                            model: m.model,
                        });
                    }
                }
            }
            "content_block_start" => {
                self.ensure_started(out);
                let index = ev.index.unwrap_or(0);
                let Some(cb) = ev.content_block else {
                    return Ok(());
                };
                let block = match cb.kind.as_str() {
                    "text" => {
                        if let Some(t) = cb.text.filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::TextDelta { text: t });
                        }
                        Block::Text
                    }
                    "thinking" => {
                        if let Some(t) = cb.thinking.filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::ReasoningDelta { text: t });
                        }
                        Block::Thinking {
                            signature: cb.signature.filter(|s| !s.is_empty()),
                        }
                    }
                    "redacted_thinking" => {
                        out.push(StreamEvent::ReasoningEnd {
                            signature: None,
                            encrypted: cb.data.map(|value| Signature {
                                dialect: Dialect::Anthropic,
                                value,
                            }),
                            id: None,
                        });
                        Block::Skipped
                    }
                    "tool_use" => {
                        let ordinal = self.next_tool;
                        self.next_tool += 1;
                        out.push(StreamEvent::ToolCallStart {
                            index: ordinal,
                            id: cb.id.unwrap_or_default(),
                            name: cb.name.unwrap_or_default(),
                            signature: None,
                        });
                        Block::Tool { ordinal }
                    }
                    _ => Block::Skipped,
                };
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let index = ev.index.unwrap_or(0);
                let Some(d) = ev.delta else {
                    return Ok(());
                };
                let Some((_, block)) = self.blocks.iter_mut().find(|(i, _)| *i == index) else {
                    return Ok(());
                };
                match (d.kind.as_deref(), block) {
                    (Some("text_delta"), Block::Text) => {
                        if let Some(t) = d.text.filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::TextDelta { text: t });
                        }
                    }
                    (Some("thinking_delta"), Block::Thinking { .. }) => {
                        if let Some(t) = d.thinking.filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::ReasoningDelta { text: t });
                        }
                    }
                    (Some("signature_delta"), Block::Thinking { signature }) => {
                        if let Some(s) = d.signature {
                            signature.get_or_insert_with(String::new).push_str(&s);
                        }
                    }
                    (Some("input_json_delta"), Block::Tool { ordinal }) => {
                        if let Some(a) = d.partial_json.filter(|a| !a.is_empty()) {
                            out.push(StreamEvent::ToolCallDelta {
                                index: *ordinal,
                                arguments: a,
                            });
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = ev.index.unwrap_or(0);
                if let Some(pos) = self.blocks.iter().position(|(i, _)| *i == index) {
                    let (_, b) = self.blocks.remove(pos);
                    Self::close_block(b, out);
                }
            }
            "message_delta" => {
                if let Some(r) = ev.delta.and_then(|d| d.stop_reason) {
                    self.stop = Some(stop_from_wire(&r));
                }
                if let Some(u) = &ev.usage {
                    self.merge_usage(u);
                }
            }
            "message_stop" => self.end(out),
            "error" => {
                let error = stream_error(data);
                out.push(StreamEvent::Error { error });
                self.done = true;
            }
            _ => {} // ping and future events
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.end(out);
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Open {
    Text,
    Thinking,
}

#[derive(Debug)]
struct ToolState {
    index: u32,
    id: String,
    name: String,
    /// A foreign (Gemini) signature of the call, sealed, written on an empty thinking block
    /// just before its `tool_use` block.
    sealed: Option<String>,
    /// Arguments received while another tool block was open.
    pending: String,
    /// Its block, once written.
    block: Option<u32>,
    ended: bool,
    closed: bool,
}

/// Canonical events → Anthropic client stream bytes.
#[derive(Debug)]
pub struct Encoder {
    id: Option<String>,
    model: String,
    started: bool,
    next_block: u32,
    /// The open text or thinking block.
    open: Option<(u32, Open)>,
    tools: Vec<ToolState>,
    /// Position in `tools` of the tool whose block is open.
    active_tool: Option<usize>,
    usage: Usage,
    done: bool,
    finished: bool,
}

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: StartMessage<'a>,
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: OutUsage,
}

#[derive(Serialize)]
struct BlockStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    content_block: StartBlock<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock<'a> {
    Text {
        text: &'static str,
    },
    Thinking {
        thinking: &'static str,
        signature: &'static str,
    },
    RedactedThinking {
        data: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a RawValue,
    },
}

#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: DeltaBody<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::enum_variant_names)] // the wire names
enum DeltaBody<'a> {
    TextDelta { text: &'a str },
    ThinkingDelta { thinking: &'a str },
    SignatureDelta { signature: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct BlockStop {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
}

#[derive(Serialize)]
struct MessageDelta {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: MessageDeltaBody,
    usage: OutUsage,
}

#[derive(Serialize)]
struct MessageDeltaBody {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

fn write_event(out: &mut Vec<u8>, name: &str, body: &impl Serialize) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing these plain structs cannot fail.
    let _ = serde_json::to_writer(&mut *out, body);
    out.extend_from_slice(b"\n\n");
}

fn is_anthropic(s: &Option<Signature>) -> Option<&str> {
    s.as_ref()
        .filter(|s| s.dialect == Dialect::Anthropic)
        .map(|s| s.value.as_str())
}

impl Encoder {
    pub fn new(opts: &ResponseOptions) -> Self {
        Self {
            id: opts.id.clone(),
            model: opts.model.clone(),
            started: false,
            next_block: 0,
            open: None,
            tools: Vec::new(),
            active_tool: None,
            usage: Usage::default(),
            done: false,
            finished: false,
        }
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let model = if self.model.is_empty() {
            model
        } else {
            &self.model
        };
        let mut usage = OutUsage::from(&self.usage);
        usage.output_tokens = 0;
        write_event(
            out,
            "message_start",
            &MessageStart {
                kind: "message_start",
                message: StartMessage {
                    id: message_id(self.id.as_deref(), id),
                    kind: "message",
                    role: "assistant",
                    model,
                    content: [],
                    stop_reason: None,
                    stop_sequence: None,
                    usage,
                },
            },
        );
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.start("", "", out);
        }
    }

    fn new_block(&mut self, block: StartBlock<'_>, out: &mut Vec<u8>) -> u32 {
        let index = self.next_block;
        self.next_block += 1;
        write_event(
            out,
            "content_block_start",
            &BlockStart {
                kind: "content_block_start",
                index,
                content_block: block,
            },
        );
        index
    }

    fn delta(index: u32, delta: DeltaBody<'_>, out: &mut Vec<u8>) {
        write_event(
            out,
            "content_block_delta",
            &BlockDelta {
                kind: "content_block_delta",
                index,
                delta,
            },
        );
    }

    fn stop_block(index: u32, out: &mut Vec<u8>) {
        write_event(
            out,
            "content_block_stop",
            &BlockStop {
                kind: "content_block_stop",
                index,
            },
        );
    }

    fn close_open(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            Self::stop_block(index, out);
        }
    }

    /// Writes a tool's block start and its buffered arguments; closes it if it already ended.
    fn open_tool(&mut self, pos: usize, out: &mut Vec<u8>) {
        let empty = RawValue::from_string("{}".to_owned()).ok();
        let Some(input) = empty.as_deref() else {
            return;
        };
        let (id, name, sealed) = match self.tools.get_mut(pos) {
            Some(t) => (t.id.clone(), t.name.clone(), t.sealed.take()),
            None => return,
        };
        if let Some(sealed) = sealed {
            let index = self.new_block(
                StartBlock::Thinking {
                    thinking: "",
                    signature: "",
                },
                out,
            );
            Self::delta(index, DeltaBody::SignatureDelta { signature: &sealed }, out);
            Self::stop_block(index, out);
        }
        let index = self.new_block(
            StartBlock::ToolUse {
                id: &super::request::tool_id(&id),
                name: &name,
                input,
            },
            out,
        );
        let Some(t) = self.tools.get_mut(pos) else {
            return;
        };
        t.block = Some(index);
        if !t.pending.is_empty() {
            let pending = std::mem::take(&mut t.pending);
            Self::delta(
                index,
                DeltaBody::InputJsonDelta {
                    partial_json: &pending,
                },
                out,
            );
        }
        if t.ended {
            t.closed = true;
            Self::stop_block(index, out);
        } else {
            self.active_tool = Some(pos);
        }
    }

    /// Closes the open tool block and writes buffered tools until one is left open (or all,
    /// when `all`).
    fn advance_tools(&mut self, all: bool, out: &mut Vec<u8>) {
        if let Some(pos) = self.active_tool.take()
            && let Some(t) = self.tools.get_mut(pos)
            && let Some(index) = t.block
            && !t.closed
        {
            t.closed = true;
            Self::stop_block(index, out);
        }
        while self.active_tool.is_none() {
            let Some(pos) = self.tools.iter().position(|t| t.block.is_none()) else {
                break;
            };
            if all && let Some(t) = self.tools.get_mut(pos) {
                t.ended = true;
            }
            self.open_tool(pos, out);
        }
    }

    fn close_all(&mut self, out: &mut Vec<u8>) {
        self.close_open(out);
        self.advance_tools(true, out);
    }

    fn open_kind(&mut self, kind: Open, out: &mut Vec<u8>) -> u32 {
        if let Some((index, k)) = self.open
            && k == kind
        {
            return index;
        }
        self.close_all(out);
        let index = match kind {
            Open::Text => self.new_block(StartBlock::Text { text: "" }, out),
            Open::Thinking => self.new_block(
                StartBlock::Thinking {
                    thinking: "",
                    signature: "",
                },
                out,
            ),
        };
        self.open = Some((index, kind));
        index
    }
}

impl StreamEncoder for Encoder {
    fn push(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done || self.finished {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => self.start(id, model, out),
            StreamEvent::TextDelta { text } => {
                self.ensure_started(out);
                if text.is_empty() {
                    return;
                }
                let index = self.open_kind(Open::Text, out);
                Self::delta(index, DeltaBody::TextDelta { text }, out);
            }
            StreamEvent::ReasoningDelta { text } => {
                self.ensure_started(out);
                if text.is_empty() {
                    return;
                }
                let index = self.open_kind(Open::Thinking, out);
                Self::delta(index, DeltaBody::ThinkingDelta { thinking: text }, out);
            }
            StreamEvent::ReasoningEnd {
                signature,
                encrypted,
                ..
            } => {
                self.ensure_started(out);
                let sig: Option<Cow<str>> = is_anthropic(signature)
                    .map(Cow::Borrowed)
                    .or_else(|| foreign_of(signature, encrypted).map(Cow::Owned));
                match self.open {
                    Some((index, Open::Thinking)) => {
                        if let Some(s) = &sig {
                            Self::delta(index, DeltaBody::SignatureDelta { signature: s }, out);
                        }
                        self.close_open(out);
                    }
                    _ => {
                        if let Some(data) = is_anthropic(encrypted) {
                            self.close_all(out);
                            let index = self.new_block(StartBlock::RedactedThinking { data }, out);
                            Self::stop_block(index, out);
                        } else if let Some(s) = &sig {
                            let index = self.open_kind(Open::Thinking, out);
                            Self::delta(index, DeltaBody::SignatureDelta { signature: s }, out);
                            self.close_open(out);
                        }
                    }
                }
            }
            StreamEvent::TextSignature { .. } => {}
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => {
                self.ensure_started(out);
                if self.tools.iter().any(|t| t.index == *index) {
                    return;
                }
                self.close_open(out);
                self.tools.push(ToolState {
                    index: *index,
                    id: id.clone(),
                    name: name.clone(),
                    sealed: foreign_of(signature, &None),
                    pending: String::new(),
                    block: None,
                    ended: false,
                    closed: false,
                });
                if self.active_tool.is_none() {
                    let pos = self.tools.len() - 1;
                    self.open_tool(pos, out);
                }
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if arguments.is_empty() {
                    return;
                }
                let Some(pos) = self.tools.iter().position(|t| t.index == *index) else {
                    return;
                };
                let Some(t) = self.tools.get_mut(pos) else {
                    return;
                };
                match t.block {
                    Some(block) if !t.closed => Self::delta(
                        block,
                        DeltaBody::InputJsonDelta {
                            partial_json: arguments,
                        },
                        out,
                    ),
                    Some(_) => {} // after its end: nothing can carry it
                    None => t.pending.push_str(arguments),
                }
            }
            StreamEvent::ToolCallEnd { index } => {
                let Some(pos) = self.tools.iter().position(|t| t.index == *index) else {
                    return;
                };
                if self.active_tool == Some(pos) {
                    self.advance_tools(false, out);
                } else if let Some(t) = self.tools.get_mut(pos) {
                    t.ended = true;
                }
            }
            StreamEvent::Usage { usage } => self.usage.merge(usage),
            StreamEvent::Stop { reason } => {
                self.ensure_started(out);
                self.close_all(out);
                self.done = true;
                write_event(
                    out,
                    "message_delta",
                    &MessageDelta {
                        kind: "message_delta",
                        delta: MessageDeltaBody {
                            stop_reason: stop_to_wire(reason),
                            stop_sequence: None,
                        },
                        usage: OutUsage::from(&self.usage),
                    },
                );
                out.extend_from_slice(
                    b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                );
            }
            StreamEvent::Error { error } => {
                self.done = true;
                write_error(error, out);
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if !self.done {
            self.done = true;
            self.ensure_started(out);
            self.close_all(out);
            write_error(
                &ErrorInfo::new(
                    ErrorKind::Api,
                    "the upstream stream ended before the response was complete",
                ),
                out,
            );
        }
    }
}

fn write_error(error: &ErrorInfo, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: error\ndata: ");
    out.extend_from_slice(&encode_error(error));
    out.extend_from_slice(b"\n\n");
}
