-- The foundation schema: tenants, their workspace trees, users, API keys and
-- deployment-wide settings. Table, column and constraint names match the
-- PostgreSQL backend's, so both are described by one set of words.
--
-- Every table is STRICT, so a value of the wrong type is refused instead of
-- being stored as whatever SQLite would otherwise make of it. Ids are stored
-- in their full text form (`ws_01H...`); timestamps as the RFC 3339 text that
-- sqlx encodes `DateTime<Utc>` as; booleans as 0 or 1.
--
-- SQLite has no row-level security. Isolation on this backend comes from the
-- store code, where every statement on a tenant-owned table carries a
-- `tenant_id = ?` predicate bound from the caller's tenant scope, and from
-- the keys below, which all lead with `tenant_id` so that a row can never
-- point at another tenant's row.

-- Tenants are a reference table: not owned by any tenant.
CREATE TABLE tenants (
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    status TEXT NOT NULL,
    deployment_model TEXT NOT NULL,
    data_residency TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_name_key UNIQUE (name),
    CONSTRAINT tenants_status_check
        CHECK (status IN ('active', 'suspended', 'disabled', 'archived')),
    CONSTRAINT tenants_deployment_model_check
        CHECK (deployment_model IN ('hosted_saas', 'self_hosted_enterprise', 'hybrid')),
    CONSTRAINT tenants_data_residency_check
        CHECK (data_residency IN ('global', 'us', 'eu', 'uk', 'in', 'apac', 'customer_managed'))
) STRICT;

CREATE TRIGGER tenants_id_immutable
BEFORE UPDATE OF id ON tenants
WHEN NEW.id IS NOT OLD.id
BEGIN
    SELECT RAISE(ABORT, 'tenants.id is immutable');
END;

-- Workspaces form one tree per tenant. The composite keys keep a parent in
-- its child's tenant; RESTRICT makes the database itself refuse to delete a
-- workspace that still has children.
CREATE TABLE workspaces (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_workspace_id TEXT,
    is_root INTEGER NOT NULL,
    status TEXT NOT NULL,
    environment TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT workspaces_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT workspaces_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT workspaces_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT workspaces_parent_fkey
        FOREIGN KEY (tenant_id, parent_workspace_id) REFERENCES workspaces (tenant_id, id)
        ON DELETE RESTRICT,
    CONSTRAINT workspaces_is_root_check CHECK (is_root IN (0, 1)),
    CONSTRAINT workspaces_root_has_no_parent_check
        CHECK ((is_root = 1) = (parent_workspace_id IS NULL)),
    CONSTRAINT workspaces_status_check
        CHECK (status IN ('active', 'paused', 'disabled', 'archived'))
) STRICT;

-- Exactly one root per tenant, enforced by the database and not only by code.
CREATE UNIQUE INDEX workspaces_one_root_per_tenant ON workspaces (tenant_id) WHERE is_root;

-- Finding a workspace's children: the "has children" check, the foreign key's
-- RESTRICT lookup on delete, and the recursive walks down a tree.
CREATE INDEX workspaces_tenant_id_parent_workspace_id_idx
    ON workspaces (tenant_id, parent_workspace_id);

CREATE TRIGGER workspaces_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON workspaces
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'workspaces.tenant_id is immutable');
END;

-- Pins each tenant's root workspace, so that deleting the root is refused by
-- the database (RESTRICT) without a trigger. Deleting a tenant deletes this
-- row just before the root.
CREATE TABLE tenant_root_workspaces (
    tenant_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    CONSTRAINT tenant_root_workspaces_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_root_workspaces_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT tenant_root_workspaces_workspace_fkey
        FOREIGN KEY (tenant_id, workspace_id) REFERENCES workspaces (tenant_id, id)
        ON DELETE RESTRICT
) STRICT;

CREATE TRIGGER tenant_root_workspaces_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON tenant_root_workspaces
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'tenant_root_workspaces.tenant_id is immutable');
END;

-- Users are global to the deployment.
CREATE TABLE users (
    id TEXT NOT NULL,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT,
    is_platform_admin INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_is_platform_admin_check CHECK (is_platform_admin IN (0, 1))
) STRICT;

-- API keys belong to one tenant and one user. Only a keyed hash of the
-- secret is stored.
CREATE TABLE api_keys (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT,
    CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_keys_tenant_id_user_id_name_key UNIQUE (tenant_id, user_id, name),
    CONSTRAINT api_keys_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT api_keys_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT
) STRICT;

-- The users.id foreign key's RESTRICT lookup would otherwise scan every key.
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TRIGGER api_keys_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON api_keys
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'api_keys.tenant_id is immutable');
END;

-- Deployment-wide settings, such as the API key pepper.
CREATE TABLE deployment_settings (
    name TEXT NOT NULL,
    value BLOB NOT NULL,
    CONSTRAINT deployment_settings_pkey PRIMARY KEY (name)
) STRICT;
