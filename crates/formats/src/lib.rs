//! Wire formats of the dialects modelgate speaks, independent of HTTP and storage.
//!
//! Owns: the dialect names (`dialect`), the canonical request/response/stream/error model
//! (`canonical`), one codec per dialect (`openai_chat`, `openai_responses`, `anthropic`,
//! `gemini`: request, response, stream and error decode/encode), the dispatcher the gateway calls
//! (`codec`), the table of which upstream dialect serves which inbound one (`translate`), SSE
//! framing (`sse`), the small typed views of OpenAI bodies the hot path needs (`openai`), and a raw
//! JSON object that lets the gateway edit top-level fields of a request without re-encoding the
//! rest (`raw`), and a scanner that finds one top-level member without decoding the others
//! (`scan`). Must not know about routing, providers or databases.

pub mod anthropic;
pub mod canonical;
pub mod codec;
pub mod dialect;
pub mod gemini;
pub mod openai;
pub mod openai_chat;
pub mod openai_responses;
pub mod raw;
pub mod scan;
pub mod sse;
pub mod translate;

pub use dialect::Dialect;
