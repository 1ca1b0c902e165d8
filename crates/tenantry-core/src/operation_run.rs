//! Operation runs and the jobs that carry them out: long work (a backfill,
//! a move between backends, webhook deliveries) that a worker does in
//! steps, which an operator can watch, pause, resume and cancel, and which
//! survives the death of the worker doing it.
//!
//! A run is split into jobs kept in the database. A worker claims one job
//! at a time under a lease: a deadline it extends with heartbeats, and a
//! fencing token, a number the claim increments. Every step a job commits
//! (its checkpoint and the run's progress, and on tenantry's own database
//! its effects) is written in one transaction that first checks that the
//! lease still carries that token; a worker whose lease expired and whose
//! job was claimed again therefore commits nothing more. A job whose
//! worker died is claimed again once its lease expires, and resumes from
//! its last checkpoint.
//!
//! The status of a run changes only along [`RunStatus::can_become`]:
//!
//! ```text
//!             claim                 all jobs done
//!  enqueued ─────────▶ running ────────────────────▶ succeeded
//!   │   ▲  ▲             │ │ │     a job failed
//!   │   │  │ resume      │ │ └──────────────────────▶ errored
//!   │   │  │     pause   │ │ lease expired
//!   │   │  └─ paused ◀── pausing    └──▶ interrupted ──(claim)──▶ running
//!   │   │       ▲  (job yields)            │
//!   │   └───────┼────────── resume ────────┘ (pause: paused; cancel: cancelled)
//!   │  pause    │
//!   ├───────────┘        cancel (running, pausing)
//!   │                      └──▶ cancelling ──(job yields)──▶ cancelled
//!   └── cancel (enqueued, paused, interrupted) ──────────────▶ cancelled
//! ```
//!
//! A pause or a cancel of a run none of whose jobs is running at that
//! moment (between two jobs) takes effect at once; a worker that stops for
//! its own reasons (a shutdown) leaves its run `interrupted`, and a lease
//! that runs out does the same as the worker yielding would have.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::decision::text_enum;
use crate::error::{ConflictCode, Error};
use crate::id::{JobId, RunId, TenantId};

/// The longest a run's kind or a unit's name may be, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The most units of work a run reports progress for.
pub const MAX_UNITS: usize = 1_000;

/// The slowest throttle: a pause of at most one minute between steps.
pub const MAX_THROTTLE_MS: u32 = 60_000;

text_enum!(
    /// Where an operation run stands.
    RunStatus, {
        /// Waiting for a worker.
        Enqueued = "enqueued",
        /// A worker is doing one of its jobs.
        Running = "running",
        /// Asked to pause; its worker stops at the end of the step it is in.
        Pausing = "pausing",
        /// Paused; nothing is done until it is resumed.
        Paused = "paused",
        /// Its worker stopped answering; another claims it after the lease.
        Interrupted = "interrupted",
        /// Asked to cancel; its worker stops at the end of the step it is in.
        Cancelling = "cancelling",
        /// Cancelled before it finished.
        Cancelled = "cancelled",
        /// Every job finished.
        Succeeded = "succeeded",
        /// A job failed.
        Errored = "errored",
    }
);

impl RunStatus {
    /// Whether the run is over: nothing changes it any more.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Cancelled | Self::Succeeded | Self::Errored)
    }

    /// Whether a worker may claim the run's jobs.
    pub const fn is_claimable(self) -> bool {
        matches!(self, Self::Enqueued | Self::Running | Self::Interrupted)
    }

    /// Whether a run in this status may pass to `next` (the diagram of the
    /// module's documentation).
    pub fn can_become(self, next: Self) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (Enqueued, Running | Paused | Cancelled)
                | (Running, Pausing | Paused | Cancelling | Cancelled | Interrupted | Succeeded | Errored)
                | (Pausing, Paused | Running | Cancelling | Interrupted | Succeeded | Errored)
                | (Paused, Enqueued | Cancelled)
                | (Interrupted, Running | Paused | Cancelled | Enqueued)
                | (Cancelling, Cancelled | Interrupted | Succeeded | Errored)
        )
    }

    /// The status a run passes to on `request`, or the refusal
    /// (`run_not_controllable`, naming the status).
    pub fn on_request(self, request: RunRequest) -> Result<Self, Error> {
        use RunStatus::*;
        let next = match (request, self) {
            (RunRequest::Pause, Enqueued | Interrupted) => Paused,
            (RunRequest::Pause, Running) => Pausing,
            (RunRequest::Resume, Paused | Interrupted) => Enqueued,
            (RunRequest::Resume, Pausing) => Running,
            (RunRequest::Cancel, Enqueued | Paused | Interrupted) => Cancelled,
            (RunRequest::Cancel, Running | Pausing) => Cancelling,
            _ => {
                return Err(Error::conflict_with_detail(
                    ConflictCode::RunNotControllable,
                    format!("a run that is {self} cannot be {}", request.past_participle()),
                ));
            }
        };
        debug_assert!(self.can_become(next), "{self} -> {next}");
        Ok(next)
    }
}

/// What an operator asks of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunRequest {
    /// Stop after the current step, keeping its place.
    Pause,
    /// Go on from where it stopped.
    Resume,
    /// Stop after the current step, for good.
    Cancel,
}

impl RunRequest {
    fn past_participle(self) -> &'static str {
        match self {
            Self::Pause => "paused",
            Self::Resume => "resumed",
            Self::Cancel => "cancelled",
        }
    }
}

/// A short lower-case name: a run's kind (`retrofit.backfill`), a job's,
/// or a unit of work's (a table's name). 1 to 64 ASCII letters, digits and
/// `. _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkName(String);

impl WorkName {
    /// The rule, for error messages.
    pub const RULE: &'static str = "must be 1 to 64 ASCII letters, digits and . _ -";

    /// Validates a name.
    pub fn parse(input: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if input.is_empty() || input.len() > MAX_NAME_CHARS || !input.chars().all(allowed) {
            return Err(Self::RULE.to_owned());
        }
        Ok(Self(input.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<WorkName> for String {
    fn from(name: WorkName) -> Self {
        name.0
    }
}

impl std::fmt::Display for WorkName {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The progress of one unit of work (for a backfill, one table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitProgress {
    /// The unit's name.
    pub unit: String,
    /// How many items it has, when known.
    pub total: Option<u64>,
    /// Items looked at.
    pub scanned: u64,
    /// Items that needed work.
    pub missing: u64,
    /// Items changed.
    pub updated: u64,
    /// Whether the unit is finished.
    pub done: bool,
}

/// What it takes to start a run.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// What kind of work it is.
    pub kind: WorkName,
    /// Its parameters, secrets already masked: what lists and the audit log
    /// show.
    pub parameters: serde_json::Value,
    /// The tenant it acts on, if one: a record, not an owner (runs are the
    /// platform's).
    pub target_tenant_id: Option<TenantId>,
    /// The pause between steps, in milliseconds.
    pub throttle_ms: u32,
    /// Its jobs, each with the input it starts from.
    pub jobs: Vec<NewJob>,
}

/// One job of a new run.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What the job does; the worker's handler for it is found by this.
    pub kind: WorkName,
    /// Its input, which it keeps; its checkpoint starts empty.
    pub payload: serde_json::Value,
}

/// An operation run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRun {
    /// The run's id.
    pub id: RunId,
    /// What kind of work it is.
    pub kind: WorkName,
    /// Its parameters, secrets masked.
    pub parameters: serde_json::Value,
    /// The tenant it acts on, if one: a record, not an owner (runs are the
    /// platform's).
    pub target_tenant_id: Option<TenantId>,
    /// Who started it (a user id; none when tenantry or an operator's CLI
    /// did).
    pub started_by: Option<String>,
    /// Where it stands.
    pub status: RunStatus,
    /// Progress per unit of work, in the order the jobs report them.
    pub progress: Vec<UnitProgress>,
    /// Where its last step ended, as its job put it.
    pub cursor: Option<String>,
    /// The pause between steps, in milliseconds.
    pub throttle_ms: u32,
    /// How many jobs it has, and how many finished.
    pub jobs_total: u32,
    /// How many of its jobs finished.
    pub jobs_done: u32,
    /// When it was created.
    pub created_at: Timestamp,
    /// When a worker first started it.
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal status.
    pub finished_at: Option<Timestamp>,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Why it errored, or was interrupted last.
    pub error: Option<String>,
}

impl OperationRun {
    /// Its id as the key of a newest-first list cursor.
    pub fn cursor_key(&self) -> crate::decision::RecordKey {
        crate::decision::RecordKey::parse(&self.id.to_string()).expect("a run id is a valid record key")
    }

    /// The items scanned over every unit.
    pub fn scanned(&self) -> u64 {
        self.progress.iter().map(|unit| unit.scanned).sum()
    }

    /// Items scanned per second since it started, up to `now` (or its end).
    pub fn throughput(&self, now: Timestamp) -> Option<f64> {
        let started = self.started_at?;
        let until = self.finished_at.unwrap_or(now);
        let seconds = (until - started).num_milliseconds() as f64 / 1000.0;
        (seconds > 0.0).then(|| self.scanned() as f64 / seconds)
    }

    /// How long the rest should take at the throughput so far, when every
    /// unit's total is known.
    pub fn eta(&self, now: Timestamp) -> Option<Duration> {
        if self.status.is_terminal() {
            return None;
        }
        let total: u64 = self.progress.iter().map(|unit| unit.total).sum::<Option<u64>>()?;
        let rate = self.throughput(now)?;
        let left = total.saturating_sub(self.scanned()) as f64;
        (rate > 0.0).then(|| Duration::milliseconds((left / rate * 1000.0) as i64))
    }

    /// Merges a job's report of its units into the run's progress: units
    /// are replaced by name, new ones appended.
    pub fn absorb(&mut self, units: &[UnitProgress]) {
        for unit in units {
            match self.progress.iter_mut().find(|known| known.unit == unit.unit) {
                Some(known) => *known = unit.clone(),
                None => self.progress.push(unit.clone()),
            }
        }
    }

    /// The run with its status changed to `next`, stamped at `at`; a
    /// terminal status sets `finished_at`, the first `running` sets
    /// `started_at`. Refuses a change the diagram does not have.
    pub fn with_status(mut self, next: RunStatus, at: Timestamp) -> Result<Self, Error> {
        if self.status == next {
            return Ok(self);
        }
        if !self.status.can_become(next) {
            return Err(Error::conflict_with_detail(
                ConflictCode::RunNotControllable,
                format!("a run that is {} cannot become {next}", self.status),
            ));
        }
        self.status = next;
        self.updated_at = at;
        if next == RunStatus::Running && self.started_at.is_none() {
            self.started_at = Some(at);
        }
        if next.is_terminal() {
            self.finished_at = Some(at);
        }
        Ok(self)
    }
}

text_enum!(
    /// Where one job stands.
    JobState, {
        /// Waiting for a worker (or held while its run is paused).
        Queued = "queued",
        /// Claimed by a worker under a lease.
        Running = "running",
        /// Finished.
        Done = "done",
        /// Failed; its run errored.
        Failed = "failed",
        /// Dropped with its cancelled run.
        Cancelled = "cancelled",
    }
);

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// Its run.
    pub run_id: RunId,
    /// What it does.
    pub kind: WorkName,
    /// Its input.
    pub payload: serde_json::Value,
    /// Where it stands.
    pub state: JobState,
    /// Where its last committed step ended; null before the first.
    pub checkpoint: serde_json::Value,
    /// How many times it was claimed.
    pub attempts: u32,
    /// The fencing token of its latest claim.
    pub fencing_token: i64,
}

/// A worker's hold on a job: its claim's fencing token and deadline. Every
/// write under it checks the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// Its run.
    pub run_id: RunId,
    /// The worker holding it.
    pub worker: String,
    /// The claim's fencing token: larger than every earlier claim's.
    pub token: i64,
    /// When it runs out unless extended.
    pub expires_at: Timestamp,
}

/// A claimed job, with its run and the lease to work under.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The job, as claimed (its checkpoint is where to resume).
    pub job: Job,
    /// Its run, after the claim.
    pub run: OperationRun,
    /// The lease.
    pub lease: Lease,
}

/// One step a job commits under its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Where the job is now; it resumes from here if claimed again.
    pub checkpoint: serde_json::Value,
    /// The job's units, as they stand.
    pub progress: Vec<UnitProgress>,
    /// The run's cursor, for people.
    pub cursor: Option<String>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// It did all its work.
    Done,
    /// It failed; its run errors with this message.
    Failed(String),
    /// It stopped because its run is pausing or cancelling; it keeps its
    /// checkpoint and goes back to the queue (or is dropped, when
    /// cancelled).
    Yielded,
    /// It is to be tried again at the given time (a delivery that failed):
    /// it keeps its checkpoint and waits in the queue until then.
    RetryAt(Timestamp),
}

/// The refusal every write under a lost lease gets.
pub fn lease_lost(lease: &Lease) -> Error {
    Error::conflict_with_detail(
        ConflictCode::LeaseLost,
        format!("job {} is no longer held with fencing token {}", lease.job_id, lease.token),
    )
}

/// A run's status after one of its jobs ended: `done` with every job done
/// succeeds it; `failed` errors it; a yielded job pauses a pausing run and
/// cancels a cancelling one. Otherwise it stays.
pub fn status_after(run: &OperationRun, end: &JobEnd, jobs_left: u32) -> RunStatus {
    match (end, run.status) {
        (JobEnd::Failed(_), _) => RunStatus::Errored,
        (JobEnd::Done, RunStatus::Cancelling) if jobs_left > 0 => RunStatus::Cancelled,
        (JobEnd::Done, RunStatus::Pausing) if jobs_left > 0 => RunStatus::Paused,
        (JobEnd::Done, _) if jobs_left == 0 => RunStatus::Succeeded,
        (JobEnd::Yielded | JobEnd::RetryAt(_), RunStatus::Pausing) => RunStatus::Paused,
        (JobEnd::Yielded | JobEnd::RetryAt(_), RunStatus::Cancelling) => RunStatus::Cancelled,
        (JobEnd::Yielded, RunStatus::Running) => RunStatus::Interrupted,
        (_, status) => status,
    }
}

/// A run after an operator's request: [`RunStatus::on_request`], where a
/// run none of whose jobs is running pauses or cancels at once rather than
/// waiting for a worker to yield.
pub fn after_request(
    run: OperationRun,
    request: RunRequest,
    job_running: bool,
    at: Timestamp,
) -> Result<OperationRun, Error> {
    let next = match run.status.on_request(request)? {
        RunStatus::Pausing if !job_running => RunStatus::Paused,
        RunStatus::Cancelling if !job_running => RunStatus::Cancelled,
        next => next,
    };
    run.with_status(next, at)
}

/// What ending a job writes: the run after it, the job's new state, and
/// whether the run's other unfinished jobs are dropped (`cancelled`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobEnding {
    /// The run after the job ended.
    pub run: OperationRun,
    /// The job's state after it ended.
    pub job_state: JobState,
    /// Whether the run's other queued jobs are dropped.
    pub drop_queued: bool,
    /// When the job, queued again, may be claimed.
    pub available_at: Timestamp,
}

/// Plans the end of one of a run's jobs ([`status_after`]); a lease that
/// ran out ends its job as [`JobEnd::Yielded`] does.
pub fn after_job_end(mut run: OperationRun, end: &JobEnd, at: Timestamp) -> Result<JobEnding, Error> {
    match end {
        JobEnd::Done => run.jobs_done = (run.jobs_done + 1).min(run.jobs_total),
        JobEnd::Failed(message) => run.error = Some(message.clone()),
        JobEnd::Yielded | JobEnd::RetryAt(_) => {}
    }
    let next = status_after(&run, end, run.jobs_total - run.jobs_done);
    let job_state = match end {
        JobEnd::Done => JobState::Done,
        JobEnd::Failed(_) => JobState::Failed,
        JobEnd::Yielded | JobEnd::RetryAt(_) if next == RunStatus::Cancelled => JobState::Cancelled,
        JobEnd::Yielded | JobEnd::RetryAt(_) => JobState::Queued,
    };
    let available_at = match end {
        JobEnd::RetryAt(later) => (*later).max(at),
        _ => at,
    };
    let run = run.with_status(next, at)?;
    let drop_queued = matches!(run.status, RunStatus::Cancelled | RunStatus::Errored);
    Ok(JobEnding { run, job_state, drop_queued, available_at })
}

/// A database URL as a run's parameters, logs and errors show it: the
/// password of its user info and the value of any query parameter whose
/// name holds `password` replaced by `****`. A URL that does not parse
/// keeps its scheme and what follows its last `@`.
pub fn masked_url(url: &str) -> String {
    const MASK: &str = "****";
    let Ok(mut parsed) = url::Url::parse(url) else {
        return match (url.split_once("://"), url.rfind('@')) {
            (Some((scheme, _)), Some(at)) => format!("{scheme}://{MASK}@{}", &url[at + 1..]),
            _ => url.to_owned(),
        };
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(MASK));
    }
    if parsed.query_pairs().any(|(name, _)| name.contains("password")) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if name.contains("password") { MASK.to_owned() } else { value.into_owned() };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Validates a throttle.
pub fn throttle(milliseconds: i64) -> Result<u32, String> {
    u32::try_from(milliseconds)
        .ok()
        .filter(|ms| *ms <= MAX_THROTTLE_MS)
        .ok_or_else(|| format!("must be from 0 to {MAX_THROTTLE_MS} milliseconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: RunStatus) -> OperationRun {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        OperationRun {
            id: RunId::generate(),
            kind: WorkName::parse("test.count").unwrap(),
            parameters: serde_json::json!({}),
            target_tenant_id: None,
            started_by: None,
            status,
            progress: Vec::new(),
            cursor: None,
            throttle_ms: 0,
            jobs_total: 2,
            jobs_done: 0,
            created_at: at,
            started_at: None,
            finished_at: None,
            updated_at: at,
            error: None,
        }
    }

    #[test]
    fn database_urls_lose_their_passwords() {
        assert_eq!(masked_url("postgres://app:secret@db/app"), "postgres://app:****@db/app");
        assert_eq!(
            masked_url("postgres://app@db/app?sslmode=require&password=secret"),
            "postgres://app@db/app?sslmode=require&password=****"
        );
        assert_eq!(masked_url("sqlite:///var/lib/app.db"), "sqlite:///var/lib/app.db");
        assert_eq!(masked_url("postgres://app:se cret@db:x/app"), "postgres://****@db:x/app");
    }

    #[test]
    fn requests_follow_the_diagram() {
        use RunStatus::*;
        let cases = [
            (Enqueued, RunRequest::Pause, Some(Paused)),
            (Running, RunRequest::Pause, Some(Pausing)),
            (Paused, RunRequest::Resume, Some(Enqueued)),
            (Pausing, RunRequest::Resume, Some(Running)),
            (Interrupted, RunRequest::Resume, Some(Enqueued)),
            (Running, RunRequest::Cancel, Some(Cancelling)),
            (Paused, RunRequest::Cancel, Some(Cancelled)),
            (Succeeded, RunRequest::Cancel, None),
            (Cancelled, RunRequest::Resume, None),
            (Running, RunRequest::Resume, None),
            (Paused, RunRequest::Pause, None),
        ];
        for (status, request, expected) in cases {
            assert_eq!(status.on_request(request).ok(), expected, "{status} on {request:?}");
        }
        for status in RunStatus::ALL {
            if status.is_terminal() {
                assert!(RunStatus::ALL.iter().all(|next| !status.can_become(*next)), "{status} is final");
            }
        }
    }

    #[test]
    fn ends_of_jobs_move_the_run() {
        let running = run(RunStatus::Running);
        assert_eq!(status_after(&running, &JobEnd::Done, 1), RunStatus::Running);
        assert_eq!(status_after(&running, &JobEnd::Done, 0), RunStatus::Succeeded);
        assert_eq!(status_after(&running, &JobEnd::Failed("x".into()), 1), RunStatus::Errored);
        assert_eq!(status_after(&run(RunStatus::Pausing), &JobEnd::Yielded, 1), RunStatus::Paused);
        assert_eq!(status_after(&run(RunStatus::Cancelling), &JobEnd::Yielded, 1), RunStatus::Cancelled);
        assert_eq!(status_after(&run(RunStatus::Pausing), &JobEnd::Done, 1), RunStatus::Paused);
        assert_eq!(status_after(&run(RunStatus::Pausing), &JobEnd::Done, 0), RunStatus::Succeeded);
        assert_eq!(status_after(&running, &JobEnd::Yielded, 1), RunStatus::Interrupted);
        let later = running.created_at + Duration::seconds(30);
        assert_eq!(status_after(&running, &JobEnd::RetryAt(later), 1), RunStatus::Running);
        let retried = after_job_end(running.clone(), &JobEnd::RetryAt(later), running.created_at).unwrap();
        assert_eq!((retried.job_state, retried.available_at), (JobState::Queued, later));
        let at = running.created_at;
        let cancelled = after_job_end(run(RunStatus::Cancelling), &JobEnd::Yielded, at).unwrap();
        assert_eq!(
            (cancelled.run.status, cancelled.job_state, cancelled.drop_queued),
            (RunStatus::Cancelled, JobState::Cancelled, true)
        );
        let first = after_job_end(running.clone(), &JobEnd::Done, at).unwrap();
        assert_eq!(
            (first.run.status, first.run.jobs_done, first.job_state),
            (RunStatus::Running, 1, JobState::Done)
        );
        let last = after_job_end(first.run, &JobEnd::Done, at).unwrap();
        assert_eq!((last.run.status, last.run.jobs_done), (RunStatus::Succeeded, 2));
        let failed = after_job_end(running.clone(), &JobEnd::Failed("disk full".into()), at).unwrap();
        assert_eq!(
            (failed.run.status, failed.run.error.as_deref(), failed.drop_queued),
            (RunStatus::Errored, Some("disk full"), true)
        );
        // Between jobs, a pause or a cancel takes effect at once.
        assert_eq!(
            after_request(running.clone(), RunRequest::Pause, false, at).unwrap().status,
            RunStatus::Paused
        );
        assert_eq!(
            after_request(running.clone(), RunRequest::Pause, true, at).unwrap().status,
            RunStatus::Pausing
        );
        assert_eq!(
            after_request(running, RunRequest::Cancel, false, at).unwrap().status,
            RunStatus::Cancelled
        );
    }

    #[test]
    fn progress_gives_throughput_and_eta() {
        let mut started = run(RunStatus::Running);
        let at = started.created_at;
        started = started.with_status(RunStatus::Running, at).unwrap();
        started.started_at = Some(at);
        started.absorb(&[UnitProgress {
            unit: "a".into(),
            total: Some(300),
            scanned: 100,
            ..Default::default()
        }]);
        started.absorb(&[UnitProgress {
            unit: "b".into(),
            total: Some(100),
            scanned: 0,
            ..Default::default()
        }]);
        started.absorb(&[UnitProgress {
            unit: "a".into(),
            total: Some(300),
            scanned: 200,
            ..Default::default()
        }]);
        assert_eq!(started.progress.len(), 2);
        let later = at + Duration::seconds(10);
        assert_eq!(started.throughput(later), Some(20.0));
        assert_eq!(started.eta(later), Some(Duration::seconds(10)));
        let finished = started.with_status(RunStatus::Succeeded, later).unwrap();
        assert_eq!(finished.finished_at, Some(later));
        assert!(finished.clone().with_status(RunStatus::Running, later).is_err());
        assert_eq!(finished.eta(later), None);
    }

    #[test]
    fn names_and_throttles_have_rules() {
        assert!(WorkName::parse("retrofit.backfill").is_ok());
        for bad in ["", "has space", "é", &"x".repeat(65)] {
            assert!(WorkName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(throttle(250), Ok(250));
        assert!(throttle(-1).is_err());
        assert!(throttle(60_001).is_err());
    }
}
