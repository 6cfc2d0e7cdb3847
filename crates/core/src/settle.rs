//! Stage 8, settle: a request's usage → cost → request-log record, metrics and access log,
//! exactly once per request.
//!
//! A `Settle` is opened when the call is decoded and travels with it: dispatch notes the
//! attempts, respond hands it to the client stream, which finishes it when the stream ends. If
//! it is dropped unfinished (the client went away mid-request or mid-stream) it finishes itself
//! as `499 client_closed`, with the usage seen so far. Nothing here blocks: the record goes to the
//! batched writer (`request_log`).

use modelgate_formats::Dialect;
use modelgate_formats::canonical::Usage;
use modelgate_store::RequestLogRecord;
use rust_decimal::Decimal;
use std::time::{Duration, Instant};

use crate::call::Call;
use crate::ledger::{Ledger, Reservation};
use crate::pricing::Pricing;
use crate::request_log::RequestLogger;

/// Most delivered text kept to count the tokens of a stream the client abandoned.
const DELIVERED_LIMIT: usize = 1024 * 1024;

/// Bodies kept in the request log are cut at this size.
pub const BODY_LOG_LIMIT: usize = 64 * 1024;

/// One attempt, as recorded in the request log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub provider: String,
    pub key: String,
    pub upstream_model: String,
    pub outcome: String,
    pub latency_ms: f64,
}

/// Where a request went, for its record.
pub struct RouteNote<'a> {
    pub provider: &'a str,
    pub upstream_model: &'a str,
    pub upstream_dialect: Option<Dialect>,
    pub pricing: Option<&'a Pricing>,
}

/// Settles a request once.
pub struct Settle {
    logger: Option<RequestLogger>,
    /// Boxed, like the reservation: a `Settle` is moved from stage to stage (it was 1.6 KB,
    /// copied ~17 times per request), and the box goes to the request-log queue as it is.
    /// `None` once queued (and for a detached settle, which records nothing).
    record: Option<Box<RequestLogRecord>>,
    started: Instant,
    pricing: Option<Pricing>,
    log_bodies: bool,
    notes: Vec<String>,
    /// Usage seen so far (streams), billed if the client goes away.
    pub usage: Option<Usage>,
    pub first_content_at: Option<Instant>,
    /// What admission and dispatch reserved, with the ledger that settles it.
    reservation: Option<Box<(std::sync::Arc<Ledger>, Reservation)>>,
    /// Text delivered to the client (kept only when a reservation must be settled), to count
    /// the tokens of a stream that ended without the upstream's usage.
    delivered: Option<String>,
    /// Event blocks passed through unchanged (refcounted, not copied), in their dialect; decoded
    /// for their text only if the stream is cut short.
    delivered_blocks: Option<(Dialect, Vec<bytes::Bytes>, usize)>,
    /// Input tokens estimated at admission (for billing without upstream usage).
    est_input: u64,
    pub cache: Option<&'static str>,
}

impl Settle {
    /// Opens the record of a call.
    pub fn begin(logger: &RequestLogger, call: &Call, log_bodies: bool) -> Self {
        let record = Box::new(RequestLogRecord {
            id: modelgate_store::new_id(),
            ts_ms: modelgate_store::now_ms(),
            request_id: call.request_id.clone(),
            key_id: call.caller.key_id().map(str::to_owned),
            tenant_id: call.caller.tenant_id().map(str::to_owned),
            dialect: call.request_dialect.as_str().into(),
            endpoint: call.endpoint.label().into(),
            requested_model: (!call.model.is_empty()).then(|| call.model.clone()),
            stream: call.stream,
            request_body: (log_bodies
                && call
                    .content_type
                    .as_deref()
                    .is_none_or(|c| c.contains("json")))
            .then(|| truncate_utf8(&call.raw, BODY_LOG_LIMIT)),
            ..Default::default()
        });
        Self {
            logger: Some(logger.clone()),
            record: Some(record),
            started: call.started,
            pricing: None,
            log_bodies,
            notes: Vec::new(),
            usage: None,
            first_content_at: None,
            reservation: None,
            delivered: None,
            delivered_blocks: None,
            est_input: 0,
            cache: None,
        }
    }

    /// Takes over what admission reserved; settle will correct it with the real usage.
    pub fn attach(&mut self, ledger: &std::sync::Arc<Ledger>, r: Reservation, est_input: u64) {
        self.delivered = Some(String::new());
        self.est_input = est_input;
        self.reservation = Some(Box::new((ledger.clone(), r)));
    }

    /// The reservation, for dispatch to add and release candidate reservations.
    pub fn reservation(&mut self) -> Option<(&std::sync::Arc<Ledger>, &mut Reservation)> {
        self.reservation.as_mut().map(|b| {
            let (l, r) = &mut **b;
            (&*l, r)
        })
    }

    /// Headers the reply carries from admission (`x-ratelimit-*`).
    pub fn reply_headers(&self) -> Vec<(&'static str, String)> {
        self.reservation
            .as_ref()
            .map(|b| b.1.headers.clone())
            .unwrap_or_default()
    }

    /// Keeps an event block passed through to the client (bounded; no copy, no parse).
    pub fn delivered_block(&mut self, dialect: Dialect, block: &bytes::Bytes) {
        if self.delivered.is_none() {
            return;
        }
        let (_, blocks, size) = self
            .delivered_blocks
            .get_or_insert_with(|| (dialect, Vec::new(), 0));
        if *size < DELIVERED_LIMIT {
            *size += block.len();
            blocks.push(block.clone());
        }
    }

    /// The text of what was delivered: noted text, and the text of kept event blocks.
    fn delivered_text(&self) -> String {
        let mut text = self.delivered.clone().unwrap_or_default();
        if let Some((d, blocks, _)) = &self.delivered_blocks {
            let mut dec = modelgate_formats::codec::stream_decoder(*d);
            let mut evs = Vec::new();
            for b in blocks {
                let ev = modelgate_formats::sse::SseEvent::parse(b);
                if let Some(data) = ev.data.as_deref() {
                    let _ = dec.push(ev.event, data.trim(), &mut evs);
                }
            }
            for e in &evs {
                use modelgate_formats::canonical::StreamEvent as E;
                match e {
                    E::TextDelta { text: t } | E::ReasoningDelta { text: t } => text.push_str(t),
                    E::ToolCallDelta { arguments, .. } => text.push_str(arguments),
                    E::ToolCallStart { name, .. } => text.push_str(name),
                    _ => {}
                }
            }
        }
        text
    }

    /// Notes text delivered to the client (bounded).
    pub fn delivered(&mut self, text: &str) {
        if let Some(d) = self.delivered.as_mut()
            && d.len() < DELIVERED_LIMIT
        {
            d.push_str(text);
        }
    }

    /// A settle that records nothing (a dry run).
    pub fn detached() -> Self {
        Self {
            logger: None,
            record: None,
            started: Instant::now(),
            pricing: None,
            log_bodies: false,
            notes: Vec::new(),
            usage: None,
            first_content_at: None,
            reservation: None,
            delivered: None,
            delivered_blocks: None,
            est_input: 0,
            cache: None,
        }
    }

    pub fn set_route(&mut self, r: RouteNote<'_>) {
        if let Some(rec) = self.record.as_deref_mut() {
            rec.provider = Some(r.provider.to_owned());
            rec.provider_model = Some(r.upstream_model.to_owned());
            rec.upstream_dialect = r.upstream_dialect.map(|d| d.as_str().to_owned());
        }
        self.pricing = r.pricing.cloned();
    }

    pub fn set_attempts(&mut self, attempts: &[Attempt]) {
        if let Some(rec) = self.record.as_deref_mut() {
            rec.attempts = attempts.len() as i64;
            rec.attempt_log = serde_json::to_string(attempts).ok();
        }
    }

    pub fn set_response_body(&mut self, body: &[u8]) {
        if self.log_bodies
            && let Some(rec) = self.record.as_deref_mut()
        {
            rec.response_body = Some(truncate_utf8(body, BODY_LOG_LIMIT));
        }
    }

    /// Adds a note to the record (a dropped field, `client_closed`, …).
    pub fn note(&mut self, note: impl Into<String>) {
        if self.notes.len() < 64 {
            self.notes.push(note.into());
        }
    }

    /// Completes the record and queues it.
    pub fn finish(mut self, status: u16, usage: Option<Usage>, error: Option<String>) {
        self.complete(status, usage, error);
    }

    fn complete(&mut self, status: u16, usage: Option<Usage>, error: Option<String>) {
        let (Some(logger), Some(mut rec)) = (self.logger.take(), self.record.take()) else {
            return;
        };
        let mut usage = usage.or(self.usage);
        // Delivered but never (or only partly) reported by the upstream — the client or the
        // upstream went away mid-stream: the output is counted from what was delivered (when
        // that is more than the upstream reported so far; Anthropic reports 1 at the start),
        // flagged as estimated. The upstream's own input count is kept when it sent one.
        let cut_short = status == 499 || status >= 500;
        let text = if self.first_content_at.is_some() && (usage.is_none() || cut_short) {
            self.delivered_text()
        } else {
            String::new()
        };
        if !text.is_empty() {
            let counted = crate::tokens::count(&text);
            let reported = usage.unwrap_or_default();
            if counted > reported.output_tokens {
                let input = Some(reported.input_tokens)
                    .filter(|n| *n > 0)
                    .unwrap_or(self.est_input);
                usage = Some(Usage {
                    input_tokens: input,
                    output_tokens: counted,
                    ..reported
                });
                rec.usage_estimated = true;
            }
        }
        rec.cache = self.cache.map(str::to_owned);
        let r = &mut *rec;
        r.status = i64::from(status);
        r.latency_ms = ms(self.started.elapsed());
        r.ttft_ms = self
            .first_content_at
            .map(|t| ms(t.saturating_duration_since(self.started)));
        r.error = error;
        if !self.notes.is_empty() {
            r.notes = serde_json::to_string(&self.notes).ok();
        }
        if let Some(u) = usage {
            r.prompt_tokens = u.input_tokens as i64;
            r.completion_tokens = u.output_tokens as i64;
            r.cached_tokens = u.cache_read_tokens as i64;
            r.reasoning_tokens = u.reasoning_tokens as i64;
            r.total_tokens = u.total() as i64;
            let cost = self.pricing.as_ref().map_or(Decimal::ZERO, |p| p.cost(&u));
            r.cost = Some(cost.to_string());
        }
        let Some((ledger, reservation)) = self
            .reservation
            .take()
            .map(|b| *b)
            .filter(|(_, r)| !r.is_empty())
        else {
            // Nothing reserved (a key without limits or money rules): nothing to settle.
            report(&rec);
            logger.log(rec);
            return;
        };
        // Settling talks to the state backend; the record is queued once it is known what the
        // grant and the balance paid. The request's reply does not wait for it.
        let billed = if status < 400 || self.first_content_at.is_some() {
            usage
        } else {
            None
        };
        let work = async move {
            let charged = ledger
                .settle(reservation, billed, modelgate_store::now_ms())
                .await;
            rec.credit_used = charged.credit_used;
            rec.balance_charged = charged.balance_charged.map(|d| d.to_string());
            report(&rec);
            logger.log(rec);
        };
        match tokio::runtime::Handle::try_current() {
            // The task is short (one state call) and owns everything it needs; shutdown flushes
            // the request log after in-flight requests, so it completes first.
            #[allow(clippy::disallowed_methods)]
            Ok(h) => {
                h.spawn(work);
            }
            Err(_) => tracing::error!("no runtime to settle a reservation on; its record is lost"),
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if self.logger.is_some() {
            self.notes.push("client_closed".into());
            self.complete(499, None, Some("client closed the request".into()));
        }
    }
}

/// The request's access-log line and Prometheus metrics. Labels come from closed sets:
/// endpoint (a fixed name per route), provider (an admin-made name) and status — never a
/// client-chosen model name or path. Metric handles are looked up once per label set and
/// thread, not per request.
fn report(r: &RequestLogRecord) {
    let provider = r.provider.as_deref().unwrap_or("");
    RequestMetrics::with(&r.endpoint, provider, r.status, |m| {
        m.requests.increment(1);
        m.duration.record(r.latency_ms / 1000.0);
        if r.attempts > 1 {
            m.failovers.increment((r.attempts - 1) as u64);
        }
        if r.total_tokens > 0 {
            m.prompt_tokens.increment(r.prompt_tokens.max(0) as u64);
            m.completion_tokens
                .increment(r.completion_tokens.max(0) as u64);
        }
    });
    if let Some(sink) = crate::log_sink::LogSink::global() {
        sink.access(&crate::log_sink::AccessLine {
            request_id: &r.request_id,
            key_id: r.key_id.as_deref().unwrap_or(""),
            endpoint: &r.endpoint,
            model: r.requested_model.as_deref().unwrap_or(""),
            provider,
            status: r.status,
            attempts: r.attempts,
            latency_ms: r.latency_ms,
            total_tokens: r.total_tokens,
            error: r.error.as_deref().unwrap_or(""),
        });
    }
}

/// The metric handles of one (endpoint, provider, status).
struct RequestMetrics {
    endpoint: String,
    provider: String,
    status: i64,
    requests: metrics::Counter,
    duration: metrics::Histogram,
    failovers: metrics::Counter,
    prompt_tokens: metrics::Counter,
    completion_tokens: metrics::Counter,
}

/// Label sets cached per thread; bounded (labels come from closed sets, but the cache is
/// cleared if it ever grows past this).
const METRIC_SETS: usize = 4096;

/// Hashes a label set to its slot; a fixed seed, so every thread agrees (the slot's entries
/// are compared in full, so a collision only shares a slot).
static LABEL_HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6d67);

thread_local! {
    static METRICS: std::cell::RefCell<crate::tracked::FastMap<u64, Vec<RequestMetrics>>> =
        std::cell::RefCell::new(crate::tracked::FastMap::default());
}

impl RequestMetrics {
    fn new(endpoint: &str, provider: &str, status: i64) -> Self {
        let (e, p) = (endpoint.to_owned(), provider.to_owned());
        RequestMetrics {
            requests: metrics::counter!("modelgate_requests_total", "endpoint" => e.clone(), "provider" => p.clone(), "status" => status.to_string()),
            duration: metrics::histogram!("modelgate_request_duration_seconds", "endpoint" => e.clone(), "provider" => p.clone()),
            failovers: metrics::counter!("modelgate_failovers_total", "provider" => p.clone()),
            prompt_tokens: metrics::counter!("modelgate_tokens_total", "provider" => p.clone(), "kind" => "prompt"),
            completion_tokens: metrics::counter!("modelgate_tokens_total", "provider" => p.clone(), "kind" => "completion"),
            endpoint: e,
            provider: p,
            status,
        }
    }

    fn with(endpoint: &str, provider: &str, status: i64, f: impl FnOnce(&RequestMetrics)) {
        use std::hash::BuildHasher;
        let hash = LABEL_HASH.hash_one((endpoint, provider, status));
        METRICS.with(|cell| {
            let mut map = cell.borrow_mut();
            if map.len() >= METRIC_SETS && !map.contains_key(&hash) {
                map.clear();
            }
            let sets = map.entry(hash).or_default();
            let i = match sets.iter().position(|m| {
                m.status == status && m.endpoint == endpoint && m.provider == provider
            }) {
                Some(i) => i,
                None => {
                    sets.push(RequestMetrics::new(endpoint, provider, status));
                    sets.len() - 1
                }
            };
            if let Some(m) = sets.get(i) {
                f(m);
            }
        });
    }
}

pub fn truncate_utf8(b: &[u8], limit: usize) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(limit)]).into_owned();
    if b.len() > limit {
        format!("{s}…[truncated]")
    } else {
        s
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
