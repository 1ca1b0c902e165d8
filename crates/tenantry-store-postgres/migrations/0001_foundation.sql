-- The foundation schema: tenants, their workspace trees, users, API keys and
-- deployment-wide settings. Table, column and constraint names match the
-- SQLite backend's, so both are described by one set of words, and the
-- store maps errors by these constraint names.
--
-- Citus readiness (see CITUS.md): every tenant-owned table carries
-- `tenant_id NOT NULL`, and each of its primary keys, unique constraints and
-- foreign keys to another tenant-owned table includes `tenant_id`, so the
-- tables can be distributed by `tenant_id` and co-located. `tenants`,
-- `users` and `deployment_settings` are small global tables, reference
-- tables under Citus; foreign keys to them need no `tenant_id`.
--
-- Ids are stored in their full text form (`ws_01H...`) with the "C"
-- collation, so that `ORDER BY id` and the `id > $cursor` of pagination
-- compare bytes, exactly like SQLite, whatever the database's collation.
-- Row-level security comes in the next migration.

-- Tenants: a reference table, not owned by any tenant.
CREATE TABLE tenants (
    id text COLLATE "C" NOT NULL,
    name text NOT NULL,
    display_name text NOT NULL,
    status text NOT NULL,
    deployment_model text NOT NULL,
    data_residency text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_name_key UNIQUE (name),
    CONSTRAINT tenants_status_check
        CHECK (status IN ('active', 'suspended', 'disabled', 'archived')),
    CONSTRAINT tenants_deployment_model_check
        CHECK (deployment_model IN ('hosted_saas', 'self_hosted_enterprise', 'hybrid')),
    CONSTRAINT tenants_data_residency_check
        CHECK (data_residency IN ('global', 'us', 'eu', 'uk', 'in', 'apac', 'customer_managed'))
);

-- Workspaces form one tree per tenant. The composite keys keep a parent in
-- its child's tenant; RESTRICT makes the database itself refuse to delete a
-- workspace that still has children.
CREATE TABLE workspaces (
    tenant_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    name text NOT NULL,
    parent_workspace_id text COLLATE "C",
    is_root boolean NOT NULL,
    status text NOT NULL,
    environment text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT workspaces_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT workspaces_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT workspaces_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT workspaces_parent_fkey
        FOREIGN KEY (tenant_id, parent_workspace_id) REFERENCES workspaces (tenant_id, id)
        ON DELETE RESTRICT,
    CONSTRAINT workspaces_root_has_no_parent_check
        CHECK (is_root = (parent_workspace_id IS NULL)),
    CONSTRAINT workspaces_status_check
        CHECK (status IN ('active', 'paused', 'disabled', 'archived'))
);

-- Exactly one root per tenant, enforced by the database and not only by code.
CREATE UNIQUE INDEX workspaces_one_root_per_tenant ON workspaces (tenant_id) WHERE is_root;

-- Finding a workspace's children: the "has children" check, the foreign key's
-- RESTRICT lookup on delete, and the recursive walks down a tree.
CREATE INDEX workspaces_tenant_id_parent_workspace_id_idx
    ON workspaces (tenant_id, parent_workspace_id);

-- Pins each tenant's root workspace, so that deleting the root is refused by
-- the database (RESTRICT) without a trigger. Deleting a tenant deletes this
-- row just before the root.
CREATE TABLE tenant_root_workspaces (
    tenant_id text COLLATE "C" NOT NULL,
    workspace_id text COLLATE "C" NOT NULL,
    CONSTRAINT tenant_root_workspaces_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_root_workspaces_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT tenant_root_workspaces_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id)
        ON DELETE RESTRICT
);

-- Users are global to the deployment: a reference table under Citus.
CREATE TABLE users (
    id text COLLATE "C" NOT NULL,
    username text NOT NULL,
    display_name text NOT NULL,
    email text,
    is_platform_admin boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_key UNIQUE (username)
);

-- API keys belong to one tenant and one user. Only a keyed hash of the
-- secret is stored.
CREATE TABLE api_keys (
    tenant_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    name text NOT NULL,
    secret_hash bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_keys_tenant_id_user_id_name_key UNIQUE (tenant_id, user_id, name),
    CONSTRAINT api_keys_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT api_keys_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT
);

-- The users.id foreign key's RESTRICT lookup would otherwise scan every key.
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

-- Deployment-wide settings, such as the API key pepper: a reference table.
CREATE TABLE deployment_settings (
    name text NOT NULL,
    value bytea NOT NULL,
    CONSTRAINT deployment_settings_pkey PRIMARY KEY (name)
);

-- A row never changes tenant: moving one would carry it, and everything that
-- points at it, out of the tenant that owns it, and under Citus onto another
-- shard. The errcode is `integrity_constraint_violation` and the error names
-- a constraint, `<table>_tenant_id_immutable`, so clients can tell it apart.
CREATE FUNCTION tenantry_forbid_tenant_id_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION '%.tenant_id is immutable: a row cannot move from tenant % to tenant %',
                TG_TABLE_NAME, OLD.tenant_id, NEW.tenant_id
            USING ERRCODE = 'integrity_constraint_violation',
                  CONSTRAINT = TG_TABLE_NAME || '_tenant_id_immutable',
                  TABLE = TG_TABLE_NAME,
                  COLUMN = 'tenant_id',
                  HINT = 'Create a new row in the other tenant instead.';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER workspaces_tenant_id_immutable
BEFORE UPDATE ON workspaces
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

CREATE TRIGGER tenant_root_workspaces_tenant_id_immutable
BEFORE UPDATE ON tenant_root_workspaces
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

CREATE TRIGGER api_keys_tenant_id_immutable
BEFORE UPDATE ON api_keys
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

-- The same rule for the tenant's own id, which every tenant-owned row
-- references.
CREATE FUNCTION tenantry_forbid_tenants_id_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'tenants.id is immutable: tenant % cannot be renumbered to %',
                OLD.id, NEW.id
            USING ERRCODE = 'integrity_constraint_violation',
                  CONSTRAINT = 'tenants_id_immutable',
                  TABLE = 'tenants',
                  COLUMN = 'id',
                  HINT = 'Tenant ids never change; rename the tenant instead.';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER tenants_id_immutable
BEFORE UPDATE ON tenants
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenants_id_change();
