//! The SQLite request-log appender: its own `rusqlite` connection to the gateway's database
//! file, used by `Database::append_request_logs` so the writer thread's batches skip sqlx's
//! per-value encoding.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::{Result, StoreError};
use crate::records::{REQUEST_LOG_COLS, RequestLogRecord};

/// Appends request-log rows to a SQLite file through its own connection: cached prepared
/// statements of `CHUNK` rows and of one row, run in one transaction (values bound from the
/// records by reference; SQLite copies each text value it is given), on a blocking thread. Same file, same schema (migrated by
/// sqlx first); SQLite's write lock and `busy_timeout` order it with the pool's writers.
#[derive(Debug)]
pub struct SqliteAppender {
    path: PathBuf,
    conn: Mutex<Option<rusqlite::Connection>>,
}

/// Rows per multi-row statement: a batch is appended `CHUNK` rows per statement run, the rest
/// one row per run. One run per row cost SQLite a statement start and end (cursors opened on
/// the table and each index, then closed) for every row: an appended row took ~27,200
/// instructions in callgrind that way and ~22,300 in runs of 32 rows.
const CHUNK: usize = 32;

/// The columns of a row (`REQUEST_LOG_COLS`), bound by `bind_row`.
const COLS: usize = 31;

/// `INSERT INTO request_logs (<columns>) VALUES (?, …), …`: `rows` rows.
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; COLS].join(", "));
    format!(
        "INSERT INTO request_logs ({REQUEST_LOG_COLS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

static INSERT_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(1));
static INSERT_CHUNK: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(CHUNK));

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
            let mut chunks = records.chunks_exact(CHUNK);
            if chunks.len() > 0 {
                let mut st = tx.prepare_cached(&INSERT_CHUNK).map_err(sqlite_error)?;
                for chunk in chunks.by_ref() {
                    let mut next = 1;
                    for r in chunk {
                        next = bind_row(&mut st, next, r)?;
                    }
                    st.raw_execute().map_err(sqlite_error)?;
                }
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut st = tx.prepare_cached(&INSERT_ONE).map_err(sqlite_error)?;
                for r in rest {
                    bind_row(&mut st, 1, r)?;
                    st.raw_execute().map_err(sqlite_error)?;
                }
            }
        }
        tx.commit().map_err(sqlite_error)
    }
}

/// Binds one record's columns (in `REQUEST_LOG_COLS` order) from parameter `first` on; returns
/// the index after the last. Values are bound by reference.
fn bind_row(
    st: &mut rusqlite::CachedStatement<'_>,
    first: usize,
    r: &RequestLogRecord,
) -> Result<usize> {
    let values: [&dyn rusqlite::ToSql; COLS] = [
        &r.id,
        &r.ts_ms,
        &r.request_id,
        &r.key_id,
        &r.tenant_id,
        &r.dialect,
        &r.endpoint,
        &r.requested_model,
        &r.provider,
        &r.provider_model,
        &r.attempts,
        &r.status,
        &r.stream,
        &r.latency_ms,
        &r.ttft_ms,
        &r.prompt_tokens,
        &r.completion_tokens,
        &r.cached_tokens,
        &r.reasoning_tokens,
        &r.total_tokens,
        &r.cost,
        &r.error,
        &r.attempt_log,
        &r.request_body,
        &r.response_body,
        &r.upstream_dialect,
        &r.notes,
        &r.credit_used,
        &r.balance_charged,
        &r.usage_estimated,
        &r.cache,
    ];
    for (i, v) in values.into_iter().enumerate() {
        st.raw_bind_parameter(first + i, v).map_err(sqlite_error)?;
    }
    Ok(first + COLS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_name_as_many_columns_as_a_row_binds() {
        assert_eq!(REQUEST_LOG_COLS.split(',').count(), COLS);
        assert_eq!(INSERT_ONE.matches('?').count(), COLS);
        assert_eq!(INSERT_CHUNK.matches('?').count(), COLS * CHUNK);
    }
}
