//! Wire formats of the dialects modelgate speaks, independent of HTTP and storage.
//!
//! Owns: SSE framing (`sse`), the small typed views of OpenAI bodies the gateway needs
//! (`openai`), and a raw JSON object that lets the gateway edit top-level fields of a request
//! without re-encoding the rest (`raw`). Must not know about routing, providers or databases.

pub mod openai;
pub mod raw;
pub mod sse;
