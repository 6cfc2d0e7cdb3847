//! Azure OpenAI: per-deployment URLs (`{resource}/openai/deployments/{deployment}/…`), an
//! `api-version` query parameter and the `api-key` header. The deployment name (the upstream
//! model) is one percent-encoded path segment (see `path`), so a client-chosen model name can
//! never steer the key to another path. A `base_url` that already names a deployment
//! (`…/openai/deployments/d1`) serves every model from it.

use http::header::HeaderMap;
use modelgate_formats::Dialect;

use crate::adapter::{
    Adapter, ClientHints, Operation, ProviderError, data_ids, parse, secret_header, with_headers,
};
use crate::path;

/// Default Azure OpenAI API version when the provider sets none.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

const DIALECTS: &[Dialect] = &[Dialect::OpenaiChat, Dialect::OpenaiResponses];

#[derive(Debug, Clone)]
pub struct Azure {
    base: String,
    version: String,
    fixed_deployment: bool,
    headers: HeaderMap,
}

impl Azure {
    pub fn new(base: &str, api_version: Option<String>, headers: HeaderMap) -> Self {
        Self {
            fixed_deployment: base.contains("/openai/deployments/"),
            base: base.to_owned(),
            version: api_version.unwrap_or_else(|| DEFAULT_API_VERSION.to_owned()),
            headers,
        }
    }

    fn deployment_url(
        &self,
        model: &str,
        rest: &str,
        query: Option<&str>,
    ) -> Result<http::Uri, ProviderError> {
        let q = match query {
            Some(q) => format!("{q}&api-version={}", self.version),
            None => format!("api-version={}", self.version),
        };
        if self.fixed_deployment {
            return parse(&format!("{}/{rest}?{q}", self.base));
        }
        let dep = path::segment(model)?;
        parse(&format!(
            "{}/openai/deployments/{dep}/{rest}?{q}",
            self.base
        ))
    }
}

impl Adapter for Azure {
    fn dialects(&self) -> &[Dialect] {
        DIALECTS
    }
    fn url(&self, op: Operation<'_>, model: &str) -> Result<http::Uri, ProviderError> {
        match op {
            Operation::Generate {
                dialect: Dialect::OpenaiChat,
                ..
            } => self.deployment_url(model, "chat/completions", None),
            // The Responses API is resource-wide; the deployment goes in the body's `model`.
            Operation::Generate {
                dialect: Dialect::OpenaiResponses,
                ..
            } => parse(&format!(
                "{}/openai/v1/responses",
                self.base.split("/openai/").next().unwrap_or(&self.base)
            )),
            Operation::Embeddings => self.deployment_url(model, "embeddings", None),
            Operation::Models => parse(&format!(
                "{}/openai/models?api-version={}",
                self.base.split("/openai/").next().unwrap_or(&self.base),
                self.version
            )),
            Operation::Passthrough { path: p, query } => {
                let p = path::passthrough(p)?;
                if model.is_empty() && !self.fixed_deployment {
                    let q = match query {
                        Some(q) => format!("{q}&api-version={}", self.version),
                        None => format!("api-version={}", self.version),
                    };
                    parse(&format!("{}/openai/{p}?{q}", self.base))
                } else {
                    self.deployment_url(model, p, query)
                }
            }
            Operation::Generate { dialect, .. } | Operation::CountTokens { dialect } => Err(
                ProviderError::Unsupported(format!("the {dialect} endpoint")),
            ),
        }
    }
    fn authorize(
        &self,
        headers: &mut HeaderMap,
        key: &str,
        _hints: &ClientHints,
    ) -> Result<(), ProviderError> {
        headers.insert("api-key", secret_header(key)?);
        with_headers(headers, &self.headers);
        Ok(())
    }
    fn parse_models(&self, body: &[u8]) -> Vec<String> {
        data_ids(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> Operation<'static> {
        Operation::Generate {
            dialect: Dialect::OpenaiChat,
            stream: false,
        }
    }

    #[test]
    fn deployment_urls() {
        let a = Azure::new(
            "https://r.openai.azure.com",
            Some("2024-06-01".into()),
            HeaderMap::new(),
        );
        assert_eq!(
            a.url(chat(), "gpt4-dep").unwrap().to_string(),
            "https://r.openai.azure.com/openai/deployments/gpt4-dep/chat/completions?api-version=2024-06-01"
        );
        assert_eq!(
            a.url(Operation::Models, "").unwrap().to_string(),
            "https://r.openai.azure.com/openai/models?api-version=2024-06-01"
        );
        let fixed = Azure::new(
            "https://r.openai.azure.com/openai/deployments/d1",
            None,
            HeaderMap::new(),
        );
        assert_eq!(
            fixed.url(Operation::Embeddings, "x").unwrap().to_string(),
            format!(
                "https://r.openai.azure.com/openai/deployments/d1/embeddings?api-version={DEFAULT_API_VERSION}"
            )
        );
    }

    #[test]
    fn a_model_name_cannot_leave_its_segment() {
        let a = Azure::new("https://r.openai.azure.com", None, HeaderMap::new());
        for evil in [
            "../../../evil/x?",
            "a/../../b",
            "x#frag",
            "..%2F..%2Fevil",
            "a?api-version=1&x=",
        ] {
            let u = a.url(chat(), evil).unwrap();
            assert_eq!(u.host(), Some("r.openai.azure.com"), "{evil}");
            assert!(u.path().starts_with("/openai/deployments/"), "{evil} → {u}");
            assert!(u.path().ends_with("/chat/completions"), "{evil} → {u}");
            assert_eq!(u.path().matches('/').count(), 5, "{evil} → {u}");
            assert_eq!(
                u.query(),
                Some(format!("api-version={DEFAULT_API_VERSION}").as_str()),
                "{evil}"
            );
        }
        assert!(a.url(chat(), "..").is_err());
    }
}
