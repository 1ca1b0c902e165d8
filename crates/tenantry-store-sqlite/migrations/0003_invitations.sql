-- Invitations: a role offered to a user who is not yet a member of the
-- tenant, by user id or by e-mail address, until they accept or decline it,
-- an inviter revokes it, or it expires. Table, column and constraint names
-- match the PostgreSQL backend's.
--
-- The resource is the tenant itself, or one of its workspaces or groups,
-- referenced by composite foreign keys that lead with `tenant_id`: deleting
-- the workspace or group deletes the invitations to it. The invitee is never
-- a foreign key: inviting a user id that belongs to no one must succeed
-- exactly like inviting one that does, so the answer tells nothing.
-- `expired` is not a stored status: a pending invitation past `expires_at`,
-- which is compared in SQL and so stored in microseconds since the Unix
-- epoch, like `relationships.expires_at`.
CREATE TABLE invitations (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    workspace_id TEXT,
    group_id TEXT,
    role TEXT NOT NULL,
    invitee_user_id TEXT,
    invitee_email TEXT,
    invitee_email_key TEXT,
    invited_by TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    answered_at TEXT,
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
) STRICT;

-- The foreign keys' lookups when a workspace or group is deleted.
CREATE INDEX invitations_tenant_id_workspace_id_idx
    ON invitations (tenant_id, workspace_id) WHERE workspace_id IS NOT NULL;
CREATE INDEX invitations_tenant_id_group_id_idx
    ON invitations (tenant_id, group_id) WHERE group_id IS NOT NULL;

-- The invitations addressed to a user: the named platform operations
-- `pending_invitations_for` and `find_invitation_for`, the only reads of
-- this table across tenants (like `relationships_subject_idx`).
CREATE INDEX invitations_invitee_user_id_idx
    ON invitations (invitee_user_id) WHERE invitee_user_id IS NOT NULL;
CREATE INDEX invitations_invitee_email_key_idx
    ON invitations (invitee_email_key) WHERE invitee_email_key IS NOT NULL;

CREATE TRIGGER invitations_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON invitations
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'invitations.tenant_id is immutable');
END;
