//! Anthropic error bodies `{"type":"error","error":{"type","message"}}` ↔ canonical
//! `ErrorInfo`, and the HTTP status Anthropic uses for each kind (529 when overloaded).

use serde::{Deserialize, Serialize};

use crate::canonical::{ErrorInfo, ErrorKind};
use crate::openai_chat::types::lenient_string;

/// The Anthropic error `type` of a kind.
pub fn kind_to_type(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PaymentRequired => "billing_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Api | ErrorKind::BadGateway => "api_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
    }
}

/// The kind an Anthropic error `type` names.
pub fn kind_from_type(s: &str) -> Option<ErrorKind> {
    Some(match s {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "billing_error" => ErrorKind::PaymentRequired,
        "permission_error" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" => ErrorKind::RateLimit,
        "api_error" => ErrorKind::Api,
        "overloaded_error" => ErrorKind::Overloaded,
        "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The status to answer an Anthropic client with: `e.status`, except that an overloaded error
/// is 529 on the Anthropic wire (canonical uses 503).
pub fn wire_status(e: &ErrorInfo) -> u16 {
    if e.kind == ErrorKind::Overloaded && e.status == 503 {
        529
    } else {
        e.status
    }
}

#[derive(Serialize)]
struct OutError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: OutDetail<'a>,
}

#[derive(Serialize)]
struct OutDetail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// Encodes an error in Anthropic's shape (send it with `wire_status(e)`).
pub fn encode_error(e: &ErrorInfo) -> Vec<u8> {
    let mut buf = Vec::with_capacity(96 + e.message.len());
    // Serializing these plain structs cannot fail.
    let _ = serde_json::to_writer(
        &mut buf,
        &OutError {
            kind: "error",
            error: OutDetail {
                kind: kind_to_type(e.kind),
                message: &e.message,
            },
        },
    );
    buf
}

#[derive(Deserialize)]
struct InError {
    #[serde(rename = "type", default, deserialize_with = "lenient_string")]
    kind: Option<String>,
    error: InDetail,
}

#[derive(Deserialize)]
struct InDetail {
    #[serde(rename = "type", default, deserialize_with = "lenient_string")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    message: Option<String>,
}

/// Decodes an Anthropic error body (also when the top-level `"type":"error"` is missing, as
/// some Anthropic-compatible servers do). The kind comes from `error.type`, else the status;
/// 529 becomes 503 (`wire_status` turns it back for Anthropic clients).
pub fn decode_error(status: u16, body: &[u8]) -> Option<ErrorInfo> {
    let e: InError = serde_json::from_slice(body).ok()?;
    if e.kind.as_deref().is_some_and(|k| k != "error") {
        return None;
    }
    if e.error.kind.is_none() && e.error.message.is_none() {
        return None;
    }
    let is_error_status = status >= 400;
    let kind = e
        .error
        .kind
        .as_deref()
        .and_then(kind_from_type)
        .unwrap_or_else(|| {
            if is_error_status {
                ErrorKind::from_status(status)
            } else {
                ErrorKind::Api
            }
        })
        .refined_by(status);
    Some(ErrorInfo {
        status: if status == 529 {
            503
        } else if is_error_status {
            status
        } else {
            kind.status()
        },
        kind,
        message: e.error.message.unwrap_or_default(),
        code: None,
        param: None,
    })
}

/// The error of a mid-stream `error` event.
pub(crate) fn stream_error(data: &str) -> ErrorInfo {
    decode_error(200, data.as_bytes())
        .unwrap_or_else(|| ErrorInfo::new(ErrorKind::Api, "upstream stream error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_with_529_is_overloaded() {
        let e = decode_error(
            529,
            br#"{"type":"error","error":{"type":"api_error","message":"busy"}}"#,
        )
        .unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Overloaded, 503));
        assert_eq!(wire_status(&e), 529);
    }
}
