//! Control-plane handlers, one file per resource.

pub mod auth;
pub mod logical_models;
pub mod logs;
pub mod model_mappings;
pub mod models;
pub mod provider_health;
pub mod providers;
pub mod routing;
pub mod stats;
pub mod system;
pub mod upstream_keys;
pub mod usage;
pub mod users;
pub mod virtual_keys;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use modelgate_store::ProviderRecord;

/// The provider named by a path segment (id or name), or 404.
pub async fn provider_or_404(state: &AppState, id_or_name: &str) -> ApiResult<ProviderRecord> {
    state
        .db
        .find_provider(id_or_name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Provider '{id_or_name}' not found")))
}

/// An empty 204 response.
pub fn no_content() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}
