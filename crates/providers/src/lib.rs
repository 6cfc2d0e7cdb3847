//! Upstream providers: what each provider kind needs on the wire.
//!
//! Owns: the provider kinds (`kind`), the provider trait and its enum dispatch (`provider`),
//! one file per kind (`openai`, `azure`, `deepseek`, `openai_compatible`, `anthropic`,
//! `gemini`, sharing `openai_wire`), safe URL building from client-chosen names (`path`), the
//! pooled HTTP/1.1 client (`client`) and the classification of upstream failures (`failure`).
//! Provider differences are data and per-kind files here, not branches spread through the
//! gateway. Must not know about routing, storage or the admin API.

pub mod adapter;
pub mod anthropic;
pub mod azure;
pub mod client;
pub mod deepseek;
pub mod failure;
pub mod gemini;
pub mod kind;
pub mod openai;
pub mod openai_compatible;
pub mod openai_wire;
pub mod path;
pub mod provider;

pub use adapter::{Adapter, ClientHints, Operation, ProviderError};
pub use client::{
    ResponseBody, UpstreamClient, UpstreamRequest, UpstreamResponse, build_client, content_length,
};
pub use failure::UpstreamFailure;
pub use kind::ProviderKind;
pub use provider::{Provider, ProviderConfig};
