//! Mock upstreams of the non-OpenAI-chat dialects: Anthropic Messages, Gemini
//! `generateContent`, and OpenAI Responses, each an axum server on `127.0.0.1:0`.
//!
//! `mock.rs` owns the OpenAI chat-completions mock; this module owns the other three wire
//! formats. Shapes follow the official SDK types (anthropic-sdk-python `types/`,
//! python-genai `types.py`, openai-python `types/responses/`); the comments on each
//! builder below name the fields the mock sends.
//!
//! ```ignore
//! let up = DialectMock::anthropic()
//!     .reply(Reply::tool_call("get_weather", json!({"city": "Paris"})).with_thinking("hm"))
//!     .default_reply(Reply::text("Hello from the mock"))
//!     .require_key("sk-upstream")
//!     .start()
//!     .await;
//! // register `up.base_url()` as a provider of kind `up.kind()`, send a request, then:
//! let req = up.last();            // method, path, query, headers, body of what arrived
//! assert_eq!(req.json()["model"], "claude-mock");
//! ```
//!
//! Every request is recorded (also the rejected ones). Generation requests take the next
//! queued `Reply` (`reply`), then the first `on(marker, reply)` rule whose marker occurs in
//! the request body (so one mock can serve many test cases in any order), then the default one (`default_reply`, initially
//! `Reply::text(DEFAULT_TEXT)`). Token counts come from `MockUsage` and are mapped to each
//! dialect's own usage fields as documented on `MockUsage`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

use super::mock::Recorded;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The text a mock answers with when nothing else was scripted.
pub const DEFAULT_TEXT: &str = "Hello from the mock upstream";
/// What `count_tokens` / `countTokens` answer unless `MockBuilder::count_tokens` says otherwise.
pub const DEFAULT_COUNT_TOKENS: u64 = 42;

/// The wire format a `DialectMock` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `POST /v1/messages`, `/v1/messages/count_tokens`, `GET /v1/models`; auth `x-api-key`.
    Anthropic,
    /// `POST /v1beta/models/{m}:generateContent`, `:streamGenerateContent?alt=sse`,
    /// `:countTokens`, `GET /v1beta/models`; auth `x-goog-api-key` or `?key=`. The same
    /// under `/v1/` (like Google's API): google-genai (Python) 3.x defaults to `v1`, Gemini
    /// CLI (js-genai) to `v1beta`.
    Gemini,
    /// `POST /v1/responses`, `GET /v1/models`; auth `Authorization: Bearer`.
    Responses,
}

/// Token counts a mock reports, mapped per dialect:
///
/// | field | Anthropic | Gemini | Responses |
/// |---|---|---|---|
/// | `input` (uncached prompt) | `input_tokens` | part of `promptTokenCount` | part of `input_tokens` |
/// | `cache_read` | `cache_read_input_tokens` | `cachedContentTokenCount` (also in `promptTokenCount`) | `input_tokens_details.cached_tokens` (also in `input_tokens`) |
/// | `cache_write` | `cache_creation_input_tokens` | part of `promptTokenCount` | `input_tokens_details.cache_write_tokens` (also in `input_tokens`) |
/// | `output` (incl. reasoning) | `output_tokens` | `candidatesTokenCount` = output − reasoning | `output_tokens` |
/// | `reasoning` | (inside `output_tokens`) | `thoughtsTokenCount` | `output_tokens_details.reasoning_tokens` |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockUsage {
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl Default for MockUsage {
    fn default() -> Self {
        Self {
            input: 21,
            cache_read: 5,
            cache_write: 3,
            output: 9,
            reasoning: 4,
        }
    }
}

impl MockUsage {
    /// All prompt tokens: uncached + cache read + cache write.
    pub fn prompt_total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write
    }
}

/// How a scripted reply ends.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Complete,
    /// Status and message, sent in the dialect's error shape.
    Error(u16, String),
    /// Stream: this many SSE events, then the connection drops. Non-stream: the body
    /// breaks before any byte.
    BreakAfter(usize),
    /// Stream: this many SSE events, then the dialect's in-stream error event, then a clean
    /// end. Non-stream: the dialect's "overloaded" HTTP error (529 / 503 / 500).
    FailAfter(usize, String),
}

/// One scripted answer: optional reasoning, optional text, optional tool call, and how it
/// ends. Build with `Reply::text`, `Reply::tool_call`, `Reply::error`, then the `with_*`
/// and `break_after` modifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub thinking: Option<String>,
    pub text: Option<String>,
    pub tool_call: Option<(String, Value)>,
    /// Wait this long before answering (headers included).
    pub delay: Option<Duration>,
    outcome: Outcome,
}

impl Reply {
    /// A plain text answer (`end_turn` / `STOP` / `completed`).
    pub fn text(t: &str) -> Self {
        Self {
            thinking: None,
            text: Some(t.into()),
            tool_call: None,
            delay: None,
            outcome: Outcome::Complete,
        }
    }

    /// A single tool call with these JSON arguments (`tool_use` / `functionCall` /
    /// `function_call`), no text.
    pub fn tool_call(name: &str, args: Value) -> Self {
        Self {
            thinking: None,
            text: None,
            tool_call: Some((name.into(), args)),
            delay: None,
            outcome: Outcome::Complete,
        }
    }

    /// An HTTP error with the dialect's error body: Anthropic
    /// `{"type":"error","error":{"type","message"},"request_id"}`, Gemini
    /// `{"error":{"code","message","status"}}`, OpenAI `{"error":{"message","type","param","code"}}`.
    pub fn error(status: u16, message: &str) -> Self {
        Self {
            thinking: None,
            text: None,
            tool_call: None,
            delay: None,
            outcome: Outcome::Error(status, message.into()),
        }
    }

    /// Adds a reasoning block before the rest: Anthropic `thinking` with a `signature`,
    /// Gemini a `thought: true` part (the signature rides on the next part as
    /// `thoughtSignature`), Responses a `reasoning` item with a summary and `encrypted_content`.
    pub fn with_thinking(mut self, t: &str) -> Self {
        self.thinking = Some(t.into());
        self
    }

    /// Adds (or replaces) the text, e.g. text before a tool call.
    pub fn with_text(mut self, t: &str) -> Self {
        self.text = Some(t.into());
        self
    }

    /// Adds a tool call after the text.
    pub fn with_tool_call(mut self, name: &str, args: Value) -> Self {
        self.tool_call = Some((name.into(), args));
        self
    }

    /// A stream sends `n` SSE events of this reply and then drops the connection (no
    /// terminal event); a non-stream request gets a body that breaks at once.
    pub fn break_after(mut self, n: usize) -> Self {
        self.outcome = Outcome::BreakAfter(n);
        self
    }

    /// A stream sends `n` SSE events, then the dialect's in-stream error and ends: Anthropic
    /// `event: error` `{"type":"error","error":{"type":"overloaded_error",…}}`, Responses
    /// `response.failed` (status `failed`, `error.code` `server_error`), Gemini a `data:`
    /// line holding `{"error":{"code":503,…,"status":"UNAVAILABLE"}}`. A non-stream request
    /// gets that dialect's overloaded HTTP error instead (529 / 500 / 503).
    pub fn fail_after(mut self, n: usize, message: &str) -> Self {
        self.outcome = Outcome::FailAfter(n, message.into());
        self
    }

    /// Waits `d` before answering (e.g. to hit the gateway's upstream timeout).
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
}

/// The thinking signature the Anthropic mock sends (also Gemini's `thoughtSignature` and
/// the Responses `encrypted_content`, each derived from it).
pub const MOCK_SIGNATURE: &str = "c2lnLW1vY2stMDAx";

/// Shared state of a running mock.
pub struct DialectState {
    pub dialect: Dialect,
    pub requests: Mutex<Vec<Recorded>>,
    pub queue: Mutex<VecDeque<Reply>>,
    pub default: Mutex<Reply>,
    pub models: Mutex<Vec<String>>,
    pub usage: Mutex<MockUsage>,
    pub count_tokens: Mutex<u64>,
    pub required_key: Mutex<Option<String>>,
    /// `(marker, reply)` rules tried after the queue, in order.
    pub rules: Mutex<Vec<(String, Reply)>>,
}

/// Builder of a `DialectMock`; `start` binds it to a loopback port.
pub struct MockBuilder {
    dialect: Dialect,
    queue: VecDeque<Reply>,
    default: Reply,
    models: Vec<String>,
    usage: MockUsage,
    count_tokens: u64,
    required_key: Option<String>,
    rules: Vec<(String, Reply)>,
}

impl MockBuilder {
    /// A generation request whose body contains `marker` gets `r` (when nothing is queued).
    /// Rules are tried in the order they were added.
    pub fn on(mut self, marker: &str, r: Reply) -> Self {
        self.rules.push((marker.into(), r));
        self
    }
    /// Queues a reply for the next generation request (in order of calls).
    pub fn reply(mut self, r: Reply) -> Self {
        self.queue.push_back(r);
        self
    }
    /// The reply used when the queue is empty.
    pub fn default_reply(mut self, r: Reply) -> Self {
        self.default = r;
        self
    }
    /// Model ids listed by the models endpoint (default `["mock-model"]`).
    pub fn models(mut self, m: &[&str]) -> Self {
        self.models = m.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn usage(mut self, u: MockUsage) -> Self {
        self.usage = u;
        self
    }
    /// What the token-counting endpoint answers.
    pub fn count_tokens(mut self, n: u64) -> Self {
        self.count_tokens = n;
        self
    }
    /// Answer 401 (in the dialect's error shape) unless the request carries this key in the
    /// dialect's auth header (`x-api-key`; `x-goog-api-key` or `?key=`; `Bearer`).
    pub fn require_key(mut self, k: &str) -> Self {
        self.required_key = Some(k.into());
        self
    }

    pub async fn start(self) -> DialectMock {
        let state = Arc::new(DialectState {
            dialect: self.dialect,
            requests: Mutex::new(vec![]),
            queue: Mutex::new(self.queue),
            default: Mutex::new(self.default),
            models: Mutex::new(self.models),
            usage: Mutex::new(self.usage),
            count_tokens: Mutex::new(self.count_tokens),
            required_key: Mutex::new(self.required_key),
            rules: Mutex::new(self.rules),
        });
        let app = match self.dialect {
            Dialect::Anthropic => Router::new()
                .route("/v1/messages", post(anthropic_messages))
                .route("/v1/messages/count_tokens", post(anthropic_count_tokens))
                .route("/v1/models", get(anthropic_models)),
            Dialect::Gemini => Router::new()
                .route("/v1beta/models", get(gemini_models))
                .route("/v1beta/models/{*rest}", any(gemini_model_call))
                .route("/v1/models", get(gemini_models))
                .route("/v1/models/{*rest}", any(gemini_model_call)),
            Dialect::Responses => Router::new()
                .route("/v1/responses", post(responses))
                .route("/v1/models", get(openai_models)),
        }
        .fallback(unknown_path)
        .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        DialectMock { addr, state, task }
    }
}

/// A running mock upstream of one dialect. Dropping it stops the server.
pub struct DialectMock {
    pub addr: std::net::SocketAddr,
    pub state: Arc<DialectState>,
    task: tokio::task::JoinHandle<()>,
}

impl DialectMock {
    fn builder(dialect: Dialect) -> MockBuilder {
        MockBuilder {
            dialect,
            queue: VecDeque::new(),
            default: Reply::text(DEFAULT_TEXT),
            models: vec!["mock-model".into()],
            usage: MockUsage::default(),
            count_tokens: DEFAULT_COUNT_TOKENS,
            required_key: None,
            rules: vec![],
        }
    }
    /// An Anthropic Messages upstream.
    pub fn anthropic() -> MockBuilder {
        Self::builder(Dialect::Anthropic)
    }
    /// A Gemini (Generative Language API, `v1beta`) upstream.
    pub fn gemini() -> MockBuilder {
        Self::builder(Dialect::Gemini)
    }
    /// An OpenAI Responses upstream.
    pub fn responses() -> MockBuilder {
        Self::builder(Dialect::Responses)
    }

    pub fn dialect(&self) -> Dialect {
        self.state.dialect
    }

    /// `http://127.0.0.1:P`, the root the dialect's paths hang off.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The provider `base_url` to register: the origin for Anthropic and Gemini, `…/v1` for
    /// Responses (like the OpenAI SDKs' base URL).
    pub fn base_url(&self) -> String {
        match self.state.dialect {
            Dialect::Anthropic | Dialect::Gemini => self.origin(),
            Dialect::Responses => format!("{}/v1", self.origin()),
        }
    }

    /// The modelgate provider `kind` for this mock.
    pub fn kind(&self) -> &'static str {
        match self.state.dialect {
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
            Dialect::Responses => "openai_compatible",
        }
    }

    /// Queues a reply for the next generation request.
    pub fn reply(&self, r: Reply) {
        self.state.queue.lock().unwrap().push_back(r);
    }
    /// Sets the reply used when the queue is empty.
    pub fn set_default(&self, r: Reply) {
        *self.state.default.lock().unwrap() = r;
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
    /// The last request received; panics when there was none.
    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("the mock received a request")
    }
    /// Requests whose path contains `fragment` (e.g. `":streamGenerateContent"`).
    pub fn requests_to(&self, fragment: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(fragment))
            .collect()
    }
    /// Generation requests received (not models, not token counts).
    pub fn generation_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| is_generation(self.state.dialect, &r.path))
            .collect()
    }
}

impl Drop for DialectMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_generation(d: Dialect, path: &str) -> bool {
    match d {
        Dialect::Anthropic => path == "/v1/messages",
        Dialect::Gemini => {
            path.ends_with(":generateContent") || path.ends_with(":streamGenerateContent")
        }
        Dialect::Responses => path == "/v1/responses",
    }
}

async fn record(state: &DialectState, req: Request) -> Recorded {
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
    state.requests.lock().unwrap().push(r.clone());
    r
}

fn next_reply(state: &DialectState, r: &Recorded) -> Reply {
    let queued = state.queue.lock().unwrap().pop_front();
    queued
        .or_else(|| {
            let text = String::from_utf8_lossy(&r.body);
            state
                .rules
                .lock()
                .unwrap()
                .iter()
                .find(|(m, _)| text.contains(m.as_str()))
                .map(|(_, reply)| reply.clone())
        })
        .unwrap_or_else(|| state.default.lock().unwrap().clone())
}

fn header<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The key the request authenticates with, per dialect.
fn presented_key(d: Dialect, r: &Recorded) -> Option<String> {
    match d {
        Dialect::Anthropic => header(r, "x-api-key").map(str::to_owned),
        Dialect::Gemini => header(r, "x-goog-api-key").map(str::to_owned).or_else(|| {
            r.query.as_deref().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("key=").map(str::to_owned))
            })
        }),
        Dialect::Responses => header(r, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned),
    }
}

/// A 401 when a key is required and the request does not carry it.
fn auth_failure(state: &DialectState, r: &Recorded) -> Option<Response> {
    let want = state.required_key.lock().unwrap().clone()?;
    if presented_key(state.dialect, r).as_deref() == Some(want.as_str()) {
        return None;
    }
    Some(error_response(state.dialect, 401, "invalid api key"))
}

/// The dialect's error body for `status`.
pub fn error_body(d: Dialect, status: u16, message: &str) -> Value {
    match d {
        Dialect::Anthropic => {
            let kind = match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                402 => "billing_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                504 => "timeout_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock_0001"})
        }
        Dialect::Gemini => {
            let s = match status {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                499 => "CANCELLED",
                503 => "UNAVAILABLE",
                504 => "DEADLINE_EXCEEDED",
                _ => "INTERNAL",
            };
            json!({"error": {"code": status, "message": message, "status": s}})
        }
        Dialect::Responses => {
            let (kind, code) = match status {
                401 => ("invalid_request_error", json!("invalid_api_key")),
                404 => ("invalid_request_error", json!("model_not_found")),
                429 => ("rate_limit_error", json!("rate_limit_exceeded")),
                s if s >= 500 => ("server_error", Value::Null),
                _ => ("invalid_request_error", Value::Null),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
    }
}

fn error_response(d: Dialect, status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, axum::Json(error_body(d, status, message))).into_response();
    if status == 429 {
        resp.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    resp
}

/// One SSE event: an optional `event:` name and the JSON `data:`.
struct SseEvent {
    name: Option<String>,
    data: Value,
}

/// Splits text into a few deltas (word-wise, keeping spaces) so streams have several.
fn pieces(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for ch in s.chars() {
        cur.push(ch);
        if ch == ' ' {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits serialized JSON into chunks of at most 7 bytes (on char boundaries), as upstreams
/// stream partial tool arguments.
fn json_pieces(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for ch in s.chars() {
        cur.push(ch);
        if cur.len() >= 7 {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Applies a reply's outcome to its full event list: `BreakAfter(n)` keeps `n` events and
/// marks the stream broken; `FailAfter(n, msg)` keeps `n` and appends the dialect's error
/// event. Returns the events and whether the connection must drop after them.
fn shape_stream(d: Dialect, mut events: Vec<SseEvent>, reply: &Reply) -> (Vec<SseEvent>, bool) {
    match &reply.outcome {
        Outcome::BreakAfter(n) => {
            events.truncate(*n);
            (events, true)
        }
        Outcome::FailAfter(n, msg) => {
            events.truncate(*n);
            let e = match d {
                Dialect::Anthropic => SseEvent {
                    name: Some("error".into()),
                    data: error_body(d, 529, msg),
                },
                Dialect::Gemini => SseEvent {
                    name: None,
                    data: error_body(d, 503, msg),
                },
                Dialect::Responses => {
                    let mut r = responses_object("mock-model", "failed", vec![], Value::Null);
                    r["error"] = json!({"code": "server_error", "message": msg});
                    SseEvent {
                        name: Some("response.failed".into()),
                        data: json!({"type": "response.failed", "response": r, "sequence_number": *n}),
                    }
                }
            };
            events.push(e);
            (events, false)
        }
        Outcome::Complete | Outcome::Error(..) => (events, false),
    }
}

/// Writes events as an SSE body (`event:` lines when named; `sep` ends each event). When
/// `broken`, the connection drops after the last event instead of ending cleanly.
fn sse_response(events: Vec<SseEvent>, sep: &'static str, broken: bool) -> Response {
    let mut frames: Vec<Bytes> = vec![];
    for e in events {
        let mut s = String::new();
        if let Some(n) = e.name {
            s.push_str("event: ");
            s.push_str(&n);
            s.push_str(if sep == "\r\n\r\n" { "\r\n" } else { "\n" });
        }
        s.push_str("data: ");
        s.push_str(&e.data.to_string());
        s.push_str(sep);
        frames.push(Bytes::from(s));
    }
    let stream = futures::stream::unfold(
        (frames.into_iter(), broken, false),
        |(mut it, broken, done)| async move {
            if done {
                return None;
            }
            match it.next() {
                Some(b) => Some((Ok::<Bytes, std::io::Error>(b), (it, broken, false))),
                None if broken => {
                    // Let the frames already written reach the client, then reset.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((
                        Err(std::io::Error::other("connection reset")),
                        (it, broken, true),
                    ))
                }
                None => None,
            }
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// A JSON response whose body breaks before any byte (non-stream `break_after`).
fn broken_body() -> Response {
    let stream = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err::<Bytes, std::io::Error>(std::io::Error::other("connection reset"))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// What every generation handler does first: record, check auth, pick the reply, answer
/// errors. `Ok` carries the request and the reply to render.
async fn begin(state: &DialectState, req: Request) -> Result<(Recorded, Reply), Response> {
    let r = record(state, req).await;
    if let Some(resp) = auth_failure(state, &r) {
        return Err(resp);
    }
    let reply = next_reply(state, &r);
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    if let Outcome::Error(status, msg) = &reply.outcome {
        return Err(error_response(state.dialect, *status, msg));
    }
    Ok((r, reply))
}

/// The answer to a non-stream request whose reply does not complete: a broken body, or
/// the dialect's overloaded error. `None` when the reply completes.
fn non_stream_failure(d: Dialect, reply: &Reply) -> Option<Response> {
    match &reply.outcome {
        Outcome::BreakAfter(_) => Some(broken_body()),
        Outcome::FailAfter(_, msg) => {
            let status = match d {
                Dialect::Anthropic => 529,
                Dialect::Gemini => 503,
                Dialect::Responses => 500,
            };
            Some(error_response(d, status, msg))
        }
        Outcome::Complete | Outcome::Error(..) => None,
    }
}

// ---------------------------------------------------------------------------------------
// Anthropic Messages
// ---------------------------------------------------------------------------------------

fn anthropic_blocks(reply: &Reply) -> Vec<Value> {
    let mut blocks = vec![];
    if let Some(t) = &reply.thinking {
        blocks.push(json!({"type": "thinking", "thinking": t, "signature": MOCK_SIGNATURE}));
    }
    if let Some(t) = &reply.text {
        blocks.push(json!({"type": "text", "text": t}));
    }
    if let Some((name, args)) = &reply.tool_call {
        blocks.push(
            json!({"type": "tool_use", "id": "toolu_mock_0001", "name": name, "input": args}),
        );
    }
    blocks
}

fn anthropic_stop_reason(reply: &Reply) -> &'static str {
    if reply.tool_call.is_some() {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn anthropic_usage(u: &MockUsage) -> Value {
    json!({"input_tokens": u.input, "output_tokens": u.output,
           "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cache_read,
           "cache_creation": {"ephemeral_5m_input_tokens": u.cache_write, "ephemeral_1h_input_tokens": 0},
           "service_tier": "standard"})
}

fn anthropic_message(model: &str, content: Vec<Value>, stop: Option<&str>, usage: Value) -> Value {
    json!({"id": "msg_mock_0001", "type": "message", "role": "assistant", "model": model,
           "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage})
}

fn ev(name: &str, data: Value) -> SseEvent {
    SseEvent {
        name: Some(name.into()),
        data,
    }
}

/// The full Anthropic event sequence for a reply: `message_start` (usage with
/// `output_tokens: 1`), `ping`, per block `content_block_start` / `_delta`… / `_stop` with
/// its index (thinking: `thinking_delta`s then one `signature_delta`; text: `text_delta`s;
/// tool_use: `input_json_delta`s of the serialized input), `message_delta` (stop reason,
/// cumulative usage), `message_stop`.
fn anthropic_events(model: &str, reply: &Reply, u: &MockUsage) -> Vec<SseEvent> {
    let mut start_usage = anthropic_usage(u);
    start_usage["output_tokens"] = json!(1);
    let mut out = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": anthropic_message(model, vec![], None, start_usage)}),
        ),
        ev("ping", json!({"type": "ping"})),
    ];
    let mut index = 0;
    if let Some(t) = &reply.thinking {
        out.push(ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ));
        for p in pieces(t) {
            out.push(ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "thinking_delta", "thinking": p}}),
            ));
        }
        out.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "signature_delta", "signature": MOCK_SIGNATURE}}),
        ));
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    if let Some(t) = &reply.text {
        out.push(ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "text", "text": ""}}),
        ));
        for p in pieces(t) {
            out.push(ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": p}}),
            ));
        }
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    if let Some((name, args)) = &reply.tool_call {
        out.push(ev("content_block_start", json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": "toolu_mock_0001", "name": name, "input": {}}})));
        for p in json_pieces(&args.to_string()) {
            out.push(ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": p}}),
            ));
        }
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    out.push(ev("message_delta", json!({"type": "message_delta",
        "delta": {"stop_reason": anthropic_stop_reason(reply), "stop_sequence": null},
        "usage": {"input_tokens": u.input, "output_tokens": u.output,
                  "cache_creation_input_tokens": u.cache_write, "cache_read_input_tokens": u.cache_read}})));
    out.push(ev("message_stop", json!({"type": "message_stop"})));
    out
}

async fn anthropic_messages(State(state): State<Arc<DialectState>>, req: Request) -> Response {
    let (r, reply) = match begin(&state, req).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let body = r.json();
    let model = body["model"].as_str().unwrap_or("mock-model").to_owned();
    let u = *state.usage.lock().unwrap();
    if body["stream"].as_bool().unwrap_or(false) {
        let (events, broken) = shape_stream(
            Dialect::Anthropic,
            anthropic_events(&model, &reply, &u),
            &reply,
        );
        return sse_response(events, "\n\n", broken);
    }
    if let Some(resp) = non_stream_failure(Dialect::Anthropic, &reply) {
        return resp;
    }
    let msg = anthropic_message(
        &model,
        anthropic_blocks(&reply),
        Some(anthropic_stop_reason(&reply)),
        anthropic_usage(&u),
    );
    axum::Json(msg).into_response()
}

async fn anthropic_count_tokens(State(state): State<Arc<DialectState>>, req: Request) -> Response {
    let r = record(&state, req).await;
    if let Some(resp) = auth_failure(&state, &r) {
        return resp;
    }
    let n = *state.count_tokens.lock().unwrap();
    axum::Json(json!({"input_tokens": n})).into_response()
}

async fn anthropic_models(State(state): State<Arc<DialectState>>, req: Request) -> Response {
    let r = record(&state, req).await;
    if let Some(resp) = auth_failure(&state, &r) {
        return resp;
    }
    let models = state.models.lock().unwrap().clone();
    let data: Vec<Value> = models
        .iter()
        .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}))
        .collect();
    axum::Json(json!({"data": data, "has_more": false,
        "first_id": models.first(), "last_id": models.last()}))
    .into_response()
}

// ---------------------------------------------------------------------------------------
// Gemini
// ---------------------------------------------------------------------------------------

fn gemini_usage(u: &MockUsage, complete: bool) -> Value {
    let prompt = u.prompt_total();
    if !complete {
        return json!({"promptTokenCount": prompt, "totalTokenCount": prompt});
    }
    let candidates = u.output.saturating_sub(u.reasoning);
    json!({"promptTokenCount": prompt, "candidatesTokenCount": candidates,
           "cachedContentTokenCount": u.cache_read, "thoughtsTokenCount": u.reasoning,
           "totalTokenCount": prompt + candidates + u.reasoning,
           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]})
}

/// Parts of a reply: a `thought: true` part, then text, then a `functionCall`; the first
/// non-thought part carries `thoughtSignature` when there was thinking.
fn gemini_parts(reply: &Reply) -> Vec<Value> {
    let mut parts = vec![];
    if let Some(t) = &reply.thinking {
        parts.push(json!({"text": t, "thought": true}));
    }
    if let Some(t) = &reply.text {
        parts.push(json!({"text": t}));
    }
    if let Some((name, args)) = &reply.tool_call {
        parts.push(json!({"functionCall": {"name": name, "args": args}}));
    }
    if reply.thinking.is_some()
        && let Some(p) = parts.iter_mut().find(|p| p.get("thought").is_none())
    {
        p["thoughtSignature"] = json!(MOCK_SIGNATURE);
    }
    parts
}

fn gemini_chunk(model: &str, parts: Vec<Value>, finish: Option<&str>, usage: Value) -> Value {
    let mut cand = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        cand["finishReason"] = json!(f);
    }
    json!({"candidates": [cand], "usageMetadata": usage, "modelVersion": model,
           "responseId": "mock-response-0001"})
}

/// Stream chunks: one per thought piece, one per text piece (the first carries the
/// signature), one with the `functionCall`, and a last chunk with `finishReason: STOP`
/// and the full `usageMetadata` (earlier chunks carry only the prompt count).
fn gemini_events(model: &str, reply: &Reply, u: &MockUsage) -> Vec<SseEvent> {
    let mut out = vec![];
    let mut signature_pending = reply.thinking.is_some();
    let data = |v: Value| SseEvent {
        name: None,
        data: v,
    };
    if let Some(t) = &reply.thinking {
        for p in pieces(t) {
            out.push(data(gemini_chunk(
                model,
                vec![json!({"text": p, "thought": true})],
                None,
                gemini_usage(u, false),
            )));
        }
    }
    if let Some(t) = &reply.text {
        for p in pieces(t) {
            let mut part = json!({"text": p});
            if signature_pending {
                part["thoughtSignature"] = json!(MOCK_SIGNATURE);
                signature_pending = false;
            }
            out.push(data(gemini_chunk(
                model,
                vec![part],
                None,
                gemini_usage(u, false),
            )));
        }
    }
    if let Some((name, args)) = &reply.tool_call {
        let mut part = json!({"functionCall": {"name": name, "args": args}});
        if signature_pending {
            part["thoughtSignature"] = json!(MOCK_SIGNATURE);
        }
        out.push(data(gemini_chunk(
            model,
            vec![part],
            None,
            gemini_usage(u, false),
        )));
    }
    out.push(data(gemini_chunk(
        model,
        vec![json!({"text": ""})],
        Some("STOP"),
        gemini_usage(u, true),
    )));
    out
}

async fn gemini_model_call(State(state): State<Arc<DialectState>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let tail = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))
        .unwrap_or_default()
        .to_owned();
    let (model, method) = match tail.split_once(':') {
        Some((m, a)) => (m.to_owned(), a.to_owned()),
        None => (tail.clone(), String::new()),
    };
    match method.as_str() {
        "generateContent" | "streamGenerateContent" => {}
        "countTokens" => {
            let r = record(&state, req).await;
            if let Some(resp) = auth_failure(&state, &r) {
                return resp;
            }
            let n = *state.count_tokens.lock().unwrap();
            return axum::Json(json!({"totalTokens": n})).into_response();
        }
        "" if req.method() == axum::http::Method::GET => {
            let r = record(&state, req).await;
            if let Some(resp) = auth_failure(&state, &r) {
                return resp;
            }
            return axum::Json(gemini_model_info(&model)).into_response();
        }
        _ => {
            let _ = record(&state, req).await;
            return error_response(Dialect::Gemini, 404, &format!("unknown method {method}"));
        }
    }
    let stream = method == "streamGenerateContent";
    let (_r, reply) = match begin(&state, req).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let u = *state.usage.lock().unwrap();
    if stream {
        let (events, broken) =
            shape_stream(Dialect::Gemini, gemini_events(&model, &reply, &u), &reply);
        return sse_response(events, "\r\n\r\n", broken);
    }
    if let Some(resp) = non_stream_failure(Dialect::Gemini, &reply) {
        return resp;
    }
    axum::Json(gemini_chunk(
        &model,
        gemini_parts(&reply),
        Some("STOP"),
        gemini_usage(&u, true),
    ))
    .into_response()
}

fn gemini_model_info(m: &str) -> Value {
    json!({"name": format!("models/{m}"), "version": "001", "displayName": m,
           "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
           "supportedGenerationMethods": ["generateContent", "countTokens"], "thinking": true})
}

async fn gemini_models(State(state): State<Arc<DialectState>>, req: Request) -> Response {
    let r = record(&state, req).await;
    if let Some(resp) = auth_failure(&state, &r) {
        return resp;
    }
    let models: Vec<Value> = state
        .models
        .lock()
        .unwrap()
        .iter()
        .map(|m| gemini_model_info(m))
        .collect();
    axum::Json(json!({"models": models})).into_response()
}

// ---------------------------------------------------------------------------------------
// OpenAI Responses
// ---------------------------------------------------------------------------------------

fn responses_usage(u: &MockUsage) -> Value {
    json!({"input_tokens": u.prompt_total(),
           "input_tokens_details": {"cached_tokens": u.cache_read, "cache_write_tokens": u.cache_write},
           "output_tokens": u.output, "output_tokens_details": {"reasoning_tokens": u.reasoning},
           "total_tokens": u.prompt_total() + u.output})
}

fn responses_object(model: &str, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({"id": "resp_mock_0001", "object": "response", "created_at": 1_700_000_000,
           "status": status, "model": model, "output": output, "error": null,
           "incomplete_details": null, "instructions": null, "metadata": {},
           "parallel_tool_calls": true, "temperature": 1.0, "top_p": 1.0,
           "tool_choice": "auto", "tools": [], "text": {"format": {"type": "text"}},
           "reasoning": {"effort": null, "summary": null}, "usage": usage})
}

fn reasoning_item(t: &str, done: bool) -> Value {
    let summary = if done {
        json!([{"type": "summary_text", "text": t}])
    } else {
        json!([])
    };
    json!({"id": "rs_mock_0001", "type": "reasoning", "summary": summary,
           "encrypted_content": format!("enc-{MOCK_SIGNATURE}")})
}

fn message_item(t: &str, done: bool) -> Value {
    let (status, content) = if done {
        (
            "completed",
            json!([{"type": "output_text", "text": t, "annotations": [], "logprobs": []}]),
        )
    } else {
        ("in_progress", json!([]))
    };
    json!({"id": "msg_mock_0001", "type": "message", "role": "assistant", "status": status, "content": content})
}

fn function_item(name: &str, args: &str, done: bool) -> Value {
    json!({"id": "fc_mock_0001", "type": "function_call", "call_id": "call_mock_0001", "name": name,
           "arguments": if done { args } else { "" }, "status": if done { "completed" } else { "in_progress" }})
}

fn responses_output(reply: &Reply) -> Vec<Value> {
    let mut out = vec![];
    if let Some(t) = &reply.thinking {
        out.push(reasoning_item(t, true));
    }
    if let Some(t) = &reply.text {
        out.push(message_item(t, true));
    }
    if let Some((name, args)) = &reply.tool_call {
        out.push(function_item(name, &args.to_string(), true));
    }
    out
}

/// The Responses event sequence, each event with `type` (also as the SSE `event:` name)
/// and an increasing `sequence_number`: `response.created`, `response.in_progress`; a
/// reasoning item (`output_item.added`, `reasoning_summary_part.added`,
/// `reasoning_summary_text.delta`…, `.done`, `reasoning_summary_part.done`,
/// `output_item.done`); a message item (`output_item.added`, `content_part.added`,
/// `output_text.delta`…, `output_text.done`, `content_part.done`, `output_item.done`); a
/// function call item (`output_item.added`, `function_call_arguments.delta`…, `.done`,
/// `output_item.done`); `response.completed` with the full response and `usage`.
fn responses_events(model: &str, reply: &Reply, u: &MockUsage) -> Vec<SseEvent> {
    let mut raw: Vec<Value> = vec![
        json!({"type": "response.created", "response": responses_object(model, "in_progress", vec![], Value::Null)}),
        json!({"type": "response.in_progress", "response": responses_object(model, "in_progress", vec![], Value::Null)}),
    ];
    let mut oi = 0;
    if let Some(t) = &reply.thinking {
        let id = "rs_mock_0001";
        raw.push(json!({"type": "response.output_item.added", "output_index": oi, "item": reasoning_item(t, false)}));
        raw.push(json!({"type": "response.reasoning_summary_part.added", "item_id": id, "output_index": oi,
                        "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
        for p in pieces(t) {
            raw.push(json!({"type": "response.reasoning_summary_text.delta", "item_id": id, "output_index": oi,
                            "summary_index": 0, "delta": p}));
        }
        raw.push(json!({"type": "response.reasoning_summary_text.done", "item_id": id, "output_index": oi,
                        "summary_index": 0, "text": t}));
        raw.push(json!({"type": "response.reasoning_summary_part.done", "item_id": id, "output_index": oi,
                        "summary_index": 0, "part": {"type": "summary_text", "text": t}}));
        raw.push(json!({"type": "response.output_item.done", "output_index": oi, "item": reasoning_item(t, true)}));
        oi += 1;
    }
    if let Some(t) = &reply.text {
        let id = "msg_mock_0001";
        raw.push(json!({"type": "response.output_item.added", "output_index": oi, "item": message_item(t, false)}));
        raw.push(json!({"type": "response.content_part.added", "item_id": id, "output_index": oi, "content_index": 0,
                        "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}));
        for p in pieces(t) {
            raw.push(
                json!({"type": "response.output_text.delta", "item_id": id, "output_index": oi,
                            "content_index": 0, "delta": p, "logprobs": []}),
            );
        }
        raw.push(
            json!({"type": "response.output_text.done", "item_id": id, "output_index": oi,
                        "content_index": 0, "text": t, "logprobs": []}),
        );
        raw.push(json!({"type": "response.content_part.done", "item_id": id, "output_index": oi, "content_index": 0,
                        "part": {"type": "output_text", "text": t, "annotations": [], "logprobs": []}}));
        raw.push(json!({"type": "response.output_item.done", "output_index": oi, "item": message_item(t, true)}));
        oi += 1;
    }
    if let Some((name, args)) = &reply.tool_call {
        let id = "fc_mock_0001";
        let a = args.to_string();
        raw.push(json!({"type": "response.output_item.added", "output_index": oi, "item": function_item(name, &a, false)}));
        for p in json_pieces(&a) {
            raw.push(
                json!({"type": "response.function_call_arguments.delta", "item_id": id,
                            "output_index": oi, "delta": p}),
            );
        }
        raw.push(json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": oi,
                        "name": name, "arguments": a}));
        raw.push(json!({"type": "response.output_item.done", "output_index": oi, "item": function_item(name, &a, true)}));
    }
    raw.push(json!({"type": "response.completed",
                    "response": responses_object(model, "completed", responses_output(reply), responses_usage(u))}));
    raw.into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            v["sequence_number"] = json!(i);
            SseEvent {
                name: v["type"].as_str().map(str::to_owned),
                data: v,
            }
        })
        .collect()
}

async fn responses(State(state): State<Arc<DialectState>>, req: Request) -> Response {
    let (r, reply) = match begin(&state, req).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let body = r.json();
    let model = body["model"].as_str().unwrap_or("mock-model").to_owned();
    let u = *state.usage.lock().unwrap();
    if body["stream"].as_bool().unwrap_or(false) {
        let (events, broken) = shape_stream(
            Dialect::Responses,
            responses_events(&model, &reply, &u),
            &reply,
        );
        return sse_response(events, "\n\n", broken);
    }
    if let Some(resp) = non_stream_failure(Dialect::Responses, &reply) {
        return resp;
    }
    axum::Json(responses_object(
        &model,
        "completed",
        responses_output(&reply),
        responses_usage(&u),
    ))
    .into_response()
}

async fn openai_models(State(state): State<Arc<DialectState>>, req: Request) -> Response {
    let r = record(&state, req).await;
    if let Some(resp) = auth_failure(&state, &r) {
        return resp;
    }
    let data: Vec<Value> = state
        .models
        .lock()
        .unwrap()
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "mock"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// Any other path: recorded (so a test can see what a client or the gateway tried), then a
/// 404 in the dialect's error shape.
async fn unknown_path(State(state): State<Arc<DialectState>>, req: Request) -> Response {
    let r = record(&state, req).await;
    error_response(
        state.dialect,
        404,
        &format!("no route for {} {}", r.method, r.path),
    )
}

/// Parses an SSE body into `(event name, data JSON)` pairs; accepts `\n` and `\r\n` line
/// ends. Lines that are not JSON (e.g. `[DONE]`) come back as `Value::String`.
pub fn parse_sse(body: &str) -> Vec<(Option<String>, Value)> {
    let norm = body.replace("\r\n", "\n");
    norm.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            let v = serde_json::from_str(&data).unwrap_or(Value::String(data));
            (name, v)
        })
        .collect()
}
