//! Queries on `providers` (and the transactional create with initial keys).

use crate::db::Database;
use crate::error::{Result, StoreError};
use crate::records::{ModelRecord, ProviderRecord, UpstreamKeyRecord};
use crate::{Page, with_pool};

const COLS: &str = "id, name, display_name, kind, base_url, description, weight, enabled, \
    provider_type, extra_headers, timeout_ms, connect_timeout_ms, retryable_statuses, \
    api_version, passthrough_auth, is_default, source, tenant_id, created_at, updated_at, dialects, free_credit";

impl Database {
    pub async fn list_providers(&self, page: Page) -> Result<Vec<ProviderRecord>> {
        self.list_providers_of(None, page).await
    }

    /// Lists providers, optionally only those of one tenant.
    pub async fn list_providers_of(
        &self,
        tenant_id: Option<&str>,
        page: Page,
    ) -> Result<Vec<ProviderRecord>> {
        if tenant_id.is_some_and(crate::db::unmatchable) {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {COLS} FROM providers WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY created_at, id LIMIT $2 OFFSET $3"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(page.limit).bind(page.skip).fetch_all(p).await?),
        )
    }

    pub async fn all_providers(&self) -> Result<Vec<ProviderRecord>> {
        let sql = format!("SELECT {COLS} FROM providers ORDER BY created_at, id");
        Ok(with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?))
    }

    pub async fn count_providers(&self) -> Result<i64> {
        let (n,): (i64,) = with_pool!(self, p => sqlx::query_as("SELECT COUNT(*) FROM providers").fetch_one(p).await?);
        Ok(n)
    }

    /// Finds a provider by id or, failing that, by its unique name.
    pub async fn find_provider(&self, id_or_name: &str) -> Result<Option<ProviderRecord>> {
        if crate::db::unmatchable(id_or_name) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {COLS} FROM providers WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1"
        );
        Ok(
            with_pool!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id_or_name).fetch_optional(p).await?),
        )
    }

    /// Creates a provider with its initial keys and models in one transaction. A taken name is `Conflict`.
    pub async fn create_provider(
        &self,
        provider: &ProviderRecord,
        keys: &[UpstreamKeyRecord],
        models: &[ModelRecord],
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO providers ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)"
        );
        let r = provider;
        with_pool!(self, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM providers WHERE name = $1")
                .bind(&r.name).fetch_optional(&mut *tx).await?;
            if exists.is_some() {
                return Err(StoreError::Conflict(format!("a provider named '{}' already exists", r.name)));
            }
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&r.id).bind(&r.name).bind(&r.display_name).bind(&r.kind).bind(&r.base_url)
                .bind(&r.description).bind(r.weight).bind(r.enabled).bind(&r.provider_type)
                .bind(&r.extra_headers).bind(r.timeout_ms).bind(r.connect_timeout_ms)
                .bind(&r.retryable_statuses).bind(&r.api_version).bind(r.passthrough_auth)
                .bind(r.is_default).bind(&r.source).bind(&r.tenant_id).bind(r.created_at).bind(r.updated_at).bind(&r.dialects).bind(&r.free_credit)
                .execute(&mut *tx).await?;
            for k in keys {
                sqlx::query(crate::upstream_keys::INSERT_SQL)
                    .bind(&k.id).bind(&k.provider_id).bind(&k.alias).bind(&k.secret_enc).bind(&k.preview)
                    .bind(k.weight).bind(k.max_qps).bind(k.max_rpm).bind(k.enabled)
                    .bind(k.created_at).bind(k.updated_at)
                    .execute(&mut *tx).await?;
            }
            for m in models {
                sqlx::query(sqlx::AssertSqlSafe(crate::models::INSERT_SQL.as_str()))
                    .bind(&m.id).bind(&m.provider_id).bind(&m.model_id).bind(&m.provider_model_id)
                    .bind(&m.version).bind(m.context_window).bind(&m.pricing_info).bind(m.is_available)
                    .bind(&m.custom_parameters).bind(&m.dialect).bind(m.created_at).bind(m.updated_at)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Writes every column of an existing provider. A name taken by another provider is `Conflict`.
    pub async fn update_provider(&self, r: &ProviderRecord) -> Result<()> {
        let res = with_pool!(self, p => {
            sqlx::query(
                "UPDATE providers SET name=$2, display_name=$3, kind=$4, base_url=$5, description=$6, \
                 weight=$7, enabled=$8, provider_type=$9, extra_headers=$10, timeout_ms=$11, \
                 connect_timeout_ms=$12, retryable_statuses=$13, api_version=$14, passthrough_auth=$15, \
                 is_default=$16, source=$17, tenant_id=$18, updated_at=$19, dialects=$20, free_credit=$21 WHERE id=$1")
                .bind(&r.id).bind(&r.name).bind(&r.display_name).bind(&r.kind).bind(&r.base_url)
                .bind(&r.description).bind(r.weight).bind(r.enabled).bind(&r.provider_type)
                .bind(&r.extra_headers).bind(r.timeout_ms).bind(r.connect_timeout_ms)
                .bind(&r.retryable_statuses).bind(&r.api_version).bind(r.passthrough_auth)
                .bind(r.is_default).bind(&r.source).bind(&r.tenant_id).bind(r.updated_at).bind(&r.dialects).bind(&r.free_credit)
                .execute(p).await.map(|d| d.rows_affected())
        });
        match res {
            Ok(0) => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict(_) => Err(StoreError::Conflict(format!(
                    "a provider named '{}' already exists",
                    r.name
                ))),
                other => Err(other),
            },
        }
    }

    /// Deletes a provider; its keys and models go with it (foreign-key cascade).
    pub async fn delete_provider(&self, id: &str) -> Result<bool> {
        let done = with_pool!(self, p => sqlx::query("DELETE FROM providers WHERE id = $1").bind(id).execute(p).await?.rows_affected());
        Ok(done > 0)
    }
}
