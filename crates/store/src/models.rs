//! Queries on `model_implementations`.

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::ModelRecord;
use crate::{Page, with_pool};

const COLS: &str = "id, provider_id, model_id, provider_model_id, version, context_window, \
    pricing_info, is_available, custom_parameters, dialect, created_at, updated_at";

pub(crate) static INSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO model_implementations ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
    )
});

fn conflict(e: sqlx::Error, m: &ModelRecord) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "model '{}' already exists for this provider",
            m.model_id
        )),
        other => other,
    }
}

impl Database {
    pub async fn list_models(&self, provider_id: &str, page: Page) -> Result<Vec<ModelRecord>> {
        let sql = format!(
            "SELECT {COLS} FROM model_implementations WHERE provider_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(provider_id).bind(page.limit).bind(page.skip).fetch_all(p).await?),
        )
    }

    pub async fn all_models(&self) -> Result<Vec<ModelRecord>> {
        let sql = format!("SELECT {COLS} FROM model_implementations ORDER BY created_at, id");
        Ok(with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?))
    }

    pub async fn count_models(&self) -> Result<i64> {
        let (n,): (i64,) = with_pool!(self, p => sqlx::query_as("SELECT COUNT(*) FROM model_implementations").fetch_one(p).await?);
        Ok(n)
    }

    /// A model of a provider by its id or its `model_id`.
    pub async fn find_model(
        &self,
        provider_id: &str,
        id_or_model: &str,
    ) -> Result<Option<ModelRecord>> {
        if crate::db::unmatchable(provider_id) || crate::db::unmatchable(id_or_model) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {COLS} FROM model_implementations WHERE provider_id = $1 AND (id = $2 OR model_id = $2) ORDER BY (id = $2) DESC LIMIT 1"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(provider_id).bind(id_or_model).fetch_optional(p).await?),
        )
    }

    pub async fn insert_model(&self, m: &ModelRecord) -> Result<()> {
        let sql = INSERT_SQL.as_str();
        let res = with_pool!(self, p => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&m.id).bind(&m.provider_id).bind(&m.model_id).bind(&m.provider_model_id)
                .bind(&m.version).bind(m.context_window).bind(&m.pricing_info).bind(m.is_available)
                .bind(&m.custom_parameters).bind(&m.dialect).bind(m.created_at).bind(m.updated_at)
                .execute(p).await.map(|d| d.rows_affected())
        });
        res.map(|_| ()).map_err(|e| conflict(e, m))
    }

    pub async fn update_model(&self, m: &ModelRecord) -> Result<()> {
        let res = with_pool!(self, p => {
            sqlx::query("UPDATE model_implementations SET model_id=$3, provider_model_id=$4, version=$5, \
                context_window=$6, pricing_info=$7, is_available=$8, custom_parameters=$9, dialect=$10, \
                updated_at=$11 WHERE provider_id=$1 AND id=$2")
                .bind(&m.provider_id).bind(&m.id).bind(&m.model_id).bind(&m.provider_model_id)
                .bind(&m.version).bind(m.context_window).bind(&m.pricing_info).bind(m.is_available)
                .bind(&m.custom_parameters).bind(&m.dialect).bind(m.updated_at)
                .execute(p).await.map(|d| d.rows_affected())
        });
        match res {
            Ok(0) => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
            Err(e) => Err(conflict(e, m)),
        }
    }

    pub async fn delete_model(&self, provider_id: &str, id: &str) -> Result<bool> {
        let done = with_pool!(self, p => sqlx::query("DELETE FROM model_implementations WHERE provider_id = $1 AND id = $2")
            .bind(provider_id).bind(id).execute(p).await?.rows_affected());
        Ok(done > 0)
    }
}
