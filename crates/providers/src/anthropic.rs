//! Anthropic: the Messages API at `{base}/v1/messages` (base as the official SDK takes it,
//! `https://api.anthropic.com`), `x-api-key`, `anthropic-version` (the client's, else
//! `2023-06-01`) and the client's `anthropic-beta` passed on. Token counting at
//! `/v1/messages/count_tokens`.

use http::header::{HeaderMap, HeaderValue};
use modelgate_formats::Dialect;

use crate::adapter::{
    Adapter, ClientHints, Operation, ProviderError, data_ids, parse, secret_header, with_headers,
};

/// The API version sent when the client names none.
pub const DEFAULT_VERSION: &str = "2023-06-01";

const DIALECTS: &[Dialect] = &[Dialect::Anthropic];

#[derive(Debug, Clone)]
pub struct Anthropic {
    /// Without a trailing `/v1` (tolerated when configured).
    base: String,
    headers: HeaderMap,
}

impl Anthropic {
    pub fn new(base: &str, headers: HeaderMap) -> Self {
        Self {
            base: base.strip_suffix("/v1").unwrap_or(base).to_owned(),
            headers,
        }
    }
}

impl Adapter for Anthropic {
    fn dialects(&self) -> &[Dialect] {
        DIALECTS
    }
    fn url(&self, op: Operation<'_>, _model: &str) -> Result<http::Uri, ProviderError> {
        match op {
            Operation::Generate {
                dialect: Dialect::Anthropic,
                ..
            } => parse(&format!("{}/v1/messages", self.base)),
            Operation::CountTokens {
                dialect: Dialect::Anthropic,
            } => parse(&format!("{}/v1/messages/count_tokens", self.base)),
            Operation::Models => parse(&format!("{}/v1/models?limit=1000", self.base)),
            other => Err(ProviderError::Unsupported(format!("{other:?}"))),
        }
    }
    fn authorize(
        &self,
        headers: &mut HeaderMap,
        key: &str,
        hints: &ClientHints,
    ) -> Result<(), ProviderError> {
        let version = hints
            .anthropic_version
            .clone()
            .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_VERSION));
        headers.insert("x-api-key", secret_header(key)?);
        headers.insert("anthropic-version", version);
        if let Some(b) = &hints.anthropic_beta {
            headers.insert("anthropic-beta", b.clone());
        }
        with_headers(headers, &self.headers);
        Ok(())
    }
    fn parse_models(&self, body: &[u8]) -> Vec<String> {
        data_ids(body)
    }
}
