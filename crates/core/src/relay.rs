//! Reading upstream bodies: whole bodies with a size cap, and SSE streams event by event with
//! an idle timeout.
//!
//! `prime` reads a stream up to its first data event so that a stream that fails, times out or
//! reports an error before any content can still fail over; what it read is kept and replayed.
//! Owns no client-side encoding (that is `respond`) and no bookkeeping (that is `settle`).

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use futures::stream::{BoxStream, StreamExt};
use modelgate_formats::sse::{SseEvent, SseSplitter};
use modelgate_providers::{UpstreamFailure, UpstreamResponse};
use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

/// Largest whole (non-stream) upstream body read; a larger one is a failed attempt.
pub const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// An upstream body's data, chunk by chunk.
pub type ByteStream = BoxStream<'static, Result<Bytes, hyper::Error>>;

/// The data of an upstream answer's body as a stream (trailers are skipped).
pub fn body_stream(resp: UpstreamResponse) -> ByteStream {
    http_body_util::BodyDataStream::new(resp.into_body()).boxed()
}

/// Reads a whole body, failing when it exceeds `limit` or stays idle past `timeout`.
///
/// Memory stays near the body's size: with a `Content-Length` the buffer is allocated once;
/// without one the chunks are kept as received and joined once at the end (never a doubling
/// buffer that copies itself on the way to the limit).
pub async fn read_body(
    resp: UpstreamResponse,
    timeout: Duration,
    limit: usize,
) -> Result<Bytes, UpstreamFailure> {
    let too_large =
        || UpstreamFailure::Broken(format!("the upstream body is larger than {limit} bytes"));
    let declared = modelgate_providers::content_length(&resp);
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut stream = body_stream(resp);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut exact = declared
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .map(BytesMut::with_capacity);
    let mut have = 0usize;
    let read = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| UpstreamFailure::from_body_error(&e))?;
            have += chunk.len();
            if have > limit {
                return Err(too_large());
            }
            match &mut exact {
                Some(b) => b.extend_from_slice(&chunk),
                None => chunks.push(chunk),
            }
        }
        Ok::<(), UpstreamFailure>(())
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => return Err(UpstreamFailure::Timeout(timeout)),
        Ok(Err(f)) => return Err(f),
        Ok(Ok(())) => {}
    }
    if let Some(b) = exact {
        return Ok(b.freeze());
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => {
            let mut b = BytesMut::with_capacity(have);
            for c in chunks.drain(..) {
                b.extend_from_slice(&c);
            }
            b.freeze()
        }
    })
}

/// One step of reading a stream.
pub enum Step {
    /// A complete event block (including its blank line).
    Event(Bytes),
    /// The upstream ended cleanly.
    End,
    Failed(UpstreamFailure),
}

/// An upstream SSE stream, read event by event.
pub struct Events {
    upstream: ByteStream,
    splitter: SseSplitter,
    queue: VecDeque<Bytes>,
    idle_timeout: Duration,
    /// The idle timer, made on the first wait and kept for the stream's life (see `wait`).
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A failure met while gathering (see `gather`), reported after the events before it.
    failed: Option<UpstreamFailure>,
    ended: bool,
}

impl Events {
    pub fn new(resp: UpstreamResponse, idle_timeout: Duration) -> Self {
        Self {
            upstream: body_stream(resp),
            splitter: SseSplitter::new(),
            queue: VecDeque::new(),
            idle_timeout,
            idle: None,
            failed: None,
            ended: false,
        }
    }

    /// The next event block, the end, or a failure (idle timeout, broken connection, an event
    /// larger than the SSE limit).
    pub async fn next(&mut self) -> Step {
        loop {
            if let Some(step) = self.buffered() {
                return step;
            }
            match self.wait().await {
                None => return Step::Failed(UpstreamFailure::Timeout(self.idle_timeout)),
                Some(read) => {
                    if let Some(failed) = self.take(read) {
                        return failed;
                    }
                }
            }
        }
    }

    /// The upstream's next read, or `None` when it brought nothing for `idle_timeout` from
    /// now.
    ///
    /// One timer serves the whole stream instead of one per wait: its deadline is never moved
    /// forward on a wait, so it can only fire early (the deadline of an earlier wait); it is
    /// then re-armed for this wait's deadline. A stream whose events keep coming touches the
    /// timer once, not once per event.
    async fn wait(&mut self) -> Option<Option<Result<Bytes, hyper::Error>>> {
        let deadline = tokio::time::Instant::now() + self.idle_timeout;
        let upstream = &mut self.upstream;
        let timer = self
            .idle
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            tokio::select! {
                biased;
                read = upstream.next() => return Some(read),
                () = timer.as_mut() => {
                    if tokio::time::Instant::now() >= deadline {
                        return None;
                    }
                    timer.as_mut().reset(deadline);
                }
            }
        }
    }

    /// The next step if it is there without waiting: an event already read, the end, or what
    /// the upstream has already delivered to the socket. `None`: nothing yet.
    pub fn next_now(&mut self) -> Option<Step> {
        loop {
            if let Some(step) = self.buffered() {
                return Some(step);
            }
            let read = self.upstream.next().now_or_never()?;
            if let Some(failed) = self.take(read) {
                return Some(failed);
            }
        }
    }

    fn buffered(&mut self) -> Option<Step> {
        if let Some(b) = self.queue.pop_front() {
            return Some(Step::Event(b));
        }
        if let Some(f) = self.failed.take() {
            self.ended = true;
            return Some(Step::Failed(f));
        }
        self.ended.then_some(Step::End)
    }

    /// Queues what the upstream has already delivered without waiting for more: the upstream
    /// connection's task gets `YIELDS` turns to hand over the HTTP chunks it has buffered. A
    /// failure met on the way is kept and reported after the events before it. It stops at
    /// `COALESCE_BYTES`.
    pub async fn gather(&mut self) {
        let mut yielded = 0;
        let mut queued: usize = self.queue.iter().map(Bytes::len).sum();
        while !self.ended && self.failed.is_none() && queued < COALESCE_BYTES {
            match self.upstream.next().now_or_never() {
                Some(read) => {
                    yielded = 0;
                    let before = self.queue.len();
                    if let Some(Step::Failed(f)) = self.take(read) {
                        self.failed = Some(f);
                    }
                    queued += self
                        .queue
                        .iter()
                        .skip(before)
                        .map(Bytes::len)
                        .sum::<usize>();
                }
                None if yielded < YIELDS => {
                    yielded += 1;
                    let_others_run().await;
                }
                None => break,
            }
        }
    }

    /// Splits what one read brought into events (queued); a failure is returned.
    fn take(&mut self, read: Option<Result<Bytes, hyper::Error>>) -> Option<Step> {
        match read {
            None => {
                self.ended = true;
                if let Some(rest) = self.splitter.take_rest() {
                    self.queue.push_back(rest);
                }
                None
            }
            Some(Err(e)) => Some(Step::Failed(UpstreamFailure::from_body_error(&e))),
            Some(Ok(chunk)) => {
                if let Err(e) = self.splitter.push_bytes(chunk) {
                    return Some(Step::Failed(UpstreamFailure::Broken(e.to_string())));
                }
                while let Some(block) = self.splitter.next_event() {
                    self.queue.push_back(block);
                }
                None
            }
        }
    }

    /// Puts already-read events back in front, in order.
    fn unread(&mut self, mut blocks: VecDeque<Bytes>) {
        blocks.append(&mut self.queue);
        self.queue = blocks;
    }
}

/// At most this many bytes of events already delivered are joined into one write to the
/// client: an upstream faster than the relay would otherwise be read ahead without bound.
pub const COALESCE_BYTES: usize = 64 * 1024;

/// How many scheduler turns a relay gives the upstream connection's task before it sends what
/// it has. The connection task needs two turns to hand over its next buffered HTTP chunk
/// (measured: one yield never found it, two always did).
pub const YIELDS: u32 = 2;

/// Lets the tasks already woken on this worker run once, then resumes: the task wakes itself
/// and goes to the back of the run queue, behind the upstream connection's task that the
/// body poll woke. Unlike `tokio::task::yield_now`, whose wake-up the single-threaded
/// scheduler defers until it next polls the I/O driver, this costs no syscall when the run
/// queue empties: `strace -f` at one streamed connection showed one `epoll_wait` with a zero
/// timeout per event with `yield_now`.
pub fn let_others_run() -> impl std::future::Future<Output = ()> {
    let mut woke = false;
    std::future::poll_fn(move |cx| {
        if woke {
            return std::task::Poll::Ready(());
        }
        woke = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
}

/// Reads a stream up to its first data event. Fails (so the caller can fail over) if the
/// upstream breaks, times out, ends or reports an error before it.
///
/// It then gathers what else the upstream has already sent, before the client's reply head
/// is handed to the server: the first poll of the client's body then has all of it at once,
/// and the head leaves in the same write (a body that answers its first poll with `Pending`
/// makes hyper flush the head alone, one more `writev` and wake-up of the client per stream).
pub async fn prime(mut events: Events) -> Result<Events, UpstreamFailure> {
    let mut seen = VecDeque::new();
    loop {
        match events.next().await {
            Step::Event(block) => {
                let ev = SseEvent::parse(&block);
                let Some(data) = ev.data.as_deref() else {
                    seen.push_back(block); // a comment or keep-alive: kept and forwarded
                    continue;
                };
                if let Some(err) = error_report(ev.event, data) {
                    return Err(UpstreamFailure::Broken(format!(
                        "the upstream reported an error before any content: {err}"
                    )));
                }
                seen.push_back(block);
                events.unread(seen);
                events.gather().await;
                return Ok(events);
            }
            Step::End => {
                return Err(UpstreamFailure::Broken(
                    "the stream ended before its first event".into(),
                ));
            }
            Step::Failed(f) => return Err(f),
        }
    }
}

/// Whether an event is an error report rather than content: an `error` event, or data whose
/// top level is `{"error": …}` (OpenAI, Gemini) or `{"type":"error"}` (Anthropic).
pub fn error_report(event: Option<&str>, data: &str) -> Option<String> {
    let data = data.trim();
    if event == Some("error") {
        return Some(data.chars().take(2000).collect());
    }
    if memchr::memmem::find(data.as_bytes(), b"\"error\"").is_some() {
        #[derive(serde::Deserialize)]
        struct E {
            #[serde(default)]
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
