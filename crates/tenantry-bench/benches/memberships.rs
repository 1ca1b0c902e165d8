//! Membership write benchmarks on both backends: what it costs to give a
//! member a role through `MembershipStore::set_membership`, which writes the role's
//! relationship, advances the tenant partition's revision and appends to its
//! change log in one transaction.
//!
//! Run: `cargo bench -p tenantry-bench --bench memberships`
//! (`-- sqlite` or `-- postgres` for one backend). The PostgreSQL part runs
//! on a throwaway database with its owner and runtime roles on the server
//! of `TENANTRY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards, and is
//! skipped with a printed line when the server cannot be reached.
//!
//! Users, tenants and workspaces are created through the store first; every
//! membership measured is a user made `member` of a workspace it had no
//! role on, unless it is a role change. Measured, per backend:
//! - one writer, new memberships: median, p99, memberships per second;
//! - one writer, role changes of existing memberships (`member` to `editor`:
//!   the old relationship deleted and the new one touched, in one
//!   transaction);
//! - 8 concurrent writers, each into a tenant of its own, against 8 into one
//!   tenant, in interleaved rounds: a tenant's writers queue on its
//!   partition's revision row on PostgreSQL, and SQLite has one writer at a
//!   time for the whole file;
//! - a new membership followed by `Authorizer::synced`, as an API handler
//!   does after a write, against the membership alone, interleaved.
//!
//! Writers are tasks on one runtime thread, as in `foundation.rs`; the
//! database does the work that is measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantry_bench::store_fixtures::{create_tenant, new_workspace};
use tenantry_bench::timing::{
    Samples, rate, report, report_rate, report_rate_ratio, report_ratio, sides_in_turn,
};
use tenantry_core::{
    Authorizer, AuthorizerConfig, Member, Membership, MembershipResource, NewUser, Revision, Role, Store,
    TenantScope, UserId, Username, WorkspaceId,
};
use tenantry_test_support::TestBackend;

/// Users every tenant's memberships are drawn from (users are global).
const USERS: usize = 100;
/// New memberships, then as many role changes, written by one writer.
const ONE_WRITER_SAMPLES: usize = 2_000;
/// Concurrent writers.
const WRITERS: usize = 8;
/// Rounds of concurrent writes per side; the sides alternate.
const ROUNDS_PER_SIDE: usize = 6;
/// Memberships each writer writes in one round.
const MEMBERSHIPS_PER_WRITER_PER_ROUND: usize = 100;
/// Writes per side of the write-then-sync comparison.
const SYNC_SAMPLES: usize = 1_000;

const UNIT: &str = "memberships/s";

/// A tenant created through the store, with enough workspaces that every
/// (workspace, user) pair it hands out is a membership never held before.
struct SeededTenant {
    scope: TenantScope,
    workspaces: Vec<WorkspaceId>,
    handed_out: usize,
}

impl SeededTenant {
    /// A tenant with room for `capacity` new memberships of [`USERS`] users.
    async fn create(store: &dyn Store, label: &str, capacity: usize) -> Self {
        let (scope, root) = create_tenant(store, label).await;
        let mut workspaces = Vec::with_capacity(capacity.div_ceil(USERS));
        for number in 0..capacity.div_ceil(USERS) {
            let workspace = store
                .create_workspace(&scope, new_workspace(&root.id, &format!("workspace-{number}")))
                .await
                .expect("create workspace");
            workspaces.push(workspace.id);
        }
        Self { scope, workspaces, handed_out: 0 }
    }

    /// The next `count` new memberships: consecutive users made `member` of
    /// one workspace after another.
    fn new_memberships(&mut self, users: &[UserId], count: usize) -> Vec<Membership> {
        let pairs = self.handed_out..self.handed_out + count;
        self.handed_out += count;
        pairs
            .map(|pair| {
                let workspace_id = self.workspaces.get(pair / users.len()).expect("seeded for this many");
                let resource = MembershipResource::Workspace(workspace_id.clone());
                let member = Member::User(users[pair % users.len()].clone());
                Membership::new(resource, member, Role::Member, None).expect("valid membership")
            })
            .collect()
    }
}

async fn create_users(store: &dyn Store) -> Vec<UserId> {
    let mut users = Vec::with_capacity(USERS);
    for number in 0..USERS {
        let username = Username::parse(&format!("member-{number}")).expect("valid username");
        users.push(
            store
                .create_user(&tenantry_core::PlatformScope::operator_cli(), NewUser::from_username(username))
                .await
                .expect("create user")
                .id,
        );
    }
    users
}

/// Writes the memberships one after another, timing each; returns the
/// durations and the time the whole sequence took.
async fn time_writes(
    store: &dyn Store,
    scope: &TenantScope,
    memberships: Vec<Membership>,
) -> (Samples, Duration) {
    let mut samples = Samples::with_capacity(memberships.len());
    let started = Instant::now();
    for membership in memberships {
        let write_started = Instant::now();
        store.set_membership(scope, membership).await.expect("set membership");
        samples.push(write_started.elapsed());
    }
    (samples, started.elapsed())
}

fn report_writes(name: &str, samples: &Samples, elapsed: Duration) -> f64 {
    let per_second = rate(samples.len(), elapsed);
    report(name, samples);
    report_rate(name, samples.len(), per_second, UNIT);
    per_second
}

/// One writer: new memberships, then a role change of each.
async fn bench_one_writer(backend: &str, store: &dyn Store, users: &[UserId]) {
    let mut tenant = SeededTenant::create(store, "one-writer", ONE_WRITER_SAMPLES).await;
    let memberships = tenant.new_memberships(users, ONE_WRITER_SAMPLES);
    let role_changes: Vec<Membership> = memberships
        .iter()
        .map(|membership| {
            let (resource, member) = (membership.resource().clone(), membership.member().clone());
            Membership::new(resource, member, Role::Editor, None).expect("valid membership")
        })
        .collect();
    let (samples, elapsed) = time_writes(store, &tenant.scope, memberships).await;
    report_writes(&format!("set_membership, new, one writer [{backend}]"), &samples, elapsed);
    let (samples, elapsed) = time_writes(store, &tenant.scope, role_changes).await;
    report_writes(&format!("set_membership, role change, one writer [{backend}]"), &samples, elapsed);
}

/// Runs one writer task per batch, all at once; returns every write's
/// duration and the time until the last writer finished.
async fn write_concurrently(
    store: &Arc<dyn Store>,
    batches: Vec<(TenantScope, Vec<Membership>)>,
) -> (Samples, Duration) {
    let started = Instant::now();
    let writers: Vec<_> = batches
        .into_iter()
        .map(|(scope, memberships)| {
            let store = store.clone();
            tokio::spawn(async move { time_writes(store.as_ref(), &scope, memberships).await.0 })
        })
        .collect();
    let mut samples = Samples::default();
    for writer in writers {
        samples.append(writer.await.expect("writer task"));
    }
    (samples, started.elapsed())
}

/// [`WRITERS`] concurrent writers, each into its own tenant (side 0) or all
/// into one (side 1), rounds alternating which side goes first.
async fn bench_concurrent_writers(backend: &str, store: &Arc<dyn Store>, users: &[UserId]) {
    let per_writer = ROUNDS_PER_SIDE * MEMBERSHIPS_PER_WRITER_PER_ROUND;
    let mut own_tenants = Vec::with_capacity(WRITERS);
    for writer in 0..WRITERS {
        own_tenants.push(SeededTenant::create(store.as_ref(), &format!("writer-{writer}"), per_writer).await);
    }
    let mut shared_tenant = SeededTenant::create(store.as_ref(), "shared", WRITERS * per_writer).await;
    let mut samples = [Samples::default(), Samples::default()];
    let mut elapsed = [Duration::ZERO; 2];
    for turn in 0..ROUNDS_PER_SIDE {
        for side in sides_in_turn(turn) {
            // Each writer of the shared tenant gets a workspace of its own,
            // so the partition's revision row is all they share.
            let batches: Vec<(TenantScope, Vec<Membership>)> = if side == 0 {
                own_tenants
                    .iter_mut()
                    .map(|tenant| {
                        (
                            tenant.scope.clone(),
                            tenant.new_memberships(users, MEMBERSHIPS_PER_WRITER_PER_ROUND),
                        )
                    })
                    .collect()
            } else {
                (0..WRITERS)
                    .map(|_| {
                        let memberships =
                            shared_tenant.new_memberships(users, MEMBERSHIPS_PER_WRITER_PER_ROUND);
                        (shared_tenant.scope.clone(), memberships)
                    })
                    .collect()
            };
            let (round_samples, round_elapsed) = write_concurrently(store, batches).await;
            samples[side].append(round_samples);
            elapsed[side] += round_elapsed;
        }
    }
    let [own_samples, shared_samples] = &samples;
    let own = report_writes(
        &format!("{WRITERS} writers, each into its own tenant [{backend}]"),
        own_samples,
        elapsed[0],
    );
    let shared = report_writes(
        &format!("{WRITERS} writers, all into one tenant [{backend}]"),
        shared_samples,
        elapsed[1],
    );
    report_rate_ratio(&format!("own tenants / one tenant [{backend}]"), own, shared);
}

/// A new membership followed by the authorizer catching its index up (side
/// 0), as an API handler does before it answers, against the membership
/// alone in another tenant (side 1).
async fn bench_write_then_sync(backend: &str, store: &Arc<dyn Store>, users: &[UserId]) {
    let authorizer = Authorizer::new(
        store.clone(),
        AuthorizerConfig::with_freshness(Duration::from_secs(1), Duration::from_secs(3600)),
    );
    let mut synced_tenant = SeededTenant::create(store.as_ref(), "synced", SYNC_SAMPLES).await;
    let mut alone_tenant = SeededTenant::create(store.as_ref(), "alone", SYNC_SAMPLES).await;
    // The first sync loads the partition; the ones measured read the change
    // log after it.
    let mut revision: Revision =
        authorizer.synced(&synced_tenant.scope).await.expect("first sync").tenant_revision();
    let synced_writes = synced_tenant.new_memberships(users, SYNC_SAMPLES);
    let alone_writes = alone_tenant.new_memberships(users, SYNC_SAMPLES);
    let mut samples = [Samples::with_capacity(SYNC_SAMPLES), Samples::with_capacity(SYNC_SAMPLES)];
    for (turn, writes) in synced_writes.into_iter().zip(alone_writes).enumerate() {
        let mut writes = [Some(writes.0), Some(writes.1)];
        for side in sides_in_turn(turn) {
            let membership = writes[side].take().expect("each side writes once a turn");
            let started = Instant::now();
            if side == 0 {
                store.set_membership(&synced_tenant.scope, membership).await.expect("set membership");
                let token = authorizer.synced(&synced_tenant.scope).await.expect("sync");
                samples[side].push(started.elapsed());
                // The token must name the write just made.
                assert!(token.tenant_revision() > revision, "the sync saw the write");
                revision = token.tenant_revision();
            } else {
                store.set_membership(&alone_tenant.scope, membership).await.expect("set membership");
                samples[side].push(started.elapsed());
            }
        }
    }
    report(&format!("set_membership + Authorizer::synced [{backend}]"), &samples[0]);
    report(&format!("set_membership alone [{backend}]"), &samples[1]);
    report_ratio(&format!("write + sync / write alone [{backend}]"), &samples[0], &samples[1]);
}

async fn report_table_sizes(backend: &TestBackend) {
    for table in ["relationships", "relationship_changes"] {
        let rows =
            backend.raw.scalar_i64(&format!("SELECT count(*) FROM {table}")).await.expect("count rows");
        println!("{:<58} {rows} rows", format!("{table} at the end [{}]", backend.name));
    }
}

async fn bench_backend(backend: &TestBackend) {
    let users = create_users(backend.store.as_ref()).await;
    bench_one_writer(backend.name, backend.store.as_ref(), &users).await;
    bench_concurrent_writers(backend.name, &backend.store, &users).await;
    bench_write_then_sync(backend.name, &backend.store, &users).await;
    report_table_sizes(backend).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; anything else is a filter.
    let filter: Option<String> = std::env::args().skip(1).find(|argument| !argument.starts_with("--"));
    let wants = |name: &str| filter.as_deref().is_none_or(|filter| name.contains(filter));

    if wants("sqlite") {
        bench_backend(&tenantry_test_support::sqlite::backend().await).await;
    }
    if wants("postgres") {
        match tenantry_test_support::postgres::backend().await {
            None => println!("postgres benchmarks skipped: PostgreSQL is not reachable"),
            Some(backend) => bench_backend(&backend).await,
        }
    }
}
