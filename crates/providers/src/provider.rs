//! The enum over provider kinds: one `Provider` value per configured provider, dispatching
//! to its kind's file (`openai`, `azure`, `deepseek`, `openai_compatible`, `anthropic`,
//! `gemini`) without trait objects on the hot path.

use modelgate_formats::Dialect;

use crate::adapter::{Adapter, ClientHints, Operation, ProviderError, check_base_url, header_map};
use crate::kind::ProviderKind;
use crate::{anthropic, azure, deepseek, gemini, openai, openai_compatible};

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
        check_base_url(base)?;
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
    fn url(&self, op: Operation<'_>, upstream_model: &str) -> Result<http::Uri, ProviderError> {
        each!(self, p => p.url(op, upstream_model))
    }
    fn authorize(
        &self,
        headers: &mut http::HeaderMap,
        key: &str,
        hints: &ClientHints,
    ) -> Result<(), ProviderError> {
        each!(self, p => p.authorize(headers, key, hints))
    }
    fn parse_models(&self, body: &[u8]) -> Vec<String> {
        each!(self, p => p.parse_models(body))
    }
}
