//! Prepaid balances of virtual keys: `POST /admin/api-keys/{id}/balance` appends a top-up or
//! correction, `GET /admin/api-keys/{id}/balance-events` lists them. Events are append-only;
//! what a key spent is counted by the gateway's state backend, not here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use modelgate_store::{BalanceEventRecord, new_id, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::virtual_keys::key_or_404;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, Pagination, Scoped};
use crate::state::AppState;
use crate::validate::{self, ts};

/// A top-up (positive) or correction (negative) of a key's prepaid balance.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceInput {
    /// The amount to add: a decimal string or number, not zero; negative to correct.
    #[schema(value_type = String, example = "10.00")]
    pub add: serde_json::Value,
    /// Why (shown in the event list).
    #[serde(default)]
    pub note: Option<String>,
}

/// One balance event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceEventOut {
    pub id: String,
    pub key_id: String,
    /// Decimal string.
    pub amount: String,
    pub note: Option<String>,
    pub created_at: String,
}

impl From<&BalanceEventRecord> for BalanceEventOut {
    fn from(e: &BalanceEventRecord) -> Self {
        Self {
            id: e.id.clone(),
            key_id: e.key_id.clone(),
            amount: e.amount.clone(),
            note: e.note.clone(),
            created_at: ts(e.created_at),
        }
    }
}

/// The answer to a top-up: the key's new credited sum and the event recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceOut {
    pub key_id: String,
    /// The sum of all the key's balance events (decimal string).
    pub credited: String,
    pub event: BalanceEventOut,
}

#[utoipa::path(post, path = "/admin/api-keys/{id}/balance", tag = "api-keys", params(("id" = String, Path)),
    request_body = BalanceInput,
    responses((status = 201, body = BalanceOut, description = "Event recorded; the key is prepaid from now on"),
        (status = 404, description = "Unknown key (or another tenant's)"), (status = 422, description = "Invalid field")),
    security(("bearer" = [])))]
pub async fn top_up(
    State(s): State<AppState>,
    sc: Scoped,
    Path(id): Path<String>,
    body: ApiResult<ApiJson<BalanceInput>>,
) -> ApiResult<(StatusCode, Json<BalanceOut>)> {
    // An unknown key is a 404 whatever the body.
    let key = key_or_404(&s, &sc.scope, &id).await?;
    let ApiJson(i) = body?;
    let amount = validate::decimal("add", &i.add)?;
    if amount.is_zero() {
        return Err(ApiError::invalid("add", "`add` must not be zero"));
    }
    if let Some(n) = &i.note {
        validate::text("note", n, validate::MAX_TEXT)?;
    }
    let event = BalanceEventRecord {
        id: new_id(),
        key_id: key.id.clone(),
        amount: amount.normalize().to_string(),
        note: i.note.clone(),
        created_at: now_ms(),
    };
    s.db.append_balance_event(&event).await?;
    s.gateway.changed().await?;
    let credited = s.db.balance_credited(&key.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(BalanceOut {
            key_id: key.id,
            credited: credited.normalize().to_string(),
            event: BalanceEventOut::from(&event),
        }),
    ))
}

#[utoipa::path(get, path = "/admin/api-keys/{id}/balance-events", tag = "api-keys", params(("id" = String, Path), Pagination),
    responses((status = 200, body = [BalanceEventOut], description = "Oldest first"),
        (status = 404, description = "Unknown key (or another tenant's)")),
    security(("bearer" = [])))]
pub async fn events(
    State(s): State<AppState>,
    sc: Scoped,
    Path(id): Path<String>,
    ApiQuery(pg): ApiQuery<Pagination>,
) -> ApiResult<Json<Vec<BalanceEventOut>>> {
    let key = key_or_404(&s, &sc.scope, &id).await?;
    let rows = s.db.list_balance_events(&key.id, pg.page()?).await?;
    Ok(Json(rows.iter().map(BalanceEventOut::from).collect()))
}
