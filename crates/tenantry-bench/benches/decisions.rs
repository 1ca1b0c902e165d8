//! Decisions and sessions at scale, on both backends.
//!
//! Run: `cargo bench -p tenantry-bench --bench decisions` (`-- sqlite` or
//! `-- postgres` for one backend; `DECISIONS_BENCH_PARTS=ingest,list,summary`
//! picks parts; `DECISIONS_BENCH_ROWS` sets the size of the large table:
//! 1,000,000 on SQLite and 10,000,000 on PostgreSQL unless given).
//! PostgreSQL runs on a throwaway database of the server of
//! `TENANTRY_TEST_POSTGRES_URL`, the store as the runtime role, and is
//! skipped with a printed line when the server cannot be reached.
//!
//! Measured, per backend:
//! - ingest, through the store with audit on: decisions one per call, in
//!   batches of 100 and of 1,000; beside them, in the same run, the same
//!   rows by a plain prepared `INSERT` loop in one transaction, without
//!   tenantry (no checks, no session, no event). The target: batched
//!   ingest at least half the raw rate;
//! - the first page (100, newest first) of a tenant's decisions, through
//!   the store, with the large table spread over 1,000 tenants, filled by
//!   SQL as the owner: median and p99 (target p99 under 10 ms), without a
//!   filter and with a workspace filter;
//! - the summary of a tenant with 100,000 sessions.

use std::sync::Arc;
use std::time::Instant;

use tenantry_bench::store_fixtures::create_tenant;
use tenantry_bench::timing::{Samples, rate, report, report_rate, report_rate_ratio};
use tenantry_core::decision::{
    DecisionFilter, DecisionOutcome, NewDecision, RecordKey, Severity, WorkspaceSelection,
};
use tenantry_core::{Label, PageLimit, PageRequest, Store, TenantScope, Workspace};

/// Tenants the large table is spread over.
const TENANTS: usize = 1_000;
/// First pages timed.
const PAGES: usize = 2_000;
/// Sessions of the tenant whose summary is timed.
const SUMMARY_SESSIONS: usize = 100_000;
/// Summaries timed.
const SUMMARIES: usize = 200;
/// Decisions per ingest run, per shape.
const INGEST_ROWS: usize = 3_000;

/// Raw SQL as the database's owner, and the plain insert loop.
#[async_trait::async_trait(?Send)]
trait Raw {
    /// Runs statements that fill tables.
    async fn execute(&self, sql: &str);
    /// Inserts `rows` decisions of one tenant's workspace and session, one
    /// prepared statement per row, in one transaction; returns the time.
    async fn insert_loop(&self, tenant: &str, workspace: &str, session: &str, rows: usize, tag: &str) -> f64;
}

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    raw: Box<dyn Raw>,
    default_rows: usize,
    _guard: Box<dyn std::any::Any>,
}

struct SqliteRaw(sqlx::SqlitePool);

#[async_trait::async_trait(?Send)]
impl Raw for SqliteRaw {
    async fn execute(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(&self.0).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    async fn insert_loop(&self, tenant: &str, workspace: &str, session: &str, rows: usize, tag: &str) -> f64 {
        let started = Instant::now();
        let mut transaction = self.0.begin().await.expect("begin");
        for row in 0..rows {
            sqlx::query(
                "INSERT INTO decisions (tenant_id, id, workspace_id, session_id, agent_id, action_type, decision, \
                 severity, evidence_refs, occurred_at, recorded_at) \
                 VALUES (?1, ?2, ?3, ?4, 'agent', 'shell', 'allow', 'low', '[\"ref\"]', ?5, ?5)",
            )
            .bind(tenant)
            .bind(format!("raw-{tag}-{row}"))
            .bind(workspace)
            .bind(session)
            .bind(1_700_000_000_000_000_i64 + row as i64)
            .execute(&mut *transaction)
            .await
            .expect("raw insert");
        }
        transaction.commit().await.expect("commit");
        rate(rows, started.elapsed())
    }
}

struct PostgresRaw {
    owner: sqlx::PgPool,
    runtime: sqlx::PgPool,
}

#[async_trait::async_trait(?Send)]
impl Raw for PostgresRaw {
    async fn execute(&self, sql: &str) {
        sqlx::raw_sql(sql).execute(&self.owner).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    async fn insert_loop(&self, tenant: &str, workspace: &str, session: &str, rows: usize, tag: &str) -> f64 {
        let started = Instant::now();
        let mut transaction = self.runtime.begin().await.expect("begin");
        sqlx::query("SELECT set_config('tenantry.tenant_id', $1, true)")
            .bind(tenant)
            .execute(&mut *transaction)
            .await
            .expect("scope");
        for row in 0..rows {
            sqlx::query(
                "INSERT INTO decisions (tenant_id, id, workspace_id, session_id, agent_id, action_type, decision, \
                 severity, evidence_refs, occurred_at, recorded_at) \
                 VALUES ($1, $2, $3, $4, 'agent', 'shell', 'allow', 'low', '[\"ref\"]', now(), now())",
            )
            .bind(tenant)
            .bind(format!("raw-{tag}-{row}"))
            .bind(workspace)
            .bind(session)
            .execute(&mut *transaction)
            .await
            .expect("raw insert");
        }
        transaction.commit().await.expect("commit");
        rate(rows, started.elapsed())
    }
}

async fn sqlite_backend() -> Backend {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("bench.db");
    let store = tenantry_store_sqlite::SqliteStore::open(&path).await.expect("open");
    store.migrate().await.expect("migrate");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(30));
    let pool =
        sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("raw");
    Backend {
        name: "sqlite",
        store: Arc::new(store),
        raw: Box::new(SqliteRaw(pool)),
        default_rows: 1_000_000,
        _guard: Box::new(directory),
    }
}

async fn postgres_backend() -> Option<Backend> {
    let database = tenantry_test_support::postgres::PostgresTestDb::create().await?;
    let store = Arc::new(database.server_store().await);
    let owner = sqlx::PgPool::connect(&database.owner_url).await.expect("owner");
    let runtime = sqlx::PgPool::connect(&database.runtime_url).await.expect("runtime");
    Some(Backend {
        name: "postgres",
        store,
        raw: Box::new(PostgresRaw { owner, runtime }),
        default_rows: 10_000_000,
        _guard: Box::new(database),
    })
}

fn label(text: &str) -> Label {
    Label::parse(text).expect("label")
}

fn new_decision(id: String, workspace: &Workspace, session: &str, index: usize) -> NewDecision {
    NewDecision {
        id: Some(RecordKey::parse(&id).expect("key")),
        workspace_id: workspace.id.clone(),
        session_id: RecordKey::parse(session).expect("key"),
        agent_id: label("agent"),
        actor: Some(label("ada")),
        repository: Some(label("acme/app")),
        action_type: label("shell"),
        target: None,
        requested_operation: None,
        policy_pack: Some(label("baseline")),
        policy_id: None,
        rule_id: None,
        decision: if index % 10 == 0 { DecisionOutcome::Block } else { DecisionOutcome::Allow },
        severity: Severity::Low,
        reason: None,
        evidence_refs: vec![label("ref")],
        approver_group: None,
        occurred_at: None,
        correlation_id: None,
    }
}

/// Decisions per second through the store, one per call and in batches,
/// beside a plain insert loop, alternating so that drift hits all alike.
async fn ingest(backend: &Backend) {
    let store = backend.store.as_ref();
    let name = backend.name;
    let (scope, root) = create_tenant(store, "ingest").await;
    let tenant = scope.tenant_id().to_string();
    // The raw loop's session exists, as a session always does before its
    // decisions are inserted.
    store
        .record_decisions(&scope, vec![new_decision("seed".to_owned(), &root, "raw", 0)])
        .await
        .expect("seed");
    let mut rates: [Vec<f64>; 4] = Default::default();
    for round in 0..3 {
        let started = Instant::now();
        for row in 0..INGEST_ROWS / 10 {
            let decision = new_decision(format!("one-{round}-{row}"), &root, &format!("one-{round}"), row);
            store.record_decisions(&scope, vec![decision]).await.expect("record one");
        }
        rates[0].push(rate(INGEST_ROWS / 10, started.elapsed()));
        for (slot, size) in [(1, 100), (2, 1000)] {
            let started = Instant::now();
            for batch in 0..INGEST_ROWS / size {
                let decisions = (0..size)
                    .map(|row| {
                        let id = format!("b{size}-{round}-{batch}-{row}");
                        new_decision(id, &root, &format!("b{size}-{round}-{batch}"), row)
                    })
                    .collect();
                store.record_decisions(&scope, decisions).await.expect("record batch");
            }
            rates[slot].push(rate(INGEST_ROWS, started.elapsed()));
        }
        rates[3].push(
            backend
                .raw
                .insert_loop(&tenant, &root.id.to_string(), "raw", INGEST_ROWS, &round.to_string())
                .await,
        );
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let [one, hundred, thousand, raw] = rates.each_mut().map(median);
    report_rate(&format!("{name}: ingest, one decision per call"), INGEST_ROWS / 10, one, "decisions/s");
    report_rate(&format!("{name}: ingest, batches of 100"), INGEST_ROWS, hundred, "decisions/s");
    report_rate(&format!("{name}: ingest, batches of 1000"), INGEST_ROWS, thousand, "decisions/s");
    report_rate(&format!("{name}: plain prepared INSERT loop, one transaction"), INGEST_ROWS, raw, "rows/s");
    report_rate_ratio(&format!("{name}: batches of 1000 / plain loop (target ≥ 0.5)"), thousand, raw);
    report_rate_ratio(&format!("{name}: batches of 100 / plain loop"), hundred, raw);
}

/// The first page of a tenant's decisions with `rows` decisions spread
/// over [`TENANTS`] tenants (each with two workspaces, a session per 100
/// decisions), filled by SQL as the owner.
async fn first_pages(backend: &Backend, rows: usize) {
    let store = backend.store.as_ref();
    let name = backend.name;
    let mut tenants: Vec<(TenantScope, Workspace)> = Vec::with_capacity(TENANTS);
    let started = Instant::now();
    for number in 0..TENANTS {
        tenants.push(create_tenant(store, &format!("list-{number}")).await);
    }
    println!("{name}: {TENANTS} tenants created in {:.1} s", started.elapsed().as_secs_f64());
    let values: Vec<String> = tenants
        .iter()
        .enumerate()
        .map(|(number, (scope, root))| format!("({number}, '{}', '{}')", scope.tenant_id(), root.id))
        .collect();
    backend
        .raw
        .execute("CREATE TABLE bench_tenants (number INTEGER PRIMARY KEY, tenant_id TEXT, workspace_id TEXT)")
        .await;
    for chunk in values.chunks(500) {
        backend.raw.execute(&format!("INSERT INTO bench_tenants VALUES {}", chunk.join(", "))).await;
    }
    let per_tenant = rows / TENANTS;
    let started = Instant::now();
    let (sessions_sql, decisions_sql) = if name == "sqlite" {
        (
            format!(
                "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < {sessions}) \
                 INSERT INTO sessions (tenant_id, id, workspace_id, state, agent_id, decision_count, blocked_count, \
                 approval_required_count, evidence_refs, started_at, updated_at) \
                 SELECT t.tenant_id, 'session-' || s.n, t.workspace_id, 'active', 'agent', 100, 10, 0, '[]', \
                 1700000000000000, 1700000000000000 + s.n FROM bench_tenants t, s",
                sessions = per_tenant.div_ceil(100)
            ),
            format!(
                "WITH RECURSIVE d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n + 1 < {per_tenant}) \
                 INSERT INTO decisions (tenant_id, id, workspace_id, session_id, agent_id, action_type, decision, \
                 severity, evidence_refs, occurred_at, recorded_at) \
                 SELECT t.tenant_id, 'decision-' || d.n, t.workspace_id, 'session-' || (d.n / 100), 'agent', \
                 'shell', CASE WHEN d.n % 10 = 0 THEN 'block' ELSE 'allow' END, 'low', '[]', \
                 1700000000000000 + d.n * 1000000, 1700000000000000 + d.n * 1000000 FROM bench_tenants t, d"
            ),
        )
    } else {
        (
            format!(
                "INSERT INTO sessions (tenant_id, id, workspace_id, state, agent_id, decision_count, blocked_count, \
                 approval_required_count, evidence_refs, started_at, updated_at) \
                 SELECT t.tenant_id, 'session-' || s.n, t.workspace_id, 'active', 'agent', 100, 10, 0, '[]', \
                 now(), now() + s.n * interval '1 second' \
                 FROM bench_tenants t, generate_series(0, {} - 1) AS s(n)",
                per_tenant.div_ceil(100)
            ),
            format!(
                "INSERT INTO decisions (tenant_id, id, workspace_id, session_id, agent_id, action_type, decision, \
                 severity, evidence_refs, occurred_at, recorded_at) \
                 SELECT t.tenant_id, 'decision-' || d.n, t.workspace_id, 'session-' || (d.n / 100), 'agent', \
                 'shell', CASE WHEN d.n % 10 = 0 THEN 'block' ELSE 'allow' END, 'low', '[]', \
                 now() + d.n * interval '1 second', now() \
                 FROM bench_tenants t, generate_series(0, {per_tenant} - 1) AS d(n)"
            ),
        )
    };
    backend.raw.execute(&sessions_sql).await;
    backend.raw.execute(&decisions_sql).await;
    backend.raw.execute("ANALYZE").await;
    let filled = per_tenant * TENANTS;
    println!("{name}: {filled} decisions filled by SQL in {:.1} s", started.elapsed().as_secs_f64());
    let page = PageRequest { limit: PageLimit::DEFAULT, after: None };
    let mut random = tenantry_bench::authz_data::Random::seeded();
    for (label_text, by_workspace) in [("no filter", false), ("one workspace", true)] {
        let mut samples = Samples::with_capacity(PAGES);
        for _ in 0..PAGES {
            let (scope, root) = &tenants[random.below(TENANTS)];
            let filter = DecisionFilter {
                workspaces: if by_workspace {
                    WorkspaceSelection::Only(vec![root.id.clone()])
                } else {
                    WorkspaceSelection::All
                },
                ..DecisionFilter::default()
            };
            let started = Instant::now();
            let found = store.list_decisions(scope, &filter, page.clone()).await.expect("list");
            samples.push(started.elapsed());
            assert_eq!(found.items.len(), per_tenant.min(PageLimit::DEFAULT.get() as usize));
        }
        report(&format!("{name}: first page of 100 in {filled} decisions, {label_text}"), &samples);
    }
}

/// The summary of one tenant with [`SUMMARY_SESSIONS`] sessions.
async fn summary(backend: &Backend) {
    let store = backend.store.as_ref();
    let name = backend.name;
    let (scope, root) = create_tenant(store, "summary").await;
    let sql = if name == "sqlite" {
        format!(
            "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < {SUMMARY_SESSIONS}) \
             INSERT INTO sessions (tenant_id, id, workspace_id, state, agent_id, decision_count, blocked_count, \
             approval_required_count, evidence_refs, started_at, updated_at) \
             SELECT '{}', 'summary-' || n, '{}', 'active', 'agent', 10, 1, 1, '[]', 1700000000000000, \
             1700000000000000 + n FROM s",
            scope.tenant_id(),
            root.id
        )
    } else {
        format!(
            "INSERT INTO sessions (tenant_id, id, workspace_id, state, agent_id, decision_count, blocked_count, \
             approval_required_count, evidence_refs, started_at, updated_at) \
             SELECT '{}', 'summary-' || n, '{}', 'active', 'agent', 10, 1, 1, '[]', now(), \
             now() + n * interval '1 second' FROM generate_series(0, {SUMMARY_SESSIONS} - 1) AS n",
            scope.tenant_id(),
            root.id
        )
    };
    backend.raw.execute(&sql).await;
    backend.raw.execute("ANALYZE").await;
    let mut samples = Samples::with_capacity(SUMMARIES);
    for _ in 0..SUMMARIES {
        let started = Instant::now();
        let summary = store.activity_summary(&scope, &WorkspaceSelection::All).await.expect("summary");
        samples.push(started.elapsed());
        assert_eq!(summary.total_sessions, SUMMARY_SESSIONS as u64);
    }
    report(&format!("{name}: summary of a tenant with {SUMMARY_SESSIONS} sessions"), &samples);
}

async fn bench(backend: Backend, parts: &str) {
    let rows = std::env::var("DECISIONS_BENCH_ROWS")
        .ok()
        .and_then(|rows| rows.parse().ok())
        .unwrap_or(backend.default_rows);
    if parts.contains("ingest") {
        ingest(&backend).await;
    }
    if parts.contains("summary") {
        summary(&backend).await;
    }
    if parts.contains("list") {
        first_pages(&backend, rows).await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let only: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    let parts = std::env::var("DECISIONS_BENCH_PARTS").unwrap_or_else(|_| "ingest,list,summary".to_owned());
    let wanted = |name: &str| only.is_empty() || only.iter().any(|arg| arg == name);
    runtime.block_on(async {
        if wanted("sqlite") {
            bench(sqlite_backend().await, &parts).await;
        }
        if wanted("postgres") {
            match postgres_backend().await {
                Some(backend) => bench(backend, &parts).await,
                None => println!("postgres: skipped (no server at TENANTRY_TEST_POSTGRES_URL)"),
            }
        }
    });
}
