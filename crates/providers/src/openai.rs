//! OpenAI itself: Chat Completions and Responses natively, every other `/v1` endpoint.

use http::header::HeaderMap;
use modelgate_formats::Dialect;

use crate::adapter::{Adapter, ClientHints, Operation, ProviderError, data_ids};
use crate::openai_wire::OpenAiWire;

const DIALECTS: &[Dialect] = &[Dialect::OpenaiChat, Dialect::OpenaiResponses];

#[derive(Debug, Clone)]
pub struct Openai(OpenAiWire);

impl Openai {
    pub fn new(base: &str, headers: HeaderMap) -> Result<Self, ProviderError> {
        OpenAiWire::new(base, headers).map(Self)
    }
}

impl Adapter for Openai {
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
