//! One entry point per conversion step, dispatched by dialect to that dialect's module.
//!
//! The gateway calls only these functions; each dialect module (`openai_chat`,
//! `openai_responses`, `anthropic`, `gemini`) implements the same set with the same signatures.
//! Owns no conversion logic itself.

use crate::canonical::{
    ConvertError, EncodeOptions, ErrorInfo, Request, Response, ResponseOptions, StreamDecoder,
    StreamEncoder, Usage,
};
use crate::dialect::Dialect;
use crate::{anthropic, gemini, openai_chat, openai_responses};

macro_rules! by_dialect {
    ($d:expr, $f:ident ( $($arg:expr),* )) => {
        match $d {
            Dialect::OpenaiChat => openai_chat::$f($($arg),*),
            Dialect::OpenaiResponses => openai_responses::$f($($arg),*),
            Dialect::Anthropic => anthropic::$f($($arg),*),
            Dialect::Gemini => gemini::$f($($arg),*),
        }
    };
}

/// A client's request body → canonical. (Gemini bodies carry no model: the caller sets
/// `Request::model` and `Request::stream` from the URL.)
pub fn decode_request(d: Dialect, body: &[u8]) -> Result<Request, ConvertError> {
    by_dialect!(d, decode_request(body))
}

/// Canonical → an upstream's request body; what had to be dropped is appended to `dropped`.
pub fn encode_request(
    d: Dialect,
    req: &Request,
    opts: &EncodeOptions,
    dropped: &mut Vec<String>,
) -> Result<Vec<u8>, ConvertError> {
    by_dialect!(d, encode_request(req, opts, dropped))
}

/// An upstream's whole response body → canonical.
pub fn decode_response(d: Dialect, body: &[u8]) -> Result<Response, ConvertError> {
    by_dialect!(d, decode_response(body))
}

/// Canonical → a client's whole response body.
pub fn encode_response(d: Dialect, resp: &Response, opts: &ResponseOptions) -> Vec<u8> {
    by_dialect!(d, encode_response(resp, opts))
}

/// The usage of a whole response body of dialect `d`, read cheaply.
pub fn usage_of_response(d: Dialect, body: &[u8]) -> Option<Usage> {
    by_dialect!(d, usage_of_response(body))
}

/// The usage one stream event of dialect `d` carries, if any, read cheaply.
pub fn sniff_usage(d: Dialect, event: Option<&str>, data: &str) -> Option<Usage> {
    by_dialect!(d, sniff_usage(event, data))
}

/// An error body of dialect `d` → canonical; `None` when it is not that dialect's error shape.
pub fn decode_error(d: Dialect, status: u16, body: &[u8]) -> Option<ErrorInfo> {
    by_dialect!(d, decode_error(status, body))
}

/// Canonical error → dialect `d`'s error body.
pub fn encode_error(d: Dialect, e: &ErrorInfo) -> Vec<u8> {
    by_dialect!(d, encode_error(e))
}

/// A stream decoder for upstream events of dialect `d`.
pub fn stream_decoder(d: Dialect) -> Box<dyn StreamDecoder> {
    match d {
        Dialect::OpenaiChat => Box::new(openai_chat::Decoder::new()),
        Dialect::OpenaiResponses => Box::new(openai_responses::Decoder::new()),
        Dialect::Anthropic => Box::new(anthropic::Decoder::new()),
        Dialect::Gemini => Box::new(gemini::Decoder::new()),
    }
}

/// A stream encoder producing client events of dialect `d`.
pub fn stream_encoder(d: Dialect, opts: &ResponseOptions) -> Box<dyn StreamEncoder> {
    match d {
        Dialect::OpenaiChat => Box::new(openai_chat::Encoder::new(opts)),
        Dialect::OpenaiResponses => Box::new(openai_responses::Encoder::new(opts)),
        Dialect::Anthropic => Box::new(anthropic::Encoder::new(opts)),
        Dialect::Gemini => Box::new(gemini::Encoder::new(opts)),
    }
}
