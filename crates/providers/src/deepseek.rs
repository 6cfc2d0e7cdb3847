//! DeepSeek: the OpenAI Chat Completions API (with `reasoning_content` on reasoner models).

use http::header::HeaderMap;
use modelgate_formats::Dialect;

use crate::adapter::{Adapter, ClientHints, Operation, ProviderError, data_ids};
use crate::openai_wire::OpenAiWire;

const DIALECTS: &[Dialect] = &[Dialect::OpenaiChat];

#[derive(Debug, Clone)]
pub struct Deepseek(OpenAiWire);

impl Deepseek {
    pub fn new(base: &str, headers: HeaderMap) -> Result<Self, ProviderError> {
        OpenAiWire::new(base, headers).map(Self)
    }
}

impl Adapter for Deepseek {
    fn dialects(&self) -> &[Dialect] {
        DIALECTS
    }
    fn url(&self, op: Operation<'_>, _model: &str) -> Result<http::Uri, ProviderError> {
        self.0.url(op, DIALECTS)
    }
    fn authorize(
        &self,
        headers: &mut HeaderMap,
        key: &str,
        hints: &ClientHints,
    ) -> Result<(), ProviderError> {
        self.0.authorize(headers, key, hints)
    }
    fn parse_models(&self, body: &[u8]) -> Vec<String> {
        data_ids(body)
    }
}
