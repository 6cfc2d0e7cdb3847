//! Dispatch: send a decoded request to its candidates in order, failing over on retryable
//! failures, and settle it (usage, cost, request log) exactly once.

use bytes::Bytes;
use modelgate_formats::openai::{Usage, is_openai_error, usage_of_body};
use modelgate_formats::raw::RawObject;
use modelgate_providers::UpstreamFailure;
use modelgate_providers::failure::parse_retry_after;
use modelgate_store::RequestLogRecord;
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalogue::UpstreamKey;
use crate::error::GatewayError;
use crate::gateway::{Auth, Gateway};
use crate::pricing::Pricing;
use crate::relay::{self, ClientStream};
use crate::request_log::RequestLogger;
use crate::resolve::Candidate;

/// The OpenAI endpoints the gateway understands (others are passed through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Embeddings,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Embeddings => "embeddings",
        }
    }

    pub fn dialect(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "openai_chat",
            Endpoint::Embeddings => "openai_embeddings",
        }
    }
}

/// A decoded data-plane request.
pub struct Call {
    pub request_id: String,
    pub endpoint: Endpoint,
    pub body: RawObject,
    /// The raw body as received (kept only when bodies are logged).
    pub raw_body: Option<Bytes>,
    pub model: String,
    pub stream: bool,
    /// Whether `stream: true` must be added (streaming asked for by `Accept` only).
    pub force_stream_field: bool,
    pub auth: Auth,
    pub started: Instant,
    /// Sticky-session id, if the client sent one.
    pub session: Option<String>,
}

/// What goes back to the client.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: ReplyBody,
}

pub enum ReplyBody {
    Full(Bytes),
    Stream(ClientStream),
}

impl Reply {
    /// An OpenAI-shaped error reply.
    pub fn error(e: &GatewayError) -> Self {
        Reply {
            status: e.status(),
            content_type: "application/json".into(),
            headers: vec![],
            body: ReplyBody::Full(Bytes::from(e.body().to_string())),
        }
    }
}

/// One attempt, as recorded in the request log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub provider: String,
    pub key: String,
    pub upstream_model: String,
    pub outcome: String,
    pub latency_ms: f64,
}

/// Settles a request once: computes cost, fills and queues its log record.
pub struct Settle {
    logger: Option<RequestLogger>,
    record: RequestLogRecord,
    started: Instant,
    pricing: Option<Pricing>,
    log_bodies: bool,
}

impl Settle {
    pub fn new(
        logger: RequestLogger,
        record: RequestLogRecord,
        started: Instant,
        log_bodies: bool,
    ) -> Self {
        Self {
            logger: Some(logger),
            record,
            started,
            pricing: None,
            log_bodies,
        }
    }

    /// A settle that records nothing.
    pub fn detached() -> Self {
        Self {
            logger: None,
            record: RequestLogRecord::default(),
            started: Instant::now(),
            pricing: None,
            log_bodies: false,
        }
    }

    fn set_route(&mut self, cand: &Candidate, attempts: &[Attempt]) {
        self.record.provider = Some(cand.provider.name.clone());
        self.record.provider_model = Some(cand.upstream_model.clone());
        self.pricing = cand.model.as_ref().map(|m| m.pricing.clone());
        self.set_attempts(attempts);
    }

    fn set_attempts(&mut self, attempts: &[Attempt]) {
        self.record.attempts = attempts.len() as i64;
        self.record.attempt_log = serde_json::to_string(attempts).ok();
    }

    fn set_response_body(&mut self, body: &[u8]) {
        if self.log_bodies {
            self.record.response_body = Some(truncate_utf8(body, BODY_LOG_LIMIT));
        }
    }

    /// Completes the record and queues it.
    pub fn finish(
        mut self,
        status: u16,
        usage: Option<Usage>,
        error: Option<String>,
        first_content_at: Option<Instant>,
    ) {
        let Some(logger) = self.logger.take() else {
            return;
        };
        let r = &mut self.record;
        r.status = i64::from(status);
        r.latency_ms = ms(self.started.elapsed());
        r.ttft_ms = first_content_at.map(|t| ms(t.saturating_duration_since(self.started)));
        r.error = error;
        if let Some(u) = usage {
            r.prompt_tokens = u.prompt_tokens as i64;
            r.completion_tokens = u.completion_tokens as i64;
            r.cached_tokens = u.cached_tokens() as i64;
            r.reasoning_tokens = u.reasoning_tokens() as i64;
            r.total_tokens = u.total() as i64;
            let cost = self.pricing.as_ref().map_or(Decimal::ZERO, |p| p.cost(&u));
            r.cost = Some(cost.to_string());
        }
        let rec = std::mem::take(r);
        report(&rec);
        logger.log(rec);
    }
}

/// The request's log line and Prometheus metrics. Labels are bounded: endpoint, provider (an
/// admin-made name) and status — never the client-chosen model name.
fn report(r: &RequestLogRecord) {
    let provider = r.provider.clone().unwrap_or_default();
    let status = r.status.to_string();
    metrics::counter!("modelgate_requests_total", "endpoint" => r.endpoint.clone(), "provider" => provider.clone(), "status" => status).increment(1);
    metrics::histogram!("modelgate_request_duration_seconds", "endpoint" => r.endpoint.clone(), "provider" => provider.clone()).record(r.latency_ms / 1000.0);
    if r.attempts > 1 {
        metrics::counter!("modelgate_failovers_total", "provider" => provider.clone())
            .increment((r.attempts - 1) as u64);
    }
    if r.total_tokens > 0 {
        metrics::counter!("modelgate_tokens_total", "provider" => provider.clone(), "kind" => "prompt").increment(r.prompt_tokens.max(0) as u64);
        metrics::counter!("modelgate_tokens_total", "provider" => provider, "kind" => "completion")
            .increment(r.completion_tokens.max(0) as u64);
    }
    tracing::info!(
        target: "modelgate::request",
        request_id = %r.request_id,
        key_id = r.key_id.as_deref().unwrap_or(""),
        endpoint = %r.endpoint,
        model = r.requested_model.as_deref().unwrap_or(""),
        provider = r.provider.as_deref().unwrap_or(""),
        status = r.status,
        attempts = r.attempts,
        latency_ms = r.latency_ms,
        total_tokens = r.total_tokens,
        error = r.error.as_deref().unwrap_or(""),
        "request"
    );
}

/// Bodies kept in the request log are cut at this size.
pub const BODY_LOG_LIMIT: usize = 64 * 1024;

pub(crate) fn truncate_utf8(b: &[u8], limit: usize) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(limit)]).into_owned();
    if b.len() > limit {
        format!("{s}…[truncated]")
    } else {
        s
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What an attempt's failure means for the next try.
enum Next {
    /// Try another key of the same provider (the key itself was refused or rate limited).
    OtherKey,
    /// Try the next candidate.
    OtherUpstream,
    /// Give up and return this failure to the client.
    Stop,
}

fn next_after(f: &UpstreamFailure, retryable: &[u16]) -> Next {
    match f {
        UpstreamFailure::Status {
            status: 401 | 403 | 429,
            ..
        } => Next::OtherKey,
        f if f.is_retryable(retryable) => Next::OtherUpstream,
        _ => Next::Stop,
    }
}

/// The reply for a failure that ends the request.
pub fn failure_reply(f: &UpstreamFailure) -> Reply {
    match f {
        UpstreamFailure::Status { status, body, .. } => {
            let body = if is_openai_error(body) {
                body.clone()
            } else {
                let text = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
                let e = serde_json::json!({"error": {
                    "message": format!("upstream returned {status}: {text}"),
                    "type": "upstream_error", "param": null, "code": "upstream_error"}});
                Bytes::from(e.to_string())
            };
            Reply {
                status: *status,
                content_type: "application/json".into(),
                headers: vec![],
                body: ReplyBody::Full(body),
            }
        }
        other => Reply::error(&GatewayError::Upstream(other.clone())),
    }
}

static TRUE: &str = "true";

impl Gateway {
    /// Runs a decoded request through resolution, dispatch with failover, and settle.
    pub async fn dispatch(self: &Arc<Self>, call: Call) -> Reply {
        let mut record = RequestLogRecord {
            id: modelgate_store::new_id(),
            ts_ms: modelgate_store::now_ms(),
            request_id: call.request_id.clone(),
            key_id: call.auth.key_id(),
            tenant_id: call.auth.tenant_id(),
            dialect: call.endpoint.dialect().into(),
            endpoint: format!("/v1/{}", call.endpoint.path()),
            requested_model: Some(call.model.clone()),
            stream: call.stream,
            ..Default::default()
        };
        if self.settings.log_bodies
            && let Some(b) = &call.raw_body
        {
            record.request_body = Some(truncate_utf8(b, BODY_LOG_LIMIT));
        }
        let mut settle = Settle::new(
            self.logger.clone(),
            record,
            call.started,
            self.settings.log_bodies,
        );

        let route = match self.route(&call.model, &call.auth, true).await {
            Ok(r) => r,
            Err(e) => {
                settle.finish(e.status(), None, Some(e.to_string()), None);
                return Reply::error(&e);
            }
        };
        let plan = self.plan(&route, call.session.as_deref(), true);

        let hs = &self.health.settings;
        let deadline = call.started + self.settings.total_timeout;
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut upstream_wait = Duration::ZERO;
        let mut last: Option<UpstreamFailure> = None;
        let mut skipped_open = 0usize;
        let stream_options = self.stream_options_override(&call);

        'candidates: for planned in &plan {
            let cand = &planned.candidate;
            let keys: Vec<KeyUse<'_>> = match &call.auth {
                Auth::Passthrough(k) => vec![KeyUse {
                    id: "client",
                    alias: "client",
                    secret: k,
                    max_qps: None,
                    max_rpm: None,
                }],
                Auth::Key(_) => cand
                    .provider
                    .keys_in_order()
                    .into_iter()
                    .map(KeyUse::from)
                    .collect(),
            };
            if keys.is_empty() {
                continue;
            }
            let stats = &planned.stats;
            if !stats.admits(hs) {
                skipped_open += 1;
                continue;
            }
            let _trial = crate::health::TrialRelease(stats.clone());
            let mut tried_here = false;
            for key in keys {
                if attempts.len() >= self.settings.max_attempts || Instant::now() >= deadline {
                    if !tried_here {
                        stats.release_trial();
                    }
                    break 'candidates;
                }
                let key_state = self.health.key(key.id, key.secret);
                if !key_state.try_acquire(key.max_qps, key.max_rpm) {
                    continue;
                }
                tried_here = true;
                let body = match self.encode_body(&call, cand, stream_options.as_deref()) {
                    Ok(b) => b,
                    Err(e) => {
                        stats.release_trial();
                        let e = GatewayError::bad_request(
                            format!("cannot encode the request: {e}"),
                            None,
                        );
                        settle.finish(400, None, Some(e.to_string()), None);
                        return Reply::error(&e);
                    }
                };
                let in_flight = stats.start();
                let t0 = Instant::now();
                let sent = self
                    .send(
                        cand,
                        call.endpoint.path(),
                        key.secret,
                        body,
                        call.stream,
                        deadline,
                    )
                    .await;
                let outcome: Result<(), UpstreamFailure> = match sent {
                    Ok(resp) if !call.stream => {
                        // The whole attempt (headers and body) gets the provider's timeout.
                        let timeout = (t0 + cand.provider.timeout)
                            .min(deadline)
                            .saturating_duration_since(Instant::now());
                        match tokio::time::timeout(timeout, resp.bytes()).await {
                            Ok(Ok(bytes)) => {
                                drop(in_flight);
                                upstream_wait += t0.elapsed();
                                stats.success(t0.elapsed());
                                attempts.push(attempt(cand, &key, "ok", t0));
                                settle.set_route(cand, &attempts);
                                settle.set_response_body(&bytes);
                                let usage = usage_of_body(&bytes);
                                settle.finish(200, usage, None, None);
                                self.after_success(&call, &route.resolved, cand, Some(&bytes));
                                return self.success(
                                    cand,
                                    &attempts,
                                    &call,
                                    upstream_wait,
                                    "application/json",
                                    ReplyBody::Full(bytes),
                                );
                            }
                            Ok(Err(e)) => Err(UpstreamFailure::from_reqwest(&e, timeout)),
                            Err(_) => Err(UpstreamFailure::Timeout(timeout)),
                        }
                    }
                    Ok(resp) => {
                        let strip = stream_options.is_some();
                        attempts.push(attempt(cand, &key, "ok", t0));
                        settle.set_route(cand, &attempts);
                        let extras = relay::RelayExtras {
                            in_flight: Some(in_flight),
                            stats: Some((stats.clone(), self.health.clone())),
                            capture: call.session.as_ref().map(|s| relay::Capture {
                                sessions: self.clone(),
                                session: s.clone(),
                                owner: call.auth.owner(),
                            }),
                        };
                        // The relay owns the settle from here; it hands it back on failure.
                        match relay::open_sse(resp, cand.provider.timeout, strip, settle, extras)
                            .await
                        {
                            Ok(stream) => {
                                upstream_wait += t0.elapsed();
                                stats.success(t0.elapsed());
                                self.after_success(&call, &route.resolved, cand, None);
                                return self.success(
                                    cand,
                                    &attempts,
                                    &call,
                                    upstream_wait,
                                    "text/event-stream",
                                    ReplyBody::Stream(stream),
                                );
                            }
                            Err((f, s)) => {
                                attempts.pop();
                                settle = s;
                                Err(f)
                            }
                        }
                    }
                    Err(f) => {
                        drop(in_flight);
                        Err(f)
                    }
                };
                upstream_wait += t0.elapsed();
                let Err(failure) = outcome else { continue };
                attempts.push(attempt(cand, &key, &failure.label(), t0));
                tracing::warn!(provider = %cand.provider.name, key = key.alias, outcome = %failure.label(), "upstream attempt failed");
                let next = next_after(&failure, &cand.provider.retryable_statuses);
                match &failure {
                    UpstreamFailure::Status {
                        status: 429,
                        retry_after,
                        ..
                    } => {
                        key_state.cool_down(retry_after.unwrap_or(hs.default_cooldown));
                        stats.release_trial();
                    }
                    UpstreamFailure::Status {
                        status: 401 | 403,
                        body,
                        ..
                    } => {
                        key_state.mark_invalid(format!(
                            "the upstream refused this key: {}",
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ));
                        stats.release_trial();
                    }
                    f if matches!(next, Next::OtherUpstream) => {
                        if stats.failure(&f.to_string(), t0.elapsed(), hs) {
                            tracing::warn!(provider = %cand.provider.name, upstream = %cand.upstream_model, "circuit opened");
                        }
                    }
                    _ => stats.neutral(),
                }
                last = Some(failure);
                match next {
                    Next::OtherKey => continue,
                    Next::OtherUpstream => continue 'candidates,
                    Next::Stop => break 'candidates,
                }
            }
            if !tried_here {
                stats.release_trial();
            }
        }

        let failure = match last {
            Some(f) => f,
            None => {
                let why = if skipped_open > 0 {
                    "every upstream of this model is unhealthy (circuit open); try again shortly"
                } else {
                    "no upstream key of this model is usable now (disabled, cooling down after 429, invalid, or at its rate limit)"
                };
                let e = GatewayError::Unavailable(why.into());
                settle.set_attempts(&attempts);
                settle.finish(503, None, Some(e.to_string()), None);
                let mut reply = Reply::error(&e);
                reply
                    .headers
                    .push(("x-modelgate-attempts", attempts.len().to_string()));
                return reply;
            }
        };
        if let Some(p) = plan.first() {
            settle.set_route(&p.candidate, &attempts);
        }
        settle.set_attempts(&attempts);
        let mut reply = failure_reply(&failure);
        if let UpstreamFailure::Status { body, .. } = &failure {
            settle.set_response_body(body);
        }
        settle.finish(reply.status, None, Some(failure.to_string()), None);
        reply
            .headers
            .push(("x-modelgate-attempts", attempts.len().to_string()));
        reply
    }

    /// Session bookkeeping after a successful attempt: pin (or re-pin) and store context.
    fn after_success(&self, call: &Call, resolved: &str, cand: &Candidate, body: Option<&Bytes>) {
        let Some(session) = call.session.as_deref() else {
            return;
        };
        self.sessions.served(
            session,
            resolved,
            &cand.provider.id,
            &cand.provider.name,
            &cand.upstream_model,
        );
        if call.endpoint != Endpoint::ChatCompletions {
            return;
        }
        let owner = call.auth.owner();
        let had_context = self
            .sessions
            .context(session, &owner)
            .is_some_and(|c| !c.is_empty());
        let mut msgs: Vec<(String, serde_json::Value)> = Vec::new();
        if let Some(Ok(messages)) = call.body.get_as::<Vec<serde_json::Value>>("messages") {
            let take = if had_context {
                messages.len().min(1)
            } else {
                messages.len()
            };
            for m in messages.iter().skip(messages.len() - take) {
                let role = m["role"].as_str().unwrap_or("user").to_owned();
                msgs.push((role, m["content"].clone()));
            }
        }
        if let Some(b) = body {
            #[derive(serde::Deserialize)]
            struct R {
                choices: Vec<C>,
            }
            #[derive(serde::Deserialize)]
            struct C {
                message: serde_json::Value,
            }
            if let Ok(r) = serde_json::from_slice::<R>(b)
                && let Some(c) = r.choices.first()
            {
                msgs.push(("assistant".into(), c.message["content"].clone()));
            }
        }
        self.sessions.append(session, &owner, msgs);
    }

    /// `stream_options` to send when the gateway must ask for usage itself.
    fn stream_options_override(&self, call: &Call) -> Option<Box<RawValue>> {
        if !call.stream || call.endpoint != Endpoint::ChatCompletions {
            return None;
        }
        #[derive(serde::Deserialize)]
        struct So {
            #[serde(default)]
            include_usage: Option<bool>,
        }
        let mut opts = match call.body.get("stream_options") {
            Some(raw) => {
                if let Ok(So {
                    include_usage: Some(true),
                }) = serde_json::from_str(raw.get())
                {
                    return None;
                }
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw.get())
                    .unwrap_or_default()
            }
            None => serde_json::Map::new(),
        };
        opts.insert("include_usage".into(), serde_json::Value::Bool(true));
        serde_json::value::to_raw_value(&opts).ok()
    }

    fn encode_body(
        &self,
        call: &Call,
        cand: &Candidate,
        stream_options: Option<&RawValue>,
    ) -> Result<Vec<u8>, serde_json::Error> {
        let model = serde_json::value::to_raw_value(&cand.upstream_model)?;
        let stream_true = RawValue::from_string(TRUE.into())?;
        let mut overrides: Vec<(&str, &RawValue)> = Vec::with_capacity(3);
        overrides.push(("model", &model));
        if call.force_stream_field {
            overrides.push(("stream", &stream_true));
        }
        if let Some(so) = stream_options {
            overrides.push(("stream_options", so));
        }
        let defaults: &[(String, Box<RawValue>)] = cand
            .model
            .as_ref()
            .map_or(&[], |m| m.custom_parameters.as_slice());
        call.body.to_vec_with(&overrides, defaults)
    }

    /// Sends one attempt; a non-2xx answer is returned as a failure with its body.
    pub(crate) async fn send(
        &self,
        cand: &Candidate,
        path: &str,
        key: &str,
        body: Vec<u8>,
        stream: bool,
        deadline: Instant,
    ) -> Result<reqwest::Response, UpstreamFailure> {
        let p = &cand.provider;
        let url = p
            .target
            .parsed_url(path, Some(&cand.upstream_model))
            .map_err(|e| UpstreamFailure::Connect(format!("invalid upstream URL: {e}")))?;
        let timeout = p
            .timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        // Timeouts are ours (headers here, body and stream idle in the callers), so a stream is
        // never cut by a total timeout.
        if stream {
            req = req.header(reqwest::header::ACCEPT, "text/event-stream");
        }
        let req = p.target.authorize(req, key);
        let resp = match tokio::time::timeout(timeout, req.send()).await {
            Err(_) => return Err(UpstreamFailure::Timeout(timeout)),
            Ok(Err(e)) => return Err(UpstreamFailure::from_reqwest(&e, timeout)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let retry_after = parse_retry_after(resp.headers());
        let body = match tokio::time::timeout(timeout, resp.bytes()).await {
            Ok(Ok(b)) => b,
            _ => Bytes::new(),
        };
        Err(UpstreamFailure::Status {
            status,
            body,
            retry_after,
        })
    }

    fn success(
        &self,
        cand: &Candidate,
        attempts: &[Attempt],
        call: &Call,
        upstream_wait: Duration,
        content_type: &str,
        body: ReplyBody,
    ) -> Reply {
        Reply {
            status: 200,
            content_type: content_type.into(),
            headers: route_headers(cand, attempts, call, upstream_wait),
            body,
        }
    }
}

fn route_headers(
    cand: &Candidate,
    attempts: &[Attempt],
    call: &Call,
    upstream_wait: Duration,
) -> Vec<(&'static str, String)> {
    let overhead = call.started.elapsed().saturating_sub(upstream_wait);
    vec![
        ("x-modelgate-provider", cand.provider.name.clone()),
        ("x-modelgate-attempts", attempts.len().to_string()),
        ("x-modelgate-overhead-ms", format!("{:.3}", ms(overhead))),
    ]
}

struct KeyUse<'a> {
    id: &'a str,
    alias: &'a str,
    secret: &'a str,
    max_qps: Option<i64>,
    max_rpm: Option<i64>,
}

impl<'a> From<&'a UpstreamKey> for KeyUse<'a> {
    fn from(k: &'a UpstreamKey) -> Self {
        KeyUse {
            id: &k.id,
            alias: &k.alias,
            secret: &k.secret,
            max_qps: k.max_qps,
            max_rpm: k.max_rpm,
        }
    }
}

fn attempt(cand: &Candidate, key: &KeyUse<'_>, outcome: &str, t0: Instant) -> Attempt {
    Attempt {
        provider: cand.provider.name.clone(),
        key: key.alias.to_owned(),
        upstream_model: cand.upstream_model.clone(),
        outcome: outcome.to_owned(),
        latency_ms: ms(t0.elapsed()),
    }
}
