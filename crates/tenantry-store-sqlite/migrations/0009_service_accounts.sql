-- Service accounts: users of kind `service` that belong to one tenant.
-- Table, column and constraint names match the PostgreSQL backend's, where
-- the migration explains each.
--
-- `users` says what each user is. A service user names the tenant it
-- belongs to, and can never have an OIDC identity, so no sign-in can reach
-- it, whatever SQL writes the row. SQLite tests the new CHECKs against the
-- rows already stored (every one a person) when the columns are added.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person'
    CONSTRAINT users_kind_check CHECK (kind IN ('person', 'service'));
ALTER TABLE users ADD COLUMN service_tenant_id TEXT
    CONSTRAINT users_service_tenant_check CHECK ((kind = 'service') = (service_tenant_id IS NOT NULL))
    CONSTRAINT users_service_no_oidc_check CHECK (kind = 'person' OR oidc_issuer IS NULL);

-- A tenant's service accounts: the row that makes a service user one of
-- the tenant's, by name. Deleting the account deletes the row and keeps the
-- user, which its revoked keys and the audit log name.
CREATE TABLE service_accounts (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_by TEXT,
    created_at TEXT NOT NULL,
    CONSTRAINT service_accounts_pkey PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT service_accounts_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT service_accounts_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT service_accounts_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT
) STRICT;

-- The users.id foreign key's RESTRICT lookup would otherwise scan the table.
CREATE INDEX service_accounts_user_id_idx ON service_accounts (user_id);

CREATE TRIGGER service_accounts_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON service_accounts
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'service_accounts.tenant_id is immutable');
END;
