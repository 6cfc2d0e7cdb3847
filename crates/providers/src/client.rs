//! The pooled HTTP client shared by every upstream call.

use std::time::Duration;

/// Builds the shared client: keep-alive pool, HTTP/1.1 and HTTP/2 (ALPN), no total timeout
/// (each call sets its own), no automatic decompression (bodies pass through as sent).
pub fn build_client(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .user_agent(concat!("modelgate/", env!("CARGO_PKG_VERSION")))
        .build()
}
