//! Foundation benchmarks: API key verification, workspace creation, a scoped
//! list of 100 workspaces out of 100k across 1k tenants on both backends, and
//! the cost of PostgreSQL row-level security measured side by side.
//!
//! Run: `cargo bench -p tenantry-bench --bench foundation`
//! (PostgreSQL parts need the server from `TENANTRY_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`; they are skipped
//! with a printed line when it cannot be reached.)
//!
//! Each measurement times single operations and reports the median and the
//! 99th percentile. Comparisons are interleaved (A, B, A, B, ...) in one run,
//! so that noise from this shared machine falls on both sides alike.

use std::sync::Arc;
use std::time::Instant;

use sqlx::Row;
use tenantry_bench::store_fixtures::{create_tenant, new_workspace};
use tenantry_bench::timing::{Samples, report, report_ratio, sides_in_turn};
use tenantry_core::service::{authenticate, mint_api_key};
use tenantry_core::{
    ApiKeyHasher, ApiKeyLifetime, ApiKeyName, NewUser, PageLimit, PageRequest, Store, TenantId, TenantScope,
    Username, WorkspaceId, now,
};
use tenantry_test_support::postgres::PostgresTestDb;

const SEED_TENANTS: usize = 1_000;
const WORKSPACES_PER_TENANT: usize = 100;
const LIST_SAMPLES: usize = 2_000;
const CREATE_SAMPLES: usize = 2_000;
const VERIFY_SAMPLES: usize = 200_000;
const AUTHENTICATE_SAMPLES: usize = 5_000;

fn hasher() -> ApiKeyHasher {
    ApiKeyHasher::new(&[42u8; 32]).expect("32-byte pepper")
}

/// Token parsing and the keyed-hash comparison alone: the CPU cost of
/// verifying a key, without the lookup.
fn bench_verify_in_memory() {
    let hasher = hasher();
    let token =
        tenantry_core::ApiKeyToken::generate(TenantId::generate(), tenantry_core::ApiKeyId::generate());
    let stored = hasher.hash(&token);
    let presented = token.expose().to_owned();
    let mut samples = Samples::with_capacity(VERIFY_SAMPLES);
    for _ in 0..VERIFY_SAMPLES {
        let started = Instant::now();
        let parsed =
            tenantry_core::ApiKeyToken::parse(std::hint::black_box(&presented)).expect("valid token");
        assert!(hasher.verify(&parsed, std::hint::black_box(&stored)));
        samples.push(started.elapsed());
    }
    report("api key verify: parse + HMAC-SHA-256 compare (no lookup)", &samples);
}

/// The whole per-request authentication: parse, tenant-scoped lookup,
/// compare, revocation and expiry checks.
async fn bench_authenticate(backend: &str, store: &dyn Store) {
    let hasher = hasher();
    let (scope, _) = create_tenant(store, "auth-bench").await;
    let user = store
        .ensure_user(
            &tenantry_core::PlatformScope::operator_cli(),
            NewUser::from_username(Username::parse("bench-user").expect("valid")),
        )
        .await
        .expect("user");
    let (_, token) = mint_api_key(
        store,
        &hasher,
        &scope,
        user.id,
        ApiKeyName::parse("bench").expect("valid"),
        ApiKeyLifetime::default_lifetime(),
    )
    .await
    .expect("mint");
    // The first use records last_used_at; later ones within a minute only read.
    authenticate(store, &hasher, token.expose(), now()).await.expect("authenticates");
    let mut samples = Samples::with_capacity(AUTHENTICATE_SAMPLES);
    for _ in 0..AUTHENTICATE_SAMPLES {
        let started = Instant::now();
        authenticate(store, &hasher, token.expose(), now()).await.expect("authenticates");
        samples.push(started.elapsed());
    }
    report(&format!("api key authenticate, full request path [{backend}]"), &samples);
}

async fn bench_workspace_create(backend: &str, store: &dyn Store) {
    let (scope, root) = create_tenant(store, "create-bench").await;
    let mut samples = Samples::with_capacity(CREATE_SAMPLES);
    for index in 0..CREATE_SAMPLES {
        let workspace = new_workspace(&root.id, &format!("workspace-{index}"));
        let started = Instant::now();
        store.create_workspace(&scope, workspace).await.expect("create workspace");
        samples.push(started.elapsed());
    }
    report(&format!("workspace create [{backend}]"), &samples);
}

/// Ids and names of the seeded data set: 1k tenants, each with a root and
/// 99 children.
struct SeedRow {
    tenant_id: String,
    workspace_id: String,
    name: String,
    parent_workspace_id: Option<String>,
}

fn seed_rows() -> (Vec<String>, Vec<SeedRow>) {
    let mut tenant_ids = Vec::with_capacity(SEED_TENANTS);
    let mut rows = Vec::with_capacity(SEED_TENANTS * WORKSPACES_PER_TENANT);
    for _ in 0..SEED_TENANTS {
        let tenant_id = TenantId::generate().to_string();
        let root_id = WorkspaceId::generate().to_string();
        rows.push(SeedRow {
            tenant_id: tenant_id.clone(),
            workspace_id: root_id.clone(),
            name: "Root".to_owned(),
            parent_workspace_id: None,
        });
        for index in 1..WORKSPACES_PER_TENANT {
            rows.push(SeedRow {
                tenant_id: tenant_id.clone(),
                workspace_id: WorkspaceId::generate().to_string(),
                name: format!("workspace-{index}"),
                parent_workspace_id: Some(root_id.clone()),
            });
        }
        tenant_ids.push(tenant_id);
    }
    (tenant_ids, rows)
}

async fn seed_sqlite(path: &std::path::Path) -> Vec<String> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("open sqlite");
    let (tenant_ids, rows) = seed_rows();
    let stamp = now();
    let mut transaction = pool.begin().await.expect("begin");
    for tenant_id in &tenant_ids {
        sqlx::query(
            "INSERT INTO tenants (id, name, display_name, status, deployment_model, data_residency, created_at, updated_at) \
             VALUES (?, ?, ?, 'active', 'hosted_saas', 'global', ?, ?)",
        )
        .bind(tenant_id)
        .bind(format!("seed-{tenant_id}"))
        .bind(format!("seed-{tenant_id}"))
        .bind(stamp)
        .bind(stamp)
        .execute(&mut *transaction)
        .await
        .expect("seed tenant");
    }
    for row in &rows {
        sqlx::query(
            "INSERT INTO workspaces (tenant_id, id, name, parent_workspace_id, is_root, status, environment, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'active', 'production', ?, ?)",
        )
        .bind(&row.tenant_id)
        .bind(&row.workspace_id)
        .bind(&row.name)
        .bind(&row.parent_workspace_id)
        .bind(row.parent_workspace_id.is_none())
        .bind(stamp)
        .bind(stamp)
        .execute(&mut *transaction)
        .await
        .expect("seed workspace");
        if row.parent_workspace_id.is_none() {
            sqlx::query("INSERT INTO tenant_root_workspaces (tenant_id, workspace_id) VALUES (?, ?)")
                .bind(&row.tenant_id)
                .bind(&row.workspace_id)
                .execute(&mut *transaction)
                .await
                .expect("seed root pin");
        }
    }
    transaction.commit().await.expect("commit seed");
    pool.close().await;
    tenant_ids
}

async fn seed_postgres(owner_url: &str) -> Vec<String> {
    let pool = sqlx::PgPool::connect(owner_url).await.expect("connect as owner");
    let (tenant_ids, rows) = seed_rows();
    let stamp = now();
    let names: Vec<String> = tenant_ids.iter().map(|id| format!("seed-{id}")).collect();
    sqlx::query(
        "INSERT INTO tenants (id, name, display_name, status, deployment_model, data_residency, created_at, updated_at) \
         SELECT id, name, name, 'active', 'hosted_saas', 'global', $3, $3 FROM UNNEST($1::text[], $2::text[]) AS t(id, name)",
    )
    .bind(&tenant_ids)
    .bind(&names)
    .bind(stamp)
    .execute(&pool)
    .await
    .expect("seed tenants");
    for chunk in rows.chunks(10_000) {
        let tenant: Vec<&str> = chunk.iter().map(|row| row.tenant_id.as_str()).collect();
        let id: Vec<&str> = chunk.iter().map(|row| row.workspace_id.as_str()).collect();
        let name: Vec<&str> = chunk.iter().map(|row| row.name.as_str()).collect();
        let parent: Vec<Option<&str>> = chunk.iter().map(|row| row.parent_workspace_id.as_deref()).collect();
        // Roots first within the statement is not guaranteed, so the parent
        // foreign key is checked per row only after all rows of the chunk
        // exist: insert roots and children in two statements.
        for roots in [true, false] {
            sqlx::query(
                "INSERT INTO workspaces (tenant_id, id, name, parent_workspace_id, is_root, status, environment, created_at, updated_at) \
                 SELECT tenant_id, id, name, parent, parent IS NULL, 'active', 'production', $5, $5 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS w(tenant_id, id, name, parent) \
                 WHERE (parent IS NULL) = $6",
            )
            .bind(&tenant)
            .bind(&id)
            .bind(&name)
            .bind(&parent)
            .bind(stamp)
            .bind(roots)
            .execute(&pool)
            .await
            .expect("seed workspaces");
        }
    }
    sqlx::query(
        "INSERT INTO tenant_root_workspaces (tenant_id, workspace_id) \
         SELECT tenant_id, id FROM workspaces WHERE is_root AND tenant_id = ANY($1)",
    )
    .bind(&tenant_ids)
    .execute(&pool)
    .await
    .expect("seed root pins");
    sqlx::query("ANALYZE").execute(&pool).await.expect("analyze");
    pool.close().await;
    tenant_ids
}

fn page_of_100() -> PageRequest<WorkspaceId> {
    PageRequest { limit: PageLimit::new(100).expect("valid limit"), after: None }
}

async fn bench_scoped_list(backend: &str, store: &dyn Store, tenant_ids: &[String]) {
    let mut samples = Samples::with_capacity(LIST_SAMPLES);
    for index in 0..LIST_SAMPLES {
        let tenant_id = TenantId::parse(&tenant_ids[(index * 7919) % tenant_ids.len()]).expect("seeded id");
        let scope = TenantScope::system(tenant_id, "test");
        let started = Instant::now();
        let page = store.list_workspaces(&scope, page_of_100()).await.expect("list");
        samples.push(started.elapsed());
        assert_eq!(page.items.len(), 100);
    }
    report(&format!("scoped list of 100 of 100k workspaces, 1k tenants [{backend}]"), &samples);
}

const LIST_SQL: &str = "SELECT tenant_id, id, name, parent_workspace_id, is_root, status, environment, created_at, updated_at \
     FROM workspaces WHERE tenant_id = $1 ORDER BY id LIMIT 101";

/// One scoped list by hand: a transaction, optionally the tenant setting,
/// the query with its explicit `tenant_id` predicate, commit.
async fn list_in_transaction(pool: &sqlx::PgPool, tenant_id: &str, set_tenant: bool) -> usize {
    let mut transaction = pool.begin().await.expect("begin");
    if set_tenant {
        // As the store does it: `SET LOCAL` takes no bind parameters, and the
        // seeded id is a validated `TenantId`.
        sqlx::raw_sql(&format!("SET LOCAL tenantry.tenant_id = '{tenant_id}'"))
            .execute(&mut *transaction)
            .await
            .expect("set tenant");
    }
    let rows = sqlx::query(LIST_SQL).bind(tenant_id).fetch_all(&mut *transaction).await.expect("list");
    transaction.commit().await.expect("commit");
    rows.len()
}

/// Row-level security's cost, side by side in one run:
/// - the policy alone: the same transaction and statements through the
///   runtime role (RLS applies) and the owner role (BYPASSRLS);
/// - the whole store path (runtime role, `PostgresStore::list_workspaces`)
///   against the bare query as the owner, no transaction.
async fn bench_rls_overhead(db: &PostgresTestDb, store: &dyn Store, tenant_ids: &[String]) {
    // Both pools configured as the store's own: no ping before each acquire.
    let pool_options = || sqlx::postgres::PgPoolOptions::new().max_connections(4).test_before_acquire(false);
    let runtime = pool_options().connect(&db.runtime_url).await.expect("runtime pool");
    let owner = pool_options().connect(&db.owner_url).await.expect("owner pool");
    let mut policy_on = Samples::with_capacity(LIST_SAMPLES);
    let mut policy_off = Samples::with_capacity(LIST_SAMPLES);
    let mut store_path = Samples::with_capacity(LIST_SAMPLES);
    let mut bare_owner = Samples::with_capacity(LIST_SAMPLES);
    for index in 0..LIST_SAMPLES {
        let tenant_id = &tenant_ids[(index * 7919) % tenant_ids.len()];

        // Alternate which side goes first, so that neither always runs on
        // a cache the other has just warmed.
        for side in sides_in_turn(index) {
            let (pool, samples) =
                if side == 0 { (&runtime, &mut policy_on) } else { (&owner, &mut policy_off) };
            let started = Instant::now();
            let rows = list_in_transaction(pool, tenant_id, true).await;
            samples.push(started.elapsed());
            assert_eq!(rows, 100);
        }

        let scope = TenantScope::system(TenantId::parse(tenant_id).expect("seeded id"), "test");
        for side in sides_in_turn(index) {
            let started = Instant::now();
            let rows = if side == 0 {
                let page = store.list_workspaces(&scope, page_of_100()).await.expect("list");
                store_path.push(started.elapsed());
                page.items.len()
            } else {
                let rows = sqlx::query(LIST_SQL).bind(tenant_id).fetch_all(&owner).await.expect("bare list");
                bare_owner.push(started.elapsed());
                // Touch a column so the rows are really decoded.
                let _: String = rows[0].get("id");
                rows.len()
            };
            assert_eq!(rows, 100);
        }
    }
    report("RLS on: runtime role, tx + SET LOCAL + query [postgres]", &policy_on);
    report("RLS off: owner role (BYPASSRLS), same tx + query [postgres]", &policy_off);
    report_ratio("RLS policy overhead (on / off)", &policy_on, &policy_off);
    report("store path: PostgresStore::list_workspaces [postgres]", &store_path);
    report("bare owner query, explicit WHERE, no tx [postgres]", &bare_owner);
    report_ratio("store path / bare owner query", &store_path, &bare_owner);
    runtime.close().await;
    owner.close().await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass
    // nothing; either way, this binary only runs when asked to.
    let filter: Option<String> = std::env::args().skip(1).find(|argument| !argument.starts_with("--"));
    let wants = |name: &str| filter.as_deref().is_none_or(|filter| name.contains(filter));

    if wants("verify") {
        bench_verify_in_memory();
    }

    if wants("sqlite") {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("bench.db");
        let store = tenantry_store_sqlite::SqliteStore::open(&path).await.expect("open sqlite store");
        store.migrate().await.expect("migrate sqlite");
        let store: Arc<dyn Store> = Arc::new(store);
        bench_authenticate("sqlite", store.as_ref()).await;
        bench_workspace_create("sqlite", store.as_ref()).await;
        let tenant_ids = seed_sqlite(&path).await;
        bench_scoped_list("sqlite", store.as_ref(), &tenant_ids).await;
    }

    if wants("postgres") {
        match PostgresTestDb::create().await {
            None => println!("postgres benchmarks skipped: PostgreSQL is not reachable"),
            Some(db) => {
                let store: Arc<dyn Store> = Arc::new(db.server_store().await);
                bench_authenticate("postgres", store.as_ref()).await;
                bench_workspace_create("postgres", store.as_ref()).await;
                let tenant_ids = seed_postgres(&db.owner_url).await;
                bench_scoped_list("postgres", store.as_ref(), &tenant_ids).await;
                bench_rls_overhead(&db, store.as_ref(), &tenant_ids).await;
            }
        }
    }
}
