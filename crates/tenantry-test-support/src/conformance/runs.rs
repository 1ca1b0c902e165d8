//! Conformance cases for operation runs and their jobs: claims, steps and
//! ends under a lease, fencing (a worker that lost its lease commits
//! nothing), pause, resume and cancel, expired leases, failures, and
//! concurrent claimers that never share a job.

use chrono::Duration;
use tenantry_core::operation_run::{
    JobEnd, JobState, NewJob, NewRun, RunRequest, RunStatus, Step, UnitProgress, WorkName,
};

use super::*;

fn new_run(jobs: usize) -> NewRun {
    NewRun {
        kind: WorkName::parse("test.count").unwrap(),
        parameters: serde_json::json!({ "to": 30, "database_url": "postgres://app@db.internal/app" }),
        target_tenant_id: None,
        throttle_ms: 0,
        jobs: (0..jobs)
            .map(|index| NewJob {
                kind: WorkName::parse("test.count").unwrap(),
                payload: serde_json::json!({ "unit": format!("unit-{index}"), "to": 30 }),
            })
            .collect(),
    }
}

fn step(unit: &str, scanned: u64, checkpoint: u64) -> Step {
    Step {
        checkpoint: serde_json::json!({ "after": checkpoint }),
        progress: vec![UnitProgress {
            unit: unit.to_owned(),
            total: Some(30),
            scanned,
            missing: scanned,
            updated: scanned,
            done: scanned == 30,
        }],
        cursor: Some(format!("{unit}:{checkpoint}")),
    }
}

fn conflict(result: Result<impl std::fmt::Debug, Error>) -> ConflictCode {
    match result {
        Err(Error::Conflict { code, .. }) => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn ops() -> PlatformScope {
    PlatformScope::operator_cli()
}

/// A run's jobs are claimed in order, step by step, and the run succeeds
/// when the last is done; every status change is in the platform's log.
async fn a_run_is_claimed_stepped_and_finished(backend: &TestBackend) {
    let store = &backend.store;
    let at = tenantry_core::now();
    let log = PartitionScope::Platform(ops());
    let head = store.audit_head(&log).await.unwrap().size();
    let run = store.create_run(&ops(), new_run(2), at).await.unwrap();
    assert_eq!((run.status, run.jobs_total, run.jobs_done), (RunStatus::Enqueued, 2, 0));
    let jobs = store.run_jobs(&ops(), &run.id).await.unwrap();
    assert_eq!(jobs.iter().map(|job| job.state).collect::<Vec<_>>(), [JobState::Queued, JobState::Queued]);
    assert_eq!(jobs[1].payload["unit"], "unit-1");

    let first = store.claim_job(&ops(), "worker-a", Duration::seconds(30), at).await.unwrap().unwrap();
    assert_eq!(first.job.id, jobs[0].id, "the first job first");
    assert_eq!((first.run.status, first.lease.token, first.job.attempts), (RunStatus::Running, 1, 1));
    assert_eq!(first.job.checkpoint, serde_json::Value::Null);
    let stepped = store.commit_step(&ops(), &first.lease, step("unit-0", 10, 10), at).await.unwrap();
    assert_eq!((stepped.scanned(), stepped.cursor.as_deref()), (10, Some("unit-0:10")));
    let (renewed, seen) = store
        .renew_lease(&ops(), &first.lease, Duration::seconds(30), at + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(seen.status, RunStatus::Running);
    assert!(renewed.expires_at > first.lease.expires_at);
    store.commit_step(&ops(), &renewed, step("unit-0", 30, 30), at).await.unwrap();
    let after_first = store.end_job(&ops(), &renewed, JobEnd::Done, at).await.unwrap();
    assert_eq!((after_first.status, after_first.jobs_done), (RunStatus::Running, 1));

    let second = store.claim_job(&ops(), "worker-b", Duration::seconds(30), at).await.unwrap().unwrap();
    assert_eq!(second.job.id, jobs[1].id);
    store.commit_step(&ops(), &second.lease, step("unit-1", 30, 30), at).await.unwrap();
    let finished =
        store.end_job(&ops(), &second.lease, JobEnd::Done, at + Duration::seconds(9)).await.unwrap();
    assert_eq!((finished.status, finished.jobs_done, finished.scanned()), (RunStatus::Succeeded, 2, 60));
    assert_eq!(finished.finished_at, Some(at + Duration::seconds(9)));
    assert!(store.claim_job(&ops(), "worker-a", Duration::seconds(30), at).await.unwrap().is_none());
    assert_eq!(store.get_run(&ops(), &run.id).await.unwrap(), finished);

    let events = store.audit_events_after(&log, head, 10).await.unwrap();
    let actions: Vec<String> =
        events.iter().map(|event| event.event().unwrap().action().to_owned()).collect();
    assert_eq!(actions, ["operation.created", "operation.status_changed", "operation.finished"]);
    let last: serde_json::Value = serde_json::from_str(&events[2].body).unwrap();
    assert_eq!(last["changes"]["duration_ms"]["after"], 9000);
    let listed = store.list_runs(&ops(), PageRequest::first()).await.unwrap();
    assert_eq!(listed.items[0].id, run.id);
}

/// A worker whose lease ran out and whose job was claimed again commits
/// nothing more; the new claimant resumes from the last committed step.
async fn a_lost_lease_commits_nothing(backend: &TestBackend) {
    let store = &backend.store;
    let at = tenantry_core::now();
    store.create_run(&ops(), new_run(1), at).await.unwrap();
    let old = store.claim_job(&ops(), "worker-old", Duration::seconds(1), at).await.unwrap().unwrap();
    store.commit_step(&ops(), &old.lease, step("unit-0", 10, 10), at).await.unwrap();
    assert!(
        store.claim_job(&ops(), "worker-new", Duration::seconds(30), at).await.unwrap().is_none(),
        "a held lease keeps its job"
    );
    let later = at + Duration::seconds(2);
    let new = store.claim_job(&ops(), "worker-new", Duration::seconds(30), later).await.unwrap().unwrap();
    assert_eq!(new.job.id, old.job.id);
    assert_eq!((new.lease.token, new.job.attempts), (2, 2));
    assert_eq!(new.job.checkpoint, serde_json::json!({ "after": 10 }), "it resumes from the last step");
    for result in [
        store.commit_step(&ops(), &old.lease, step("unit-0", 20, 20), later).await.map(|_| ()),
        store.renew_lease(&ops(), &old.lease, Duration::seconds(30), later).await.map(|_| ()),
        store.end_job(&ops(), &old.lease, JobEnd::Done, later).await.map(|_| ()),
    ] {
        assert_eq!(conflict(result), ConflictCode::LeaseLost);
    }
    let run = store.get_run(&ops(), &new.run.id).await.unwrap();
    assert_eq!((run.scanned(), run.status), (10, RunStatus::Running), "the old worker changed nothing");
    store.commit_step(&ops(), &new.lease, step("unit-0", 30, 30), later).await.unwrap();
    let done = store.end_job(&ops(), &new.lease, JobEnd::Done, later).await.unwrap();
    assert_eq!((done.status, done.scanned()), (RunStatus::Succeeded, 30));
}

/// Pause, resume and cancel do what they say, between jobs at once and
/// during one when its worker yields; a cancelled run cannot be resumed.
async fn pause_resume_and_cancel(backend: &TestBackend) {
    let store = &backend.store;
    let at = tenantry_core::now();
    let lease = Duration::seconds(30);
    let run = store.create_run(&ops(), new_run(2), at).await.unwrap();
    let paused = store.request_run(&ops(), &run.id, RunRequest::Pause, at).await.unwrap();
    assert_eq!(paused.status, RunStatus::Paused);
    assert!(store.claim_job(&ops(), "w", lease, at).await.unwrap().is_none(), "a paused run's jobs are held");
    assert_eq!(
        store.request_run(&ops(), &run.id, RunRequest::Resume, at).await.unwrap().status,
        RunStatus::Enqueued
    );

    let claimed = store.claim_job(&ops(), "w", lease, at).await.unwrap().unwrap();
    store.commit_step(&ops(), &claimed.lease, step("unit-0", 10, 10), at).await.unwrap();
    let pausing = store.request_run(&ops(), &run.id, RunRequest::Pause, at).await.unwrap();
    assert_eq!(pausing.status, RunStatus::Pausing);
    let (_, seen) = store.renew_lease(&ops(), &claimed.lease, lease, at).await.unwrap();
    assert_eq!(seen.status, RunStatus::Pausing, "the worker learns of the pause");
    let yielded = store.end_job(&ops(), &claimed.lease, JobEnd::Yielded, at).await.unwrap();
    assert_eq!(yielded.status, RunStatus::Paused);
    assert!(store.claim_job(&ops(), "w", lease, at).await.unwrap().is_none());
    store.request_run(&ops(), &run.id, RunRequest::Resume, at).await.unwrap();
    let again = store.claim_job(&ops(), "w", lease, at).await.unwrap().unwrap();
    assert_eq!(again.job.id, claimed.job.id, "the paused job goes on");
    assert_eq!(again.job.checkpoint, serde_json::json!({ "after": 10 }));

    assert_eq!(
        store.request_run(&ops(), &run.id, RunRequest::Cancel, at).await.unwrap().status,
        RunStatus::Cancelling
    );
    let cancelled = store.end_job(&ops(), &again.lease, JobEnd::Yielded, at).await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());
    let states: Vec<JobState> =
        store.run_jobs(&ops(), &run.id).await.unwrap().iter().map(|job| job.state).collect();
    assert_eq!(states, [JobState::Cancelled, JobState::Cancelled]);
    assert_eq!(
        conflict(store.request_run(&ops(), &run.id, RunRequest::Resume, at).await),
        ConflictCode::RunNotControllable
    );
    assert_eq!(
        conflict(store.set_run_throttle(&ops(), &run.id, 100, at).await),
        ConflictCode::RunNotControllable
    );
    assert!(matches!(
        store.get_run(&ops(), &tenantry_core::RunId::generate()).await,
        Err(Error::NotFound { .. })
    ));
}

/// A lease that runs out interrupts its run (the sweep); the job is
/// claimed again; a failed job errors its run and drops the others.
async fn expired_leases_interrupt_and_failures_error(backend: &TestBackend) {
    let store = &backend.store;
    let at = tenantry_core::now();
    let run = store.create_run(&ops(), new_run(3), at).await.unwrap();
    let throttled = store.set_run_throttle(&ops(), &run.id, 250, at).await.unwrap();
    assert_eq!(throttled.throttle_ms, 250);
    store.claim_job(&ops(), "dies", Duration::seconds(1), at).await.unwrap().unwrap();
    assert_eq!(store.interrupt_expired(&ops(), at).await.unwrap(), 0, "not yet");
    let later = at + Duration::seconds(5);
    assert_eq!(store.interrupt_expired(&ops(), later).await.unwrap(), 1);
    let interrupted = store.get_run(&ops(), &run.id).await.unwrap();
    assert_eq!(interrupted.status, RunStatus::Interrupted);
    assert!(interrupted.error.as_deref().unwrap().contains("stopped renewing"), "{interrupted:?}");
    let reclaimed = store.claim_job(&ops(), "lives", Duration::seconds(30), later).await.unwrap().unwrap();
    assert_eq!((reclaimed.run.status, reclaimed.job.attempts), (RunStatus::Running, 2));
    let errored =
        store.end_job(&ops(), &reclaimed.lease, JobEnd::Failed("disk full".to_owned()), later).await.unwrap();
    assert_eq!((errored.status, errored.error.as_deref()), (RunStatus::Errored, Some("disk full")));
    let states: Vec<JobState> =
        store.run_jobs(&ops(), &run.id).await.unwrap().iter().map(|job| job.state).collect();
    assert_eq!(states, [JobState::Failed, JobState::Cancelled, JobState::Cancelled]);
    assert!(store.claim_job(&ops(), "lives", Duration::seconds(30), later).await.unwrap().is_none());
}

/// A job that asks to be tried again later waits in the queue until then,
/// with its checkpoint, while its run stays running.
async fn a_retried_job_waits_for_its_time(backend: &TestBackend) {
    let store = &backend.store;
    let at = tenantry_core::now();
    let run = store.create_run(&ops(), new_run(1), at).await.unwrap();
    let first = store.claim_job(&ops(), "w", Duration::seconds(30), at).await.unwrap().unwrap();
    store.commit_step(&ops(), &first.lease, step("unit-0", 1, 1), at).await.unwrap();
    let later = at + Duration::seconds(30);
    let waiting = store.end_job(&ops(), &first.lease, JobEnd::RetryAt(later), at).await.unwrap();
    assert_eq!((waiting.status, waiting.jobs_done), (RunStatus::Running, 0));
    assert!(
        store
            .claim_job(&ops(), "w", Duration::seconds(30), at + Duration::seconds(10))
            .await
            .unwrap()
            .is_none()
    );
    let again = store.claim_job(&ops(), "w", Duration::seconds(30), later).await.unwrap().unwrap();
    assert_eq!((again.job.id, again.job.attempts), (first.job.id, 2));
    assert_eq!(again.job.checkpoint, serde_json::json!({ "after": 1 }));
    let done = store.end_job(&ops(), &again.lease, JobEnd::Done, later).await.unwrap();
    assert_eq!((done.id, done.status), (run.id, RunStatus::Succeeded));
}

/// Claimers racing each other never get the same job.
async fn concurrent_claimers_never_share_a_job(backend: &TestBackend) {
    let at = tenantry_core::now();
    backend.store.create_run(&ops(), new_run(24), at).await.unwrap();
    let mut claimers = JoinSet::new();
    for worker in 0..4 {
        let store = backend.store.clone();
        claimers.spawn(async move {
            let mut claimed = Vec::new();
            while let Some(job) =
                store.claim_job(&ops(), &format!("worker-{worker}"), Duration::seconds(60), at).await.unwrap()
            {
                store.end_job(&ops(), &job.lease, JobEnd::Done, at).await.unwrap();
                claimed.push(job.job.id);
            }
            claimed
        });
    }
    let mut all = Vec::new();
    while let Some(claimed) = claimers.join_next().await {
        all.extend(claimed.unwrap());
    }
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!((count, all.len()), (24, 24), "every job once");
}

crate::conformance::cases!(
    CASES,
    a_run_is_claimed_stepped_and_finished,
    a_lost_lease_commits_nothing,
    pause_resume_and_cancel,
    expired_leases_interrupt_and_failures_error,
    a_retried_job_waits_for_its_time,
    concurrent_claimers_never_share_a_job,
);
