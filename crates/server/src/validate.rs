//! Field validation for admin inputs: each failure names its field (422).

use crate::error::ApiError;

pub const MAX_NAME: usize = 128;
pub const MAX_TEXT: usize = 256;
pub const MAX_DESCRIPTION: usize = 64 * 1024;
pub const MAX_URL: usize = 2048;
pub const MAX_SECRET: usize = 4096;

/// A required, bounded, non-blank string without control characters.
pub fn text(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.trim().is_empty() {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    bounded(field, v, max)?;
    if v.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(())
}

/// A bounded string (may be empty, may contain newlines, never NUL: databases cannot store it).
pub fn bounded(field: &str, v: &str, max: usize) -> Result<(), ApiError> {
    if v.len() > max {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` is longer than {max} bytes"),
        ));
    }
    if v.contains('\0') {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must not contain NUL characters"),
        ));
    }
    Ok(())
}

/// A slug usable in `provider/model` names and URLs: no `/`, no whitespace at the ends.
pub fn slug(field: &str, v: &str) -> Result<(), ApiError> {
    text(field, v, MAX_NAME)?;
    if v.contains('/') || v.trim() != v {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must not contain `/` or leading/trailing spaces"),
        ));
    }
    Ok(())
}

/// An absolute http(s) URL.
pub fn url(field: &str, v: &str) -> Result<(), ApiError> {
    bounded(field, v, MAX_URL)?;
    match url::Url::parse(v) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {
            Ok(())
        }
        _ => Err(ApiError::invalid(
            field,
            format!("`{field}` must be an absolute http(s) URL"),
        )),
    }
}

pub fn range_f64(field: &str, v: f64, min: f64, max: f64) -> Result<(), ApiError> {
    if !v.is_finite() || v < min || v > max {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must be between {min} and {max}"),
        ));
    }
    Ok(())
}

pub fn range_i64(field: &str, v: i64, min: i64, max: i64) -> Result<(), ApiError> {
    if v < min || v > max {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must be between {min} and {max}"),
        ));
    }
    Ok(())
}

pub fn one_of(field: &str, v: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if !allowed.contains(&v) {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must be one of: {}", allowed.join(", ")),
        ));
    }
    Ok(())
}

/// A JSON value that must be an object.
pub fn object(field: &str, v: &serde_json::Value) -> Result<(), ApiError> {
    if !v.is_object() {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must be a JSON object"),
        ));
    }
    bounded(field, &v.to_string(), MAX_DESCRIPTION)
}

/// RFC 3339 rendering of a stored unix-millisecond time.
pub fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
