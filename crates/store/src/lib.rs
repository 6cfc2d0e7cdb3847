//! Persistence for modelgate: one repository over SQLite (embedded default) and PostgreSQL.
//!
//! Owns: connections and migrations (`db`), the stored records (`records`), their queries
//! (one file per table family), secret encryption (`secrets`) and password hashing
//! (`password`). Must not know about HTTP or routing. Everything here runs off the hot path:
//! the gateway reads an in-memory snapshot built from these tables.

pub mod balance;
pub mod db;
pub mod error;
pub mod meta;
pub mod models;
pub mod password;
pub mod providers;
pub mod records;
pub mod request_logs;
pub mod routing;
pub mod secrets;
mod sqlite_appender;
pub mod state;
pub mod tenants;
pub mod upstream_keys;
pub mod users;
pub mod virtual_keys;

pub use db::{Backend, Database};
pub use error::StoreError;
pub use records::*;
pub use secrets::SecretBox;
pub use sqlx;
pub use state::{StateBackend, StateError};

/// Current time in unix milliseconds, the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new time-ordered id (UUID v7 indexes well).
pub fn new_id() -> String {
    // Encoded into a stack buffer, not through `Display` (two ids per request).
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Uuid::now_v7()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

/// Pagination of list queries.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub skip: i64,
    pub limit: i64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            skip: 0,
            limit: 100,
        }
    }
}
