//! The stored records, one struct per table. Times are unix milliseconds; JSON columns are
//! text (decoded by the layers above, which own their shape).

use serde::{Deserialize, Serialize};

/// An upstream LLM provider (seed: ModelProvider).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, Deserialize)]
pub struct ProviderRecord {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub kind: String,
    pub base_url: String,
    pub description: String,
    pub weight: f64,
    pub enabled: bool,
    pub provider_type: String,
    /// JSON object of header name → value.
    pub extra_headers: String,
    pub timeout_ms: i64,
    pub connect_timeout_ms: i64,
    /// JSON array of HTTP statuses that trigger failover.
    pub retryable_statuses: String,
    pub api_version: Option<String>,
    pub passthrough_auth: bool,
    pub is_default: bool,
    /// `api` (made through the admin API), `config` (TOML) or `env` (well-known env vars).
    pub source: String,
    pub tenant_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON array of extra dialects (beyond the kind's own) the provider speaks.
    pub dialects: String,
    /// JSON free-credit policy, if any.
    pub free_credit: Option<String>,
}

impl ProviderRecord {
    /// Seconds an upstream call may take by default.
    pub const DEFAULT_TIMEOUT_MS: i64 = 120_000;
    pub const DEFAULT_CONNECT_TIMEOUT_MS: i64 = 10_000;

    /// A blank OpenAI-compatible provider record with defaults, made by `source`.
    pub fn blank(source: &str) -> Self {
        let now = crate::now_ms();
        Self {
            id: crate::new_id(),
            name: String::new(),
            display_name: String::new(),
            kind: "openai_compatible".into(),
            base_url: String::new(),
            description: String::new(),
            weight: 1.0,
            enabled: true,
            provider_type: "native".into(),
            extra_headers: "{}".into(),
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
            connect_timeout_ms: Self::DEFAULT_CONNECT_TIMEOUT_MS,
            retryable_statuses: "[]".into(),
            api_version: None,
            passthrough_auth: false,
            is_default: false,
            source: source.into(),
            tenant_id: None,
            dialects: "[]".into(),
            free_credit: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// An upstream API key of a provider; the secret is encrypted.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UpstreamKeyRecord {
    pub id: String,
    pub provider_id: String,
    pub alias: String,
    pub secret_enc: String,
    pub preview: String,
    pub weight: f64,
    pub max_qps: Option<i64>,
    pub max_rpm: Option<i64>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A model implementation: a public model name served by a provider under its own name.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ModelRecord {
    pub id: String,
    pub provider_id: String,
    pub model_id: String,
    pub provider_model_id: String,
    pub version: Option<String>,
    pub context_window: Option<i64>,
    /// JSON object (see the core crate's `Pricing`).
    pub pricing_info: String,
    pub is_available: bool,
    /// JSON object of request defaults.
    pub custom_parameters: String,
    pub dialect: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A person or service account that can log in to the admin API or own virtual keys.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    /// `admin`, `tenant_admin` or `user`.
    pub role: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The tenant the user belongs to (a `tenant_admin` manages only it).
    pub tenant_id: Option<String>,
}

/// A tenant (seed 003): owns providers, users, virtual keys and their request logs.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// One top-up or correction of a prepaid key's balance. Append-only: never updated.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BalanceEventRecord {
    pub id: String,
    pub key_id: String,
    /// Decimal string; negative for corrections.
    pub amount: String,
    pub note: Option<String>,
    pub created_at: i64,
}

/// A virtual API key clients use against the data plane. Only its hash is stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VirtualKeyRecord {
    pub id: String,
    pub key_hash: String,
    pub prefix: String,
    pub name: String,
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub expires_at: Option<i64>,
    /// JSON array of model names; empty means all.
    pub allowed_models: String,
    pub rpm: Option<i64>,
    pub rph: Option<i64>,
    pub tpm: Option<i64>,
    pub daily_requests: Option<i64>,
    pub monthly_requests: Option<i64>,
    pub daily_tokens: Option<i64>,
    pub monthly_tokens: Option<i64>,
    /// Decimal string.
    pub budget: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub max_concurrency: Option<i64>,
    /// `daily`, `weekly`, `monthly` or `total` (the budget's period).
    pub budget_period: Option<String>,
    /// A prepaid key: its balance is the sum of its balance events minus what it spent.
    pub prepaid: bool,
}

impl VirtualKeyRecord {
    /// A new enabled key with no limits, no expiry and access to every model.
    pub fn new(key_hash: String, prefix: String, name: String, user_id: Option<String>) -> Self {
        let now = crate::now_ms();
        Self {
            id: crate::new_id(),
            key_hash,
            prefix,
            name,
            user_id,
            tenant_id: None,
            expires_at: None,
            allowed_models: "[]".into(),
            rpm: None,
            rph: None,
            tpm: None,
            daily_requests: None,
            monthly_requests: None,
            daily_tokens: None,
            monthly_tokens: None,
            budget: None,
            enabled: true,
            created_at: now,
            updated_at: now,
            max_concurrency: None,
            budget_period: None,
            prepaid: false,
        }
    }
}

/// The `request_logs` columns in `RequestLogRecord` field order (inserts and selects of both
/// backends use this one list).
pub(crate) const REQUEST_LOG_COLS: &str = "id, ts_ms, request_id, key_id, tenant_id, dialect, \
    endpoint, requested_model, provider, provider_model, attempts, status, stream, latency_ms, \
    ttft_ms, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, total_tokens, \
    cost, error, attempt_log, request_body, response_body, upstream_dialect, notes, credit_used, \
    balance_charged, usage_estimated, cache";

/// One data-plane request, appended once when it ends.
#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow, Serialize, Deserialize)]
pub struct RequestLogRecord {
    pub id: String,
    pub ts_ms: i64,
    pub request_id: String,
    pub key_id: Option<String>,
    pub tenant_id: Option<String>,
    pub dialect: String,
    pub endpoint: String,
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    pub provider_model: Option<String>,
    pub attempts: i64,
    pub status: i64,
    pub stream: bool,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    pub total_tokens: i64,
    /// Decimal string.
    pub cost: Option<String>,
    pub error: Option<String>,
    /// JSON array of attempts (provider, key alias, status, error, latency).
    pub attempt_log: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    /// The dialect the upstream was called in, when it was called.
    pub upstream_dialect: Option<String>,
    /// JSON array of notes (fields dropped in conversion, `client_closed`, …).
    pub notes: Option<String>,
    /// Free credit used: money as a decimal string, or `"<n> tokens"` for token grants.
    pub credit_used: Option<String>,
    /// Money charged to the key's prepaid balance (decimal string).
    pub balance_charged: Option<String>,
    /// Usage was counted by the gateway (the upstream reported none before the stream ended).
    pub usage_estimated: bool,
    /// `hit` or `miss` when the response cache was consulted.
    pub cache: Option<String>,
}

/// A logical model: one public name over several upstreams, chosen by a strategy.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LogicalModelRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub strategy: String,
    /// JSON array of logical model names tried after this one's upstreams.
    pub fallback: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One upstream of a logical model: a model implementation with weight and priority.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LogicalUpstreamRecord {
    pub id: String,
    pub logical_model_id: String,
    pub model_implementation_id: String,
    pub weight: f64,
    pub priority: i64,
    pub enabled: bool,
    pub position: i64,
}

/// A model alias (seed 004's model mapping).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AliasRecord {
    pub alias: String,
    pub target: String,
    pub created_at: i64,
}

/// A model name registered as available (seed 004's `/admin/models`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RegisteredModelRecord {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub created_at: i64,
}
