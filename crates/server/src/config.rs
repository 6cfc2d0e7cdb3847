//! Settings: defaults < TOML file < the seeds' plain env vars < `MODELGATE_*` env vars < flags.
//!
//! Everything in the file can be set by env (`MODELGATE_PORT`, `MODELGATE_LOG_BODIES`, …);
//! the plain names the seeds use (`HOST`, `PORT`, `DATABASE_URL`, `REDIS_URL`, `LOG_LEVEL`,
//! `LOG_FILE_PATH`, `LOG_BODIES`, `MODELS_CACHE_TTL`, `API_KEYS`, `SECRET_KEY`) are honoured
//! too. Providers may be declared in the file (`[[providers]]`) with `env:NAME` secrets.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

/// Runtime settings of a modelgate instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; otherwise SQLite (a `sqlite:` URL or a file path).
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub log_level: String,
    /// `json` (default) or `text`.
    pub log_format: String,
    pub log_file_path: Option<PathBuf>,
    /// Encryption secret for upstream keys; generated into the data dir when unset.
    pub secret_key: Option<String>,
    /// Static admin bearer key.
    pub admin_key: Option<String>,
    /// Create the first admin user and virtual key on first start.
    pub bootstrap: bool,
    pub jwt_ttl_secs: u64,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Keep request/response bodies in the request log.
    pub log_bodies: bool,
    /// TTL of provider model lists, seconds.
    pub models_cache_ttl: u64,
    /// Legacy static virtual keys, comma-separated.
    pub api_keys: Option<String>,
    pub max_attempts: usize,
    /// Budget of one request across attempts, seconds.
    pub request_timeout_secs: u64,
    /// Default per-provider timeout when a provider sets none, milliseconds.
    pub upstream_timeout_ms: u64,
    /// How often to check for catalogue changes made by other instances, milliseconds.
    pub catalogue_poll_ms: u64,
    /// Register providers from well-known env vars (`OPENAI_API_KEY`, …).
    pub env_providers: bool,
    /// Model aliases (`MODEL_MAPPINGS`): a table, or a JSON object string.
    #[serde(deserialize_with = "mappings")]
    pub model_mappings: HashMap<String, String>,
    /// Extra model names served by the default provider (`AVAILABLE_MODELS`, comma list).
    pub available_models: Option<String>,
    /// Refuse model names that are neither in the catalogue nor available (`VALIDATE_MODELS`).
    pub validate_models: bool,
    /// Send unknown model names to the default provider (`ALLOW_UNKNOWN_MODELS`).
    pub allow_unknown_models: bool,
    /// Seed 002: apply `rate_limit_per_minute` / `_per_hour` to keys that set no limit of their
    /// own (`RATE_LIMIT_ENABLED`; off by default: a gateway does not throttle out of the box).
    pub rate_limit_enabled: bool,
    pub rate_limit_per_minute: u64,
    pub rate_limit_per_hour: u64,
    /// When the state backend (Redis) is unreachable: admit on per-instance limits (`true`,
    /// default) or refuse with 503.
    pub state_fail_open: bool,
    /// Redis key prefix of this deployment's shared state.
    pub redis_prefix: String,
    /// Longest wait for one Redis call (connect or command), milliseconds.
    pub redis_timeout_ms: u64,
    /// Output tokens assumed for a request's worst case when it sets no `max_tokens`.
    pub default_output_tokens: u64,
    /// The calendar of daily/weekly/monthly quotas and budgets, as an offset from UTC
    /// (`+08:00`, `-05:00`; default `+00:00`).
    pub quota_utc_offset: String,
    /// Data-plane worker threads, each with its own runtime and listener (0: one per core).
    pub workers: usize,
    /// Response cache (seed 002: `CACHE_ENABLED`, `CACHE_TTL` seconds); off by default.
    pub cache_enabled: bool,
    pub cache_ttl: u64,
    /// Failover: attempts per request and the default strategy live in the core.
    /// Idle time after which a sticky session is forgotten, seconds.
    pub session_ttl_secs: u64,
    /// Consecutive failures that open an upstream's circuit.
    pub circuit_failure_threshold: u32,
    /// Error rate (0..1) over `circuit_window_secs` that opens a circuit.
    pub circuit_error_rate: f64,
    pub circuit_window_secs: u64,
    /// How long an open circuit waits before a half-open trial, milliseconds.
    pub circuit_open_ms: u64,
    /// Cooldown of an upstream key after a 429 without `Retry-After`, milliseconds.
    pub key_cooldown_ms: u64,
    /// Active health probe interval (each provider's `/models`, never a completion); 0 = off.
    pub health_probe_interval_secs: u64,
    /// Providers declared in the config file.
    pub providers: Vec<ProviderConfig>,
}

fn mappings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<HashMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum M {
        Map(HashMap<String, String>),
        Text(String),
    }
    match Option::<M>::deserialize(d)? {
        None => Ok(HashMap::new()),
        Some(M::Map(m)) => Ok(m),
        Some(M::Text(t)) if t.trim().is_empty() => Ok(HashMap::new()),
        Some(M::Text(t)) => serde_json::from_str(&t).map_err(|e| {
            serde::de::Error::custom(format!(
                "MODEL_MAPPINGS must be a JSON object of alias to model: {e}"
            ))
        }),
    }
}

/// A provider declared in the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    /// Secrets, literally or as `env:NAME`.
    #[serde(default)]
    pub api_keys: Vec<String>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub passthrough_auth: bool,
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

/// A model implementation declared in the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub model_id: String,
    #[serde(default)]
    pub provider_model_id: Option<String>,
    #[serde(default)]
    pub pricing: Option<serde_json::Value>,
    #[serde(default)]
    pub custom_parameters: Option<serde_json::Value>,
    #[serde(default)]
    pub context_window: Option<i64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8000,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            log_level: "info".into(),
            log_format: "json".into(),
            log_file_path: None,
            secret_key: None,
            admin_key: None,
            bootstrap: true,
            jwt_ttl_secs: 12 * 3600,
            body_limit_bytes: 32 * 1024 * 1024,
            log_bodies: false,
            models_cache_ttl: 300,
            api_keys: None,
            max_attempts: 4,
            request_timeout_secs: 600,
            upstream_timeout_ms: 120_000,
            catalogue_poll_ms: 1000,
            env_providers: true,
            model_mappings: HashMap::new(),
            available_models: None,
            validate_models: false,
            allow_unknown_models: false,
            rate_limit_enabled: false,
            rate_limit_per_minute: 60,
            rate_limit_per_hour: 1000,
            state_fail_open: true,
            redis_prefix: "modelgate:".into(),
            redis_timeout_ms: 1000,
            default_output_tokens: 4096,
            quota_utc_offset: "+00:00".into(),
            workers: 0,
            cache_enabled: false,
            cache_ttl: 3600,
            session_ttl_secs: 3600,
            circuit_failure_threshold: 5,
            circuit_error_rate: 0.5,
            circuit_window_secs: 30,
            circuit_open_ms: 10_000,
            key_cooldown_ms: 10_000,
            health_probe_interval_secs: 0,
            providers: vec![],
        }
    }
}

/// Command-line overrides (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

/// Plain env names from the seeds, mapped to settings keys.
const PLAIN_ENV: [(&str, &str); 20] = [
    ("RATE_LIMIT_ENABLED", "rate_limit_enabled"),
    ("RATE_LIMIT_PER_MINUTE", "rate_limit_per_minute"),
    ("RATE_LIMIT_PER_HOUR", "rate_limit_per_hour"),
    ("CACHE_ENABLED", "cache_enabled"),
    ("CACHE_TTL", "cache_ttl"),
    ("MODEL_MAPPINGS", "model_mappings"),
    ("AVAILABLE_MODELS", "available_models"),
    ("VALIDATE_MODELS", "validate_models"),
    ("ALLOW_UNKNOWN_MODELS", "allow_unknown_models"),
    ("HOST", "host"),
    ("PORT", "port"),
    ("DATABASE_URL", "database_url"),
    ("REDIS_URL", "redis_url"),
    ("LOG_LEVEL", "log_level"),
    ("LOG_FILE_PATH", "log_file_path"),
    ("LOG_BODIES", "log_bodies"),
    ("MODELS_CACHE_TTL", "models_cache_ttl"),
    ("API_KEYS", "api_keys"),
    ("SECRET_KEY", "secret_key"),
    ("DATA_DIR", "data_dir"),
];

impl Settings {
    /// Loads settings from all sources.
    pub fn load(o: &Overrides) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = &o.config {
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig
            .merge(Env::raw().only(&PLAIN_ENV.map(|(k, _)| k)).map(|k| {
                PLAIN_ENV
                    .iter()
                    .find(|(e, _)| k.as_str().eq_ignore_ascii_case(e))
                    .map(|(_, s)| (*s).into())
                    .unwrap_or_else(|| k.into())
            }))
            .merge(Env::prefixed("MODELGATE_").ignore(&["CONFIG"]));
        if let Some(h) = &o.host {
            fig = fig.merge(Serialized::default("host", h));
        }
        if let Some(p) = o.port {
            fig = fig.merge(Serialized::default("port", p));
        }
        if let Some(d) = &o.data_dir {
            fig = fig.merge(Serialized::default("data_dir", d));
        }
        fig.extract().map_err(Box::new)
    }

    /// The governance settings (limits' defaults, fail-open, calendar).
    pub fn governance(&self) -> anyhow::Result<modelgate_core::ledger::GovernanceSettings> {
        Ok(modelgate_core::ledger::GovernanceSettings {
            fail_open: self.state_fail_open,
            default_rpm: self
                .rate_limit_enabled
                .then_some(self.rate_limit_per_minute),
            default_rph: self.rate_limit_enabled.then_some(self.rate_limit_per_hour),
            default_output_tokens: self.default_output_tokens.max(1),
            utc_offset_secs: parse_utc_offset(&self.quota_utc_offset).ok_or_else(|| {
                anyhow::anyhow!(
                    "quota_utc_offset `{}` is not an offset like +08:00",
                    self.quota_utc_offset
                )
            })?,
        })
    }

    /// The routing policy of these settings.
    pub fn routing(&self) -> modelgate_core::resolve::RoutingConfig {
        modelgate_core::resolve::RoutingConfig {
            mappings: self.model_mappings.clone(),
            available_models: split_list(self.available_models.as_deref()),
            validate_models: self.validate_models,
            allow_unknown_models: self.allow_unknown_models,
        }
    }

    pub fn health(&self) -> modelgate_core::health::HealthSettings {
        use std::time::Duration;
        modelgate_core::health::HealthSettings {
            failure_threshold: self.circuit_failure_threshold.max(1),
            error_rate_threshold: self.circuit_error_rate.clamp(0.01, 1.0),
            window: Duration::from_secs(self.circuit_window_secs.max(1)),
            min_requests: 10,
            open_for: Duration::from_millis(self.circuit_open_ms.max(1)),
            default_cooldown: Duration::from_millis(self.key_cooldown_ms.max(1)),
        }
    }

    pub fn static_keys(&self) -> Vec<String> {
        self.api_keys
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn split_list(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Resolves a secret written literally or as `env:NAME`.
pub fn resolve_secret(v: &str) -> Option<String> {
    match v.strip_prefix("env:") {
        Some(name) => std::env::var(name).ok().filter(|s| !s.is_empty()),
        None => Some(v.to_owned()),
    }
}

/// `+08:00`, `-05:30`, `Z`, `UTC` → seconds east of UTC.
fn parse_utc_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") || s.is_empty() {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=14).contains(&h) && (0..60).contains(&m)).then_some(sign * (h * 3600 + m * 60))
}
