//! Google Gemini: `{base}/{version}/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:countTokens` (base as the official SDK takes it,
//! `https://generativelanguage.googleapis.com`; version `v1beta` unless the provider sets
//! `api_version`), key in `x-goog-api-key`. The model name is one percent-encoded path segment.

use http::header::HeaderMap;
use modelgate_formats::Dialect;

use crate::adapter::{
    Adapter, ClientHints, Operation, ProviderError, parse, secret_header, with_headers,
};
use crate::path;

/// The API version used when the provider sets none.
pub const DEFAULT_VERSION: &str = "v1beta";

const DIALECTS: &[Dialect] = &[Dialect::Gemini];

#[derive(Debug, Clone)]
pub struct Gemini {
    /// `{base}/{version}`.
    root: String,
    headers: HeaderMap,
}

impl Gemini {
    pub fn new(base: &str, api_version: Option<String>, headers: HeaderMap) -> Self {
        let version = api_version.unwrap_or_else(|| DEFAULT_VERSION.to_owned());
        let root = if base.ends_with("/v1beta") || base.ends_with("/v1") {
            base.to_owned()
        } else {
            format!("{base}/{version}")
        };
        Self { root, headers }
    }
}

impl Adapter for Gemini {
    fn dialects(&self) -> &[Dialect] {
        DIALECTS
    }
    fn url(&self, op: Operation<'_>, model: &str) -> Result<http::Uri, ProviderError> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        match op {
            Operation::Generate {
                dialect: Dialect::Gemini,
                stream,
            } => {
                let m = path::segment(model)?;
                parse(&if stream {
                    format!("{}/models/{m}:streamGenerateContent?alt=sse", self.root)
                } else {
                    format!("{}/models/{m}:generateContent", self.root)
                })
            }
            Operation::CountTokens {
                dialect: Dialect::Gemini,
            } => {
                let m = path::segment(model)?;
                parse(&format!("{}/models/{m}:countTokens", self.root))
            }
            Operation::Models => parse(&format!("{}/models?pageSize=1000", self.root)),
            other => Err(ProviderError::Unsupported(format!("{other:?}"))),
        }
    }
    fn authorize(
        &self,
        headers: &mut HeaderMap,
        key: &str,
        _hints: &ClientHints,
    ) -> Result<(), ProviderError> {
        headers.insert("x-goog-api-key", secret_header(key)?);
        with_headers(headers, &self.headers);
        Ok(())
    }
    fn parse_models(&self, body: &[u8]) -> Vec<String> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            models: Vec<Item>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            name: String,
        }
        serde_json::from_slice::<Page>(body)
            .map(|p| {
                p.models
                    .into_iter()
                    .map(|m| {
                        m.name
                            .strip_prefix("models/")
                            .map(str::to_owned)
                            .unwrap_or(m.name)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let g = Gemini::new(
            "https://generativelanguage.googleapis.com",
            None,
            HeaderMap::new(),
        );
        let op = |stream| Operation::Generate {
            dialect: Dialect::Gemini,
            stream,
        };
        assert_eq!(
            g.url(op(false), "gemini-2.5-pro").unwrap().to_string(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"
        );
        assert_eq!(
            g.url(op(true), "models/gemini-2.5-pro")
                .unwrap()
                .to_string(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        let u = g.url(op(false), "../../x?y#z").unwrap();
        assert!(u.path().starts_with("/v1beta/models/"), "{u}");
        assert_eq!(u.query(), None);
        assert_eq!(
            g.parse_models(br#"{"models":[{"name":"models/gemini-2.0-flash"}]}"#),
            vec!["gemini-2.0-flash".to_string()]
        );
    }
}
