//! Errors in canonical form: what went wrong, independent of the dialect that says it.
//!
//! `ErrorInfo` is what an upstream's error body decodes to and what the gateway's own refusals
//! are built as; each dialect module encodes it in its own shape and status
//! (OpenAI `{"error":{"message","type","param","code"}}`, Anthropic
//! `{"type":"error","error":{"type","message"}}`, Gemini `{"error":{"code","message","status"}}`).

use serde::{Deserialize, Serialize};

/// The kind of an error, mapped to each dialect's type names and to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 400: malformed or unsupported request.
    InvalidRequest,
    /// 401: missing or wrong credentials.
    Authentication,
    /// 402: out of money (balance, budget).
    PaymentRequired,
    /// 403: not allowed.
    Permission,
    /// 404: unknown model, path or object.
    NotFound,
    /// 413: request too large.
    RequestTooLarge,
    /// 429: rate limit or quota.
    RateLimit,
    /// 500: the gateway or upstream failed.
    Api,
    /// 502: the upstream could not be reached or broke.
    BadGateway,
    /// 503 / Anthropic 529: overloaded or unavailable.
    Overloaded,
    /// 504: the upstream did not answer in time.
    Timeout,
}

impl ErrorKind {
    /// The HTTP status this kind is answered with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PaymentRequired => 402,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimit => 429,
            ErrorKind::Api => 500,
            ErrorKind::BadGateway => 502,
            ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
        }
    }

    /// The kind an HTTP status stands for (used when an upstream's body says nothing better).
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            402 => ErrorKind::PaymentRequired,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimit,
            502 => ErrorKind::BadGateway,
            503 | 529 => ErrorKind::Overloaded,
            504 => ErrorKind::Timeout,
            _ if status < 500 => ErrorKind::InvalidRequest,
            _ => ErrorKind::Api,
        }
    }

    /// A generic kind made specific by an HTTP status that says more: a server error (`Api`:
    /// OpenAI `server_error`, Gemini `INTERNAL`, Anthropic `api_error`) by 502, 503/529 or
    /// 504; an invalid request (OpenAI answers a bad key with 401 `invalid_request_error`) by
    /// 401, 402, 403 or 429 (a 404 or 413 stays an invalid request with that status).
    pub fn refined_by(self, status: u16) -> Self {
        match (self, ErrorKind::from_status(status)) {
            (
                ErrorKind::Api,
                k @ (ErrorKind::Overloaded | ErrorKind::Timeout | ErrorKind::BadGateway),
            ) => k,
            (
                ErrorKind::InvalidRequest,
                k @ (ErrorKind::Authentication
                | ErrorKind::PaymentRequired
                | ErrorKind::Permission
                | ErrorKind::RateLimit),
            ) => k,
            (k, _) => k,
        }
    }
}

/// An upstream's HTTP error status in canonical terms: Anthropic's 529 (overloaded) is 503,
/// which each dialect's encoder turns into its own (Anthropic 529 again, others 503).
pub fn canonical_status(status: u16) -> u16 {
    if status == 529 { 503 } else { status }
}

/// An error to report to a client, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The HTTP status to answer with (usually `kind.status()`, or the upstream's own status).
    pub status: u16,
    pub kind: ErrorKind,
    pub message: String,
    /// OpenAI `code` (e.g. `rate_limit_exceeded`, `model_not_found`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// OpenAI `param`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl ErrorInfo {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            status: kind.status(),
            kind,
            message: message.into(),
            code: None,
            param: None,
        }
    }
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// Why a body could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The body is not valid JSON, or not the shape the dialect requires.
    #[error("invalid request body: {0}")]
    Invalid(String),
    /// Valid, but uses something the target dialect cannot express and that cannot be dropped
    /// without changing the meaning (answered 400 to the client).
    #[error("cannot convert: {0}")]
    Unsupported(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_kinds_are_refined_by_a_more_specific_status() {
        assert_eq!(ErrorKind::Api.refined_by(529), ErrorKind::Overloaded);
        assert_eq!(ErrorKind::Api.refined_by(503), ErrorKind::Overloaded);
        assert_eq!(ErrorKind::Api.refined_by(504), ErrorKind::Timeout);
        assert_eq!(ErrorKind::Api.refined_by(502), ErrorKind::BadGateway);
        assert_eq!(ErrorKind::Api.refined_by(500), ErrorKind::Api);
        assert_eq!(
            ErrorKind::InvalidRequest.refined_by(401),
            ErrorKind::Authentication
        );
        assert_eq!(
            ErrorKind::InvalidRequest.refined_by(429),
            ErrorKind::RateLimit
        );
        assert_eq!(
            ErrorKind::InvalidRequest.refined_by(404),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            ErrorKind::InvalidRequest.refined_by(200),
            ErrorKind::InvalidRequest
        );
        // A specific kind stays what the body says.
        assert_eq!(ErrorKind::RateLimit.refined_by(503), ErrorKind::RateLimit);
        assert_eq!(canonical_status(529), 503);
        assert_eq!(canonical_status(429), 429);
    }
}
