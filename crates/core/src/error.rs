//! Errors the data plane reports to clients, each with its HTTP status and OpenAI error type.

use modelgate_providers::UpstreamFailure;

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
    },
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
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            GatewayError::Unauthorized(_) => 401,
            GatewayError::Forbidden(_) => 403,
            GatewayError::ModelNotFound(_) => 404,
            GatewayError::BadRequest { .. } => 400,
            GatewayError::Upstream(f) => f.client_status(),
            GatewayError::Unavailable(_) => 503,
            GatewayError::Internal(_) => 500,
        }
    }

    /// OpenAI's `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::Unauthorized(_) => "authentication_error",
            GatewayError::Forbidden(_) => "permission_error",
            GatewayError::ModelNotFound(_) | GatewayError::BadRequest { .. } => {
                "invalid_request_error"
            }
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
            GatewayError::BadRequest { .. } => None,
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

    /// The OpenAI-shaped error body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "message": self.to_string(),
            "type": self.kind(),
            "param": self.param(),
            "code": self.code(),
        }})
    }
}
