-- The tenant index of request_logs covers tenanted rows only (v6). Keep in step with
-- ../postgres/0006_request_logs_tenant_partial.sql.
-- Most deployments tag few or no requests with a tenant; a full index cost every logged
-- request one more b-tree insert of a NULL key that no query reads (a tenant-scoped query
-- compares tenant_id with a value, which implies IS NOT NULL, so it can still use this one).
DROP INDEX request_logs_tenant;
CREATE INDEX request_logs_tenant ON request_logs(tenant_id, ts_ms) WHERE tenant_id IS NOT NULL;
