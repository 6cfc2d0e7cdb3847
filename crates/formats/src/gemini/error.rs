//! Gemini error bodies `{"error":{"code","message","status"}}` ↔ canonical `ErrorInfo`.

use super::types::{ErrorBody, ErrorEnvelope};
use crate::canonical::error::canonical_status;
use crate::canonical::{ErrorInfo, ErrorKind};

/// The gRPC-style `status` Gemini names an error kind with.
pub(crate) fn status_name(e: &ErrorInfo) -> &'static str {
    match e.kind {
        ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::PaymentRequired => "FAILED_PRECONDITION",
        ErrorKind::Permission => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimit => "RESOURCE_EXHAUSTED",
        ErrorKind::Api | ErrorKind::BadGateway => "INTERNAL",
        ErrorKind::Overloaded => "UNAVAILABLE",
        ErrorKind::Timeout => "DEADLINE_EXCEEDED",
    }
}

fn kind_of(status: Option<&str>, message: &str, http: u16) -> ErrorKind {
    match status {
        Some("FAILED_PRECONDITION") if message.to_ascii_lowercase().contains("billing") => {
            ErrorKind::PaymentRequired
        }
        Some("INVALID_ARGUMENT") | Some("OUT_OF_RANGE") => ErrorKind::InvalidRequest,
        Some("FAILED_PRECONDITION") => ErrorKind::InvalidRequest,
        Some("UNAUTHENTICATED") => ErrorKind::Authentication,
        Some("PERMISSION_DENIED") => ErrorKind::Permission,
        Some("NOT_FOUND") => ErrorKind::NotFound,
        Some("RESOURCE_EXHAUSTED") => ErrorKind::RateLimit,
        Some("INTERNAL") | Some("UNKNOWN") => ErrorKind::Api,
        Some("UNAVAILABLE") => ErrorKind::Overloaded,
        Some("DEADLINE_EXCEEDED") => ErrorKind::Timeout,
        _ => ErrorKind::from_status(http),
    }
}

/// A decoded Gemini error body → canonical (the HTTP status given wins over `code`).
pub(crate) fn info_from_body(http: u16, b: &ErrorBody) -> ErrorInfo {
    let http = if http == 0 { b.code } else { http };
    let http = if http == 0 { 500 } else { http };
    let mut info = ErrorInfo::new(
        kind_of(b.status.as_deref(), &b.message, http).refined_by(http),
        b.message.clone(),
    )
    .with_status(canonical_status(http));
    info.code = b.status.clone();
    info
}

/// Canonical → the Gemini error object.
pub(crate) fn error_body(e: &ErrorInfo) -> ErrorBody {
    let billing = e.kind == ErrorKind::PaymentRequired;
    ErrorBody {
        // Gemini has no 402: a billing problem is a 400 FAILED_PRECONDITION.
        code: if billing { 400 } else { e.status },
        message: e.message.clone(),
        status: Some(status_name(e).to_owned()),
        details: None,
    }
}

/// Decodes a Gemini error body; `None` when it is not one.
pub fn decode_error(status: u16, body: &[u8]) -> Option<ErrorInfo> {
    // Some Gemini endpoints wrap the error in a one-element array.
    let env: ErrorEnvelope = serde_json::from_slice(body).ok().or_else(|| {
        serde_json::from_slice::<Vec<ErrorEnvelope>>(body)
            .ok()
            .and_then(|v| v.into_iter().next())
    })?;
    Some(info_from_body(status, &env.error))
}

/// Encodes an error in Gemini's shape.
pub fn encode_error(e: &ErrorInfo) -> Vec<u8> {
    serde_json::to_vec(&ErrorEnvelope {
        error: error_body(e),
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_with_an_overloaded_status_is_overloaded() {
        let e = decode_error(
            529,
            br#"{"error":{"code":529,"message":"busy","status":"INTERNAL"}}"#,
        )
        .unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Overloaded, 503));
        let v: serde_json::Value = serde_json::from_slice(&encode_error(&e)).unwrap();
        assert_eq!(v["error"]["code"], 503);
        assert_eq!(v["error"]["status"], "UNAVAILABLE");
        let e = decode_error(
            500,
            br#"{"error":{"code":500,"message":"oops","status":"INTERNAL"}}"#,
        )
        .unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Api, 500));
    }
}
