//! `GET /admin/logs`: the request log, filtered and paginated. A tenant admin sees only its
//! tenant's records.

use axum::Json;
use axum::extract::State;
use modelgate_store::RequestLogRecord;
use modelgate_store::request_logs::RequestLogFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, Scoped};
use crate::state::AppState;
use crate::validate::ts;

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogQuery {
    /// Virtual key id.
    pub key_id: Option<String>,
    /// Requested model name.
    pub model: Option<String>,
    /// Provider name.
    pub provider: Option<String>,
    /// HTTP status.
    pub status: Option<i64>,
    /// RFC 3339 lower bound (inclusive).
    pub since: Option<String>,
    /// RFC 3339 upper bound (exclusive).
    pub until: Option<String>,
    /// Response-cache outcome: `hit` or `miss`.
    pub cache: Option<String>,
    pub skip: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub total: i64,
    pub items: Vec<LogOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogOut {
    pub id: String,
    pub time: String,
    pub request_id: String,
    pub key_id: Option<String>,
    pub tenant_id: Option<String>,
    /// The client's dialect.
    pub dialect: String,
    /// The dialect the upstream was called in (null when no upstream was called).
    pub upstream_dialect: Option<String>,
    pub endpoint: String,
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    pub provider_model: Option<String>,
    pub attempts: i64,
    #[schema(value_type = Object)]
    pub attempt_log: serde_json::Value,
    pub status: i64,
    pub stream: bool,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    pub total_tokens: i64,
    /// Total cost (decimal string), whoever paid it.
    pub cost: Option<String>,
    /// Free credit used: money as a decimal string, or `"<n> tokens"` for token grants.
    pub credit_used: Option<String>,
    /// Money charged to the key's prepaid balance (decimal string).
    pub balance_charged: Option<String>,
    /// The gateway counted the usage itself (the upstream reported none).
    pub usage_estimated: bool,
    /// `hit` or `miss` when the response cache was consulted.
    pub cache: Option<String>,
    /// Notes: fields dropped in conversion, `client_closed`, …
    #[schema(value_type = Vec<Object>)]
    pub notes: serde_json::Value,
    pub error: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

impl From<RequestLogRecord> for LogOut {
    fn from(r: RequestLogRecord) -> Self {
        Self {
            time: ts(r.ts_ms),
            attempt_log: r
                .attempt_log
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or_default(),
            notes: r
                .notes
                .as_deref()
                .and_then(|n| serde_json::from_str(n).ok())
                .unwrap_or_else(|| serde_json::Value::Array(vec![])),
            id: r.id,
            request_id: r.request_id,
            key_id: r.key_id,
            tenant_id: r.tenant_id,
            dialect: r.dialect,
            upstream_dialect: r.upstream_dialect,
            endpoint: r.endpoint,
            requested_model: r.requested_model,
            provider: r.provider,
            provider_model: r.provider_model,
            attempts: r.attempts,
            status: r.status,
            stream: r.stream,
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cached_tokens: r.cached_tokens,
            reasoning_tokens: r.reasoning_tokens,
            total_tokens: r.total_tokens,
            cost: r.cost,
            credit_used: r.credit_used,
            balance_charged: r.balance_charged,
            usage_estimated: r.usage_estimated,
            cache: r.cache,
            error: r.error,
            request_body: r.request_body,
            response_body: r.response_body,
        }
    }
}

fn time_param(field: &str, v: &Option<String>) -> ApiResult<Option<i64>> {
    v.as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| d.timestamp_millis())
                .map_err(|_| {
                    ApiError::invalid(field, format!("`{field}` must be an RFC 3339 time"))
                })
        })
        .transpose()
}

#[utoipa::path(get, path = "/admin/logs", tag = "logs", params(LogQuery),
    responses((status = 200, body = LogPage, description = "Newest first; a tenant admin sees only its tenant's records"),
        (status = 403, description = "Not an admin or tenant admin"), (status = 422, description = "Invalid filter")),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    sc: Scoped,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<LogPage>> {
    let page = crate::extract::Pagination {
        skip: q.skip,
        limit: q.limit,
    }
    .page()?;
    if let Some(c) = &q.cache {
        crate::validate::one_of("cache", c, &["hit", "miss"])?;
    }
    let filter = RequestLogFilter {
        key_id: q.key_id.clone(),
        model: q.model.clone(),
        provider: q.provider.clone(),
        status: q.status,
        since_ms: time_param("since", &q.since)?,
        until_ms: time_param("until", &q.until)?,
        tenant_id: sc.scope.tenant().map(str::to_owned),
        cache: q.cache.clone(),
    };
    let total = s.db.count_request_logs(&filter).await?;
    let items = s.db.query_request_logs(&filter, page).await?;
    Ok(Json(LogPage {
        total,
        items: items.into_iter().map(LogOut::from).collect(),
    }))
}
