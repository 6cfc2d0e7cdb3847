//! Control-plane handlers, one file per resource.

pub mod auth;
pub mod balance;
pub mod logical_models;
pub mod logs;
pub mod model_mappings;
pub mod models;
pub mod passwords;
pub mod provider_health;
pub mod providers;
pub mod routing;
pub mod stats;
pub mod system;
pub mod tenants;
pub mod upstream_keys;
pub mod usage;
pub mod users;
pub mod virtual_keys;

use crate::error::{ApiError, ApiResult};
use crate::extract::Scope;
use crate::state::AppState;
use modelgate_store::ProviderRecord;

/// The provider named by a path segment (id or name) when it is in the caller's scope, or 404.
/// Everything under `/providers/{provider}` (keys, models, health) goes through here.
pub async fn provider_or_404(
    state: &AppState,
    scope: &Scope,
    id_or_name: &str,
) -> ApiResult<ProviderRecord> {
    let not_found = || ApiError::not_found(format!("Provider '{id_or_name}' not found"));
    let p = state
        .db
        .find_provider(id_or_name)
        .await?
        .ok_or_else(not_found)?;
    scope.check(p, not_found)
}

/// An empty 204 response.
pub fn no_content() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}
