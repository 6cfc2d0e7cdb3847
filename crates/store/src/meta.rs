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

    /// Marks the catalogue (providers, keys, models, virtual keys) as changed, so that every
    /// instance sharing this database reloads its snapshot.
    pub async fn bump_catalogue_version(&self) -> Result<()> {
        self.meta_set("catalogue_version", &crate::new_id()).await
    }

    pub async fn catalogue_version(&self) -> Result<Option<String>> {
        self.meta_get("catalogue_version").await
    }
}
