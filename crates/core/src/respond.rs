//! Stage 7, respond: the upstream's answer → the client's reply, in the client's dialect.
//!
//! Same dialect in and out: bytes pass through unchanged (usage is read on the way, the
//! usage-only chunk the gateway asked for is hidden). Otherwise the whole body, or the stream
//! event by event, goes through the canonical model: the upstream dialect's decoder, then the
//! client dialect's encoder (both state machines, see `modelgate_formats::codec`). The client
//! stream owns the request's `Settle`, so settle runs when the stream ends, fails, or is dropped
//! because the client went away (billing what was delivered).

use bytes::{Bytes, BytesMut};
use futures::stream::StreamExt;
use modelgate_formats::canonical::{
    ErrorInfo, ErrorKind, ResponseOptions, StreamDecoder, StreamEncoder, StreamEvent, Usage,
};
use modelgate_formats::openai::{is_openai_error, usage_of_body, usage_of_chunk};
use modelgate_formats::sse::{SseEvent, data_event};
use modelgate_formats::{Dialect, codec};
use modelgate_providers::UpstreamFailure;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::{Call, Endpoint, GeminiMethod};
use crate::dispatch::{Delivered, Delivery, Failure, FailureKind};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::health::{InFlight, UpstreamStats};
use crate::relay::{self, Events, Step};
use crate::reply::{self, ClientStream, Reply, ReplyBody};
use crate::settle::Settle;

/// Most answer text kept from a stream for the session context.
const CAPTURE_LIMIT: usize = 64 * 1024;

/// The reply for a delivered answer.
pub fn delivered(
    gw: &Arc<Gateway>,
    call: &Call,
    resolved: &str,
    d: Delivery,
    mut settle: Settle,
    cache_key: Option<&str>,
) -> Reply {
    let headers = route_headers(call, &d);
    if let Some(session) = &call.session {
        gw.sessions.served(
            session,
            resolved,
            &d.candidate.provider.id,
            &d.candidate.provider.name,
            &d.candidate.upstream_model,
        );
    }
    let mut r = match d.body {
        Delivered::Full(bytes) => full(
            gw,
            call,
            Whole {
                up: d.upstream_dialect,
                status: d.status,
                content_type: d.content_type,
                bytes,
            },
            settle,
            cache_key,
        ),
        Delivered::Events(events) => {
            let upstream = StreamSource {
                dialect: d.upstream_dialect,
                added_usage_chunk: d.added_usage_chunk,
                in_flight: d.in_flight,
                stats: d.stats,
            };
            let stream = client_stream(gw, call, upstream, events, settle);
            let content_type = if call.reply_dialect == Dialect::Gemini && !gemini_sse(call) {
                "application/json"
            } else {
                "text/event-stream"
            };
            Reply {
                status: 200,
                content_type: content_type.into(),
                headers: vec![],
                body: ReplyBody::Stream(stream),
            }
        }
        Delivered::Raw(resp) => {
            let status = resp.status().as_u16();
            settle.first_content_at = Some(Instant::now());
            let mut r = Reply {
                status,
                content_type: d
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
                headers: vec![],
                body: ReplyBody::Stream(raw_stream(
                    resp,
                    d.candidate.provider.timeout,
                    settle,
                    d.in_flight,
                )),
            };
            if let Some(cd) = d.content_disposition {
                r.headers.push(("content-disposition", cd));
            }
            r
        }
    };
    r.headers.extend(headers);
    r
}

fn gemini_sse(call: &Call) -> bool {
    matches!(call.endpoint, Endpoint::Gemini { sse: true, .. })
}

fn route_headers(call: &Call, d: &Delivery) -> Vec<(&'static str, String)> {
    let overhead = call.started.elapsed().saturating_sub(d.upstream_wait);
    vec![
        ("x-modelgate-provider", d.candidate.provider.name.clone()),
        ("x-modelgate-attempts", d.attempts.len().to_string()),
        ("x-modelgate-overhead-ms", millis_3(overhead)),
    ]
}

/// A duration in milliseconds with three decimals (`1.234`), as `format!("{:.3}")` writes it
/// but from the whole microseconds, without float formatting (on every reply).
fn millis_3(d: std::time::Duration) -> String {
    let mut out = Vec::with_capacity(12);
    crate::digits::push_millis(&mut out, u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    // ASCII digits and a dot only.
    String::from_utf8(out).unwrap_or_default()
}

fn response_options(call: &Call) -> ResponseOptions {
    ResponseOptions {
        model: call.model.clone(),
        id: Some(call.reply_id().to_owned()),
        created: chrono::Utc::now().timestamp(),
        sse: gemini_sse(call) || call.reply_dialect != Dialect::Gemini,
        include_usage: call.client_wants_usage,
    }
}

/// A whole body: passed through, or converted.
/// A whole upstream answer.
struct Whole {
    up: Option<Dialect>,
    status: u16,
    content_type: Option<String>,
    bytes: Bytes,
}

fn full(
    gw: &Arc<Gateway>,
    call: &Call,
    whole: Whole,
    mut settle: Settle,
    cache_key: Option<&str>,
) -> Reply {
    let Whole {
        up,
        status,
        content_type,
        bytes,
    } = whole;
    let counting = matches!(
        call.endpoint,
        Endpoint::MessagesCountTokens
            | Endpoint::Gemini {
                method: GeminiMethod::CountTokens,
                ..
            }
    );
    let (body, usage) = match up {
        // Embeddings and passthrough: as they came.
        None => (
            bytes.clone(),
            usage_of_body(&bytes).map(|u| u.to_canonical()),
        ),
        Some(_) if counting => (bytes.clone(), None),
        Some(d) if d == call.reply_dialect => {
            let usage = match d {
                Dialect::OpenaiChat => usage_of_body(&bytes).map(|u| u.to_canonical()),
                d => codec::usage_of_response(d, &bytes),
            };
            if let Some(k) = cache_key
                && let Ok(resp) = codec::decode_response(d, &bytes)
            {
                crate::cache::store(gw, call, k, &resp);
            }
            (bytes.clone(), usage)
        }
        Some(d) => match codec::decode_response(d, &bytes) {
            Ok(resp) => {
                if let Some(k) = cache_key {
                    crate::cache::store(gw, call, k, &resp);
                }
                let usage = resp.usage;
                let out =
                    codec::encode_response(call.reply_dialect, &resp, &response_options(call));
                (Bytes::from(out), usage)
            }
            Err(e) => {
                let e = GatewayError::Upstream(UpstreamFailure::Broken(format!(
                    "cannot read the upstream's {d} answer: {e}"
                )));
                settle.set_response_body(&bytes);
                settle.finish(502, None, Some(e.to_string()));
                return reply::error(call.reply_dialect, &e);
            }
        },
    };
    settle.set_response_body(&bytes);
    if (200..300).contains(&status) {
        crate::conversation::remember(gw, call, &body);
    }
    // The answer is decoded only for a session that keeps it.
    if call.endpoint == Endpoint::ChatCompletions
        && call.reply_dialect == Dialect::OpenaiChat
        && call.session.is_some()
    {
        remember_answer(gw, call, answer_text_of_chat(&body));
    }
    settle.finish(status, usage, None);
    Reply {
        status,
        content_type: if up.is_some() {
            "application/json".into()
        } else {
            content_type.unwrap_or_else(|| "application/json".into())
        },
        headers: vec![],
        body: ReplyBody::Full(body),
    }
}

/// The reply when dispatch gave up, in the client's dialect.
pub fn failed(call: &Call, f: Failure, mut settle: Settle) -> Reply {
    settle.set_attempts(&f.attempts);
    let attempts = f.attempts.len().to_string();
    let r = match f.error {
        FailureKind::Gateway(e) => {
            settle.finish(e.status(), None, Some(e.to_string()));
            reply::error(call.reply_dialect, &e)
        }
        FailureKind::Upstream(UpstreamFailure::Status { status, body, .. }, d) => {
            settle.set_response_body(&body);
            settle.finish(
                status,
                None,
                Some(format!("the upstream answered {status}")),
            );
            let (status, body) = upstream_error(call.reply_dialect, d, status, &body);
            Reply::json(status, body)
        }
        FailureKind::Upstream(other, _) => {
            let e = GatewayError::Upstream(other);
            settle.finish(e.status(), None, Some(e.to_string()));
            reply::error(call.reply_dialect, &e)
        }
    };
    r.header("x-modelgate-attempts", attempts)
}

/// An upstream's error for the client: unchanged when it is already in the client's dialect,
/// otherwise converted (or described) in the client's error shape, with the status that shape
/// uses (an overloaded Anthropic upstream's 529 is a 503 to OpenAI and Gemini clients, and an
/// overloaded other upstream is a 529 to Anthropic clients).
fn upstream_error(client: Dialect, up: Option<Dialect>, status: u16, body: &Bytes) -> (u16, Bytes) {
    let openai_family = |d: Dialect| matches!(d, Dialect::OpenaiChat | Dialect::OpenaiResponses);
    let up = up.unwrap_or(Dialect::OpenaiChat);
    if openai_family(client) && openai_family(up) && is_openai_error(body) {
        // 529 is Anthropic's word for overloaded; OpenAI clients know it as 503.
        return (if status == 529 { 503 } else { status }, body.clone());
    }
    if up == client && codec::decode_error(up, status, body).is_some() {
        return (status, body.clone());
    }
    let info = codec::decode_error(up, status, body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
        ErrorInfo::new(
            ErrorKind::from_status(status),
            format!("upstream returned {status}: {text}"),
        )
        .with_status(status)
        .with_code("upstream_error")
    });
    let status = match client {
        Dialect::Anthropic => modelgate_formats::anthropic::wire_status(&info),
        _ => info.status,
    };
    (status, reply::error_body(client, &info))
}

/// Session context: the request's messages (all of them the first time, then the newest) and
/// the answer, for `GET /context/{session}`. Chat completions only.
fn remember_answer(gw: &Gateway, call: &Call, answer: Option<String>) {
    let Some(session) = call.session.as_deref() else {
        return;
    };
    let owner = call.caller.owner();
    let had_context = gw.sessions.has_context(session, &owner);
    let mut msgs: Vec<(String, serde_json::Value)> = Vec::new();
    // Only the messages worth keeping are decoded; the rest is skimmed (linear in the body).
    if let crate::call::CallBody::Json(obj) = &call.body
        && let Some(raw) = obj.get("messages")
        && let Some(m) = crate::sessions::messages_to_remember(raw, had_context)
    {
        msgs = m;
    }
    if let Some(a) = answer {
        msgs.push(("assistant".into(), serde_json::Value::String(a)));
    }
    gw.sessions.append(session, &owner, msgs);
}

fn answer_text_of_chat(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct R {
        choices: Vec<C>,
    }
    #[derive(serde::Deserialize)]
    struct C {
        message: M,
    }
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(default)]
        content: Option<String>,
    }
    serde_json::from_slice::<R>(body)
        .ok()?
        .choices
        .into_iter()
        .next()?
        .message
        .content
}

/// How a stream is relayed.
enum Mode {
    /// Same dialect: events forwarded as they are.
    Pass {
        dialect: Dialect,
        strip_usage_chunk: bool,
        saw_done: bool,
    },
    /// Converted through canonical events.
    Transcode {
        decoder: Box<dyn StreamDecoder>,
        encoder: Box<dyn StreamEncoder>,
        events: Vec<StreamEvent>,
    },
}

struct Relay {
    gw: Arc<Gateway>,
    events: Events,
    mode: Mode,
    reply_dialect: Dialect,
    settle: Option<Settle>,
    in_flight: Option<InFlight>,
    stats: Arc<UpstreamStats>,
    capture: Option<String>,
    session: Option<(String, String)>,
    /// Responses streams to be stored: the input to store with the completed answer.
    history: Option<Vec<serde_json::Value>>,
    /// Whether the client's body has not been polled yet (see `client_stream`).
    first_poll: bool,
    ended: bool,
}

/// Where a stream comes from.
struct StreamSource {
    dialect: Option<Dialect>,
    added_usage_chunk: bool,
    in_flight: Option<InFlight>,
    stats: Arc<UpstreamStats>,
}

fn client_stream(
    gw: &Arc<Gateway>,
    call: &Call,
    src: StreamSource,
    events: Events,
    settle: Settle,
) -> ClientStream {
    let StreamSource {
        dialect: up,
        added_usage_chunk,
        in_flight,
        stats,
    } = src;
    let up = up.unwrap_or(Dialect::OpenaiChat);
    let pass = up == call.reply_dialect && (up != Dialect::Gemini || gemini_sse(call));
    let mode = if pass {
        Mode::Pass {
            dialect: up,
            strip_usage_chunk: added_usage_chunk,
            saw_done: false,
        }
    } else {
        Mode::Transcode {
            decoder: codec::stream_decoder(up),
            encoder: codec::stream_encoder(call.reply_dialect, &response_options(call)),
            events: Vec::new(),
        }
    };
    let chat = call.endpoint == Endpoint::ChatCompletions;
    let session = call
        .session
        .clone()
        .filter(|_| chat)
        .map(|s| (s, call.caller.owner()));
    if session.is_some() {
        remember_answer(gw, call, None);
    }
    let relay = Relay {
        gw: gw.clone(),
        events,
        mode,
        reply_dialect: call.reply_dialect,
        settle: Some(settle),
        in_flight,
        stats,
        capture: session.as_ref().map(|_| String::new()),
        session,
        history: crate::conversation::history_of(call),
        first_poll: true,
        ended: false,
    };
    // Everything the upstream has already delivered goes to the client as one chunk (one
    // write), not one write per event. The upstream body hands over one HTTP chunk at a time
    // from its connection's task, so after each event the relay yields (at most
    // `relay::YIELDS` times) to let that task decode what is already buffered; when that
    // brings nothing, or the chunk has reached `relay::COALESCE_BYTES`, the chunk is sent.
    // The first poll does not yield: `prime` has gathered already, and a `Pending` answer to
    // it would make the server flush the head alone.
    futures::stream::unfold(relay, |mut r| async move {
        let mut out = Chunk::None;
        let yields = if std::mem::replace(&mut r.first_poll, false) {
            0
        } else {
            relay::YIELDS
        };
        let mut yielded = 0u32;
        loop {
            if r.ended {
                return out.take().map(|o| (Ok(o), r));
            }
            let step = if out.is_some() {
                if out.len() >= relay::COALESCE_BYTES {
                    return out.take().map(|o| (Ok(o), r));
                }
                match r.events.next_now() {
                    Some(step) => step,
                    None if yielded < yields => {
                        yielded += 1;
                        relay::let_others_run().await;
                        continue;
                    }
                    None => return out.take().map(|o| (Ok(o), r)),
                }
            } else {
                r.events.next().await
            };
            yielded = 0;
            let piece = match step {
                Step::Event(block) => r.on_event(block),
                Step::End => {
                    r.ended = true;
                    r.on_end()
                }
                Step::Failed(f) => {
                    r.ended = true;
                    Some(r.on_failure(&f))
                }
            };
            if let Some(piece) = piece {
                r.store_if_completed(&piece);
                out.push(piece);
            }
        }
    })
    .boxed()
}

/// What goes to the client in one write: nothing, one piece as it is, or several joined.
enum Chunk {
    None,
    One(Bytes),
    Many(BytesMut),
}

impl Chunk {
    fn is_some(&self) -> bool {
        !matches!(self, Chunk::None)
    }

    fn len(&self) -> usize {
        match self {
            Chunk::None => 0,
            Chunk::One(b) => b.len(),
            Chunk::Many(m) => m.len(),
        }
    }

    fn push(&mut self, piece: Bytes) {
        *self = match std::mem::replace(self, Chunk::None) {
            Chunk::None => Chunk::One(piece),
            Chunk::One(first) => {
                let mut m = BytesMut::with_capacity(first.len() + piece.len() * 4);
                m.extend_from_slice(&first);
                m.extend_from_slice(&piece);
                Chunk::Many(m)
            }
            Chunk::Many(mut m) => {
                m.extend_from_slice(&piece);
                Chunk::Many(m)
            }
        };
    }

    fn take(&mut self) -> Option<Bytes> {
        match std::mem::replace(self, Chunk::None) {
            Chunk::None => None,
            Chunk::One(b) => Some(b),
            Chunk::Many(m) => Some(m.freeze()),
        }
    }
}

impl Relay {
    /// A Responses stream's completed answer is stored for `previous_response_id`.
    fn store_if_completed(&mut self, out: &[u8]) {
        if self.history.is_some()
            && let Some(resp) = crate::conversation::completed_response(out)
            && let Some(h) = self.history.take()
        {
            crate::conversation::store(&self.gw, h, &resp);
        }
    }

    fn usage(&mut self, u: &Usage) {
        if let Some(s) = self.settle.as_mut() {
            s.usage.get_or_insert_with(Usage::default).merge(u);
        }
    }

    fn content_seen(&mut self) {
        if let Some(s) = self.settle.as_mut() {
            s.first_content_at.get_or_insert_with(Instant::now);
        }
    }

    fn capture(&mut self, text: &str) {
        if let Some(s) = self.settle.as_mut() {
            s.delivered(text);
        }
        if let Some(c) = self.capture.as_mut()
            && c.len() < CAPTURE_LIMIT
        {
            c.push_str(text);
        }
    }

    /// Handles one upstream event block; returns the bytes for the client, if any.
    fn on_event(&mut self, block: Bytes) -> Option<Bytes> {
        // An OpenAI chat stream passed through, no session text to keep: a block that is one
        // `data:` line (nearly all of them) is read without the general parser.
        if self.capture.is_none()
            && matches!(
                self.mode,
                Mode::Pass {
                    dialect: Dialect::OpenaiChat,
                    ..
                }
            )
            && let Some(r) = modelgate_formats::sse::single_data_line(&block)
        {
            let data = block.slice(r);
            return self.pass_chat(block, data.trim_ascii());
        }
        let ev = SseEvent::parse(&block);
        let Some(data) = ev.data.as_deref() else {
            // A comment or keep-alive: forwarded when passing through, harmless.
            return matches!(self.mode, Mode::Pass { .. }).then_some(block);
        };
        let data = data.trim();
        match &mut self.mode {
            Mode::Pass { dialect, .. } => {
                let dialect = *dialect;
                if dialect == Dialect::OpenaiChat {
                    // Session context only: billing keeps the block itself (`pass_chat`).
                    if let Some(c) = self.capture.as_mut()
                        && c.len() < CAPTURE_LIMIT
                        && let Some(t) = chat_delta_text(data)
                    {
                        c.push_str(&t);
                    }
                    // `data` borrows `block`: the block goes on as a second handle (refcounted).
                    return self.pass_chat(block.clone(), data.as_bytes());
                } else if let Some(u) = codec::sniff_usage(dialect, ev.event, data) {
                    self.usage(&u);
                }
                // Kept (refcounted) for counting its text if the stream is cut short.
                if let Some(st) = self.settle.as_mut() {
                    st.delivered_block(dialect, &block);
                }
                self.content_seen();
                Some(block)
            }
            Mode::Transcode {
                decoder, events, ..
            } => {
                events.clear();
                if let Err(e) = decoder.push(ev.event, data, events) {
                    tracing::debug!(error = %e, "an upstream stream event could not be read");
                    return None;
                }
                let evs = std::mem::take(events);
                let out = self.encode(&evs);
                if let Mode::Transcode { events, .. } = &mut self.mode {
                    *events = evs;
                }
                (!out.is_empty()).then(|| Bytes::from(out))
            }
        }
    }

    /// An OpenAI chat event passed through (`data` is its trimmed `data:` value): `[DONE]`
    /// noted, usage taken (a usage-only chunk the client did not ask for is dropped), the
    /// block kept (refcounted) for counting its text if the stream is cut short.
    fn pass_chat(&mut self, block: Bytes, data: &[u8]) -> Option<Bytes> {
        let Mode::Pass {
            strip_usage_chunk,
            saw_done,
            ..
        } = &mut self.mode
        else {
            return Some(block);
        };
        if data == b"[DONE]" {
            *saw_done = true;
            return Some(block);
        }
        let strip = *strip_usage_chunk;
        if let Some(cu) = usage_of_chunk(data)
            && let Some(u) = cu.usage
        {
            self.usage(&u.to_canonical());
            if strip && !cu.has_choices {
                return None;
            }
        }
        if let Some(st) = self.settle.as_mut() {
            st.delivered_block(Dialect::OpenaiChat, &block);
        }
        self.content_seen();
        Some(block)
    }

    fn encode(&mut self, evs: &[StreamEvent]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in evs {
            match e {
                StreamEvent::Usage { usage } => self.usage(usage),
                StreamEvent::TextDelta { text } => {
                    self.content_seen();
                    self.capture(text);
                }
                StreamEvent::ReasoningDelta { text } => {
                    self.content_seen();
                    if let Some(s) = self.settle.as_mut() {
                        s.delivered(text);
                    }
                }
                StreamEvent::ToolCallStart { name, .. } => {
                    self.content_seen();
                    if let Some(s) = self.settle.as_mut() {
                        s.delivered(name);
                    }
                }
                StreamEvent::ToolCallDelta { arguments, .. } => {
                    if let Some(s) = self.settle.as_mut() {
                        s.delivered(arguments);
                    }
                }
                _ => {}
            }
            if let Mode::Transcode { encoder, .. } = &mut self.mode {
                encoder.push(e, &mut out);
            }
        }
        out
    }

    /// The upstream ended cleanly.
    fn on_end(&mut self) -> Option<Bytes> {
        match &mut self.mode {
            Mode::Pass {
                dialect: Dialect::OpenaiChat,
                saw_done: false,
                ..
            } => Some(self.on_failure(&UpstreamFailure::Broken(
                "the stream ended without [DONE]".into(),
            ))),
            Mode::Pass { .. } => {
                self.finish(200, None);
                None
            }
            Mode::Transcode { decoder, .. } => {
                let mut evs = Vec::new();
                decoder.finish(&mut evs);
                let mut out = self.encode(&evs);
                if let Mode::Transcode { encoder, .. } = &mut self.mode {
                    encoder.finish(&mut out);
                }
                self.finish(200, None);
                (!out.is_empty()).then(|| Bytes::from(out))
            }
        }
    }

    /// The upstream broke mid-stream: the client gets an error event in its dialect.
    fn on_failure(&mut self, f: &UpstreamFailure) -> Bytes {
        self.stats
            .failure(&f.to_string(), Duration::ZERO, &self.gw.health.settings);
        let msg = format!("upstream stream failed: {f}");
        let info = ErrorInfo::new(ErrorKind::BadGateway, msg.clone())
            .with_code("stream_broken")
            .with_status(f.client_status());
        let out = match &mut self.mode {
            Mode::Transcode { encoder, .. } => {
                let mut out = Vec::new();
                encoder.push(&StreamEvent::Error { error: info }, &mut out);
                encoder.finish(&mut out);
                Bytes::from(out)
            }
            Mode::Pass { .. } => error_event(self.reply_dialect, &info),
        };
        self.finish(f.client_status(), Some(msg));
        out
    }

    fn finish(&mut self, status: u16, error: Option<String>) {
        if let Some(s) = self.settle.take() {
            s.finish(status, None, error);
        }
        if status == 200
            && let (Some((session, owner)), Some(text)) = (self.session.take(), self.capture.take())
        {
            self.gw.sessions.append(
                &session,
                &owner,
                vec![("assistant".into(), serde_json::Value::String(text))],
            );
        }
        self.in_flight = None;
    }
}

/// The SSE error event of a dialect, for a stream that cannot be completed.
fn error_event(d: Dialect, e: &ErrorInfo) -> Bytes {
    let body = reply::error_body(d, e);
    let data = String::from_utf8_lossy(&body);
    match d {
        Dialect::Anthropic => Bytes::from(format!("event: error\ndata: {data}\n\n")),
        Dialect::OpenaiResponses => Bytes::from(format!("event: error\ndata: {data}\n\n")),
        _ => data_event(&data),
    }
}

fn chat_delta_text(data: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Chunk {
        #[serde(default)]
        choices: Vec<Choice>,
    }
    #[derive(serde::Deserialize)]
    struct Choice {
        #[serde(default)]
        delta: Option<Delta>,
    }
    #[derive(serde::Deserialize)]
    struct Delta {
        #[serde(default)]
        content: Option<String>,
    }
    serde_json::from_str::<Chunk>(data)
        .ok()?
        .choices
        .into_iter()
        .next()?
        .delta?
        .content
}

struct RawRelay {
    upstream: crate::relay::ByteStream,
    idle: Duration,
    settle: Option<Settle>,
    status: u16,
    in_flight: Option<InFlight>,
    done: bool,
}

/// Forwards a passthrough body unchanged (with an idle timeout), settling when it ends.
fn raw_stream(
    resp: modelgate_providers::UpstreamResponse,
    idle: Duration,
    settle: Settle,
    in_flight: Option<InFlight>,
) -> ClientStream {
    let state = RawRelay {
        status: resp.status().as_u16(),
        upstream: crate::relay::body_stream(resp),
        idle,
        settle: Some(settle),
        in_flight,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let next = tokio::time::timeout(s.idle, s.upstream.next()).await;
        let idle = s.idle;
        let fail = |s: &mut RawRelay, msg: String| {
            if let Some(settle) = s.settle.take() {
                settle.finish(502, None, Some(msg.clone()));
            }
            s.in_flight = None;
            s.done = true;
            std::io::Error::other(msg)
        };
        match next {
            Ok(Some(Ok(b))) => Some((Ok(b), s)),
            Ok(Some(Err(e))) => {
                let e = fail(&mut s, format!("upstream body broke: {e}"));
                Some((Err(e), s))
            }
            Err(_) => {
                let e = fail(&mut s, format!("upstream body idle for {idle:?}"));
                Some((Err(e), s))
            }
            Ok(None) => {
                if let Some(settle) = s.settle.take() {
                    settle.finish(s.status, None, None);
                }
                drop(s);
                None
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::millis_3;
    use std::time::Duration;

    #[test]
    fn millis_3_writes_three_decimals_from_whole_microseconds() {
        assert_eq!(millis_3(Duration::ZERO), "0.000");
        assert_eq!(millis_3(Duration::from_micros(7)), "0.007");
        assert_eq!(millis_3(Duration::from_micros(1_230)), "1.230");
        assert_eq!(millis_3(Duration::from_nanos(12_345_999)), "12.345");
        assert_eq!(millis_3(Duration::from_secs(90)), "90000.000");
    }
}
