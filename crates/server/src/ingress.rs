//! The front door of one worker thread: accepts connections, speaks HTTP/1.1 (hyper), and
//! hands each request either straight to the data plane or to the axum router.
//!
//! The data-plane POST routes that need nothing but their endpoint (`routes::hot_data_post`:
//! chat completions, responses, messages, embeddings and their aliases) are served here
//! without the router's layers: the body is read with the same size limit, the request id is
//! taken from `x-request-id` or made (and sent back), and a panic becomes a 500 like in the
//! router's panic layer. Requests from browsers (an `Origin` header, for CORS) and every other
//! route go through the router (`app::router`) with its layers. Owns no request logic.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, header};
use axum::response::IntoResponse;
use futures::FutureExt;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{data, routes};

/// How often a worker's anchor timer fires (see `serve`): sooner than the timers a request
/// arms by default (the 30 s header-read timeout, the upstream and stream idle timeouts). A
/// provider timeout set below it still wakes the driver once per request, as before.
const TIMER_ANCHOR: Duration = Duration::from_secs(5);

/// The response header that echoes the request id, built once (a name given as `&str` is
/// validated on every insert).
const X_REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// What every connection of a worker shares.
struct Front {
    state: AppState,
    router: Router,
    body_limit: usize,
}

/// Serves `listener` until `stop`, then lets open connections finish their request (at most
/// `drain` long).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    router: Router,
    stop: CancellationToken,
    drain: Duration,
) {
    let front = Arc::new(Front {
        body_limit: state.settings.body_limit_bytes,
        state,
        router,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    // A timer that is always due within `TIMER_ANCHOR` on this worker's clock. Tokio's time
    // driver wakes its own thread (an `eventfd` write) whenever a timer is registered that is
    // due before the driver's next planned wake-up, or when it had none planned. At low
    // load, every request's header-read timer was such a timer: one `write` syscall per
    // request (`perf record -e` on an uprobe at mio's `Waker::wake`, call graph:
    // `time::Handle::reregister` under `Sleep::poll` here). With the anchor due sooner than
    // the per-request timers, none of them wakes the driver.
    let anchor = tokio::time::sleep(TIMER_ANCHOR);
    tokio::pin!(anchor);
    loop {
        let (tcp, _) = tokio::select! {
            _ = stop.cancelled() => break,
            () = &mut anchor => {
                anchor.as_mut().reset(tokio::time::Instant::now() + TIMER_ANCHOR);
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let front = front.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let front = front.clone();
            async move { Ok::<_, Infallible>(front.handle(req).await) }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
        #[allow(clippy::disallowed_methods)] // one task per connection; drained by `graceful`
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {drain:?}; closing them");
    }
}

impl Front {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if req.method() == Method::POST
            && !req.headers().contains_key(header::ORIGIN)
            && let Some(endpoint) = routes::hot_data_post(req.uri().path())
        {
            return self.data(endpoint, req).await;
        }
        match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// A data-plane request without the router.
    async fn data(
        &self,
        endpoint: modelgate_core::call::Endpoint,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, self.body_limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return body_error(&*e).into_response(),
        };
        let inbound = data::inbound(endpoint, &parts.headers, &parts.uri, body);
        let request_id = HeaderValue::from_str(&inbound.request_id).ok();
        let served = AssertUnwindSafe(data::serve(&self.state, inbound))
            .catch_unwind()
            .await;
        let mut resp = match served {
            Ok(r) => r,
            Err(_) => {
                tracing::error!("a request handler panicked");
                ApiError::internal("internal error").into_response()
            }
        };
        if let Some(id) = request_id {
            resp.headers_mut().insert(X_REQUEST_ID, id);
        }
        resp
    }
}

/// The body could not be read: too large (413) or broken (400), worded as the router's
/// extractor words it.
fn body_error(e: &(dyn std::error::Error + 'static)) -> ApiError {
    if e.is::<http_body_util::LengthLimitError>() {
        crate::extract::body_refused(
            true,
            "Failed to buffer the request body: length limit exceeded".to_owned(),
        )
    } else {
        crate::extract::body_refused(false, format!("Failed to read the request body: {e}"))
    }
}
