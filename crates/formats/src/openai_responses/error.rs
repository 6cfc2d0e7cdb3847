//! Responses errors: the Responses API answers errors in the OpenAI shape
//! `{"error":{"message","type","param","code"}}`, so this delegates to the chat codec's error
//! mapping (one table for both OpenAI dialects).

use crate::canonical::ErrorInfo;

/// Decodes an OpenAI-shaped error body; `None` when it is not one.
pub fn decode_error(status: u16, body: &[u8]) -> Option<ErrorInfo> {
    crate::openai_chat::decode_error(status, body)
}

/// Encodes an error in the OpenAI shape.
pub fn encode_error(e: &ErrorInfo) -> Vec<u8> {
    crate::openai_chat::encode_error(e)
}
