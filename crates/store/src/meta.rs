//! The `meta` table: small named values (secret-key check, catalogue version).

use crate::db::Database;
use crate::error::Result;
use crate::with_pool;

impl Database {
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        let v: Option<(String,)> = with_pool!(self, p => {
            sqlx::query_as("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(p).await?
        });
        Ok(v.map(|(s,)| s))
    }

    pub async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        with_pool!(self, p => {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(key).bind(value).execute(p).await?.rows_affected()
        });
        Ok(())
    }

    /// Takes a lease named `key` stamped `now_ms`, unless one newer than `stale_before_ms`
    /// is held. True when this call took it. Atomic across instances sharing the database.
    pub async fn meta_claim(&self, key: &str, now_ms: i64, stale_before_ms: i64) -> Result<bool> {
        let n = with_pool!(self, p => {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE \
                         SET value = excluded.value WHERE CAST(meta.value AS BIGINT) < $3")
                .bind(key).bind(now_ms.to_string()).bind(stale_before_ms).execute(p).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// Releases a lease taken by `meta_claim` with this stamp.
    pub async fn meta_release(&self, key: &str, now_ms: i64) -> Result<()> {
        with_pool!(self, p => {
            sqlx::query("DELETE FROM meta WHERE key = $1 AND value = $2")
                .bind(key).bind(now_ms.to_string()).execute(p).await?.rows_affected()
        });
        Ok(())
    }

    /// Marks the catalogue (providers, keys, models, virtual keys) as changed, so that every
    /// instance sharing this database reloads its snapshot.
    pub async fn bump_catalogue_version(&self) -> Result<()> {
        self.meta_set("catalogue_version", &crate::new_id()).await
    }

    pub async fn catalogue_version(&self) -> Result<Option<String>> {
        self.meta_get("catalogue_version").await
    }
}
