//! The modelgate server: HTTP routes of the data plane and the control plane over the core.
//!
//! `routes` is the whole public surface on one screen; `app` assembles state and layers;
//! `ingress` is each worker's accept loop (hot data-plane routes without the router);
//! `data` and `admin` hold the handlers; `extract` and `error` make every failure an
//! OpenAI-shaped error.

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod data;
pub mod declared;
pub mod error;
pub mod extract;
pub mod health;
pub mod ingress;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod validate;
