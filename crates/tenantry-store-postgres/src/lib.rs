//! The PostgreSQL backend of the tenantry store contract, with row-level
//! security.
//!
//! Two roles are involved. The owner runs [`migrate`]: it creates and owns
//! the tables, and grants the runtime role row access to them. The server
//! runs as the runtime role through [`PostgresStore::connect`], which
//! refuses a superuser, a BYPASSRLS role or an owner of the tables, because
//! row-level security would not bind them.
//!
//! Every store operation on data is one transaction that first sets its
//! scope with `SET LOCAL`: `tenantry.tenant_id` for a [`TenantScope`], or
//! `tenantry.platform = 'on'` for the named operator operations that take a
//! [`PlatformScope`]. The policies of the migrations compare rows with those
//! settings, so the database itself confines each statement to the scope,
//! and a transaction-local setting never outlives its transaction on a
//! pooled connection. Every tenant-scoped statement also names its
//! `tenant_id`, so that under Citus it is routed to one shard.
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
use sqlx::{PgConnection, PgPool};
use tenantry_core::Error;

mod error;
mod groups;
mod memberships;
mod partition;
mod relationships;
mod roles;
mod rows;
mod store;
mod users;

use crate::error::{DatabaseResultExt, Operation, internal};
use crate::roles::RoleName;

/// The migrations, embedded in the binary at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The most connections one store holds open.
const MAX_CONNECTIONS: u32 = 10;

/// The key of the session advisory lock that serializes `migrate` calls on
/// one database (advisory locks are per database): the ASCII bytes of
/// `tenantry`. It covers the migrations and the grants, because concurrent
/// GRANTs on one table can fail with "tuple concurrently updated".
const MIGRATE_LOCK_KEY: i64 = 0x7465_6e61_6e74_7279;

/// The tenantry store on PostgreSQL, connected as the runtime role.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    limits: tenantry_core::StoreLimits,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The versions of the migrations this call applied, ascending; empty
    /// when the schema was already current.
    pub applied: Vec<i64>,
}

/// Parses a PostgreSQL URL, naming the application in `pg_stat_activity`.
fn connect_options(database_url: &str) -> Result<PgConnectOptions, Error> {
    PgConnectOptions::from_str(database_url)
        .map(|options| options.application_name("tenantry"))
        .map_err(|error| Error::invalid("database_url", format!("is not a valid PostgreSQL URL: {error}")))
}

impl PostgresStore {
    /// Connects a pool of at most 10 connections to `database_url` and checks
    /// the connected role: a superuser, a role with BYPASSRLS, or a role
    /// that owns (or is a member of the role that owns) any of tenantry's
    /// tables is refused with [`Error::Invalid`] on `database_url`, because
    /// row-level security would not apply to it.
    pub async fn connect(database_url: &str) -> Result<PostgresStore, Error> {
        let options = connect_options(database_url)?;
        // No ping before every acquire: it is one more round trip on every
        // operation, on a path that already pays four (BEGIN, SET LOCAL, the
        // statement, COMMIT). A connection the server dropped fails its next
        // operation, which the pool then discards; idle connections are
        // recycled before servers and proxies usually time them out.
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .test_before_acquire(false)
            .idle_timeout(std::time::Duration::from_secs(300))
            .connect_with(options)
            .await
            .during(Operation::Connect)?;
        if let Err(error) = roles::refuse_privileged_connected_role(&pool).await {
            pool.close().await;
            return Err(error);
        }
        Ok(PostgresStore { pool, limits: tenantry_core::StoreLimits::defaults() })
    }

    /// Closes the pool's connections, waiting for those in use to be
    /// returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Applies the embedded migrations as the owner and, when a runtime role is
/// named, grants it the privileges the server needs.
///
/// Concurrent calls on one database are safe: they serialize on an advisory
/// lock, and the report of each names only the migrations it applied. The
/// runtime role must exist (the error names the `CREATE ROLE` command to
/// run) and must be neither a superuser, nor BYPASSRLS, nor the owner; it
/// gets `USAGE` on the schema, `SELECT, INSERT, UPDATE, DELETE` on
/// tenantry's tables and `SELECT` on `_sqlx_migrations`. Running it again
/// changes nothing.
pub async fn migrate(owner_database_url: &str, runtime_role: Option<&str>) -> Result<MigrationReport, Error> {
    // A malformed role name is refused before anything is touched.
    let runtime_role = runtime_role.map(RoleName::parse).transpose()?;
    let options = connect_options(owner_database_url)?;
    // Two sessions: one holds the lock and does the reading and granting,
    // the other runs sqlx's migrator (which takes its own lock too). The
    // migrator is handed the pool rather than a connection because its
    // generic `Acquire` on a borrowed connection would keep `migrate`'s
    // future from being `Send`, and callers could not spawn it.
    let pool =
        PgPoolOptions::new().max_connections(2).connect_with(options).await.during(Operation::Connect)?;
    let outcome = migrate_with_pool(&pool, runtime_role.as_ref()).await;
    pool.close().await;
    outcome
}

async fn migrate_with_pool(pool: &PgPool, runtime_role: Option<&RoleName>) -> Result<MigrationReport, Error> {
    let mut connection = pool.acquire().await.during(Operation::Connect)?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATE_LOCK_KEY)
        .execute(&mut *connection)
        .await
        .during(Operation::Migrate)?;
    let outcome = migrate_holding_lock(pool, &mut connection, runtime_role).await;
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
) -> Result<MigrationReport, Error> {
    if let Some(role) = runtime_role {
        roles::check_runtime_role(connection, role).await?;
    }
    let before = applied_versions(connection, Operation::Migrate).await?;
    MIGRATOR.run(pool).await.map_err(|error| internal(Operation::Migrate, error))?;
    let after = applied_versions(connection, Operation::Migrate).await?;
    if let Some(role) = runtime_role {
        roles::grant_runtime_role(connection, role).await?;
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
        let error = connect_options("postgres://user@host:notaport/db").unwrap_err();
        assert!(error.to_string().starts_with("database_url: is not a valid PostgreSQL URL"), "{error}");
    }
}
