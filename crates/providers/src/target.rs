//! Addressing and authenticating a request to one upstream.

use crate::kind::ProviderKind;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Default Azure OpenAI API version when the provider sets none.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// How the upstream expects its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// `Authorization: Bearer <key>`
    Bearer,
    /// `api-key: <key>` (Azure OpenAI)
    ApiKeyHeader,
}

/// Everything needed to address one provider.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: ProviderKind,
    /// Base URL without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_version: Option<String>,
    /// Extra headers sent on every request (validated when the provider is saved).
    pub extra_headers: HeaderMap,
    /// Parsed URLs of the model-independent endpoints (all but Azure deployments), so the hot
    /// path does not parse a URL per request.
    chat_url: Option<reqwest::Url>,
    embeddings_url: Option<reqwest::Url>,
}

impl Target {
    pub fn new(
        kind: ProviderKind,
        base_url: &str,
        api_version: Option<String>,
        extra: &[(String, String)],
    ) -> Self {
        let mut extra_headers = HeaderMap::new();
        for (k, v) in extra {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                extra_headers.insert(name, value);
            }
        }
        let mut t = Self {
            kind,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_version,
            extra_headers,
            chat_url: None,
            embeddings_url: None,
        };
        if kind != ProviderKind::AzureOpenai {
            t.chat_url = reqwest::Url::parse(&t.url("chat/completions", None)).ok();
            t.embeddings_url = reqwest::Url::parse(&t.url("embeddings", None)).ok();
        }
        t
    }

    /// The parsed URL of an endpoint (cached for chat and embeddings when model-independent).
    pub fn parsed_url(
        &self,
        path: &str,
        upstream_model: Option<&str>,
    ) -> Result<reqwest::Url, url::ParseError> {
        let cached = match path {
            "chat/completions" => self.chat_url.as_ref(),
            "embeddings" => self.embeddings_url.as_ref(),
            _ => None,
        };
        match cached {
            Some(u) => Ok(u.clone()),
            None => reqwest::Url::parse(&self.url(path, upstream_model)),
        }
    }

    pub fn auth(&self) -> UpstreamAuth {
        match self.kind {
            ProviderKind::AzureOpenai => UpstreamAuth::ApiKeyHeader,
            _ => UpstreamAuth::Bearer,
        }
    }

    /// The URL of an OpenAI-style endpoint (`chat/completions`, `embeddings`, `models`, or any
    /// passthrough path below `/v1/`) for the given upstream model.
    pub fn url(&self, path: &str, upstream_model: Option<&str>) -> String {
        let path = path.trim_start_matches('/');
        match self.kind {
            ProviderKind::AzureOpenai => {
                let version = self
                    .api_version
                    .as_deref()
                    .unwrap_or(DEFAULT_AZURE_API_VERSION);
                let sep = if path.contains('?') { '&' } else { '?' };
                if self.base_url.contains("/openai/deployments/") {
                    format!("{}/{path}{sep}api-version={version}", self.base_url)
                } else if path == "models" || upstream_model.is_none() {
                    format!("{}/openai/{path}{sep}api-version={version}", self.base_url)
                } else {
                    let deployment = upstream_model.unwrap_or_default();
                    format!(
                        "{}/openai/deployments/{deployment}/{path}{sep}api-version={version}",
                        self.base_url
                    )
                }
            }
            _ => format!("{}/{path}", self.base_url),
        }
    }

    /// Adds the upstream key and the provider's extra headers to a request.
    pub fn authorize(&self, req: reqwest::RequestBuilder, key: &str) -> reqwest::RequestBuilder {
        let req = match self.auth() {
            UpstreamAuth::Bearer => req.bearer_auth(key),
            UpstreamAuth::ApiKeyHeader => req.header("api-key", key),
        };
        if self.extra_headers.is_empty() {
            req
        } else {
            req.headers(self.extra_headers.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_urls() {
        let t = Target::new(
            ProviderKind::Openai,
            "https://api.openai.com/v1/",
            None,
            &[],
        );
        assert_eq!(
            t.url("chat/completions", Some("gpt-4o")),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(t.url("/models", None), "https://api.openai.com/v1/models");
        assert_eq!(t.auth(), UpstreamAuth::Bearer);
    }

    #[test]
    fn azure_urls() {
        let t = Target::new(
            ProviderKind::AzureOpenai,
            "https://r.openai.azure.com",
            Some("2024-06-01".into()),
            &[],
        );
        assert_eq!(
            t.url("chat/completions", Some("gpt4-dep")),
            "https://r.openai.azure.com/openai/deployments/gpt4-dep/chat/completions?api-version=2024-06-01"
        );
        assert_eq!(
            t.url("models", None),
            "https://r.openai.azure.com/openai/models?api-version=2024-06-01"
        );
        let fixed = Target::new(
            ProviderKind::AzureOpenai,
            "https://r.openai.azure.com/openai/deployments/d1",
            None,
            &[],
        );
        assert_eq!(
            fixed.url("embeddings", Some("x")),
            format!(
                "https://r.openai.azure.com/openai/deployments/d1/embeddings?api-version={DEFAULT_AZURE_API_VERSION}"
            )
        );
        assert_eq!(t.auth(), UpstreamAuth::ApiKeyHeader);
    }
}
