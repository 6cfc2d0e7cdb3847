//! Errors the data plane reports to clients, each with its HTTP status, kind and OpenAI
//! `type`/`code`; `info()` turns one into the canonical `ErrorInfo` that every dialect encodes
//! in its own shape.

use modelgate_formats::canonical::{ErrorInfo, ErrorKind};
use modelgate_providers::UpstreamFailure;
use std::time::Duration;

/// A refusal or failure of a data-plane request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("The model `{0}` does not exist or is not served by this gateway")]
    ModelNotFound(String),
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// A limit or quota of the key is reached (429 with `Retry-After`).
    #[error("{message}")]
    Limited {
        message: String,
        code: &'static str,
        retry_after: Option<Duration>,
    },
    /// Out of money: balance, budget (402).
    #[error("{0}")]
    PaymentRequired(String),
    #[error(transparent)]
    Upstream(UpstreamFailure),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    pub fn bad_request(message: impl Into<String>, param: Option<&str>) -> Self {
        GatewayError::BadRequest {
            message: message.into(),
            param: param.map(str::to_owned),
            code: None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            GatewayError::Unauthorized(_) => 401,
            GatewayError::Forbidden(_) => 403,
            GatewayError::ModelNotFound(_) => 404,
            GatewayError::BadRequest { .. } => 400,
            GatewayError::Limited { .. } => 429,
            GatewayError::PaymentRequired(_) => 402,
            GatewayError::Upstream(f) => f.client_status(),
            GatewayError::Unavailable(_) => 503,
            GatewayError::Internal(_) => 500,
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            GatewayError::Unauthorized(_) => ErrorKind::Authentication,
            GatewayError::Forbidden(_) => ErrorKind::Permission,
            GatewayError::ModelNotFound(_) => ErrorKind::NotFound,
            GatewayError::BadRequest { .. } => ErrorKind::InvalidRequest,
            GatewayError::Limited { .. } => ErrorKind::RateLimit,
            GatewayError::PaymentRequired(_) => ErrorKind::PaymentRequired,
            GatewayError::Upstream(UpstreamFailure::Timeout(_)) => ErrorKind::Timeout,
            GatewayError::Upstream(_) => ErrorKind::BadGateway,
            GatewayError::Unavailable(_) => ErrorKind::Overloaded,
            GatewayError::Internal(_) => ErrorKind::Api,
        }
    }

    /// OpenAI's `type` field.
    pub fn openai_type(&self) -> &'static str {
        match self {
            GatewayError::Unauthorized(_) => "authentication_error",
            GatewayError::Forbidden(_) => "permission_error",
            GatewayError::ModelNotFound(_) | GatewayError::BadRequest { .. } => {
                "invalid_request_error"
            }
            GatewayError::Limited { .. } => "rate_limit_error",
            GatewayError::PaymentRequired(_) => "insufficient_quota",
            GatewayError::Upstream(_) => "upstream_error",
            GatewayError::Unavailable(_) => "service_unavailable",
            GatewayError::Internal(_) => "server_error",
        }
    }

    /// OpenAI's `code` field.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            GatewayError::Unauthorized(_) => Some("invalid_api_key"),
            GatewayError::Forbidden(_) => Some("model_not_allowed"),
            GatewayError::ModelNotFound(_) => Some("model_not_found"),
            GatewayError::BadRequest { code, .. } => *code,
            GatewayError::Limited { code, .. } => Some(code),
            GatewayError::PaymentRequired(_) => Some("insufficient_quota"),
            GatewayError::Upstream(UpstreamFailure::Timeout(_)) => Some("upstream_timeout"),
            GatewayError::Upstream(UpstreamFailure::Connect(_)) => Some("upstream_unreachable"),
            GatewayError::Upstream(_) => Some("upstream_error"),
            GatewayError::Unavailable(_) => Some("no_available_upstream"),
            GatewayError::Internal(_) => None,
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            GatewayError::BadRequest { param, .. } => param.as_deref(),
            GatewayError::ModelNotFound(_) | GatewayError::Forbidden(_) => Some("model"),
            _ => None,
        }
    }

    /// How long the client should wait before trying again, when it is known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::Limited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error in canonical form.
    pub fn info(&self) -> ErrorInfo {
        ErrorInfo {
            status: self.status(),
            kind: self.kind(),
            message: self.to_string(),
            code: self.code().map(str::to_owned),
            param: self.param().map(str::to_owned),
        }
    }

    /// The OpenAI-shaped error body (also the admin API's shape).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "message": self.to_string(),
            "type": self.openai_type(),
            "param": self.param(),
            "code": self.code(),
        }})
    }
}
