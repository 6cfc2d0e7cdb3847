-- Tenants (v5, seed 003): named groups that own providers, users, virtual keys and their
-- request logs. Keep in step with ../sqlite/0005_tenants.sql.
-- Other tables refer to a tenant by `tenant_id` (text, no foreign key: keys and providers
-- tagged before tenants existed keep their tag; a tenant cannot be deleted while it owns
-- objects).
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- A user may belong to a tenant; a `tenant_admin` manages only that tenant's objects.
ALTER TABLE users ADD COLUMN tenant_id TEXT;
CREATE INDEX users_tenant ON users(tenant_id);
CREATE INDEX providers_tenant ON providers(tenant_id);
CREATE INDEX virtual_keys_tenant ON virtual_keys(tenant_id);
CREATE INDEX request_logs_tenant ON request_logs(tenant_id, ts_ms);
