//! Gemini stream state machines: upstream `alt=sse` chunks → canonical events (`Decoder`), and
//! canonical events → client chunks, as SSE or as the JSON array of plain
//! `streamGenerateContent` (`Encoder`).

use super::error::{error_body, info_from_body};
use super::request::CallIds;
use super::response::{call_part, stop_from, stop_to, usage_from, usage_to};
use super::types::{Candidate, Content, GenerateContentResponse, WirePart};
use std::borrow::Cow;

use crate::canonical::{
    ConvertError, ResponseOptions, Signature, StopReason, StreamDecoder, StreamEncoder,
    StreamEvent, Usage,
};
use crate::dialect::Dialect;

/// Upstream Gemini chunks → canonical events. Each chunk is a whole
/// `GenerateContentResponse`; text arrives in pieces, function calls whole. Usage (last one
/// wins) and the finish reason are held until the stream ends.
#[derive(Default)]
pub struct Decoder {
    started: bool,
    done: bool,
    ids: CallIds,
    tool_calls: u32,
    finish: Option<String>,
    usage: Option<Usage>,
    blocked: bool,
    /// Reasoning text was streamed and no signature closed it yet.
    reasoning_unsigned: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("gemini::Decoder")
            .field("tool_calls", &self.tool_calls)
            .finish()
    }
}

fn sig(value: Cow<'_, str>) -> Signature {
    Signature {
        dialect: Dialect::Gemini,
        value: value.into_owned(),
    }
}

impl StreamDecoder for Decoder {
    fn push(
        &mut self,
        _event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ConvertError> {
        let data = data.trim();
        if data.is_empty() || self.done {
            return Ok(());
        }
        if data.starts_with('[') {
            // A whole JSON-array stream (no `alt=sse`) or a piece of one, fed as one value.
            let chunks: Vec<GenerateContentResponse> =
                serde_json::from_str(data).map_err(|e| ConvertError::Invalid(e.to_string()))?;
            for c in chunks {
                self.chunk(c, out);
            }
            return Ok(());
        }
        let chunk: GenerateContentResponse =
            serde_json::from_str(data).map_err(|e| ConvertError::Invalid(e.to_string()))?;
        self.chunk(chunk, out);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.end(out);
    }
}

impl Decoder {
    /// One `GenerateContentResponse` chunk.
    fn chunk(&mut self, chunk: GenerateContentResponse<'_>, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if let Some(e) = chunk.error {
            out.push(StreamEvent::Error {
                error: info_from_body(e.code, &e),
            });
            self.done = true;
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk
                    .response_id
                    .clone()
                    .map(Cow::into_owned)
                    .unwrap_or_default(),
                model: chunk
                    .model_version
                    .clone()
                    .map(Cow::into_owned)
                    .unwrap_or_default(),
            });
        }
        if let Some(u) = &chunk.usage_metadata {
            self.usage = Some(usage_from(u));
        }
        if chunk
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some())
        {
            self.blocked = true;
        }
        let Some(cand) = chunk.candidates.into_iter().next() else {
            return;
        };
        if let Some(r) = cand.finish_reason {
            self.finish = Some(r);
        }
        for p in cand.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(fc) = p.function_call {
                self.reasoning_unsigned = false;
                let index = self.tool_calls;
                self.tool_calls += 1;
                let id = self.ids.call(fc.id, &fc.name);
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id,
                    name: fc.name.into_owned(),
                    signature: p.thought_signature.map(sig),
                });
                let args = match fc.args {
                    Some(v) => serde_json::to_string(&v).unwrap_or_else(|_| "{}".into()),
                    None => "{}".into(),
                };
                out.push(StreamEvent::ToolCallDelta {
                    index,
                    arguments: args,
                });
                out.push(StreamEvent::ToolCallEnd { index });
            } else if let Some(text) = p.text {
                if p.thought == Some(true) {
                    if !text.is_empty() {
                        out.push(StreamEvent::ReasoningDelta {
                            text: text.into_owned(),
                        });
                        self.reasoning_unsigned = true;
                    }
                    if let Some(s) = p.thought_signature {
                        self.reasoning_unsigned = false;
                        out.push(StreamEvent::ReasoningEnd {
                            signature: Some(sig(s)),
                            encrypted: None,
                            id: None,
                        });
                    }
                } else {
                    // Gemini signs the first part after its thoughts: that signature closes
                    // the reasoning (so clients that sign only reasoning can carry it).
                    let mut text_sig = p.thought_signature.map(sig);
                    if self.reasoning_unsigned && text_sig.is_some() {
                        out.push(StreamEvent::ReasoningEnd {
                            signature: text_sig.take(),
                            encrypted: None,
                            id: None,
                        });
                    }
                    if !text.is_empty() {
                        self.reasoning_unsigned = false;
                        out.push(StreamEvent::TextDelta {
                            text: text.into_owned(),
                        });
                    }
                    if let Some(signature) = text_sig {
                        out.push(StreamEvent::TextSignature { signature });
                    }
                }
            } else if let Some(s) = p.thought_signature {
                self.reasoning_unsigned = false;
                out.push(StreamEvent::ReasoningEnd {
                    signature: Some(sig(s)),
                    encrypted: None,
                    id: None,
                });
            }
        }
    }

    /// Emits the held usage and stop.
    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        if !self.started {
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            });
        }
        if let Some(usage) = self.usage {
            out.push(StreamEvent::Usage { usage });
        }
        let reason = if self.blocked && self.finish.is_none() {
            StopReason::ContentFilter
        } else {
            stop_from(self.finish.as_deref(), self.tool_calls > 0)
        };
        out.push(StreamEvent::Stop { reason });
    }
}

/// A tool call being collected until its end (Gemini sends calls whole).
struct PendingCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
    signature: Option<Signature>,
}

/// Canonical events → Gemini client chunks: `data: {…}\r\n\r\n` when `sse`, else the JSON
/// array `[{…}\n,{…}\n]`. Text and reasoning deltas go out as they come; a tool call goes out
/// whole at its end; the last chunk carries `finishReason` and `usageMetadata`.
pub struct Encoder {
    sse: bool,
    model: String,
    id: String,
    chunks: usize,
    calls: Vec<PendingCall>,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    finished: bool,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("gemini::Encoder")
            .field("sse", &self.sse)
            .field("chunks", &self.chunks)
            .finish()
    }
}

impl Encoder {
    pub fn new(opts: &ResponseOptions) -> Self {
        Self {
            sse: opts.sse,
            model: opts.model.clone(),
            id: opts.id.clone().unwrap_or_default(),
            chunks: 0,
            calls: Vec::new(),
            usage: None,
            stop: None,
            finished: false,
        }
    }

    fn frame_start(&mut self, out: &mut Vec<u8>) {
        if self.sse {
            out.extend_from_slice(b"data: ");
        } else if self.chunks == 0 {
            out.push(b'[');
        } else {
            out.extend_from_slice(b"\n,");
        }
        self.chunks += 1;
    }

    fn frame_end(&self, out: &mut Vec<u8>) {
        if self.sse {
            out.extend_from_slice(b"\r\n\r\n");
        }
    }

    fn write_chunk(&mut self, chunk: &GenerateContentResponse<'_>, out: &mut Vec<u8>) {
        self.frame_start(out);
        // Serializing these plain structs cannot fail; an empty object keeps the framing valid.
        if serde_json::to_writer(&mut *out, chunk).is_err() {
            out.extend_from_slice(b"{}");
        }
        self.frame_end(out);
    }

    /// Writes one chunk with `parts` (the id and model borrowed, so nothing is copied but the
    /// JSON itself).
    fn parts_chunk(&mut self, parts: Vec<WirePart<'_>>, out: &mut Vec<u8>) {
        let id = std::mem::take(&mut self.id);
        let model = std::mem::take(&mut self.model);
        let chunk = GenerateContentResponse {
            candidates: vec![Candidate {
                content: Some(Content {
                    role: Some(Cow::Borrowed("model")),
                    parts,
                }),
                finish_reason: None,
                index: Some(0),
            }],
            model_version: Some(Cow::Borrowed(&model)),
            response_id: Some(Cow::Borrowed(&id)),
            ..GenerateContentResponse::default()
        };
        self.write_chunk(&chunk, out);
        self.id = id;
        self.model = model;
    }

    fn flush_call(&mut self, index: u32, out: &mut Vec<u8>) {
        let Some(pos) = self.calls.iter().position(|c| c.index == index) else {
            return;
        };
        let c = self.calls.remove(pos);
        let part = call_part(&c.id, &c.name, &c.arguments, &c.signature);
        self.parts_chunk(vec![part], out);
    }
}

impl StreamEncoder for Encoder {
    fn push(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                if self.id.is_empty() {
                    self.id = id.clone();
                }
                if self.model.is_empty() {
                    self.model = model.clone();
                }
            }
            StreamEvent::TextDelta { text } => {
                let part = WirePart {
                    text: Some(Cow::Borrowed(text)),
                    ..WirePart::default()
                };
                self.parts_chunk(vec![part], out);
            }
            StreamEvent::ReasoningDelta { text } => {
                let part = WirePart {
                    text: Some(Cow::Borrowed(text)),
                    thought: Some(true),
                    ..WirePart::default()
                };
                self.parts_chunk(vec![part], out);
            }
            StreamEvent::TextSignature { signature } => {
                if signature.dialect == Dialect::Gemini {
                    let part = WirePart {
                        text: Some(Cow::Borrowed("")),
                        thought_signature: Some(Cow::Borrowed(&signature.value)),
                        ..WirePart::default()
                    };
                    self.parts_chunk(vec![part], out);
                }
            }
            StreamEvent::ReasoningEnd { signature, .. } => {
                if let Some(s) = signature.as_ref().filter(|s| s.dialect == Dialect::Gemini) {
                    let part = WirePart {
                        text: Some(Cow::Borrowed("")),
                        thought: Some(true),
                        thought_signature: Some(Cow::Borrowed(&s.value)),
                        ..WirePart::default()
                    };
                    self.parts_chunk(vec![part], out);
                }
            }
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => self.calls.push(PendingCall {
                index: *index,
                id: id.clone(),
                name: name.clone(),
                arguments: String::new(),
                signature: signature.clone(),
            }),
            StreamEvent::ToolCallDelta { index, arguments } => {
                if let Some(c) = self.calls.iter_mut().find(|c| c.index == *index) {
                    c.arguments.push_str(arguments);
                }
            }
            StreamEvent::ToolCallEnd { index } => self.flush_call(*index, out),
            StreamEvent::Usage { usage } => match &mut self.usage {
                Some(u) => u.merge(usage),
                None => self.usage = Some(*usage),
            },
            StreamEvent::Stop { reason } => self.stop = Some(reason.clone()),
            StreamEvent::Error { error } => {
                let chunk = GenerateContentResponse {
                    error: Some(error_body(error)),
                    ..GenerateContentResponse::default()
                };
                self.write_chunk(&chunk, out);
                self.stop = None;
                self.finished = true;
                if !self.sse {
                    out.extend_from_slice(b"\n]");
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let open: Vec<u32> = self.calls.iter().map(|c| c.index).collect();
        for i in open {
            self.flush_call(i, out);
        }
        let reason = self.stop.take().unwrap_or(StopReason::EndTurn);
        let id = std::mem::take(&mut self.id);
        let model = std::mem::take(&mut self.model);
        let chunk = GenerateContentResponse {
            candidates: vec![Candidate {
                content: None,
                finish_reason: Some(stop_to(&reason).to_owned()),
                index: Some(0),
            }],
            usage_metadata: self.usage.as_ref().map(usage_to),
            model_version: Some(Cow::Borrowed(&model)),
            response_id: Some(Cow::Borrowed(&id)),
            ..GenerateContentResponse::default()
        };
        self.write_chunk(&chunk, out);
        self.id = id;
        self.model = model;
        if !self.sse {
            out.extend_from_slice(b"\n]");
        }
    }
}

#[cfg(test)]
mod signature_tests {
    use super::*;

    #[test]
    fn a_text_signature_after_streamed_thoughts_ends_the_reasoning() {
        let mut d = Decoder::new();
        let mut out = vec![];
        for chunk in [
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hm ","thought":true}]}}]}"#,
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"4","thoughtSignature":"s1"}]}}]}"#,
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"!","thoughtSignature":"s2"}]}}]}"#,
        ] {
            d.push(None, chunk, &mut out).unwrap();
        }
        let kinds: Vec<String> = out
            .iter()
            .filter(|e| !matches!(e, StreamEvent::Start { .. }))
            .map(|e| match e {
                StreamEvent::ReasoningDelta { text } => format!("reasoning:{text}"),
                StreamEvent::ReasoningEnd { signature, .. } => format!(
                    "end:{}",
                    signature.as_ref().map(|s| s.value.as_str()).unwrap_or("")
                ),
                StreamEvent::TextDelta { text } => format!("text:{text}"),
                StreamEvent::TextSignature { signature } => format!("textsig:{}", signature.value),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["reasoning:hm ", "end:s1", "text:4", "text:!", "textsig:s2"]
        );
    }
}
