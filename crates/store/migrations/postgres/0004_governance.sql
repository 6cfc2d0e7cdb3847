-- Governance (v4): limits, budgets, prepaid balances, free credits and what each request cost.
-- Keep in step with the other backend's 0004_governance.sql.
ALTER TABLE virtual_keys ADD COLUMN max_concurrency BIGINT;
-- `daily`, `weekly`, `monthly` or `total`; the amount stays in `budget` (a decimal string).
ALTER TABLE virtual_keys ADD COLUMN budget_period TEXT;
-- NULL: the key is not prepaid. Otherwise its balance is the sum of its balance events.
ALTER TABLE virtual_keys ADD COLUMN prepaid BOOLEAN NOT NULL DEFAULT FALSE;
-- A provider's free-credit policy (JSON: {"type":"money","amount":"5.00"} | {"type":"tokens","tokens":N} | {"type":"model_tokens","tokens":N}).
ALTER TABLE providers ADD COLUMN free_credit TEXT;

-- Append-only top-ups and corrections of prepaid balances (decimal strings).
CREATE TABLE balance_events (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES virtual_keys(id) ON DELETE CASCADE,
    amount TEXT NOT NULL,
    note TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX balance_events_key ON balance_events(key_id);

-- What each request cost and who paid: free credit used (money, or tokens for token grants),
-- the part charged to the balance, whether usage was estimated, and the cache outcome.
ALTER TABLE request_logs ADD COLUMN credit_used TEXT;
ALTER TABLE request_logs ADD COLUMN balance_charged TEXT;
ALTER TABLE request_logs ADD COLUMN usage_estimated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE request_logs ADD COLUMN cache TEXT;
