//! System endpoints of seed 001: a random secret generator and first-admin initialisation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::{UserInput, UserOut, new_user_record};
use super::virtual_keys::{VirtualKeyInput, mint};
use crate::error::{ApiError, ApiResult};
use crate::extract::RawBody;
use crate::state::AppState;

/// An optional JSON body: empty means defaults.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            let text = e.to_string();
            let err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                format!(
                    "Invalid request body: {}",
                    crate::extract::redact_strings(&text)
                ),
            )
            .with_code("invalid_value");
            match crate::extract::field_of(&text) {
                Some(f) => err.with_param(f),
                None => err,
            }
        }
        _ => ApiError::bad_request(format!("Malformed JSON body: {e}")).with_code("invalid_json"),
    })
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyInput {
    /// Random bytes (16..=256, default 64).
    #[serde(default)]
    pub length: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretKeyOut {
    /// URL-safe base64 random string, suitable for `MODELGATE_SECRET_KEY`.
    pub secret_key: String,
}

#[utoipa::path(post, path = "/system/secret-key/generate", tag = "system", request_body(content = SecretKeyInput, description = "Optional"),
    responses((status = 200, body = SecretKeyOut)))]
pub async fn generate_secret_key(RawBody(body): RawBody) -> ApiResult<Json<SecretKeyOut>> {
    let len = optional_json::<SecretKeyInput>(&body)?.length.unwrap_or(64);
    if !(16..=256).contains(&len) {
        return Err(ApiError::invalid(
            "length",
            "`length` must be between 16 and 256",
        ));
    }
    Ok(Json(SecretKeyOut {
        secret_key: modelgate_store::secrets::generate_secret(len),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminInitInput {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Optional; a random one is generated and returned when absent.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminInitOut {
    pub user: UserOut,
    /// Shown once.
    pub password: String,
    /// The first virtual API key, shown once.
    pub api_key: String,
}

/// The lease serialising first-admin creation across requests and instances.
const INIT_LEASE: &str = "admin_init_lease";

fn already_initialised() -> ApiError {
    ApiError::conflict("The system is already initialised: users exist")
}

/// Creates the first admin user and a first virtual key. Fails with 409 once any user exists,
/// and while another initialisation is under way (concurrent calls create one admin).
pub async fn init_admin(s: &AppState, i: AdminInitInput) -> ApiResult<AdminInitOut> {
    if s.db.count_users().await? > 0 {
        return Err(already_initialised());
    }
    let stamp = modelgate_store::now_ms();
    if !s.db.meta_claim(INIT_LEASE, stamp, stamp - 60_000).await? {
        return Err(already_initialised());
    }
    let out = create_first_admin(s, i).await;
    if let Err(e) = s.db.meta_release(INIT_LEASE, stamp).await {
        tracing::warn!(error = %e, "cannot release the admin-init lease; it expires in a minute");
    }
    out
}

async fn create_first_admin(s: &AppState, i: AdminInitInput) -> ApiResult<AdminInitOut> {
    if s.db.count_users().await? > 0 {
        return Err(already_initialised());
    }
    let password = i
        .password
        .clone()
        .unwrap_or_else(|| modelgate_store::secrets::generate_secret(18));
    let user = new_user_record(&UserInput {
        username: i.username.unwrap_or_else(|| "admin".into()),
        email: i.email,
        display_name: i.display_name,
        password: Some(password.clone()),
        role: Some("admin".into()),
        tenant_id: None,
    })
    .await?;
    s.db.insert_user(&user).await?;
    let (_, key) = mint(
        s,
        &crate::extract::Scope::All,
        &VirtualKeyInput {
            name: Some("initial key".into()),
            ..Default::default()
        },
        Some(user.id.clone()),
    )
    .await?;
    Ok(AdminInitOut {
        user: UserOut::from(&user),
        password,
        api_key: key,
    })
}

#[utoipa::path(post, path = "/system/admin/init", tag = "system", request_body(content = AdminInitInput, description = "Optional"),
    responses((status = 201, body = AdminInitOut), (status = 409, description = "Users already exist")))]
pub async fn admin_init(
    State(s): State<AppState>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<AdminInitOut>)> {
    let out = init_admin(&s, optional_json::<AdminInitInput>(&body)?).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// On first start (no users), creates the admin user and a first key and prints them once.
pub async fn first_admin(state: &AppState) -> anyhow::Result<()> {
    if !state.settings.bootstrap || state.db.count_users().await? > 0 {
        return Ok(());
    }
    let out = match init_admin(state, AdminInitInput::default()).await {
        Ok(out) => out,
        // Another instance sharing this database initialised it first.
        Err(e) if e.status == axum::http::StatusCode::CONFLICT => {
            tracing::info!("another instance created the first admin user");
            return Ok(());
        }
        Err(e) => return Err(anyhow::anyhow!(e.message)),
    };
    tracing::warn!(
        username = %out.user.username,
        password = %out.password,
        api_key = %out.api_key,
        "first start: created the admin user and a first virtual API key; they are shown only this once"
    );
    Ok(())
}
