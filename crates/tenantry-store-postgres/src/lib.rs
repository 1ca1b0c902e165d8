//! The PostgreSQL backend of the tenantry store contract, with row-level
//! security.
//!
//! Three roles are involved. The owner runs [`migrate`]: it creates and owns
//! the tables, grants the other two their privileges, and makes the
//! platform role's policies. The server connects as two roles through
//! [`PostgresStore::connect`]: the runtime role, for everything done in one
//! tenant's scope, and the platform role, for the named operations that
//! take a [`PlatformScope`]. Operator tools connect as the platform role
//! alone ([`PostgresStore::connect_platform`]). A superuser, a BYPASSRLS
//! role or an owner of the tables is refused for either, because row-level
//! security would not bind it; so is a runtime role that the platform's
//! policies admit.
//!
//! Every store operation on data is one transaction. In a tenant's scope it
//! runs on a runtime connection and first sets `SET LOCAL
//! tenantry.tenant_id`; the policies admit only that tenant's rows, and a
//! transaction-local setting never outlives its transaction. In the
//! platform scope it runs on a platform connection, which the
//! `platform_scope` policies admit by the role's identity: no setting, and
//! so no statement, can give the runtime role the platform's reach. Every
//! connection is reset (`RESET ALL`) when it returns to its pool, so a
//! stray session-level setting never reaches the next operation. Every
//! tenant-scoped statement also names its `tenant_id`, so that under Citus
//! it is routed to one shard.
//!
//! Relationships are stored per partition (each tenant's, and the
//! platform's), and every transaction that writes some first locks its
//! partition's revision row, so that within a partition revisions commit in
//! order and a reader that sees revision `n` sees every change up to it
//! (see `partition.rs`). Reads that need a revision and its rows together
//! run in one REPEATABLE READ snapshot.
//!
//! [`TenantScope`]: tenantry_core::TenantScope
//! [`PlatformScope`]: tenantry_core::PlatformScope

use std::collections::BTreeSet;
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgConnection, PgPool};
use tenantry_core::Error;

mod api_keys;
mod approvals;
mod audit;
mod batch;
mod decisions;
mod deployment;
mod error;
mod groups;
mod invitations;
mod memberships;
mod partition;
mod relationships;
mod roles;
mod rows;
mod runs;
mod service_accounts;
mod snapshot;
mod store;
mod tenants;
mod users;
mod webhooks;
mod workspaces;

use crate::error::{DatabaseResultExt, Operation, internal};
use crate::roles::{RoleKind, RoleName};

/// The migrations, embedded in the binary at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The most runtime connections one store holds open.
const MAX_RUNTIME_CONNECTIONS: u32 = 10;

/// The most platform connections one server holds open: the platform's
/// operations are the authorizer's reads of the platform partition and the
/// operators' rare requests.
const MAX_PLATFORM_CONNECTIONS: u32 = 4;

/// The key of the session advisory lock that serializes `migrate` calls on
/// one database (advisory locks are per database): the ASCII bytes of
/// `tenantry`. It covers the migrations and the grants, because concurrent
/// GRANTs on one table can fail with "tuple concurrently updated".
const MIGRATE_LOCK_KEY: i64 = 0x7465_6e61_6e74_7279;

/// The tenantry store on PostgreSQL: tenant-scoped operations on the
/// runtime role's connections, platform operations on the platform role's.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// Runtime-role connections (or, for operator tools, the platform
    /// role's): tenant-scoped operations and the global `users` table.
    tenant_pool: PgPool,
    /// Platform-role connections: the operations that take a
    /// `PlatformScope`, and the deployment settings.
    platform_pool: PgPool,
    /// The limits the store keeps inside its transactions.
    limits: tenantry_core::StoreLimits,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The versions of the migrations this call applied, ascending; empty
    /// when the schema was already current.
    pub applied: Vec<i64>,
}

/// The roles [`migrate`] grants privileges to. Each is optional: a role not
/// named keeps what an earlier `migrate` gave it, except that the platform
/// role's policies are remade for every table on every run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationRoles<'name> {
    /// The role the server serves tenants' requests as.
    pub runtime_role: Option<&'name str>,
    /// The role the platform's named operations run as. When absent, the
    /// role the `platform_scope` policies already admit, if any, keeps
    /// them (and gets those of new tables).
    pub platform_role: Option<&'name str>,
}

/// Parses a PostgreSQL URL, naming the application in `pg_stat_activity`.
fn connect_options(database_url: &str, field: &'static str) -> Result<PgConnectOptions, Error> {
    PgConnectOptions::from_str(database_url)
        .map(|options| options.application_name("tenantry"))
        .map_err(|error| Error::invalid(field, format!("is not a valid PostgreSQL URL: {error}")))
}

/// Connects a pool as the role `kind` names and checks that the role is fit
/// for it (see [`PostgresStore::connect`]).
async fn connect_pool(database_url: &str, kind: RoleKind, max_connections: u32) -> Result<PgPool, Error> {
    let options = connect_options(database_url, kind.url_field())?;
    // No ping before every acquire: it is one more round trip on every
    // operation, on a path that already pays four (BEGIN, SET LOCAL, the
    // statement, COMMIT). A connection the server dropped fails its next
    // operation, which the pool then discards; idle connections are
    // recycled before servers and proxies usually time them out.
    //
    // Every connection is reset when it is handed back: a session-level
    // `SET` (of `tenantry.tenant_id`, say) made by any statement must not
    // reach the next operation that uses the connection. The reset runs in
    // the pool's own task after release, off the request's path; a
    // connection it fails on is closed rather than reused.
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .test_before_acquire(false)
        .idle_timeout(std::time::Duration::from_secs(300))
        .after_release(|connection, _metadata| {
            Box::pin(async move {
                connection.execute("RESET ALL").await?;
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .during(Operation::Connect)?;
    if let Err(error) = roles::check_connected_role(&pool, kind).await {
        pool.close().await;
        return Err(error);
    }
    Ok(pool)
}

impl PostgresStore {
    /// Connects the server's two pools: at most 10 connections to
    /// `database_url` as the runtime role and at most 4 to
    /// `platform_database_url` as the platform role, and checks both roles.
    ///
    /// Either is refused with [`Error::Invalid`] on its URL's field
    /// (`database_url`, `platform_database_url`) when it is a superuser,
    /// has BYPASSRLS, owns (or is a member of the role that owns) any of
    /// tenantry's tables, or carries a default for a `tenantry.` setting;
    /// the runtime role also when the platform's policies admit it, and the
    /// platform role when they do not.
    pub async fn connect(database_url: &str, platform_database_url: &str) -> Result<PostgresStore, Error> {
        let tenant_pool = connect_pool(database_url, RoleKind::Runtime, MAX_RUNTIME_CONNECTIONS).await?;
        let platform_pool =
            match connect_pool(platform_database_url, RoleKind::Platform, MAX_PLATFORM_CONNECTIONS).await {
                Ok(pool) => pool,
                Err(error) => {
                    tenant_pool.close().await;
                    return Err(error);
                }
            };
        Ok(PostgresStore { tenant_pool, platform_pool, limits: tenantry_core::StoreLimits::defaults() })
    }

    /// Connects as the platform role alone, for operator tools that act in
    /// any tenant: tenant-scoped operations run as the platform role too,
    /// still with the tenant's setting and `tenant_id` in every statement.
    /// The role is checked as by [`PostgresStore::connect`].
    pub async fn connect_platform(platform_database_url: &str) -> Result<PostgresStore, Error> {
        let pool = connect_pool(platform_database_url, RoleKind::Platform, MAX_RUNTIME_CONNECTIONS).await?;
        Ok(PostgresStore {
            tenant_pool: pool.clone(),
            platform_pool: pool,
            limits: tenantry_core::StoreLimits::defaults(),
        })
    }

    /// The runtime role's pool, for diagnostics and tests: whatever SQL runs
    /// on it is confined by row-level security like the store's own.
    pub fn runtime_pool(&self) -> &PgPool {
        &self.tenant_pool
    }

    /// Closes the pools' connections, waiting for those in use to be
    /// returned.
    pub async fn close(&self) {
        self.tenant_pool.close().await;
        self.platform_pool.close().await;
    }
}

/// Applies the embedded migrations as the owner and grants the roles
/// `roles` names what the server needs.
///
/// Concurrent calls on one database are safe: they serialize on an advisory
/// lock, and the report of each names only the migrations it applied. Each
/// named role must exist (the error names the `CREATE ROLE` command to
/// run), must be neither a superuser, nor BYPASSRLS, nor the owner, and the
/// runtime role must not be (a member of) the platform role. The runtime
/// role gets `USAGE` on the schema, `SELECT, INSERT, UPDATE, DELETE` on the
/// tenant-owned tables and `users`, `SELECT` on the schema table and
/// `_sqlx_migrations`, and nothing on the platform's tables. The platform
/// role gets row access to every table and the `platform_scope` policy on
/// every table with row-level security. Running it again changes nothing.
pub async fn migrate(owner_database_url: &str, roles: MigrationRoles<'_>) -> Result<MigrationReport, Error> {
    // A malformed role name is refused before anything is touched.
    let runtime_role = roles.runtime_role.map(|name| RoleName::parse(name, RoleKind::Runtime)).transpose()?;
    let platform_role =
        roles.platform_role.map(|name| RoleName::parse(name, RoleKind::Platform)).transpose()?;
    let same_role = match (&runtime_role, &platform_role) {
        (Some(runtime), Some(platform)) => runtime.as_str() == platform.as_str(),
        _ => false,
    };
    if let (true, Some(runtime)) = (same_role, &runtime_role) {
        return Err(Error::invalid(
            "platform_role",
            format!(
                "is the runtime role {:?} too; the platform's policies admit every tenant's rows, so the                  runtime role must be a separate role",
                runtime.as_str()
            ),
        ));
    }
    let options = connect_options(owner_database_url, "database_url")?;
    // Two sessions: one holds the lock and does the reading and granting,
    // the other runs sqlx's migrator (which takes its own lock too). The
    // migrator is handed the pool rather than a connection because its
    // generic `Acquire` on a borrowed connection would keep `migrate`'s
    // future from being `Send`, and callers could not spawn it.
    let pool =
        PgPoolOptions::new().max_connections(2).connect_with(options).await.during(Operation::Connect)?;
    let outcome = migrate_with_pool(&pool, runtime_role.as_ref(), platform_role.as_ref()).await;
    pool.close().await;
    outcome
}

async fn migrate_with_pool(
    pool: &PgPool,
    runtime_role: Option<&RoleName>,
    platform_role: Option<&RoleName>,
) -> Result<MigrationReport, Error> {
    let mut connection = pool.acquire().await.during(Operation::Connect)?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATE_LOCK_KEY)
        .execute(&mut *connection)
        .await
        .during(Operation::Migrate)?;
    let outcome = migrate_holding_lock(pool, &mut connection, runtime_role, platform_role).await;
    // Closing the pool ends the session and releases the lock anyway;
    // unlocking first returns it to waiting callers at once. Neither
    // failure could change the outcome, which is already decided.
    let _ =
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATE_LOCK_KEY).execute(&mut *connection).await;
    outcome
}

async fn migrate_holding_lock(
    pool: &PgPool,
    connection: &mut PgConnection,
    runtime_role: Option<&RoleName>,
    platform_role: Option<&RoleName>,
) -> Result<MigrationReport, Error> {
    for role in runtime_role.into_iter().chain(platform_role) {
        roles::check_role_to_grant(connection, role).await?;
    }
    let before = applied_versions(connection, Operation::Migrate).await?;
    MIGRATOR.run(pool).await.map_err(|error| internal(Operation::Migrate, error))?;
    let after = applied_versions(connection, Operation::Migrate).await?;
    // Without a platform role named, the one the policies admit keeps them,
    // and gets the policies of tables this run created.
    let platform_role = match platform_role {
        Some(role) => Some(role.clone()),
        None => match roles::current_platform_roles(connection).await?.as_slice() {
            [only] => Some(RoleName::parse(only, RoleKind::Platform)?),
            _ => None,
        },
    };
    if let (Some(runtime), Some(platform)) = (runtime_role, &platform_role) {
        roles::check_roles_apart(connection, runtime, platform).await?;
    }
    if let Some(role) = runtime_role {
        roles::grant_runtime_role(connection, role).await?;
    }
    if let Some(role) = &platform_role {
        roles::grant_platform_role(connection, role).await?;
    }
    Ok(MigrationReport { applied: after.difference(&before).copied().collect() })
}

/// The versions recorded as successfully applied; none when the migrations
/// table does not exist yet.
async fn applied_versions(
    connection: &mut PgConnection,
    operation: Operation,
) -> Result<BTreeSet<i64>, Error> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut *connection)
        .await
        .during(operation)?;
    if table.is_none() {
        return Ok(BTreeSet::new());
    }
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(&mut *connection)
        .await
        .during(operation)?;
    Ok(versions.into_iter().collect())
}

/// The versions of the embedded migrations, ascending.
fn embedded_versions() -> BTreeSet<i64> {
    MIGRATOR
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .map(|migration| migration.version)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_migrations_is_embedded() {
        let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut on_disk: Vec<i64> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                name.split_once('_').unwrap().0.parse().unwrap()
            })
            .collect();
        on_disk.sort_unstable();
        assert_eq!(embedded_versions().into_iter().collect::<Vec<_>>(), on_disk);
        assert!(!on_disk.is_empty());
    }

    #[test]
    fn malformed_urls_are_invalid_database_urls() {
        let error = connect_options("postgres://user@host:notaport/db", "database_url").unwrap_err();
        assert!(error.to_string().starts_with("database_url: is not a valid PostgreSQL URL"), "{error}");
    }
}
