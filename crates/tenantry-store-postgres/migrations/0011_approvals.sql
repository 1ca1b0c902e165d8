-- Approval requests and break-glass grants on AI-agent decisions, and each
-- tenant's routing rules: tenant-owned like every other table, `tenant_id`
-- leading every key and foreign key, immutable, and row-level security
-- confining the runtime role to the tenant its transaction names.
--
-- An approval's whole record (history included) is `body`, the JSON of
-- `tenantry_core::approval::Approval`, written with the columns beside it
-- from the same value; the columns are what lists filter and sort on and
-- what the checks and foreign keys hold to. Its decision and workspace are
-- composite foreign keys on `(tenant_id, ...)`, so an approval cannot name
-- another tenant's decision whatever SQL writes it.

CREATE TABLE approvals (
    tenant_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C" NOT NULL,
    decision_id text COLLATE "C" NOT NULL,
    state text COLLATE "C" NOT NULL,
    approver_group text COLLATE "C" NOT NULL,
    required_approvals integer NOT NULL,
    requested_by text COLLATE "C" NOT NULL,
    requested_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    awaiting_review boolean NOT NULL,
    updated_at timestamptz NOT NULL,
    body jsonb NOT NULL,
    CONSTRAINT approvals_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT approvals_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT approvals_decision_fkey
        FOREIGN KEY (tenant_id, decision_id) REFERENCES decisions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT approvals_state_check CHECK (state IN (
        'pending', 'approved', 'denied', 'expired', 'cancelled', 'break_glass')),
    CONSTRAINT approvals_required_check CHECK (required_approvals BETWEEN 1 AND 10),
    CONSTRAINT approvals_deadline_check CHECK (expires_at > requested_at),
    CONSTRAINT approvals_review_check CHECK (NOT awaiting_review OR state = 'break_glass')
);

CREATE INDEX approvals_requested_idx ON approvals (tenant_id, requested_at, id);
CREATE INDEX approvals_state_idx ON approvals (tenant_id, state, expires_at);
CREATE INDEX approvals_decision_idx ON approvals (tenant_id, decision_id);
-- The expiry sweep's question, across tenants: which have pending requests
-- past their deadline.
CREATE INDEX approvals_due_idx ON approvals (expires_at, tenant_id) WHERE state = 'pending';

CREATE TABLE approval_routing (
    tenant_id text COLLATE "C" NOT NULL,
    rules jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT approval_routing_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT approval_routing_tenant_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT approval_routing_rules_check CHECK (jsonb_typeof(rules) = 'array')
);

CREATE TRIGGER approvals_tenant_id_immutable
BEFORE UPDATE ON approvals
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();
CREATE TRIGGER approval_routing_tenant_id_immutable
BEFORE UPDATE ON approval_routing
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

ALTER TABLE approvals ENABLE ROW LEVEL SECURITY;
ALTER TABLE approvals FORCE ROW LEVEL SECURITY;
ALTER TABLE approval_routing ENABLE ROW LEVEL SECURITY;
ALTER TABLE approval_routing FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON approvals
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));
CREATE POLICY tenant_isolation ON approval_routing
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

CREATE POLICY owner_maintenance ON approvals FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON approval_routing FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
