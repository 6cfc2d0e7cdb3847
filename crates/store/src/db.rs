//! Connections and migrations for both backends.
//!
//! `Database` is an enum over a SQLite and a PostgreSQL pool. Queries are written once in SQL
//! that both accept (`$N` placeholders, text ids, bigint times) and run through `with_pool!`,
//! which instantiates the same code for each backend.

use crate::error::Result;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a `Database` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether a lookup key can match nothing stored: text columns never hold NUL (PostgreSQL
/// rejects it outright), so such keys are answered "not found" without a query.
pub(crate) fn unmatchable(key: &str) -> bool {
    key.contains('\0')
}

/// A connection pool to the configured database. A SQLite file also has the request-log
/// appender (its own connection, see `sqlite_appender`).
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(
        SqlitePool,
        Option<Arc<crate::sqlite_appender::SqliteAppender>>,
    ),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Database::Sqlite($pool, _) => $body,
            $crate::db::Database::Postgres($pool) => $body,
        }
    };
}

impl Database {
    /// The statement opening a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a
    /// deferred transaction that reads before it writes cannot wait for the write lock and
    /// fails at once with "database is locked" when another writer got there first.
    pub(crate) fn begin_write(&self) -> &'static str {
        match self {
            Database::Sqlite(..) => "BEGIN IMMEDIATE",
            Database::Postgres(_) => "BEGIN",
        }
    }

    /// Connects to `url` (`postgres://…` or `sqlite://…`), or to `<data_dir>/modelgate.db`
    /// when `url` is `None`. SQLite files are created and put in WAL mode.
    pub async fn connect(url: Option<&str>, data_dir: &Path) -> Result<Self> {
        match url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                let opts = PgConnectOptions::from_str(u)?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await?;
                Ok(Database::Postgres(pool))
            }
            Some(u) => {
                let opts = SqliteConnectOptions::from_str(u)?;
                Self::open_sqlite(opts).await
            }
            None => {
                std::fs::create_dir_all(data_dir)?;
                let opts = SqliteConnectOptions::new().filename(data_dir.join("modelgate.db"));
                Self::open_sqlite(opts).await
            }
        }
    }

    async fn open_sqlite(opts: SqliteConnectOptions) -> Result<Self> {
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let file = opts.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        // In-memory databases (no file) are written through the pool.
        let appender = file
            .is_file()
            .then(|| Arc::new(crate::sqlite_appender::SqliteAppender::new(file)));
        Ok(Database::Sqlite(pool, appender))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(..) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Database::Sqlite(p, _) => SQLITE_MIGRATIONS.run(p).await?,
            Database::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// A trivial round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, p => { sqlx::query("SELECT 1").execute(p).await?; });
        Ok(())
    }

    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }
}
