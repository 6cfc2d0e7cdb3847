//! `GET /admin/api-keys/{id}/usage`: what a key used and has left (see `modelgate_core::usage`).

use axum::Json;
use axum::extract::{Path, State};

use crate::error::{ApiError, ApiResult};
use crate::extract::AdminAuth;
use crate::state::AppState;

#[utoipa::path(get, path = "/admin/api-keys/{id}/usage", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 200, description = "Requests, tokens and cost today, this month and in total (from the request log); `balance` and `balance_credited` for prepaid keys; `budget` {amount, period, used, remaining}; `credits`: per provider (and model for `model_tokens` grants) {type, granted, used, remaining}; the key's `limits`"),
        (status = 404, description = "Unknown key")),
    security(("bearer" = [])))]
pub async fn usage(
    State(s): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<modelgate_core::usage::UsageView>> {
    let key = s
        .gateway
        .keyring()
        .by_id(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("API key '{id}' not found")))?;
    Ok(Json(
        modelgate_core::usage::usage_view(&s.gateway, &key).await?,
    ))
}
