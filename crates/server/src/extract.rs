//! Request extractors with OpenAI-shaped rejections: JSON bodies, query strings, admin auth.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body; malformed JSON → 400, wrong types or unknown fields → 422 naming the field,
/// wrong content type → 415.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(unsupported_media_type());
        }
        let body = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "invalid_request_error", e.body_text()))?;
        // Syntax first: a truncated or broken document is a 400 even when its first values
        // already have the wrong type.
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            return Err(ApiError::bad_request(format!("Malformed JSON body: {e}"))
                .with_code("invalid_json"));
        }
        match axum::Json::<T>::from_bytes(&body) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

/// `application/json` or `application/*+json`, with any parameters.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind == "application" && (sub == "json" || sub.ends_with("+json"))
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request_error",
        "Expected a JSON body with `Content-Type: application/json`",
    )
    .with_code("unsupported_media_type")
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    match rej {
        JsonRejection::JsonDataError(e) => {
            let text = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.body_text());
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                format!("Invalid request body: {}", redact_strings(&text)),
            )
            .with_code("invalid_value");
            if let Some(field) = field_of(&text) {
                err = err.with_param(field);
            }
            err
        }
        JsonRejection::JsonSyntaxError(e) => {
            let text = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.body_text());
            ApiError::bad_request(format!("Malformed JSON body: {text}")).with_code("invalid_json")
        }
        JsonRejection::MissingJsonContentType(_) => unsupported_media_type(),
        JsonRejection::BytesRejection(e) => {
            let status = e.status();
            ApiError::new(status, "invalid_request_error", e.body_text())
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Removes the string values serde quotes in its messages (`invalid type: string "…"`):
/// a secret sent in the wrong field must not come back in the error, nor reach a log.
pub fn redact_strings(text: &str) -> String {
    const MARKER: &str = "string \"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(MARKER) {
        out.push_str(&rest[..i]);
        out.push_str("a string");
        let quoted = &rest[i + MARKER.len()..];
        // The value is Debug-escaped: it ends at the first unescaped quote.
        let mut escaped = false;
        let mut end = quoted.len();
        for (n, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = n + 1;
                    break;
                }
                _ => escaped = false,
            }
        }
        rest = &quoted[end..];
    }
    out.push_str(rest);
    out
}

/// The field a serde error is about: `path.to.field: message`, or `unknown field `x``,
/// or `missing field `x``.
pub(crate) fn field_of(text: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(i) = text.find(marker) {
            let rest = &text[i + marker.len()..];
            if let Some(end) = rest.find('`') {
                let prefix = text[..i].trim_end_matches(": ").trim();
                let field = &rest[..end];
                // The path of an unknown field already ends with the field itself.
                let named = prefix == field || prefix.ends_with(&format!(".{field}"));
                return Some(if prefix.is_empty() || prefix == "." {
                    field.to_owned()
                } else if named {
                    prefix.to_owned()
                } else {
                    format!("{prefix}.{field}")
                });
            }
        }
    }
    let (path, _) = text.split_once(": ")?;
    (!path.is_empty() && !path.contains(' ')).then(|| path.to_owned())
}

/// A raw body with an OpenAI-shaped error when it is too large or unreadable.
pub struct RawBody(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match bytes::Bytes::from_request(req, state).await {
            Ok(b) => Ok(RawBody(b)),
            Err(e) => Err(body_refused(
                e.status() == StatusCode::PAYLOAD_TOO_LARGE,
                e.body_text(),
            )),
        }
    }
}

/// A request body that could not be read: too large (413 `request_too_large`) or broken
/// (400 `invalid_body`). The router's extractor and the ingress answer with this one shape.
pub(crate) fn body_refused(too_large: bool, message: String) -> ApiError {
    if too_large {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            message,
        )
        .with_code("request_too_large")
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            .with_code("invalid_body")
    }
}

/// A query string with an OpenAI-shaped 422 on bad values.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::invalid(
                "query",
                format!("Invalid query string: {}", e.body_text()),
            )),
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// `?skip=&limit=` pagination (limit 1..=1000, default 100).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::IntoParams)]
pub struct Pagination {
    #[serde(default)]
    pub skip: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

impl Pagination {
    pub fn page(&self) -> Result<modelgate_store::Page, ApiError> {
        let skip = self.skip.unwrap_or(0);
        let limit = self.limit.unwrap_or(100);
        if skip < 0 {
            return Err(ApiError::invalid("skip", "skip must be >= 0"));
        }
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                "limit must be between 1 and 1000",
            ));
        }
        Ok(modelgate_store::Page { skip, limit })
    }
}

/// The bearer token (or `X-API-Key`) of a request.
pub fn presented_key(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(t.trim());
        }
    }
    parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// JWT claims of an admin session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub username: String,
    pub role: String,
    pub exp: u64,
    pub iat: u64,
}

/// The roles a user can have: `admin` manages everything, `tenant_admin` only its tenant's
/// objects, `user` only its own virtual keys.
pub const ROLES: [&str; 3] = ["admin", "tenant_admin", "user"];

/// Who is calling the control plane.
#[derive(Debug, Clone)]
pub enum Admin {
    /// The static admin key.
    Key,
    /// A logged-in user.
    User {
        id: String,
        role: String,
        tenant_id: Option<String>,
    },
}

impl Admin {
    pub fn is_admin(&self) -> bool {
        match self {
            Admin::Key => true,
            Admin::User { role, .. } => role == "admin",
        }
    }
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Admin::Key => None,
            Admin::User { id, .. } => Some(id),
        }
    }
    /// What this caller administers: everything, one tenant, or nothing (`None`).
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Admin::Key => Some(Scope::All),
            Admin::User { role, .. } if role == "admin" => Some(Scope::All),
            Admin::User {
                role,
                tenant_id: Some(t),
                ..
            } if role == "tenant_admin" => Some(Scope::Tenant(t.clone())),
            Admin::User { .. } => None,
        }
    }
}

/// The objects an administrator may see and change. This is the one place tenant scoping
/// is decided: handlers filter lists with `tenant()`, check single objects with `check`,
/// and stamp new objects with `assign`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The global admin (admin key or role `admin`): every object.
    All,
    /// A `tenant_admin`: only the objects of this tenant.
    Tenant(String),
}

impl Scope {
    /// The tenant a list must be filtered by (`None`: no filter).
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Tenant(t) => Some(t),
        }
    }

    /// Whether an object owned by `owner` (`None`: shared) is in scope.
    pub fn sees(&self, owner: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(t) => owner == Some(t.as_str()),
        }
    }

    /// `obj` when its owner is in scope, else the caller's 404 (another tenant's objects do
    /// not exist for a tenant admin).
    pub fn check<T: TenantOwned>(
        &self,
        obj: T,
        not_found: impl FnOnce() -> ApiError,
    ) -> Result<T, ApiError> {
        if self.sees(obj.owner()) {
            Ok(obj)
        } else {
            Err(not_found())
        }
    }

    /// The tenant a new or changed object gets when `requested` was asked for: the global
    /// admin gets what it asked; a tenant admin always gets its own tenant and is refused
    /// (403) another one.
    pub fn assign(&self, requested: Option<&str>) -> Result<Option<String>, ApiError> {
        match self {
            Scope::All => Ok(requested.map(str::to_owned)),
            Scope::Tenant(t) => match requested {
                Some(r) if r != t => Err(ApiError::forbidden(
                    "A tenant admin can only create and change objects of its own tenant",
                )
                .with_param("tenant_id")),
                _ => Ok(Some(t.clone())),
            },
        }
    }

    /// Refuses (403) a tenant admin on endpoints over shared, global state.
    pub fn require_all(&self) -> Result<(), ApiError> {
        match self {
            Scope::All => Ok(()),
            Scope::Tenant(_) => Err(ApiError::forbidden("This endpoint needs the admin role")),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Authenticates any control-plane caller (admin key or a valid JWT).
pub struct Caller(pub Admin);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = presented_key(parts).filter(|t| !t.is_empty()) else {
            return Err(ApiError::unauthorized(
                "Missing credentials: send `Authorization: Bearer <admin key or token>`",
            ));
        };
        if let Some(k) = &state.auth.admin_key
            && constant_time_eq(k.as_bytes(), token.as_bytes())
        {
            return Ok(Caller(Admin::Key));
        }
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_exp = true;
        match jsonwebtoken::decode::<Claims>(token, &state.auth.jwt_decoding, &validation) {
            Ok(data) => {
                // The user must still exist and be enabled.
                match state.db.get_user(&data.claims.sub).await? {
                    Some(u) if u.enabled => Ok(Caller(Admin::User {
                        id: u.id,
                        role: u.role,
                        tenant_id: u.tenant_id,
                    })),
                    _ => Err(ApiError::unauthorized(
                        "The user of this token no longer exists or is disabled",
                    )),
                }
            }
            Err(_) => Err(ApiError::unauthorized("Invalid or expired credentials")),
        }
    }
}

/// A caller with the admin role.
pub struct AdminAuth(pub Admin);

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Caller(c) = Caller::from_request_parts(parts, state).await?;
        if !c.is_admin() {
            return Err(ApiError::forbidden("This endpoint needs the admin role"));
        }
        Ok(AdminAuth(c))
    }
}

/// A stored object that belongs to a tenant (`None`: shared, or not in any tenant).
pub trait TenantOwned {
    fn owner(&self) -> Option<&str>;
}

impl TenantOwned for modelgate_store::ProviderRecord {
    fn owner(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
}

impl TenantOwned for modelgate_store::UserRecord {
    fn owner(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
}

impl TenantOwned for modelgate_store::VirtualKeyRecord {
    fn owner(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
}

/// A tenant belongs to itself.
impl TenantOwned for modelgate_store::TenantRecord {
    fn owner(&self) -> Option<&str> {
        Some(&self.id)
    }
}

/// A caller that administers something: the global admin (`Scope::All`) or a tenant admin
/// (`Scope::Tenant`). Anyone else is refused with 403.
pub struct Scoped {
    pub admin: Admin,
    pub scope: Scope,
}

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Caller(admin) = Caller::from_request_parts(parts, state).await?;
        let Some(scope) = admin.scope() else {
            return Err(ApiError::forbidden(
                "This endpoint needs the admin or tenant_admin role",
            ));
        };
        Ok(Scoped { admin, scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_see_assign_and_refuse() {
        let all = Scope::All;
        let a = Scope::Tenant("a".into());
        assert!(all.sees(None) && all.sees(Some("b")));
        assert!(a.sees(Some("a")));
        assert!(!a.sees(Some("b")) && !a.sees(None));
        assert_eq!(a.tenant(), Some("a"));
        assert_eq!(all.tenant(), None);
        assert_eq!(all.assign(Some("b")).unwrap().as_deref(), Some("b"));
        assert_eq!(all.assign(None).unwrap(), None);
        assert_eq!(a.assign(None).unwrap().as_deref(), Some("a"));
        assert_eq!(a.assign(Some("a")).unwrap().as_deref(), Some("a"));
        assert_eq!(a.assign(Some("b")).unwrap_err().status.as_u16(), 403);
        let mut other = modelgate_store::TenantRecord {
            id: "b".into(),
            name: "B".into(),
            created_at: 0,
        };
        assert_eq!(
            a.check(other.clone(), || ApiError::not_found("x"))
                .unwrap_err()
                .status
                .as_u16(),
            404
        );
        other.id = "a".into();
        assert!(a.check(other, || ApiError::not_found("x")).is_ok());
        assert!(a.require_all().is_err() && all.require_all().is_ok());
        let tenant_admin = Admin::User {
            id: "u".into(),
            role: "tenant_admin".into(),
            tenant_id: Some("a".into()),
        };
        assert_eq!(tenant_admin.scope(), Some(a));
        let orphan = Admin::User {
            id: "u".into(),
            role: "tenant_admin".into(),
            tenant_id: None,
        };
        assert_eq!(
            orphan.scope(),
            None,
            "a tenant admin without a tenant administers nothing"
        );
        assert_eq!(Admin::Key.scope(), Some(Scope::All));
    }

    #[test]
    fn string_values_are_redacted() {
        assert_eq!(
            redact_strings(
                "api_keys: invalid type: string \"sk-secret\", expected a sequence at line 1"
            ),
            "api_keys: invalid type: a string, expected a sequence at line 1"
        );
        assert_eq!(
            redact_strings(r#"x: invalid value: string "a\"b\\", expected y; string "c""#),
            "x: invalid value: a string, expected y; a string"
        );
        assert_eq!(
            redact_strings("weight: invalid type: integer `5`"),
            "weight: invalid type: integer `5`"
        );
    }

    #[test]
    fn fields_of_serde_errors() {
        assert_eq!(
            field_of("weight: invalid type: string \"x\", expected f64 at line 1 column 10")
                .as_deref(),
            Some("weight")
        );
        assert_eq!(
            field_of("unknown field `foo`, expected one of `a`").as_deref(),
            Some("foo")
        );
        assert_eq!(
            field_of("missing field `name` at line 1 column 2").as_deref(),
            Some("name")
        );
        assert_eq!(
            field_of("api_keys[0]: missing field `key`").as_deref(),
            Some("api_keys[0].key")
        );
        assert_eq!(
            field_of("secret: unknown field `secret`, expected one of `alias`").as_deref(),
            Some("secret")
        );
        assert_eq!(
            field_of("api_keys[0].nope: unknown field `nope`, expected `key`").as_deref(),
            Some("api_keys[0].nope")
        );
    }
}
