//! The gateway's request path without HTTP framing (DESIGN §1–2).
//!
//! `pipeline` calls the stages in order, each in its own module: `auth` (key → caller),
//! `decode` (body → `Call`), `admit` (may this caller do this now), `route` (model → ordered
//! plan, over `resolve` and `strategy`), `dispatch` (the attempt loop with failover, over
//! `relay` for reading upstream bodies), `respond` (upstream answer → client reply, passthrough
//! or converted) and `settle` (usage, cost, request log, metrics). `Gateway` (`gateway`)
//! assembles and reloads the parts the stages read: the catalogue snapshot (`catalogue`), the
//! key ring (`keyring`), live health (`health`), sessions (`sessions`), provider model lists
//! (`model_list`), the request-log writer (`request_log`), per-thread HTTP clients (`clients`)
//! and the clock (`clock`). Must not know about axum.

pub mod admit;
pub mod auth;
pub mod cache;
pub mod call;
pub mod catalogue;
pub mod clients;
pub mod clock;
pub mod conversation;
pub mod count;
pub mod decode;
pub mod digits;
pub mod dispatch;
pub mod error;
pub mod gateway;
pub mod health;
pub mod keyring;
pub mod ledger;
pub mod log_sink;
pub mod model_list;
pub mod pipeline;
pub mod policy;
pub mod pricing;
pub mod relay;
pub mod reply;
pub mod request_log;
pub mod resolve;
pub mod respond;
pub mod route;
pub mod sessions;
pub mod settle;
pub mod strategy;
pub mod tokens;
pub mod tracked;
pub mod usage;

pub use error::GatewayError;
pub use gateway::{Gateway, GatewaySettings};
