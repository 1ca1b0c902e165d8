-- Operation runs and their jobs: the durable queue workers claim from.
-- They are the platform's, like its audit log; a run that acts on one
-- tenant names it in `target_tenant_id`, a record, not an owner.
--
-- A job is claimed under a lease (`lease_owner`, `lease_expires_at`) and a
-- fencing token the claim increments; every write a worker makes under
-- its lease checks the token, so a worker whose lease expired and whose
-- job was claimed again cannot commit. A job that ends asking to be tried
-- again later is queued with a later `available_at`. Times are microseconds since the
-- Unix epoch, as in the other tables that lists order by time.

CREATE TABLE operation_runs (
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    parameters TEXT NOT NULL,
    target_tenant_id TEXT,
    started_by TEXT,
    status TEXT NOT NULL,
    progress TEXT NOT NULL,
    cursor TEXT,
    throttle_ms INTEGER NOT NULL,
    jobs_total INTEGER NOT NULL,
    jobs_done INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    updated_at INTEGER NOT NULL,
    error TEXT,
    CONSTRAINT operation_runs_pkey PRIMARY KEY (id),
    CONSTRAINT operation_runs_status_check CHECK (status IN ('enqueued', 'running', 'pausing', 'paused',
        'interrupted', 'cancelling', 'cancelled', 'succeeded', 'errored')),
    CONSTRAINT operation_runs_throttle_check CHECK (throttle_ms BETWEEN 0 AND 60000),
    CONSTRAINT operation_runs_jobs_check CHECK (jobs_done BETWEEN 0 AND jobs_total),
    CONSTRAINT operation_runs_finished_check CHECK ((finished_at IS NOT NULL) =
        (status IN ('cancelled', 'succeeded', 'errored'))),
    CONSTRAINT operation_runs_json_check CHECK (json_valid(parameters) AND json_valid(progress))
) STRICT;

CREATE INDEX operation_runs_created_idx ON operation_runs (created_at, id);

CREATE TABLE jobs (
    id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    fencing_token INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    available_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT jobs_pkey PRIMARY KEY (id),
    CONSTRAINT jobs_run_fkey FOREIGN KEY (run_id) REFERENCES operation_runs (id) ON DELETE CASCADE,
    CONSTRAINT jobs_position_key UNIQUE (run_id, position),
    CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    CONSTRAINT jobs_lease_check CHECK ((state = 'running') = (lease_owner IS NOT NULL)
        AND (lease_owner IS NULL) = (lease_expires_at IS NULL)),
    CONSTRAINT jobs_json_check CHECK (json_valid(payload) AND json_valid(checkpoint))
) STRICT;

-- What a claim looks for: queued jobs that are due (a job retried later
-- waits for its `available_at`), and running ones whose lease ran out.
CREATE INDEX jobs_claim_idx ON jobs (state, available_at, lease_expires_at, run_id, position);
