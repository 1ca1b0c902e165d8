-- The credentials revision: the last revision of a tenant's relationship
-- partition that changed one of the tenant's credentials (revoked one of its
-- API keys, changed its status). Every process caches API key credentials
-- with the revision they were read at and reads them again only when this
-- column has moved past it, so a write that changes only relationships (a
-- workspace created, a member added) no longer makes the next request of
-- every key of the tenant read its credentials again. Column and constraint
-- names match the SQLite backend's.
--
-- Existing rows start at their current revision: credentials cached before
-- the upgrade are read again once.
--
-- Citus readiness: a column of the distributed `relationship_revisions`;
-- every statement that writes it names `tenant_id`.
ALTER TABLE relationship_revisions
    ADD COLUMN credentials_revision bigint NOT NULL DEFAULT 0;

UPDATE relationship_revisions SET credentials_revision = revision;

ALTER TABLE relationship_revisions
    ADD CONSTRAINT relationship_revisions_credentials_revision_check
        CHECK (credentials_revision >= 0 AND credentials_revision <= revision);
