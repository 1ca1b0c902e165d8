-- Decisions of AI agents and the sessions that summarise them, both
-- tenant-owned like every other table: `tenant_id` leads every key and
-- foreign key, is immutable, and row-level security confines the runtime
-- role to the tenant its transaction names.
--
-- A decision's workspace and session are composite foreign keys on
-- `(tenant_id, ...)`, so a decision can name neither a workspace nor a
-- session of another tenant, whatever SQL writes it. Deleting a workspace
-- deletes its sessions and decisions (each was an audit event, which stays).
--
-- A session is the running summary of its decisions, updated in the same
-- transaction as each one (an upsert whose counters add, so concurrent
-- writers stay exact). Lists are newest first on `(tenant_id, time, id)`
-- indexes; the filters that select few rows (workspace, session, agent)
-- have an index of their own that leads with `tenant_id`.

CREATE TABLE sessions (
    tenant_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C" NOT NULL,
    state text COLLATE "C" NOT NULL,
    agent_id text NOT NULL,
    actor text,
    repository text,
    policy_pack text,
    decision_count bigint NOT NULL,
    blocked_count bigint NOT NULL,
    approval_required_count bigint NOT NULL,
    evidence_refs jsonb NOT NULL,
    started_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT sessions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sessions_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT sessions_state_check CHECK (state IN ('active', 'completed', 'failed', 'archived')),
    CONSTRAINT sessions_counts_check CHECK (
        decision_count >= 1 AND blocked_count >= 0 AND approval_required_count >= 0
        AND blocked_count + approval_required_count <= decision_count)
);

CREATE INDEX sessions_updated_idx ON sessions (tenant_id, updated_at, id);
CREATE INDEX sessions_workspace_idx ON sessions (tenant_id, workspace_id, updated_at, id);

CREATE TABLE decisions (
    tenant_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C" NOT NULL,
    session_id text COLLATE "C" NOT NULL,
    agent_id text NOT NULL,
    actor text,
    repository text,
    action_type text NOT NULL,
    target text,
    requested_operation text,
    policy_pack text,
    policy_id text,
    rule_id text,
    decision text COLLATE "C" NOT NULL,
    severity text COLLATE "C" NOT NULL,
    reason text,
    evidence_refs jsonb NOT NULL,
    approver_group text COLLATE "C",
    occurred_at timestamptz NOT NULL,
    correlation_id text,
    recorded_by text COLLATE "C",
    recorded_by_api_key text COLLATE "C",
    recorded_at timestamptz NOT NULL,
    CONSTRAINT decisions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT decisions_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT decisions_session_fkey
        FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT decisions_decision_check CHECK (decision IN (
        'allow', 'block', 'require_approval', 'warn', 'audit_only', 'allow_with_attestation')),
    CONSTRAINT decisions_severity_check CHECK (severity IN ('low', 'medium', 'high', 'critical'))
);

CREATE INDEX decisions_occurred_idx ON decisions (tenant_id, occurred_at, id);
CREATE INDEX decisions_workspace_idx ON decisions (tenant_id, workspace_id, occurred_at, id);
CREATE INDEX decisions_session_idx ON decisions (tenant_id, session_id, occurred_at, id);
CREATE INDEX decisions_agent_idx ON decisions (tenant_id, agent_id, occurred_at, id);

CREATE TRIGGER sessions_tenant_id_immutable
BEFORE UPDATE ON sessions
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();
CREATE TRIGGER decisions_tenant_id_immutable
BEFORE UPDATE ON decisions
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
ALTER TABLE decisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE decisions FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON sessions
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));
CREATE POLICY tenant_isolation ON decisions
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

CREATE POLICY owner_maintenance ON sessions FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON decisions FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
