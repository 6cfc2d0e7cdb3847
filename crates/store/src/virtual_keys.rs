//! Queries on `virtual_keys`.

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::VirtualKeyRecord;
use crate::{Page, with_pool};

pub(crate) const COLS: &str = "id, key_hash, prefix, name, user_id, tenant_id, expires_at, allowed_models, \
    rpm, rph, tpm, daily_requests, monthly_requests, daily_tokens, monthly_tokens, budget, \
    enabled, created_at, updated_at, max_concurrency, budget_period, prepaid";

impl Database {
    /// Lists keys, optionally only those of one user.
    pub async fn list_virtual_keys(
        &self,
        user_id: Option<&str>,
        page: Page,
    ) -> Result<Vec<VirtualKeyRecord>> {
        self.list_virtual_keys_of(user_id, None, page).await
    }

    /// Lists keys, optionally only those of one user and/or one tenant.
    pub async fn list_virtual_keys_of(
        &self,
        user_id: Option<&str>,
        tenant_id: Option<&str>,
        page: Page,
    ) -> Result<Vec<VirtualKeyRecord>> {
        if user_id.is_some_and(crate::db::unmatchable)
            || tenant_id.is_some_and(crate::db::unmatchable)
        {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {COLS} FROM virtual_keys WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR tenant_id = $2) ORDER BY created_at, id LIMIT $3 OFFSET $4"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(tenant_id).bind(page.limit).bind(page.skip).fetch_all(p).await?),
        )
    }

    pub async fn all_virtual_keys(&self) -> Result<Vec<VirtualKeyRecord>> {
        let sql = format!("SELECT {COLS} FROM virtual_keys");
        Ok(with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?))
    }

    pub async fn count_virtual_keys(&self) -> Result<i64> {
        let (n,): (i64,) = with_pool!(self, p => sqlx::query_as("SELECT COUNT(*) FROM virtual_keys").fetch_one(p).await?);
        Ok(n)
    }

    pub async fn get_virtual_key(&self, id: &str) -> Result<Option<VirtualKeyRecord>> {
        if crate::db::unmatchable(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLS} FROM virtual_keys WHERE id = $1");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?),
        )
    }

    pub async fn insert_virtual_key(&self, k: &VirtualKeyRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO virtual_keys ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)"
        );
        with_pool!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&k.id).bind(&k.key_hash).bind(&k.prefix).bind(&k.name).bind(&k.user_id)
                .bind(&k.tenant_id).bind(k.expires_at).bind(&k.allowed_models).bind(k.rpm).bind(k.rph)
                .bind(k.tpm).bind(k.daily_requests).bind(k.monthly_requests).bind(k.daily_tokens)
                .bind(k.monthly_tokens).bind(&k.budget).bind(k.enabled).bind(k.created_at).bind(k.updated_at)
                .bind(k.max_concurrency).bind(&k.budget_period).bind(k.prepaid)
                .execute(p).await?.rows_affected()
        });
        Ok(())
    }

    pub async fn update_virtual_key(&self, k: &VirtualKeyRecord) -> Result<()> {
        let done = with_pool!(self, p => {
            sqlx::query("UPDATE virtual_keys SET name=$2, user_id=$3, tenant_id=$4, expires_at=$5, \
                allowed_models=$6, rpm=$7, rph=$8, tpm=$9, daily_requests=$10, monthly_requests=$11, \
                daily_tokens=$12, monthly_tokens=$13, budget=$14, enabled=$15, updated_at=$16, \
                max_concurrency=$17, budget_period=$18, prepaid=$19 WHERE id=$1")
                .bind(&k.id).bind(&k.name).bind(&k.user_id).bind(&k.tenant_id).bind(k.expires_at)
                .bind(&k.allowed_models).bind(k.rpm).bind(k.rph).bind(k.tpm).bind(k.daily_requests)
                .bind(k.monthly_requests).bind(k.daily_tokens).bind(k.monthly_tokens).bind(&k.budget)
                .bind(k.enabled).bind(k.updated_at)
                .bind(k.max_concurrency).bind(&k.budget_period).bind(k.prepaid)
                .execute(p).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete_virtual_key(&self, id: &str) -> Result<bool> {
        if crate::db::unmatchable(id) {
            return Ok(false);
        }
        let done = with_pool!(self, p => sqlx::query("DELETE FROM virtual_keys WHERE id = $1").bind(id).execute(p).await?.rows_affected());
        Ok(done > 0)
    }
}
