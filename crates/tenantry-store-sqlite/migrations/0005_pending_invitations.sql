-- One pending invitation per invitee and resource. Inviting the same user
-- id (or the same address, compared without case) to the same resource of
-- a tenant while a pending invitation stands answers with that invitation
-- (or refuses another role); this index is the database's backstop for it,
-- so that two concurrent identical invitations, or SQL written by hand,
-- cannot leave two. It leads with `tenant_id` like every key, and names the
-- resource (a workspace or group id, or '' for the tenant itself) and the
-- invitee (a user id, or an address as compared: ids never contain '@').
--
-- A pending invitation past its expiry still holds its place in the index;
-- the store marks it `expired` (with its expiry as `answered_at`) when a new
-- invitation takes its place, so `expired` becomes a stored status. SQLite
-- cannot change a CHECK constraint, so the table is rebuilt with the same
-- columns and constraint names (they match the PostgreSQL backend's), and
-- its indexes and trigger are made again. Nothing references `invitations`.
CREATE TABLE invitations_rebuilt (
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
        CHECK (status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')),
    CONSTRAINT invitations_answered_check CHECK ((status = 'pending') = (answered_at IS NULL))
) STRICT;

INSERT INTO invitations_rebuilt (tenant_id, id, resource_type, workspace_id, group_id, role,
        invitee_user_id, invitee_email, invitee_email_key, invited_by, status, created_at, expires_at,
        answered_at)
    SELECT tenant_id, id, resource_type, workspace_id, group_id, role,
        invitee_user_id, invitee_email, invitee_email_key, invited_by, status, created_at, expires_at,
        answered_at
    FROM invitations;

DROP TABLE invitations;

ALTER TABLE invitations_rebuilt RENAME TO invitations;

-- Deployments made before this migration may hold several pending
-- invitations to one invitee and resource: all but the newest are marked
-- revoked, as of the moment the next one was made, before the unique index
-- is made.
UPDATE invitations SET status = 'revoked', answered_at = superseded.next_created_at
FROM (
    SELECT older.tenant_id, older.id, min(newer.created_at) AS next_created_at
    FROM invitations AS older
    JOIN invitations AS newer
        ON newer.tenant_id = older.tenant_id
        AND newer.status = 'pending'
        AND newer.resource_type = older.resource_type
        AND coalesce(newer.workspace_id, newer.group_id, '')
            = coalesce(older.workspace_id, older.group_id, '')
        AND coalesce(newer.invitee_user_id, newer.invitee_email_key)
            = coalesce(older.invitee_user_id, older.invitee_email_key)
        AND newer.id > older.id
    WHERE older.status = 'pending'
    GROUP BY older.tenant_id, older.id
) AS superseded
WHERE invitations.tenant_id = superseded.tenant_id AND invitations.id = superseded.id;

CREATE UNIQUE INDEX invitations_one_pending_per_invitee
    ON invitations (tenant_id, resource_type, coalesce(workspace_id, group_id, ''),
        coalesce(invitee_user_id, invitee_email_key))
    WHERE status = 'pending';

-- The foreign keys' lookups when a workspace or group is deleted. (The
-- unique index above, which leads with `tenant_id`, also serves counting a
-- tenant's pending invitations against the limit.)
CREATE INDEX invitations_tenant_id_workspace_id_idx
    ON invitations (tenant_id, workspace_id) WHERE workspace_id IS NOT NULL;
CREATE INDEX invitations_tenant_id_group_id_idx
    ON invitations (tenant_id, group_id) WHERE group_id IS NOT NULL;

-- The invitations addressed to a user: the named platform operations
-- `pending_invitations_for` and `find_invitation_for`.
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
