//! The gateway pipeline without HTTP framing.
//!
//! Owns: the in-memory catalogue snapshot (`catalogue`) and virtual-key ring (`keyring`) that
//! the hot path reads instead of the database; model resolution (`resolve`); dispatch with
//! failover (`dispatch`) and stream relaying (`relay`); pricing and cost (`pricing`); the
//! aggregated model list (`model_list`); and the batched request log (`request_log`).
//! `Gateway` (`gateway`) ties them together. Must not know about axum.

pub mod catalogue;
pub mod dispatch;
pub mod error;
pub mod gateway;
pub mod health;
pub mod keyring;
pub mod model_list;
pub mod pricing;
pub mod relay;
pub mod request_log;
pub mod resolve;
pub mod routing;
pub mod sessions;
pub mod strategy;

pub use error::GatewayError;
pub use gateway::{Gateway, GatewaySettings};
