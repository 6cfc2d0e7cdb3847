//! Queries on the routing tables: logical models and their upstreams, aliases, registered
//! model names.

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::{
    AliasRecord, LogicalModelRecord, LogicalUpstreamRecord, RegisteredModelRecord,
};
use crate::with_pool;

const LM_COLS: &str = "id, name, description, strategy, fallback, enabled, created_at, updated_at";
const UP_COLS: &str =
    "id, logical_model_id, model_implementation_id, weight, priority, enabled, position";

impl Database {
    pub async fn all_logical_models(&self) -> Result<Vec<LogicalModelRecord>> {
        let sql = format!("SELECT {LM_COLS} FROM logical_models ORDER BY created_at, id");
        Ok(with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?))
    }

    pub async fn all_logical_upstreams(&self) -> Result<Vec<LogicalUpstreamRecord>> {
        let sql = format!(
            "SELECT {UP_COLS} FROM logical_model_upstreams ORDER BY logical_model_id, position, id"
        );
        Ok(with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?))
    }

    pub async fn find_logical_model(&self, id_or_name: &str) -> Result<Option<LogicalModelRecord>> {
        let sql = format!(
            "SELECT {LM_COLS} FROM logical_models WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id_or_name).fetch_optional(p).await?),
        )
    }

    pub async fn logical_upstreams_of(
        &self,
        logical_model_id: &str,
    ) -> Result<Vec<LogicalUpstreamRecord>> {
        let sql = format!(
            "SELECT {UP_COLS} FROM logical_model_upstreams WHERE logical_model_id = $1 ORDER BY position, id"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(logical_model_id).fetch_all(p).await?),
        )
    }

    /// Creates or replaces a logical model and its upstreams in one transaction.
    pub async fn save_logical_model(
        &self,
        m: &LogicalModelRecord,
        ups: &[LogicalUpstreamRecord],
        create: bool,
    ) -> Result<()> {
        let res: std::result::Result<(), sqlx::Error> = with_pool!(self, p => async {
            let mut tx = p.begin_with(self.begin_write()).await?;
            if create {
                sqlx::query("INSERT INTO logical_models (id, name, description, strategy, fallback, enabled, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)")
                    .bind(&m.id).bind(&m.name).bind(&m.description).bind(&m.strategy).bind(&m.fallback).bind(m.enabled).bind(m.created_at).bind(m.updated_at)
                    .execute(&mut *tx).await?;
            } else {
                let n = sqlx::query("UPDATE logical_models SET name=$2, description=$3, strategy=$4, fallback=$5, enabled=$6, updated_at=$7 WHERE id=$1")
                    .bind(&m.id).bind(&m.name).bind(&m.description).bind(&m.strategy).bind(&m.fallback).bind(m.enabled).bind(m.updated_at)
                    .execute(&mut *tx).await?.rows_affected();
                if n == 0 {
                    return Err(sqlx::Error::RowNotFound);
                }
                sqlx::query("DELETE FROM logical_model_upstreams WHERE logical_model_id = $1").bind(&m.id).execute(&mut *tx).await?;
            }
            for u in ups {
                sqlx::query("INSERT INTO logical_model_upstreams (id, logical_model_id, model_implementation_id, weight, priority, enabled, position) VALUES ($1,$2,$3,$4,$5,$6,$7)")
                    .bind(&u.id).bind(&u.logical_model_id).bind(&u.model_implementation_id).bind(u.weight).bind(u.priority).bind(u.enabled).bind(u.position)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await);
        res.map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a logical model named '{}' already exists", m.name))
            }
            other => other,
        })
    }

    pub async fn delete_logical_model(&self, id: &str) -> Result<bool> {
        let n = with_pool!(self, p => sqlx::query("DELETE FROM logical_models WHERE id = $1").bind(id).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    pub async fn all_aliases(&self) -> Result<Vec<AliasRecord>> {
        Ok(
            with_pool!(self, p => sqlx::query_as("SELECT alias, target, created_at FROM model_aliases ORDER BY alias").fetch_all(p).await?),
        )
    }

    pub async fn upsert_alias(&self, a: &AliasRecord) -> Result<()> {
        with_pool!(self, p => sqlx::query("INSERT INTO model_aliases (alias, target, created_at) VALUES ($1,$2,$3) ON CONFLICT (alias) DO UPDATE SET target = excluded.target")
            .bind(&a.alias).bind(&a.target).bind(a.created_at).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn delete_alias(&self, alias: &str) -> Result<bool> {
        let n = with_pool!(self, p => sqlx::query("DELETE FROM model_aliases WHERE alias = $1").bind(alias).execute(p).await?.rows_affected());
        Ok(n > 0)
    }

    pub async fn all_registered_models(&self) -> Result<Vec<RegisteredModelRecord>> {
        Ok(
            with_pool!(self, p => sqlx::query_as("SELECT name, display_name, description, created_at FROM registered_models ORDER BY name").fetch_all(p).await?),
        )
    }

    pub async fn upsert_registered_model(&self, m: &RegisteredModelRecord) -> Result<()> {
        with_pool!(self, p => sqlx::query("INSERT INTO registered_models (name, display_name, description, created_at) VALUES ($1,$2,$3,$4) ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, description = excluded.description")
            .bind(&m.name).bind(&m.display_name).bind(&m.description).bind(m.created_at).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn delete_registered_model(&self, name: &str) -> Result<bool> {
        let n = with_pool!(self, p => sqlx::query("DELETE FROM registered_models WHERE name = $1").bind(name).execute(p).await?.rows_affected());
        Ok(n > 0)
    }
}
