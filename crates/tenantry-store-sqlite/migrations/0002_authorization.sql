-- Authorization: groups, relationship partitions with their change logs and
-- revisions, the authorization schema, and OIDC identities on users. Table,
-- column and constraint names match the PostgreSQL backend's.
--
-- sqlx runs every SQLite migration inside one transaction (it ignores a
-- `-- no-transaction` marker on SQLite), together with its bookkeeping row,
-- so this one is written for that transaction: it never changes
-- `PRAGMA foreign_keys`, which SQLite ignores inside a transaction anyway,
-- and leaves every pooled connection as it found it. See the `users`
-- rebuild below for how it keeps foreign keys intact.

-- Groups: named sets of users inside one tenant. Members and admins are
-- relationships (`group:<id>#member@user:<id>`), not columns.
CREATE TABLE groups (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT groups_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT groups_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT groups_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT
) STRICT;

CREATE TRIGGER groups_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON groups
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'groups.tenant_id is immutable');
END;

-- A tenant's relationship partition. A plain subject (`user:u`) has an empty
-- `subject_relation`, a subject set (`group:g#member`) names its relation:
-- key columns cannot be NULL. `expires_at` is microseconds since the Unix
-- epoch, NULL for never; the engine compares it as a number.
CREATE TABLE relationships (
    tenant_id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    relation TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_relation TEXT NOT NULL,
    expires_at INTEGER,
    CONSTRAINT relationships_pkey PRIMARY KEY
        (tenant_id, resource_type, resource_id, relation, subject_type, subject_id, subject_relation),
    CONSTRAINT relationships_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT
) STRICT;

-- Where a subject appears in a tenant: deleting everything that names a
-- workspace or group, and listing a member's roles.
CREATE INDEX relationships_tenant_id_subject_idx
    ON relationships (tenant_id, subject_type, subject_id, subject_relation);

-- The tenants a user appears in: the named platform operation
-- `tenants_naming_user`, the only read of this table across tenants.
CREATE INDEX relationships_subject_idx ON relationships (subject_type, subject_id);

-- The expiry sweep.
CREATE INDEX relationships_expires_at_idx ON relationships (expires_at) WHERE expires_at IS NOT NULL;

CREATE TRIGGER relationships_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON relationships
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'relationships.tenant_id is immutable');
END;

-- Each partition's revision: incremented once by every transaction that
-- changes its relationships. Changes up to `pruned_through` may have been
-- pruned from the log.
CREATE TABLE relationship_revisions (
    tenant_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT relationship_revisions_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT relationship_revisions_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT relationship_revisions_revision_check
        CHECK (revision >= 0 AND pruned_through >= 0 AND pruned_through <= revision)
) STRICT;

CREATE TRIGGER relationship_revisions_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON relationship_revisions
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'relationship_revisions.tenant_id is immutable');
END;

-- Each partition's change log: what every revision changed, in order.
CREATE TABLE relationship_changes (
    tenant_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    operation TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    relation TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_relation TEXT NOT NULL,
    expires_at INTEGER,
    recorded_at TEXT NOT NULL,
    CONSTRAINT relationship_changes_pkey PRIMARY KEY (tenant_id, revision, ordinal),
    CONSTRAINT relationship_changes_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES relationship_revisions (tenant_id) ON DELETE RESTRICT,
    CONSTRAINT relationship_changes_operation_check CHECK (operation IN ('touch', 'delete'))
) STRICT;

-- Pruning by age.
CREATE INDEX relationship_changes_recorded_at_idx ON relationship_changes (recorded_at);

CREATE TRIGGER relationship_changes_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON relationship_changes
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'relationship_changes.tenant_id is immutable');
END;

-- The platform partition: relationships on `platform:main` (its admins).
-- Global, like `users`: a reference table under Citus.
CREATE TABLE platform_relationships (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    relation TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_relation TEXT NOT NULL,
    expires_at INTEGER,
    CONSTRAINT platform_relationships_pkey PRIMARY KEY
        (resource_type, resource_id, relation, subject_type, subject_id, subject_relation),
    CONSTRAINT platform_relationships_resource_type_check CHECK (resource_type = 'platform')
) STRICT;

CREATE INDEX platform_relationships_expires_at_idx
    ON platform_relationships (expires_at) WHERE expires_at IS NOT NULL;

-- The platform partition's revision: one row.
CREATE TABLE platform_relationship_revisions (
    singleton INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT platform_relationship_revisions_pkey PRIMARY KEY (singleton),
    CONSTRAINT platform_relationship_revisions_singleton_check CHECK (singleton = 1),
    CONSTRAINT platform_relationship_revisions_revision_check
        CHECK (revision >= 0 AND pruned_through >= 0 AND pruned_through <= revision)
) STRICT;

CREATE TABLE platform_relationship_changes (
    revision INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    operation TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    relation TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_relation TEXT NOT NULL,
    expires_at INTEGER,
    recorded_at TEXT NOT NULL,
    CONSTRAINT platform_relationship_changes_pkey PRIMARY KEY (revision, ordinal),
    CONSTRAINT platform_relationship_changes_operation_check CHECK (operation IN ('touch', 'delete'))
) STRICT;

CREATE INDEX platform_relationship_changes_recorded_at_idx ON platform_relationship_changes (recorded_at);

-- The deployment's authorization schema, one row per version; the highest
-- is in force. None stored means the built-in default schema.
CREATE TABLE authorization_schemas (
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT authorization_schemas_pkey PRIMARY KEY (version),
    CONSTRAINT authorization_schemas_version_check CHECK (version >= 1)
) STRICT;

-- Users: a platform admin is now the relationship `platform:main#admin`, so
-- the flag moves there and its column goes; users signed in with OIDC carry
-- the issuer and subject that identify them. SQLite cannot drop a column
-- that a CHECK constraint names, so the table is rebuilt.
--
-- The rebuild runs with foreign keys on. `defer_foreign_keys` (which lasts
-- until this transaction ends) lets the implicit delete of `DROP TABLE users`
-- count the API keys it orphans instead of failing at once, and re-inserting
-- every user under the same id into the new `users` counts them back: the
-- commit fails if any key is left pointing at a missing user. The copy goes
-- through a temporary table because renaming a table would rewrite the
-- foreign keys of `api_keys` to follow the old table.
INSERT INTO platform_relationships
    (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, expires_at)
SELECT 'platform', 'main', 'admin', 'user', id, '', NULL FROM users WHERE is_platform_admin = 1;

-- The backfilled admins are the platform partition's revision 1. No change
-- was logged for them, so the log starts after it, as if pruned: a reader
-- starts from a snapshot, never from an empty log.
INSERT INTO platform_relationship_revisions (singleton, revision, pruned_through)
SELECT 1, revision, revision
FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM platform_relationships) THEN 1 ELSE 0 END AS revision);

PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE users_before_authorization AS
SELECT id, username, display_name, email, created_at, updated_at FROM users;

DROP TABLE users;

CREATE TABLE users (
    id TEXT NOT NULL,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    oidc_issuer TEXT,
    oidc_subject TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_oidc_identity_key UNIQUE (oidc_issuer, oidc_subject),
    CONSTRAINT users_oidc_identity_check CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL))
) STRICT;

INSERT INTO users (id, username, display_name, email, created_at, updated_at)
SELECT id, username, display_name, email, created_at, updated_at FROM users_before_authorization;

DROP TABLE users_before_authorization;

-- The relationships that the data stored so far describes, as the product
-- writes them (tenantry_core::relationship): every tenant belongs to the
-- platform; every workspace to its tenant and its parent; the root is
-- marked; every key has its owner and tenant. Before this migration any key
-- could act anywhere in its own tenant, so the user of each key that still
-- works (not revoked, not expired) becomes an admin of that tenant, and
-- nobody who could act loses access; holders of dead keys gain nothing.
INSERT INTO relationships
    (tenant_id, resource_type, resource_id, relation, subject_type, subject_id, subject_relation, expires_at)
SELECT id, 'tenant', id, 'platform', 'platform', 'main', '', NULL FROM tenants
UNION ALL
SELECT tenant_id, 'workspace', id, 'tenant', 'tenant', tenant_id, '', NULL FROM workspaces
UNION ALL
SELECT tenant_id, 'workspace', id, 'parent', 'workspace', parent_workspace_id, '', NULL
    FROM workspaces WHERE parent_workspace_id IS NOT NULL
UNION ALL
SELECT tenant_id, 'workspace', workspace_id, 'root_of', 'tenant', tenant_id, '', NULL
    FROM tenant_root_workspaces
UNION ALL
SELECT tenant_id, 'api_key', id, 'owner', 'user', user_id, '', NULL FROM api_keys
UNION ALL
SELECT tenant_id, 'api_key', id, 'tenant', 'tenant', tenant_id, '', NULL FROM api_keys
UNION ALL
SELECT DISTINCT tenant_id, 'tenant', tenant_id, 'admin', 'user', user_id, '', NULL
    FROM api_keys WHERE revoked_at IS NULL AND julianday(expires_at) > julianday('now');

-- Every existing tenant's partition starts at revision 1 (what the backfill
-- wrote); the log starts after it, as if pruned.
INSERT INTO relationship_revisions (tenant_id, revision, pruned_through)
SELECT id, 1, 1 FROM tenants;
