//! `POST /auth/login`: username and password → a JWT for the control plane.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Claims};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginOut {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    pub expires_in: u64,
    pub user_id: String,
    pub role: String,
}

/// Signs a session token for a user.
pub fn issue_token(
    s: &AppState,
    user_id: &str,
    username: &str,
    role: &str,
) -> ApiResult<(String, u64)> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let ttl = s.auth.jwt_ttl_secs;
    let claims = Claims {
        sub: user_id.into(),
        username: username.into(),
        role: role.into(),
        iat: now,
        exp: now + ttl,
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &s.auth.jwt_encoding,
    )
    .map_err(|e| ApiError::internal(format!("cannot sign token: {e}")))?;
    Ok((token, ttl))
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginInput,
    responses((status = 200, body = LoginOut), (status = 401, description = "Wrong username or password")))]
pub async fn login(
    State(s): State<AppState>,
    ApiJson(i): ApiJson<LoginInput>,
) -> ApiResult<Json<LoginOut>> {
    let user = s.db.get_user_by_username(&i.username).await?;
    // Unknown or disabled users, and users without a password, are checked against a dummy
    // hash: comparable time, no match.
    let hash = user
        .as_ref()
        .filter(|u| u.enabled)
        .and_then(|u| u.password_hash.clone());
    let ok = super::passwords::verify(i.password.clone(), hash).await;
    let Some(u) = user.filter(|_| ok) else {
        return Err(
            ApiError::unauthorized("Wrong username or password").with_code("invalid_credentials")
        );
    };
    let (token, ttl) = issue_token(&s, &u.id, &u.username, &u.role)?;
    Ok(Json(LoginOut {
        access_token: token,
        token_type: "bearer".into(),
        expires_in: ttl,
        user_id: u.id,
        role: u.role,
    }))
}
