//! `GET /health` (database round trip) and `GET /metrics` (Prometheus).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthOut {
    pub status: &'static str,
    pub database: &'static str,
    pub version: &'static str,
}

#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = HealthOut), (status = 503, description = "Database unreachable")))]
pub async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let database = match s.db.backend() {
        modelgate_store::Backend::Sqlite => "sqlite",
        modelgate_store::Backend::Postgres => "postgres",
    };
    let (code, status) = match s.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    (
        code,
        Json(HealthOut {
            status,
            database,
            version: env!("CARGO_PKG_VERSION"),
        }),
    )
}

pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    match &s.metrics {
        Some(h) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
