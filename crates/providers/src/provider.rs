//! The provider trait and its enum dispatch: what every kind must say about addressing and
//! authenticating a call, and one enum over the kinds so the hot path needs no trait objects.
//!
//! Each kind lives in its own file (`openai`, `azure`, `deepseek`, `openai_compatible`,
//! `anthropic`, `gemini`); kinds that share the OpenAI HTTP API share `openai_wire`.

use modelgate_formats::Dialect;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::kind::ProviderKind;
use crate::path::PathError;
use crate::{anthropic, azure, deepseek, gemini, openai, openai_compatible};

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

/// How one provider was configured.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// As the provider's official SDK takes it (e.g. `https://api.openai.com/v1`).
    pub base_url: String,
    pub api_version: Option<String>,
    /// Sent on every call.
    pub extra_headers: Vec<(String, String)>,
    /// Dialects beyond the kind's own (an OpenAI-compatible server with `/v1/responses`).
    pub extra_dialects: Vec<Dialect>,
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
}

/// What every provider kind implements.
pub trait Adapter {
    /// The dialects it speaks natively.
    fn dialects(&self) -> &[Dialect];
    /// The URL of an operation for an upstream model.
    fn url(&self, op: Operation<'_>, upstream_model: &str) -> Result<reqwest::Url, ProviderError>;
    /// Adds the upstream key and the provider's fixed headers to a call.
    fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        key: &str,
        hints: &ClientHints,
    ) -> reqwest::RequestBuilder;
    /// Model ids from a body answered to `Operation::Models`.
    fn parse_models(&self, body: &[u8]) -> Vec<String>;
}

/// A configured provider of any kind.
#[derive(Debug, Clone)]
pub enum Provider {
    Openai(openai::Openai),
    AzureOpenai(azure::Azure),
    Anthropic(anthropic::Anthropic),
    Gemini(gemini::Gemini),
    Deepseek(deepseek::Deepseek),
    OpenaiCompatible(openai_compatible::OpenaiCompatible),
}

macro_rules! each {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            Provider::Openai($p) => $e,
            Provider::AzureOpenai($p) => $e,
            Provider::Anthropic($p) => $e,
            Provider::Gemini($p) => $e,
            Provider::Deepseek($p) => $e,
            Provider::OpenaiCompatible($p) => $e,
        }
    };
}

impl Provider {
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let headers = header_map(&cfg.extra_headers);
        let base = cfg.base_url.trim_end_matches('/');
        reqwest::Url::parse(base).map_err(|_| ProviderError::BaseUrl(base.to_owned()))?;
        Ok(match cfg.kind {
            ProviderKind::Openai => Provider::Openai(openai::Openai::new(base, headers)?),
            ProviderKind::AzureOpenai => {
                Provider::AzureOpenai(azure::Azure::new(base, cfg.api_version.clone(), headers))
            }
            ProviderKind::Anthropic => {
                Provider::Anthropic(anthropic::Anthropic::new(base, headers))
            }
            ProviderKind::Gemini => {
                Provider::Gemini(gemini::Gemini::new(base, cfg.api_version.clone(), headers))
            }
            ProviderKind::Deepseek => Provider::Deepseek(deepseek::Deepseek::new(base, headers)?),
            ProviderKind::OpenaiCompatible => Provider::OpenaiCompatible(
                openai_compatible::OpenaiCompatible::new(base, headers, &cfg.extra_dialects)?,
            ),
        })
    }

    pub fn kind(&self) -> ProviderKind {
        match self {
            Provider::Openai(_) => ProviderKind::Openai,
            Provider::AzureOpenai(_) => ProviderKind::AzureOpenai,
            Provider::Anthropic(_) => ProviderKind::Anthropic,
            Provider::Gemini(_) => ProviderKind::Gemini,
            Provider::Deepseek(_) => ProviderKind::Deepseek,
            Provider::OpenaiCompatible(_) => ProviderKind::OpenaiCompatible,
        }
    }

    /// Whether it serves the OpenAI endpoints that are passed through, and embeddings.
    pub fn has_openai_endpoints(&self) -> bool {
        self.kind().spec().openai_endpoints
    }

    pub fn speaks(&self, d: Dialect) -> bool {
        self.dialects().contains(&d)
    }
}

impl Adapter for Provider {
    fn dialects(&self) -> &[Dialect] {
        each!(self, p => p.dialects())
    }
    fn url(&self, op: Operation<'_>, upstream_model: &str) -> Result<reqwest::Url, ProviderError> {
        each!(self, p => p.url(op, upstream_model))
    }
    fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        key: &str,
        hints: &ClientHints,
    ) -> reqwest::RequestBuilder {
        each!(self, p => p.authorize(req, key, hints))
    }
    fn parse_models(&self, body: &[u8]) -> Vec<String> {
        each!(self, p => p.parse_models(body))
    }
}

/// Valid extra headers (names and values that HTTP allows; others were refused when saved).
fn header_map(extra: &[(String, String)]) -> HeaderMap {
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
pub(crate) fn with_headers(
    req: reqwest::RequestBuilder,
    headers: &HeaderMap,
) -> reqwest::RequestBuilder {
    if headers.is_empty() {
        req
    } else {
        req.headers(headers.clone())
    }
}

/// Parses a URL built from a trusted base and escaped parts.
pub(crate) fn parse(url: &str) -> Result<reqwest::Url, ProviderError> {
    reqwest::Url::parse(url).map_err(|_| ProviderError::BaseUrl(url.to_owned()))
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
