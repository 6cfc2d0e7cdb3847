//! Queries on `tenants` (seed 003). Other tables refer to a tenant by `tenant_id`; this file
//! also counts what a tenant owns, so that one still owning objects is not deleted.

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::TenantRecord;
use crate::{Page, with_pool};

const COLS: &str = "id, name, created_at";

impl Database {
    pub async fn list_tenants(&self, page: Page) -> Result<Vec<TenantRecord>> {
        let sql = format!("SELECT {COLS} FROM tenants ORDER BY created_at, id LIMIT $1 OFFSET $2");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(page.limit).bind(page.skip).fetch_all(p).await?),
        )
    }

    pub async fn get_tenant(&self, id: &str) -> Result<Option<TenantRecord>> {
        if crate::db::unmatchable(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLS} FROM tenants WHERE id = $1");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?),
        )
    }

    /// Inserts a tenant; a taken id or name is `Conflict`.
    pub async fn insert_tenant(&self, t: &TenantRecord) -> Result<()> {
        let sql = format!("INSERT INTO tenants ({COLS}) VALUES ($1,$2,$3)");
        let res = with_pool!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&t.id).bind(&t.name).bind(t.created_at)
                .execute(p).await.map(|d| d.rows_affected())
        });
        res.map(|_| ()).map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "a tenant with id '{}' or name '{}' already exists",
                t.id, t.name
            )),
            other => other,
        })
    }

    /// Deletes a tenant that owns nothing: `Conflict` while providers, users or virtual keys
    /// still name it (checked in the same transaction).
    pub async fn delete_tenant(&self, id: &str) -> Result<bool> {
        if crate::db::unmatchable(id) {
            return Ok(false);
        }
        with_pool!(self, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            let (owned,): (i64,) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM providers WHERE tenant_id = $1) \
                 + (SELECT COUNT(*) FROM users WHERE tenant_id = $1) \
                 + (SELECT COUNT(*) FROM virtual_keys WHERE tenant_id = $1)")
                .bind(id).fetch_one(&mut *tx).await?;
            if owned > 0 {
                return Err(StoreError::Conflict(format!(
                    "tenant '{id}' still owns {owned} providers, users or virtual keys"
                )));
            }
            let done = sqlx::query("DELETE FROM tenants WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(done > 0)
        })
    }
}
