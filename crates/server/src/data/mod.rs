//! Data-plane handlers, one file per dialect (`openai`, `anthropic`, `gemini`). Each turns
//! the HTTP request into a core `Inbound` (credential, streaming hints, session header, the
//! client's provider headers, the raw body) and hands it to `pipeline::handle`; nothing here
//! reads the body. `schemas` documents the bodies of the four dialects for OpenAPI.

pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod schemas;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use modelgate_core::call::{Endpoint, Inbound};
use modelgate_core::reply::{Reply, ReplyBody};
use modelgate_providers::ClientHints;
use std::time::Instant;

use crate::state::AppState;

// The headers a data-plane request is read for, named once: a lookup by `&str` parses and
// lowercases the name on every call.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");
const X_SESSION_ID: HeaderName = HeaderName::from_static("x-session-id");
const X_CLAUDE_CODE_SESSION_ID: HeaderName = HeaderName::from_static("x-claude-code-session-id");
const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");

/// The names of the headers the core puts on replies, built once. `HeaderName::from_static`
/// validates and classifies its argument on every call (~600 instructions per header in
/// callgrind); a reply carries three to ten of these.
static REPLY_NAMES: std::sync::LazyLock<Vec<(&'static str, HeaderName)>> =
    std::sync::LazyLock::new(|| {
        [
            "x-modelgate-provider",
            "x-modelgate-attempts",
            "x-modelgate-overhead-ms",
            "x-modelgate-cache",
            "x-modelgate-token-estimate",
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ]
        .into_iter()
        .map(|n| (n, HeaderName::from_static(n)))
        .collect()
    });

/// The header name of a core reply header: the prebuilt one when it is known, else made.
fn reply_name(k: &'static str) -> HeaderName {
    REPLY_NAMES
        .iter()
        .find(|(n, _)| *n == k)
        .map_or_else(|| HeaderName::from_static(k), |(_, h)| h.clone())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request id: the client's `x-request-id` (set by the request-id layer when absent).
fn request_id(headers: &HeaderMap) -> String {
    header_str(headers, &X_REQUEST_ID)
        .filter(|v| v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(modelgate_store::new_id)
}

/// The presented data-plane key: `Authorization: Bearer`, `x-api-key` (Anthropic clients),
/// `x-goog-api-key` or `?key=` (Gemini clients).
pub fn presented_key(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = header_str(headers, &header::AUTHORIZATION) {
        let v = v.trim();
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim().to_owned());
        }
    }
    for h in [&X_API_KEY, &X_GOOG_API_KEY] {
        if let Some(v) = header_str(headers, h) {
            return Some(v.trim().to_owned());
        }
    }
    uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.into_owned())
    })
}

/// Builds the core's view of a request.
pub fn inbound(endpoint: Endpoint, headers: &HeaderMap, uri: &Uri, body: Bytes) -> Inbound {
    let started = Instant::now();
    let session_header = [&X_SESSION_ID, &X_CLAUDE_CODE_SESSION_ID]
        .iter()
        .find_map(|h| header_str(headers, h).map(str::to_owned));
    let accept = header_str(headers, &header::ACCEPT);
    Inbound {
        request_id: request_id(headers),
        endpoint,
        presented_key: presented_key(headers, uri),
        accepts_sse: accept.is_some_and(|a| a.contains("text/event-stream")),
        session_header,
        hints: ClientHints {
            anthropic_version: headers.get(&ANTHROPIC_VERSION).cloned(),
            anthropic_beta: headers.get(&ANTHROPIC_BETA).cloned(),
        },
        content_type: header_str(headers, &header::CONTENT_TYPE).map(str::to_owned),
        accept: accept.map(str::to_owned),
        cache_control: modelgate_core::call::ClientCacheControl::parse(header_str(
            headers,
            &header::CACHE_CONTROL,
        )),
        body,
        started,
    }
}

/// Runs a request through the pipeline.
pub async fn serve(s: &AppState, inbound: Inbound) -> Response {
    into_response(modelgate_core::pipeline::handle(&s.gateway, inbound).await)
}

/// Turns a core reply into an HTTP response.
pub fn into_response(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let streaming = matches!(r.body, ReplyBody::Stream(_));
    let mut resp = match r.body {
        ReplyBody::Full(b) => Response::new(Body::from(b)),
        ReplyBody::Stream(s) => Response::new(Body::new(StreamBody {
            inner: s,
            peeked: None,
            done: false,
        })),
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&r.content_type) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if streaming && r.content_type.starts_with("text/event-stream") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    for (k, v) in r.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(reply_name(k), v);
        }
    }
    resp
}

/// A streamed reply body that looks one item ahead, so that the end of the stream is known
/// together with its last chunk: the HTTP layer then writes the last chunk and the end of the
/// body in one write.
struct StreamBody {
    inner: modelgate_core::reply::ClientStream,
    peeked: Option<Result<Bytes, std::io::Error>>,
    done: bool,
}

impl http_body::Body for StreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        use futures::StreamExt;
        use std::task::Poll;
        let item = match self.peeked.take() {
            Some(item) => item,
            None if self.done => return Poll::Ready(None),
            None => match self.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(item)) => item,
            },
        };
        if item.is_ok() && !self.done {
            match self.inner.poll_next_unpin(cx) {
                Poll::Ready(None) => self.done = true,
                Poll::Ready(Some(next)) => self.peeked = Some(next),
                Poll::Pending => {}
            }
        }
        Poll::Ready(Some(item.map(http_body::Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.peeked.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_header_names_are_the_prebuilt_ones_or_made() {
        for (n, h) in REPLY_NAMES.iter() {
            assert_eq!(reply_name(n), *h);
            assert_eq!(h.as_str(), *n);
        }
        assert_eq!(reply_name("x-other").as_str(), "x-other");
        let r = Reply {
            status: 200,
            content_type: "application/json".into(),
            headers: vec![
                ("x-modelgate-attempts", "2".into()),
                ("x-something-else", "v".into()),
            ],
            body: ReplyBody::Full(Bytes::from_static(b"{}")),
        };
        let resp = into_response(r);
        assert_eq!(resp.headers()["x-modelgate-attempts"], "2");
        assert_eq!(resp.headers()["x-something-else"], "v");
    }
}
