//! Queries on `upstream_keys` (a provider's API keys, encrypted).

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::UpstreamKeyRecord;
use crate::{Page, with_pool};

const COLS: &str = "id, provider_id, alias, secret_enc, preview, weight, max_qps, max_rpm, \
    enabled, created_at, updated_at";

pub(crate) const INSERT_SQL: &str = "INSERT INTO upstream_keys (id, provider_id, alias, \
    secret_enc, preview, weight, max_qps, max_rpm, enabled, created_at, updated_at) \
    VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)";

impl Database {
    pub async fn list_upstream_keys(
        &self,
        provider_id: &str,
        page: Page,
    ) -> Result<Vec<UpstreamKeyRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM upstream_keys WHERE provider_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(provider_id).bind(page.limit).bind(page.skip).fetch_all(p).await?),
        )
    }

    pub async fn all_upstream_keys(&self) -> Result<Vec<UpstreamKeyRecord>> {
        let sql = format!("SELECT {COLS} FROM upstream_keys ORDER BY created_at, id");
        Ok(with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?))
    }

    pub async fn count_upstream_keys(&self) -> Result<i64> {
        let (n,): (i64,) = with_pool!(self, p => sqlx::query_as("SELECT COUNT(*) FROM upstream_keys").fetch_one(p).await?);
        Ok(n)
    }

    pub async fn get_upstream_key(
        &self,
        provider_id: &str,
        id: &str,
    ) -> Result<Option<UpstreamKeyRecord>> {
        if crate::db::unmatchable(provider_id) || crate::db::unmatchable(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLS} FROM upstream_keys WHERE provider_id = $1 AND id = $2");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(provider_id).bind(id).fetch_optional(p).await?),
        )
    }

    pub async fn insert_upstream_key(&self, k: &UpstreamKeyRecord) -> Result<()> {
        with_pool!(self, p => {
            sqlx::query(INSERT_SQL)
                .bind(&k.id).bind(&k.provider_id).bind(&k.alias).bind(&k.secret_enc).bind(&k.preview)
                .bind(k.weight).bind(k.max_qps).bind(k.max_rpm).bind(k.enabled)
                .bind(k.created_at).bind(k.updated_at)
                .execute(p).await?.rows_affected()
        });
        Ok(())
    }

    pub async fn update_upstream_key(&self, k: &UpstreamKeyRecord) -> Result<()> {
        let done = with_pool!(self, p => {
            sqlx::query("UPDATE upstream_keys SET alias=$3, secret_enc=$4, preview=$5, weight=$6, \
                max_qps=$7, max_rpm=$8, enabled=$9, updated_at=$10 WHERE provider_id=$1 AND id=$2")
                .bind(&k.provider_id).bind(&k.id).bind(&k.alias).bind(&k.secret_enc).bind(&k.preview)
                .bind(k.weight).bind(k.max_qps).bind(k.max_rpm).bind(k.enabled).bind(k.updated_at)
                .execute(p).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete_upstream_key(&self, provider_id: &str, id: &str) -> Result<bool> {
        let done = with_pool!(self, p => sqlx::query("DELETE FROM upstream_keys WHERE provider_id = $1 AND id = $2")
            .bind(provider_id).bind(id).execute(p).await?.rows_affected());
        Ok(done > 0)
    }

    /// Replaces all keys of a provider (used when syncing config-declared providers).
    pub async fn replace_upstream_keys(
        &self,
        provider_id: &str,
        keys: &[UpstreamKeyRecord],
    ) -> Result<()> {
        with_pool!(self, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            sqlx::query("DELETE FROM upstream_keys WHERE provider_id = $1").bind(provider_id).execute(&mut *tx).await?;
            for k in keys {
                sqlx::query(INSERT_SQL)
                    .bind(&k.id).bind(&k.provider_id).bind(&k.alias).bind(&k.secret_enc).bind(&k.preview)
                    .bind(k.weight).bind(k.max_qps).bind(k.max_rpm).bind(k.enabled)
                    .bind(k.created_at).bind(k.updated_at)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
