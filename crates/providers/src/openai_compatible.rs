//! Any OpenAI-compatible server (vLLM, Ollama, LM Studio, aggregators): Chat Completions, and
//! Responses when the provider says it has `/v1/responses` (`dialects` setting).

use http::header::HeaderMap;
use modelgate_formats::Dialect;

use crate::adapter::{Adapter, ClientHints, Operation, ProviderError, data_ids};
use crate::openai_wire::OpenAiWire;

#[derive(Debug, Clone)]
pub struct OpenaiCompatible {
    wire: OpenAiWire,
    dialects: Vec<Dialect>,
}

impl OpenaiCompatible {
    pub fn new(base: &str, headers: HeaderMap, extra: &[Dialect]) -> Result<Self, ProviderError> {
        let mut dialects = vec![Dialect::OpenaiChat];
        if extra.contains(&Dialect::OpenaiResponses) {
            dialects.push(Dialect::OpenaiResponses);
        }
        Ok(Self {
            wire: OpenAiWire::new(base, headers)?,
            dialects,
        })
    }
}

impl Adapter for OpenaiCompatible {
    fn dialects(&self) -> &[Dialect] {
        &self.dialects
    }
    fn url(&self, op: Operation<'_>, _model: &str) -> Result<http::Uri, ProviderError> {
        self.wire.url(op, &self.dialects)
    }
    fn authorize(
        &self,
        headers: &mut HeaderMap,
        key: &str,
        hints: &ClientHints,
    ) -> Result<(), ProviderError> {
        self.wire.authorize(headers, key, hints)
    }
    fn parse_models(&self, body: &[u8]) -> Vec<String> {
        data_ids(body)
    }
}
