//! A fast mock OpenAI-compatible upstream for benchmarking.
//!
//! Plain hyper 1 + hyper-util (no framework), one process, one tokio runtime with a
//! configurable number of worker threads, one listener per `--port`. Response bodies are
//! built once at start-up and shared (`Bytes` clones are reference-count bumps), so the
//! per-request work is: read the body, search it for `"stream":true`, answer.

// A benchmark tool, not the gateway: its tasks end with the process.
#![allow(clippy::disallowed_methods)]
use std::convert::Infallible;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Mock OpenAI-compatible upstream (chat completions, embeddings, models).
#[derive(Parser, Debug)]
#[command(name = "mock_upstream", version)]
struct Args {
    /// Port to listen on (127.0.0.1). Repeatable or comma separated; 0 picks a free port.
    #[arg(long = "port", value_delimiter = ',', default_value = "0")]
    ports: Vec<u16>,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Fixed delay before answering any request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Number of content chunks in a streamed answer.
    #[arg(long, default_value_t = 10)]
    stream_chunks: usize,
    /// Delay between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
}

/// Pre-built response bytes and settings shared by all connections.
struct Mock {
    chat: Bytes,
    embeddings: Bytes,
    models: Bytes,
    not_found: Bytes,
    bad_request: Bytes,
    /// `data: {...}\n\n` content chunk events, the last one carrying `finish_reason`.
    stream_events: Vec<Bytes>,
    /// Final usage chunk (`"choices":[]`), sent when `include_usage` is requested.
    usage_event: Bytes,
    done_event: Bytes,
    delay: Option<Duration>,
    chunk_delay: Option<Duration>,
}

const CONTENT: &str = "Hello from mock";
const ID: &str = "chatcmpl-mock0000000000000000000000";
const USAGE: &str = r#"{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}"#;

// Bodies are written by hand (not via serde_json::Value, which sorts keys) so that fields
// come out in the same order as OpenAI's own responses.

fn chat_completion(created: u64) -> String {
    format!(
        r#"{{"id":"{ID}","object":"chat.completion","created":{created},"model":"mock-model","choices":[{{"index":0,"message":{{"role":"assistant","content":"{CONTENT}","refusal":null}},"logprobs":null,"finish_reason":"stop"}}],"usage":{USAGE},"system_fingerprint":"fp_mock"}}"#
    )
}

fn chunk_event(created: u64, delta: &str, finish_reason: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"{ID}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":\"mock-model\",\"system_fingerprint\":\"fp_mock\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish_reason}}}]}}\n\n"
    ))
}

fn usage_event(created: u64) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"{ID}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":\"mock-model\",\"system_fingerprint\":\"fp_mock\",\"choices\":[],\"usage\":{USAGE}}}\n\n"
    ))
}

const EMBEDDINGS: &str = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,-0.0028842222,0.018931435,-0.0124103,0.0077012,0.0211,-0.0043]}],"model":"mock-model","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
const MODELS: &str = r#"{"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"mock"}]}"#;
const NOT_FOUND: &str = r#"{"error":{"message":"Not found","type":"invalid_request_error","param":null,"code":"not_found"}}"#;
const BAD_REQUEST: &str = r#"{"error":{"message":"Could not read request body","type":"invalid_request_error","param":null,"code":"bad_body"}}"#;

impl Mock {
    fn new(args: &Args) -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let n = args.stream_chunks.max(1);
        // Split the content over the chunks: the first carries the role, the last the
        // finish reason; chunks beyond the three words of CONTENT repeat " mock".
        let words = ["Hello", " from", " mock"];
        let stream_events = (0..n)
            .map(|i| {
                let piece = words.get(i).copied().unwrap_or(" mock");
                let delta = if i == 0 {
                    format!(r#"{{"role":"assistant","content":"{piece}"}}"#)
                } else {
                    format!(r#"{{"content":"{piece}"}}"#)
                };
                let finish = if i + 1 == n { r#""stop""# } else { "null" };
                chunk_event(created, &delta, finish)
            })
            .collect();
        Self {
            chat: Bytes::from(chat_completion(created)),
            embeddings: Bytes::from_static(EMBEDDINGS.as_bytes()),
            models: Bytes::from_static(MODELS.as_bytes()),
            not_found: Bytes::from_static(NOT_FOUND.as_bytes()),
            bad_request: Bytes::from_static(BAD_REQUEST.as_bytes()),
            stream_events,
            usage_event: usage_event(created),
            done_event: Bytes::from_static(b"data: [DONE]\n\n"),
            delay: (args.delay_ms > 0).then(|| Duration::from_millis(args.delay_ms)),
            chunk_delay: (args.chunk_delay_ms > 0)
                .then(|| Duration::from_millis(args.chunk_delay_ms)),
        }
    }
}

/// True if the JSON text contains `"key"` followed (after optional whitespace) by `:` and
/// `true`. A byte search, not a parser: good enough for a mock.
fn json_flag_true(body: &[u8], key: &str) -> bool {
    let needle = format!("\"{key}\"");
    memchr::memmem::find_iter(body, needle.as_bytes()).any(|pos| {
        let rest = &body[pos + needle.len()..];
        let rest = trim_ws(rest);
        match rest.split_first() {
            Some((b':', after)) => trim_ws(after).starts_with(b"true"),
            _ => false,
        }
    })
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let Some((c, rest)) = s.split_first() {
        if c.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// A response body fed by a channel: every message becomes its own data frame.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

type RespBody = Either<Full<Bytes>, ChannelBody>;

fn full(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<RespBody> {
    let mut resp = Response::new(Either::Left(Full::new(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

const JSON: &str = "application/json";

async fn handle(mock: Arc<Mock>, req: Request<Incoming>) -> Result<Response<RespBody>, Infallible> {
    let (parts, body) = req.into_parts();
    // Always read the request body, as a real upstream would.
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(full(
                StatusCode::BAD_REQUEST,
                JSON,
                mock.bad_request.clone(),
            ));
        }
    };
    if let Some(d) = mock.delay {
        tokio::time::sleep(d).await;
    }
    let resp = match (&parts.method, parts.uri.path()) {
        (&Method::POST, "/v1/chat/completions") => {
            if json_flag_true(&body, "stream") {
                stream_response(&mock, json_flag_true(&body, "include_usage"))
            } else {
                full(StatusCode::OK, JSON, mock.chat.clone())
            }
        }
        (&Method::POST, "/v1/embeddings") => full(StatusCode::OK, JSON, mock.embeddings.clone()),
        (&Method::GET, "/v1/models") => full(StatusCode::OK, JSON, mock.models.clone()),
        _ => full(StatusCode::NOT_FOUND, JSON, mock.not_found.clone()),
    };
    Ok(resp)
}

fn stream_response(mock: &Arc<Mock>, include_usage: bool) -> Response<RespBody> {
    let total = mock.stream_events.len() + 1 + usize::from(include_usage);
    let (tx, rx) = mpsc::channel::<Bytes>(total.min(64));
    let m = Arc::clone(mock);
    tokio::spawn(async move {
        for (i, ev) in m.stream_events.iter().enumerate() {
            if let Some(d) = m.chunk_delay
                && i > 0
            {
                tokio::time::sleep(d).await;
            }
            if tx.send(ev.clone()).await.is_err() {
                return; // client went away
            }
        }
        if include_usage && tx.send(m.usage_event.clone()).await.is_err() {
            return;
        }
        let _ = tx.send(m.done_event.clone()).await;
    });
    let mut resp = Response::new(Either::Right(ChannelBody { rx }));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn serve(listener: TcpListener, mock: Arc<Mock>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // e.g. EMFILE: back off briefly instead of spinning.
                eprintln!("accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mock = Arc::clone(&mock);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(Arc::clone(&mock), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("building tokio runtime")?;
    rt.block_on(async move {
        let mock = Arc::new(Mock::new(&args));
        let mut listeners = Vec::with_capacity(args.ports.len());
        for &port in &args.ports {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            listeners.push(l);
        }
        {
            let mut out = std::io::stdout().lock();
            for l in &listeners {
                writeln!(out, "listening {}", l.local_addr()?)?;
            }
            out.flush()?;
        }
        for l in listeners {
            tokio::spawn(serve(l, Arc::clone(&mock)));
        }
        shutdown_signal().await;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_json() {
        let args = Args::parse_from(["mock_upstream", "--stream-chunks", "4"]);
        let m = Mock::new(&args);
        for b in [
            &m.chat,
            &m.embeddings,
            &m.models,
            &m.not_found,
            &m.bad_request,
        ] {
            serde_json::from_slice::<serde_json::Value>(b).unwrap();
        }
        assert_eq!(m.stream_events.len(), 4);
        let mut content = String::new();
        for ev in m.stream_events.iter().chain([&m.usage_event]) {
            let text = std::str::from_utf8(ev).unwrap();
            let payload = text
                .strip_prefix("data: ")
                .unwrap()
                .strip_suffix("\n\n")
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(payload).unwrap();
            if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                content.push_str(c);
            }
        }
        assert_eq!(content, "Hello from mock mock");
        let chat: serde_json::Value = serde_json::from_slice(&m.chat).unwrap();
        assert_eq!(chat["choices"][0]["message"]["content"], CONTENT);
        assert_eq!(chat["usage"]["total_tokens"], 15);
    }

    #[test]
    fn flag_search() {
        assert!(json_flag_true(br#"{"model":"m","stream":true}"#, "stream"));
        assert!(json_flag_true(br#"{"stream" :  true}"#, "stream"));
        assert!(!json_flag_true(br#"{"stream":false}"#, "stream"));
        assert!(!json_flag_true(
            br#"{"stream_options":{"include_usage":true}}"#,
            "stream"
        ));
        assert!(json_flag_true(
            br#"{"stream":true,"stream_options":{"include_usage": true}}"#,
            "include_usage"
        ));
    }
}
