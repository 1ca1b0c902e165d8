-- An audit append as one statement: `INSERT INTO audit_appends` (or
-- `platform_audit_appends`) with the head the writer expects, the new head,
-- the events as a JSON array of rows, the subtrees' positions as a JSON
-- array of `[level, idx]` and their hashes concatenated (32 bytes each, in
-- the same order). The trigger refuses the append, writing nothing, when the
-- stored head is not the expected one (another process appended, or the
-- tenant does not exist); otherwise it moves the head and inserts the events
-- and subtrees. One prepared statement instead of three: a change's
-- evidence costs one round trip to SQLite's worker thread.
--
-- The views hold no rows and give no way around the append-only triggers of
-- 0006: they only insert.

CREATE VIEW audit_appends (
    tenant_id, expected_size, expected_frontier, size, frontier, events, nodes, node_hashes
) AS SELECT tenant_id, size, frontier, size, frontier, NULL, NULL, NULL FROM audit_logs WHERE 0;

CREATE TRIGGER audit_appends_insert INSTEAD OF INSERT ON audit_appends
BEGIN
    SELECT RAISE(ABORT, 'tenantry: the audit log head moved')
    WHERE NOT EXISTS (
        SELECT 1 FROM audit_logs
        WHERE tenant_id = NEW.tenant_id AND size = NEW.expected_size AND frontier = NEW.expected_frontier
    );
    UPDATE audit_logs SET size = NEW.size, frontier = NEW.frontier WHERE tenant_id = NEW.tenant_id;
    INSERT INTO audit_events (
        tenant_id, seq, id, occurred_at, action, resource_type, resource_id, workspace_id,
        actor_type, actor_user_id, actor_api_key_id, request_id, body
    )
    SELECT NEW.tenant_id, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4,
        e.value ->> 5, e.value ->> 6, e.value ->> 7, e.value ->> 8, e.value ->> 9, e.value ->> 10,
        e.value ->> 11
    FROM json_each(NEW.events) AS e;
    INSERT INTO audit_nodes (tenant_id, level, idx, hash)
    SELECT NEW.tenant_id, n.value ->> 0, n.value ->> 1, substr(NEW.node_hashes, n.key * 32 + 1, 32)
    FROM json_each(NEW.nodes) AS n;
END;

CREATE VIEW platform_audit_appends (
    expected_size, expected_frontier, size, frontier, events, nodes, node_hashes
) AS SELECT size, frontier, size, frontier, NULL, NULL, NULL FROM platform_audit_log WHERE 0;

CREATE TRIGGER platform_audit_appends_insert INSTEAD OF INSERT ON platform_audit_appends
BEGIN
    SELECT RAISE(ABORT, 'tenantry: the audit log head moved')
    WHERE NOT EXISTS (
        SELECT 1 FROM platform_audit_log
        WHERE id = 1 AND size = NEW.expected_size AND frontier = NEW.expected_frontier
    );
    UPDATE platform_audit_log SET size = NEW.size, frontier = NEW.frontier WHERE id = 1;
    INSERT INTO platform_audit_events (
        seq, id, occurred_at, action, resource_type, resource_id, workspace_id,
        actor_type, actor_user_id, actor_api_key_id, request_id, body
    )
    SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4,
        e.value ->> 5, e.value ->> 6, e.value ->> 7, e.value ->> 8, e.value ->> 9, e.value ->> 10,
        e.value ->> 11
    FROM json_each(NEW.events) AS e;
    INSERT INTO platform_audit_nodes (level, idx, hash)
    SELECT n.value ->> 0, n.value ->> 1, substr(NEW.node_hashes, n.key * 32 + 1, 32)
    FROM json_each(NEW.nodes) AS n;
END;
