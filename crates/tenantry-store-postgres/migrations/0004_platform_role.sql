-- The platform scope is a database role, not a setting.
--
-- Until this migration every policy admitted all rows when
-- `current_setting('tenantry.platform') = 'on'`, and any role may set any
-- `tenantry.` setting: one `set_config('tenantry.platform', 'on', true)`
-- inside a `WHERE` gave the runtime role every tenant's rows and the
-- platform's tables. From here on:
--
-- * the tenant policies admit a row only when its `tenant_id` is the
--   transaction's `tenantry.tenant_id`, for every role;
-- * the platform's named operations run as a separate login role, which
--   `migrate --platform-role ROLE` names in a `platform_scope` policy
--   (`TO ROLE USING (true)`) on every table with row-level security. The
--   role's identity admits it, and no statement can change which role it
--   runs as: the runtime role is refused at start if it is a member of it;
-- * the platform's own tables (its relationship partition, its log and
--   revision, and the deployment settings holding the API key pepper) have
--   no policy for anyone else, and `migrate` grants the runtime role no
--   privilege on them at all;
-- * the owner keeps a policy of its own so that later migrations can
--   backfill, as it could always switch row-level security off anyway.
--
-- Policies still compare columns with `current_setting(...)` only (no
-- subquery), which Citus accepts.

-- Tenant-owned tables: the tenant setting alone.
DROP POLICY tenant_isolation ON tenants;
CREATE POLICY tenant_isolation ON tenants
    FOR ALL
    USING (id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (id = current_setting('tenantry.tenant_id', true));

DROP POLICY tenant_isolation ON workspaces;
CREATE POLICY tenant_isolation ON workspaces
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

DROP POLICY tenant_isolation ON tenant_root_workspaces;
CREATE POLICY tenant_isolation ON tenant_root_workspaces
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

DROP POLICY tenant_isolation ON api_keys;
CREATE POLICY tenant_isolation ON api_keys
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

DROP POLICY tenant_isolation ON groups;
CREATE POLICY tenant_isolation ON groups
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

DROP POLICY tenant_isolation ON relationships;
CREATE POLICY tenant_isolation ON relationships
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

DROP POLICY tenant_isolation ON relationship_revisions;
CREATE POLICY tenant_isolation ON relationship_revisions
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

DROP POLICY tenant_isolation ON relationship_changes;
CREATE POLICY tenant_isolation ON relationship_changes
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

-- The platform's tables: no policy but the platform role's (made by
-- `migrate`) and the owner's, so every other role sees and writes nothing,
-- even with a privilege granted by hand.
DROP POLICY platform_only ON platform_relationships;
DROP POLICY platform_only ON platform_relationship_revisions;
DROP POLICY platform_only ON platform_relationship_changes;
DROP POLICY platform_writes ON authorization_schemas;

ALTER TABLE deployment_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE deployment_settings FORCE ROW LEVEL SECURITY;

-- The owner (the role running this migration) keeps every row, for later
-- migrations' backfills: it owns the tables and could switch row-level
-- security off in any case. The server refuses to connect as it.
CREATE POLICY owner_maintenance ON tenants FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON workspaces FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON tenant_root_workspaces FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON api_keys FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON groups FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON relationships FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON relationship_revisions FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON relationship_changes FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON platform_relationships FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON platform_relationship_revisions FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON platform_relationship_changes FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON authorization_schemas FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON deployment_settings FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
