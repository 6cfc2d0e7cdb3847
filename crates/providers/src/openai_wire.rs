//! The OpenAI HTTP API as several kinds speak it (OpenAI, DeepSeek, OpenAI-compatible servers):
//! paths relative to a `/v1`-style base, `Authorization: Bearer`. URLs of the fixed endpoints are
//! parsed once, not per request.

use http::header::HeaderMap;
use modelgate_formats::Dialect;

use crate::adapter::{ClientHints, Operation, ProviderError, bearer, parse, with_headers};
use crate::path;

#[derive(Debug, Clone)]
pub struct OpenAiWire {
    base: String,
    chat: http::Uri,
    responses: http::Uri,
    embeddings: http::Uri,
    models: http::Uri,
    headers: HeaderMap,
}

impl OpenAiWire {
    pub fn new(base: &str, headers: HeaderMap) -> Result<Self, ProviderError> {
        Ok(Self {
            chat: parse(&format!("{base}/chat/completions"))?,
            responses: parse(&format!("{base}/responses"))?,
            embeddings: parse(&format!("{base}/embeddings"))?,
            models: parse(&format!("{base}/models"))?,
            base: base.to_owned(),
            headers,
        })
    }

    pub fn url(&self, op: Operation<'_>, speaks: &[Dialect]) -> Result<http::Uri, ProviderError> {
        match op {
            Operation::Generate { dialect, .. } if speaks.contains(&dialect) => Ok(match dialect {
                Dialect::OpenaiResponses => self.responses.clone(),
                _ => self.chat.clone(),
            }),
            Operation::Embeddings => Ok(self.embeddings.clone()),
            Operation::Models => Ok(self.models.clone()),
            Operation::Passthrough { path: p, query } => {
                let p = path::passthrough(p)?;
                parse(&match query {
                    Some(q) => format!("{}/{p}?{q}", self.base),
                    None => format!("{}/{p}", self.base),
                })
            }
            Operation::Generate { dialect, .. } | Operation::CountTokens { dialect } => Err(
                ProviderError::Unsupported(format!("the {dialect} endpoint")),
            ),
        }
    }

    pub fn authorize(
        &self,
        headers: &mut HeaderMap,
        key: &str,
        _hints: &ClientHints,
    ) -> Result<(), ProviderError> {
        headers.insert(http::header::AUTHORIZATION, bearer(key)?);
        with_headers(headers, &self.headers);
        Ok(())
    }
}
