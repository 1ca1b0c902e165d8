-- The credentials revision: the last revision of a tenant's relationship
-- partition that changed one of the tenant's credentials (revoked one of its
-- API keys, changed its status). Every process caches API key credentials
-- with the revision they were read at and reads them again only when this
-- column has moved past it, so a write that changes only relationships (a
-- workspace created, a member added) no longer makes the next request of
-- every key of the tenant read its credentials again. Column and constraint
-- names match the PostgreSQL backend's.
--
-- Existing rows start at their current revision: credentials cached before
-- the upgrade are read again once.
ALTER TABLE relationship_revisions
    ADD COLUMN credentials_revision INTEGER NOT NULL DEFAULT 0
        CONSTRAINT relationship_revisions_credentials_revision_check
            CHECK (credentials_revision >= 0 AND credentials_revision <= revision);

UPDATE relationship_revisions SET credentials_revision = revision;
