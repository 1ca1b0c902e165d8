-- The audit events' filter indexes go: the list query
-- (`SELECT ... WHERE tenant_id = ?1 AND seq < ?2 AND (?3 IS NULL OR action = ?3)
-- AND ... ORDER BY seq DESC LIMIT n`, one prepared statement for every
-- combination of filters) is planned once, without knowing which filters
-- are set, and SQLite's planner then walks the primary key newest first and
-- tests each filter on the rows it meets: `EXPLAIN QUERY PLAN` shows
-- `SEARCH audit_events USING INDEX sqlite_autoindex_audit_events_1
-- (tenant_id=? AND seq<?)` whatever is bound. So no read used them, and each
-- cost every append one more b-tree page to change and to write to the WAL
-- at commit: four of the ten pages a tenant's append dirtied.
DROP INDEX audit_events_action_idx;
DROP INDEX audit_events_resource_idx;
DROP INDEX audit_events_workspace_idx;
DROP INDEX audit_events_actor_idx;
DROP INDEX platform_audit_events_action_idx;
DROP INDEX platform_audit_events_resource_idx;
