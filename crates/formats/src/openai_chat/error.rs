//! OpenAI error bodies `{"error":{"message","type","param","code"}}` ↔ canonical `ErrorInfo`,
//! plus the other shapes OpenAI-compatible servers answer errors with.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::types::lenient_string;
use crate::canonical::error::canonical_status;
use crate::canonical::{ErrorInfo, ErrorKind};

/// The OpenAI `type` of a kind.
pub fn kind_to_type(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PaymentRequired => "insufficient_quota",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Api | ErrorKind::BadGateway | ErrorKind::Overloaded | ErrorKind::Timeout => {
            "server_error"
        }
    }
}

/// The kind an OpenAI `type` or `code` names, if it names one.
pub fn kind_from_name(s: &str) -> Option<ErrorKind> {
    Some(match s {
        "invalid_request_error" | "context_length_exceeded" | "invalid_value" => {
            ErrorKind::InvalidRequest
        }
        "authentication_error" | "invalid_api_key" => ErrorKind::Authentication,
        "insufficient_quota" | "billing_error" | "billing_hard_limit_reached" => {
            ErrorKind::PaymentRequired
        }
        "permission_error" | "permission_denied" => ErrorKind::Permission,
        "not_found_error" | "model_not_found" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" | "rate_limit_exceeded" | "tokens" | "requests" => ErrorKind::RateLimit,
        "server_error" | "api_error" | "internal_error" => ErrorKind::Api,
        "overloaded_error" | "engine_overloaded" | "service_unavailable" => ErrorKind::Overloaded,
        "timeout" | "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The code sent when the error has none of its own.
fn default_code(k: ErrorKind) -> Option<&'static str> {
    match k {
        ErrorKind::RateLimit => Some("rate_limit_exceeded"),
        ErrorKind::PaymentRequired => Some("insufficient_quota"),
        ErrorKind::RequestTooLarge => Some("request_too_large"),
        _ => None,
    }
}

#[derive(Serialize)]
struct OutError<'a> {
    error: OutDetail<'a>,
}

#[derive(Serialize)]
struct OutDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// Encodes an error in OpenAI's shape (the HTTP status is `e.status`).
pub fn encode_error(e: &ErrorInfo) -> Vec<u8> {
    let out = OutError {
        error: OutDetail {
            message: &e.message,
            kind: kind_to_type(e.kind),
            param: e.param.as_deref(),
            code: e.code.as_deref().or(default_code(e.kind)),
        },
    };
    let mut buf = Vec::with_capacity(128 + e.message.len());
    // Serializing these plain structs cannot fail.
    let _ = serde_json::to_writer(&mut buf, &out);
    buf
}

/// `code` is a string for OpenAI and a number for some compatible servers.
fn code_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Code {
        S(String),
        N(i64),
        Other(IgnoredAny),
    }
    Ok(match Option::<Code>::deserialize(d)? {
        Some(Code::S(s)) => Some(s),
        Some(Code::N(n)) => Some(n.to_string()),
        Some(Code::Other(_)) | None => None,
    })
}

#[derive(Deserialize)]
struct InDetail {
    #[serde(default, deserialize_with = "lenient_string")]
    message: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    param: Option<String>,
    #[serde(default, deserialize_with = "code_string")]
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum InErrorField {
    Detail(InDetail),
    Text(String),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct InError {
    error: Option<InErrorField>,
    #[serde(default, deserialize_with = "lenient_string")]
    message: Option<String>,
    detail: Option<serde_json::Value>,
}

fn status_or(status: u16, kind: ErrorKind) -> u16 {
    if status >= 400 { status } else { kind.status() }
}

/// Decodes an OpenAI error body. With an error status it also takes the shapes other
/// OpenAI-compatible servers use: `{"error":"text"}`, `{"message":…}`, `{"detail":…}` (FastAPI).
pub fn decode_error(status: u16, body: &[u8]) -> Option<ErrorInfo> {
    let e: InError = serde_json::from_slice(body).ok()?;
    let is_error_status = status >= 400;
    let (message, kind_name, param, code) = match e.error {
        Some(InErrorField::Detail(d)) if d.message.is_some() || d.kind.is_some() => {
            (d.message.unwrap_or_default(), d.kind, d.param, d.code)
        }
        Some(InErrorField::Text(t)) if is_error_status => (t, None, None, None),
        _ if !is_error_status => return None,
        _ => match (e.message, e.detail) {
            (Some(m), _) => (m, None, None, None),
            (None, Some(serde_json::Value::String(s))) => (s, None, None, None),
            (None, Some(other)) => (other.to_string(), None, None, None),
            (None, None) => return None,
        },
    };
    // The body's `type` wins, then the HTTP status, then the `code` (for 200-status bodies).
    let kind = kind_name
        .as_deref()
        .and_then(kind_from_name)
        .or_else(|| is_error_status.then(|| ErrorKind::from_status(status)))
        .or_else(|| code.as_deref().and_then(kind_from_name))
        .unwrap_or(ErrorKind::Api)
        .refined_by(status);
    Some(ErrorInfo {
        status: status_or(canonical_status(status), kind),
        kind,
        message,
        code,
        param,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_types_yield_to_the_status() {
        // OpenAI answers a wrong key with 401 and type `invalid_request_error`.
        let e = decode_error(
            401,
            br#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        )
        .unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
        // An OpenAI-compatible server saying 529 `server_error` is overloaded (canonical 503).
        let e = decode_error(
            529,
            br#"{"error":{"message":"busy","type":"server_error"}}"#,
        )
        .unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Overloaded, 503));
        let e = decode_error(
            500,
            br#"{"error":{"message":"oops","type":"server_error"}}"#,
        )
        .unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Api, 500));
    }
}
