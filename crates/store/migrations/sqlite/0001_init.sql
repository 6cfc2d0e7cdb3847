-- modelgate schema v1 (SQLite). Ids are UUID text, times are unix milliseconds,
-- JSON is stored as text. Keep in step with ../postgres/0001_init.sql.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE providers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    base_url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    weight DOUBLE PRECISION NOT NULL DEFAULT 1,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    provider_type TEXT NOT NULL DEFAULT 'native',
    extra_headers TEXT NOT NULL DEFAULT '{}',
    timeout_ms BIGINT NOT NULL,
    connect_timeout_ms BIGINT NOT NULL,
    retryable_statuses TEXT NOT NULL DEFAULT '[]',
    api_version TEXT,
    passthrough_auth BOOLEAN NOT NULL DEFAULT FALSE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    source TEXT NOT NULL DEFAULT 'api',
    tenant_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE upstream_keys (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    alias TEXT NOT NULL,
    secret_enc TEXT NOT NULL,
    preview TEXT NOT NULL,
    weight DOUBLE PRECISION NOT NULL DEFAULT 1,
    max_qps BIGINT,
    max_rpm BIGINT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX upstream_keys_provider ON upstream_keys(provider_id);

CREATE TABLE model_implementations (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    provider_model_id TEXT NOT NULL,
    version TEXT,
    context_window BIGINT,
    pricing_info TEXT NOT NULL DEFAULT '{}',
    is_available BOOLEAN NOT NULL DEFAULT TRUE,
    custom_parameters TEXT NOT NULL DEFAULT '{}',
    dialect TEXT NOT NULL DEFAULT 'openai_chat',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider_id, model_id)
);
CREATE INDEX model_implementations_model ON model_implementations(model_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT,
    display_name TEXT,
    password_hash TEXT,
    role TEXT NOT NULL DEFAULT 'user',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE virtual_keys (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    tenant_id TEXT,
    expires_at BIGINT,
    allowed_models TEXT NOT NULL DEFAULT '[]',
    rpm BIGINT,
    rph BIGINT,
    tpm BIGINT,
    daily_requests BIGINT,
    monthly_requests BIGINT,
    daily_tokens BIGINT,
    monthly_tokens BIGINT,
    budget TEXT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX virtual_keys_user ON virtual_keys(user_id);

CREATE TABLE request_logs (
    id TEXT PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    key_id TEXT,
    tenant_id TEXT,
    dialect TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    requested_model TEXT,
    provider TEXT,
    provider_model TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    status BIGINT NOT NULL,
    stream BOOLEAN NOT NULL DEFAULT FALSE,
    latency_ms DOUBLE PRECISION NOT NULL,
    ttft_ms DOUBLE PRECISION,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    cost TEXT,
    error TEXT,
    attempt_log TEXT,
    request_body TEXT,
    response_body TEXT
);
CREATE INDEX request_logs_ts ON request_logs(ts_ms);
CREATE INDEX request_logs_key ON request_logs(key_id, ts_ms);
