//! The pooled HTTP client for upstream calls: HTTP/1.1 keep-alive connections (plain TCP, or
//! rustls with ring and the platform's trust store), `TCP_NODELAY`, a connect timeout, no
//! redirects, no decompression (bodies pass through as sent), no total timeout (callers time
//! each phase themselves).
//!
//! The pool is deliberately small: idle connections per origin (scheme, host, port) in a
//! last-in-first-out list. A connection goes back to the list when its answer's body has been
//! read to the end, and is dropped when it broke, when the body was abandoned, or when it sat
//! idle longer than `IDLE_TIMEOUT`. A request that fails on a reused connection before
//! anything was sent (the upstream closed it meanwhile) is retried once on a fresh one. Each
//! worker thread has its own client (`core::clients`), so a pooled connection's task, the
//! request and its reply stay on one thread.

use bytes::Bytes;
use http::header::{HOST, HeaderMap, HeaderValue, USER_AGENT};
use http::uri::{Authority, PathAndQuery};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::failure::{UpstreamFailure, error_chain};

/// An upstream answer, its body not read yet.
pub type UpstreamResponse = http::Response<ResponseBody>;

const USER_AGENT_VALUE: &str = concat!("modelgate/", env!("CARGO_PKG_VERSION"));
/// Idle connections older than this are closed instead of reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 1024;

type Sender = SendRequest<Full<Bytes>>;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Origin {
    https: bool,
    authority: Authority,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// Idle connections by origin. foldhash, not SipHash: the map is looked up twice per
/// upstream request (check-out and return) and its keys are the configured upstreams.
type IdleMap = HashMap<Origin, Vec<Idle>, foldhash::fast::RandomState>;

struct Pool {
    idle: Mutex<IdleMap>,
    connect_timeout: Duration,
}

/// The TLS settings of every client in the process, built on the first `https` connection:
/// the platform verifier reads and parses the system's trust store when it is built, so one
/// copy is shared instead of one per worker thread and connect timeout, and a gateway whose
/// upstreams are all plain HTTP never loads it. A store that cannot be read fails every
/// `https` call with the reason until the process restarts.
static TLS: std::sync::OnceLock<Result<tokio_rustls::TlsConnector, String>> =
    std::sync::OnceLock::new();

fn tls_connector() -> Result<&'static tokio_rustls::TlsConnector, &'static str> {
    TLS.get_or_init(|| {
        use rustls_platform_verifier::ConfigVerifierExt;
        let mut tls = rustls::ClientConfig::with_platform_verifier().map_err(|e| e.to_string())?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
    })
    .as_ref()
    .map_err(String::as_str)
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// A pooled upstream client; clones share the pool.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    pool: Arc<Pool>,
}

/// Builds a client with its own pool (TLS settings are shared, see `TLS`).
pub fn build_client(connect_timeout: Duration) -> UpstreamClient {
    UpstreamClient {
        pool: Arc::new(Pool {
            idle: Mutex::new(IdleMap::default()),
            connect_timeout,
        }),
    }
}

/// One upstream request.
pub struct UpstreamRequest {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl UpstreamRequest {
    /// A request with no headers yet but the user agent.
    pub fn new(method: http::Method, uri: http::Uri, body: Bytes) -> Self {
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        Self {
            method,
            uri,
            headers,
            body,
        }
    }
}

impl UpstreamClient {
    /// Sends a request and waits for the answer's head (the body is read by the caller).
    pub async fn send(&self, r: UpstreamRequest) -> Result<UpstreamResponse, UpstreamFailure> {
        let (origin, path) = origin_of(&r.uri)?;
        let mut req = http::Request::new(Full::new(r.body));
        *req.method_mut() = r.method;
        *req.uri_mut() = http::Uri::from(path);
        *req.headers_mut() = r.headers;
        if let Ok(host) = HeaderValue::from_str(origin.authority.as_str()) {
            req.headers_mut().insert(HOST, host);
        }
        let mut retried = false;
        loop {
            let (mut sender, reused) = match self.pool.checkout(&origin).await {
                Some(s) => (s, true),
                None => {
                    let mut s = self.pool.connect(&origin).await?;
                    s.ready()
                        .await
                        .map_err(|e| UpstreamFailure::Connect(error_chain(&e)))?;
                    (s, false)
                }
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    let body = ResponseBody {
                        inner: body,
                        back: Some((self.pool.clone(), origin, sender)),
                    };
                    return Ok(http::Response::from_parts(parts, body));
                }
                Err(mut e) => match e.take_message() {
                    // Not sent: the idle connection had been closed by the upstream.
                    Some(r) if reused && !retried => {
                        retried = true;
                        req = r;
                    }
                    _ => return Err(UpstreamFailure::Broken(error_chain(e.error()))),
                },
            }
        }
    }
}

/// The origin of an absolute `http`/`https` URL, and its path and query.
fn origin_of(uri: &http::Uri) -> Result<(Origin, PathAndQuery), UpstreamFailure> {
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(UpstreamFailure::Connect(format!(
                "not an http(s) URL: {uri}"
            )));
        }
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| UpstreamFailure::Connect(format!("no host in {uri}")))?;
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Ok((Origin { https, authority }, path))
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdleMap> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently used idle connection of `origin` that is still usable.
    async fn checkout(&self, origin: &Origin) -> Option<Sender> {
        loop {
            let idle = {
                let mut map = self.lock();
                let list = map.get_mut(origin)?;
                let idle = list.pop();
                if list.is_empty() {
                    map.remove(origin);
                }
                idle?
            };
            if idle.since.elapsed() > IDLE_TIMEOUT {
                // The rest of the list is older still.
                self.lock().remove(origin);
                continue;
            }
            let mut sender = idle.sender;
            if sender.is_closed() {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Puts a connection whose answer was read to the end back in the list.
    fn checkin(&self, origin: Origin, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut map = self.lock();
        let list = map.entry(origin).or_default();
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Opens a connection (TCP, then TLS for `https`) within the connect timeout.
    async fn connect(&self, origin: &Origin) -> Result<Sender, UpstreamFailure> {
        let timeout = self.connect_timeout;
        match tokio::time::timeout(timeout, self.open(origin)).await {
            Err(_) => Err(UpstreamFailure::Connect(format!(
                "connecting to {} took longer than {timeout:?}",
                origin.authority
            ))),
            Ok(r) => r,
        }
    }

    async fn open(&self, origin: &Origin) -> Result<Sender, UpstreamFailure> {
        let fail = |what: &str, e: &dyn std::error::Error| {
            UpstreamFailure::Connect(format!("{what} {}: {}", origin.authority, error_chain(e)))
        };
        let host = origin.authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = origin
            .authority
            .port_u16()
            .unwrap_or(if origin.https { 443 } else { 80 });
        let tcp = connect_tcp(host, port)
            .await
            .map_err(|e| fail("cannot connect to", &e))?;
        if origin.https {
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| fail("invalid TLS server name", &e))?;
            let connector = tls_connector().map_err(|e| {
                UpstreamFailure::Connect(format!("cannot set up TLS to {}: {e}", origin.authority))
            })?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| fail("TLS handshake with", &e))?;
            handshake(TokioIo::new(tls)).await
        } else {
            handshake(TokioIo::new(tcp)).await
        }
    }
}

async fn connect_tcp(host: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_nodelay(true)?;
        socket.set_keepalive(true)?;
        match socket.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("the host name resolved to no address")))
}

async fn handshake<T>(io: TokioIo<T>) -> Result<Sender, UpstreamFailure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(io)
        .await
        .map_err(|e| UpstreamFailure::Connect(error_chain(&e)))?;
    // The connection's task ends when the connection closes (upstream or idle drop); a
    // shutdown does not need to wait for it.
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// The body of an upstream answer. Read to the end, it hands its connection back to the pool;
/// dropped before, the connection is closed with it.
pub struct ResponseBody {
    inner: hyper::body::Incoming,
    back: Option<(Arc<Pool>, Origin, Sender)>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled
            && let Some((pool, origin, sender)) = self.back.take()
        {
            pool.checkin(origin, sender);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The declared length of an answer's body (`Content-Length`), if any.
pub fn content_length(resp: &UpstreamResponse) -> Option<u64> {
    resp.body().size_hint().exact().or_else(|| {
        resp.headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    })
}
