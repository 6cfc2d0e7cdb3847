-- Dialects (v3): extra dialects a provider speaks beyond its kind's own, as a JSON array
-- (e.g. `["openai_responses"]` for an OpenAI-compatible server that has `/v1/responses`).
ALTER TABLE providers ADD COLUMN dialects TEXT NOT NULL DEFAULT '[]';
-- The request log records the dialect the upstream was called in (the client's is `dialect`)
-- and notes such as fields dropped in conversion.
ALTER TABLE request_logs ADD COLUMN upstream_dialect TEXT;
ALTER TABLE request_logs ADD COLUMN notes TEXT;
