-- Row-level security: the database, not only the store code, confines every
-- tenant-owned row to its tenant.
--
-- The server runs as a runtime role that is neither the tables' owner, nor a
-- superuser, nor BYPASSRLS (`PostgresStore::connect` refuses any other), and
-- FORCE applies the policies to the owner as well. Each store transaction
-- opens with `SET LOCAL tenantry.tenant_id = '<tenant id>'` for a tenant
-- scope or `SET LOCAL tenantry.platform = 'on'` for the named operator
-- operations. Both are transaction-local, so a pooled connection never
-- carries one request's scope into the next; without either, every policy
-- below hides every row.
--
-- `current_setting(name, true)` returns NULL (or '' once a transaction-local
-- value has lapsed) when the setting is absent, and neither equals a tenant
-- id or 'on'. The policies compare columns with settings only: Citus refuses
-- policies with subqueries, and propagates `SET LOCAL` to its workers.
-- `users` and `deployment_settings` are global and have no policy.

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    FOR ALL
    USING (id = current_setting('tenantry.tenant_id', true)
           OR current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (id = current_setting('tenantry.tenant_id', true)
                OR current_setting('tenantry.platform', true) = 'on');

ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workspaces
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true)
           OR current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true)
                OR current_setting('tenantry.platform', true) = 'on');

ALTER TABLE tenant_root_workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_root_workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_root_workspaces
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true)
           OR current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true)
                OR current_setting('tenantry.platform', true) = 'on');

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true)
           OR current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true)
                OR current_setting('tenantry.platform', true) = 'on');
