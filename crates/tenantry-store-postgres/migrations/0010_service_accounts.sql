-- Service accounts: users of kind `service` that belong to one tenant.
--
-- `users` says what each user is: `kind` is `person` or `service`, and a
-- service user names the tenant it belongs to in `service_tenant_id`. That
-- column has no foreign key: `users` is a global table (a reference table
-- under Citus), which may not reference a distributed one. A service user
-- can never have an OIDC identity (`users_service_no_oidc_check`), so no
-- sign-in can reach it, whatever SQL writes the row.
ALTER TABLE users
    ADD COLUMN kind text COLLATE "C" NOT NULL DEFAULT 'person',
    ADD COLUMN service_tenant_id text COLLATE "C",
    ADD CONSTRAINT users_kind_check CHECK (kind IN ('person', 'service')),
    ADD CONSTRAINT users_service_tenant_check CHECK ((kind = 'service') = (service_tenant_id IS NOT NULL)),
    ADD CONSTRAINT users_service_no_oidc_check CHECK (kind = 'person' OR oidc_issuer IS NULL);

-- A tenant's service accounts: tenant-owned like every other table
-- (`tenant_id` leads every key, is immutable, and row-level security
-- confines the runtime role to the tenant its transaction names). The row
-- is what makes a service user one of the tenant's: deleting the account
-- deletes it and keeps the user, which its revoked keys and the audit log
-- name.
CREATE TABLE service_accounts (
    tenant_id text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    name text NOT NULL,
    created_by text COLLATE "C",
    created_at timestamptz NOT NULL,
    CONSTRAINT service_accounts_pkey PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT service_accounts_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT service_accounts_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT service_accounts_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT
);

-- The users.id foreign key's RESTRICT lookup would otherwise scan the table.
CREATE INDEX service_accounts_user_id_idx ON service_accounts (user_id);

CREATE TRIGGER service_accounts_tenant_id_immutable
BEFORE UPDATE ON service_accounts
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

ALTER TABLE service_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE service_accounts FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON service_accounts
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

CREATE POLICY owner_maintenance ON service_accounts FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
