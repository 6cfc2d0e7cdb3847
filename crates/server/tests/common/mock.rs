//! A mock OpenAI-compatible upstream on loopback, with behaviours for failure tests.
//!
//! Besides the fixed "Hello from {name}" answer, `Behavior::Content` scripts an answer with
//! `reasoning_content`, text and a tool call (streamed as the openai-python
//! `ChatCompletionChunk` deltas), and `MockUpstream::on` picks a behaviour by a marker string
//! found in the request body (so one mock can serve many test cases in any order).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What the mock does with the next chat/embeddings request.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer normally.
    Ok,
    /// Answer with this status and body (and `Retry-After` seconds if set).
    Status(u16, Value, Option<u64>),
    /// Wait, then answer normally.
    Delay(Duration),
    /// Stream: send `n` content chunks, then drop the connection (no `[DONE]`).
    StreamBreakAfter(usize),
    /// Stream: send everything but `[DONE]`, then end cleanly.
    StreamNoDone,
    /// Stream: the first event is an error object.
    StreamErrorFirst,
    /// Stream: first chunk, then wait for `release()` before the rest.
    StreamHold,
    /// Stream: a chunk every 50 ms, 400 chunks (to observe cancellation).
    StreamSlow,
    /// Stream: `n` content chunks of `len` bytes of text each, as fast as they can go, then
    /// the usual rest.
    StreamBulk(usize, usize),
    /// Stream: usage rides on the last content chunk (non-empty choices), no usage-only chunk.
    StreamUsageOnContent,
    /// Stream: the response body fails (connection drop) before any event is sent.
    StreamDropBeforeFirst,
    /// Answer 401 when the request's bearer key is this secret; otherwise answer normally.
    RejectKey(String),
    /// Answer with this content (non-stream and stream alike).
    Content(ChatContent),
}

/// A scripted assistant answer: optional `reasoning_content` (the DeepSeek / vLLM field),
/// optional text, optional tool call (`id` `call_mock_0001`). `finish_reason` is
/// `tool_calls` when there is a tool call, else `stop`.
#[derive(Debug, Clone, Default)]
pub struct ChatContent {
    pub reasoning: Option<String>,
    pub text: Option<String>,
    pub tool_call: Option<(String, Value)>,
}

/// The id of the tool call a `ChatContent` answer makes.
pub const CHAT_TOOL_CALL_ID: &str = "call_mock_0001";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub struct MockState {
    pub behavior: Mutex<Behavior>,
    pub requests: Mutex<Vec<Recorded>>,
    pub hits: AtomicUsize,
    pub release: Notify,
    pub cancelled: AtomicBool,
    pub models: Mutex<Vec<String>>,
    pub name: String,
    /// Behaviours for the next chat requests, one per request, before `behavior` applies.
    pub script: Mutex<VecDeque<Behavior>>,
    /// `(marker, behaviour)`: after `script`, the first whose marker occurs in the request
    /// body applies; then `behavior`.
    pub rules: Mutex<Vec<(String, Behavior)>>,
}

/// A running mock upstream.
pub struct MockUpstream {
    pub addr: std::net::SocketAddr,
    pub state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl MockUpstream {
    pub async fn start(name: &str) -> Self {
        let state = Arc::new(MockState {
            behavior: Mutex::new(Behavior::Ok),
            requests: Mutex::new(vec![]),
            hits: AtomicUsize::new(0),
            release: Notify::new(),
            cancelled: AtomicBool::new(false),
            models: Mutex::new(vec!["mock-model".into()]),
            name: name.into(),
            script: Mutex::new(VecDeque::new()),
            rules: Mutex::new(vec![]),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                post(chat),
            )
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .route("/v1/{*rest}", any(echo))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    /// Base URL as a provider's `base_url` (`…/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn set(&self, b: Behavior) {
        *self.state.behavior.lock().unwrap() = b;
    }

    pub fn set_models(&self, m: &[&str]) {
        *self.state.models.lock().unwrap() = m.iter().map(|s| s.to_string()).collect();
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("the mock received a request")
    }

    pub fn release(&self) {
        self.state.release.notify_waiters();
        self.state.release.notify_one();
    }

    pub fn cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.task.abort();
    }

    /// Queues behaviours for the next chat requests (one each); then `set`'s behaviour applies.
    pub fn script(&self, seq: Vec<Behavior>) {
        self.state.script.lock().unwrap().extend(seq);
    }

    /// A chat request whose body contains `marker` gets behaviour `b` (unless a scripted
    /// behaviour is pending). Rules are tried in the order they were added.
    pub fn on(&self, marker: &str, b: Behavior) {
        self.state.rules.lock().unwrap().push((marker.into(), b));
    }

    /// Chat completion requests received (not counting `/v1/models`).
    pub fn chat_requests(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .count()
    }
}

/// A base URL (`…/v1`) on a loopback port nothing listens on: connections are refused.
pub async fn closed_base_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/v1")
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(state: &MockState, req: Request) -> Recorded {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let r = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    state.hits.fetch_add(1, Ordering::SeqCst);
    state.requests.lock().unwrap().push(r.clone());
    r
}

fn usage() -> Value {
    json!({"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19,
           "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 3}})
}

fn completion(state: &MockState, model: &str) -> Value {
    json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000, "model": model,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("Hello from {}", state.name)}, "finish_reason": "stop"}],
           "usage": usage()})
}

fn content_finish(c: &ChatContent) -> &'static str {
    if c.tool_call.is_some() {
        "tool_calls"
    } else {
        "stop"
    }
}

/// A `chat.completion` for scripted content: `message.reasoning_content`, `content`,
/// `tool_calls` (arguments as a JSON string).
fn content_completion(model: &str, c: &ChatContent) -> Value {
    let mut msg = json!({"role": "assistant", "content": c.text});
    if let Some(r) = &c.reasoning {
        msg["reasoning_content"] = json!(r);
    }
    if let Some((name, args)) = &c.tool_call {
        msg["tool_calls"] = json!([{"id": CHAT_TOOL_CALL_ID, "type": "function",
            "function": {"name": name, "arguments": args.to_string()}}]);
    }
    json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000, "model": model,
           "choices": [{"index": 0, "message": msg, "finish_reason": content_finish(c)}],
           "usage": usage()})
}

/// Stream chunks for scripted content: a role chunk, `reasoning_content` deltas, `content`
/// deltas, a tool-call head (`index`, `id`, `type`, name, empty arguments) then argument
/// pieces of at most 7 bytes, and a final chunk with `finish_reason`.
fn content_chunks(model: &str, c: &ChatContent) -> Vec<Value> {
    let wrap = |delta: Value, finish: Option<&str>| {
        json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000,
               "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let words = |s: &str| -> Vec<String> { s.split_inclusive(' ').map(str::to_owned).collect() };
    let mut out = vec![wrap(json!({"role": "assistant", "content": ""}), None)];
    if let Some(r) = &c.reasoning {
        for w in words(r) {
            out.push(wrap(json!({"reasoning_content": w}), None));
        }
    }
    if let Some(t) = &c.text {
        for w in words(t) {
            out.push(wrap(json!({"content": w}), None));
        }
    }
    if let Some((name, args)) = &c.tool_call {
        out.push(wrap(
            json!({"tool_calls": [{"index": 0, "id": CHAT_TOOL_CALL_ID, "type": "function",
                                   "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
        let a = args.to_string();
        let mut cur = String::new();
        let mut pieces = vec![];
        for ch in a.chars() {
            cur.push(ch);
            if cur.len() >= 7 {
                pieces.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            pieces.push(cur);
        }
        for p in pieces {
            out.push(wrap(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
                None,
            ));
        }
    }
    out.push(wrap(json!({}), Some(content_finish(c))));
    out
}

fn chunk(model: &str, content: &str) -> String {
    let c = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
                   "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]});
    format!("data: {c}\n\n")
}

fn sse(rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn chat(State(state): State<Arc<MockState>>, req: Request) -> Response {
    let r = record(&state, req).await;
    let body = r.json();
    let model = body["model"].as_str().unwrap_or("mock-model").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let include_usage = body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    let scripted = state.script.lock().unwrap().pop_front();
    let ruled = || {
        let text = String::from_utf8_lossy(&r.body);
        state
            .rules
            .lock()
            .unwrap()
            .iter()
            .find(|(m, _)| text.contains(m.as_str()))
            .map(|(_, b)| b.clone())
    };
    let behavior = scripted
        .or_else(ruled)
        .unwrap_or_else(|| state.behavior.lock().unwrap().clone());
    match behavior {
        Behavior::RejectKey(ref k)
            if r.headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(format!("Bearer {k}").as_str()) =>
        {
            let b = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}});
            return (StatusCode::UNAUTHORIZED, axum::Json(b)).into_response();
        }
        Behavior::Status(code, b, retry_after) => {
            let mut resp = (StatusCode::from_u16(code).unwrap(), axum::Json(b)).into_response();
            if let Some(s) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            return resp;
        }
        Behavior::Delay(d) => tokio::time::sleep(d).await,
        _ => {}
    }
    if let Behavior::Content(c) = &behavior {
        if !stream {
            return axum::Json(content_completion(&model, c)).into_response();
        }
        let mut frames: Vec<Bytes> = content_chunks(&model, c)
            .into_iter()
            .map(|v| Bytes::from(format!("data: {v}\n\n")))
            .collect();
        if include_usage {
            let u = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1,
                           "model": model, "choices": [], "usage": usage()});
            frames.push(Bytes::from(format!("data: {u}\n\n")));
        }
        frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let body = futures::stream::iter(frames.into_iter().map(Ok::<Bytes, std::io::Error>));
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(body))
            .unwrap();
    }
    if !stream {
        return axum::Json(completion(&state, &model)).into_response();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let st = state.clone();
    tokio::spawn(async move {
        let send = |s: String| {
            let tx = tx.clone();
            async move { tx.send(Ok(Bytes::from(s))).await.is_ok() }
        };
        match behavior {
            Behavior::StreamDropBeforeFirst => {
                // Headers go out first; then the body breaks without a single event.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = tx
                    .send(Err(std::io::Error::other("connection reset")))
                    .await;
                return;
            }
            Behavior::StreamErrorFirst => {
                let _ = send(format!(
                    "data: {}\n\n",
                    json!({"error": {"message": "overloaded", "type": "server_error"}})
                ))
                .await;
                return;
            }
            Behavior::StreamBreakAfter(n) => {
                for i in 0..n {
                    send(chunk(&model, &format!("part{i} "))).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = tx
                    .send(Err(std::io::Error::other("connection reset")))
                    .await;
                return;
            }
            Behavior::StreamHold => {
                let _ = send(": keep-alive\n\n".into()).await;
                send(chunk(&model, "first ")).await;
                st.release.notified().await;
            }
            Behavior::StreamBulk(n, len) => {
                let text = "x".repeat(len);
                for _ in 0..n {
                    if !send(chunk(&model, &text)).await {
                        return;
                    }
                }
            }
            Behavior::StreamSlow => {
                for i in 0..400 {
                    if !send(chunk(&model, &format!("t{i} "))).await {
                        st.cancelled.store(true, Ordering::SeqCst);
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            _ => {}
        }
        for word in ["Hello", " from", " the", " mock"] {
            send(chunk(&model, word)).await;
        }
        if matches!(behavior, Behavior::StreamUsageOnContent) {
            let c = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": model,
                           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage()});
            send(format!("data: {c}\n\n")).await;
        } else if include_usage {
            let c = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [], "usage": usage()});
            send(format!("data: {c}\n\n")).await;
        }
        if !matches!(behavior, Behavior::StreamNoDone) {
            send("data: [DONE]\n\n".into()).await;
        }
    });
    sse(rx)
}

async fn embeddings(State(state): State<Arc<MockState>>, req: Request) -> Response {
    let r = record(&state, req).await;
    let behavior = state.behavior.lock().unwrap().clone();
    if let Behavior::Status(code, b, _) = behavior {
        return (StatusCode::from_u16(code).unwrap(), axum::Json(b)).into_response();
    }
    let model = r.json()["model"]
        .as_str()
        .unwrap_or("mock-embed")
        .to_owned();
    axum::Json(json!({"object": "list", "model": model,
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
        "usage": {"prompt_tokens": 5, "total_tokens": 5}}))
    .into_response()
}

async fn models(State(state): State<Arc<MockState>>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let data: Vec<Value> = state
        .models
        .lock()
        .unwrap()
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": state.name}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn echo(State(state): State<Arc<MockState>>, req: Request) -> Response {
    let r = record(&state, req).await;
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    axum::Json(json!({"method": r.method, "path": r.path, "query": r.query, "content_type": ct, "received_bytes": r.body.len(),
        "authorization": r.headers.get("authorization").and_then(|v| v.to_str().ok())}))
    .into_response()
}
