//! The SQLite request-log appender: its own `rusqlite` connection to the gateway's database
//! file, used by `Database::append_request_logs` so the writer thread's batches skip sqlx's
//! per-value encoding.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::{Result, StoreError};
use crate::records::{REQUEST_LOG_COLS, RequestLogRecord};

/// Appends request-log rows to a SQLite file through its own connection: one cached prepared
/// single-row statement run per record in one transaction (values bound by reference, no
/// per-value copies), on a blocking thread. Same file, same schema (migrated by sqlx first);
/// SQLite's write lock and `busy_timeout` order it with the pool's writers.
#[derive(Debug)]
pub struct SqliteAppender {
    path: PathBuf,
    conn: Mutex<Option<rusqlite::Connection>>,
}

/// `INSERT INTO request_logs (<columns>) VALUES (?1, …, ?n)`, one row.
static INSERT_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let n = REQUEST_LOG_COLS.split(',').count();
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO request_logs ({REQUEST_LOG_COLS}) VALUES ({})",
        marks.join(", ")
    )
});

fn sqlite_error(e: rusqlite::Error) -> StoreError {
    StoreError::Io(std::io::Error::other(format!(
        "request log append failed: {e}"
    )))
}

impl SqliteAppender {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            conn: Mutex::new(None),
        }
    }

    fn open(&self) -> Result<rusqlite::Connection> {
        let c = rusqlite::Connection::open(&self.path).map_err(sqlite_error)?;
        c.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite_error)?;
        c.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite_error)?;
        Ok(c)
    }

    /// Appends `records` in one transaction (blocking).
    pub(crate) fn append(&self, records: &[RequestLogRecord]) -> Result<()> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let conn = match guard.as_mut() {
            Some(c) => c,
            None => guard.insert(self.open()?),
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        {
            let mut st = tx.prepare_cached(&INSERT_ONE).map_err(sqlite_error)?;
            for r in records {
                st.execute(rusqlite::params![
                    r.id,
                    r.ts_ms,
                    r.request_id,
                    r.key_id,
                    r.tenant_id,
                    r.dialect,
                    r.endpoint,
                    r.requested_model,
                    r.provider,
                    r.provider_model,
                    r.attempts,
                    r.status,
                    r.stream,
                    r.latency_ms,
                    r.ttft_ms,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.cached_tokens,
                    r.reasoning_tokens,
                    r.total_tokens,
                    r.cost,
                    r.error,
                    r.attempt_log,
                    r.request_body,
                    r.response_body,
                    r.upstream_dialect,
                    r.notes,
                    r.credit_used,
                    r.balance_charged,
                    r.usage_estimated,
                    r.cache,
                ])
                .map_err(sqlite_error)?;
            }
        }
        tx.commit().map_err(sqlite_error)
    }
}
