//! The retrofit's backfill against the one `UPDATE ... FROM` a person
//! would write by hand, on both backends.
//!
//! Run: `cargo bench -p tenantry-bench --bench retrofit` (`-- sqlite` or
//! `-- postgres` for one backend). `RETROFIT_BENCH_ROWS` sets the rows per
//! table (1,000,000 unless given). PostgreSQL runs on a throwaway database
//! of the server of `TENANTRY_TEST_POSTGRES_URL` and is skipped with a
//! printed line when the server cannot be reached.
//!
//! Measured, per backend, in one run, on two identical tables of ROWS rows
//! over 100 tenants (a `bigint` key, a tenant name, a short payload):
//! the plan (every count the plan and `--dry-run` make), the hand-written
//! `UPDATE ... FROM tenantry_workspaces` of the whole first table in one
//! statement, and the backfill of the second as a worker runs it (one-second
//! slices of 5,000-row batches, each its own transaction with the lock
//! check, the fence and the progress row); rows per second of both and
//! their ratio, and the process's peak resident memory after the backfill.
//! On PostgreSQL each timed part starts after a `CHECKPOINT`, so neither
//! pays for the other's dirty pages.

use std::time::{Duration, Instant};

use tenantry_bench::timing::{rate, report_rate, report_rate_ratio};
use tenantry_retrofit::backfill::{SliceEnd, TableJob, run_slice};
use tenantry_retrofit::plan::{Directory, DirectoryTenant};
use tenantry_retrofit::{AppDatabase, RetrofitConfig};

const TENANTS: usize = 100;

fn config(url: &str) -> RetrofitConfig {
    RetrofitConfig::parse(&format!(
        r#"
        [database]
        url = "{url}"
        [workspaces]
        from = "root_workspace"
        match_tenants_by = "name"
        [[tables]]
        name = "by_hand"
        key = ["id"]
        [[tables]]
        name = "backfilled"
        key = ["id"]
        "#
    ))
    .expect("the bench's configuration")
}

fn directory() -> Directory {
    Directory {
        tenants: (0..TENANTS)
            .map(|index| DirectoryTenant {
                id: format!("ten_{index}"),
                name: format!("t{index}"),
                root_workspace_id: format!("ws_{index}"),
                workspace_ids: vec![format!("ws_{index}")],
            })
            .collect(),
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1).and_then(|kib| kib.parse::<f64>().ok()))
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Writes every dirty page out (PostgreSQL, as a superuser), so that each
/// timed part starts from a clean checkpoint rather than paying for the
/// previous part's writes.
async fn checkpoint(admin_url: Option<&str>) {
    if let Some(url) = admin_url {
        let admin = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await.expect("connect");
        sqlx::raw_sql("CHECKPOINT").execute(&admin).await.expect("checkpoint");
    }
}

async fn bench(name: &str, url: &str, seed_url: &str, admin_url: Option<&str>, rows: usize) {
    sqlx::any::install_default_drivers();
    let seed = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(seed_url).await.expect("connect");
    for table in ["by_hand", "backfilled"] {
        sqlx::raw_sql(&format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, tenant_id text NOT NULL, payload text NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO {table} SELECT i, 't' || (i % {TENANTS}), 'payload of row ' || i FROM n;"
        ))
        .execute(&seed)
        .await
        .expect("seed");
    }
    if name == "postgres" {
        for table in ["by_hand", "backfilled"] {
            sqlx::raw_sql(&format!("VACUUM ANALYZE {table}")).execute(&seed).await.expect("vacuum");
        }
    }
    let app = AppDatabase::connect(url).await.expect("connect");
    let config = config(url);
    let started = Instant::now();
    let plan = tenantry_retrofit::plan::plan(&app, &config, &directory(), None).await.expect("plan");
    let planned = started.elapsed();
    assert!(plan.blockers.is_empty(), "{:?}", plan.blockers);
    println!("{name}: plan (counts of 2 tables of {rows} rows): {:.2} s", planned.as_secs_f64());
    let mut start = app.begin_start(&plan).await.expect("start");
    start.prepare(&plan).await.expect("prepare");
    start.commit("run_bench").await.expect("commit");

    checkpoint(admin_url).await;
    let started = Instant::now();
    let updated = sqlx::raw_sql(
        "UPDATE by_hand SET workspace_id = m.workspace_id FROM tenantry_workspaces AS m \
         WHERE m.tenant_key = by_hand.tenant_id AND m.is_default = 1 AND by_hand.workspace_id IS NULL",
    )
    .execute(app.pool())
    .await
    .expect("by hand")
    .rows_affected();
    let by_hand = rate(rows, started.elapsed());
    assert_eq!(updated, rows as u64);
    report_rate(&format!("{name}: one UPDATE ... FROM by hand"), rows, by_hand, "rows/s");

    let job = TableJob {
        config: config.clone(),
        table: "backfilled".to_owned(),
        batch_size: 5_000,
        max_rows: None,
        resume_from: None,
        wait_for: None,
        total: rows as u64,
    };
    checkpoint(admin_url).await;
    let started = Instant::now();
    let progress = loop {
        let slice = run_slice(&app, &job, "run_bench", 1, Duration::ZERO, Duration::from_secs(1))
            .await
            .expect("slice");
        match slice.end {
            SliceEnd::Done => break slice.progress,
            SliceEnd::More => {}
            SliceEnd::Waiting(reason) => panic!("the bench's backfill waited: {reason}"),
        }
    };
    let backfilled = rate(rows, started.elapsed());
    assert_eq!(progress.updated, rows as u64);
    report_rate(&format!("{name}: backfill, 5,000-row batches"), rows, backfilled, "rows/s");
    report_rate_ratio(&format!("{name}: backfill / by hand"), backfilled, by_hand);
    println!("{name}: peak resident memory of the bench process: {:.0} MiB", peak_rss_mib());
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let only: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|arg| arg == name);
    let rows: usize =
        std::env::var("RETROFIT_BENCH_ROWS").ok().and_then(|value| value.parse().ok()).unwrap_or(1_000_000);
    runtime.block_on(async {
        if wanted("sqlite") {
            let directory = tempfile::tempdir().expect("temporary directory");
            let path = directory.path().join("app.db");
            let url = format!("sqlite://{}", path.display());
            bench("sqlite", &url, &format!("{url}?mode=rwc"), None, rows).await;
        }
        if wanted("postgres") {
            match tenantry_test_support::postgres::PostgresTestDb::create_unmigrated().await {
                Some(database) => {
                    bench(
                        "postgres",
                        &database.owner_url,
                        &database.owner_url,
                        Some(&database.admin_url),
                        rows,
                    )
                    .await;
                }
                None => println!("postgres: skipped (no server at TENANTRY_TEST_POSTGRES_URL)"),
            }
        }
    });
}
