//! The response cache (seed 002: `CACHE_ENABLED`, `CACHE_TTL`): exact match on the normalized
//! request, scoped by tenant, on the state backend (moka in memory, or Redis when shared).
//!
//! The key is a SHA-256 of: tenant, endpoint, request dialect, the resolved model, and the
//! body's top-level members sorted by name without the volatile ones (`stream`,
//! `stream_options`, `user`, `metadata`, `prompt_cache_key`, `store`, `service_tier`). The value
//! is the answer in canonical form, so a hit is replayed in the client's dialect, whole or as a
//! stream. A client's `Cache-Control: no-cache` skips the lookup, `no-store` also the store. A
//! hit calls no upstream and costs nothing; it is logged as a hit and still counts against the
//! key's request limits (admission ran before). Whole (non-stream) answers are stored.

use bytes::Bytes;
use modelgate_formats::canonical::{Part, Response, ResponseOptions, StreamEvent};
use modelgate_formats::codec;
use sha2::{Digest, Sha256};

use crate::call::{Call, CallBody, Endpoint, GeminiMethod};
use crate::gateway::Gateway;
use crate::reply::{Reply, ReplyBody};
use crate::settle::Settle;

const VOLATILE: [&str; 7] = [
    "stream",
    "stream_options",
    "user",
    "metadata",
    "prompt_cache_key",
    "store",
    "service_tier",
];

/// The cache key of a call, when the call may use the cache.
pub fn key(gw: &Gateway, call: &Call, resolved: &str) -> Option<String> {
    if !gw.settings.cache.enabled {
        return None;
    }
    let cacheable = matches!(
        call.endpoint,
        Endpoint::ChatCompletions
            | Endpoint::Responses
            | Endpoint::Messages
            | Endpoint::Gemini {
                method: GeminiMethod::Generate | GeminiMethod::StreamGenerate,
                ..
            }
    );
    let CallBody::Json(obj) = &call.body else {
        return None;
    };
    if !cacheable {
        return None;
    }
    let mut members: Vec<(&str, &str)> = obj
        .iter()
        .filter(|(k, _)| !VOLATILE.contains(k))
        .map(|(k, v)| (k, v.get()))
        .collect();
    members.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    for part in [
        call.caller.tenant_id().unwrap_or("-"),
        call.endpoint.label(),
        call.request_dialect.as_str(),
        resolved,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (k, v) in members {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    Some(format!("resp:{}", hex::encode(h.finalize())))
}

/// A cached answer for this call, replayed in the client's dialect.
pub async fn lookup(
    gw: &Gateway,
    call: &Call,
    key: &str,
    mut settle: Settle,
) -> Result<Reply, Settle> {
    if call.cache_control.no_cache {
        return Err(settle);
    }
    let now = modelgate_store::now_ms();
    let hit = match gw.ledger.backend.cache_get(key, now).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            settle.cache = Some("miss");
            return Err(settle);
        }
        Err(e) => {
            tracing::warn!(error = %e, "response cache lookup failed");
            settle.cache = Some("miss");
            return Err(settle);
        }
    };
    let Ok(resp) = serde_json::from_slice::<Response>(&hit) else {
        settle.cache = Some("miss");
        return Err(settle);
    };
    settle.cache = Some("hit");
    let opts = ResponseOptions {
        model: call.model.clone(),
        id: Some(format!("cache-{}", modelgate_store::new_id())),
        created: chrono::Utc::now().timestamp(),
        sse: !matches!(call.endpoint, Endpoint::Gemini { sse: false, .. }),
        include_usage: call.client_wants_usage,
    };
    let (content_type, body) = if call.stream {
        let mut enc = codec::stream_encoder(call.reply_dialect, &opts);
        let mut out = Vec::new();
        for ev in events_of(&resp) {
            enc.push(&ev, &mut out);
        }
        enc.finish(&mut out);
        let ct = if opts.sse {
            "text/event-stream"
        } else {
            "application/json"
        };
        (ct, out)
    } else {
        (
            "application/json",
            codec::encode_response(call.reply_dialect, &resp, &opts),
        )
    };
    settle.set_response_body(&body);
    // A hit is not billed: no upstream was called.
    settle.finish(200, None, None);
    let body = Bytes::from(body);
    Ok(Reply {
        status: 200,
        content_type: content_type.into(),
        headers: vec![("x-modelgate-cache", "hit".into())],
        body: if call.stream {
            ReplyBody::Stream(Box::pin(futures::stream::once(async move { Ok(body) })))
        } else {
            ReplyBody::Full(body)
        },
    })
}

/// Stores a whole answer (already decoded) for later hits.
pub fn store(gw: &Gateway, call: &Call, key: &str, resp: &Response) {
    if call.cache_control.no_store {
        return;
    }
    let Ok(value) = serde_json::to_vec(resp) else {
        return;
    };
    let backend = gw.ledger.backend.clone();
    let key = key.to_owned();
    let ttl = i64::try_from(gw.settings.cache.ttl.as_millis()).unwrap_or(i64::MAX);
    let work = async move {
        if let Err(e) = backend
            .cache_put(&key, Bytes::from(value), ttl, modelgate_store::now_ms())
            .await
        {
            tracing::warn!(error = %e, "response cache store failed");
        }
    };
    if let Ok(h) = tokio::runtime::Handle::try_current() {
        // One short state call; losing it at shutdown only loses a cache entry.
        #[allow(clippy::disallowed_methods)]
        h.spawn(work);
    }
}

/// The canonical stream events that replay a whole answer.
fn events_of(resp: &Response) -> Vec<StreamEvent> {
    let mut out = vec![StreamEvent::Start {
        id: resp.id.clone(),
        model: resp.model.clone(),
    }];
    let mut tool = 0u32;
    for p in &resp.content {
        match p {
            Part::Text { text, .. } => out.push(StreamEvent::TextDelta { text: text.clone() }),
            Part::Reasoning {
                text,
                signature,
                encrypted,
                id,
            } => {
                out.push(StreamEvent::ReasoningDelta { text: text.clone() });
                out.push(StreamEvent::ReasoningEnd {
                    signature: signature.clone(),
                    encrypted: encrypted.clone(),
                    id: id.clone(),
                });
            }
            Part::ToolCall {
                id,
                name,
                arguments,
                signature,
            } => {
                out.push(StreamEvent::ToolCallStart {
                    index: tool,
                    id: id.clone(),
                    name: name.clone(),
                    signature: signature.clone(),
                });
                out.push(StreamEvent::ToolCallDelta {
                    index: tool,
                    arguments: arguments.clone(),
                });
                out.push(StreamEvent::ToolCallEnd { index: tool });
                tool += 1;
            }
            _ => {}
        }
    }
    out.push(StreamEvent::Usage {
        usage: resp.usage.unwrap_or_default(),
    });
    out.push(StreamEvent::Stop {
        reason: resp.stop_reason.clone(),
    });
    out
}
