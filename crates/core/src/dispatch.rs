//! Stage 6, dispatch: the one attempt loop every endpoint goes through.
//!
//! For each planned candidate in turn (circuit permitting), for each of its usable keys
//! (cooldowns, invalid marks and QPS/RPM windows permitting): encode the body for the
//! candidate's upstream dialect, send it on this thread's pooled client, and on a retryable
//! failure (connect error, timeout, 429, 5xx, configurable) move on. A stream counts as
//! delivered once its first data event has arrived, so streams fail over until then. Health is
//! fed by every attempt. What comes back is the upstream's answer (`Delivery`) for `respond`
//! to turn into the client's reply, or the last failure.

use bytes::Bytes;
use modelgate_formats::canonical::{EncodeOptions, Request};
use modelgate_formats::raw::RawObject;
use modelgate_formats::{Dialect, codec, translate};
use modelgate_providers::failure::parse_retry_after;
use modelgate_providers::{Adapter, Operation, UpstreamFailure};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::{Call, CallBody, Caller, Endpoint, GeminiMethod};
use crate::catalogue::UpstreamKey;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::health::{InFlight, TrialRelease, UpstreamStats};
use crate::relay::{self, Events};
use crate::resolve::Candidate;
use crate::route::Planned;
use crate::settle::{Attempt, RouteNote, Settle, ms};

/// `max_tokens` sent to dialects that require one when neither the client nor the model's
/// `custom_parameters` set it.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// What an upstream answered, ready for `respond`.
pub struct Delivery {
    pub candidate: Candidate,
    /// The dialect the upstream was called in (`None` for passthrough endpoints).
    pub upstream_dialect: Option<Dialect>,
    pub status: u16,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub body: Delivered,
    pub attempts: Vec<Attempt>,
    /// Time spent waiting for upstreams (the rest is the gateway's own overhead).
    pub upstream_wait: Duration,
    pub stats: Arc<UpstreamStats>,
    /// Held until the answer has been relayed.
    pub in_flight: Option<InFlight>,
    /// The gateway asked a chat upstream for the usage chunk on the client's behalf.
    pub added_usage_chunk: bool,
}

pub enum Delivered {
    Full(Bytes),
    /// An SSE stream, primed up to its first data event.
    Events(Events),
    /// A passthrough body, forwarded as it comes.
    Raw(modelgate_providers::UpstreamResponse),
}

/// Why dispatch gave up.
pub struct Failure {
    pub error: FailureKind,
    pub attempts: Vec<Attempt>,
}

pub enum FailureKind {
    /// The last upstream attempt failed this way, in this dialect.
    Upstream(UpstreamFailure, Option<Dialect>),
    /// The gateway refused before (or instead of) calling anyone.
    Gateway(GatewayError),
}

/// What a failure means for the next try.
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

/// One key to try.
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

/// The request for one candidate, built once and sent with each of its keys.
struct Prepared {
    op_dialect: Option<Dialect>,
    url: http::Uri,
    method: http::Method,
    body: Bytes,
    content_type: Option<String>,
    accept_sse: bool,
    added_usage_chunk: bool,
    /// What the conversion had to drop (recorded in the request log).
    dropped: Vec<String>,
}

/// Why a candidate cannot serve this call at all (it is skipped, not failed).
enum Skip {
    Dialect,
    Refused(GatewayError),
}

/// The canonical form of the request, decoded at most once (only when some candidate speaks
/// another dialect than the client).
struct Canonical<'c> {
    call: &'c Call,
    decoded: Option<Result<Request, GatewayError>>,
}

impl Canonical<'_> {
    fn get(&mut self) -> Result<&Request, GatewayError> {
        let call = self.call;
        let r = self.decoded.get_or_insert_with(|| {
            let mut req = codec::decode_request(call.request_dialect, &call.raw)
                .map_err(|e| GatewayError::bad_request(e.to_string(), None))?;
            if req.model.is_empty() {
                req.model = call.model.clone();
            }
            req.stream = call.stream;
            Ok(req)
        });
        match r {
            Ok(req) => Ok(req),
            Err(e) => Err(GatewayError::bad_request(e.to_string(), e.param())),
        }
    }
}

/// Whether a candidate can answer a count-tokens call itself (same dialect upstream).
pub fn can_count(call: &Call, cand: &Candidate) -> bool {
    served_dialects(cand).contains(&call.request_dialect)
}

/// The upstream dialects a candidate can be called in for generation.
fn served_dialects(cand: &Candidate) -> &[Dialect] {
    const RESPONSES: &[Dialect] = &[Dialect::OpenaiResponses];
    match cand.model.as_ref().map(|m| m.dialect.as_str()) {
        Some("openai_embeddings") => &[],
        Some("openai_responses") if cand.provider.api.speaks(Dialect::OpenaiResponses) => RESPONSES,
        _ => cand.provider.dialects(),
    }
}

fn prepare(call: &Call, cand: &Candidate, canon: &mut Canonical<'_>) -> Result<Prepared, Skip> {
    let api = &cand.provider.api;
    let refused = |e: modelgate_providers::ProviderError| {
        Skip::Refused(GatewayError::bad_request(e.to_string(), Some("model")))
    };
    let json = Some("application/json".to_owned());
    match &call.endpoint {
        Endpoint::Passthrough {
            method,
            path,
            query,
        } => {
            if !api.has_openai_endpoints() {
                return Err(Skip::Dialect);
            }
            let url = api
                .url(
                    Operation::Passthrough {
                        path,
                        query: query.as_deref(),
                    },
                    &cand.upstream_model,
                )
                .map_err(refused)?;
            let body = match &call.body {
                _ if call.model.is_empty() || call.model == cand.upstream_model => call.raw.clone(),
                _ if call
                    .content_type
                    .as_deref()
                    .is_some_and(|c| c.contains("json")) =>
                {
                    match RawObject::parse(&call.raw) {
                        Ok(obj) => Bytes::from(
                            edit(&obj, &[("model", string(&cand.upstream_model))], &[])
                                .map_err(|e| Skip::Refused(encode_error(e)))?,
                        ),
                        Err(_) => call.raw.clone(),
                    }
                }
                _ => call.raw.clone(),
            };
            Ok(Prepared {
                op_dialect: None,
                url,
                method: method.clone(),
                body,
                content_type: call.content_type.clone(),
                accept_sse: false,
                added_usage_chunk: false,
                dropped: Vec::new(),
            })
        }
        Endpoint::Embeddings => {
            if !api.has_openai_endpoints() {
                return Err(Skip::Dialect);
            }
            let url = api
                .url(Operation::Embeddings, &cand.upstream_model)
                .map_err(refused)?;
            let CallBody::Json(obj) = &call.body else {
                return Err(Skip::Dialect);
            };
            let body = edit(
                obj,
                &[("model", string(&cand.upstream_model))],
                defaults(cand),
            )
            .map_err(|e| Skip::Refused(encode_error(e)))?;
            Ok(Prepared {
                op_dialect: None,
                url,
                method: http::Method::POST,
                body: Bytes::from(body),
                content_type: json,
                accept_sse: false,
                added_usage_chunk: false,
                dropped: Vec::new(),
            })
        }
        Endpoint::MessagesCountTokens
        | Endpoint::Gemini {
            method: GeminiMethod::CountTokens,
            ..
        } => {
            // Forwarded only to an upstream of the same dialect; others are estimated locally.
            let d = call.request_dialect;
            if !served_dialects(cand).contains(&d) {
                return Err(Skip::Dialect);
            }
            let url = api
                .url(Operation::CountTokens { dialect: d }, &cand.upstream_model)
                .map_err(refused)?;
            let CallBody::Json(obj) = &call.body else {
                return Err(Skip::Dialect);
            };
            let body = if d == Dialect::Gemini {
                edit(obj, &[], &[])
            } else {
                edit(obj, &[("model", string(&cand.upstream_model))], &[])
            }
            .map_err(|e| Skip::Refused(encode_error(e)))?;
            Ok(Prepared {
                op_dialect: Some(d),
                url,
                method: http::Method::POST,
                body: Bytes::from(body),
                content_type: json,
                accept_sse: false,
                added_usage_chunk: false,
                dropped: Vec::new(),
            })
        }
        _ => {
            let served = served_dialects(cand);
            let Some(up) = translate::pick(call.reply_dialect, served) else {
                return Err(Skip::Dialect);
            };
            // Prefer the request's own dialect when the candidate speaks it: no conversion.
            let up = if served.contains(&call.request_dialect) {
                call.request_dialect
            } else {
                up
            };
            let url = api
                .url(
                    Operation::Generate {
                        dialect: up,
                        stream: call.stream,
                    },
                    &cand.upstream_model,
                )
                .map_err(refused)?;
            // A body carrying signatures sealed for another dialect (`mg1:…`, from an earlier
            // turn served elsewhere) is converted even to its own dialect, which unseals them.
            let sealed = memchr::memmem::find(&call.raw, b"\"mg1:").is_some();
            let (body, added_usage_chunk, dropped) = if up == call.request_dialect && !sealed {
                let (b, u) = same_dialect_body(call, cand, up)
                    .map_err(|e| Skip::Refused(encode_error(e)))?;
                (b, u, Vec::new())
            } else {
                converted_body(call, cand, up, canon).map_err(Skip::Refused)?
            };
            Ok(Prepared {
                op_dialect: Some(up),
                url,
                method: http::Method::POST,
                body: Bytes::from(body),
                content_type: json,
                accept_sse: call.stream,
                added_usage_chunk,
                dropped,
            })
        }
    }
}

fn encode_error(e: serde_json::Error) -> GatewayError {
    GatewayError::bad_request(format!("cannot encode the request: {e}"), None)
}

fn string(s: &str) -> Box<RawValue> {
    serde_json::value::to_raw_value(s).unwrap_or_else(|_| raw("null"))
}

fn raw(s: &'static str) -> Box<RawValue> {
    // Only called with the literals below, which are valid JSON.
    RawValue::from_string(s.to_owned()).unwrap_or_else(|_| Box::<RawValue>::default())
}

fn defaults(cand: &Candidate) -> &[(String, Box<RawValue>)] {
    cand.model
        .as_ref()
        .map_or(&[], |m| m.custom_parameters.as_slice())
}

fn edit(
    obj: &RawObject,
    overrides: &[(&str, Box<RawValue>)],
    defaults: &[(String, Box<RawValue>)],
) -> Result<Vec<u8>, serde_json::Error> {
    let refs: Vec<(&str, &RawValue)> = overrides.iter().map(|(k, v)| (*k, v.as_ref())).collect();
    obj.to_vec_with(&refs, defaults)
}

/// The client's body with the top-level edits the upstream needs; nothing else re-encoded.
fn same_dialect_body(
    call: &Call,
    cand: &Candidate,
    d: Dialect,
) -> Result<(Vec<u8>, bool), serde_json::Error> {
    let CallBody::Json(obj) = &call.body else {
        return Ok((call.raw.to_vec(), false));
    };
    let mut overrides: Vec<(&str, Box<RawValue>)> = Vec::with_capacity(3);
    let mut added_usage_chunk = false;
    if d != Dialect::Gemini {
        overrides.push(("model", string(&cand.upstream_model)));
    }
    if call.force_stream_field {
        overrides.push(("stream", raw("true")));
    }
    if d == Dialect::OpenaiChat && call.stream && !call.client_wants_usage {
        let mut opts = obj
            .get("stream_options")
            .and_then(|r| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(r.get()).ok()
            })
            .unwrap_or_default();
        opts.insert("include_usage".into(), serde_json::Value::Bool(true));
        overrides.push(("stream_options", serde_json::value::to_raw_value(&opts)?));
        added_usage_chunk = true;
    }
    let mut extra: Vec<(String, Box<RawValue>)> = Vec::new();
    if d == Dialect::Anthropic
        && !obj.contains("max_tokens")
        && !defaults(cand).iter().any(|(k, _)| k == "max_tokens")
    {
        extra.push((
            "max_tokens".into(),
            serde_json::value::to_raw_value(&DEFAULT_MAX_TOKENS)?,
        ));
    }
    let body = if extra.is_empty() {
        edit(obj, &overrides, defaults(cand))?
    } else {
        extra.extend(defaults(cand).iter().map(|(k, v)| (k.clone(), v.clone())));
        edit(obj, &overrides, &extra)?
    };
    Ok((body, added_usage_chunk))
}

/// The request converted to another dialect through the canonical model.
fn converted_body(
    call: &Call,
    cand: &Candidate,
    up: Dialect,
    canon: &mut Canonical<'_>,
) -> Result<(Vec<u8>, bool, Vec<String>), GatewayError> {
    let req = canon.get()?;
    let default_max_tokens = defaults(cand)
        .iter()
        .find(|(k, _)| k == "max_tokens" || k == "max_output_tokens")
        .and_then(|(_, v)| serde_json::from_str::<u64>(v.get()).ok())
        .or(Some(DEFAULT_MAX_TOKENS));
    let opts = EncodeOptions {
        model: cand.upstream_model.clone(),
        stream: call.stream,
        default_max_tokens,
        include_usage: true,
    };
    let mut dropped = req.dropped.clone();
    let mut body = codec::encode_request(up, req, &opts, &mut dropped)
        .map_err(|e| GatewayError::bad_request(e.to_string(), None))?;
    // The model's `custom_parameters` (in its upstream's dialect) fill what the request left out.
    if !defaults(cand).is_empty()
        && let Ok(obj) = RawObject::parse(&body)
    {
        body = obj.to_vec_with(&[], defaults(cand)).map_err(encode_error)?;
    }
    Ok((body, up == Dialect::OpenaiChat && call.stream, dropped))
}

/// Runs the attempts of a call over its plan.
pub async fn dispatch(
    gw: &Arc<Gateway>,
    call: &Call,
    plan: &[Planned],
    settle: &mut Settle,
) -> Result<Delivery, Failure> {
    let hs = &gw.health.settings;
    let deadline = call.started + gw.settings.total_timeout;
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut upstream_wait = Duration::ZERO;
    let mut last: Option<(UpstreamFailure, Option<Dialect>)> = None;
    let mut skipped_open = 0usize;
    let mut skipped_dialect = 0usize;
    let mut refused: Option<GatewayError> = None;
    let mut canon = Canonical {
        call,
        decoded: None,
    };

    'candidates: for planned in plan {
        let cand = &planned.candidate;
        let keys: Vec<KeyUse<'_>> = match &call.caller {
            Caller::Passthrough(k) => vec![KeyUse {
                id: "client",
                alias: "client",
                secret: k,
                max_qps: None,
                max_rpm: None,
            }],
            Caller::Key(_) => cand
                .provider
                .keys_in_order()
                .into_iter()
                .map(KeyUse::from)
                .collect(),
        };
        if keys.is_empty() {
            continue;
        }
        let prepared = match prepare(call, cand, &mut canon) {
            Ok(p) => p,
            Err(Skip::Dialect) => {
                skipped_dialect += 1;
                continue;
            }
            Err(Skip::Refused(e)) => {
                return Err(Failure {
                    error: FailureKind::Gateway(e),
                    attempts,
                });
            }
        };
        let stats = &planned.stats;
        if !stats.admits(hs) {
            skipped_open += 1;
            continue;
        }
        for d in &prepared.dropped {
            settle.note(format!("dropped:{d}"));
        }
        // Money is reserved at this candidate's prices before it is tried.
        if let (Caller::Key(k), Some((ledger, r))) = (&call.caller, settle.reservation())
            && crate::ledger::needs_money(k, &cand.provider)
        {
            let ledger = ledger.clone();
            if let Err(e) = ledger
                .reserve_candidate(
                    r,
                    k,
                    &cand.provider,
                    cand.model.as_ref(),
                    modelgate_store::now_ms(),
                )
                .await
            {
                stats.release_trial();
                refused = Some(e);
                continue;
            }
        }
        let _trial = TrialRelease(stats.clone());
        let mut tried_here = false;
        let client = crate::clients::for_connect_timeout(cand.provider.connect_timeout);
        for key in keys {
            if attempts.len() >= gw.settings.max_attempts || Instant::now() >= deadline {
                if !tried_here {
                    stats.release_trial();
                }
                break 'candidates;
            }
            let key_state = gw.health.key(key.id, key.secret);
            if !key_state.try_acquire(key.max_qps, key.max_rpm) {
                continue;
            }
            tried_here = true;
            let in_flight = stats.start();
            let t0 = Instant::now();
            let outcome = attempt(&client, call, cand, &prepared, key.secret, deadline).await;
            upstream_wait += t0.elapsed();
            let failure = match outcome {
                Ok((status, ct, cd, body)) => {
                    stats.success(t0.elapsed());
                    attempts.push(record(cand, &key, "ok", t0));
                    settle.set_route(RouteNote {
                        provider: &cand.provider.name,
                        upstream_model: &cand.upstream_model,
                        upstream_dialect: prepared.op_dialect,
                        pricing: cand.model.as_ref().map(|m| &m.pricing),
                    });
                    settle.set_attempts(&attempts);
                    let keep = matches!(body, Delivered::Events(_) | Delivered::Raw(_));
                    return Ok(Delivery {
                        candidate: cand.clone(),
                        upstream_dialect: prepared.op_dialect,
                        status,
                        content_type: ct,
                        content_disposition: cd,
                        body,
                        attempts,
                        upstream_wait,
                        stats: stats.clone(),
                        in_flight: keep.then_some(in_flight),
                        added_usage_chunk: prepared.added_usage_chunk,
                    });
                }
                Err(f) => {
                    drop(in_flight);
                    f
                }
            };
            attempts.push(record(cand, &key, &failure.label(), t0));
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
            settle.set_route(RouteNote {
                provider: &cand.provider.name,
                upstream_model: &cand.upstream_model,
                upstream_dialect: prepared.op_dialect,
                pricing: None,
            });
            last = Some((failure, prepared.op_dialect));
            if !matches!(next, Next::OtherKey)
                && let Some((ledger, r)) = settle.reservation()
            {
                let ledger = ledger.clone();
                ledger.release_candidate(r, modelgate_store::now_ms()).await;
            }
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
    settle.set_attempts(&attempts);
    let error = match last {
        Some((f, d)) => FailureKind::Upstream(f, d),
        None if refused.is_some() => {
            FailureKind::Gateway(refused.unwrap_or(GatewayError::Internal(String::new())))
        }
        None if skipped_open > 0 => FailureKind::Gateway(GatewayError::Unavailable(
            "every upstream of this model is unhealthy (circuit open); try again shortly".into(),
        )),
        None if skipped_dialect > 0 && skipped_dialect == plan.len() => {
            FailureKind::Gateway(GatewayError::bad_request(
                format!(
                    "No upstream of the model `{}` serves this endpoint ({})",
                    call.model,
                    call.endpoint.label()
                ),
                Some("model"),
            ))
        }
        None => FailureKind::Gateway(GatewayError::Unavailable(
            "no upstream key of this model is usable now (disabled, cooling down after 429, invalid, or at its rate limit)".into(),
        )),
    };
    Err(Failure { error, attempts })
}

type Answer = (u16, Option<String>, Option<String>, Delivered);

/// Sends one attempt and reads what must be read before the answer counts as delivered: the
/// whole body, or a stream up to its first data event. A non-2xx answer is a failure with its
/// body.
async fn attempt(
    client: &modelgate_providers::UpstreamClient,
    call: &Call,
    cand: &Candidate,
    p: &Prepared,
    key: &str,
    deadline: Instant,
) -> Result<Answer, UpstreamFailure> {
    use http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
    let provider = &cand.provider;
    let t0 = Instant::now();
    let timeout = provider.timeout.min(deadline.saturating_duration_since(t0));
    let mut req =
        modelgate_providers::UpstreamRequest::new(p.method.clone(), p.url.clone(), p.body.clone());
    if let Some(ct) = p
        .content_type
        .as_deref()
        .and_then(|ct| HeaderValue::from_str(ct).ok())
    {
        req.headers.insert(CONTENT_TYPE, ct);
    }
    if p.accept_sse {
        req.headers
            .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    } else if let Some(a) = call
        .accept
        .as_deref()
        .filter(|_| p.op_dialect.is_none())
        .and_then(|a| HeaderValue::from_str(a).ok())
    {
        req.headers.insert(ACCEPT, a);
    }
    provider
        .api
        .authorize(&mut req.headers, key, &call.hints)
        .map_err(|e| UpstreamFailure::Connect(e.to_string()))?;
    // Timeouts are ours (headers here, body and stream idle below), so a stream is never cut
    // by a total timeout.
    let resp = match tokio::time::timeout(timeout, client.send(req)).await {
        Err(_) => return Err(UpstreamFailure::Timeout(timeout)),
        Ok(r) => r?,
    };
    let status = resp.status().as_u16();
    let header = |name: http::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(CONTENT_TYPE);
    let content_disposition = header(CONTENT_DISPOSITION);
    let rest = (t0 + provider.timeout)
        .min(deadline)
        .saturating_duration_since(Instant::now());
    if !(200..300).contains(&status) {
        let retry_after = parse_retry_after(resp.headers());
        let body = relay::read_body(resp, rest, 1024 * 1024)
            .await
            .unwrap_or_default();
        return Err(UpstreamFailure::Status {
            status,
            body,
            retry_after,
        });
    }
    let body = if p.op_dialect.is_none() {
        if matches!(call.endpoint, Endpoint::Passthrough { .. }) {
            Delivered::Raw(resp)
        } else {
            Delivered::Full(relay::read_body(resp, rest, relay::MAX_UPSTREAM_BODY).await?)
        }
    } else if p.accept_sse {
        Delivered::Events(relay::prime(Events::new(resp, provider.timeout)).await?)
    } else {
        Delivered::Full(relay::read_body(resp, rest, relay::MAX_UPSTREAM_BODY).await?)
    };
    Ok((status, content_type, content_disposition, body))
}

fn record(cand: &Candidate, key: &KeyUse<'_>, outcome: &str, t0: Instant) -> Attempt {
    Attempt {
        provider: cand.provider.name.clone(),
        key: key.alias.to_owned(),
        upstream_model: cand.upstream_model.clone(),
        outcome: outcome.to_owned(),
        latency_ms: ms(t0.elapsed()),
    }
}
