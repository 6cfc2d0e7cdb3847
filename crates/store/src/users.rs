//! Queries on `users`.

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::UserRecord;
use crate::{Page, with_pool};

const COLS: &str = "id, username, email, display_name, password_hash, role, enabled, created_at, \
    updated_at, tenant_id";

impl Database {
    pub async fn list_users(&self, page: Page) -> Result<Vec<UserRecord>> {
        self.list_users_of(None, page).await
    }

    /// Lists users, optionally only those of one tenant.
    pub async fn list_users_of(
        &self,
        tenant_id: Option<&str>,
        page: Page,
    ) -> Result<Vec<UserRecord>> {
        if tenant_id.is_some_and(crate::db::unmatchable) {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {COLS} FROM users WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY created_at, id LIMIT $2 OFFSET $3"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(page.limit).bind(page.skip).fetch_all(p).await?),
        )
    }

    pub async fn count_users(&self) -> Result<i64> {
        let (n,): (i64,) =
            with_pool!(self, p => sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(p).await?);
        Ok(n)
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<UserRecord>> {
        if crate::db::unmatchable(id) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLS} FROM users WHERE id = $1");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?),
        )
    }

    pub async fn get_user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        if crate::db::unmatchable(username) {
            return Ok(None);
        }
        let sql = format!("SELECT {COLS} FROM users WHERE username = $1");
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(username).fetch_optional(p).await?),
        )
    }

    pub async fn insert_user(&self, u: &UserRecord) -> Result<()> {
        let sql = format!("INSERT INTO users ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)");
        let res = with_pool!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&u.id).bind(&u.username).bind(&u.email).bind(&u.display_name)
                .bind(&u.password_hash).bind(&u.role).bind(u.enabled).bind(u.created_at).bind(u.updated_at)
                .bind(&u.tenant_id)
                .execute(p).await.map(|d| d.rows_affected())
        });
        res.map(|_| ()).map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a user named '{}' already exists", u.username))
            }
            other => other,
        })
    }

    /// Deletes a user; their virtual keys go with them.
    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        if crate::db::unmatchable(id) {
            return Ok(false);
        }
        let done = with_pool!(self, p => sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(p).await?.rows_affected());
        Ok(done > 0)
    }
}
