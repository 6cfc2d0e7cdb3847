-- Routing (v2): logical models with their upstreams, model aliases, registered model names.
-- Keep in step with ../postgres/0002_routing.sql.
CREATE TABLE logical_models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    strategy TEXT NOT NULL DEFAULT 'weighted_random',
    fallback TEXT NOT NULL DEFAULT '[]',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE logical_model_upstreams (
    id TEXT PRIMARY KEY,
    logical_model_id TEXT NOT NULL REFERENCES logical_models(id) ON DELETE CASCADE,
    model_implementation_id TEXT NOT NULL REFERENCES model_implementations(id) ON DELETE CASCADE,
    weight DOUBLE PRECISION NOT NULL DEFAULT 1,
    priority BIGINT NOT NULL DEFAULT 0,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    position BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX logical_model_upstreams_model ON logical_model_upstreams(logical_model_id);

CREATE TABLE model_aliases (
    alias TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE registered_models (
    name TEXT PRIMARY KEY,
    display_name TEXT,
    description TEXT,
    created_at BIGINT NOT NULL
);
