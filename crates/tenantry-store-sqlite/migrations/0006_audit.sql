-- The audit log: one append-only log per tenant and one for the platform,
-- each an RFC 9162 Merkle tree over its events' canonical bytes. Table,
-- column and constraint names match the PostgreSQL backend's, where the
-- migration explains each table. `occurred_at` is compared in SQL, so it is
-- stored in microseconds since the Unix epoch.
--
-- Append-only: the triggers below refuse UPDATE and DELETE on the events,
-- nodes and checkpoints. The one way a tenant's rows leave is the deletion
-- of the tenant itself (`ON DELETE CASCADE` from `tenants` through
-- `audit_logs`), which the triggers recognise because the tenant's row is
-- gone by then; the platform's log is never deleted.

CREATE TABLE audit_logs (
    tenant_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    frontier BLOB NOT NULL,
    CONSTRAINT audit_logs_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT audit_logs_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT audit_logs_size_check CHECK (size >= 0)
) STRICT;

CREATE TABLE audit_events (
    tenant_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    workspace_id TEXT,
    actor_type TEXT NOT NULL,
    actor_user_id TEXT,
    actor_api_key_id TEXT,
    request_id TEXT,
    body TEXT NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (tenant_id, seq),
    CONSTRAINT audit_events_log_fkey
        FOREIGN KEY (tenant_id) REFERENCES audit_logs (tenant_id) ON DELETE CASCADE,
    CONSTRAINT audit_events_seq_check CHECK (seq >= 1)
) STRICT;

CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_resource_idx ON audit_events (tenant_id, resource_type, resource_id, seq);
CREATE INDEX audit_events_workspace_idx ON audit_events (tenant_id, workspace_id, seq)
    WHERE workspace_id IS NOT NULL;
CREATE INDEX audit_events_actor_idx ON audit_events (tenant_id, actor_user_id, seq)
    WHERE actor_user_id IS NOT NULL;

CREATE TABLE audit_nodes (
    tenant_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    CONSTRAINT audit_nodes_pkey PRIMARY KEY (tenant_id, level, idx),
    CONSTRAINT audit_nodes_log_fkey
        FOREIGN KEY (tenant_id) REFERENCES audit_logs (tenant_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE audit_checkpoints (
    tenant_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    note TEXT NOT NULL,
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (tenant_id, size),
    CONSTRAINT audit_checkpoints_log_fkey
        FOREIGN KEY (tenant_id) REFERENCES audit_logs (tenant_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE platform_audit_log (
    id INTEGER NOT NULL DEFAULT 1,
    size INTEGER NOT NULL,
    frontier BLOB NOT NULL,
    CONSTRAINT platform_audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT platform_audit_log_one_row CHECK (id = 1),
    CONSTRAINT platform_audit_log_size_check CHECK (size >= 0)
) STRICT;
INSERT INTO platform_audit_log (id, size, frontier) VALUES (1, 0, X'');

CREATE TABLE platform_audit_events (
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    workspace_id TEXT,
    actor_type TEXT NOT NULL,
    actor_user_id TEXT,
    actor_api_key_id TEXT,
    request_id TEXT,
    body TEXT NOT NULL,
    CONSTRAINT platform_audit_events_pkey PRIMARY KEY (seq),
    CONSTRAINT platform_audit_events_seq_check CHECK (seq >= 1)
) STRICT;
CREATE INDEX platform_audit_events_action_idx ON platform_audit_events (action, seq);
CREATE INDEX platform_audit_events_resource_idx ON platform_audit_events (resource_type, resource_id, seq);

CREATE TABLE platform_audit_nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    CONSTRAINT platform_audit_nodes_pkey PRIMARY KEY (level, idx)
) STRICT;

CREATE TABLE platform_audit_checkpoints (
    size INTEGER NOT NULL,
    note TEXT NOT NULL,
    CONSTRAINT platform_audit_checkpoints_pkey PRIMARY KEY (size)
) STRICT;

INSERT INTO audit_logs (tenant_id, size, frontier) SELECT id, 0, X'' FROM tenants;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE is refused'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE is refused'); END;

CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only: UPDATE is refused'); END;
CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes
WHEN EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only: DELETE is refused'); END;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: UPDATE is refused'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
WHEN EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: DELETE is refused'); END;

CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
WHEN EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE is refused'); END;
CREATE TRIGGER audit_logs_tenant_id_immutable BEFORE UPDATE OF tenant_id ON audit_logs
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN SELECT RAISE(ABORT, 'audit_logs.tenant_id is immutable'); END;

CREATE TRIGGER platform_audit_events_no_update BEFORE UPDATE ON platform_audit_events
BEGIN SELECT RAISE(ABORT, 'platform_audit_events is append-only: UPDATE is refused'); END;
CREATE TRIGGER platform_audit_events_no_delete BEFORE DELETE ON platform_audit_events
BEGIN SELECT RAISE(ABORT, 'platform_audit_events is append-only: DELETE is refused'); END;
CREATE TRIGGER platform_audit_nodes_no_update BEFORE UPDATE ON platform_audit_nodes
BEGIN SELECT RAISE(ABORT, 'platform_audit_nodes is append-only: UPDATE is refused'); END;
CREATE TRIGGER platform_audit_nodes_no_delete BEFORE DELETE ON platform_audit_nodes
BEGIN SELECT RAISE(ABORT, 'platform_audit_nodes is append-only: DELETE is refused'); END;
CREATE TRIGGER platform_audit_checkpoints_no_update BEFORE UPDATE ON platform_audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'platform_audit_checkpoints is append-only: UPDATE is refused'); END;
CREATE TRIGGER platform_audit_checkpoints_no_delete BEFORE DELETE ON platform_audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'platform_audit_checkpoints is append-only: DELETE is refused'); END;
CREATE TRIGGER platform_audit_log_no_delete BEFORE DELETE ON platform_audit_log
BEGIN SELECT RAISE(ABORT, 'platform_audit_log is append-only: DELETE is refused'); END;
