//! Operation runs and their jobs on SQLite: the durable queue. SQLite has
//! one writer at a time (`BEGIN IMMEDIATE`), so a claim is a read and an
//! update in one write transaction that no other claimer can interleave
//! with: one claimant at a time. Every write under a lease updates the
//! job's row only where its fencing token is still the lease's, first in
//! its transaction; no row updated means the lease was lost, and nothing
//! is written. The rules (which status follows which) are core's
//! (`tenantry_core::operation_run`).

use async_trait::async_trait;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use tenantry_core::decision::NewestFirstCursor;
use tenantry_core::operation_run::{
    Claimed, Job, JobEnd, JobEnding, JobState, Lease, NewRun, OperationRun, RunRequest, RunStatus, Step,
    UnitProgress, WorkName, after_job_end, after_request, lease_lost,
};
use tenantry_core::relationship::{timestamp_from_micros, timestamp_micros};
use tenantry_core::{
    Error, JobId, Page, PageRequest, PlatformScope, Result, RunId, RunStore, TenantId, Timestamp, audit,
};

use crate::audit::{Write, WriteScope};
use crate::error::{Operation, map_database_error};
use crate::rows::{decode, invalid_stored_value, optional_parsed, parsed};
use crate::{SqliteStore, overfetch_limit};

const RUN_COLUMNS: &str = "id, kind, parameters, target_tenant_id, started_by, status, progress, cursor, \
     throttle_ms, jobs_total, jobs_done, created_at, started_at, finished_at, updated_at, error";

const JOB_COLUMNS: &str =
    "id, run_id, kind, payload, state, checkpoint, attempts, fencing_token, lease_owner, lease_expires_at";

fn json_column(row: &SqliteRow, column: &'static str) -> Result<serde_json::Value> {
    let text: String = decode(row, column)?;
    serde_json::from_str(&text).map_err(|error| invalid_stored_value(column, error))
}

fn micros(row: &SqliteRow, column: &'static str) -> Result<Option<Timestamp>> {
    Ok(decode::<Option<i64>>(row, column)?.map(timestamp_from_micros))
}

fn count(row: &SqliteRow, column: &'static str) -> Result<u32> {
    let value: i64 = decode(row, column)?;
    u32::try_from(value).map_err(|error| invalid_stored_value(column, error))
}

fn run_row(row: &SqliteRow) -> Result<OperationRun> {
    let progress: Vec<UnitProgress> = serde_json::from_value(json_column(row, "progress")?)
        .map_err(|error| invalid_stored_value("progress", error))?;
    Ok(OperationRun {
        id: parsed(row, "id", RunId::parse)?,
        kind: parsed(row, "kind", WorkName::parse)?,
        parameters: json_column(row, "parameters")?,
        target_tenant_id: optional_parsed(row, "target_tenant_id", TenantId::parse)?,
        started_by: decode(row, "started_by")?,
        status: parsed(row, "status", RunStatus::parse)?,
        progress,
        cursor: decode(row, "cursor")?,
        throttle_ms: count(row, "throttle_ms")?,
        jobs_total: count(row, "jobs_total")?,
        jobs_done: count(row, "jobs_done")?,
        created_at: timestamp_from_micros(decode(row, "created_at")?),
        started_at: micros(row, "started_at")?,
        finished_at: micros(row, "finished_at")?,
        updated_at: timestamp_from_micros(decode(row, "updated_at")?),
        error: decode(row, "error")?,
    })
}

fn job_row(row: &SqliteRow) -> Result<Job> {
    Ok(Job {
        id: parsed(row, "id", JobId::parse)?,
        run_id: parsed(row, "run_id", RunId::parse)?,
        kind: parsed(row, "kind", WorkName::parse)?,
        payload: json_column(row, "payload")?,
        state: parsed(row, "state", JobState::parse)?,
        checkpoint: json_column(row, "checkpoint")?,
        attempts: count(row, "attempts")?,
        fencing_token: decode(row, "fencing_token")?,
    })
}

async fn find_run(
    connection: &mut SqliteConnection,
    run_id: &RunId,
    operation: Operation,
) -> Result<OperationRun> {
    let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM operation_runs WHERE id = ?1"))
        .bind(run_id.to_string())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    run_row(&row.ok_or(Error::not_found("operation run"))?)
}

/// Writes a run's changeable fields from the value.
async fn put_run(connection: &mut SqliteConnection, run: &OperationRun, operation: Operation) -> Result<()> {
    let progress = serde_json::to_string(&run.progress).map_err(Error::internal)?;
    sqlx::query(
        "UPDATE operation_runs SET status = ?2, progress = ?3, cursor = ?4, throttle_ms = ?5, jobs_done = ?6, \
         started_at = ?7, finished_at = ?8, updated_at = ?9, error = ?10 WHERE id = ?1",
    )
    .bind(run.id.to_string())
    .bind(run.status.as_str())
    .bind(progress)
    .bind(run.cursor.as_deref())
    .bind(i64::from(run.throttle_ms))
    .bind(i64::from(run.jobs_done))
    .bind(run.started_at.map(timestamp_micros))
    .bind(run.finished_at.map(timestamp_micros))
    .bind(timestamp_micros(run.updated_at))
    .bind(run.error.as_deref())
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
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

/// Whether one of the run's jobs is running.
async fn job_running(
    connection: &mut SqliteConnection,
    run_id: &RunId,
    operation: Operation,
) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobs WHERE run_id = ?1 AND state = 'running')")
        .bind(run_id.to_string())
        .fetch_one(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))
}

/// Drops the run's queued jobs (its run was cancelled or errored).
async fn drop_queued(
    connection: &mut SqliteConnection,
    run_id: &RunId,
    at: Timestamp,
    operation: Operation,
) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'cancelled', updated_at = ?2 WHERE run_id = ?1 AND state = 'queued'",
    )
    .bind(run_id.to_string())
    .bind(timestamp_micros(at))
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

/// Checks the lease, first in its transaction: the job's row still holds
/// its token and worker, and is running. Writes `checkpoint` when given.
async fn hold(
    connection: &mut SqliteConnection,
    lease: &Lease,
    checkpoint: Option<&serde_json::Value>,
    at: Timestamp,
    operation: Operation,
) -> Result<()> {
    let checkpoint = checkpoint.map(serde_json::Value::to_string);
    let updated = sqlx::query(
        "UPDATE jobs SET checkpoint = COALESCE(?4, checkpoint), updated_at = ?5 \
         WHERE id = ?1 AND fencing_token = ?2 AND lease_owner = ?3 AND state = 'running'",
    )
    .bind(lease.job_id.to_string())
    .bind(lease.token)
    .bind(&lease.worker)
    .bind(checkpoint)
    .bind(timestamp_micros(at))
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?
    .rows_affected();
    if updated == 1 { Ok(()) } else { Err(lease_lost(lease)) }
}

async fn create_run(
    store: &SqliteStore,
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
    let mut write = Write::begin(&store.pool, WriteScope::Platform(platform), operation).await?;
    sqlx::query(&format!(
        "INSERT INTO operation_runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '[]', NULL, ?7, ?8, 0, ?9, NULL, NULL, ?9, NULL)"
    ))
    .bind(run.id.to_string())
    .bind(run.kind.as_str())
    .bind(run.parameters.to_string())
    .bind(run.target_tenant_id.as_ref().map(ToString::to_string))
    .bind(run.started_by.as_deref())
    .bind(run.status.as_str())
    .bind(i64::from(run.throttle_ms))
    .bind(i64::from(run.jobs_total))
    .bind(timestamp_micros(at))
    .execute(&mut *write)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    for (position, job) in new.jobs.iter().enumerate() {
        sqlx::query(
            "INSERT INTO jobs (id, run_id, position, kind, payload, state, checkpoint, attempts, fencing_token, \
             available_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 'null', 0, 0, ?6, ?6)",
        )
        .bind(JobId::generate().to_string())
        .bind(run.id.to_string())
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(job.kind.as_str())
        .bind(job.payload.to_string())
        .bind(timestamp_micros(at))
        .execute(&mut *write)
        .await
        .map_err(|error| map_database_error(error, operation))?;
    }
    write.record(audit::operation_created(&run));
    write.commit().await?;
    Ok(run)
}

async fn claim(
    store: &SqliteStore,
    platform: &PlatformScope,
    only_run: Option<&RunId>,
    worker: &str,
    lease_for: chrono::Duration,
    at: Timestamp,
) -> Result<Option<Claimed>> {
    let operation = Operation::ClaimJob;
    let mut write = Write::begin(&store.pool, WriteScope::Platform(platform), operation).await?;
    let candidate: Option<(String, String)> = sqlx::query_as(
        "SELECT j.id, j.run_id FROM jobs j JOIN operation_runs r ON r.id = j.run_id \
         WHERE r.status IN ('enqueued', 'running', 'interrupted') \
           AND ((j.state = 'queued' AND j.available_at <= ?1) OR (j.state = 'running' AND j.lease_expires_at <= ?1)) \
           AND (?2 IS NULL OR r.id = ?2) \
         ORDER BY r.created_at, r.id, j.position LIMIT 1",
    )
    .bind(timestamp_micros(at))
    .bind(only_run.map(ToString::to_string))
    .fetch_optional(&mut *write)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let Some((job_id, run_id)) = candidate else { return Ok(None) };
    let expires_at = at + lease_for;
    let row = sqlx::query(&format!(
        "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_expires_at = ?3, \
         fencing_token = fencing_token + 1, attempts = attempts + 1, updated_at = ?4 WHERE id = ?1 \
         RETURNING {JOB_COLUMNS}"
    ))
    .bind(&job_id)
    .bind(worker)
    .bind(timestamp_micros(expires_at))
    .bind(timestamp_micros(at))
    .fetch_one(&mut *write)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let job = job_row(&row)?;
    let run_id = RunId::parse(&run_id).map_err(|error| invalid_stored_value("run_id", error))?;
    let before = find_run(&mut write, &run_id, operation).await?;
    let run = before.clone().with_status(RunStatus::Running, at)?;
    save_run(&mut write, &before, &run).await?;
    write.commit().await?;
    let lease = Lease {
        job_id: job.id.clone(),
        run_id,
        worker: worker.to_owned(),
        token: job.fencing_token,
        expires_at,
    };
    Ok(Some(Claimed { job, run, lease }))
}

async fn renew(
    store: &SqliteStore,
    platform: &PlatformScope,
    lease: &Lease,
    lease_for: chrono::Duration,
    at: Timestamp,
) -> Result<(Lease, OperationRun)> {
    let operation = Operation::RenewLease;
    let mut write = Write::begin(&store.pool, WriteScope::Platform(platform), operation).await?;
    let expires_at = at + lease_for;
    let updated = sqlx::query(
        "UPDATE jobs SET lease_expires_at = ?4, updated_at = ?5 \
         WHERE id = ?1 AND fencing_token = ?2 AND lease_owner = ?3 AND state = 'running'",
    )
    .bind(lease.job_id.to_string())
    .bind(lease.token)
    .bind(&lease.worker)
    .bind(timestamp_micros(expires_at))
    .bind(timestamp_micros(at))
    .execute(&mut *write)
    .await
    .map_err(|error| map_database_error(error, operation))?
    .rows_affected();
    if updated != 1 {
        return Err(lease_lost(lease));
    }
    let run = find_run(&mut write, &lease.run_id, operation).await?;
    write.commit().await?;
    Ok((Lease { expires_at, ..lease.clone() }, run))
}

async fn commit_step(
    store: &SqliteStore,
    platform: &PlatformScope,
    lease: &Lease,
    step: Step,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::CommitStep;
    let mut write = Write::begin(&store.pool, WriteScope::Platform(platform), operation).await?;
    hold(&mut write, lease, Some(&step.checkpoint), at, operation).await?;
    let mut run = find_run(&mut write, &lease.run_id, operation).await?;
    run.absorb(&step.progress);
    run.cursor = step.cursor;
    run.updated_at = at;
    put_run(&mut write, &run, operation).await?;
    write.commit().await?;
    Ok(run)
}

async fn end_job(
    store: &SqliteStore,
    platform: &PlatformScope,
    lease: &Lease,
    end: JobEnd,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::EndJob;
    let mut write = Write::begin(&store.pool, WriteScope::Platform(platform), operation).await?;
    hold(&mut write, lease, None, at, operation).await?;
    let before = find_run(&mut write, &lease.run_id, operation).await?;
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
    connection: &mut SqliteConnection,
    job_id: &JobId,
    ending: &JobEnding,
    at: Timestamp,
    operation: Operation,
) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = ?2, lease_owner = NULL, lease_expires_at = NULL, available_at = ?3, \
         updated_at = ?4 WHERE id = ?1",
    )
    .bind(job_id.to_string())
    .bind(ending.job_state.as_str())
    .bind(timestamp_micros(ending.available_at))
    .bind(timestamp_micros(at))
    .execute(&mut *connection)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    Ok(())
}

async fn request(
    store: &SqliteStore,
    platform: &PlatformScope,
    run_id: &RunId,
    request: RunRequest,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::ControlRun;
    let mut write = Write::begin(&store.pool, WriteScope::Platform(platform), operation).await?;
    let before = find_run(&mut write, run_id, operation).await?;
    let running = job_running(&mut write, run_id, operation).await?;
    let after = after_request(before.clone(), request, running, at)?;
    if after.status == RunStatus::Cancelled {
        drop_queued(&mut write, run_id, at, operation).await?;
    }
    save_run(&mut write, &before, &after).await?;
    write.commit().await?;
    Ok(after)
}

async fn set_throttle(
    store: &SqliteStore,
    platform: &PlatformScope,
    run_id: &RunId,
    throttle_ms: u32,
    at: Timestamp,
) -> Result<OperationRun> {
    let operation = Operation::ControlRun;
    let mut write = Write::begin(&store.pool, WriteScope::Platform(platform), operation).await?;
    let mut run = find_run(&mut write, run_id, operation).await?;
    if run.status.is_terminal() {
        return Err(Error::conflict_with_detail(
            tenantry_core::ConflictCode::RunNotControllable,
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

async fn interrupt_expired(store: &SqliteStore, platform: &PlatformScope, at: Timestamp) -> Result<u64> {
    let operation = Operation::InterruptExpired;
    let mut write = Write::begin(&store.pool, WriteScope::Platform(platform), operation).await?;
    let expired: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, run_id FROM jobs WHERE state = 'running' AND lease_expires_at <= ?1 ORDER BY run_id, position",
    )
    .bind(timestamp_micros(at))
    .fetch_all(&mut *write)
    .await
    .map_err(|error| map_database_error(error, operation))?;
    let mut interrupted = 0;
    for (job_id, run_id) in expired {
        let run_id = RunId::parse(&run_id).map_err(|error| invalid_stored_value("run_id", error))?;
        let before = find_run(&mut write, &run_id, operation).await?;
        let mut ending = after_job_end(before.clone(), &JobEnd::Yielded, at)?;
        ending.run.error = Some(format!("the worker of job {job_id} stopped renewing its lease"));
        let job_id = JobId::parse(&job_id).map_err(|error| invalid_stored_value("id", error))?;
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
impl RunStore for SqliteStore {
    async fn create_run(&self, platform: &PlatformScope, run: NewRun, at: Timestamp) -> Result<OperationRun> {
        create_run(self, platform, run, at).await
    }

    async fn get_run(&self, _platform: &PlatformScope, run_id: &RunId) -> Result<OperationRun> {
        let operation = Operation::GetRun;
        let mut connection = self.pool.read_connection(operation).await?;
        find_run(&mut connection, run_id, operation).await
    }

    async fn list_runs(
        &self,
        _platform: &PlatformScope,
        page: PageRequest<NewestFirstCursor>,
    ) -> Result<Page<OperationRun>> {
        let operation = Operation::ListRuns;
        let (before_at, before_id) = match page.after.as_ref() {
            Some(cursor) => (timestamp_micros(cursor.at), cursor.id.as_str().to_owned()),
            None => (i64::MAX, String::new()),
        };
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM operation_runs \
             WHERE created_at < ?1 OR (created_at = ?1 AND ?2 <> '' AND id < ?2) \
             ORDER BY created_at DESC, id DESC LIMIT ?3"
        ))
        .bind(before_at)
        .bind(before_id)
        .bind(overfetch_limit(page.limit))
        .fetch_all(self.pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
        let runs = rows.iter().map(run_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetched(runs, page.limit, |run| {
            NewestFirstCursor::encode(run.created_at, &run.cursor_key())
        }))
    }

    async fn run_jobs(&self, _platform: &PlatformScope, run_id: &RunId) -> Result<Vec<Job>> {
        let operation = Operation::RunJobs;
        let rows =
            sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE run_id = ?1 ORDER BY position"))
                .bind(run_id.to_string())
                .fetch_all(self.pool.reads())
                .await
                .map_err(|error| map_database_error(error, operation))?;
        rows.iter().map(job_row).collect()
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
