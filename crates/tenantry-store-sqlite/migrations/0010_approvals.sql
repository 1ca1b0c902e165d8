-- Approval requests and break-glass grants on AI-agent decisions, and each
-- tenant's routing rules: tenant-owned like every other table, `tenant_id`
-- leading every key and foreign key and immutable.
--
-- An approval's whole record (history included) is `body`, the JSON of
-- `tenantry_core::approval::Approval`, written with the columns beside it
-- from the same value; the columns are what lists filter and sort on and
-- what the checks and foreign keys hold to. Its decision and workspace are
-- composite foreign keys on `(tenant_id, ...)`, so an approval cannot name
-- another tenant's decision whatever SQL writes it.

CREATE TABLE approvals (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    state TEXT NOT NULL,
    approver_group TEXT NOT NULL,
    required_approvals INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    awaiting_review INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    CONSTRAINT approvals_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT approvals_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT approvals_decision_fkey
        FOREIGN KEY (tenant_id, decision_id) REFERENCES decisions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT approvals_state_check CHECK (state IN (
        'pending', 'approved', 'denied', 'expired', 'cancelled', 'break_glass')),
    CONSTRAINT approvals_required_check CHECK (required_approvals BETWEEN 1 AND 10),
    CONSTRAINT approvals_deadline_check CHECK (expires_at > requested_at),
    CONSTRAINT approvals_review_check CHECK (awaiting_review IN (0, 1)
        AND (awaiting_review = 0 OR state = 'break_glass')),
    CONSTRAINT approvals_body_check CHECK (json_valid(body))
) STRICT;

CREATE INDEX approvals_requested_idx ON approvals (tenant_id, requested_at, id);
CREATE INDEX approvals_state_idx ON approvals (tenant_id, state, expires_at);
CREATE INDEX approvals_decision_idx ON approvals (tenant_id, decision_id);
-- The expiry sweep's question, across tenants: which have pending requests
-- past their deadline.
CREATE INDEX approvals_due_idx ON approvals (expires_at, tenant_id) WHERE state = 'pending';

CREATE TABLE approval_routing (
    tenant_id TEXT NOT NULL,
    rules TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT approval_routing_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT approval_routing_tenant_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT approval_routing_rules_check CHECK (json_valid(rules) AND json_type(rules) = 'array')
) STRICT;

CREATE TRIGGER approvals_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON approvals
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'approvals.tenant_id is immutable');
END;

CREATE TRIGGER approval_routing_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON approval_routing
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'approval_routing.tenant_id is immutable');
END;
