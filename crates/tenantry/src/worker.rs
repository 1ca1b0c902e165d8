//! The job queue's worker: it hands new audit events to the webhook
//! dispatcher, claims jobs, runs each under a lease it renews in the
//! background, and ends it. `serve` runs one in-process (unless
//! `--no-worker`); `tenantry worker` runs one alone; any number may run
//! against one PostgreSQL database (claims skip locked jobs). The rules are
//! the store's and core's (`tenantry_core::operation_run`): a worker that
//! lost its lease is refused every write, and stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tenantry_core::operation_run::{Claimed, JobEnd, Lease, RunStatus, Step};
use tenantry_core::service::{DeliveryJob, DeliveryProgress, WEBHOOK_DELIVERY, dispatch_webhooks};
use tenantry_core::webhook::{DeliveryRecord, RetrySchedule, TargetPolicy, WebhookMessage};
use tenantry_core::{ConflictCode, Error, PartitionScope, PlatformScope, Store, TenantScope};

/// How a worker paces itself.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The worker's name, as leases record it.
    pub name: String,
    /// How long a claim holds a job before another worker may take it;
    /// renewed every third of it while the job runs.
    pub lease: Duration,
    /// How long to wait before claiming again when there was nothing to do.
    pub idle_poll: Duration,
    /// How often to dispatch new audit events to webhooks and interrupt
    /// runs whose worker stopped.
    pub housekeeping: Duration,
}

impl WorkerSettings {
    /// The defaults: a 30 s lease, a claim every 500 ms when idle, and
    /// housekeeping every second.
    pub fn named(name: String) -> Self {
        Self {
            name,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(500),
            housekeeping: Duration::from_secs(1),
        }
    }
}

/// What a job does, for one kind of job: its work from its checkpoint, and
/// the step to commit with its end.
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Runs the job once; the worker commits the step (if any) and the end
    /// under the job's lease.
    async fn run(&self, claimed: &Claimed) -> Result<(Option<Step>, JobEnd), Error>;
}

/// Delivers one audit event to one webhook: one attempt, recorded in the
/// subscription's delivery log; a failure asks to be tried again on the
/// retry schedule, until it gives up after 24 hours.
#[derive(Debug)]
pub struct WebhookDeliveryHandler {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl WebhookDeliveryHandler {
    /// A handler delivering under `policy`.
    pub fn new(store: Arc<dyn Store>, policy: TargetPolicy) -> anyhow::Result<Self> {
        let client = tenantry_api::webhook_delivery::webhook_client(policy)?;
        Ok(Self { store, client, policy })
    }
}

#[async_trait]
impl JobHandler for WebhookDeliveryHandler {
    async fn run(&self, claimed: &Claimed) -> Result<(Option<Step>, JobEnd), Error> {
        let job: DeliveryJob = match serde_json::from_value(claimed.job.payload.clone()) {
            Ok(job) => job,
            Err(error) => {
                return Ok((None, JobEnd::Failed(format!("the job's payload is not a delivery: {error}"))));
            }
        };
        let scope = TenantScope::system(job.tenant_id.clone(), "webhook delivery");
        let (webhook, secret) = match self.store.webhook_secret(&scope, &job.webhook_id).await {
            Ok(found) => found,
            // Unsubscribed since: nothing to deliver.
            Err(Error::NotFound { .. }) => return Ok((None, JobEnd::Done)),
            Err(error) => return Err(error),
        };
        let log = PartitionScope::Tenant(scope.clone());
        let rows = self.store.audit_events_after(&log, job.seq.saturating_sub(1), 1).await?;
        let Some(row) = rows.into_iter().find(|row| row.seq == job.seq) else {
            return Ok((None, JobEnd::Failed(format!("the tenant's log has no event {}", job.seq))));
        };
        let message = WebhookMessage::of_event(&row.event()?)?;
        let attempted_at = tenantry_core::now();
        let progress = serde_json::from_value::<DeliveryProgress>(claimed.job.checkpoint.clone())
            .unwrap_or(DeliveryProgress { first_attempt_at: attempted_at, attempts: 0 });
        let attempt = progress.attempts + 1;
        let outcome = tenantry_api::webhook_delivery::deliver_once(
            &self.client,
            self.policy,
            &webhook,
            &secret,
            &message,
        )
        .await;
        let next_attempt_at = if outcome.succeeded() {
            None
        } else {
            RetrySchedule.next_attempt_at(progress.first_attempt_at, attempt, attempted_at)
        };
        let succeeded = outcome.succeeded();
        let record = DeliveryRecord {
            message_id: message.id,
            event_seq: message.event_seq,
            action: message.event_type,
            attempt,
            attempted_at,
            outcome,
            next_attempt_at,
        };
        self.store.record_delivery(&scope, &job.webhook_id, record).await?;
        let checkpoint = DeliveryProgress { attempts: attempt, ..progress };
        let step = Step {
            checkpoint: serde_json::to_value(checkpoint).map_err(Error::internal)?,
            progress: Vec::new(),
            cursor: Some(format!("seq {}", job.seq)),
        };
        let end = match next_attempt_at {
            Some(at) if !succeeded => JobEnd::RetryAt(at),
            _ => JobEnd::Done,
        };
        Ok((Some(step), end))
    }
}

/// Backfills one table of an application's database for `tenantry
/// retrofit backfill`: batches for about a second per claim, each batch
/// fenced with the job's token in the application's database, so the run's
/// progress is written at least every second and a pause or a cancel takes
/// effect within one.
#[derive(Debug, Default)]
pub struct RetrofitBackfillHandler {
    /// One pool per application database URL.
    databases: tokio::sync::Mutex<HashMap<String, tenantry_retrofit::AppDatabase>>,
}

/// A backfill job's checkpoint in tenantry's database: its table's
/// progress (the application's database holds the authoritative copy) and
/// how many slices in a row have failed.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct BackfillCheckpoint {
    #[serde(default)]
    progress: tenantry_retrofit::backfill::TableProgress,
    #[serde(default)]
    failures: u32,
}

/// How many slices in a row may fail (a lost connection, a deadlock)
/// before the job, and its run, errors.
const BACKFILL_FAILURES: u32 = 5;

impl RetrofitBackfillHandler {
    async fn database(
        &self,
        url: &str,
    ) -> Result<tenantry_retrofit::AppDatabase, tenantry_retrofit::RetrofitError> {
        let mut databases = self.databases.lock().await;
        if let Some(database) = databases.get(url) {
            return Ok(database.clone());
        }
        let database = tenantry_retrofit::AppDatabase::connect(url).await?;
        databases.insert(url.to_owned(), database.clone());
        Ok(database)
    }
}

#[async_trait]
impl JobHandler for RetrofitBackfillHandler {
    async fn run(&self, claimed: &Claimed) -> Result<(Option<Step>, JobEnd), Error> {
        use tenantry_retrofit::backfill::{SliceEnd, TableJob, run_slice};
        let job: TableJob = match serde_json::from_value(claimed.job.payload.clone()) {
            Ok(job) => job,
            Err(error) => {
                return Ok((None, JobEnd::Failed(format!("the job's payload is not a backfill: {error}"))));
            }
        };
        let mut checkpoint: BackfillCheckpoint =
            serde_json::from_value(claimed.job.checkpoint.clone()).unwrap_or_default();
        let throttle = Duration::from_millis(u64::from(claimed.run.throttle_ms));
        let outcome = match job.config.database_url() {
            Ok(url) => match self.database(&url).await {
                Ok(database) => {
                    run_slice(
                        &database,
                        &job,
                        &claimed.run.id.to_string(),
                        claimed.lease.token,
                        throttle,
                        SLICE,
                    )
                    .await
                }
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        let now = tenantry_core::now();
        let (end, note) = match outcome {
            Ok(slice) => {
                checkpoint = BackfillCheckpoint { progress: slice.progress, failures: 0 };
                match slice.end {
                    SliceEnd::Done => (JobEnd::Done, None),
                    SliceEnd::More => (
                        JobEnd::RetryAt(now + chrono::Duration::from_std(throttle).unwrap_or_default()),
                        None,
                    ),
                    SliceEnd::Waiting(reason) => {
                        (JobEnd::RetryAt(now + chrono::Duration::seconds(1)), Some(reason))
                    }
                }
            }
            Err(tenantry_retrofit::RetrofitError::LeaseLost { .. }) => {
                return Err(tenantry_core::operation_run::lease_lost(&claimed.lease));
            }
            Err(error) if checkpoint.failures + 1 >= BACKFILL_FAILURES => {
                (JobEnd::Failed(format!("{}: {error}", job.table)), None)
            }
            Err(error) => {
                checkpoint.failures += 1;
                tracing::warn!(table = %job.table, %error, failures = checkpoint.failures, "a backfill batch failed; trying again");
                let backoff = chrono::Duration::seconds(1 << checkpoint.failures);
                (JobEnd::RetryAt(now + backoff), Some(format!("retrying after: {error}")))
            }
        };
        let progress = &checkpoint.progress;
        let unit = tenantry_core::operation_run::UnitProgress {
            unit: job.table.clone(),
            total: Some(job.total.max(progress.scanned)),
            scanned: progress.scanned,
            missing: progress.missing,
            updated: progress.updated,
            done: progress.done,
        };
        let cursor = match (note, &progress.cursor) {
            (Some(note), _) => format!("{}: {note}", job.table),
            (None, Some(key)) => format!("{}: after {key}", job.table),
            (None, None) => format!("{}: from the start", job.table),
        };
        let step = Step {
            checkpoint: serde_json::to_value(&checkpoint).map_err(Error::internal)?,
            progress: vec![unit],
            cursor: Some(cursor),
        };
        Ok((Some(step), end))
    }
}

/// How long a backfill job works before it hands its progress in.
const SLICE: Duration = Duration::from_secs(1);

/// The handlers a worker runs, by job kind.
#[derive(Default)]
pub struct Handlers(HashMap<String, Arc<dyn JobHandler>>);

impl std::fmt::Debug for Handlers {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_set().entries(self.0.keys()).finish()
    }
}

/// A worker's name when none is given: the host's name and the process id.
pub fn default_name() -> String {
    let host =
        std::fs::read_to_string("/etc/hostname").map(|name| name.trim().to_owned()).unwrap_or_default();
    let host = if host.is_empty() { "worker".to_owned() } else { host };
    format!("{host}:{}", std::process::id())
}

impl Handlers {
    /// The handlers every tenantry worker has.
    pub fn standard(store: Arc<dyn Store>, policy: TargetPolicy) -> anyhow::Result<Self> {
        let mut handlers = Self::default();
        handlers.0.insert(WEBHOOK_DELIVERY.to_owned(), Arc::new(WebhookDeliveryHandler::new(store, policy)?));
        handlers.0.insert(
            tenantry_retrofit::backfill::JOB_KIND.to_owned(),
            Arc::new(RetrofitBackfillHandler::default()),
        );
        Ok(handlers)
    }
}

/// Runs the worker until `shutdown` resolves.
pub async fn run(
    store: Arc<dyn Store>,
    handlers: Handlers,
    settings: WorkerSettings,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let platform = PlatformScope::job_worker();
    let mut last_housekeeping: Option<std::time::Instant> = None;
    tracing::info!(worker = %settings.name, "job worker started");
    // Store calls are never raced against anything (a dropped call could
    // leave its transaction half done); only the waits between them are.
    loop {
        if last_housekeeping.is_none_or(|at| at.elapsed() >= settings.housekeeping) {
            housekeep(store.as_ref(), &platform).await;
            last_housekeeping = Some(std::time::Instant::now());
        }
        let wait =
            match store.claim_job(&platform, &settings.name, lease_of(&settings), tenantry_core::now()).await
            {
                Ok(Some(claimed)) => {
                    work(&store, &handlers, &settings, claimed).await;
                    Duration::ZERO
                }
                Ok(None) => settings.idle_poll,
                Err(error) => {
                    tracing::warn!(%error, "claiming a job failed; trying again shortly");
                    settings.idle_poll
                }
            };
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!(worker = %settings.name, "job worker stopped");
}

fn lease_of(settings: &WorkerSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::seconds(30))
}

/// Hands new audit events to the webhook dispatcher and interrupts runs
/// whose worker stopped renewing its lease.
async fn housekeep(store: &dyn Store, platform: &PlatformScope) {
    match dispatch_webhooks(store, tenantry_core::now()).await {
        Ok(0) => {}
        Ok(enqueued) => tracing::debug!(enqueued, "webhook deliveries enqueued"),
        Err(error) => tracing::warn!(%error, "dispatching audit events to webhooks failed; retrying"),
    }
    match store.interrupt_expired(platform, tenantry_core::now()).await {
        Ok(0) => {}
        Ok(interrupted) => {
            tracing::warn!(interrupted, "jobs whose worker stopped were put back in the queue")
        }
        Err(error) => tracing::warn!(%error, "interrupting runs whose worker stopped failed; retrying"),
    }
}

/// Runs one claimed job: its handler, with the lease renewed in the
/// background; then its step and end under the lease. A lost lease stops
/// everything this worker does for it.
async fn work(store: &Arc<dyn Store>, handlers: &Handlers, settings: &WorkerSettings, claimed: Claimed) {
    let platform = PlatformScope::job_worker();
    let Some(handler) = handlers.0.get(claimed.job.kind.as_str()).cloned() else {
        let end = JobEnd::Failed(format!("no worker handles jobs of kind {}", claimed.job.kind));
        finish(store.as_ref(), &platform, &claimed.lease, None, end).await;
        return;
    };
    let renewer = tokio::spawn(renew_forever(store.clone(), claimed.lease.clone(), settings.clone()));
    let outcome = handler.run(&claimed).await;
    renewer.abort();
    let lease = match renewer.await {
        // Aborted mid-sleep: the lease is as the last renewal left it.
        Err(_) => claimed.lease.clone(),
        Ok(None) => return, // lost; renew_forever said so
        Ok(Some(lease)) => lease,
    };
    match outcome {
        Ok((step, end)) => {
            // The run's throttle paces its jobs: the pause it asks for,
            // before this worker claims again; a job that asked to be
            // tried again later has paced itself.
            let paced = matches!(end, JobEnd::RetryAt(_));
            if let Some(run) = finish(store.as_ref(), &platform, &lease, step, end).await
                && !paced
                && run.throttle_ms > 0
                && !run.status.is_terminal()
            {
                tokio::time::sleep(Duration::from_millis(u64::from(run.throttle_ms))).await;
            }
        }
        Err(error) => {
            tracing::warn!(job_id = %lease.job_id, %error, "a job failed to run; it is tried again after its lease");
        }
    }
}

/// Renews the lease every third of its length until aborted; `None` once
/// it was lost.
async fn renew_forever(store: Arc<dyn Store>, mut lease: Lease, settings: WorkerSettings) -> Option<Lease> {
    let platform = PlatformScope::job_worker();
    loop {
        tokio::time::sleep(settings.lease / 3).await;
        match store.renew_lease(&platform, &lease, lease_of(&settings), tenantry_core::now()).await {
            Ok((renewed, run)) => {
                lease = renewed;
                if matches!(run.status, RunStatus::Pausing | RunStatus::Cancelling) {
                    tracing::info!(run_id = %run.id, status = %run.status, "the run asks its worker to stop");
                }
            }
            Err(Error::Conflict { code: ConflictCode::LeaseLost, .. }) => {
                tracing::warn!(job_id = %lease.job_id, "the job's lease was lost to another worker");
                return None;
            }
            Err(error) => tracing::warn!(%error, "renewing a lease failed; trying again"),
        }
    }
}

/// Commits a job's step and end under its lease; the run after them.
async fn finish(
    store: &dyn Store,
    platform: &PlatformScope,
    lease: &Lease,
    step: Option<Step>,
    end: JobEnd,
) -> Option<tenantry_core::operation_run::OperationRun> {
    let at = tenantry_core::now();
    if let Some(step) = step
        && let Err(error) = store.commit_step(platform, lease, step, at).await
    {
        tracing::warn!(job_id = %lease.job_id, %error, "committing a job's step failed");
        return None;
    }
    match store.end_job(platform, lease, end, at).await {
        Ok(run) => Some(run),
        Err(error) => {
            tracing::warn!(job_id = %lease.job_id, %error, "ending a job failed");
            None
        }
    }
}
