//! PLACEHOLDER — being written now; replaced by the real codec of this dialect.
//! Every function below must keep its signature (see `crate::codec`).

use crate::canonical::{
    ConvertError, EncodeOptions, ErrorInfo, Request, Response, ResponseOptions, StreamDecoder,
    StreamEncoder, StreamEvent, Usage,
};

fn unbuilt() -> ConvertError {
    ConvertError::Unsupported("the anthropic codec is not built yet".into())
}

/// Decodes a client request body of this dialect.
pub fn decode_request(_body: &[u8]) -> Result<Request, ConvertError> {
    Err(unbuilt())
}

/// Encodes a canonical request for an upstream of this dialect; names what it had to drop.
pub fn encode_request(
    _req: &Request,
    _opts: &EncodeOptions,
    _dropped: &mut Vec<String>,
) -> Result<Vec<u8>, ConvertError> {
    Err(unbuilt())
}

/// Decodes an upstream's whole (non-stream) response body.
pub fn decode_response(_body: &[u8]) -> Result<Response, ConvertError> {
    Err(unbuilt())
}

/// Encodes a canonical response for a client of this dialect.
pub fn encode_response(_resp: &Response, _opts: &ResponseOptions) -> Vec<u8> {
    Vec::new()
}

/// Reads only the usage of a whole response body (cheap; for same-dialect passthrough).
pub fn usage_of_response(_body: &[u8]) -> Option<Usage> {
    None
}

/// Reads usage from one stream event when it carries any (cheap prefilter; for passthrough).
pub fn sniff_usage(_event: Option<&str>, _data: &str) -> Option<Usage> {
    None
}

/// An error body of this dialect, decoded; `None` when the body is not this dialect's error shape.
pub fn decode_error(_status: u16, _body: &[u8]) -> Option<ErrorInfo> {
    None
}

/// Encodes an error in this dialect's shape.
pub fn encode_error(_e: &ErrorInfo) -> Vec<u8> {
    Vec::new()
}

/// Upstream stream → canonical events.
#[derive(Debug, Default)]
pub struct Decoder;

impl Decoder {
    pub fn new() -> Self {
        Self
    }
}

impl StreamDecoder for Decoder {
    fn push(
        &mut self,
        _event: Option<&str>,
        _data: &str,
        _out: &mut Vec<StreamEvent>,
    ) -> Result<(), ConvertError> {
        Err(unbuilt())
    }
    fn finish(&mut self, _out: &mut Vec<StreamEvent>) {}
}

/// Canonical events → client stream bytes.
#[derive(Debug, Default)]
pub struct Encoder;

impl Encoder {
    pub fn new(_opts: &ResponseOptions) -> Self {
        Self
    }
}

impl StreamEncoder for Encoder {
    fn push(&mut self, _event: &StreamEvent, _out: &mut Vec<u8>) {}
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}
