-- Authorization: groups, relationship partitions with their change logs and
-- revisions, the authorization schema, and OIDC identities on users. Table,
-- column and constraint names match the SQLite backend's.
--
-- Citus readiness: `groups`, `relationships`, `relationship_revisions` and
-- `relationship_changes` are tenant-owned and distributed by `tenant_id`,
-- which leads each of their keys; a tenant's partition is read and written
-- with `tenant_id = $1` on every statement, so one shard answers. The
-- platform partition (`platform_relationships` and its log and revision)
-- and `authorization_schemas` are small global tables: reference tables.
--
-- Ids and names are stored with the "C" collation, so that ordering and
-- keyset pagination compare bytes exactly like SQLite.

-- The backfill below reads the foundation's tables, whose row-level security
-- is forced on their owner too: this transaction reads them in the platform
-- scope, like every other cross-tenant operation. Any role may set a
-- `tenantry.` setting, and sqlx runs each migration in one transaction, so
-- the setting lasts exactly until this migration commits (a test migrates a
-- populated database as an owner without BYPASSRLS).
SET LOCAL tenantry.platform = 'on';

-- Groups: named sets of users inside one tenant. Members and admins are
-- relationships (`group:<id>#member@user:<id>`), not columns.
CREATE TABLE groups (
    tenant_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT groups_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT groups_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT groups_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT
);

CREATE TRIGGER groups_tenant_id_immutable
BEFORE UPDATE ON groups
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

-- A tenant's relationship partition. A plain subject (`user:u`) has an empty
-- `subject_relation`, a subject set (`group:g#member`) names its relation:
-- key columns cannot be NULL. `expires_at` NULL means never.
CREATE TABLE relationships (
    tenant_id text COLLATE "C" NOT NULL,
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    relation text COLLATE "C" NOT NULL,
    subject_type text COLLATE "C" NOT NULL,
    subject_id text COLLATE "C" NOT NULL,
    subject_relation text COLLATE "C" NOT NULL,
    expires_at timestamptz,
    CONSTRAINT relationships_pkey PRIMARY KEY
        (tenant_id, resource_type, resource_id, relation, subject_type, subject_id, subject_relation),
    CONSTRAINT relationships_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT
);

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
BEFORE UPDATE ON relationships
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

-- Each partition's revision: incremented once by every transaction that
-- changes its relationships, under the row lock of that UPDATE, so that
-- revisions commit in order. Changes up to `pruned_through` may have been
-- pruned from the log.
CREATE TABLE relationship_revisions (
    tenant_id text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    pruned_through bigint NOT NULL DEFAULT 0,
    CONSTRAINT relationship_revisions_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT relationship_revisions_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT relationship_revisions_revision_check
        CHECK (revision >= 0 AND pruned_through >= 0 AND pruned_through <= revision)
);

CREATE TRIGGER relationship_revisions_tenant_id_immutable
BEFORE UPDATE ON relationship_revisions
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

-- Each partition's change log: what every revision changed, in order.
CREATE TABLE relationship_changes (
    tenant_id text COLLATE "C" NOT NULL,
    revision bigint NOT NULL,
    ordinal integer NOT NULL,
    operation text NOT NULL,
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    relation text COLLATE "C" NOT NULL,
    subject_type text COLLATE "C" NOT NULL,
    subject_id text COLLATE "C" NOT NULL,
    subject_relation text COLLATE "C" NOT NULL,
    expires_at timestamptz,
    recorded_at timestamptz NOT NULL,
    CONSTRAINT relationship_changes_pkey PRIMARY KEY (tenant_id, revision, ordinal),
    CONSTRAINT relationship_changes_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES relationship_revisions (tenant_id) ON DELETE RESTRICT,
    CONSTRAINT relationship_changes_operation_check CHECK (operation IN ('touch', 'delete'))
);

-- Pruning by age.
CREATE INDEX relationship_changes_recorded_at_idx ON relationship_changes (recorded_at);

CREATE TRIGGER relationship_changes_tenant_id_immutable
BEFORE UPDATE ON relationship_changes
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

-- The platform partition: relationships on `platform:main` (its admins).
CREATE TABLE platform_relationships (
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    relation text COLLATE "C" NOT NULL,
    subject_type text COLLATE "C" NOT NULL,
    subject_id text COLLATE "C" NOT NULL,
    subject_relation text COLLATE "C" NOT NULL,
    expires_at timestamptz,
    CONSTRAINT platform_relationships_pkey PRIMARY KEY
        (resource_type, resource_id, relation, subject_type, subject_id, subject_relation),
    CONSTRAINT platform_relationships_resource_type_check CHECK (resource_type = 'platform')
);

CREATE INDEX platform_relationships_expires_at_idx
    ON platform_relationships (expires_at) WHERE expires_at IS NOT NULL;

-- The platform partition's revision: one row.
CREATE TABLE platform_relationship_revisions (
    singleton integer NOT NULL,
    revision bigint NOT NULL,
    pruned_through bigint NOT NULL DEFAULT 0,
    CONSTRAINT platform_relationship_revisions_pkey PRIMARY KEY (singleton),
    CONSTRAINT platform_relationship_revisions_singleton_check CHECK (singleton = 1),
    CONSTRAINT platform_relationship_revisions_revision_check
        CHECK (revision >= 0 AND pruned_through >= 0 AND pruned_through <= revision)
);

CREATE TABLE platform_relationship_changes (
    revision bigint NOT NULL,
    ordinal integer NOT NULL,
    operation text NOT NULL,
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    relation text COLLATE "C" NOT NULL,
    subject_type text COLLATE "C" NOT NULL,
    subject_id text COLLATE "C" NOT NULL,
    subject_relation text COLLATE "C" NOT NULL,
    expires_at timestamptz,
    recorded_at timestamptz NOT NULL,
    CONSTRAINT platform_relationship_changes_pkey PRIMARY KEY (revision, ordinal),
    CONSTRAINT platform_relationship_changes_operation_check CHECK (operation IN ('touch', 'delete'))
);

CREATE INDEX platform_relationship_changes_recorded_at_idx ON platform_relationship_changes (recorded_at);

-- The deployment's authorization schema, one row per version; the highest
-- is in force. None stored means the built-in default schema.
CREATE TABLE authorization_schemas (
    version bigint NOT NULL,
    text text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT authorization_schemas_pkey PRIMARY KEY (version),
    CONSTRAINT authorization_schemas_version_check CHECK (version >= 1)
);

-- Users: a platform admin is now the relationship `platform:main#admin`, so
-- the flag moves there and its column goes; users signed in with OIDC carry
-- the issuer and subject that identify them.
INSERT INTO platform_relationships
    (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
SELECT 'platform', 'main', 'admin', 'user', id, '' FROM users WHERE is_platform_admin;

-- The platform partition is at revision 1 if the backfill wrote to it, else
-- 0; as for the tenants' partitions below, its log starts after that, as if
-- pruned, so that a reader always starts from a snapshot.
INSERT INTO platform_relationship_revisions (singleton, revision, pruned_through)
SELECT 1, backfilled, backfilled
FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM platform_relationships) THEN 1 ELSE 0 END AS backfilled) AS platform;

ALTER TABLE users DROP COLUMN is_platform_admin;
ALTER TABLE users ADD COLUMN oidc_issuer text;
ALTER TABLE users ADD COLUMN oidc_subject text;
ALTER TABLE users ADD CONSTRAINT users_oidc_identity_key UNIQUE (oidc_issuer, oidc_subject);
ALTER TABLE users ADD CONSTRAINT users_oidc_identity_check
    CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL));

-- The relationships that the data stored so far describes, as the product
-- writes them (tenantry_core::relationship): every tenant belongs to the
-- platform; every workspace to its tenant and its parent; the root is
-- marked; every key has its owner and tenant. Before this migration any key
-- could act anywhere in its own tenant, so the user of each key that still
-- works (not revoked, not expired) becomes an admin of that tenant, and
-- nobody who could act loses access; holders of dead keys gain nothing.
INSERT INTO relationships
    (tenant_id, resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
SELECT id, 'tenant', id, 'platform', 'platform', 'main', '' FROM tenants
UNION ALL
SELECT tenant_id, 'workspace', id, 'tenant', 'tenant', tenant_id, '' FROM workspaces
UNION ALL
SELECT tenant_id, 'workspace', id, 'parent', 'workspace', parent_workspace_id, ''
    FROM workspaces WHERE parent_workspace_id IS NOT NULL
UNION ALL
SELECT tenant_id, 'workspace', workspace_id, 'root_of', 'tenant', tenant_id, ''
    FROM tenant_root_workspaces
UNION ALL
SELECT tenant_id, 'api_key', id, 'owner', 'user', user_id, '' FROM api_keys
UNION ALL
SELECT tenant_id, 'api_key', id, 'tenant', 'tenant', tenant_id, '' FROM api_keys
UNION ALL
SELECT DISTINCT tenant_id, 'tenant', tenant_id, 'admin', 'user', user_id, ''
    FROM api_keys WHERE revoked_at IS NULL AND expires_at > now();

-- Every existing tenant's partition starts at revision 1 (what the backfill
-- wrote); the log starts after it, as if pruned.
INSERT INTO relationship_revisions (tenant_id, revision, pruned_through)
SELECT id, 1, 1 FROM tenants;

-- Row-level security on the tenant-owned tables, exactly as on the
-- foundation's (see 0002_row_level_security.sql).
ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE groups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON groups
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true)
           OR current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true)
                OR current_setting('tenantry.platform', true) = 'on');

ALTER TABLE relationships ENABLE ROW LEVEL SECURITY;
ALTER TABLE relationships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON relationships
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true)
           OR current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true)
                OR current_setting('tenantry.platform', true) = 'on');

ALTER TABLE relationship_revisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE relationship_revisions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON relationship_revisions
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true)
           OR current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true)
                OR current_setting('tenantry.platform', true) = 'on');

ALTER TABLE relationship_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE relationship_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON relationship_changes
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true)
           OR current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true)
                OR current_setting('tenantry.platform', true) = 'on');

-- The platform partition and the schema are global, but not everyone's to
-- write: a statement made in a tenant's scope (through a bug, or an
-- injection) must not be able to make anyone a platform admin. Their rows
-- are read and written only in the platform scope, except that anyone may
-- read the schema in force (it is not secret; `GET /v1/schema` shows it).
ALTER TABLE platform_relationships ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_relationships FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON platform_relationships
    FOR ALL
    USING (current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (current_setting('tenantry.platform', true) = 'on');

ALTER TABLE platform_relationship_revisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_relationship_revisions FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON platform_relationship_revisions
    FOR ALL
    USING (current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (current_setting('tenantry.platform', true) = 'on');

ALTER TABLE platform_relationship_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_relationship_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON platform_relationship_changes
    FOR ALL
    USING (current_setting('tenantry.platform', true) = 'on')
    WITH CHECK (current_setting('tenantry.platform', true) = 'on');

ALTER TABLE authorization_schemas ENABLE ROW LEVEL SECURITY;
ALTER TABLE authorization_schemas FORCE ROW LEVEL SECURITY;
CREATE POLICY anyone_reads ON authorization_schemas
    FOR SELECT
    USING (true);
CREATE POLICY platform_writes ON authorization_schemas
    FOR INSERT
    WITH CHECK (current_setting('tenantry.platform', true) = 'on');
