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

/// Serde helper for fields where `null` differs from absent: absent → `None` (with
/// `#[serde(default)]`), `null` → `Some(None)`, a value → `Some(Some(v))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Serde helper for a JSON value where `null` differs from absent: absent → `None` (with
/// `#[serde(default)]`), present (even `null`) → `Some(value)`.
pub fn present<'de, D>(d: D) -> Result<Option<serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <serde_json::Value as serde::Deserialize>::deserialize(d).map(Some)
}

/// A decimal amount given as a string (`"12.50"`) or a JSON number (`12.5`); never a float
/// on the way in (the number's text is parsed as a decimal).
pub fn decimal(field: &str, v: &serde_json::Value) -> Result<rust_decimal::Decimal, ApiError> {
    let bad = || ApiError::invalid(field, format!("`{field}` must be a decimal number"));
    let text = match v {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(bad()),
    };
    if text.is_empty() || text.len() > 64 {
        return Err(bad());
    }
    text.parse::<rust_decimal::Decimal>()
        .or_else(|_| rust_decimal::Decimal::from_scientific(&text))
        .map_err(|_| bad())
}

/// A non-negative decimal amount, normalized (`"12.50"` → `12.5`).
pub fn amount(field: &str, v: &serde_json::Value) -> Result<rust_decimal::Decimal, ApiError> {
    let d = decimal(field, v)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must not be negative"),
        ));
    }
    Ok(d.normalize())
}

/// A positive integer limit (1 ..= 2^62).
pub fn positive(field: &str, v: i64) -> Result<(), ApiError> {
    if !(1..=i64::MAX / 2).contains(&v) {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must be a positive integer (or null for no limit)"),
        ));
    }
    Ok(())
}

/// A provider's free-credit policy: `null` (none) or exactly one of
/// `{"type":"money","amount":"5.00"}`, `{"type":"tokens","tokens":N}`,
/// `{"type":"model_tokens","tokens":N}`. Returns the JSON to store (`FreeCredit`'s serde form).
pub fn free_credit(field: &str, v: &serde_json::Value) -> Result<Option<String>, ApiError> {
    use modelgate_core::policy::FreeCredit;
    let shape = || {
        ApiError::invalid(
            field,
            format!(
                "`{field}` must be null or exactly one of {{\"type\":\"money\",\"amount\":\"5.00\"}}, \
                 {{\"type\":\"tokens\",\"tokens\":N}}, {{\"type\":\"model_tokens\",\"tokens\":N}}"
            ),
        )
    };
    let obj = match v {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(o) => o,
        _ => return Err(shape()),
    };
    let kind = obj.get("type").and_then(|t| t.as_str()).ok_or_else(shape)?;
    let (expected, credit) = match kind {
        "money" => {
            let f = format!("{field}.amount");
            let a = amount(&f, obj.get("amount").ok_or_else(shape)?)?;
            if a.is_zero() {
                return Err(ApiError::invalid(&f, format!("`{f}` must be positive")));
            }
            ("amount", FreeCredit::Money { amount: a })
        }
        "tokens" | "model_tokens" => {
            let f = format!("{field}.tokens");
            let t = obj
                .get("tokens")
                .ok_or_else(shape)?
                .as_u64()
                .filter(|t| (1..=i64::MAX as u64 / 2).contains(t))
                .ok_or_else(|| {
                    ApiError::invalid(&f, format!("`{f}` must be a positive integer"))
                })?;
            let c = if kind == "tokens" {
                FreeCredit::Tokens { tokens: t }
            } else {
                FreeCredit::ModelTokens { tokens: t }
            };
            ("tokens", c)
        }
        _ => {
            return Err(ApiError::invalid(
                &format!("{field}.type"),
                format!("`{field}.type` must be one of: money, tokens, model_tokens"),
            ));
        }
    };
    if let Some(extra) = obj.keys().find(|k| *k != "type" && *k != expected) {
        return Err(ApiError::invalid(
            &format!("{field}.{extra}"),
            format!("`{field}.{extra}` is not a field of a `{kind}` free credit"),
        ));
    }
    serde_json::to_string(&credit)
        .map(Some)
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param(e: ApiError) -> String {
        e.param.unwrap_or_default()
    }

    #[test]
    fn free_credit_policies() {
        assert_eq!(free_credit("f", &json!(null)).unwrap(), None);
        assert_eq!(
            free_credit("f", &json!({"type": "money", "amount": "5.00"}))
                .unwrap()
                .as_deref(),
            Some(r#"{"type":"money","amount":"5"}"#)
        );
        assert_eq!(
            free_credit("f", &json!({"type": "money", "amount": 2.5}))
                .unwrap()
                .as_deref(),
            Some(r#"{"type":"money","amount":"2.5"}"#)
        );
        assert_eq!(
            free_credit("f", &json!({"type": "model_tokens", "tokens": 9}))
                .unwrap()
                .as_deref(),
            Some(r#"{"type":"model_tokens","tokens":9}"#)
        );
        for (bad, p) in [
            (json!("money"), "f"),
            (json!({"amount": "5"}), "f"),
            (json!({"type": "gold"}), "f.type"),
            (json!({"type": "money", "amount": "-1"}), "f.amount"),
            (json!({"type": "money", "amount": "0"}), "f.amount"),
            (json!({"type": "money", "amount": "x"}), "f.amount"),
            (json!({"type": "tokens", "tokens": 0}), "f.tokens"),
            (json!({"type": "tokens", "tokens": 1.5}), "f.tokens"),
            (
                json!({"type": "tokens", "tokens": 5, "amount": "1"}),
                "f.amount",
            ),
        ] {
            assert_eq!(param(free_credit("f", &bad).unwrap_err()), p, "{bad}");
        }
    }

    #[test]
    fn amounts_are_decimals() {
        assert_eq!(amount("a", &json!("12.50")).unwrap().to_string(), "12.5");
        assert_eq!(amount("a", &json!(3)).unwrap().to_string(), "3");
        assert_eq!(amount("a", &json!("0")).unwrap().to_string(), "0");
        assert!(amount("a", &json!("-0.01")).is_err());
        assert!(amount("a", &json!(true)).is_err());
        assert_eq!(decimal("a", &json!("-2.5")).unwrap().to_string(), "-2.5");
    }
}
