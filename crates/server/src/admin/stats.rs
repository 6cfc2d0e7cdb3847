//! `GET /admin/stats`: catalogue and usage counts.

use axum::Json;
use axum::extract::State;
use modelgate_store::request_logs::RequestLogFilter;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::extract::AdminAuth;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    pub providers: i64,
    pub upstream_keys: i64,
    pub models: i64,
    pub users: i64,
    pub virtual_keys: i64,
    pub requests: i64,
}

#[utoipa::path(get, path = "/admin/stats", tag = "stats", responses((status = 200, body = StatsOut)), security(("bearer" = [])))]
pub async fn stats(State(s): State<AppState>, _a: AdminAuth) -> ApiResult<Json<StatsOut>> {
    let db = &s.db;
    Ok(Json(StatsOut {
        providers: db.count_providers().await?,
        upstream_keys: db.count_upstream_keys().await?,
        models: db.count_models().await?,
        users: db.count_users().await?,
        virtual_keys: db.count_virtual_keys().await?,
        requests: db.count_request_logs(&RequestLogFilter::default()).await?,
    }))
}
