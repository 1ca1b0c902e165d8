//! Throwaway PostgreSQL databases, each with its own three roles, shaped
//! like a production deployment: an owner that runs the migrations and owns
//! the tables, a runtime role (neither owner, nor superuser, nor BYPASSRLS)
//! that the store serves tenants as, so row-level security binds it, and a
//! platform role (the same, but admitted by the platform's policies) for
//! the platform's named operations.
//!
//! The server is found through `TENANTRY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), which must name a
//! superuser: creating roles with BYPASSRLS and dropping databases in use
//! need one. When the server is unreachable, PostgreSQL tests are skipped
//! with one line on stderr, unless `TENANTRY_REQUIRE_POSTGRES` is set (to
//! anything but `0`), in which case they fail.

use std::io::Write;
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, Row};
use tenantry_store_postgres::{MigrationRoles, PostgresStore};

use crate::{RawSql, TestBackend};

/// The admin URL used when `TENANTRY_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long to wait for the server before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Prints the skip line once per test process.
static SKIP_NOTICE: Once = Once::new();

/// A fresh database on the test server with its own owner, runtime and
/// platform roles. Dropping it drops the database (terminating its
/// sessions) and the roles.
#[derive(Debug)]
pub struct PostgresTestDb {
    /// A superuser URL on the server's maintenance database.
    pub admin_url: String,
    /// The database's name, `tenantry_t_<ulid>`.
    pub database: String,
    /// The role that owns the database and its tables and runs migrations.
    /// It has BYPASSRLS, so raw SQL as the owner sees every tenant's rows,
    /// the way an operator's maintenance role would.
    pub owner_role: String,
    /// The owner's URL on this database.
    pub owner_url: String,
    /// The role the store connects as: LOGIN NOSUPERUSER NOBYPASSRLS,
    /// granted its privileges by `migrate`.
    pub runtime_role: String,
    /// The runtime role's URL on this database.
    pub runtime_url: String,
    /// The role the platform's operations run as: LOGIN NOSUPERUSER
    /// NOBYPASSRLS, granted its privileges and policies by `migrate`.
    pub platform_role: String,
    /// The platform role's URL on this database.
    pub platform_url: String,
}

/// Whether a missing PostgreSQL server must fail the tests.
fn postgres_required() -> bool {
    std::env::var("TENANTRY_REQUIRE_POSTGRES").is_ok_and(|value| !value.is_empty() && value != "0")
}

/// Skips (once per process, one line) or, when PostgreSQL is required,
/// fails.
fn unreachable(reason: &str) -> Option<PostgresTestDb> {
    if postgres_required() {
        panic!("PostgreSQL is required (TENANTRY_REQUIRE_POSTGRES is set) but unreachable: {reason}");
    }
    SKIP_NOTICE.call_once(|| {
        // Straight to the process's stderr: libtest captures only the print
        // macros, and this line must show in `cargo test` output, where CI
        // looks for it.
        let line =
            format!("SKIPPED: PostgreSQL tests: {reason}; set TENANTRY_REQUIRE_POSTGRES=1 to fail instead\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    });
    None
}

/// The admin URL of the test server.
fn admin_url() -> String {
    std::env::var("TENANTRY_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned())
}

/// `admin_url` with another user, password and database.
fn url_for(admin_url: &str, role: &str, password: &str, database: &str) -> String {
    PgConnectOptions::from_str(admin_url)
        .unwrap_or_else(|error| panic!("TENANTRY_TEST_POSTGRES_URL is not a valid PostgreSQL URL: {error}"))
        .username(role)
        .password(password)
        .database(database)
        .to_url_lossy()
        .to_string()
}

async fn connect_admin(admin_url: &str) -> Result<PgConnection, String> {
    let options = PgConnectOptions::from_str(admin_url)
        .map_err(|error| format!("TENANTRY_TEST_POSTGRES_URL is not a valid PostgreSQL URL: {error}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(format!("cannot connect to {}: {error}", redacted(admin_url))),
        Err(_) => Err(format!("no answer from {} within {CONNECT_TIMEOUT:?}", redacted(admin_url))),
    }
}

/// The URL's user, host, port and database, never its password, for
/// messages.
fn redacted(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(options) => format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        ),
        Err(_) => "<a malformed URL>".to_owned(),
    }
}

/// Quotes an identifier; test names are plain, but quoting is the habit.
fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

impl PostgresTestDb {
    /// A fresh database with its three roles, migrated by the owner with
    /// `tenantry_store_postgres::migrate`, which also grants the runtime
    /// and platform roles their privileges. `None` after the skip line when
    /// the server is unreachable and not required.
    pub async fn create() -> Option<PostgresTestDb> {
        let db = Self::create_unmigrated().await?;
        tenantry_store_postgres::migrate(&db.owner_url, db.migration_roles())
            .await
            .unwrap_or_else(|error| panic!("migrating the test database {} failed: {error}", db.database));
        Some(db)
    }

    /// The runtime and platform roles, as `migrate` takes them.
    pub fn migration_roles(&self) -> MigrationRoles<'_> {
        MigrationRoles { runtime_role: Some(&self.runtime_role), platform_role: Some(&self.platform_role) }
    }

    /// The store as the server connects it: the runtime role for tenants,
    /// the platform role for the platform's operations.
    pub async fn server_store(&self) -> PostgresStore {
        PostgresStore::connect(&self.runtime_url, &self.platform_url)
            .await
            .unwrap_or_else(|error| panic!("connecting the store as the server's roles failed: {error}"))
    }

    /// Like [`PostgresTestDb::create`], but leaves the database empty, for
    /// tests of `migrate` itself.
    pub async fn create_unmigrated() -> Option<PostgresTestDb> {
        let admin_url = admin_url();
        let mut admin = match connect_admin(&admin_url).await {
            Ok(admin) => admin,
            Err(reason) => return unreachable(&reason),
        };
        let is_superuser: bool =
            sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .fetch_one(&mut admin)
                .await
                .expect("the admin connection answers");
        assert!(
            is_superuser,
            "TENANTRY_TEST_POSTGRES_URL ({}) must name a superuser: the tests create roles with BYPASSRLS \
             and drop databases in use",
            redacted(&admin_url)
        );
        let name = format!("tenantry_t_{}", ulid::Ulid::new().to_string().to_lowercase());
        let owner_role = format!("{name}_owner");
        let runtime_role = format!("{name}_app");
        let platform_role = format!("{name}_platform");
        // Passwords make the URLs work on servers with password
        // authentication too; on trust authentication they are ignored.
        let owner_password = ulid::Ulid::new().to_string();
        let runtime_password = ulid::Ulid::new().to_string();
        let platform_password = ulid::Ulid::new().to_string();
        let db = PostgresTestDb {
            owner_url: url_for(&admin_url, &owner_role, &owner_password, &name),
            runtime_url: url_for(&admin_url, &runtime_role, &runtime_password, &name),
            platform_url: url_for(&admin_url, &platform_role, &platform_password, &name),
            admin_url,
            database: name,
            owner_role,
            runtime_role,
            platform_role,
        };
        // From here on, a failure drops `db`, which removes whatever was
        // created.
        let statements = [
            format!(
                "CREATE ROLE {} LOGIN NOSUPERUSER BYPASSRLS PASSWORD '{owner_password}'",
                quoted(&db.owner_role)
            ),
            format!(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{runtime_password}'",
                quoted(&db.runtime_role)
            ),
            format!(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{platform_password}'",
                quoted(&db.platform_role)
            ),
            format!("CREATE DATABASE {} OWNER {}", quoted(&db.database), quoted(&db.owner_role)),
        ];
        for statement in statements {
            admin
                .execute(statement.as_str())
                .await
                .unwrap_or_else(|error| panic!("creating the test database {} failed: {error}", db.database));
        }
        let _ = admin.close().await;
        Some(db)
    }
}

/// What dropping a [`PostgresTestDb`] removes, moved out of it so that the
/// cleanup thread owns it.
struct Cleanup {
    admin_url: String,
    database: String,
    owner_role: String,
    runtime_role: String,
    platform_role: String,
}

impl Cleanup {
    /// Drops the database (terminating its sessions) and the roles.
    async fn run(&self) -> Result<(), String> {
        let mut admin = connect_admin(&self.admin_url).await?;
        let statements = [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(&self.database)),
            format!("DROP ROLE IF EXISTS {}", quoted(&self.owner_role)),
            format!("DROP ROLE IF EXISTS {}", quoted(&self.runtime_role)),
            format!("DROP ROLE IF EXISTS {}", quoted(&self.platform_role)),
        ];
        for statement in statements {
            admin.execute(statement.as_str()).await.map_err(|error| format!("{statement}: {error}"))?;
        }
        let _ = admin.close().await;
        Ok(())
    }
}

impl Drop for PostgresTestDb {
    fn drop(&mut self) {
        let cleanup = Cleanup {
            admin_url: std::mem::take(&mut self.admin_url),
            database: std::mem::take(&mut self.database),
            owner_role: std::mem::take(&mut self.owner_role),
            runtime_role: std::mem::take(&mut self.runtime_role),
            platform_role: std::mem::take(&mut self.platform_role),
        };
        // Drop runs in synchronous code, often inside an async test's
        // runtime, where blocking on that runtime would panic. So the
        // cleanup gets a thread and a runtime of its own, and is waited for,
        // so the database is gone when the test ends.
        let thread = std::thread::spawn(move || {
            let outcome = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(cleanup.run()),
                Err(error) => Err(format!("no runtime for the cleanup: {error}")),
            };
            if let Err(error) = outcome {
                let line =
                    format!("warning: could not drop the test database {}: {error}\n", cleanup.database);
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        });
        let _ = thread.join();
    }
}

/// A store on a fresh database, connected as the server connects (the
/// runtime and platform roles), with raw SQL as the owner. `None` (after
/// the skip line) when PostgreSQL is unreachable and not required.
pub async fn backend() -> Option<TestBackend> {
    let db = PostgresTestDb::create().await?;
    let store = db.server_store().await;
    let raw = RawPostgres::connect(&db.owner_url).await;
    Some(TestBackend { name: "postgres", store: Arc::new(store), raw: Arc::new(raw), guard: Box::new(db) })
}

/// Raw SQL on a test database through a pool of its own.
#[derive(Debug, Clone)]
pub struct RawPostgres {
    pool: PgPool,
}

impl RawPostgres {
    /// Connects to `url` (in [`backend`], the owner's).
    pub async fn connect(url: &str) -> Self {
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await.unwrap_or_else(|error| {
            panic!("the raw PostgreSQL connection to {} failed: {error}", redacted(url))
        });
        Self { pool }
    }

    /// The pool, for tests that need more than [`RawSql`] offers.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl RawSql for RawPostgres {
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        // Not persistent: tests send many one-off statements, which would
        // otherwise fill the connection's statement cache.
        sqlx::query(sql)
            .persistent(false)
            .execute(&self.pool)
            .await
            .map(|outcome| outcome.rows_affected())
            .map_err(|error| error.to_string())
    }

    async fn scalar_i64(&self, sql: &str) -> Result<i64, String> {
        let row = sqlx::query(sql)
            .persistent(false)
            .fetch_one(&self.pool)
            .await
            .map_err(|error| error.to_string())?;
        row.try_get::<i64, _>(0).map_err(|error| error.to_string())
    }

    async fn tables_with_column(&self, column: &str) -> Result<Vec<String>, String> {
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = $1 \
               AND table_name <> '_sqlx_migrations' ORDER BY 1",
        )
        .bind(column)
        .persistent(false)
        .fetch_all(&self.pool)
        .await
        .map_err(|error| error.to_string())
    }

    async fn tables(&self) -> Result<Vec<String>, String> {
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
               AND table_name <> '_sqlx_migrations' ORDER BY 1",
        )
        .persistent(false)
        .fetch_all(&self.pool)
        .await
        .map_err(|error| error.to_string())
    }

    async fn columns(&self, table: &str) -> Result<Vec<String>, String> {
        sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY 1",
        )
        .bind(table)
        .persistent(false)
        .fetch_all(&self.pool)
        .await
        .map_err(|error| error.to_string())
    }

    fn blob_literal(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("decode('{hex}', 'hex')")
    }

    fn past_instant_literal(&self) -> String {
        "now() - interval '1 day'".to_owned()
    }

    fn later_instant_literal(&self) -> String {
        "now()".to_owned()
    }

    fn boolean_literal(&self, value: bool) -> String {
        value.to_string()
    }

    fn names_violated_constraints(&self) -> bool {
        true
    }

    fn drop_append_only_triggers(&self, table: &str) -> Vec<String> {
        vec![format!("ALTER TABLE {table} DISABLE TRIGGER USER")]
    }

    fn failing_delete_trigger(
        &self,
        table: &str,
        id_literal: &str,
        message: &str,
    ) -> (Vec<String>, Vec<String>) {
        let message = message.replace('\'', "''");
        (
            vec![
                format!(
                    "CREATE FUNCTION conformance_injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF OLD.id = {id_literal} THEN RAISE EXCEPTION '{message}'; END IF; \
                     RETURN OLD; END $$"
                ),
                format!(
                    "CREATE TRIGGER conformance_injected_failure BEFORE DELETE ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION conformance_injected_failure()"
                ),
            ],
            vec![
                format!("DROP TRIGGER conformance_injected_failure ON {table}"),
                "DROP FUNCTION conformance_injected_failure()".to_owned(),
            ],
        )
    }
}
