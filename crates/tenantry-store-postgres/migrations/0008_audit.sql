-- The audit log: one append-only log per tenant and one for the platform,
-- each an RFC 9162 Merkle tree over its events' canonical bytes. Table,
-- column and constraint names match the SQLite backend's.
--
-- * `audit_logs` is a tenant log's head: its size and the frontier of its
--   tree (the hashes of the complete subtrees covering it, left to right),
--   all an append needs. Every append locks it, which numbers the tenant's
--   events without gaps.
-- * `audit_events` holds each event's canonical bytes (`body`, what the
--   leaf hashes) and, for filtering, copies of a few of its fields.
-- * `audit_nodes` holds every complete subtree (level 0: the leaves), the
--   interior hashes that proofs need, so no proof reads the whole log.
-- * `audit_checkpoints` holds the signed checkpoints. The signing key is
--   never in the database.
--
-- Append-only: the triggers below refuse UPDATE, DELETE and TRUNCATE on the
-- events, nodes and checkpoints for every role, the owner included. The
-- one way a tenant's rows leave is the deletion of the tenant itself
-- (`ON DELETE CASCADE` from `tenants` through `audit_logs`), which the
-- trigger recognises because the tenant's row is gone by then; the
-- platform's log is never deleted.
--
-- Citus readiness: the tenant tables are distributed by `tenant_id`, which
-- leads every key; the events, nodes and checkpoints reference
-- `audit_logs (tenant_id)` (co-located), and `audit_logs` references
-- `tenants`. The platform's tables are reference tables.

CREATE TABLE audit_logs (
    tenant_id text COLLATE "C" NOT NULL,
    size bigint NOT NULL,
    frontier bytea NOT NULL,
    CONSTRAINT audit_logs_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT audit_logs_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT audit_logs_size_check CHECK (size >= 0)
);

CREATE TABLE audit_events (
    tenant_id text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    id text COLLATE "C" NOT NULL,
    occurred_at timestamptz NOT NULL,
    action text COLLATE "C" NOT NULL,
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C",
    actor_type text COLLATE "C" NOT NULL,
    actor_user_id text COLLATE "C",
    actor_api_key_id text COLLATE "C",
    request_id text COLLATE "C",
    body text NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (tenant_id, seq),
    CONSTRAINT audit_events_log_fkey
        FOREIGN KEY (tenant_id) REFERENCES audit_logs (tenant_id) ON DELETE CASCADE,
    CONSTRAINT audit_events_seq_check CHECK (seq >= 1)
);

-- The list's filters, each newest first within the tenant.
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_resource_idx ON audit_events (tenant_id, resource_type, resource_id, seq);
CREATE INDEX audit_events_workspace_idx ON audit_events (tenant_id, workspace_id, seq)
    WHERE workspace_id IS NOT NULL;
CREATE INDEX audit_events_actor_idx ON audit_events (tenant_id, actor_user_id, seq)
    WHERE actor_user_id IS NOT NULL;

CREATE TABLE audit_nodes (
    tenant_id text COLLATE "C" NOT NULL,
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    CONSTRAINT audit_nodes_pkey PRIMARY KEY (tenant_id, level, idx),
    CONSTRAINT audit_nodes_log_fkey
        FOREIGN KEY (tenant_id) REFERENCES audit_logs (tenant_id) ON DELETE CASCADE
);

CREATE TABLE audit_checkpoints (
    tenant_id text COLLATE "C" NOT NULL,
    size bigint NOT NULL,
    note text NOT NULL,
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (tenant_id, size),
    CONSTRAINT audit_checkpoints_log_fkey
        FOREIGN KEY (tenant_id) REFERENCES audit_logs (tenant_id) ON DELETE CASCADE
);

-- The platform's log: the same shape without a tenant. Its head is one row.
CREATE TABLE platform_audit_log (
    id boolean NOT NULL DEFAULT true,
    size bigint NOT NULL,
    frontier bytea NOT NULL,
    CONSTRAINT platform_audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT platform_audit_log_one_row CHECK (id),
    CONSTRAINT platform_audit_log_size_check CHECK (size >= 0)
);
INSERT INTO platform_audit_log (id, size, frontier) VALUES (true, 0, '\x');

CREATE TABLE platform_audit_events (
    seq bigint NOT NULL,
    id text COLLATE "C" NOT NULL,
    occurred_at timestamptz NOT NULL,
    action text COLLATE "C" NOT NULL,
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C",
    actor_type text COLLATE "C" NOT NULL,
    actor_user_id text COLLATE "C",
    actor_api_key_id text COLLATE "C",
    request_id text COLLATE "C",
    body text NOT NULL,
    CONSTRAINT platform_audit_events_pkey PRIMARY KEY (seq),
    CONSTRAINT platform_audit_events_seq_check CHECK (seq >= 1)
);
CREATE INDEX platform_audit_events_action_idx ON platform_audit_events (action, seq);
CREATE INDEX platform_audit_events_resource_idx ON platform_audit_events (resource_type, resource_id, seq);

CREATE TABLE platform_audit_nodes (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    CONSTRAINT platform_audit_nodes_pkey PRIMARY KEY (level, idx)
);

CREATE TABLE platform_audit_checkpoints (
    size bigint NOT NULL,
    note text NOT NULL,
    CONSTRAINT platform_audit_checkpoints_pkey PRIMARY KEY (size)
);

-- Every existing tenant gets its (empty) log.
INSERT INTO audit_logs (tenant_id, size, frontier) SELECT id, 0, '\x' FROM tenants;

-- Append-only. A tenant's rows may be deleted only once the tenant's row is
-- gone, which is the cascade of the tenant's deletion and nothing else;
-- SECURITY DEFINER so that the check sees the tenant whatever the caller's
-- row-level security lets it see.
CREATE FUNCTION tenantry_audit_append_only() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_ARGV[0] = 'tenant'
        AND NOT EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              CONSTRAINT = TG_TABLE_NAME || '_append_only',
              TABLE = TG_TABLE_NAME,
              HINT = 'Audit events leave the database only with their tenant.';
END;
$$;

CREATE FUNCTION tenantry_audit_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: TRUNCATE is refused', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation',
              CONSTRAINT = TG_TABLE_NAME || '_append_only',
              TABLE = TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION tenantry_audit_append_only('tenant');
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
FOR EACH ROW EXECUTE FUNCTION tenantry_audit_append_only('tenant');
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION tenantry_audit_append_only('tenant');
-- A head moves forward with every append; it may be deleted only with its
-- tenant, and never move to another tenant.
CREATE TRIGGER audit_logs_append_only BEFORE DELETE ON audit_logs
FOR EACH ROW EXECUTE FUNCTION tenantry_audit_append_only('tenant');
CREATE TRIGGER audit_logs_tenant_id_immutable BEFORE UPDATE ON audit_logs
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();
-- The rows below refuse every update already; this says why in the words
-- every tenant-owned table uses, should the append-only trigger ever be
-- switched off for maintenance.
CREATE TRIGGER audit_events_tenant_id_immutable BEFORE UPDATE ON audit_events
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();
CREATE TRIGGER audit_nodes_tenant_id_immutable BEFORE UPDATE ON audit_nodes
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();
CREATE TRIGGER audit_checkpoints_tenant_id_immutable BEFORE UPDATE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

CREATE TRIGGER platform_audit_events_append_only BEFORE UPDATE OR DELETE ON platform_audit_events
FOR EACH ROW EXECUTE FUNCTION tenantry_audit_append_only('platform');
CREATE TRIGGER platform_audit_nodes_append_only BEFORE UPDATE OR DELETE ON platform_audit_nodes
FOR EACH ROW EXECUTE FUNCTION tenantry_audit_append_only('platform');
CREATE TRIGGER platform_audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON platform_audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION tenantry_audit_append_only('platform');
CREATE TRIGGER platform_audit_log_append_only BEFORE DELETE ON platform_audit_log
FOR EACH ROW EXECUTE FUNCTION tenantry_audit_append_only('platform');

CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
FOR EACH STATEMENT EXECUTE FUNCTION tenantry_audit_no_truncate();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION tenantry_audit_no_truncate();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
FOR EACH STATEMENT EXECUTE FUNCTION tenantry_audit_no_truncate();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
FOR EACH STATEMENT EXECUTE FUNCTION tenantry_audit_no_truncate();
CREATE TRIGGER platform_audit_log_no_truncate BEFORE TRUNCATE ON platform_audit_log
FOR EACH STATEMENT EXECUTE FUNCTION tenantry_audit_no_truncate();
CREATE TRIGGER platform_audit_events_no_truncate BEFORE TRUNCATE ON platform_audit_events
FOR EACH STATEMENT EXECUTE FUNCTION tenantry_audit_no_truncate();
CREATE TRIGGER platform_audit_nodes_no_truncate BEFORE TRUNCATE ON platform_audit_nodes
FOR EACH STATEMENT EXECUTE FUNCTION tenantry_audit_no_truncate();
CREATE TRIGGER platform_audit_checkpoints_no_truncate BEFORE TRUNCATE ON platform_audit_checkpoints
FOR EACH STATEMENT EXECUTE FUNCTION tenantry_audit_no_truncate();

-- Row-level security: the tenant tables as every tenant-owned table; the
-- platform's tables admit only the platform role (its `platform_scope`
-- policy, made by `migrate`) and the owner.
ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_nodes FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
ALTER TABLE platform_audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_audit_log FORCE ROW LEVEL SECURITY;
ALTER TABLE platform_audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_audit_events FORCE ROW LEVEL SECURITY;
ALTER TABLE platform_audit_nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_audit_nodes FORCE ROW LEVEL SECURITY;
ALTER TABLE platform_audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_audit_checkpoints FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON audit_logs FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_events FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_nodes FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));
CREATE POLICY tenant_isolation ON audit_checkpoints FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

CREATE POLICY owner_maintenance ON audit_logs FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON audit_events FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON audit_nodes FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON audit_checkpoints FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON platform_audit_log FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON platform_audit_events FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON platform_audit_nodes FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON platform_audit_checkpoints FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
