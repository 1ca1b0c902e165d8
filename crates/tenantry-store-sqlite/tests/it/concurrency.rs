//! Races between separately opened stores on one database file, as when
//! several server processes start at once on a fresh data directory. Each
//! store has its own connection pool, so the races are between real,
//! independent SQLite connections.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tenantry_core::prelude::*;

use tenantry_core::service::{BootstrapConfig, api_key_hasher, authenticate, bootstrap};
use tenantry_core::{ApiKeyToken, BootstrapOutcome};
use tenantry_store_sqlite::SqliteStore;
use tenantry_test_support::RawSql;
use tenantry_test_support::conformance::new_tenant;
use tenantry_test_support::sqlite::{DATABASE_FILE_NAME, RawSqlite};
use tokio::sync::Barrier;

const CONCURRENT_STORES: usize = 10;

/// Runs `start` for each of ten stores, each opened on `path` by its own
/// task at the same time, released together by a barrier once all are open.
async fn race<T, F, Fut>(path: &Path, start: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<SqliteStore>) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(CONCURRENT_STORES));
    let tasks: Vec<_> = (0..CONCURRENT_STORES)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let path: PathBuf = path.to_owned();
            tokio::spawn(async move {
                let opened = SqliteStore::open(&path).await;
                // Every task reaches the barrier, even one whose open
                // failed, so that a failure fails the test instead of
                // leaving the others waiting forever.
                barrier.wait().await;
                start(Arc::new(opened.expect("every store opens"))).await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(CONCURRENT_STORES);
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_stores_migrating_one_fresh_file_at_once_all_succeed() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(DATABASE_FILE_NAME);

    let outcomes = race(&path, |store| async move {
        store.migrate().await?;
        store.pending_migrations().await
    })
    .await;
    for outcome in outcomes {
        assert_eq!(outcome.unwrap(), Vec::<i64>::new());
    }
    let raw = RawSqlite::connect(&path).await;
    let migrations = crate::migrations::versions_after(0).len() as i64;
    assert_eq!(raw.scalar_i64("SELECT count(*) FROM _sqlx_migrations").await, Ok(migrations));
    assert_eq!(raw.scalar_i64("SELECT count(*) FROM _sqlx_migrations WHERE success").await, Ok(migrations));
}

/// What one simulated server start saw.
struct StartOutcome {
    pepper: Vec<u8>,
    bootstrap: BootstrapOutcome,
    token: Option<ApiKeyToken>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_stores_starting_on_one_fresh_file_at_once_create_one_default_tenant() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(DATABASE_FILE_NAME);

    // Each store does what a server does at start: migrate, read or create
    // the pepper, bootstrap.
    let outcomes = race(&path, |store| async move {
        store.migrate().await?;
        let pepper = store.api_key_pepper().await?;
        let hasher = api_key_hasher(store.as_ref(), None).await?;
        let (bootstrap, token) = bootstrap(store.as_ref(), &hasher, &BootstrapConfig::defaults()).await?;
        Ok::<_, tenantry_core::Error>(StartOutcome { pepper, bootstrap, token })
    })
    .await;
    let outcomes: Vec<StartOutcome> = outcomes.into_iter().map(Result::unwrap).collect();

    let creators: Vec<&StartOutcome> = outcomes.iter().filter(|outcome| outcome.bootstrap.created).collect();
    assert_eq!(creators.len(), 1, "exactly one start creates the default tenant");
    let creator = creators[0];
    for outcome in &outcomes {
        assert_eq!(outcome.pepper, creator.pepper, "every start sees the same pepper");
        assert_eq!(outcome.bootstrap.tenant, creator.bootstrap.tenant);
        assert_eq!(outcome.bootstrap.root_workspace, creator.bootstrap.root_workspace);
        assert_eq!(outcome.token.is_some(), outcome.bootstrap.created);
    }

    let raw = RawSqlite::connect(&path).await;
    for (query, expected) in [
        ("SELECT count(*) FROM tenants", 1),
        ("SELECT count(*) FROM tenants WHERE name = 'default'", 1),
        ("SELECT count(*) FROM workspaces", 1),
        ("SELECT count(*) FROM workspaces WHERE is_root", 1),
        ("SELECT count(*) FROM tenant_root_workspaces", 1),
        ("SELECT count(*) FROM users", 1),
        ("SELECT count(*) FROM platform_relationships WHERE relation = 'admin'", 1),
        ("SELECT revision FROM platform_relationship_revisions", 1),
        ("SELECT count(*) FROM api_keys", 1),
        ("SELECT count(*) FROM deployment_settings", 1),
    ] {
        assert_eq!(raw.scalar_i64(query).await, Ok(expected), "{query}");
    }

    // The one token handed out works against a store opened afterwards.
    let store = SqliteStore::open(&path).await.unwrap();
    let hasher = api_key_hasher(&store, None).await.unwrap();
    let token = creator.token.as_ref().unwrap();
    let principal = authenticate(&store, &hasher, token.expose(), tenantry_core::now()).await.unwrap();
    assert_eq!(principal.api_key.tenant_id, creator.bootstrap.tenant.id);
    assert_eq!(
        Some(&principal.api_key.user_id),
        creator.bootstrap.operator.as_ref().map(|operator| &operator.id)
    );
}

/// Two writers of one file whose caches of log heads are not shared (two
/// processes; here two stores that reach the file through different paths,
/// a symbolic link, which key the cache apart): each append after the
/// other's finds its cached head stale, writes nothing, reads the head and
/// appends again. That holds for appends of one event (a workspace
/// created, a user created in the platform's log) and of several (a
/// workspace renamed and moved at once), and for the relationship writes
/// that go with them: the logs stay gap-free and verify, and the
/// partition's revisions follow one another.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_from_two_processes_to_one_log_stay_gap_free() {
    use tenantry_core::audit::AuditEvent;
    use tenantry_core::audit_service::{AuditSigner, NoteSigner, verify_log};
    use tenantry_core::{
        NewUser, NewWorkspace, PartitionScope, PlatformScope, TenantScope, Username, WorkspaceName,
        WorkspacePatch,
    };

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(DATABASE_FILE_NAME);
    let first = SqliteStore::open(&path).await.unwrap();
    first.migrate().await.unwrap();
    let link = directory.path().join("link");
    std::os::unix::fs::symlink(directory.path(), &link).unwrap();
    let alias: PathBuf = link.join(DATABASE_FILE_NAME);
    let second = SqliteStore::open(&alias).await.unwrap();
    let platform = PlatformScope::operator_cli();
    let (tenant, root) = first.create_tenant(&platform, new_tenant("shared")).await.unwrap();
    let scope = TenantScope::system(tenant.id.clone(), "test");
    let mut workspaces = vec![root.clone()];
    let mut tenant_events = 0;
    for number in 0..12 {
        let store = if number % 2 == 0 { &first } else { &second };
        let workspace = NewWorkspace {
            name: WorkspaceName::parse(&format!("workspace-{number}")).unwrap(),
            parent_workspace_id: Some(root.id.clone()),
            environment: tenantry_core::Environment::production(),
            creator: None,
        };
        workspaces.push(store.create_workspace(&scope, workspace).await.unwrap());
        tenant_events += 1;
        if number % 3 == 2 {
            // From the other store: renamed and moved under the workspace
            // before it, two events in one append.
            let other = if number % 2 == 0 { &second } else { &first };
            let moved = &workspaces[workspaces.len() - 1];
            let patch = WorkspacePatch {
                name: Some(WorkspaceName::parse(&format!("moved-{number}")).unwrap()),
                parent_workspace_id: Some(workspaces[workspaces.len() - 2].id.clone()),
                ..WorkspacePatch::default()
            };
            other.update_workspace(&scope, &moved.id, patch).await.unwrap();
            tenant_events += 2;
        }
        let user = NewUser::from_username(Username::parse(&format!("user-{number}")).unwrap());
        store.create_user(&platform, user).await.unwrap();
    }

    let signer = AuditSigner::new(NoteSigner::from_seed("test", [4u8; 32]).unwrap());
    signer.checkpoint_logs(&second, &PlatformScope::audit_checkpointer()).await.unwrap();
    let platform_log = PartitionScope::Platform(PlatformScope::audit_checkpointer());
    let platform_events = first.audit_events_after(&platform_log, 0, 100).await.unwrap().len();
    for (log, events) in [(PartitionScope::Tenant(scope), tenant_events), (platform_log, platform_events)] {
        let rows = first.audit_events_after(&log, 0, 100).await.unwrap();
        let seqs: Vec<u64> =
            rows.iter().map(|row| row.event().map(|event: AuditEvent| event.seq()).unwrap()).collect();
        assert_eq!(seqs, (1..=events as u64).collect::<Vec<u64>>());
        let summary = verify_log(&first, &log, &signer.verifier_key()).await.unwrap();
        assert_eq!(summary.events, events as u64);
    }
    // The tenant creation and twelve users.
    assert_eq!(platform_events, 13);

    // Every relationship write advanced the partition's revision by one,
    // and the revision row ends at the last revision the change log holds.
    let raw = RawSqlite::connect(&path).await;
    let mut found = Vec::new();
    for (select, table) in [
        ("count(DISTINCT revision)", "relationship_changes"),
        ("max(revision) - min(revision) + 1", "relationship_changes"),
        ("max(revision)", "relationship_changes"),
        ("revision", "relationship_revisions"),
    ] {
        let sql = format!("SELECT {select} FROM {table} WHERE tenant_id = '{}'", tenant.id);
        found.push(raw.scalar_i64(&sql).await.unwrap());
    }
    let [revisions, span, last, current] = found[..] else { unreachable!("four queries") };
    // The root workspace's relationships, twelve workspaces and four moves.
    assert_eq!((revisions, span, current), (17, 17, last));
}

/// Forty writers, each on a store of its own (forty writer connections to
/// one file, as forty processes would have), over four tenants: the
/// writers meet at SQLite's lock and at stale cached heads, and every
/// tenant's log stays 1, 2, 3, … without gaps and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_writer_connections_keep_every_log_gap_free() {
    use tenantry_core::audit::AuditEvent;
    use tenantry_core::audit_service::{AuditSigner, NoteSigner, verify_log};
    use tenantry_core::{GroupName, NewGroup, PartitionScope, PlatformScope, TenantScope};

    const WRITERS: usize = 40;
    const ROUNDS: usize = 3;
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(DATABASE_FILE_NAME);
    let first = SqliteStore::open(&path).await.unwrap();
    first.migrate().await.unwrap();
    let mut scopes = Vec::new();
    for index in 0..4 {
        let new_tenant = new_tenant(&format!("tenant-{index}"));
        let (tenant, _) = first.create_tenant(&PlatformScope::operator_cli(), new_tenant).await.unwrap();
        scopes.push(TenantScope::system(tenant.id, "test"));
    }
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = SqliteStore::open(&path).await.unwrap();
        let scope = scopes[writer % scopes.len()].clone();
        let barrier = Arc::clone(&barrier);
        writers.push(tokio::spawn(async move {
            barrier.wait().await;
            for round in 0..ROUNDS {
                let name = GroupName::parse(&format!("group-{writer}-{round}")).unwrap();
                store.create_group(&scope, NewGroup { name, creator: None }).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }

    let signer = AuditSigner::new(NoteSigner::from_seed("test", [5u8; 32]).unwrap());
    signer.checkpoint_logs(&first, &PlatformScope::audit_checkpointer()).await.unwrap();
    let events = (WRITERS / scopes.len() * ROUNDS) as u64;
    for scope in scopes {
        let log = PartitionScope::Tenant(scope);
        let rows = first.audit_events_after(&log, 0, 1000).await.unwrap();
        let seqs: Vec<u64> =
            rows.iter().map(|row| row.event().map(|event: AuditEvent| event.seq()).unwrap()).collect();
        assert_eq!(seqs, (1..=events).collect::<Vec<u64>>());
        let summary = verify_log(&first, &log, &signer.verifier_key()).await.unwrap();
        assert_eq!((summary.events, summary.checkpoints), (events, 1));
    }
}
