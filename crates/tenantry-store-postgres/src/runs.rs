//! Operation runs and their jobs on PostgreSQL: the durable queue, as the
//! platform role. A claim takes the next claimable job with `FOR UPDATE
//! SKIP LOCKED`, so any number of workers (in any number of processes)
//! claim side by side and never the same job. Every write under a lease
//! updates the job's row only where its fencing token is still the
//! lease's, first in its transaction; no row updated means the lease was
//! lost, and nothing is written. The rules (which status follows which)
//! are core's (`tenantry_core::operation_run`).

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use tenantry_core::decision::NewestFirstCursor;
use tenantry_core::operation_run::{
    Claimed, Job, JobEnd, JobEnding, JobState, Lease, NewRun, OperationRun, RunRequest, RunStatus, Step,
    UnitProgress, WorkName, after_job_end, after_request, lease_lost,
};
use tenantry_core::{
    ConflictCode, Error, JobId, Page, PageRequest, PlatformScope, Result, RunId, RunStore, TenantId,
    Timestamp, audit,
};

use crate::PostgresStore;
use crate::audit::{Write, WriteScope};
use crate::error::{DatabaseResultExt, Operation, internal};
use crate::rows::{column, corrupt, parsed, parsed_optional};
use crate::store::{TransactionScope, commit};

const RUN_COLUMNS: &str = "id, kind, parameters::text AS parameters, target_tenant_id, started_by, status, \
     progress::text AS progress, cursor, throttle_ms, jobs_total, jobs_done, created_at, started_at, \
     finished_at, updated_at, error";

const JOB_COLUMNS: &str = "id, run_id, kind, payload::text AS payload, state, checkpoint::text AS checkpoint, \
     attempts, fencing_token";

fn json_column(row: &PgRow, name: &str, operation: Operation) -> Result<serde_json::Value> {
    let text: String = column(row, name, operation)?;
    serde_json::from_str(&text).map_err(|error| corrupt(operation, name, &text, error))
}

fn count(row: &PgRow, name: &str, operation: Operation) -> Result<u32> {
    let value: i32 = column(row, name, operation)?;
    u32::try_from(value).map_err(|error| corrupt(operation, name, &value.to_string(), error))
}

fn run_row(row: &PgRow, operation: Operation) -> Result<OperationRun> {
    let progress: Vec<UnitProgress> = serde_json::from_value(json_column(row, "progress", operation)?)
        .map_err(|error| corrupt(operation, "progress", "", error))?;
    Ok(OperationRun {
        id: parsed(row, "id", operation, RunId::parse)?,
        kind: parsed(row, "kind", operation, WorkName::parse)?,
        parameters: json_column(row, "parameters", operation)?,
        target_tenant_id: parsed_optional(row, "target_tenant_id", operation, TenantId::parse)?,
        started_by: column(row, "started_by", operation)?,
        status: parsed(row, "status", operation, RunStatus::parse)?,
        progress,
        cursor: column(row, "cursor", operation)?,
        throttle_ms: count(row, "throttle_ms", operation)?,
        jobs_total: count(row, "jobs_total", operation)?,
        jobs_done: count(row, "jobs_done", operation)?,
        created_at: column(row, "created_at", operation)?,
        started_at: column(row, "started_at", operation)?,
        finished_at: column(row, "finished_at", operation)?,
        updated_at: column(row, "updated_at", operation)?,
        error: column(row, "error", operation)?,
    })
}

fn job_row(row: &PgRow, operation: Operation) -> Result<Job> {
    Ok(Job {
        id: parsed(row, "id", operation, JobId::parse)?,
        run_id: parsed(row, "run_id", operation, RunId::parse)?,
        kind: parsed(row, "kind", operation, WorkName::parse)?,
        payload: json_column(row, "payload", operation)?,
        state: parsed(row, "state", operation, JobState::parse)?,
        checkpoint: json_column(row, "checkpoint", operation)?,
        attempts: count(row, "attempts", operation)?,
        fencing_token: column(row, "fencing_token", operation)?,
    })
}

/// A run, locked when `lock` (every write that changes it).
async fn find_run(
    connection: &mut PgConnection,
    run_id: &RunId,
    lock: bool,
    operation: Operation,
) -> Result<OperationRun> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM operation_runs WHERE id = $1{lock}"))
        .bind(run_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .during(operation)?;
    run_row(&row.ok_or(Error::not_found("operation run"))?, operation)
}

/// Writes a run's changeable fields from the value.
async fn put_run(connection: &mut PgConnection, run: &OperationRun, operation: Operation) -> Result<()> {
    let progress = serde_json::to_string(&run.progress).map_err(|error| internal(operation, error))?;
    sqlx::query(
        "UPDATE operation_runs SET status = $2, progress = $3::jsonb, cursor = $4, throttle_ms = $5, \
         jobs_done = $6, started_at = $7, finished_at = $8, updated_at = $9, error = $10 WHERE id = $1",
    )
    .bind(run.id.to_string())
    .bind(run.status.as_str())
    .bind(progress)
    .bind(run.cursor.as_deref())
    .bind(i32::try_from(run.throttle_ms).unwrap_or(i32::MAX))
    .bind(i32::try_from(run.jobs_done).unwrap_or(i32::MAX))
    .bind(run.started_at)
    .bind(run.finished_at)
    .bind(run.updated_at)
    .bind(run.error.as_deref())
    .execute(&mut *connection)
    .await
    .during(operation)?;
    Ok(())
}

/// Writes a run changed from `before`, with its status event if any.
async fn save_run(write: &mut Write, before: &OperationRun, after: &OperationRun) -> Result<()> {
    let operation = write.operation();
    put_run(write, after, operation).await?;
    if let Some(record) = audit::operation_status_changed(before, after) {
        write.record(record);
    }
    Ok(())
}

/// Drops the run's queued jobs (its run was cancelled or errored).
async fn drop_queued(
    connection: &mut PgConnection,
    run_id: &RunId,
    at: Timestamp,
    operation: Operation,
) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'cancelled', updated_at = $2 WHERE run_id = $1 AND state = 'queued'",
    )
    .bind(run_id.to_string())
    .bind(at)
    .execute(&mut *connection)
    .await
    .during(operation)?;
    Ok(())
}

/// Checks the lease, first in its transaction (locking the job's row): the
/// row still holds its token and worker, and is running. Writes
/// `checkpoint` when given.
async fn hold(
    connection: &mut PgConnection,
    lease: &Lease,
    checkpoint: Option<&serde_json::Value>,
    at: Timestamp,
    operation: Operation,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE jobs SET checkpoint = COALESCE($4::jsonb, checkpoint), updated_at = $5 \
         WHERE id = $1 AND fencing_token = $2 AND lease_owner = $3 AND state = 'running'",
    )
    .bind(lease.job_id.to_string())
    .bind(lease.token)
    .bind(&lease.worker)
    .bind(checkpoint.map(serde_json::Value::to_string))
    .bind(at)
    .execute(&mut *connection)
    .await
    .during(operation)?
    .rows_affected();
    if updated == 1 { Ok(()) } else { Err(lease_lost(lease)) }
}

async fn create_run(
    store: &PostgresStore,
    platform: &PlatformScope,
    new: NewRun,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::CreateRun;
    let run = OperationRun {
        id: RunId::generate(),
        kind: new.kind,
        parameters: new.parameters,
        target_tenant_id: new.target_tenant_id,
        started_by: platform.actor().user_id().map(str::to_owned),
        status: RunStatus::Enqueued,
        progress: Vec::new(),
        cursor: None,
        throttle_ms: new.throttle_ms,
        jobs_total: u32::try_from(new.jobs.len()).map_err(|_| Error::invalid("jobs", "too many jobs"))?,
        jobs_done: 0,
        created_at: at,
        started_at: None,
        finished_at: None,
        updated_at: at,
        error: None,
    };
    let mut write = store.begin_write(WriteScope::Platform(platform), operation).await?;
    sqlx::query(
        "INSERT INTO operation_runs (id, kind, parameters, target_tenant_id, started_by, status, progress, \
         throttle_ms, jobs_total, jobs_done, created_at, updated_at) \
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, '[]', $7, $8, 0, $9, $9)",
    )
    .bind(run.id.to_string())
    .bind(run.kind.as_str())
    .bind(run.parameters.to_string())
    .bind(run.target_tenant_id.as_ref().map(ToString::to_string))
    .bind(run.started_by.as_deref())
    .bind(run.status.as_str())
    .bind(i32::try_from(run.throttle_ms).unwrap_or(i32::MAX))
    .bind(i32::try_from(run.jobs_total).unwrap_or(i32::MAX))
    .bind(at)
    .execute(&mut *write)
    .await
    .during(operation)?;
    let ids: Vec<String> = new.jobs.iter().map(|_| JobId::generate().to_string()).collect();
    let kinds: Vec<String> = new.jobs.iter().map(|job| job.kind.to_string()).collect();
    let payloads: Vec<String> = new.jobs.iter().map(|job| job.payload.to_string()).collect();
    sqlx::query(
        "INSERT INTO jobs (id, run_id, position, kind, payload, state, checkpoint, attempts, fencing_token, \
         available_at, updated_at) \
         SELECT job.id, $1, job.position::integer - 1, job.kind, job.payload::jsonb, 'queued', 'null', 0, 0, $5, $5 \
         FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS job (id, kind, payload, position)",
    )
    .bind(run.id.to_string())
    .bind(ids)
    .bind(kinds)
    .bind(payloads)
    .bind(at)
    .execute(&mut *write)
    .await
    .during(operation)?;
    write.record(audit::operation_created(&run));
    write.commit().await?;
    Ok(run)
}

async fn claim(
    store: &PostgresStore,
    platform: &PlatformScope,
    only_run: Option<&RunId>,
    worker: &str,
    lease_for: chrono::Duration,
    at: Timestamp,
) -> Result<Option<Claimed>> {
    let operation = Operation::ClaimJob;
    let mut write = store.begin_write(WriteScope::Platform(platform), operation).await?;
    let expires_at = at + lease_for;
    let row = sqlx::query(&format!(
        "WITH candidate AS ( \
           SELECT j.id FROM jobs j JOIN operation_runs r ON r.id = j.run_id \
           WHERE r.status IN ('enqueued', 'running', 'interrupted') \
             AND ((j.state = 'queued' AND j.available_at <= $1) OR (j.state = 'running' AND j.lease_expires_at <= $1)) \
             AND ($4::text IS NULL OR r.id = $4) \
           ORDER BY r.created_at, r.id, j.position LIMIT 1 FOR UPDATE OF j SKIP LOCKED) \
         UPDATE jobs SET state = 'running', lease_owner = $2, lease_expires_at = $3, \
           fencing_token = jobs.fencing_token + 1, attempts = jobs.attempts + 1, updated_at = $1 \
         FROM candidate WHERE jobs.id = candidate.id RETURNING {}",
        JOB_COLUMNS.replace("id, run_id", "jobs.id, jobs.run_id")
    ))
    .bind(at)
    .bind(worker)
    .bind(expires_at)
    .bind(only_run.map(ToString::to_string))
    .fetch_optional(&mut *write)
    .await
    .during(operation)?;
    let Some(row) = row else { return Ok(None) };
    let job = job_row(&row, operation)?;
    let before = find_run(&mut write, &job.run_id, true, operation).await?;
    let run = before.clone().with_status(RunStatus::Running, at)?;
    save_run(&mut write, &before, &run).await?;
    write.commit().await?;
    let lease = Lease {
        job_id: job.id.clone(),
        run_id: job.run_id.clone(),
        worker: worker.to_owned(),
        token: job.fencing_token,
        expires_at,
    };
    Ok(Some(Claimed { job, run, lease }))
}

async fn renew(
    store: &PostgresStore,
    platform: &PlatformScope,
    lease: &Lease,
    lease_for: chrono::Duration,
    at: Timestamp,
) -> Result<(Lease, OperationRun)> {
    let operation = Operation::RenewLease;
    let mut transaction = store.begin(TransactionScope::Platform(platform), operation).await?;
    let expires_at = at + lease_for;
    let updated = sqlx::query(
        "UPDATE jobs SET lease_expires_at = $4, updated_at = $5 \
         WHERE id = $1 AND fencing_token = $2 AND lease_owner = $3 AND state = 'running'",
    )
    .bind(lease.job_id.to_string())
    .bind(lease.token)
    .bind(&lease.worker)
    .bind(expires_at)
    .bind(at)
    .execute(&mut *transaction)
    .await
    .during(operation)?
    .rows_affected();
    if updated != 1 {
        return Err(lease_lost(lease));
    }
    let run = find_run(&mut transaction, &lease.run_id, false, operation).await?;
    commit(transaction, operation).await?;
    Ok((Lease { expires_at, ..lease.clone() }, run))
}

async fn commit_step(
    store: &PostgresStore,
    platform: &PlatformScope,
    lease: &Lease,
    step: Step,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::CommitStep;
    let mut transaction = store.begin(TransactionScope::Platform(platform), operation).await?;
    hold(&mut transaction, lease, Some(&step.checkpoint), at, operation).await?;
    let mut run = find_run(&mut transaction, &lease.run_id, true, operation).await?;
    run.absorb(&step.progress);
    run.cursor = step.cursor;
    run.updated_at = at;
    put_run(&mut transaction, &run, operation).await?;
    commit(transaction, operation).await?;
    Ok(run)
}

async fn end_job(
    store: &PostgresStore,
    platform: &PlatformScope,
    lease: &Lease,
    end: JobEnd,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::EndJob;
    let mut write = store.begin_write(WriteScope::Platform(platform), operation).await?;
    hold(&mut write, lease, None, at, operation).await?;
    let before = find_run(&mut write, &lease.run_id, true, operation).await?;
    let ending = after_job_end(before.clone(), &end, at)?;
    release(&mut write, &lease.job_id, &ending, at, operation).await?;
    if ending.drop_queued {
        drop_queued(&mut write, &lease.run_id, at, operation).await?;
    }
    save_run(&mut write, &before, &ending.run).await?;
    write.commit().await?;
    Ok(ending.run)
}

/// Ends a job's lease, leaving it as `ending` says.
async fn release(
    connection: &mut PgConnection,
    job_id: &JobId,
    ending: &JobEnding,
    at: Timestamp,
    operation: Operation,
) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = $2, lease_owner = NULL, lease_expires_at = NULL, available_at = $3, \
         updated_at = $4 WHERE id = $1",
    )
    .bind(job_id.to_string())
    .bind(ending.job_state.as_str())
    .bind(ending.available_at)
    .bind(at)
    .execute(&mut *connection)
    .await
    .during(operation)?;
    Ok(())
}

async fn request(
    store: &PostgresStore,
    platform: &PlatformScope,
    run_id: &RunId,
    request: RunRequest,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::ControlRun;
    let mut write = store.begin_write(WriteScope::Platform(platform), operation).await?;
    let before = find_run(&mut write, run_id, true, operation).await?;
    let running: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobs WHERE run_id = $1 AND state = 'running')")
            .bind(run_id.to_string())
            .fetch_one(&mut *write)
            .await
            .during(operation)?;
    let after = after_request(before.clone(), request, running, at)?;
    if after.status == RunStatus::Cancelled {
        drop_queued(&mut write, run_id, at, operation).await?;
    }
    save_run(&mut write, &before, &after).await?;
    write.commit().await?;
    Ok(after)
}

async fn set_throttle(
    store: &PostgresStore,
    platform: &PlatformScope,
    run_id: &RunId,
    throttle_ms: u32,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::ControlRun;
    let mut write = store.begin_write(WriteScope::Platform(platform), operation).await?;
    let mut run = find_run(&mut write, run_id, true, operation).await?;
    if run.status.is_terminal() {
        return Err(Error::conflict_with_detail(
            ConflictCode::RunNotControllable,
            format!("a run that is {} has no throttle to change", run.status),
        ));
    }
    let before = run.throttle_ms;
    run.throttle_ms = throttle_ms;
    run.updated_at = at;
    put_run(&mut write, &run, operation).await?;
    if before != throttle_ms {
        write.record(audit::operation_throttled(&run, before));
    }
    write.commit().await?;
    Ok(run)
}

async fn interrupt_expired(store: &PostgresStore, platform: &PlatformScope, at: Timestamp) -> Result<u64> {
    let operation = Operation::InterruptExpired;
    let mut write = store.begin_write(WriteScope::Platform(platform), operation).await?;
    let expired: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, run_id FROM jobs WHERE state = 'running' AND lease_expires_at <= $1 \
         ORDER BY run_id, position FOR UPDATE SKIP LOCKED",
    )
    .bind(at)
    .fetch_all(&mut *write)
    .await
    .during(operation)?;
    let mut interrupted = 0;
    for (job_id, run_id) in expired {
        let job_id = JobId::parse(&job_id).map_err(|error| corrupt(operation, "id", &job_id, error))?;
        let run_id = RunId::parse(&run_id).map_err(|error| corrupt(operation, "run_id", &run_id, error))?;
        let before = find_run(&mut write, &run_id, true, operation).await?;
        let mut ending = after_job_end(before.clone(), &JobEnd::Yielded, at)?;
        ending.run.error = Some(format!("the worker of job {job_id} stopped renewing its lease"));
        release(&mut write, &job_id, &ending, at, operation).await?;
        if ending.drop_queued {
            drop_queued(&mut write, &run_id, at, operation).await?;
        }
        save_run(&mut write, &before, &ending.run).await?;
        interrupted += 1;
    }
    write.commit().await?;
    Ok(interrupted)
}

#[async_trait]
impl RunStore for PostgresStore {
    async fn create_run(&self, platform: &PlatformScope, run: NewRun, at: Timestamp) -> Result<OperationRun> {
        create_run(self, platform, run, at).await
    }

    async fn get_run(&self, platform: &PlatformScope, run_id: &RunId) -> Result<OperationRun> {
        let operation = Operation::GetRun;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let run = find_run(&mut transaction, run_id, false, operation).await?;
        commit(transaction, operation).await?;
        Ok(run)
    }

    async fn list_runs(
        &self,
        platform: &PlatformScope,
        page: PageRequest<NewestFirstCursor>,
    ) -> Result<Page<OperationRun>> {
        let operation = Operation::ListRuns;
        let (before_at, before_id) = match page.after.as_ref() {
            Some(cursor) => (Some(cursor.at), cursor.id.as_str().to_owned()),
            None => (None, String::new()),
        };
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM operation_runs \
             WHERE $1::timestamptz IS NULL OR (created_at, id) < ($1, $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(before_at)
        .bind(before_id)
        .bind(i64::from(page.limit.get()) + 1)
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
        commit(transaction, operation).await?;
        let runs = rows.iter().map(|row| run_row(row, operation)).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetched(runs, page.limit, |run| {
            NewestFirstCursor::encode(run.created_at, &run.cursor_key())
        }))
    }

    async fn run_jobs(&self, platform: &PlatformScope, run_id: &RunId) -> Result<Vec<Job>> {
        let operation = Operation::RunJobs;
        let mut transaction = self.begin(TransactionScope::Platform(platform), operation).await?;
        let rows =
            sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE run_id = $1 ORDER BY position"))
                .bind(run_id.to_string())
                .fetch_all(&mut *transaction)
                .await
                .during(operation)?;
        commit(transaction, operation).await?;
        rows.iter().map(|row| job_row(row, operation)).collect()
    }

    async fn request_run(
        &self,
        platform: &PlatformScope,
        run_id: &RunId,
        run_request: RunRequest,
        at: Timestamp,
    ) -> Result<OperationRun> {
        request(self, platform, run_id, run_request, at).await
    }

    async fn set_run_throttle(
        &self,
        platform: &PlatformScope,
        run_id: &RunId,
        throttle_ms: u32,
        at: Timestamp,
    ) -> Result<OperationRun> {
        set_throttle(self, platform, run_id, throttle_ms, at).await
    }

    async fn claim_job(
        &self,
        platform: &PlatformScope,
        worker: &str,
        lease_for: chrono::Duration,
        at: Timestamp,
    ) -> Result<Option<Claimed>> {
        claim(self, platform, None, worker, lease_for, at).await
    }

    async fn claim_run_job(
        &self,
        platform: &PlatformScope,
        run_id: &RunId,
        worker: &str,
        lease_for: chrono::Duration,
        at: Timestamp,
    ) -> Result<Option<Claimed>> {
        claim(self, platform, Some(run_id), worker, lease_for, at).await
    }

    async fn renew_lease(
        &self,
        platform: &PlatformScope,
        lease: &Lease,
        lease_for: chrono::Duration,
        at: Timestamp,
    ) -> Result<(Lease, OperationRun)> {
        renew(self, platform, lease, lease_for, at).await
    }

    async fn commit_step(
        &self,
        platform: &PlatformScope,
        lease: &Lease,
        step: Step,
        at: Timestamp,
    ) -> Result<OperationRun> {
        commit_step(self, platform, lease, step, at).await
    }

    async fn end_job(
        &self,
        platform: &PlatformScope,
        lease: &Lease,
        end: JobEnd,
        at: Timestamp,
    ) -> Result<OperationRun> {
        end_job(self, platform, lease, end, at).await
    }

    async fn interrupt_expired(&self, platform: &PlatformScope, at: Timestamp) -> Result<u64> {
        interrupt_expired(self, platform, at).await
    }
}
