-- One pending invitation per invitee and resource. Inviting the same user
-- id (or the same address, compared without case) to the same resource of
-- a tenant while a pending invitation stands answers with that invitation
-- (or refuses another role); this index is the database's backstop for it,
-- so that two concurrent identical invitations, or SQL written by hand,
-- cannot leave two. It names the resource (a workspace or group id, or ''
-- for the tenant itself) and the invitee (a user id, or an address as
-- compared: ids never contain '@'). Index and constraint names match the
-- SQLite backend's.
--
-- Citus readiness: a unique index of a distributed table must include the
-- distribution column, so `tenant_id` leads it (the catalog test checks).
--
-- A pending invitation past its expiry still holds its place in the index;
-- the store marks it `expired` (with its expiry as `answered_at`) when a new
-- invitation takes its place, so `expired` becomes a stored status.
ALTER TABLE invitations DROP CONSTRAINT invitations_status_check;
ALTER TABLE invitations ADD CONSTRAINT invitations_status_check
    CHECK (status IN ('pending', 'accepted', 'declined', 'revoked', 'expired'));

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
