//! The job queue's claim throughput, on both backends.
//!
//! Run: `cargo bench -p tenantry-bench --bench job_queue` (`-- sqlite` or
//! `-- postgres` for one backend; `JOB_QUEUE_BENCH_JOBS` sets the jobs per
//! run, 4,000 unless given). PostgreSQL runs on a throwaway database of
//! the server of `TENANTRY_TEST_POSTGRES_URL`, the store as the server
//! connects, and is skipped with a printed line when the server cannot be
//! reached.
//!
//! Measured, per backend, in one run: jobs claimed and ended (done) per
//! second by one worker, and by four workers at once on one run's jobs;
//! and the ratio of the two. Each claim and each end is its own
//! transaction with the fencing check, as a real worker's are; the jobs do
//! nothing else, so this is the queue's own cost.

use std::sync::Arc;
use std::time::Instant;

use tenantry_bench::timing::{rate, report_rate, report_rate_ratio};
use tenantry_core::operation_run::{JobEnd, NewJob, NewRun, WorkName};
use tenantry_core::{PlatformScope, Store};

fn new_run(jobs: usize) -> NewRun {
    let kind = WorkName::parse("bench.noop").expect("name");
    NewRun {
        kind: kind.clone(),
        parameters: serde_json::json!({}),
        target_tenant_id: None,
        throttle_ms: 0,
        jobs: (0..jobs).map(|_| NewJob { kind: kind.clone(), payload: serde_json::json!({}) }).collect(),
    }
}

/// Drains one run of `jobs` jobs with `workers` concurrent workers;
/// returns jobs per second.
async fn drain(store: &Arc<dyn Store>, jobs: usize, workers: usize) -> f64 {
    let platform = PlatformScope::operator_cli();
    store.create_run(&platform, new_run(jobs), tenantry_core::now()).await.expect("run");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let platform = PlatformScope::operator_cli();
            let name = format!("bench-{worker}");
            let lease = chrono::Duration::seconds(60);
            let mut done = 0usize;
            while let Some(claimed) =
                store.claim_job(&platform, &name, lease, tenantry_core::now()).await.expect("claim")
            {
                store
                    .end_job(&platform, &claimed.lease, JobEnd::Done, tenantry_core::now())
                    .await
                    .expect("end");
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("worker");
    }
    assert_eq!(total, jobs, "every job once");
    rate(jobs, started.elapsed())
}

async fn bench(name: &str, store: Arc<dyn Store>, jobs: usize) {
    let one = drain(&store, jobs, 1).await;
    report_rate(&format!("{name}: claim + end, 1 worker"), jobs, one, "jobs/s");
    let four = drain(&store, jobs, 4).await;
    report_rate(&format!("{name}: claim + end, 4 workers"), jobs, four, "jobs/s");
    report_rate_ratio(&format!("{name}: 4 workers / 1 worker"), four, one);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let only: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|arg| arg == name);
    let jobs: usize =
        std::env::var("JOB_QUEUE_BENCH_JOBS").ok().and_then(|value| value.parse().ok()).unwrap_or(4_000);
    runtime.block_on(async {
        if wanted("sqlite") {
            let directory = tempfile::tempdir().expect("temporary directory");
            let store = tenantry_store_sqlite::SqliteStore::open(&directory.path().join("bench.db"))
                .await
                .expect("open");
            store.migrate().await.expect("migrate");
            bench("sqlite", Arc::new(store), jobs).await;
        }
        if wanted("postgres") {
            match tenantry_test_support::postgres::PostgresTestDb::create().await {
                Some(database) => {
                    let store: Arc<dyn Store> = Arc::new(database.server_store().await);
                    bench("postgres", store, jobs).await;
                }
                None => println!("postgres: skipped (no server at TENANTRY_TEST_POSTGRES_URL)"),
            }
        }
    });
}
