-- Webhook subscriptions and their delivery log: tenant-owned like every
-- other table, `tenant_id` leading every key and foreign key and
-- immutable. (0011 is the job queue's, made on another branch.)
--
-- A subscription keeps its signing secret in the clear: it must sign every
-- message with it, so a hash would not do. It is read by the delivering
-- code only, and never returned after the response that created it.
-- `delivered_through` is the seq of the tenant's audit log the
-- subscription has been delivered up to.
--
-- A delivery row is one attempt, kept with its subscription (a composite
-- foreign key on `(tenant_id, webhook_id)`, so an attempt cannot name
-- another tenant's subscription) and deleted with it.

CREATE TABLE webhooks (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    description TEXT,
    secret TEXT NOT NULL,
    created_by TEXT,
    created_at TEXT NOT NULL,
    delivered_through INTEGER NOT NULL,
    CONSTRAINT webhooks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhooks_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT webhooks_event_types_check CHECK (json_valid(event_types)
        AND json_type(event_types) = 'array' AND json_array_length(event_types) BETWEEN 1 AND 50),
    CONSTRAINT webhooks_secret_check CHECK (substr(secret, 1, 6) = 'whsec_'),
    CONSTRAINT webhooks_delivered_through_check CHECK (delivered_through >= 0)
) STRICT;

CREATE TABLE webhook_deliveries (
    tenant_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    event_seq INTEGER,
    action TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    attempted_at TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    duration_micros INTEGER NOT NULL,
    next_attempt_at TEXT,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (tenant_id, webhook_id, id),
    CONSTRAINT webhook_deliveries_webhook_fkey
        FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_attempt_check CHECK (attempt >= 1),
    CONSTRAINT webhook_deliveries_status_check CHECK (status IS NULL OR status BETWEEN 100 AND 599),
    CONSTRAINT webhook_deliveries_event_seq_check CHECK (event_seq IS NULL OR event_seq >= 1),
    CONSTRAINT webhook_deliveries_duration_check CHECK (duration_micros >= 0)
) STRICT;

CREATE TRIGGER webhooks_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON webhooks
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'webhooks.tenant_id is immutable');
END;

CREATE TRIGGER webhook_deliveries_tenant_id_immutable
BEFORE UPDATE OF tenant_id ON webhook_deliveries
WHEN NEW.tenant_id IS NOT OLD.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'webhook_deliveries.tenant_id is immutable');
END;
