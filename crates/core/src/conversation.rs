//! Stored conversations of the Responses API: `previous_response_id` for responses modelgate
//! kept (the request's `store` was not `false`).
//!
//! A stored response is the full input it answered plus its output items, on the state
//! backend's cache (bounded in memory, shared on Redis) for `RESPONSES_TTL`. A request naming a
//! `previous_response_id` gets that history put in front of its own `input` before it is
//! routed, so any upstream dialect can serve it; an unknown id is a 400
//! `previous_response_not_found`.

use bytes::Bytes;
use modelgate_formats::raw::RawObject;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::call::{Call, CallBody, Endpoint};
use crate::error::GatewayError;
use crate::gateway::Gateway;

/// How long a stored response can be continued.
pub const RESPONSES_TTL_MS: i64 = 24 * 3600 * 1000;

fn store_key(id: &str) -> String {
    format!("responses:{id}")
}

fn input_items(input: Option<&RawValue>) -> Vec<Value> {
    match input.map(|r| serde_json::from_str::<Value>(r.get())) {
        Some(Ok(Value::String(s))) => {
            vec![serde_json::json!({"type": "message", "role": "user", "content": s})]
        }
        Some(Ok(Value::Array(items))) => items,
        _ => Vec::new(),
    }
}

/// Puts the stored history of `previous_response_id` in front of the request's input.
pub async fn expand(gw: &Gateway, call: &mut Call) -> Result<(), GatewayError> {
    if call.endpoint != Endpoint::Responses {
        return Ok(());
    }
    let CallBody::Json(obj) = &call.body else {
        return Ok(());
    };
    let Some(Ok(Some(prev))) = obj.get_as::<Option<String>>("previous_response_id") else {
        return Ok(());
    };
    let not_found = || GatewayError::BadRequest {
        message: format!("Previous response with id '{prev}' not found."),
        param: Some("previous_response_id".into()),
        code: Some("previous_response_not_found"),
    };
    let stored = gw
        .ledger
        .backend
        .cache_get(&store_key(&prev), modelgate_store::now_ms())
        .await
        .map_err(|e| GatewayError::Internal(e.to_string()))?
        .ok_or_else(not_found)?;
    let mut items: Vec<Value> = serde_json::from_slice(&stored).map_err(|_| not_found())?;
    items.extend(input_items(obj.get("input")));
    let input = serde_json::value::to_raw_value(&items)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let null =
        RawValue::from_string("null".into()).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let body = obj
        .to_vec_with(&[("input", &input), ("previous_response_id", &null)], &[])
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let obj = RawObject::parse(&body).map_err(|e| GatewayError::Internal(e.to_string()))?;
    call.raw = Bytes::from(body);
    call.body = CallBody::Json(obj);
    Ok(())
}

/// The input a Responses answer to this call would be stored with, unless the request said
/// `store: false` (or is not a Responses call).
pub fn history_of(call: &Call) -> Option<Vec<Value>> {
    if call.endpoint != Endpoint::Responses {
        return None;
    }
    let CallBody::Json(obj) = &call.body else {
        return None;
    };
    if matches!(obj.get_as::<Option<bool>>("store"), Some(Ok(Some(false)))) {
        return None;
    }
    Some(input_items(obj.get("input")))
}

/// Keeps a Responses answer (`{"id", "output": [...]}`) for later `previous_response_id`s.
pub fn remember(gw: &Gateway, call: &Call, response: &[u8]) {
    if let Some(h) = history_of(call) {
        store(gw, h, response);
    }
}

/// Stores `history` followed by the answer's output under the answer's id.
pub fn store(gw: &Gateway, mut items: Vec<Value>, response: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Resp {
        id: String,
        #[serde(default)]
        output: Vec<Value>,
    }
    let Ok(r) = serde_json::from_slice::<Resp>(response) else {
        return;
    };
    items.extend(r.output);
    let Ok(value) = serde_json::to_vec(&items) else {
        return;
    };
    let backend = gw.ledger.backend.clone();
    let work = async move {
        if let Err(e) = backend
            .cache_put(
                &store_key(&r.id),
                Bytes::from(value),
                RESPONSES_TTL_MS,
                modelgate_store::now_ms(),
            )
            .await
        {
            tracing::warn!(error = %e, "storing a response for previous_response_id failed");
        }
    };
    if let Ok(h) = tokio::runtime::Handle::try_current() {
        // One short state call; losing it at shutdown only loses a stored conversation.
        #[allow(clippy::disallowed_methods)]
        h.spawn(work);
    }
}

/// The `response` object of a Responses stream's `response.completed` event, if `block` is one.
pub fn completed_response(bytes: &[u8]) -> Option<Vec<u8>> {
    memchr::memmem::find(bytes, b"response.completed")?;
    let mut split = modelgate_formats::sse::SseSplitter::new();
    split.push(bytes).ok()?;
    let mut blocks = Vec::new();
    while let Some(b) = split.next_event() {
        blocks.push(b);
    }
    blocks.extend(split.take_rest());
    blocks.iter().find_map(|b| {
        let ev = modelgate_formats::sse::SseEvent::parse(b);
        let v: Value = serde_json::from_str(ev.data.as_deref()?).ok()?;
        (v.get("type")?.as_str()? == "response.completed")
            .then(|| serde_json::to_vec(v.get("response")?).ok())
            .flatten()
    })
}
