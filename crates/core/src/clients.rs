//! Pooled HTTP clients for upstream calls, one set per worker thread.
//!
//! The pooled client runs each connection as a task on the runtime that opened it. The server
//! runs one single-threaded runtime per core, so each worker thread keeps its own clients: a
//! request, its upstream connection and the connection's task then all stay on one thread, with
//! no cross-thread wake-ups. Clients are keyed by connect timeout (the connector sets it per
//! client), which is how each provider's `connect_timeout_ms` is applied.

use bytes::Bytes;
use modelgate_providers::{Adapter, ClientHints, Operation, UpstreamClient, UpstreamRequest};
use std::cell::RefCell;
use std::time::Duration;

use crate::catalogue::ProviderEntry;
use crate::tracked::FastMap;

thread_local! {
    static CLIENTS: RefCell<FastMap<u64, UpstreamClient>> = RefCell::new(FastMap::default());
}

/// The client of this thread for a connect timeout.
pub fn for_connect_timeout(connect_timeout: Duration) -> UpstreamClient {
    let ms = connect_timeout.as_millis().min(u128::from(u64::MAX)) as u64;
    CLIENTS.with(|c| {
        let mut map = c.borrow_mut();
        map.entry(ms)
            .or_insert_with(|| modelgate_providers::build_client(connect_timeout))
            .clone()
    })
}

/// Calls a provider's model list with a key: the status and the body (read up to `limit`
/// bytes), all within `timeout`.
pub async fn get_models(
    p: &ProviderEntry,
    secret: &str,
    timeout: Duration,
    limit: usize,
) -> Result<(u16, Bytes), String> {
    let uri = p
        .api
        .url(Operation::Models, "")
        .map_err(|e| e.to_string())?;
    let client = for_connect_timeout(p.connect_timeout);
    let mut req = UpstreamRequest::new(http::Method::GET, uri, Bytes::new());
    p.api
        .authorize(&mut req.headers, secret, &ClientHints::default())
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let resp = match tokio::time::timeout(timeout, client.send(req)).await {
        Err(_) => return Err(format!("no answer within {timeout:?}")),
        Ok(r) => r.map_err(|e| e.to_string())?,
    };
    let status = resp.status().as_u16();
    let rest = timeout.saturating_sub(started.elapsed());
    let body = crate::relay::read_body(resp, rest, limit)
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}
