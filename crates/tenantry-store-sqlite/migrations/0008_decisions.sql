-- Decisions of AI agents and the sessions that summarise them. Table,
-- column and constraint names match the PostgreSQL backend's, where the
-- migration explains each. Times are compared and ordered in SQL, so they
-- are stored in microseconds since the Unix epoch; evidence references are
-- a JSON array of strings.

CREATE TABLE sessions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    state TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    actor TEXT,
    repository TEXT,
    policy_pack TEXT,
    decision_count INTEGER NOT NULL,
    blocked_count INTEGER NOT NULL,
    approval_required_count INTEGER NOT NULL,
    evidence_refs TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT sessions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sessions_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT sessions_state_check CHECK (state IN ('active', 'completed', 'failed', 'archived')),
    CONSTRAINT sessions_counts_check CHECK (
        decision_count >= 1 AND blocked_count >= 0 AND approval_required_count >= 0
        AND blocked_count + approval_required_count <= decision_count)
) STRICT;

CREATE INDEX sessions_updated_idx ON sessions (tenant_id, updated_at, id);
CREATE INDEX sessions_workspace_idx ON sessions (tenant_id, workspace_id, updated_at, id);

CREATE TABLE decisions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    actor TEXT,
    repository TEXT,
    action_type TEXT NOT NULL,
    target TEXT,
    requested_operation TEXT,
    policy_pack TEXT,
    policy_id TEXT,
    rule_id TEXT,
    decision TEXT NOT NULL,
    severity TEXT NOT NULL,
    reason TEXT,
    evidence_refs TEXT NOT NULL,
    approver_group TEXT,
    occurred_at INTEGER NOT NULL,
    correlation_id TEXT,
    recorded_by TEXT,
    recorded_by_api_key TEXT,
    recorded_at INTEGER NOT NULL,
    CONSTRAINT decisions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT decisions_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT decisions_session_fkey
        FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT decisions_decision_check CHECK (decision IN (
        'allow', 'block', 'require_approval', 'warn', 'audit_only', 'allow_with_attestation')),
    CONSTRAINT decisions_severity_check CHECK (severity IN ('low', 'medium', 'high', 'critical'))
) STRICT;

CREATE INDEX decisions_occurred_idx ON decisions (tenant_id, occurred_at, id);
CREATE INDEX decisions_workspace_idx ON decisions (tenant_id, workspace_id, occurred_at, id);
CREATE INDEX decisions_session_idx ON decisions (tenant_id, session_id, occurred_at, id);
CREATE INDEX decisions_agent_idx ON decisions (tenant_id, agent_id, occurred_at, id);

CREATE TRIGGER sessions_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON sessions
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'sessions.tenant_id is immutable');
END;

CREATE TRIGGER decisions_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON decisions
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'decisions.tenant_id is immutable');
END;
