//! Shared state of the HTTP layer.

use jsonwebtoken::{DecodingKey, EncodingKey};
use modelgate_core::Gateway;
use modelgate_store::Database;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::config::Settings;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub db: Database,
    pub settings: Arc<Settings>,
    pub auth: Arc<AdminAuthConfig>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The command-line overrides, for `POST /admin/reload-config`.
    pub overrides: Arc<crate::config::Overrides>,
}

/// Admin credentials: the static admin key and the JWT keys.
pub struct AdminAuthConfig {
    pub admin_key: Option<String>,
    pub jwt_encoding: EncodingKey,
    pub jwt_decoding: DecodingKey,
    pub jwt_ttl_secs: u64,
}

impl AdminAuthConfig {
    /// JWT keys are derived from the instance secret, so every instance sharing it accepts
    /// the same tokens.
    pub fn new(secret: &str, admin_key: Option<String>, jwt_ttl_secs: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"modelgate-jwt-v1\0");
        h.update(secret.as_bytes());
        let k = h.finalize();
        Self {
            admin_key: admin_key.filter(|k| !k.is_empty()),
            jwt_encoding: EncodingKey::from_secret(&k),
            jwt_decoding: DecodingKey::from_secret(&k),
            jwt_ttl_secs,
        }
    }
}
