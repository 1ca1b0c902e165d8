//! The store conformance suite: every behaviour of the [`Store`] contract
//! that a backend must show, written once and run against each backend.
//!
//! Each case is a private `async fn case_name(backend: &TestBackend)` that
//! works on a fresh, migrated database, registered by its module's
//! `cases!` list next to it: a case left out of the list is dead code, which
//! the workspace's lints refuse, so no case can silently not run. [`run`]
//! is a test binary's whole `main` (a `[[test]]` target with `harness =
//! false`): one test per registered case, with libtest's command line and
//! output:
//!
//! ```text
//! fn main() -> std::process::ExitCode {
//!     tenantry_test_support::conformance::run(|| Box::pin(tenantry_test_support::conformance::sqlite_backend()))
//! }
//! ```
//!
//! Cases never ask which backend they run on: what differs between the
//! backends' SQL is a method of [`crate::RawSql`].
//!
//! The foundation's cases (tenants, workspaces, keys, users, bootstrap) are
//! in this file; those of issue 3 are in `authorization` (partitions,
//! revisions, the change log, sweeps, the schema), `memberships` (groups,
//! roles, the last admin), `invitations` (inviting, answering, expiry) and
//! `users` (OIDC sign-in, reads by id).
//!
//! Cases drive the store the way the product does and then look at the
//! database through [`TestBackend::raw`], as its owner, so that a rule is
//! shown to hold in the schema (constraints, triggers, RESTRICT), not only
//! in the store's code. Every raw statement that is expected to be refused
//! has a positive control next to it: the same statement shape, minus the
//! rule it breaks, succeeds. Without that, a typo in the SQL would make the
//! refusal pass for the wrong reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Display};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tenantry_core::relationship::{
    Change, Relationship, new_api_key_relationships, new_tenant_relationships, platform_admin_relationship,
};
use tenantry_core::service::{self, BootstrapConfig, mint_api_key};
use tenantry_core::{
    ApiKey, ApiKeyHasher, ApiKeyId, ApiKeyLifetime, ApiKeyName, ApiKeyToken, BootstrapOutcome, ConflictCode,
    DataResidency, DeploymentModel, DisplayName, Email, Environment, Error, Group, GroupName, LimitCode,
    Member, Membership, MembershipResource, NewGroup, NewTenant, NewUser, NewWorkspace, PageLimit,
    PageRequest, PartitionScope, PlatformScope, RelationshipChanges, RelationshipFilter, RelationshipWrite,
    Revision, Role, StoreLimits, Tenant, TenantId, TenantName, TenantPatch, TenantScope, TenantStatus, User,
    UserId, Username, Workspace, WorkspaceId, WorkspaceName, WorkspacePatch, WorkspaceStatus,
};
use tokio::task::JoinSet;

use crate::TestBackend;

mod approvals;
mod audit;
mod authorization;
mod decisions;
mod invitations;
mod memberships;
mod runs;
mod service_accounts;
mod users;
mod webhooks;

pub use invitations::fill_pending_invitations;

/// One conformance case: its name, and the case itself, run on a fresh
/// backend.
#[derive(Clone, Copy)]
pub struct Case {
    /// The case's function name: the name of its test.
    pub name: &'static str,
    /// Runs the case; a failed expectation panics.
    pub run: for<'a> fn(&'a TestBackend) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
}

impl Debug for Case {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Case").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Registers a module's cases as `const $list: &[Case]`. Cases are private
/// functions, so one defined but not registered is dead code, which the
/// workspace's lints refuse (`cargo clippy -- -D warnings`); and a module's
/// list not named in [`all_cases`] is dead code too.
macro_rules! cases {
    ($list:ident, $($case:ident),+ $(,)?) => {
        $(
            // A module per case, named like it (modules and functions live
            // in different namespaces), holding its boxed entry point.
            #[allow(non_snake_case)]
            mod $case {
                pub(super) fn run(
                    backend: &$crate::TestBackend,
                ) -> ::std::pin::Pin<Box<dyn ::std::future::Future<Output = ()> + Send + '_>> {
                    Box::pin(super::$case(backend))
                }
            }
        )+
        pub(super) const $list: &[$crate::conformance::Case] = &[
            $($crate::conformance::Case { name: stringify!($case), run: $case::run }),+
        ];
    };
}
pub(crate) use cases;

/// Every registered case, in the order the modules list them.
pub fn all_cases() -> impl Iterator<Item = &'static Case> {
    [
        FOUNDATION,
        authorization::CASES,
        memberships::CASES,
        invitations::CASES,
        users::CASES,
        audit::CASES,
        decisions::CASES,
        approvals::CASES,
        runs::CASES,
        service_accounts::CASES,
        webhooks::CASES,
    ]
    .into_iter()
    .flatten()
}

/// How a test binary gets a fresh backend for one case: `None` when the
/// backend is unavailable (PostgreSQL unreachable and not required), after
/// the constructor printed its skip line.
pub type BackendFactory = fn() -> Pin<Box<dyn Future<Output = Option<TestBackend>> + Send>>;

/// The conformance suite as a test binary's `main` (a `[[test]]` target
/// with `harness = false`): one test per registered case, each on a fresh
/// backend from `backend`, with libtest's command line (filters, `--list`,
/// `--test-threads`, `--nocapture`) and output.
///
/// ```text
/// fn main() -> std::process::ExitCode {
///     tenantry_test_support::conformance::run(|| Box::pin(tenantry_test_support::conformance::sqlite_backend()))
/// }
/// ```
pub fn run(backend: BackendFactory) -> std::process::ExitCode {
    let arguments = libtest_mimic::Arguments::from_args();
    let trials = all_cases()
        .map(|case| {
            let case = *case;
            libtest_mimic::Trial::test(case.name, move || run_case(case, backend))
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit_code()
}

/// Runs one case on its own runtime; a panic is the case's failure.
fn run_case(case: Case, backend: BackendFactory) -> Result<(), libtest_mimic::Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| format!("starting a runtime: {error}"))?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            if let Some(backend) = backend().await {
                (case.run)(&backend).await;
            }
        })
    }));
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_else(|| "the case panicked".to_owned());
        libtest_mimic::Failed::from(message)
    })
}

/// A fresh SQLite backend, shaped for [`run`]: SQLite is always available,
/// so this is always `Some`.
pub async fn sqlite_backend() -> Option<TestBackend> {
    Some(crate::sqlite::backend().await)
}

/// A fresh PostgreSQL backend, or `None` (after a skip line) when
/// PostgreSQL is unreachable and not required.
pub async fn postgres_backend() -> Option<TestBackend> {
    crate::postgres::backend().await
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// A tenant made through the store, with its root and a scope for it.
#[derive(Debug, Clone)]
struct CreatedTenant {
    tenant: Tenant,
    root: Workspace,
    scope: TenantScope,
}

fn platform() -> PlatformScope {
    PlatformScope::operator_cli()
}

fn hasher() -> ApiKeyHasher {
    ApiKeyHasher::new(&[7u8; 32]).unwrap()
}

/// A new tenant named `name`, as the cases (and other tests of a store)
/// create them.
pub fn new_tenant(name: &str) -> NewTenant {
    NewTenant {
        name: TenantName::parse(name).unwrap(),
        display_name: DisplayName::parse(&format!("{name} (display)")).unwrap(),
        deployment_model: DeploymentModel::HostedSaas,
        data_residency: DataResidency::Global,
        root_workspace_name: WorkspaceName::default_root(),
        creator: None,
    }
}

async fn create_tenant(backend: &TestBackend, name: &str) -> CreatedTenant {
    let (tenant, root) = backend.store.create_tenant(&platform(), new_tenant(name)).await.unwrap();
    let scope = TenantScope::system(tenant.id.clone(), "test");
    CreatedTenant { tenant, root, scope }
}

fn new_workspace(name: &str, parent: Option<&Workspace>) -> NewWorkspace {
    NewWorkspace {
        name: WorkspaceName::parse(name).unwrap(),
        parent_workspace_id: parent.map(|parent| parent.id.clone()),
        environment: Environment::production(),
        creator: None,
    }
}

async fn create_workspace(
    backend: &TestBackend,
    scope: &TenantScope,
    name: &str,
    parent: Option<&Workspace>,
) -> Workspace {
    backend.store.create_workspace(scope, new_workspace(name, parent)).await.unwrap()
}

fn move_under(parent_workspace_id: &WorkspaceId) -> WorkspacePatch {
    WorkspacePatch { parent_workspace_id: Some(parent_workspace_id.clone()), ..WorkspacePatch::default() }
}

fn rename_to(name: &str) -> WorkspacePatch {
    WorkspacePatch { name: Some(WorkspaceName::parse(name).unwrap()), ..WorkspacePatch::default() }
}

fn new_user(username: &str) -> NewUser {
    NewUser::from_username(Username::parse(username).unwrap())
}

async fn create_user(backend: &TestBackend, username: &str) -> User {
    backend
        .store
        .create_user(&tenantry_core::PlatformScope::operator_cli(), new_user(username))
        .await
        .unwrap()
}

async fn mint(
    backend: &TestBackend,
    scope: &TenantScope,
    user_id: &UserId,
    name: &str,
) -> Result<(ApiKey, ApiKeyToken), Error> {
    mint_api_key(
        backend.store.as_ref(),
        &hasher(),
        scope,
        user_id.clone(),
        ApiKeyName::parse(name).unwrap(),
        ApiKeyLifetime::default_lifetime(),
    )
    .await
}

async fn create_group(
    backend: &TestBackend,
    scope: &TenantScope,
    name: &str,
    creator: Option<&UserId>,
) -> Group {
    let new_group = NewGroup { name: GroupName::parse(name).unwrap(), creator: creator.cloned() };
    backend.store.create_group(scope, new_group).await.unwrap()
}

/// A tenant's relationship partition.
fn tenant_partition(scope: &TenantScope) -> PartitionScope {
    PartitionScope::Tenant(scope.clone())
}

/// The platform partition, as the authorizer reads it.
fn platform_partition() -> PartitionScope {
    PartitionScope::Platform(PlatformScope::authorization())
}

/// Relationships in a form that compares as a set: text to expiry. A
/// snapshot's order is unspecified, so snapshots are compared this way.
fn canonical(relationships: &[Relationship]) -> BTreeMap<String, Option<i64>> {
    relationships.iter().map(|relationship| (relationship.to_string(), relationship.expires_at())).collect()
}

/// A partition's revision and relationships, from one snapshot.
async fn partition_state(
    backend: &TestBackend,
    partition: &PartitionScope,
) -> (Revision, BTreeMap<String, Option<i64>>) {
    let snapshot = backend.store.relationship_snapshot(partition).await.unwrap();
    (snapshot.revision, canonical(&snapshot.relationships))
}

/// A partition's revision, from a snapshot.
async fn revision_of(backend: &TestBackend, partition: &PartitionScope) -> Revision {
    backend.store.relationship_snapshot(partition).await.unwrap().revision
}

/// The changes after `after` and the revision they lead to; the log must
/// reach back that far.
async fn changes_after(
    backend: &TestBackend,
    partition: &PartitionScope,
    after: Revision,
) -> (Revision, Vec<Change>) {
    match backend.store.relationship_changes(partition, after).await.unwrap() {
        RelationshipChanges::Since { revision, changes, .. } => (revision, changes),
        other => panic!("expected the changes after revision {after}, got {other:?}"),
    }
}

/// A relationship from its text, for example `document:1#viewer@user:u`.
fn relationship(text: &str) -> Relationship {
    text.parse().unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// A membership that the domain accepts.
fn membership(resource: &MembershipResource, member: Member, role: Role) -> Membership {
    Membership::new(resource.clone(), member, role, None).unwrap()
}

async fn workspace_ids(backend: &TestBackend, scope: &TenantScope) -> BTreeSet<WorkspaceId> {
    let page = backend.store.list_workspaces(scope, PageRequest::first()).await.unwrap();
    assert_eq!(page.next_cursor, None, "fixtures stay within one default-sized page");
    page.items.into_iter().map(|workspace| workspace.id).collect()
}

/// Timestamps have microsecond resolution. Waiting a little before an
/// update guarantees that its `updated_at` differs from the one before, so
/// "advances" can be asserted strictly. Nothing here asserts on duration.
async fn let_the_clock_tick() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

// ---------------------------------------------------------------------------
// Raw SQL helpers
// ---------------------------------------------------------------------------

/// A SQL string literal, quotes doubled.
fn sql_literal(value: impl Display) -> String {
    format!("'{}'", value.to_string().replace('\'', "''"))
}

async fn raw(backend: &TestBackend, sql: &str) -> Result<u64, String> {
    backend.raw.execute(sql).await
}

/// Runs a raw statement that must succeed; returns the rows it affected.
async fn raw_ok(backend: &TestBackend, sql: &str) -> u64 {
    match backend.raw.execute(sql).await {
        Ok(rows) => rows,
        Err(message) => panic!("raw statement failed: {message}\n  statement: {sql}"),
    }
}

async fn scalar(backend: &TestBackend, sql: &str) -> i64 {
    match backend.raw.scalar_i64(sql).await {
        Ok(value) => value,
        Err(message) => panic!("raw query failed: {message}\n  query: {sql}"),
    }
}

/// How many rows of a tenant-owned table belong to `tenant_id`.
async fn count(backend: &TestBackend, table: &str, tenant_id: &TenantId) -> i64 {
    scalar(backend, &format!("SELECT count(*) FROM {table} WHERE tenant_id = {}", sql_literal(tenant_id)))
        .await
}

/// How many of a tenant's relationships name `object_type:id`, as
/// resource or as subject, counted as the owner sees them.
async fn count_naming(
    backend: &TestBackend,
    tenant_id: &TenantId,
    object_type: &str,
    id: impl Display,
) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM relationships WHERE tenant_id = {} AND ((resource_type = {kind} AND \
         resource_id = {id}) OR (subject_type = {kind} AND subject_id = {id}))",
        sql_literal(tenant_id),
        kind = sql_literal(object_type),
        id = sql_literal(id),
    );
    scalar(backend, &sql).await
}

/// Everything a tenant has in the database, counted as the owner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TenantRowCounts {
    tenants: i64,
    workspaces: i64,
    root_pins: i64,
    api_keys: i64,
    groups: i64,
    relationships: i64,
    relationship_changes: i64,
    relationship_revisions: i64,
}

async fn tenant_row_counts(backend: &TestBackend, tenant_id: &TenantId) -> TenantRowCounts {
    TenantRowCounts {
        tenants: scalar(
            backend,
            &format!("SELECT count(*) FROM tenants WHERE id = {}", sql_literal(tenant_id)),
        )
        .await,
        workspaces: count(backend, "workspaces", tenant_id).await,
        root_pins: count(backend, "tenant_root_workspaces", tenant_id).await,
        api_keys: count(backend, "api_keys", tenant_id).await,
        groups: count(backend, "groups", tenant_id).await,
        relationships: count(backend, "relationships", tenant_id).await,
        relationship_changes: count(backend, "relationship_changes", tenant_id).await,
        relationship_revisions: count(backend, "relationship_revisions", tenant_id).await,
    }
}

/// A workspace row written with raw SQL, bypassing the store.
struct RawWorkspaceRow<'a> {
    tenant_id: &'a str,
    workspace_id: &'a str,
    name: &'a str,
    parent_workspace_id: Option<&'a str>,
    is_root: bool,
}

impl RawWorkspaceRow<'_> {
    fn insert_sql(&self) -> String {
        let parent = self.parent_workspace_id.map_or_else(|| "NULL".to_owned(), sql_literal);
        let is_root = if self.is_root { "TRUE" } else { "FALSE" };
        format!(
            "INSERT INTO workspaces (tenant_id, id, name, parent_workspace_id, is_root, status, environment, \
             created_at, updated_at) VALUES ({}, {}, {}, {parent}, {is_root}, 'active', 'production', \
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            sql_literal(self.tenant_id),
            sql_literal(self.workspace_id),
            sql_literal(self.name),
        )
    }
}

fn insert_api_key_sql(backend: &TestBackend, tenant_id: &str, user_id: &str, name: &str) -> String {
    format!(
        "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
         VALUES ({}, {}, {}, {}, {}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        sql_literal(tenant_id),
        sql_literal(ApiKeyId::generate()),
        sql_literal(user_id),
        sql_literal(name),
        backend.raw.blob_literal(&[0xab; 32]),
    )
}

fn insert_tenant_sql(tenant_id: &TenantId, name: &str) -> String {
    format!(
        "INSERT INTO tenants (id, name, display_name, status, deployment_model, data_residency, created_at, \
         updated_at) VALUES ({}, {}, {}, 'active', 'hosted_saas', 'global', CURRENT_TIMESTAMP, \
         CURRENT_TIMESTAMP)",
        sql_literal(tenant_id),
        sql_literal(name),
        sql_literal(name),
    )
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

#[track_caller]
fn expect_conflict<T: Debug>(result: Result<T, Error>, expected: ConflictCode) {
    match result {
        Err(Error::Conflict { code, .. }) if code == expected => {}
        other => panic!("expected Err(Conflict {{ code: {expected:?} }}), got {other:?}"),
    }
}

#[track_caller]
fn expect_limit<T: Debug>(result: Result<T, Error>, expected: LimitCode) {
    match result {
        Err(Error::LimitExceeded { code, .. }) if code == expected => {}
        other => panic!("expected Err(LimitExceeded {{ code: {expected:?} }}), got {other:?}"),
    }
}

#[track_caller]
fn expect_not_found<T: Debug>(result: Result<T, Error>, expected_resource: &str) {
    match result {
        Err(Error::NotFound { resource }) if resource == expected_resource => {}
        other => panic!("expected Err(NotFound {{ resource: {expected_resource:?} }}), got {other:?}"),
    }
}

#[track_caller]
fn expect_invalid<T: Debug>(result: Result<T, Error>, expected_field: &str) {
    match result {
        Err(Error::Invalid { field, .. }) if field == expected_field => {}
        other => panic!("expected Err(Invalid {{ field: {expected_field:?}, .. }}), got {other:?}"),
    }
}

/// The kinds of constraint the schema uses, recognised by the database's
/// message: both backends name the kind in their wording.
#[derive(Debug, Clone, Copy)]
enum Violation {
    ForeignKey,
    Unique,
    Check,
}

impl Violation {
    /// A lower-case fragment found in both SQLite's ("FOREIGN KEY
    /// constraint failed") and PostgreSQL's ("violates foreign key
    /// constraint") messages.
    fn message_fragment(self) -> &'static str {
        match self {
            Self::ForeignKey => "foreign key constraint",
            Self::Unique => "unique constraint",
            Self::Check => "check constraint",
        }
    }

    const ALL: [Violation; 3] = [Self::ForeignKey, Self::Unique, Self::Check];
}

/// Asserts that the database refused a raw statement for the expected kind
/// of constraint. PostgreSQL names the constraint in its message, so when
/// the schema fixes a constraint's name it is checked there too; SQLite's
/// messages carry no constraint names.
#[track_caller]
fn expect_violation(
    backend: &TestBackend,
    result: Result<u64, String>,
    violation: Violation,
    postgres_constraint: Option<&str>,
) {
    let message = match result {
        Ok(rows) => panic!("expected a {violation:?} violation, but the statement succeeded ({rows} rows)"),
        Err(message) => message,
    };
    assert!(
        message.to_lowercase().contains(violation.message_fragment()),
        "expected a {violation:?} violation, got: {message}"
    );
    if let Some(constraint) = postgres_constraint.filter(|_| backend.raw.names_violated_constraints()) {
        assert!(message.contains(constraint), "expected constraint {constraint:?} in: {message}");
    }
}

/// Asserts that the database refused a raw statement that breaks no key,
/// foreign key or check: only an immutability trigger can have stopped it.
#[track_caller]
fn expect_trigger_refusal(result: Result<u64, String>) {
    let message = match result {
        Ok(rows) => panic!("expected a trigger to refuse the statement, but it succeeded ({rows} rows)"),
        Err(message) => message,
    };
    let lower = message.to_lowercase();
    for violation in Violation::ALL {
        assert!(
            !lower.contains(violation.message_fragment()),
            "expected the immutability trigger to refuse the statement, but a {violation:?} did: {message}"
        );
    }
}

// ---------------------------------------------------------------------------
// Cases: schema and settings
// ---------------------------------------------------------------------------

/// The database answers and a freshly migrated schema has nothing pending.
async fn migrations_are_current(backend: &TestBackend) {
    backend.store.ping().await.unwrap();
    assert_eq!(backend.store.pending_migrations().await.unwrap(), Vec::<i64>::new());
}

/// A snapshot carries every table and every column but the deployment
/// settings (the pepper), the webhook secrets it withholds and a
/// singleton's key: a migration that adds a table or a column must add it
/// to `tenantry_core::snapshot::RECORD_KINDS`, or an export would silently
/// leave it behind.
async fn every_table_and_column_is_in_snapshots(backend: &TestBackend) {
    use tenantry_core::snapshot::RECORD_KINDS;
    let mut tables = backend.raw.tables().await.unwrap();
    tables.retain(|table| table != "deployment_settings");
    let mut kinds: Vec<&str> = RECORD_KINDS.iter().map(|kind| kind.name).collect();
    kinds.sort_unstable();
    assert_eq!(tables, kinds, "the tables and the snapshot's record kinds");
    for kind in RECORD_KINDS {
        let columns = backend.raw.columns(kind.name).await.unwrap();
        let mut fields: Vec<&str> = kind.stored_fields().map(|field| field.name).collect();
        fields.sort_unstable();
        let extra: Vec<&String> =
            columns.iter().filter(|column| !fields.contains(&column.as_str())).collect();
        let missing: Vec<&&str> =
            fields.iter().filter(|field| !columns.iter().any(|column| column == *field)).collect();
        assert!(missing.is_empty(), "{}: fields without a column: {missing:?}", kind.name);
        // A singleton's table keeps one key column that is no field.
        assert_eq!(
            extra.len(),
            usize::from(kind.singleton),
            "{}: columns no field carries: {extra:?}",
            kind.name
        );
    }
}

/// The pepper is created once, race-safely, is long enough for
/// [`ApiKeyHasher`], and every later call returns the same bytes.
async fn api_key_pepper_is_stable_and_long_enough(backend: &TestBackend) {
    // Concurrent first calls on a fresh database must agree on one pepper.
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = backend.store.clone();
        tasks.spawn(async move { store.api_key_pepper().await });
    }
    let peppers: Vec<Vec<u8>> = tasks.join_all().await.into_iter().map(Result::unwrap).collect();
    let pepper = peppers[0].clone();
    assert!(
        peppers.iter().all(|other| *other == pepper),
        "concurrent first calls returned different peppers"
    );

    assert!(pepper.len() >= 32, "the pepper has {} bytes, at least 32 are required", pepper.len());
    assert!(pepper.iter().any(|byte| *byte != 0), "the pepper is all zeros: it is not random");
    assert!(ApiKeyHasher::new(&pepper).is_ok());
    assert_eq!(backend.store.api_key_pepper().await.unwrap(), pepper);
    assert_eq!(
        scalar(backend, "SELECT count(*) FROM deployment_settings WHERE name = 'api_key_pepper'").await,
        1
    );
}

// ---------------------------------------------------------------------------
// Cases: tenants
// ---------------------------------------------------------------------------

/// Creating a tenant creates exactly one root workspace, named as asked,
/// pinned in `tenant_root_workspaces`.
async fn create_tenant_creates_exactly_one_root_workspace(backend: &TestBackend) {
    let mut request = new_tenant("acme");
    request.root_workspace_name = WorkspaceName::parse("Headquarters").unwrap();
    request.deployment_model = DeploymentModel::Hybrid;
    request.data_residency = DataResidency::Eu;
    let (tenant, root) = backend.store.create_tenant(&platform(), request.clone()).await.unwrap();

    assert_eq!(tenant.name, request.name);
    assert_eq!(tenant.display_name, request.display_name);
    assert_eq!(tenant.status, TenantStatus::Active);
    assert_eq!(tenant.deployment_model, DeploymentModel::Hybrid);
    assert_eq!(tenant.data_residency, DataResidency::Eu);

    assert_eq!(root.name.as_str(), "Headquarters");
    assert!(root.is_root);
    assert_eq!(root.parent_workspace_id, None);
    assert_eq!(root.tenant_id, tenant.id);
    assert_eq!(root.status, WorkspaceStatus::Active);
    assert_eq!(root.environment, Environment::production());

    // What was returned is what was stored.
    let scope = TenantScope::system(tenant.id.clone(), "test");
    assert_eq!(backend.store.get_tenant(&scope).await.unwrap(), tenant);
    assert_eq!(backend.store.get_workspace(&scope, &root.id).await.unwrap(), root);
    let page = backend.store.list_workspaces(&scope, PageRequest::first()).await.unwrap();
    assert_eq!(page.items, vec![root.clone()]);
    assert_eq!(page.next_cursor, None);

    assert_eq!(count(backend, "workspaces", &tenant.id).await, 1);
    let roots =
        format!("SELECT count(*) FROM workspaces WHERE tenant_id = {} AND is_root", sql_literal(&tenant.id));
    assert_eq!(scalar(backend, &roots).await, 1);
    let pin = format!(
        "SELECT count(*) FROM tenant_root_workspaces WHERE tenant_id = {} AND workspace_id = {}",
        sql_literal(&tenant.id),
        sql_literal(&root.id)
    );
    assert_eq!(scalar(backend, &pin).await, 1);

    let tenants = backend.store.list_tenants(&platform(), PageRequest::first()).await.unwrap();
    assert_eq!(tenants.items, vec![tenant]);

    // Without a configured name the root is called `Root`.
    let globex = create_tenant(backend, "globex").await;
    assert_eq!(globex.root.name, WorkspaceName::default_root());
    assert!(globex.root.is_root);
}

/// Tenant names are unique across the deployment, on create and on rename.
async fn duplicate_tenant_names_conflict(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;

    expect_conflict(
        backend.store.create_tenant(&platform(), new_tenant("acme")).await,
        ConflictCode::DuplicateTenantName,
    );
    assert_eq!(scalar(backend, "SELECT count(*) FROM tenants").await, 2);
    assert_eq!(
        scalar(backend, "SELECT count(*) FROM workspaces").await,
        2,
        "a refused tenant left a root behind"
    );

    let take_acme = TenantPatch { name: Some(TenantName::parse("acme").unwrap()), ..TenantPatch::default() };
    expect_conflict(
        backend.store.update_tenant(&globex.scope, take_acme.clone()).await,
        ConflictCode::DuplicateTenantName,
    );
    assert_eq!(backend.store.get_tenant(&globex.scope).await.unwrap(), globex.tenant);

    // Keeping one's own name is not a conflict.
    let unchanged = backend.store.update_tenant(&acme.scope, take_acme).await.unwrap();
    assert_eq!(unchanged.name, acme.tenant.name);

    // A name given up is free again.
    let rename = TenantPatch { name: Some(TenantName::parse("initech").unwrap()), ..TenantPatch::default() };
    backend.store.update_tenant(&globex.scope, rename).await.unwrap();
    create_tenant(backend, "globex").await;
}

/// `update_tenant` changes only what the patch names and advances
/// `updated_at`.
async fn update_tenant_applies_only_the_patched_fields(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;

    let_the_clock_tick().await;
    let display_name = DisplayName::parse("Acme Corporation").unwrap();
    let patch = TenantPatch { display_name: Some(display_name.clone()), ..TenantPatch::default() };
    let renamed = backend.store.update_tenant(&acme.scope, patch).await.unwrap();
    assert_eq!(
        renamed,
        Tenant { display_name, updated_at: renamed.updated_at, ..acme.tenant.clone() },
        "only display_name and updated_at may change"
    );
    assert!(renamed.updated_at > acme.tenant.updated_at, "updated_at did not advance");
    assert_eq!(backend.store.get_tenant(&acme.scope).await.unwrap(), renamed);

    let_the_clock_tick().await;
    let patch = TenantPatch {
        name: Some(TenantName::parse("acme-two").unwrap()),
        display_name: None,
        status: Some(TenantStatus::Suspended),
        deployment_model: Some(DeploymentModel::SelfHostedEnterprise),
        data_residency: Some(DataResidency::Uk),
    };
    let updated = backend.store.update_tenant(&acme.scope, patch).await.unwrap();
    assert_eq!(updated.name.as_str(), "acme-two");
    assert_eq!(updated.display_name, renamed.display_name);
    assert_eq!(updated.status, TenantStatus::Suspended);
    assert_eq!(updated.deployment_model, DeploymentModel::SelfHostedEnterprise);
    assert_eq!(updated.data_residency, DataResidency::Uk);
    assert_eq!(updated.created_at, acme.tenant.created_at);
    assert!(updated.updated_at > renamed.updated_at, "updated_at did not advance");
    // A suspended tenant can still be read, so an operator can re-activate it.
    assert_eq!(backend.store.get_tenant(&acme.scope).await.unwrap(), updated);

    let reactivate = TenantPatch { status: Some(TenantStatus::Active), ..TenantPatch::default() };
    assert_eq!(
        backend.store.update_tenant(&acme.scope, reactivate).await.unwrap().status,
        TenantStatus::Active
    );
}

/// A scope naming a tenant that does not exist finds nothing and creates
/// nothing.
async fn unknown_tenant_is_not_found(backend: &TestBackend) {
    let missing = TenantId::generate();
    let scope = TenantScope::system(missing.clone(), "test");
    expect_not_found(backend.store.get_tenant(&scope).await, "tenant");
    let patch =
        TenantPatch { display_name: Some(DisplayName::parse("Ghost").unwrap()), ..TenantPatch::default() };
    expect_not_found(backend.store.update_tenant(&scope, patch).await, "tenant");
    expect_not_found(backend.store.delete_tenant(&platform(), &missing).await, "tenant");

    let alice = create_user(backend, "alice").await;
    expect_not_found(mint(backend, &scope, &alice.id, "ci").await, "tenant");

    // Creating anything in it is "tenant not found" on every backend,
    // whatever else the request names (a parent workspace of its own, a
    // member), and writes nothing.
    let store = &backend.store;
    expect_not_found(store.create_workspace(&scope, new_workspace("orphan", None)).await, "tenant");
    let named_parent =
        NewWorkspace { parent_workspace_id: Some(WorkspaceId::generate()), ..new_workspace("orphan", None) };
    expect_not_found(store.create_workspace(&scope, named_parent).await, "tenant");
    let new_group = NewGroup { name: GroupName::parse("orphans").unwrap(), creator: Some(alice.id.clone()) };
    expect_not_found(store.create_group(&scope, new_group).await, "tenant");
    let grant = membership(&MembershipResource::Tenant, Member::User(alice.id.clone()), Role::Member);
    expect_not_found(store.set_membership(&scope, grant).await, "tenant");
    for table in ["api_keys", "tenants", "workspaces", "groups", "relationships"] {
        assert_eq!(scalar(backend, &format!("SELECT count(*) FROM {table}")).await, 0, "{table}");
    }
}

/// Every table the migrations make is in [`crate::TENANT_OWNED_TABLES`]
/// (exactly those with a `tenant_id` column, and `tenants`) or in
/// [`crate::GLOBAL_TABLES`], so that a new tenant-owned table cannot be
/// left out of the tests that take their tables from those lists.
async fn every_table_is_listed(backend: &TestBackend) {
    let listed = |tables: &[&str]| tables.iter().map(|table| (*table).to_owned()).collect::<BTreeSet<_>>();
    let tenant_owned = listed(&crate::TENANT_OWNED_TABLES);
    let global = listed(&crate::GLOBAL_TABLES);
    assert!(tenant_owned.is_disjoint(&global));
    let mut with_tenant_id: BTreeSet<String> =
        backend.raw.tables_with_column("tenant_id").await.unwrap().into_iter().collect();
    with_tenant_id.insert("tenants".to_owned());
    assert_eq!(
        with_tenant_id, tenant_owned,
        "TENANT_OWNED_TABLES is every table with tenant_id, and tenants"
    );
    let all: BTreeSet<String> = backend.raw.tables().await.unwrap().into_iter().collect();
    let classified: BTreeSet<String> = tenant_owned.union(&global).cloned().collect();
    assert_eq!(all, classified, "every table is in TENANT_OWNED_TABLES or GLOBAL_TABLES");
}

// ---------------------------------------------------------------------------
// Cases: workspaces
// ---------------------------------------------------------------------------

/// Workspace names are unique within a tenant, free across tenants, on
/// create and on rename; other fields update with `updated_at`.
async fn workspace_names_are_unique_within_a_tenant_only(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;

    let billing = create_workspace(backend, &acme.scope, "billing", None).await;
    assert_eq!(billing.tenant_id, acme.tenant.id);
    assert_eq!(billing.parent_workspace_id.as_ref(), Some(&acme.root.id), "no parent means the root");
    assert!(!billing.is_root);
    assert_eq!(billing.status, WorkspaceStatus::Active);
    assert_eq!(billing.environment, Environment::production());
    assert_eq!(backend.store.get_workspace(&acme.scope, &billing.id).await.unwrap(), billing);

    for (name, parent) in [("billing", None), ("billing", Some(&billing)), ("Root", None)] {
        expect_conflict(
            backend.store.create_workspace(&acme.scope, new_workspace(name, parent)).await,
            ConflictCode::DuplicateWorkspaceName,
        );
    }
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 2);

    // The same name in another tenant is fine.
    let other_billing = create_workspace(backend, &globex.scope, "billing", None).await;
    assert_eq!(other_billing.tenant_id, globex.tenant.id);

    let support = create_workspace(backend, &acme.scope, "support", None).await;
    expect_conflict(
        backend.store.update_workspace(&acme.scope, &support.id, rename_to("billing")).await,
        ConflictCode::DuplicateWorkspaceName,
    );
    assert_eq!(backend.store.get_workspace(&acme.scope, &support.id).await.unwrap(), support);

    let_the_clock_tick().await;
    let patch = WorkspacePatch {
        name: Some(WorkspaceName::parse("helpdesk").unwrap()),
        parent_workspace_id: None,
        status: Some(WorkspaceStatus::Paused),
        environment: Some(Environment::parse("staging").unwrap()),
    };
    let helpdesk = backend.store.update_workspace(&acme.scope, &support.id, patch).await.unwrap();
    assert_eq!(helpdesk.name.as_str(), "helpdesk");
    assert_eq!(helpdesk.status, WorkspaceStatus::Paused);
    assert_eq!(helpdesk.environment.as_str(), "staging");
    assert_eq!(helpdesk.parent_workspace_id, support.parent_workspace_id);
    assert_eq!(helpdesk.created_at, support.created_at);
    assert!(helpdesk.updated_at > support.updated_at, "updated_at did not advance");
    assert_eq!(backend.store.get_workspace(&acme.scope, &support.id).await.unwrap(), helpdesk);

    // The old name is free again.
    create_workspace(backend, &acme.scope, "support", None).await;
}

/// The partial unique index and the root CHECK keep exactly one root per
/// tenant, whatever raw SQL tries.
async fn database_allows_only_one_root_per_tenant(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let tenant_id = acme.tenant.id.to_string();
    let root_id = acme.root.id.to_string();

    // Positive control: the same INSERT for a child goes through.
    let child_id = WorkspaceId::generate().to_string();
    let child = RawWorkspaceRow {
        tenant_id: &tenant_id,
        workspace_id: &child_id,
        name: "raw-child",
        parent_workspace_id: Some(&root_id),
        is_root: false,
    };
    assert_eq!(raw_ok(backend, &child.insert_sql()).await, 1);

    let second_root_id = WorkspaceId::generate().to_string();
    let second_root = RawWorkspaceRow {
        tenant_id: &tenant_id,
        workspace_id: &second_root_id,
        name: "second-root",
        parent_workspace_id: None,
        is_root: true,
    };
    expect_violation(
        backend,
        raw(backend, &second_root.insert_sql()).await,
        Violation::Unique,
        Some("workspaces_one_root_per_tenant"),
    );

    // A root must have no parent, and a workspace without a parent is a root.
    let rooted_child_id = WorkspaceId::generate().to_string();
    let rooted_child = RawWorkspaceRow {
        tenant_id: &tenant_id,
        workspace_id: &rooted_child_id,
        name: "rooted-child",
        parent_workspace_id: Some(&root_id),
        is_root: true,
    };
    expect_violation(backend, raw(backend, &rooted_child.insert_sql()).await, Violation::Check, None);

    let child_where =
        format!("WHERE tenant_id = {} AND id = {}", sql_literal(&tenant_id), sql_literal(&child_id));
    expect_violation(
        backend,
        raw(backend, &format!("UPDATE workspaces SET is_root = TRUE {child_where}")).await,
        Violation::Check,
        None,
    );
    expect_violation(
        backend,
        raw(
            backend,
            &format!("UPDATE workspaces SET is_root = TRUE, parent_workspace_id = NULL {child_where}"),
        )
        .await,
        Violation::Unique,
        Some("workspaces_one_root_per_tenant"),
    );

    for tenant in [&acme, &globex] {
        let roots = format!(
            "SELECT count(*) FROM workspaces WHERE tenant_id = {} AND is_root",
            sql_literal(&tenant.tenant.id)
        );
        assert_eq!(scalar(backend, &roots).await, 1);
    }
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 2);
    let child_is_child = format!("SELECT count(*) FROM workspaces {child_where} AND NOT is_root");
    assert_eq!(scalar(backend, &child_is_child).await, 1);
}

/// The store refuses to delete a root or a workspace with children, with
/// the exact conflict, and deletes a leaf.
async fn store_refuses_to_delete_the_root_or_a_parent(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let parent = create_workspace(backend, &acme.scope, "parent", None).await;
    let child = create_workspace(backend, &acme.scope, "child", Some(&parent)).await;

    expect_conflict(
        backend.store.delete_workspace(&acme.scope, &acme.root.id).await,
        ConflictCode::RootWorkspace,
    );
    expect_conflict(
        backend.store.delete_workspace(&acme.scope, &parent.id).await,
        ConflictCode::WorkspaceHasChildren,
    );
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 3);
    assert_eq!(backend.store.get_workspace(&acme.scope, &parent.id).await.unwrap(), parent);

    backend.store.delete_workspace(&acme.scope, &child.id).await.unwrap();
    expect_not_found(backend.store.get_workspace(&acme.scope, &child.id).await, "workspace");
    expect_not_found(backend.store.delete_workspace(&acme.scope, &child.id).await, "workspace");
    expect_not_found(
        backend.store.delete_workspace(&acme.scope, &WorkspaceId::generate()).await,
        "workspace",
    );

    backend.store.delete_workspace(&acme.scope, &parent.id).await.unwrap();
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 1);

    // A root with no children is still refused, as the root.
    expect_conflict(
        backend.store.delete_workspace(&acme.scope, &acme.root.id).await,
        ConflictCode::RootWorkspace,
    );
    assert_eq!(backend.store.get_workspace(&acme.scope, &acme.root.id).await.unwrap(), acme.root);
}

/// The schema itself (RESTRICT foreign keys) refuses a raw DELETE of a
/// root or of a workspace with children.
async fn database_restricts_deleting_the_root_or_a_parent(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;

    // A root without children: only its pin in tenant_root_workspaces holds it.
    let delete_root = format!("DELETE FROM workspaces WHERE id = {}", sql_literal(&acme.root.id));
    expect_violation(backend, raw(backend, &delete_root).await, Violation::ForeignKey, None);
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 1);

    let parent = create_workspace(backend, &acme.scope, "parent", None).await;
    let child = create_workspace(backend, &acme.scope, "child", Some(&parent)).await;
    let delete_parent = format!(
        "DELETE FROM workspaces WHERE tenant_id = {} AND id = {}",
        sql_literal(&acme.tenant.id),
        sql_literal(&parent.id)
    );
    expect_violation(
        backend,
        raw(backend, &delete_parent).await,
        Violation::ForeignKey,
        Some("workspaces_parent_fkey"),
    );
    expect_violation(backend, raw(backend, &delete_root).await, Violation::ForeignKey, None);
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 3);
    assert_eq!(backend.store.get_workspace(&acme.scope, &parent.id).await.unwrap(), parent);
    assert_eq!(backend.store.get_workspace(&acme.scope, &acme.root.id).await.unwrap(), acme.root);

    // Positive control: a leaf goes, so the refusals above were RESTRICT and
    // not a statement that could not delete anything.
    let delete_child = format!(
        "DELETE FROM workspaces WHERE tenant_id = {} AND id = {}",
        sql_literal(&acme.tenant.id),
        sql_literal(&child.id)
    );
    assert_eq!(raw_ok(backend, &delete_child).await, 1);
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 2);
}

/// The workspace tree grows to the store's depth limit (the test backends
/// keep the defaults) and no further: a create beneath the deepest
/// workspace is refused, and so is a move whose subtree would then reach
/// below the limit, with nothing changed; a move that fits exactly passes.
async fn workspace_depth_is_limited_on_create_and_on_move(backend: &TestBackend) {
    let limit = StoreLimits::defaults().max_workspace_depth.get();
    let acme = create_tenant(backend, "acme").await;
    let store = &backend.store;
    // chain[d - 1] is the workspace at depth d; the root is depth 1.
    let mut chain = vec![acme.root.clone()];
    for depth in 2..=limit {
        let parent = chain.last().cloned();
        chain.push(create_workspace(backend, &acme.scope, &format!("level-{depth}"), parent.as_ref()).await);
    }
    let deepest = chain.last().unwrap().clone();
    expect_limit(
        store.create_workspace(&acme.scope, new_workspace("too-deep", Some(&deepest))).await,
        LimitCode::WorkspaceTooDeep,
    );

    // A subtree two levels high: root -> branch -> leaf.
    let branch = create_workspace(backend, &acme.scope, "branch", None).await;
    let leaf = create_workspace(backend, &acme.scope, "leaf", Some(&branch)).await;
    let at_depth = |depth: u32| chain[depth as usize - 1].id.clone();
    // Beneath depth limit - 1, its leaf would be at limit + 1.
    expect_limit(
        store.update_workspace(&acme.scope, &branch.id, move_under(&at_depth(limit - 1))).await,
        LimitCode::WorkspaceTooDeep,
    );
    assert_eq!(store.get_workspace(&acme.scope, &branch.id).await.unwrap(), branch);
    // Beneath depth limit - 2, its leaf is exactly at the limit.
    let moved =
        store.update_workspace(&acme.scope, &branch.id, move_under(&at_depth(limit - 2))).await.unwrap();
    assert_eq!(moved.parent_workspace_id, Some(at_depth(limit - 2)));
    // The leaf alone (height 1) may not go beneath the deepest workspace.
    expect_limit(
        store.update_workspace(&acme.scope, &leaf.id, move_under(&deepest.id)).await,
        LimitCode::WorkspaceTooDeep,
    );
    // The refusals changed nothing: the chain, the branch and its leaf.
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, i64::from(limit) + 2);
}

/// A create and a move, each within the depth limit alone, that would
/// exceed it together: a leaf beneath a branch at depth 2, and the branch
/// moved beneath the deepest workspace but one. Run at once, whichever
/// commits first, the other is refused: the check is inside the write.
async fn concurrent_create_and_move_cannot_exceed_the_depth_together(backend: &TestBackend) {
    let limit = StoreLimits::defaults().max_workspace_depth.get();
    let acme = create_tenant(backend, "acme").await;
    let mut above_deepest = acme.root.clone();
    for depth in 2..limit {
        above_deepest =
            create_workspace(backend, &acme.scope, &format!("level-{depth}"), Some(&above_deepest)).await;
    }
    let branch = create_workspace(backend, &acme.scope, "branch", None).await;
    let (store, scope) = (backend.store.clone(), acme.scope.clone());
    let create = {
        let (store, scope, branch) = (store.clone(), scope.clone(), branch.clone());
        tokio::spawn(
            async move { store.create_workspace(&scope, new_workspace("leaf", Some(&branch))).await },
        )
    };
    let moving = {
        let (store, scope, branch_id) = (store.clone(), scope.clone(), branch.id.clone());
        let target = above_deepest.id.clone();
        tokio::spawn(async move { store.update_workspace(&scope, &branch_id, move_under(&target)).await })
    };
    let (created, moved) = (create.await.unwrap(), moving.await.unwrap());
    match (&created, &moved) {
        (Ok(_), Err(Error::LimitExceeded { code: LimitCode::WorkspaceTooDeep, .. }))
        | (Err(Error::LimitExceeded { code: LimitCode::WorkspaceTooDeep, .. }), Ok(_)) => {}
        other => panic!("expected exactly one refusal, got {other:?}"),
    }
    // Whichever won, the deepest workspace is at the limit, not below it.
    let branch_now = store.get_workspace(&scope, &branch.id).await.unwrap();
    let branch_depth =
        if branch_now.parent_workspace_id == Some(above_deepest.id.clone()) { limit } else { 2 };
    let leaf_count = i64::from(created.is_ok());
    assert!(branch_depth + u32::try_from(leaf_count).unwrap() <= limit, "{branch_now:?}");
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, i64::from(limit) + leaf_count);
}

/// A move carries the subtree; moves under oneself or a descendant, moves
/// of the root and moves to another tenant's workspace are refused and
/// change nothing.
async fn move_workspace_carries_its_subtree_and_refuses_cycles(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    // root -> a -> b -> c, and root -> d
    let a = create_workspace(backend, &acme.scope, "a", None).await;
    let b = create_workspace(backend, &acme.scope, "b", Some(&a)).await;
    let c = create_workspace(backend, &acme.scope, "c", Some(&b)).await;
    let d = create_workspace(backend, &acme.scope, "d", None).await;
    let store = &backend.store;

    for target in [&a, &b, &c] {
        expect_conflict(
            store.update_workspace(&acme.scope, &a.id, move_under(&target.id)).await,
            ConflictCode::WorkspaceCycle,
        );
    }
    expect_conflict(
        store.update_workspace(&acme.scope, &acme.root.id, move_under(&d.id)).await,
        ConflictCode::RootWorkspace,
    );
    // A refused move changes nothing, not even the other fields of its patch.
    let rename_and_cycle =
        WorkspacePatch { name: Some(WorkspaceName::parse("renamed").unwrap()), ..move_under(&c.id) };
    expect_conflict(
        store.update_workspace(&acme.scope, &a.id, rename_and_cycle).await,
        ConflictCode::WorkspaceCycle,
    );
    expect_invalid(
        store.update_workspace(&acme.scope, &a.id, move_under(&globex.root.id)).await,
        "parent_workspace_id",
    );
    expect_invalid(
        store.update_workspace(&acme.scope, &a.id, move_under(&WorkspaceId::generate())).await,
        "parent_workspace_id",
    );
    assert_eq!(store.get_workspace(&acme.scope, &a.id).await.unwrap(), a);
    assert_eq!(store.get_workspace(&acme.scope, &acme.root.id).await.unwrap(), acme.root);
    assert_eq!(workspace_ids(backend, &globex.scope).await, BTreeSet::from([globex.root.id.clone()]));

    // root -> a, root -> d -> b -> c
    let moved_b = store.update_workspace(&acme.scope, &b.id, move_under(&d.id)).await.unwrap();
    assert_eq!(moved_b.parent_workspace_id.as_ref(), Some(&d.id));
    assert_eq!(moved_b.name, b.name);
    assert_eq!(store.get_workspace(&acme.scope, &b.id).await.unwrap(), moved_b);
    assert_eq!(store.get_workspace(&acme.scope, &c.id).await.unwrap(), c, "the subtree moved with b");

    // root -> a -> d -> b -> c: now c is a descendant of a again, three levels down.
    store.update_workspace(&acme.scope, &d.id, move_under(&a.id)).await.unwrap();
    expect_conflict(
        store.update_workspace(&acme.scope, &a.id, move_under(&c.id)).await,
        ConflictCode::WorkspaceCycle,
    );
    // Moving a leaf up to the root is fine.
    let moved_c = store.update_workspace(&acme.scope, &c.id, move_under(&acme.root.id)).await.unwrap();
    assert_eq!(moved_c.parent_workspace_id.as_ref(), Some(&acme.root.id));
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 5);
}

/// A parent must be a workspace of the scope's tenant; a refused create
/// writes nothing.
async fn create_workspace_under_another_tenants_parent_is_invalid(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let acme_team = create_workspace(backend, &acme.scope, "team", None).await;

    let foreign_parents = [acme_team.id.clone(), acme.root.id.clone(), WorkspaceId::generate()];
    for parent in foreign_parents {
        let intruder = NewWorkspace { parent_workspace_id: Some(parent), ..new_workspace("intruder", None) };
        expect_invalid(backend.store.create_workspace(&globex.scope, intruder).await, "parent_workspace_id");
    }
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 2);
    assert_eq!(count(backend, "workspaces", &globex.tenant.id).await, 1);
    assert_eq!(scalar(backend, "SELECT count(*) FROM workspaces WHERE name = 'intruder'").await, 0);

    // The refused name was not taken.
    let intruder = create_workspace(backend, &globex.scope, "intruder", None).await;
    assert_eq!(intruder.parent_workspace_id.as_ref(), Some(&globex.root.id));
}

// ---------------------------------------------------------------------------
// Cases: deleting tenants
// ---------------------------------------------------------------------------

/// A tenant with a five-level chain below its root, two side branches,
/// three API keys of two users, and a group (made by the first user) that
/// edits the first level.
#[derive(Debug)]
struct PopulatedTenant {
    created: CreatedTenant,
    /// `level-1` (child of the root) to `level-5`.
    chain: Vec<Workspace>,
}

const POPULATED_WORKSPACES: i64 = 8;
const POPULATED_API_KEYS: i64 = 3;
/// The tenant's own 3, 2 for each of the 7 workspaces below the root
/// (tenant, parent), 2 for each key (owner, tenant), 2 for the group
/// (tenant, its creator as admin) and 1 for the group's role.
const POPULATED_RELATIONSHIPS: i64 = 3 + 7 * 2 + 3 * 2 + 2 + 1;

async fn populate_tenant(backend: &TestBackend, name: &str, first: &User, second: &User) -> PopulatedTenant {
    let created = create_tenant(backend, name).await;
    let mut chain: Vec<Workspace> = Vec::new();
    for level in 1..=5 {
        let workspace =
            create_workspace(backend, &created.scope, &format!("level-{level}"), chain.last()).await;
        chain.push(workspace);
    }
    create_workspace(backend, &created.scope, "branch-2", Some(&chain[0])).await;
    create_workspace(backend, &created.scope, "branch-4", Some(&chain[2])).await;
    for (user, key_name) in [(first, "ci"), (first, "deploy"), (second, "ci")] {
        mint(backend, &created.scope, &user.id, key_name).await.unwrap();
    }
    let group = create_group(backend, &created.scope, "editors", Some(&first.id)).await;
    let first_level = MembershipResource::Workspace(chain[0].id.clone());
    let editors = membership(&first_level, Member::Group(group.id), Role::Editor);
    backend.store.set_membership(&created.scope, editors).await.unwrap();
    PopulatedTenant { created, chain }
}

const POPULATED_ROW_COUNTS: TenantRowCounts = TenantRowCounts {
    tenants: 1,
    workspaces: POPULATED_WORKSPACES,
    root_pins: 1,
    api_keys: POPULATED_API_KEYS,
    groups: 1,
    relationships: POPULATED_RELATIONSHIPS,
    // Nothing was deleted: one logged change per relationship.
    relationship_changes: POPULATED_RELATIONSHIPS,
    relationship_revisions: 1,
};

const NO_ROWS: TenantRowCounts = TenantRowCounts {
    tenants: 0,
    workspaces: 0,
    root_pins: 0,
    api_keys: 0,
    groups: 0,
    relationships: 0,
    relationship_changes: 0,
    relationship_revisions: 0,
};

/// `delete_tenant` removes the tenant and every row it owns, deepest
/// workspaces first so RESTRICT never fires, and nothing of another tenant.
async fn delete_tenant_removes_everything_it_owns_and_nothing_else(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = populate_tenant(backend, "acme", &alice, &bob).await;
    let globex = populate_tenant(backend, "globex", &alice, &bob).await;
    let acme_id = acme.created.tenant.id.clone();
    assert_eq!(tenant_row_counts(backend, &acme_id).await, POPULATED_ROW_COUNTS);
    let globex_partition = tenant_partition(&globex.created.scope);
    let globex_state = partition_state(backend, &globex_partition).await;

    backend.store.delete_tenant(&platform(), &acme_id).await.unwrap();

    assert_eq!(tenant_row_counts(backend, &acme_id).await, NO_ROWS);
    // Readers of the partition are told it is gone, at any revision.
    let acme_partition = tenant_partition(&acme.created.scope);
    for after in [Revision::ZERO, Revision::new(1)] {
        assert_eq!(
            backend.store.relationship_changes(&acme_partition, after).await.unwrap(),
            RelationshipChanges::Gone
        );
    }
    expect_not_found(backend.store.relationship_snapshot(&acme_partition).await, "tenant");
    assert_eq!(partition_state(backend, &globex_partition).await, globex_state);
    assert_eq!(tenant_row_counts(backend, &globex.created.tenant.id).await, POPULATED_ROW_COUNTS);
    assert_eq!(workspace_ids(backend, &globex.created.scope).await.len() as i64, POPULATED_WORKSPACES);
    let globex_keys = backend.store.list_api_keys(&globex.created.scope, PageRequest::first()).await.unwrap();
    assert_eq!(globex_keys.items.len() as i64, POPULATED_API_KEYS);
    // Users are global: they outlive the tenants they held keys in.
    assert_eq!(backend.store.get_user(&alice.id).await.unwrap(), alice);

    expect_not_found(backend.store.get_tenant(&acme.created.scope).await, "tenant");
    expect_not_found(backend.store.delete_tenant(&platform(), &acme_id).await, "tenant");
    let tenants = backend.store.list_tenants(&platform(), PageRequest::first()).await.unwrap();
    assert_eq!(tenants.items, vec![globex.created.tenant.clone()]);
    // The name is free again.
    create_tenant(backend, "acme").await;
}

/// A failure part-way through `delete_tenant` leaves every row in place.
/// The failure is injected with a trigger on a workspace in the middle of
/// the chain, which deepest-first deletion reaches after the API keys and
/// the deeper workspaces are gone.
async fn delete_tenant_failing_part_way_deletes_nothing(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = populate_tenant(backend, "acme", &alice, &bob).await;
    let globex = populate_tenant(backend, "globex", &alice, &bob).await;
    let acme_id = acme.created.tenant.id.clone();
    let doomed_id = sql_literal(&acme.chain[1].id);

    let (install, remove) =
        backend.raw.failing_delete_trigger("workspaces", &doomed_id, "conformance: injected failure");
    for statement in &install {
        raw_ok(backend, statement).await;
    }

    let result = backend.store.delete_tenant(&platform(), &acme_id).await;
    assert!(matches!(result, Err(Error::Internal(_))), "expected Err(Internal(_)), got {result:?}");

    assert_eq!(tenant_row_counts(backend, &acme_id).await, POPULATED_ROW_COUNTS);
    assert_eq!(backend.store.get_tenant(&acme.created.scope).await.unwrap(), acme.created.tenant);
    for workspace in acme.chain.iter().chain([&acme.created.root]) {
        assert_eq!(
            backend.store.get_workspace(&acme.created.scope, &workspace.id).await.unwrap(),
            *workspace
        );
    }
    assert_eq!(tenant_row_counts(backend, &globex.created.tenant.id).await, POPULATED_ROW_COUNTS);

    // With the failure gone the same call succeeds: the tenant was left
    // whole, not wedged.
    for statement in &remove {
        raw_ok(backend, statement).await;
    }
    backend.store.delete_tenant(&platform(), &acme_id).await.unwrap();
    assert_eq!(tenant_row_counts(backend, &acme_id).await, NO_ROWS);
    assert_eq!(tenant_row_counts(backend, &globex.created.tenant.id).await, POPULATED_ROW_COUNTS);
}

// ---------------------------------------------------------------------------
// Cases: isolation in the schema
// ---------------------------------------------------------------------------

/// A raw UPDATE that changes `tenant_id` (or a tenant's `id`) is refused by
/// the database and the row stays as it was. Each statement is built so
/// that no key, foreign key or check would refuse it: only the
/// immutability trigger can.
async fn database_rejects_changing_tenant_id(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let spare = create_tenant(backend, "spare").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let (key, _) = mint(backend, &acme.scope, &alice.id, "ci").await.unwrap();
    let acme_literal = sql_literal(&acme.tenant.id);
    let team_where = format!("WHERE tenant_id = {acme_literal} AND id = {}", sql_literal(&team.id));

    // Positive control: raw updates of other columns go through.
    assert_eq!(
        raw_ok(backend, &format!("UPDATE workspaces SET environment = 'staging' {team_where}")).await,
        1
    );
    let team = backend.store.get_workspace(&acme.scope, &team.id).await.unwrap();
    assert_eq!(team.environment.as_str(), "staging");

    // Workspaces: globex has a root to hang the workspace from and no
    // workspace of that id or name.
    let steal_workspace = format!(
        "UPDATE workspaces SET tenant_id = {}, parent_workspace_id = {} {team_where}",
        sql_literal(&globex.tenant.id),
        sql_literal(&globex.root.id)
    );
    expect_trigger_refusal(raw(backend, &steal_workspace).await);
    assert_eq!(backend.store.get_workspace(&acme.scope, &team.id).await.unwrap(), team);
    expect_not_found(backend.store.get_workspace(&globex.scope, &team.id).await, "workspace");

    // API keys: globex exists, alice exists, and she has no key named `ci` there.
    let steal_key = format!(
        "UPDATE api_keys SET tenant_id = {} WHERE tenant_id = {acme_literal} AND id = {}",
        sql_literal(&globex.tenant.id),
        sql_literal(&key.id)
    );
    expect_trigger_refusal(raw(backend, &steal_key).await);
    assert_eq!(backend.store.get_api_key(&acme.scope, &key.id).await.unwrap(), key);
    assert_eq!(count(backend, "api_keys", &globex.tenant.id).await, 0);

    // Root pins: free spare's pin slot so that neither the primary key nor
    // the foreign key to (spare, spare's root) stands in the way.
    let unpin_spare =
        format!("DELETE FROM tenant_root_workspaces WHERE tenant_id = {}", sql_literal(&spare.tenant.id));
    assert_eq!(raw_ok(backend, &unpin_spare).await, 1);
    let steal_pin = format!(
        "UPDATE tenant_root_workspaces SET tenant_id = {}, workspace_id = {} WHERE tenant_id = {acme_literal}",
        sql_literal(&spare.tenant.id),
        sql_literal(&spare.root.id)
    );
    expect_trigger_refusal(raw(backend, &steal_pin).await);
    let acme_pin = format!(
        "SELECT count(*) FROM tenant_root_workspaces WHERE tenant_id = {acme_literal} AND workspace_id = {}",
        sql_literal(&acme.root.id)
    );
    assert_eq!(scalar(backend, &acme_pin).await, 1);
    assert_eq!(count(backend, "tenant_root_workspaces", &spare.tenant.id).await, 0);

    // Tenants: a tenant with no rows referencing it, so only the trigger
    // can refuse a change of its id.
    let lonely_id = TenantId::generate();
    assert_eq!(raw_ok(backend, &insert_tenant_sql(&lonely_id, "lonely")).await, 1);
    let rename_lonely =
        format!("UPDATE tenants SET name = 'lonely-two' WHERE id = {}", sql_literal(&lonely_id));
    assert_eq!(raw_ok(backend, &rename_lonely).await, 1);
    let change_id = format!(
        "UPDATE tenants SET id = {} WHERE id = {}",
        sql_literal(TenantId::generate()),
        sql_literal(&lonely_id)
    );
    expect_trigger_refusal(raw(backend, &change_id).await);
    let lonely_exists = format!("SELECT count(*) FROM tenants WHERE id = {}", sql_literal(&lonely_id));
    assert_eq!(scalar(backend, &lonely_exists).await, 1);
}

/// Composite foreign keys refuse rows that point into another tenant or at
/// nothing, when written with raw SQL.
async fn database_rejects_references_across_tenants(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let spare = create_tenant(backend, "spare").await;
    let acme_team = create_workspace(backend, &acme.scope, "team", None).await;
    let globex_id = globex.tenant.id.to_string();
    let globex_root = globex.root.id.to_string();

    // Positive control: a workspace in globex under globex's root.
    let allowed_id = WorkspaceId::generate().to_string();
    let allowed = RawWorkspaceRow {
        tenant_id: &globex_id,
        workspace_id: &allowed_id,
        name: "raw-allowed",
        parent_workspace_id: Some(&globex_root),
        is_root: false,
    };
    assert_eq!(raw_ok(backend, &allowed.insert_sql()).await, 1);

    for foreign_parent in [acme_team.id.to_string(), acme.root.id.to_string()] {
        let crossing_id = WorkspaceId::generate().to_string();
        let crossing = RawWorkspaceRow {
            tenant_id: &globex_id,
            workspace_id: &crossing_id,
            name: "raw-crossing",
            parent_workspace_id: Some(&foreign_parent),
            is_root: false,
        };
        expect_violation(
            backend,
            raw(backend, &crossing.insert_sql()).await,
            Violation::ForeignKey,
            Some("workspaces_parent_fkey"),
        );
    }
    let repoint = format!(
        "UPDATE workspaces SET parent_workspace_id = {} WHERE tenant_id = {} AND id = {}",
        sql_literal(&acme_team.id),
        sql_literal(&globex_id),
        sql_literal(&allowed_id)
    );
    expect_violation(
        backend,
        raw(backend, &repoint).await,
        Violation::ForeignKey,
        Some("workspaces_parent_fkey"),
    );
    assert_eq!(count(backend, "workspaces", &globex.tenant.id).await, 2);
    assert_eq!(scalar(backend, "SELECT count(*) FROM workspaces WHERE name = 'raw-crossing'").await, 0);
    let allowed_parent = format!(
        "SELECT count(*) FROM workspaces WHERE tenant_id = {} AND id = {} AND parent_workspace_id = {}",
        sql_literal(&globex_id),
        sql_literal(&allowed_id),
        sql_literal(&globex_root)
    );
    assert_eq!(scalar(backend, &allowed_parent).await, 1);

    // API keys: positive control, then a missing tenant, then a missing user.
    let acme_id = acme.tenant.id.to_string();
    let alice_id = alice.id.to_string();
    assert_eq!(raw_ok(backend, &insert_api_key_sql(backend, &acme_id, &alice_id, "raw-allowed")).await, 1);
    let missing_tenant = TenantId::generate().to_string();
    expect_violation(
        backend,
        raw(backend, &insert_api_key_sql(backend, &missing_tenant, &alice_id, "raw-orphan")).await,
        Violation::ForeignKey,
        None,
    );
    let missing_user = UserId::generate().to_string();
    expect_violation(
        backend,
        raw(backend, &insert_api_key_sql(backend, &acme_id, &missing_user, "raw-nobody")).await,
        Violation::ForeignKey,
        None,
    );
    assert_eq!(scalar(backend, "SELECT count(*) FROM api_keys").await, 1);

    // Root pins: a tenant's pin cannot name another tenant's workspace.
    let spare_literal = sql_literal(&spare.tenant.id);
    let unpin_spare = format!("DELETE FROM tenant_root_workspaces WHERE tenant_id = {spare_literal}");
    assert_eq!(raw_ok(backend, &unpin_spare).await, 1);
    let pin = |workspace_id: &WorkspaceId| {
        format!(
            "INSERT INTO tenant_root_workspaces (tenant_id, workspace_id) VALUES ({spare_literal}, {})",
            sql_literal(workspace_id)
        )
    };
    expect_violation(backend, raw(backend, &pin(&acme.root.id)).await, Violation::ForeignKey, None);
    assert_eq!(raw_ok(backend, &pin(&spare.root.id)).await, 1, "positive control: spare's own root");
}

/// Through another tenant's scope, a tenant's workspaces and keys do not
/// exist: reads, writes and lists find nothing, and nothing changes.
async fn another_tenants_scope_sees_nothing(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let acme_team = create_workspace(backend, &acme.scope, "team", None).await;
    let globex_team = create_workspace(backend, &globex.scope, "team", None).await;
    let (acme_key, _) = mint(backend, &acme.scope, &alice.id, "ci").await.unwrap();
    let store = &backend.store;
    let intruder = &globex.scope;

    for workspace in [&acme_team, &acme.root] {
        expect_not_found(store.get_workspace(intruder, &workspace.id).await, "workspace");
        expect_not_found(
            store.update_workspace(intruder, &workspace.id, rename_to("stolen")).await,
            "workspace",
        );
        expect_not_found(
            store.update_workspace(intruder, &workspace.id, move_under(&globex.root.id)).await,
            "workspace",
        );
        // Not RootWorkspace for acme's root: that would tell it exists.
        expect_not_found(store.delete_workspace(intruder, &workspace.id).await, "workspace");
    }
    assert_eq!(
        workspace_ids(backend, intruder).await,
        BTreeSet::from([globex.root.id.clone(), globex_team.id])
    );

    expect_not_found(store.get_api_key(intruder, &acme_key.id).await, "api key");
    expect_not_found(store.revoke_api_key(intruder, &acme_key.id, tenantry_core::now()).await, "api key");
    assert!(store.api_key_credentials(intruder, &acme_key.id).await.unwrap().is_none());
    // The contract leaves open whether recording use of an unknown key is
    // an error; either way it must not touch acme's key (checked below).
    match store.record_api_key_use(intruder, &acme_key.id, tenantry_core::now()).await {
        Ok(()) | Err(Error::NotFound { resource: "api key" }) => {}
        other => panic!("expected Ok(()) or Err(NotFound {{ resource: \"api key\" }}), got {other:?}"),
    }
    assert_eq!(
        store.list_api_keys(intruder, PageRequest::first()).await.unwrap().items,
        Vec::<ApiKey>::new()
    );

    assert_eq!(store.get_tenant(&acme.scope).await.unwrap(), acme.tenant);
    assert_eq!(store.get_workspace(&acme.scope, &acme_team.id).await.unwrap(), acme_team);
    assert_eq!(store.get_workspace(&acme.scope, &acme.root.id).await.unwrap(), acme.root);
    assert_eq!(store.get_api_key(&acme.scope, &acme_key.id).await.unwrap(), acme_key);
    assert_eq!(count(backend, "workspaces", &acme.tenant.id).await, 2);
}

// ---------------------------------------------------------------------------
// Cases: pagination
// ---------------------------------------------------------------------------

/// Cursor pages cover a list exactly once, in id order, and the last page
/// says so.
async fn list_pages_have_no_gaps_or_duplicates(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    // Rows of another tenant interleave by id; they must not show up.
    for index in 0..3 {
        create_workspace(backend, &globex.scope, &format!("globex-{index}"), None).await;
    }
    let mut expected = vec![acme.root.id.clone()];
    for index in 0..25 {
        expected
            .push(create_workspace(backend, &acme.scope, &format!("workspace-{index:02}"), None).await.id);
    }
    expected.sort();

    let limit = PageLimit::new(10).unwrap();
    let mut seen: Vec<WorkspaceId> = Vec::new();
    let mut page_sizes = Vec::new();
    let mut after = None;
    loop {
        assert!(page_sizes.len() < 10, "pagination does not end: pages so far {page_sizes:?}");
        let page = backend.store.list_workspaces(&acme.scope, PageRequest { limit, after }).await.unwrap();
        page_sizes.push(page.items.len());
        assert!(page.items.iter().all(|workspace| workspace.tenant_id == acme.tenant.id));
        seen.extend(page.items.iter().map(|workspace| workspace.id.clone()));
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(Some(cursor.clone()), page.items.last().map(|last| last.id.to_string()));
                after = Some(WorkspaceId::parse(&cursor).unwrap());
            }
            None => break,
        }
    }
    assert_eq!(page_sizes, vec![10, 10, 6]);
    assert_eq!(seen, expected, "pages must list every workspace once, in id order");

    // Exactly as many rows as the limit: one page, no cursor.
    let whole = PageRequest { limit: PageLimit::new(26).unwrap(), after: None };
    let page = backend.store.list_workspaces(&acme.scope, whole).await.unwrap();
    assert_eq!(page.items.len(), 26);
    assert_eq!(page.next_cursor, None);

    let mut key_ids = Vec::new();
    for name in ["one", "two", "three"] {
        key_ids.push(mint(backend, &acme.scope, &alice.id, name).await.unwrap().0.id);
    }
    key_ids.sort();
    let two = PageLimit::new(2).unwrap();
    let first =
        backend.store.list_api_keys(&acme.scope, PageRequest { limit: two, after: None }).await.unwrap();
    let cursor = first.next_cursor.clone().expect("a second page of keys");
    let after = Some(ApiKeyId::parse(&cursor).unwrap());
    let second = backend.store.list_api_keys(&acme.scope, PageRequest { limit: two, after }).await.unwrap();
    assert_eq!(second.next_cursor, None);
    let listed: Vec<ApiKeyId> = first.items.iter().chain(&second.items).map(|key| key.id.clone()).collect();
    assert_eq!(listed, key_ids);

    let mut tenant_ids = vec![acme.tenant.id.clone(), globex.tenant.id.clone()];
    tenant_ids.sort();
    let one = PageLimit::new(1).unwrap();
    let first =
        backend.store.list_tenants(&platform(), PageRequest { limit: one, after: None }).await.unwrap();
    let cursor = first.next_cursor.clone().expect("a second page of tenants");
    let after = Some(TenantId::parse(&cursor).unwrap());
    let second = backend.store.list_tenants(&platform(), PageRequest { limit: one, after }).await.unwrap();
    assert_eq!(second.next_cursor, None);
    let listed: Vec<TenantId> =
        first.items.iter().chain(&second.items).map(|tenant| tenant.id.clone()).collect();
    assert_eq!(listed, tenant_ids);
}

// ---------------------------------------------------------------------------
// Cases: API keys
// ---------------------------------------------------------------------------

/// A platform admin's key is revoked in the platform scope, which keeps at
/// least one platform admin's key working: a key works when it is neither
/// revoked nor expired and its tenant is active, and only platform admins'
/// keys count.
async fn the_last_working_platform_admin_key_cannot_be_revoked(backend: &TestBackend) {
    let store = backend.store.as_ref();
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let (alice, bob, carol) = (
        create_user(backend, "alice").await,
        create_user(backend, "bob").await,
        create_user(backend, "carol").await,
    );
    let admins = RelationshipWrite {
        touch: vec![platform_admin_relationship(&alice.id), platform_admin_relationship(&bob.id)],
        delete: vec![],
    };
    store.write_relationships(&PartitionScope::Platform(platform()), admins).await.unwrap();
    let (alices, _) = mint(backend, &acme.scope, &alice.id, "ops").await.unwrap();
    let (bobs, _) = mint(backend, &globex.scope, &bob.id, "ops").await.unwrap();
    let (carols, _) = mint(backend, &acme.scope, &carol.id, "ci").await.unwrap();
    let guard = PlatformScope::key_revocation(tenantry_core::Actor::system("test"));
    let revoke = |tenant: &CreatedTenant, api_key: &ApiKey| {
        let (tenant_id, api_key_id) = (tenant.tenant.id.clone(), api_key.id.clone());
        let guard = guard.clone();
        async move {
            store.revoke_platform_admin_api_key(&guard, &tenant_id, &api_key_id, tenantry_core::now()).await
        }
    };

    // Bob's key still works, so Alice's may go; then Bob's is the last.
    assert!(revoke(&acme, &alices).await.unwrap().is_revoked());
    expect_conflict(revoke(&globex, &bobs).await, ConflictCode::LastPlatformKey);
    assert!(
        !store.get_api_key(&globex.scope, &bobs.id).await.unwrap().is_revoked(),
        "the refusal changed nothing"
    );
    // A key that is not a platform admin's is not guarded.
    assert!(revoke(&acme, &carols).await.unwrap().is_revoked());
    // Revoked, unknown and foreign keys answer as on the tenant path.
    expect_conflict(revoke(&acme, &alices).await, ConflictCode::AlreadyRevoked);
    let unknown = ApiKey { id: ApiKeyId::generate(), ..alices.clone() };
    expect_not_found(revoke(&acme, &unknown).await, "api key");
    expect_not_found(revoke(&acme, &bobs).await, "api key");

    // A key in a suspended tenant does not work: Alice's new key is then
    // the last working one.
    let (alices_new, _) = mint(backend, &acme.scope, &alice.id, "ops-2").await.unwrap();
    let suspend = TenantPatch { status: Some(TenantStatus::Suspended), ..TenantPatch::default() };
    store.update_tenant(&globex.scope, suspend).await.unwrap();
    expect_conflict(revoke(&acme, &alices_new).await, ConflictCode::LastPlatformKey);
    // Once Bob's tenant is active again, either may go, but not both.
    let activate = TenantPatch { status: Some(TenantStatus::Active), ..TenantPatch::default() };
    store.update_tenant(&globex.scope, activate).await.unwrap();
    assert!(revoke(&acme, &alices_new).await.unwrap().is_revoked());
    expect_conflict(revoke(&globex, &bobs).await, ConflictCode::LastPlatformKey);
}

/// Create, name uniqueness per (tenant, user), use, revoke, revoke twice,
/// and the not-found answers.
async fn api_key_lifecycle(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let store = &backend.store;

    let (ci, _) = mint(backend, &acme.scope, &alice.id, "ci").await.unwrap();
    assert_eq!(ci.tenant_id, acme.tenant.id);
    assert_eq!(ci.user_id, alice.id);
    assert_eq!(ci.name.as_str(), "ci");
    assert_eq!(ci.expires_at, ApiKeyLifetime::default_lifetime().expires_at(ci.created_at));
    assert_eq!(ci.last_used_at, None);
    assert_eq!(ci.revoked_at, None);
    assert_eq!(store.get_api_key(&acme.scope, &ci.id).await.unwrap(), ci);

    expect_conflict(mint(backend, &acme.scope, &alice.id, "ci").await, ConflictCode::DuplicateApiKeyName);
    let (bobs_ci, _) = mint(backend, &acme.scope, &bob.id, "ci").await.unwrap();
    mint(backend, &globex.scope, &alice.id, "ci").await.unwrap();
    assert_eq!(count(backend, "api_keys", &acme.tenant.id).await, 2);
    let listed = store.list_api_keys(&acme.scope, PageRequest::first()).await.unwrap();
    let listed: BTreeSet<ApiKeyId> = listed.items.into_iter().map(|key| key.id).collect();
    assert_eq!(listed, BTreeSet::from([ci.id.clone(), bobs_ci.id.clone()]));

    expect_not_found(mint(backend, &acme.scope, &UserId::generate(), "orphan").await, "user");
    expect_not_found(
        mint(backend, &TenantScope::system(TenantId::generate(), "test"), &alice.id, "ci").await,
        "tenant",
    );
    assert_eq!(scalar(backend, "SELECT count(*) FROM api_keys").await, 3);

    let used_at = tenantry_core::now();
    store.record_api_key_use(&acme.scope, &ci.id, used_at).await.unwrap();
    let used = store.get_api_key(&acme.scope, &ci.id).await.unwrap();
    assert_eq!(used, ApiKey { last_used_at: Some(used_at), ..ci.clone() });

    let revoked_at = tenantry_core::now();
    let revoked = store.revoke_api_key(&acme.scope, &ci.id, revoked_at).await.unwrap();
    assert_eq!(revoked, ApiKey { revoked_at: Some(revoked_at), ..used.clone() });
    assert!(revoked.is_revoked());
    assert_eq!(store.get_api_key(&acme.scope, &ci.id).await.unwrap(), revoked);
    expect_conflict(
        store.revoke_api_key(&acme.scope, &ci.id, tenantry_core::now()).await,
        ConflictCode::AlreadyRevoked,
    );
    assert_eq!(store.get_api_key(&acme.scope, &ci.id).await.unwrap(), revoked, "the first revocation stands");
    // A revoked key keeps its name.
    expect_conflict(mint(backend, &acme.scope, &alice.id, "ci").await, ConflictCode::DuplicateApiKeyName);
    assert_eq!(store.get_api_key(&acme.scope, &bobs_ci.id).await.unwrap(), bobs_ci);

    let unknown = ApiKeyId::generate();
    expect_not_found(store.get_api_key(&acme.scope, &unknown).await, "api key");
    expect_not_found(store.revoke_api_key(&acme.scope, &unknown, tenantry_core::now()).await, "api key");
    assert!(store.api_key_credentials(&acme.scope, &unknown).await.unwrap().is_none());
}

/// `api_key_credentials` returns the key, its stored hash and its tenant's
/// status, as they are now.
async fn api_key_credentials_carry_what_authentication_needs(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let (key, token) = mint(backend, &acme.scope, &alice.id, "ci").await.unwrap();
    let store = &backend.store;

    let credentials = store.api_key_credentials(&acme.scope, &key.id).await.unwrap().unwrap();
    assert_eq!(credentials.api_key, key);
    assert_eq!(credentials.secret_hash, hasher().hash(&token));
    assert_eq!(credentials.tenant_status, TenantStatus::Active);

    let suspend = TenantPatch { status: Some(TenantStatus::Suspended), ..TenantPatch::default() };
    store.update_tenant(&acme.scope, suspend).await.unwrap();
    let credentials = store.api_key_credentials(&acme.scope, &key.id).await.unwrap().unwrap();
    assert_eq!(credentials.api_key, key);
    assert_eq!(credentials.tenant_status, TenantStatus::Suspended);

    // End to end through the shared use case, which also records the use.
    let principal =
        service::authenticate(store.as_ref(), &hasher(), token.expose(), tenantry_core::now()).await.unwrap();
    assert_eq!(principal.api_key.id, key.id);
    assert_eq!(principal.tenant_status, TenantStatus::Suspended);
    assert!(store.get_api_key(&acme.scope, &key.id).await.unwrap().last_used_at.is_some());
}

/// Credentials carry the revision of the tenant's partition they were read
/// at, and revoking a key or changing the tenant's status advances it (with
/// no relationship change) and makes the new revision the partition's
/// credentials revision, read with its snapshot and its change log, so that
/// a process holding credentials read earlier can tell they may be out of
/// date. Other changes to the tenant row do not advance it, and a change of
/// relationships alone (a new workspace) advances the revision but not the
/// credentials revision.
async fn revoking_a_key_or_changing_a_tenants_status_advances_its_partition(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let (key, _) = mint(backend, &acme.scope, &alice.id, "ci").await.unwrap();
    let store = &backend.store;
    let partition = &PartitionScope::Tenant(acme.scope.clone());
    let snapshot = || async {
        let snapshot = store.relationship_snapshot(partition).await.unwrap();
        (snapshot.revision, snapshot.credentials_revision)
    };
    let revision = || async { snapshot().await.0 };
    let read_at =
        || async { store.api_key_credentials(&acme.scope, &key.id).await.unwrap().unwrap().revision };
    let changes_since = |after: Revision| async move {
        match store.relationship_changes(partition, after).await.unwrap() {
            RelationshipChanges::Since { revision, credentials_revision, changes } => {
                (revision, credentials_revision, changes)
            }
            other => panic!("expected the changes since {after}, got {other:?}"),
        }
    };

    let (minted, credentials_at_start) = snapshot().await;
    assert_eq!(read_at().await, minted);
    assert!(credentials_at_start <= minted);

    let rename = TenantPatch {
        display_name: Some(DisplayName::parse("Acme Renamed").unwrap()),
        ..TenantPatch::default()
    };
    store.update_tenant(&acme.scope, rename).await.unwrap();
    assert_eq!(snapshot().await, (minted, credentials_at_start));

    let suspend = TenantPatch { status: Some(TenantStatus::Suspended), ..TenantPatch::default() };
    store.update_tenant(&acme.scope, suspend).await.unwrap();
    let suspended = revision().await;
    assert_eq!(suspended, minted.next());
    assert_eq!(snapshot().await, (suspended, suspended));
    assert_eq!(read_at().await, suspended);
    let (revision_now, credentials_revision, changes) = changes_since(minted).await;
    assert_eq!((revision_now, credentials_revision), (suspended, suspended));
    assert!(changes.is_empty(), "{changes:?}");

    let reactivate = TenantPatch { status: Some(TenantStatus::Active), ..TenantPatch::default() };
    store.update_tenant(&acme.scope, reactivate).await.unwrap();
    let reactivated = revision().await;
    assert_eq!(snapshot().await, (reactivated, reactivated));

    // Relationships alone move the revision, not the credentials revision.
    let workspace = create_workspace(backend, &acme.scope, "relationships-only", None).await;
    let (after_workspace, credentials_revision, changes) = changes_since(reactivated).await;
    assert_eq!(after_workspace, reactivated.next());
    assert_eq!(credentials_revision, reactivated, "a new workspace changed no credential");
    assert!(!changes.is_empty(), "the workspace's relationships are logged");
    assert_eq!(snapshot().await, (after_workspace, reactivated));
    assert!(workspace.parent_workspace_id.is_some());

    store.revoke_api_key(&acme.scope, &key.id, tenantry_core::now()).await.unwrap();
    let revoked = revision().await;
    assert_eq!(revoked, after_workspace.next());
    assert_eq!(read_at().await, revoked);
    assert_eq!(snapshot().await, (revoked, revoked));
    let (revision_now, credentials_revision, changes) = changes_since(after_workspace).await;
    assert_eq!((revision_now, credentials_revision), (revoked, revoked));
    assert!(changes.is_empty(), "{changes:?}");
    // A refused revocation changes nothing.
    expect_conflict(
        store.revoke_api_key(&acme.scope, &key.id, tenantry_core::now()).await,
        ConflictCode::AlreadyRevoked,
    );
    assert_eq!(snapshot().await, (revoked, revoked));

    // The platform partition holds no credentials.
    let platform = PartitionScope::Platform(PlatformScope::authorization());
    assert_eq!(store.relationship_snapshot(&platform).await.unwrap().credentials_revision, Revision::ZERO);
}

// ---------------------------------------------------------------------------
// Cases: users
// ---------------------------------------------------------------------------

/// Users are created, read and found by username; a taken username is a
/// conflict; `ensure_user` returns an existing user unchanged.
async fn usernames_are_unique(backend: &TestBackend) {
    let store = &backend.store;
    let new_alice = NewUser {
        username: Username::parse("alice").unwrap(),
        display_name: DisplayName::parse("Alice Liddell").unwrap(),
        email: Some(Email::parse("alice@example.com").unwrap()),
    };
    let alice =
        store.create_user(&tenantry_core::PlatformScope::operator_cli(), new_alice.clone()).await.unwrap();
    assert_eq!(alice.username, new_alice.username);
    assert_eq!(alice.display_name, new_alice.display_name);
    assert_eq!(alice.email, new_alice.email);
    assert_eq!(store.get_user(&alice.id).await.unwrap(), alice);
    assert_eq!(store.find_user_by_username(&alice.username).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.find_user_by_username(&Username::parse("nobody").unwrap()).await.unwrap(), None);
    expect_not_found(store.get_user(&UserId::generate()).await, "user");

    let impostor =
        NewUser { display_name: DisplayName::parse("Someone Else").unwrap(), email: None, ..new_alice };
    expect_conflict(
        store.create_user(&tenantry_core::PlatformScope::operator_cli(), impostor.clone()).await,
        ConflictCode::DuplicateUsername,
    );
    assert_eq!(scalar(backend, "SELECT count(*) FROM users WHERE username = 'alice'").await, 1);

    assert_eq!(
        store.ensure_user(&tenantry_core::PlatformScope::operator_cli(), impostor).await.unwrap(),
        alice,
        "ensure_user must not change an existing user"
    );
    let bob =
        store.ensure_user(&tenantry_core::PlatformScope::operator_cli(), new_user("bob")).await.unwrap();
    assert_eq!(store.find_user_by_username(&bob.username).await.unwrap(), Some(bob.clone()));
    assert_eq!(
        store.ensure_user(&tenantry_core::PlatformScope::operator_cli(), new_user("bob")).await.unwrap(),
        bob
    );
    assert_eq!(scalar(backend, "SELECT count(*) FROM users").await, 2);
}

/// Ten concurrent `ensure_user` calls for one new username all succeed and
/// agree on one user, stored once.
async fn ensure_user_is_idempotent_under_concurrency(backend: &TestBackend) {
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let store = backend.store.clone();
        tasks.spawn(async move {
            store.ensure_user(&tenantry_core::PlatformScope::operator_cli(), new_user("carol")).await
        });
    }
    let users: Vec<User> = tasks.join_all().await.into_iter().map(Result::unwrap).collect();
    let ids: BTreeSet<UserId> = users.iter().map(|user| user.id.clone()).collect();
    assert_eq!(ids.len(), 1, "concurrent ensure_user calls returned different users: {ids:?}");
    assert_eq!(scalar(backend, "SELECT count(*) FROM users WHERE username = 'carol'").await, 1);
}

// ---------------------------------------------------------------------------
// Cases: bootstrap
// ---------------------------------------------------------------------------

/// What a database holds after exactly one successful bootstrap.
/// `created` is the outcome of the call that created the tenant: the
/// tenant's partition holds exactly its relationships (the operator as
/// admin) and the operator key's, at revision 1, and the platform
/// partition exactly the operator as platform admin, at revision 1.
async fn assert_bootstrapped_once(backend: &TestBackend, created: &BootstrapOutcome) {
    assert!(created.created);
    let tenant_id = &created.tenant.id;
    let operator = created.operator.as_ref().expect("the creating call returns the operator");
    assert_eq!(scalar(backend, "SELECT count(*) FROM tenants WHERE name = 'default'").await, 1);
    let relationships = 4 + 2;
    assert_eq!(
        tenant_row_counts(backend, tenant_id).await,
        TenantRowCounts {
            tenants: 1,
            workspaces: 1,
            root_pins: 1,
            api_keys: 1,
            groups: 0,
            relationships,
            relationship_changes: relationships,
            relationship_revisions: 1,
        }
    );
    let scope = TenantScope::system(tenant_id.clone(), "test");
    let keys = backend.store.list_api_keys(&scope, PageRequest::first()).await.unwrap().items;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].user_id, operator.id);
    let mut expected = new_tenant_relationships(tenant_id, &created.root_workspace.id, Some(&operator.id));
    expected.extend(new_api_key_relationships(&keys[0]));
    assert_eq!(
        partition_state(backend, &tenant_partition(&scope)).await,
        (Revision::new(1), canonical(&expected))
    );
    assert_eq!(
        partition_state(backend, &platform_partition()).await,
        (Revision::new(1), canonical(&[platform_admin_relationship(&operator.id)]))
    );
}

/// A second bootstrap finds what the first made and creates nothing.
async fn bootstrap_is_idempotent(backend: &TestBackend) {
    let config = BootstrapConfig::defaults();
    let store = backend.store.as_ref();
    let (first, token) = service::bootstrap(store, &hasher(), &config).await.unwrap();
    assert!(first.created);
    let token = token.expect("the creating call returns the operator's token");
    assert_eq!(first.tenant.name, config.tenant_name);
    assert_eq!(first.tenant.status, TenantStatus::Active);
    assert_eq!(token.tenant_id(), &first.tenant.id);
    assert!(first.root_workspace.is_root);
    assert_eq!(first.root_workspace.name, config.root_workspace_name);
    assert_eq!(first.root_workspace.tenant_id, first.tenant.id);
    let operator = first.operator.clone().expect("the creating call returns the operator");
    assert_eq!(operator.username, config.operator_username);

    let (second, second_token) = service::bootstrap(store, &hasher(), &config).await.unwrap();
    assert!(!second.created);
    assert!(second_token.is_none());
    assert_eq!(second.tenant, first.tenant);
    assert_eq!(second.root_workspace, first.root_workspace);
    // The second call wrote nothing, not even a relationship.
    assert_bootstrapped_once(backend, &first).await;
    assert_eq!(scalar(backend, "SELECT count(*) FROM users").await, 1);

    // The operator key belongs to the operator, in the default tenant, and
    // authenticates.
    let scope = TenantScope::system(first.tenant.id.clone(), "test");
    let credentials = store.api_key_credentials(&scope, token.api_key_id()).await.unwrap().unwrap();
    assert_eq!(credentials.api_key.user_id, operator.id);
    assert_eq!(credentials.api_key.tenant_id, first.tenant.id);
    let principal =
        service::authenticate(store, &hasher(), token.expose(), tenantry_core::now()).await.unwrap();
    assert_eq!(principal.api_key.user_id, operator.id);
}

/// Ten concurrent bootstraps on a fresh database: all succeed, exactly one
/// creates, all agree on the tenant and root.
async fn concurrent_bootstraps_create_one_tenant(backend: &TestBackend) {
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let store = backend.store.clone();
        tasks.spawn(async move {
            let (outcome, _token) =
                service::bootstrap(store.as_ref(), &hasher(), &BootstrapConfig::defaults()).await?;
            Ok::<_, Error>(outcome)
        });
    }
    let outcomes: Vec<_> = tasks.join_all().await.into_iter().map(Result::unwrap).collect();
    assert_eq!(outcomes.iter().filter(|outcome| outcome.created).count(), 1);
    let tenant_ids: BTreeSet<TenantId> = outcomes.iter().map(|outcome| outcome.tenant.id.clone()).collect();
    let root_ids: BTreeSet<WorkspaceId> =
        outcomes.iter().map(|outcome| outcome.root_workspace.id.clone()).collect();
    assert_eq!(tenant_ids.len(), 1, "bootstraps disagree on the tenant: {tenant_ids:?}");
    assert_eq!(root_ids.len(), 1, "bootstraps disagree on the root: {root_ids:?}");
    let creator = outcomes.iter().find(|outcome| outcome.created).unwrap();
    assert_bootstrapped_once(backend, creator).await;
    assert_eq!(scalar(backend, "SELECT count(*) FROM tenants").await, 1);
}

/// When a user already has the operator's username, the bootstrap makes
/// that user the platform admin (a relationship in the platform partition)
/// and gives it the key, rather than failing or creating a second user.
async fn bootstrap_reuses_an_existing_operator_user(backend: &TestBackend) {
    let existing = create_user(backend, "operator").await;
    let store = backend.store.as_ref();
    let (outcome, token) = service::bootstrap(store, &hasher(), &BootstrapConfig::defaults()).await.unwrap();
    assert!(outcome.created);
    let operator = outcome.operator.clone().expect("the creating call returns the operator");
    assert_eq!(operator.id, existing.id);
    assert_eq!(store.get_user(&existing.id).await.unwrap(), existing, "the user row is left as it was");
    assert_eq!(scalar(backend, "SELECT count(*) FROM users").await, 1);
    assert_bootstrapped_once(backend, &outcome).await;

    let token = token.expect("the creating call returns the operator's token");
    let scope = TenantScope::system(outcome.tenant.id.clone(), "test");
    let credentials = store.api_key_credentials(&scope, token.api_key_id()).await.unwrap().unwrap();
    assert_eq!(credentials.api_key.user_id, existing.id);
}

/// A default tenant that already exists (made some other way) is left as
/// it is: no operator, no key, created = false.
async fn bootstrap_leaves_an_existing_default_tenant_alone(backend: &TestBackend) {
    let existing = create_tenant(backend, "default").await;
    let (outcome, token) =
        service::bootstrap(backend.store.as_ref(), &hasher(), &BootstrapConfig::defaults()).await.unwrap();
    assert!(!outcome.created);
    assert!(token.is_none());
    assert!(outcome.operator.is_none());
    assert_eq!(outcome.tenant, existing.tenant);
    assert_eq!(outcome.root_workspace, existing.root);
    assert_eq!(count(backend, "api_keys", &existing.tenant.id).await, 0);
    assert_eq!(scalar(backend, "SELECT count(*) FROM users").await, 0);
    assert_eq!(partition_state(backend, &platform_partition()).await, (Revision::ZERO, canonical(&[])));
    assert_eq!(
        partition_state(backend, &tenant_partition(&existing.scope)).await.0,
        Revision::new(1),
        "the bootstrap wrote no relationship in the existing tenant"
    );
}

// The cases of this module, registered: a case left out is dead code,
// which the lints refuse.
cases!(
    FOUNDATION,
    migrations_are_current,
    every_table_is_listed,
    every_table_and_column_is_in_snapshots,
    api_key_pepper_is_stable_and_long_enough,
    create_tenant_creates_exactly_one_root_workspace,
    duplicate_tenant_names_conflict,
    update_tenant_applies_only_the_patched_fields,
    unknown_tenant_is_not_found,
    workspace_names_are_unique_within_a_tenant_only,
    database_allows_only_one_root_per_tenant,
    store_refuses_to_delete_the_root_or_a_parent,
    database_restricts_deleting_the_root_or_a_parent,
    move_workspace_carries_its_subtree_and_refuses_cycles,
    workspace_depth_is_limited_on_create_and_on_move,
    concurrent_create_and_move_cannot_exceed_the_depth_together,
    create_workspace_under_another_tenants_parent_is_invalid,
    delete_tenant_removes_everything_it_owns_and_nothing_else,
    delete_tenant_failing_part_way_deletes_nothing,
    database_rejects_changing_tenant_id,
    database_rejects_references_across_tenants,
    another_tenants_scope_sees_nothing,
    list_pages_have_no_gaps_or_duplicates,
    api_key_lifecycle,
    the_last_working_platform_admin_key_cannot_be_revoked,
    api_key_credentials_carry_what_authentication_needs,
    revoking_a_key_or_changing_a_tenants_status_advances_its_partition,
    usernames_are_unique,
    ensure_user_is_idempotent_under_concurrency,
    bootstrap_is_idempotent,
    concurrent_bootstraps_create_one_tenant,
    bootstrap_reuses_an_existing_operator_user,
    bootstrap_leaves_an_existing_default_tenant_alone,
);
