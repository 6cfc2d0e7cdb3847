//! Pooled HTTP clients for upstream calls, one set per worker thread.
//!
//! A `reqwest::Client` runs each pooled connection as a task on the runtime that opened it. The
//! server runs one single-threaded runtime per core, so each worker thread keeps its own clients:
//! a request, its upstream connection and the connection's task then all stay on one thread, with
//! no cross-thread wake-ups. Clients are keyed by connect timeout (reqwest sets it per client),
//! which is how each provider's `connect_timeout_ms` is applied.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

thread_local! {
    static CLIENTS: RefCell<HashMap<u64, reqwest::Client>> = RefCell::new(HashMap::new());
}

/// The client of this thread for a connect timeout.
pub fn for_connect_timeout(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    let ms = connect_timeout.as_millis().min(u128::from(u64::MAX)) as u64;
    CLIENTS.with(|c| {
        let mut map = c.borrow_mut();
        if let Some(client) = map.get(&ms) {
            return Ok(client.clone());
        }
        let client = modelgate_providers::build_client(connect_timeout)?;
        map.insert(ms, client.clone());
        Ok(client)
    })
}
