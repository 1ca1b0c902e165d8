-- Webhook subscriptions and their delivery log: tenant-owned like every
-- other table, `tenant_id` leading every key and foreign key, immutable,
-- and row-level security confining the runtime role to the tenant its
-- transaction names. (0012 is the job queue's, made on another branch.)
--
-- A subscription keeps its signing secret in the clear: it must sign every
-- message with it, so a hash would not do. Row-level security keeps it to
-- its tenant; the server reads it to sign only, and never returns it after
-- the response that created it. `delivered_through` is the seq of the
-- tenant's audit log the subscription has been delivered up to.
--
-- A delivery row is one attempt, kept with its subscription (a composite
-- foreign key on `(tenant_id, webhook_id)`, so an attempt cannot name
-- another tenant's subscription) and deleted with it.

CREATE TABLE webhooks (
    tenant_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    url text NOT NULL,
    event_types jsonb NOT NULL,
    description text,
    secret text NOT NULL,
    created_by text COLLATE "C",
    created_at timestamptz NOT NULL,
    delivered_through bigint NOT NULL,
    CONSTRAINT webhooks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhooks_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT webhooks_event_types_check CHECK (jsonb_typeof(event_types) = 'array'
        AND jsonb_array_length(event_types) BETWEEN 1 AND 50),
    CONSTRAINT webhooks_secret_check CHECK (left(secret, 6) = 'whsec_'),
    CONSTRAINT webhooks_delivered_through_check CHECK (delivered_through >= 0)
);

CREATE TABLE webhook_deliveries (
    tenant_id text COLLATE "C" NOT NULL,
    webhook_id text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    message_id text NOT NULL,
    event_seq bigint,
    action text NOT NULL,
    attempt integer NOT NULL,
    attempted_at timestamptz NOT NULL,
    status integer,
    error text,
    duration_micros bigint NOT NULL,
    next_attempt_at timestamptz,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (tenant_id, webhook_id, id),
    CONSTRAINT webhook_deliveries_webhook_fkey
        FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_attempt_check CHECK (attempt >= 1),
    CONSTRAINT webhook_deliveries_status_check CHECK (status IS NULL OR status BETWEEN 100 AND 599),
    CONSTRAINT webhook_deliveries_event_seq_check CHECK (event_seq IS NULL OR event_seq >= 1),
    CONSTRAINT webhook_deliveries_duration_check CHECK (duration_micros >= 0)
);

CREATE TRIGGER webhooks_tenant_id_immutable
BEFORE UPDATE ON webhooks
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();
CREATE TRIGGER webhook_deliveries_tenant_id_immutable
BEFORE UPDATE ON webhook_deliveries
FOR EACH ROW EXECUTE FUNCTION tenantry_forbid_tenant_id_change();

ALTER TABLE webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhooks FORCE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON webhooks
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));
CREATE POLICY tenant_isolation ON webhook_deliveries
    FOR ALL
    USING (tenant_id = current_setting('tenantry.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('tenantry.tenant_id', true));

CREATE POLICY owner_maintenance ON webhooks FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON webhook_deliveries FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
