-- Operation runs and their jobs: the durable queue workers claim from.
-- They are the platform's, like its audit log: row-level security is
-- forced and only the platform role (its `platform_scope` policy, made by
-- `migrate`) and the owner reach them; the runtime role has no privilege.
-- A run that acts on one tenant names it in `target_tenant_id`, a record,
-- not an owner: the run is still the platform's. Under Citus both stay
-- local tables on the coordinator (neither distributed nor reference):
-- they are written at every step of every job and never joined with
-- tenant data.
--
-- A job is claimed under a lease (`lease_owner`, `lease_expires_at`) and a
-- fencing token the claim increments; every write a worker makes under
-- its lease checks the token, so a worker whose lease expired and whose
-- job was claimed again cannot commit. A job that ends asking to be tried
-- again later is queued with a later `available_at`.

CREATE TABLE operation_runs (
    id text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    parameters jsonb NOT NULL,
    target_tenant_id text COLLATE "C",
    started_by text COLLATE "C",
    status text COLLATE "C" NOT NULL,
    progress jsonb NOT NULL,
    cursor text,
    throttle_ms integer NOT NULL,
    jobs_total integer NOT NULL,
    jobs_done integer NOT NULL,
    created_at timestamptz NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL,
    error text,
    CONSTRAINT operation_runs_pkey PRIMARY KEY (id),
    CONSTRAINT operation_runs_status_check CHECK (status IN ('enqueued', 'running', 'pausing', 'paused',
        'interrupted', 'cancelling', 'cancelled', 'succeeded', 'errored')),
    CONSTRAINT operation_runs_throttle_check CHECK (throttle_ms BETWEEN 0 AND 60000),
    CONSTRAINT operation_runs_jobs_check CHECK (jobs_done BETWEEN 0 AND jobs_total),
    CONSTRAINT operation_runs_finished_check CHECK ((finished_at IS NOT NULL) =
        (status IN ('cancelled', 'succeeded', 'errored')))
);

CREATE INDEX operation_runs_created_idx ON operation_runs (created_at, id);

CREATE TABLE jobs (
    id text COLLATE "C" NOT NULL,
    run_id text COLLATE "C" NOT NULL,
    position integer NOT NULL,
    kind text COLLATE "C" NOT NULL,
    payload jsonb NOT NULL,
    state text COLLATE "C" NOT NULL,
    checkpoint jsonb NOT NULL,
    attempts integer NOT NULL,
    fencing_token bigint NOT NULL,
    lease_owner text COLLATE "C",
    lease_expires_at timestamptz,
    available_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT jobs_pkey PRIMARY KEY (id),
    CONSTRAINT jobs_run_fkey FOREIGN KEY (run_id) REFERENCES operation_runs (id) ON DELETE CASCADE,
    CONSTRAINT jobs_position_key UNIQUE (run_id, position),
    CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    CONSTRAINT jobs_lease_check CHECK ((state = 'running') = (lease_owner IS NOT NULL)
        AND (lease_owner IS NULL) = (lease_expires_at IS NULL))
);

-- What a claim looks for: queued jobs that are due (a job retried later
-- waits for its `available_at`), and running ones whose lease ran out.
CREATE INDEX jobs_claim_idx ON jobs (state, available_at, lease_expires_at, run_id, position);

ALTER TABLE operation_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE operation_runs FORCE ROW LEVEL SECURITY;
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;

CREATE POLICY owner_maintenance ON operation_runs FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_maintenance ON jobs FOR ALL TO CURRENT_USER USING (true) WITH CHECK (true);
