//! Classification of upstream failures, for error mapping and failover.

use bytes::Bytes;
use std::time::Duration;

/// Why an upstream attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamFailure {
    /// Could not connect (refused, DNS, TLS).
    #[error("cannot reach the upstream: {0}")]
    Connect(String),
    /// No answer (or no first byte for streams) within the timeout.
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The upstream answered with an error status.
    #[error("the upstream answered {status}")]
    Status {
        status: u16,
        body: Bytes,
        retry_after: Option<Duration>,
    },
    /// The connection broke or the upstream sent something unreadable.
    #[error("the upstream response broke: {0}")]
    Broken(String),
}

impl UpstreamFailure {
    /// A body that broke while being read.
    pub fn from_body_error(e: &hyper::Error) -> Self {
        UpstreamFailure::Broken(error_chain(e))
    }

    /// Whether another upstream should be tried (connect errors, timeouts, broken responses,
    /// and the statuses listed as retryable).
    pub fn is_retryable(&self, retryable_statuses: &[u16]) -> bool {
        match self {
            UpstreamFailure::Status { status, .. } => retryable_statuses.contains(status),
            _ => true,
        }
    }

    /// The HTTP status the client should see if this is the final failure.
    pub fn client_status(&self) -> u16 {
        match self {
            UpstreamFailure::Connect(_) | UpstreamFailure::Broken(_) => 502,
            UpstreamFailure::Timeout(_) => 504,
            UpstreamFailure::Status { status, .. } => *status,
        }
    }

    /// A short label for logs and metrics.
    pub fn label(&self) -> String {
        match self {
            UpstreamFailure::Connect(_) => "connect_error".into(),
            UpstreamFailure::Timeout(_) => "timeout".into(),
            UpstreamFailure::Status { status, .. } => format!("status_{status}"),
            UpstreamFailure::Broken(_) => "broken_response".into(),
        }
    }
}

/// The statuses retried by default: 408, 409 (lock), 429 and every 5xx that signals a
/// transient upstream problem.
pub const DEFAULT_RETRYABLE_STATUSES: [u16; 8] = [408, 409, 429, 500, 502, 503, 504, 529];

/// Parses `Retry-After` (seconds or an HTTP date is not supported: seconds only, fractional ok)
/// and the OpenAI-style `retry-after-ms`.
pub fn parse_retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_secs_f64((ms / 1000.0).min(3600.0)));
    }
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_and_status() {
        let f = UpstreamFailure::Status {
            status: 429,
            body: Bytes::new(),
            retry_after: None,
        };
        assert!(f.is_retryable(&DEFAULT_RETRYABLE_STATUSES));
        let f = UpstreamFailure::Status {
            status: 400,
            body: Bytes::new(),
            retry_after: None,
        };
        assert!(!f.is_retryable(&DEFAULT_RETRYABLE_STATUSES));
        assert_eq!(
            UpstreamFailure::Timeout(Duration::from_secs(1)).client_status(),
            504
        );
        assert_eq!(UpstreamFailure::Connect("x".into()).client_status(), 502);
    }

    #[test]
    fn retry_after() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(150)));
    }
}
