//! Upstream providers: what each provider kind needs on the wire.
//!
//! Owns: the provider kinds (`kind`), how a request to one is addressed and authenticated
//! (`target`), the pooled HTTP client (`client`) and the classification of upstream failures
//! (`failure`). Provider differences are data here (URL templates, auth header), not branches
//! spread through the gateway. Must not know about routing, storage or the admin API.

pub mod client;
pub mod failure;
pub mod kind;
pub mod target;

pub use client::build_client;
pub use failure::UpstreamFailure;
pub use kind::ProviderKind;
pub use target::{Target, UpstreamAuth};
