//! What goes back to the client: status, content type, headers and a whole or streamed body,
//! and error replies in the client's dialect.

use bytes::Bytes;
use futures::stream::BoxStream;
use modelgate_formats::Dialect;
use modelgate_formats::canonical::ErrorInfo;
use modelgate_formats::codec;

use crate::error::GatewayError;

/// Body stream handed to the HTTP layer.
pub type ClientStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// A reply to the client.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: ReplyBody,
}

pub enum ReplyBody {
    Full(Bytes),
    Stream(ClientStream),
}

impl Reply {
    pub fn json(status: u16, body: Bytes) -> Self {
        Reply {
            status,
            content_type: "application/json".into(),
            headers: vec![],
            body: ReplyBody::Full(body),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// The body of an error in a dialect's shape.
pub fn error_body(dialect: Dialect, e: &ErrorInfo) -> Bytes {
    match dialect {
        // The OpenAI shape is also what every OpenAI-compatible client and the admin API read.
        Dialect::OpenaiChat | Dialect::OpenaiResponses => Bytes::from(openai_error(e).to_string()),
        d => Bytes::from(codec::encode_error(d, e)),
    }
}

fn openai_error(e: &ErrorInfo) -> serde_json::Value {
    use modelgate_formats::canonical::ErrorKind::*;
    let kind = match e.kind {
        InvalidRequest | NotFound | RequestTooLarge => "invalid_request_error",
        Authentication => "authentication_error",
        PaymentRequired => "insufficient_quota",
        Permission => "permission_error",
        RateLimit => "rate_limit_error",
        Api => "server_error",
        BadGateway | Timeout => "upstream_error",
        Overloaded => "service_unavailable",
    };
    serde_json::json!({"error": {"message": e.message, "type": kind, "param": e.param, "code": e.code}})
}

/// An error reply in the client's dialect, with `Retry-After` when the wait is known.
pub fn error(dialect: Dialect, e: &GatewayError) -> Reply {
    let info = e.info();
    let (status, body) = match dialect {
        Dialect::OpenaiChat | Dialect::OpenaiResponses => {
            (e.status(), Bytes::from(e.body().to_string()))
        }
        // Anthropic says "overloaded" with its own 529.
        Dialect::Anthropic => (
            modelgate_formats::anthropic::wire_status(&info),
            error_body(Dialect::Anthropic, &info),
        ),
        d => (e.status(), error_body(d, &info)),
    };
    let mut r = Reply::json(status, body);
    if let Some(d) = e.retry_after() {
        r.headers
            .push(("retry-after", d.as_secs_f64().ceil().max(1.0).to_string()));
    }
    r
}
