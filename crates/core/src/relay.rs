//! Relaying upstream streams to the client.
//!
//! `open_sse` reads an upstream SSE response up to its first data event (so a stream that
//! fails before any content can still fail over), then returns a stream that forwards each
//! event as soon as it is complete: usage is read from whichever chunk carries it, the
//! usage-only chunk the gateway asked for on the client's behalf is dropped, and a stream that
//! breaks or ends without `[DONE]` is closed with an SSE error event. Dropping the returned
//! stream (client gone) drops the upstream response, which cancels the upstream call, and
//! settles the request as `499`.
//!
//! `bytes_stream` forwards a non-SSE body (passthrough endpoints) unchanged.

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use modelgate_formats::openai::{Usage, usage_of_chunk};
use modelgate_formats::sse::{SseEvent, SseSplitter, data_event};
use modelgate_providers::UpstreamFailure;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::dispatch::Settle;
use crate::gateway::Gateway;
use crate::health::{HealthRegistry, InFlight, UpstreamStats};
use std::sync::Arc;

/// Where a session's streamed answer is stored.
pub struct Capture {
    pub sessions: Arc<Gateway>,
    pub session: String,
    /// The caller that owns the context.
    pub owner: String,
}

/// What a relay carries besides the stream: the in-flight guard (held until the stream ends),
/// the upstream's stats (a break mid-stream counts as a failure), and session capture.
#[derive(Default)]
pub struct RelayExtras {
    pub in_flight: Option<InFlight>,
    pub stats: Option<(Arc<UpstreamStats>, Arc<HealthRegistry>)>,
    pub capture: Option<Capture>,
}

/// Most text kept from a streamed answer for the session context.
const CAPTURE_LIMIT: usize = 64 * 1024;

/// Body stream handed to the HTTP layer.
pub type ClientStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

type Upstream = BoxStream<'static, reqwest::Result<Bytes>>;

struct Relay {
    upstream: Upstream,
    splitter: SseSplitter,
    queue: VecDeque<Bytes>,
    idle_timeout: Duration,
    strip_usage_chunk: bool,
    saw_done: bool,
    usage: Option<Usage>,
    first_content_at: Option<Instant>,
    settle: Option<Settle>,
    ended: bool,
    extras: RelayExtras,
    captured: String,
}

enum Step {
    /// More events are queued (or none were complete yet).
    Progress,
    /// The upstream ended cleanly.
    End,
    Failed(UpstreamFailure),
}

impl Relay {
    async fn pull(&mut self) -> Step {
        match tokio::time::timeout(self.idle_timeout, self.upstream.next()).await {
            Err(_) => Step::Failed(UpstreamFailure::Timeout(self.idle_timeout)),
            Ok(None) => Step::End,
            Ok(Some(Err(e))) => Step::Failed(UpstreamFailure::from_reqwest(&e, self.idle_timeout)),
            Ok(Some(Ok(chunk))) => {
                if let Err(e) = self.splitter.push(&chunk) {
                    return Step::Failed(UpstreamFailure::Broken(e.to_string()));
                }
                while let Some(block) = self.splitter.next_event() {
                    if let Some(b) = self.inspect(block) {
                        self.queue.push_back(b);
                    }
                }
                Step::Progress
            }
        }
    }

    /// Reads what the gateway needs from one event; returns it unless it must be dropped.
    fn inspect(&mut self, block: Bytes) -> Option<Bytes> {
        let ev = SseEvent::parse(&block);
        let Some(data) = ev.data.as_deref() else {
            return Some(block); // comment or keep-alive: forwarded, harmless
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.saw_done = true;
            return Some(block);
        }
        if let Some(cu) = usage_of_chunk(data.as_bytes())
            && let Some(u) = cu.usage
        {
            self.usage = Some(u);
            if self.strip_usage_chunk && !cu.has_choices {
                return None;
            }
        }
        if self.first_content_at.is_none() {
            self.first_content_at = Some(Instant::now());
        }
        if self.extras.capture.is_some() && self.captured.len() < CAPTURE_LIMIT {
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
            if let Ok(c) = serde_json::from_str::<Chunk>(data)
                && let Some(text) = c
                    .choices
                    .first()
                    .and_then(|ch| ch.delta.as_ref())
                    .and_then(|d| d.content.as_deref())
            {
                self.captured.push_str(text);
            }
        }
        Some(block)
    }

    fn finish(&mut self, status: u16, error: Option<String>) {
        if let Some(s) = self.settle.take() {
            s.finish(status, self.usage, error, self.first_content_at);
        }
        if status == 200
            && let Some(c) = self.extras.capture.take()
        {
            let text = std::mem::take(&mut self.captured);
            c.sessions.sessions.append(
                &c.session,
                &c.owner,
                vec![("assistant".into(), serde_json::Value::String(text))],
            );
        }
        self.extras.in_flight = None;
    }

    fn fail(&mut self, failure: &UpstreamFailure) -> Bytes {
        if let Some((stats, reg)) = &self.extras.stats {
            stats.failure(&failure.to_string(), Duration::ZERO, &reg.settings);
        }
        let msg = format!("upstream stream failed: {failure}");
        self.finish(failure.client_status(), Some(msg.clone()));
        self.ended = true;
        error_event(&msg, "stream_broken")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.settle.is_some() {
            self.finish(499, Some("client closed the stream".into()));
        }
    }
}

/// The SSE error event sent when a stream cannot be completed.
pub fn error_event(message: &str, code: &str) -> Bytes {
    let body = serde_json::json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": code}});
    data_event(&body.to_string())
}

/// Whether a first event is an error report rather than content.
fn is_error_event(block: &[u8]) -> Option<String> {
    let ev = SseEvent::parse(block);
    let data = ev.data.as_deref()?.trim();
    if ev.event == Some("error") {
        return Some(data.to_owned());
    }
    if memchr::memmem::find(data.as_bytes(), b"\"error\"").is_some() {
        #[derive(serde::Deserialize)]
        struct E {
            error: serde_json::Value,
        }
        if let Ok(e) = serde_json::from_str::<E>(data)
            && !e.error.is_null()
        {
            return Some(e.error.to_string());
        }
    }
    None
}

/// Opens an SSE relay. Fails (so the caller can fail over) if the upstream breaks, times out
/// or reports an error before its first data event.
pub async fn open_sse(
    resp: reqwest::Response,
    idle_timeout: Duration,
    strip_usage_chunk: bool,
    settle: Settle,
    extras: RelayExtras,
) -> Result<ClientStream, (UpstreamFailure, Settle)> {
    let mut relay = Relay {
        upstream: resp.bytes_stream().boxed(),
        splitter: SseSplitter::new(),
        queue: VecDeque::new(),
        idle_timeout,
        strip_usage_chunk,
        saw_done: false,
        usage: None,
        first_content_at: None,
        settle: Some(settle),
        ended: false,
        extras,
        captured: String::new(),
    };
    // Read until the first data event (comments and pings before it are kept and forwarded).
    loop {
        let has_data = relay
            .queue
            .iter()
            .any(|b| SseEvent::parse(b).data.is_some());
        if has_data || relay.saw_done {
            break;
        }
        let failure = match relay.pull().await {
            Step::Progress => continue,
            Step::End => UpstreamFailure::Broken("the stream ended before its first event".into()),
            Step::Failed(f) => f,
        };
        let settle = relay.settle.take();
        return Err((failure, settle.unwrap_or_else(Settle::detached)));
    }
    if let Some(first) = relay
        .queue
        .iter()
        .find(|b| SseEvent::parse(b).data.is_some())
        && let Some(err) = is_error_event(first)
    {
        let settle = relay.settle.take();
        return Err((
            UpstreamFailure::Broken(format!(
                "the upstream reported an error before any content: {err}"
            )),
            settle.unwrap_or_else(Settle::detached),
        ));
    }
    let stream = futures::stream::unfold(relay, |mut r| async move {
        loop {
            if let Some(b) = r.queue.pop_front() {
                return Some((Ok(b), r));
            }
            if r.ended {
                return None;
            }
            match r.pull().await {
                Step::Progress => continue,
                Step::End => {
                    r.ended = true;
                    if r.saw_done {
                        r.finish(200, None);
                        return None;
                    }
                    let f = UpstreamFailure::Broken("the stream ended without [DONE]".into());
                    let ev = r.fail(&f);
                    return Some((Ok(ev), r));
                }
                Step::Failed(f) => {
                    let ev = r.fail(&f);
                    return Some((Ok(ev), r));
                }
            }
        }
    });
    Ok(stream.boxed())
}

struct BytesRelay {
    upstream: Upstream,
    settle: Option<Settle>,
    status: u16,
    first_at: Option<Instant>,
}

impl Drop for BytesRelay {
    fn drop(&mut self) {
        if let Some(s) = self.settle.take() {
            s.finish(
                499,
                None,
                Some("client closed the response".into()),
                self.first_at,
            );
        }
    }
}

/// Forwards a body unchanged, settling the request when it ends.
pub fn bytes_stream(resp: reqwest::Response, settle: Settle) -> ClientStream {
    let state = BytesRelay {
        status: resp.status().as_u16(),
        upstream: resp.bytes_stream().boxed(),
        settle: Some(settle),
        first_at: None,
    };
    futures::stream::unfold(state, |mut s| async move {
        match s.upstream.next().await {
            Some(Ok(b)) => {
                s.first_at.get_or_insert_with(Instant::now);
                Some((Ok(b), s))
            }
            Some(Err(e)) => {
                if let Some(settle) = s.settle.take() {
                    settle.finish(
                        502,
                        None,
                        Some(format!("upstream body broke: {e}")),
                        s.first_at,
                    );
                }
                Some((Err(std::io::Error::other(e)), s))
            }
            None => {
                if let Some(settle) = s.settle.take() {
                    settle.finish(s.status, None, None, s.first_at);
                }
                None
            }
        }
    })
    .boxed()
}
