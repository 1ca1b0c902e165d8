//! What the audit log costs and how it scales, on both backends.
//!
//! Run: `cargo bench -p tenantry-bench --bench audit_log` (`-- sqlite` or
//! `-- postgres` for one backend; `AUDIT_BENCH_PARTS=cost,appends,large`
//! picks parts). PostgreSQL runs on a throwaway database
//! of the server of `TENANTRY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), as the runtime role, and
//! is skipped with a printed line when the server cannot be reached.
//!
//! Measured, per backend:
//! - the cost of evidence: a new membership (one role relationship, the
//!   partition's revision and change log, and its `membership.granted`
//!   event) against the same write with appends turned off
//!   (`turn_appends_off_for_benchmarks`, the `bench` feature's switch), in
//!   alternating rounds; the target is a ratio of at most 1.25;
//! - appends per second: 8 writers creating groups (one event each) all in
//!   one tenant, against the same writers spread over 100 tenants;
//! - a log of `LARGE_LOG` events (1,000,000 unless `AUDIT_BENCH_EVENTS` says
//!   otherwise), filled 10,000 events per transaction through the store's
//!   own append path: `verify` (events per second, every leaf recomputed
//!   from the stored bytes and every checkpoint checked), the latency of an
//!   inclusion proof of a random event against the latest checkpoint
//!   (median and p99; the target is p99 under 5 ms), and signing the
//!   checkpoints of every log that grew. After the fill the PostgreSQL
//!   tables are analyzed, as autovacuum does shortly after such growth.

use std::sync::Arc;
use std::time::Instant;

use tenantry_bench::store_fixtures::{create_tenant, new_workspace};
use tenantry_bench::timing::{
    Samples, rate, report, report_rate, report_rate_ratio, report_ratio, sides_in_turn,
};
use tenantry_core::audit::{AuditRecord, turn_appends_off_for_benchmarks};
use tenantry_core::audit_service::{self, AuditSigner, NoteSigner};
use tenantry_core::{
    GroupName, Member, Membership, MembershipResource, NewGroup, NewUser, PartitionScope, PlatformScope,
    Role, Store, TenantScope, UserId, Username, WorkspaceId,
};

/// Memberships per side per round of the cost comparison, and rounds.
const MEMBERSHIPS_PER_ROUND: usize = 200;
const ROUNDS: usize = 10;
/// Concurrent writers, and groups each creates per side.
const WRITERS: usize = 8;
const GROUPS_PER_WRITER: usize = 150;
/// Tenants the spread side writes into.
const SPREAD_TENANTS: usize = 100;
/// Events per transaction when filling the large log.
const FILL_BATCH: usize = 10_000;
/// Inclusion proofs timed.
const PROOFS: usize = 2_000;

/// How a bench reaches one backend: the store under test and a way to fill
/// a log through the store's own append path.
struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    fill: Box<dyn Fn(TenantScope, Vec<AuditRecord>) -> FillFuture>,
    /// Brings the planner's statistics up to date after the fill, as
    /// PostgreSQL's autovacuum does within a minute or so of such growth.
    analyze: Box<dyn Fn() -> FillFuture>,
    _guard: Box<dyn std::any::Any>,
}

type FillFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

async fn sqlite_backend() -> Backend {
    let directory = tempfile::tempdir().expect("temporary directory");
    let store =
        tenantry_store_sqlite::SqliteStore::open(&directory.path().join("bench.db")).await.expect("open");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    let filler = store.clone();
    Backend {
        name: "sqlite",
        store,
        fill: Box::new(move |scope, records| {
            let filler = filler.clone();
            Box::pin(async move { filler.append_for_benchmarks(&scope, records).await.expect("append") })
        }),
        analyze: Box::new(|| Box::pin(async {})),
        _guard: Box::new(directory),
    }
}

async fn postgres_backend() -> Option<Backend> {
    let database = tenantry_test_support::postgres::PostgresTestDb::create().await?;
    let store = Arc::new(database.server_store().await);
    let filler = store.clone();
    let owner_url = database.owner_url.clone();
    Some(Backend {
        name: "postgres",
        store,
        fill: Box::new(move |scope, records| {
            let filler = filler.clone();
            Box::pin(async move { filler.append_for_benchmarks(&scope, records).await.expect("append") })
        }),
        analyze: Box::new(move || {
            let owner_url = owner_url.clone();
            Box::pin(async move {
                use tenantry_test_support::RawSql;
                let owner = tenantry_test_support::postgres::RawPostgres::connect(&owner_url).await;
                owner.execute("ANALYZE").await.expect("analyze");
            })
        }),
        _guard: Box::new(database),
    })
}

async fn users(store: &dyn Store, count: usize) -> Vec<UserId> {
    let mut users = Vec::with_capacity(count);
    for number in 0..count {
        let username = Username::parse(&format!("bench-user-{number}")).expect("username");
        let user = store.create_user(&PlatformScope::operator_cli(), NewUser::from_username(username)).await;
        users.push(user.expect("user").id);
    }
    users
}

/// The cost of evidence: new memberships with their event, against the
/// same writes with appends off, in alternating rounds.
async fn cost_of_evidence(backend: &Backend) {
    let store = backend.store.as_ref();
    let (scope, root) = create_tenant(store, "evidence").await;
    let people = users(store, MEMBERSHIPS_PER_ROUND).await;
    let mut workspaces: Vec<WorkspaceId> = Vec::new();
    for number in 0..ROUNDS * 2 {
        let workspace = store
            .create_workspace(&scope, new_workspace(&root.id, &format!("evidence-{number}")))
            .await
            .expect("workspace");
        workspaces.push(workspace.id);
    }
    let mut sides = [
        Samples::with_capacity(ROUNDS * MEMBERSHIPS_PER_ROUND),
        Samples::with_capacity(ROUNDS * MEMBERSHIPS_PER_ROUND),
    ];
    let mut next_workspace = workspaces.into_iter();
    for round in 0..ROUNDS {
        for side in sides_in_turn(round) {
            turn_appends_off_for_benchmarks(side == 1);
            let workspace = next_workspace.next().expect("a workspace per side and round");
            for user in &people {
                let membership = Membership::new(
                    MembershipResource::Workspace(workspace.clone()),
                    Member::User(user.clone()),
                    Role::Member,
                    None,
                )
                .expect("membership");
                let started = Instant::now();
                store.set_membership(&scope, membership).await.expect("set membership");
                sides[side].push(started.elapsed());
            }
        }
    }
    turn_appends_off_for_benchmarks(false);
    let name = backend.name;
    report(&format!("{name}: membership write with its audit event"), &sides[0]);
    report(&format!("{name}: membership write, appends off"), &sides[1]);
    report_ratio(&format!("{name}: cost of evidence (with / without)"), &sides[0], &sides[1]);
}

/// Appends per second: writers creating groups in one tenant, against the
/// same writers spread over many tenants.
async fn appends_per_second(backend: &Backend) {
    let store = &backend.store;
    let (one, _) = create_tenant(store.as_ref(), "appends-one").await;
    let mut spread = Vec::with_capacity(SPREAD_TENANTS);
    for number in 0..SPREAD_TENANTS {
        spread.push(create_tenant(store.as_ref(), &format!("appends-{number}")).await.0);
    }
    let mut rates = [0.0; 2];
    for (side, label) in [(0, "one"), (1, "spread")] {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            let scopes: Vec<TenantScope> = if side == 0 { vec![one.clone()] } else { spread.clone() };
            tasks.spawn(async move {
                for number in 0..GROUPS_PER_WRITER {
                    let scope = &scopes[(writer * GROUPS_PER_WRITER + number) % scopes.len()];
                    let name = GroupName::parse(&format!("{label}-{writer}-{number}")).expect("name");
                    store.create_group(scope, NewGroup { name, creator: None }).await.expect("group");
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.expect("writer");
        }
        rates[side] = rate(WRITERS * GROUPS_PER_WRITER, started.elapsed());
    }
    let name = backend.name;
    report_rate(
        &format!("{name}: appends, {WRITERS} writers, one tenant"),
        WRITERS * GROUPS_PER_WRITER,
        rates[0],
        "events/s",
    );
    report_rate(
        &format!("{name}: appends, {WRITERS} writers, {SPREAD_TENANTS} tenants"),
        WRITERS * GROUPS_PER_WRITER,
        rates[1],
        "events/s",
    );
    report_rate_ratio(&format!("{name}: appends, one tenant / spread"), rates[0], rates[1]);
}

/// A large log: fill, sign, verify, prove.
async fn large_log(backend: &Backend, events: usize) {
    let store = backend.store.as_ref();
    let name = backend.name;
    let (scope, _) = create_tenant(store, "large").await;
    let signer = AuditSigner::new(NoteSigner::from_seed("bench", [1u8; 32]).expect("key"));
    let started = Instant::now();
    let mut filled = 0;
    let mut checkpoint_rounds = Samples::with_capacity(events / FILL_BATCH + 1);
    while filled < events {
        let batch = FILL_BATCH.min(events - filled);
        let records = (filled..filled + batch)
            .map(|number| AuditRecord::new("bench.appended", "bench", number).set("number", number as u64))
            .collect();
        (backend.fill)(scope.clone(), records).await;
        filled += batch;
        // A checkpoint per 100,000 events, as a server signing every few
        // seconds under load would make.
        if filled % 100_000 == 0 || filled == events {
            let signing = Instant::now();
            signer.checkpoint_logs(store, &PlatformScope::audit_checkpointer()).await.expect("checkpoint");
            checkpoint_rounds.push(signing.elapsed());
        }
    }
    report_rate(
        &format!("{name}: fill the log, {FILL_BATCH} events per transaction"),
        events,
        rate(events, started.elapsed()),
        "events/s",
    );
    report(&format!("{name}: sign the checkpoints of the logs that grew"), &checkpoint_rounds);

    (backend.analyze)().await;
    let log = PartitionScope::Tenant(scope.clone());
    let started = Instant::now();
    let summary =
        audit_service::verify_log(store, &log, &signer.verifier_key()).await.expect("the log verifies");
    let elapsed = started.elapsed();
    assert_eq!(summary.events, events as u64);
    report_rate(
        &format!("{name}: verify, {} events, {} checkpoints", summary.events, summary.checkpoints),
        events,
        rate(events, elapsed),
        "events/s",
    );

    let size = summary.events;
    let mut proofs = Samples::with_capacity(PROOFS);
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..PROOFS {
        // xorshift: a spread of seqs without a dependency.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let seq = seed % size + 1;
        let started = Instant::now();
        let proven = audit_service::prove_inclusion(store, &log, seq, size).await.expect("proof");
        proofs.push(started.elapsed());
        assert_eq!(proven.event.seq(), seq);
    }
    report(&format!("{name}: inclusion proof of a random event in {size}"), &proofs);
}

async fn bench(backend: Backend, events: usize, parts: &str) {
    if parts.contains("cost") {
        cost_of_evidence(&backend).await;
    }
    if parts.contains("appends") {
        appends_per_second(&backend).await;
    }
    if parts.contains("large") && events > 0 {
        large_log(&backend, events).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; anything else is a filter.
    let filter: Option<String> = std::env::args().skip(1).find(|argument| !argument.starts_with("--"));
    let wants = |name: &str| filter.as_deref().is_none_or(|filter| name.contains(filter));
    let events: usize =
        std::env::var("AUDIT_BENCH_EVENTS").ok().and_then(|value| value.parse().ok()).unwrap_or(1_000_000);
    let parts = std::env::var("AUDIT_BENCH_PARTS").unwrap_or_else(|_| "cost,appends,large".to_owned());
    if wants("sqlite") {
        bench(sqlite_backend().await, events, &parts).await;
    }
    if wants("postgres") {
        match postgres_backend().await {
            None => println!("postgres benchmarks skipped: PostgreSQL is not reachable"),
            Some(backend) => bench(backend, events, &parts).await,
        }
    }
}
