//! What every provider kind implements (`Adapter`) and what the kinds share: the operation
//! being addressed, the client's hints, the addressing error, and small URL/header helpers.
//! Kinds depend on this module; the enum over kinds (`provider`) depends on them.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use modelgate_formats::Dialect;

use crate::path::PathError;

/// What a call does, independent of where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'a> {
    /// Generate a reply in `dialect` (chat completions, responses, messages, generateContent).
    Generate {
        dialect: Dialect,
        stream: bool,
    },
    /// Count the tokens of a request (Anthropic `messages/count_tokens`, Gemini `:countTokens`).
    CountTokens {
        dialect: Dialect,
    },
    Embeddings,
    Models,
    /// Any other OpenAI endpoint below `/v1/` (already checked by `path::passthrough`).
    Passthrough {
        path: &'a str,
        query: Option<&'a str>,
    },
}

/// Headers a client sent that some upstreams take over (Anthropic's version and betas).
#[derive(Debug, Clone, Default)]
pub struct ClientHints {
    pub anthropic_version: Option<HeaderValue>,
    pub anthropic_beta: Option<HeaderValue>,
}

/// Why a call cannot be addressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("invalid base URL `{0}`")]
    BaseUrl(String),
    #[error("this provider does not offer {0}")]
    Unsupported(String),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(
        "the upstream key cannot be sent in an HTTP header (it holds characters HTTP does not allow)"
    )]
    Key,
}

/// What every provider kind implements.
pub trait Adapter {
    /// The dialects it speaks natively.
    fn dialects(&self) -> &[Dialect];
    /// The URL of an operation for an upstream model.
    fn url(&self, op: Operation<'_>, upstream_model: &str) -> Result<http::Uri, ProviderError>;
    /// Adds the upstream key and the provider's fixed headers to a call's headers.
    fn authorize(
        &self,
        headers: &mut HeaderMap,
        key: &str,
        hints: &ClientHints,
    ) -> Result<(), ProviderError>;
    /// Model ids from a body answered to `Operation::Models`.
    fn parse_models(&self, body: &[u8]) -> Vec<String>;
}

/// Valid extra headers (names and values that HTTP allows; others were refused when saved).
pub(crate) fn header_map(extra: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in extra {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            h.insert(name, value);
        }
    }
    h
}

/// Adds fixed headers unless there are none (the common case costs nothing).
pub(crate) fn with_headers(headers: &mut HeaderMap, fixed: &HeaderMap) {
    for (k, v) in fixed {
        headers.insert(k, v.clone());
    }
}

/// A header carrying a secret: validated, and marked sensitive (kept out of HTTP/2 header
/// compression tables and debug output).
pub(crate) fn secret_header(value: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| ProviderError::Key)?;
    v.set_sensitive(true);
    Ok(v)
}

/// `Bearer <key>`, sensitive.
pub(crate) fn bearer(key: &str) -> Result<HeaderValue, ProviderError> {
    let mut s = String::with_capacity(7 + key.len());
    s.push_str("Bearer ");
    s.push_str(key);
    secret_header(&s)
}

/// Parses a URL built from a trusted base and escaped parts.
pub(crate) fn parse(url: &str) -> Result<http::Uri, ProviderError> {
    http::Uri::try_from(url).map_err(|_| ProviderError::BaseUrl(url.to_owned()))
}

/// Checks a configured base URL: absolute `http` or `https` with a host.
pub fn check_base_url(base: &str) -> Result<(), ProviderError> {
    let bad = || ProviderError::BaseUrl(base.to_owned());
    let uri = http::Uri::try_from(base).map_err(|_| bad())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.host().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(())
}

/// `{"data":[{"id":…}]}` (OpenAI and Anthropic model lists).
pub(crate) fn data_ids(body: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Page {
        data: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        id: String,
    }
    serde_json::from_slice::<Page>(body)
        .map(|p| p.data.into_iter().map(|m| m.id).collect())
        .unwrap_or_default()
}
