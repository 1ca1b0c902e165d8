-- Invitations: a role offered to a user who is not yet a member of the
-- tenant, by user id or by e-mail address, until they accept or decline it,
-- an inviter revokes it, or it expires. Table, column and constraint names
-- match the SQLite backend's. Self-contained: it needs only the tables of
-- migrations 0001 and 0003 and the trigger function of 0001.
--
-- Citus readiness: tenant-owned and distributed by `tenant_id`, which leads
-- the primary key and both composite foreign keys (to `workspaces` and
-- `groups`, co-located); every tenant-scoped statement carries
-- `tenant_id = $1`. The invitee is never a foreign key: inviting a user id
-- that belongs to no one must succeed exactly like inviting one that does,
-- so that the answer tells the inviter nothing. The two invitee indexes
-- serve the named platform operations that list a user's invitations across
-- tenants (like `relationships_subject_idx`); they are not unique, so
-- Citus accepts them without the distribution column.
--
-- `expired` is not a stored status: a pending invitation past `expires_at`.
CREATE TABLE invitations (
    tenant_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    resource_type text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C",
    group_id text COLLATE "C",
    role text COLLATE "C" NOT NULL,
    invitee_user_id text COLLATE "C",
    invitee_email text,
    invitee_email_key text COLLATE "C",
    invited_by text COLLATE "C" NOT NULL,
    status text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    answered_at timestamptz,
    CONSTRAINT invitations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT invitations_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT invitations_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT invitations_group_fkey
        FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT invitations_resource_check CHECK (
        (resource_type = 'tenant' AND workspace_id IS NULL AND group_id IS NULL)
        OR (resource_type = 'workspace' AND workspace_id IS NOT NULL AND group_id IS NULL)
        OR (resource_type = 'group' AND workspace_id IS NULL AND group_id IS NOT NULL)),
    CONSTRAINT invitations_invitee_check CHECK (
        (invitee_user_id IS NOT NULL AND invitee_email IS NULL AND invitee_email_key IS NULL)
        OR (invitee_user_id IS NULL AND invitee_email IS NOT NULL AND invitee_email_key IS NOT NULL)),
    CONSTRAINT invitations_status_check
        CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    CONSTRAINT invitations_answered_check CHECK ((status = 'pending') = (answered_at IS NULL))
);

-- The foreign keys' lookups when a workspace or group is deleted.
CREATE INDEX invitations_tenant_id_workspace_id_idx
    ON invitations (tenant_id, workspace_id) WHERE workspace_id IS NOT NULL;
CREATE INDEX invitations_tenant_id_group_id_idx
    ON invitations (tenant_id, group_id) WHERE group_id IS NOT NULL;

-- The invitations addressed to a user, across tenants (platform role only).
CREATE INDEX invitations_invitee_user_id_idx
    ON invitations (invitee_user_id) WHERE invitee_user_id IS NOT NULL;
CREATE INDEX invitations_invitee_email_key_idx
    ON invitations (invitee_email_key) WHERE invitee_email_key IS NOT NULL;

CREATE TRIGGER invitations_tenant_id_immutable
BEFORE UPDATE ON invitations
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

-- Row-level security as on every tenant-owned table since migration 0004:
-- the tenant setting alone; the platform role's `platform_scope` policy is
-- made by `migrate --platform-role` (the table is in `TENANTRY_TABLES`).
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON invitations
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

CREATE POLICY owner_maintenance ON invitations FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
