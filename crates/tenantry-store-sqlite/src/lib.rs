//! The embedded SQLite backend of the tenantry store contract.
//!
//! One database file, in WAL mode with foreign keys on, behind a small sqlx
//! connection pool. SQLite has no row-level security, so isolation here is
//! the store's own: every statement on a tenant-owned table carries a
//! `tenant_id = ?` predicate bound from the caller's
//! [`TenantScope`](tenantry_core::TenantScope), and the only statements
//! that read across tenants are those of the operations the
//! [`Store`](tenantry_core::Store) trait names with a
//! [`PlatformScope`](tenantry_core::PlatformScope), each of which logs the
//! reason its scope was granted.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction. SQLite allows one
//! writer at a time; an immediate transaction takes the write lock up front
//! and waits for it under the busy timeout, whereas a deferred transaction
//! that reads first and writes later fails at once with `SQLITE_BUSY` when
//! another writer got in between. Taking the lock first also serializes
//! every check-then-write sequence below (the bootstrap, cycle checks on
//! moves, the children check on deletes, the last-admin check) against all
//! other writers, and it is the lock on a relationship partition's revision
//! that the contract asks for: revisions commit in order.
//!
//! The store's write transactions all run on one connection of their own
//! ([`Connections`]), and its reads on a pool beside it. SQLite keeps a page
//! cache per connection and, in WAL mode, drops all of it when a
//! transaction begins and finds that another connection has written since
//! (the WAL's header changed). sqlx hands out idle connections first in,
//! first out, so with writes spread over the pool every write began with an
//! empty cache and read each page it touched again (28 `pread`s per
//! membership write, 41 with its audit event; BENCHMARKS.md). One writer
//! connection keeps its cache across writes, since only it writes, and
//! writers of this process queue on it in order instead of polling
//! SQLite's lock. Writers in other processes still meet at SQLite's lock,
//! under the busy timeout.
//!
//! Relationships are written by the operation whose data they describe, in
//! its transaction, through one writer (`relationships.rs`) that applies
//! each change at once and, at the commit, logs the effective ones and
//! advances the partition's revision once. Reads that
//! must be consistent (a snapshot, the change log) run in one read
//! transaction, which in WAL mode sees one state of the file throughout.
//!
//! Every change is recorded in an append-only audit log, the tenant's or
//! the platform's, in the change's own transaction: each mutating method
//! runs in an `audit::Write` (`audit.rs`), which collects the events the
//! domain names for the change (`tenantry_core::audit`) and, just before it
//! commits, numbers them after the log's head, hashes them into the log's
//! Merkle tree and writes events, subtrees and the new head, together with
//! the partition's revision and change log in one batch of statements
//! (`batch.rs`): one round trip to the connection's worker thread for all
//! that a change writes last. The write lock makes the head it reads the
//! one the append follows, so a log's events are numbered without gaps,
//! and a change that fails appends nothing.
//! Housekeeping (the expiry sweep, pruning the change logs, checkpoints)
//! and recording a key's use are no one's change and record no event.

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
mod relationships;
mod rows;
mod runs;
mod schemas;
mod service_accounts;
mod snapshot;
mod tenant_tables;
mod tenants;
mod users;
mod webhooks;
mod workspaces;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use tenantry_core::{ApiKeyHasher, Error, Result, StoreLimits};

use crate::error::{Failure, Operation, map_database_error};

/// The migrations in `migrations/`, embedded in the binary at build time.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a statement waits for another connection's lock before it
/// fails with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the read pool. Readers run in parallel under WAL; writes
/// have a connection of their own (see [`Connections`]).
const MAX_CONNECTIONS: u32 = 8;

/// The name of the `deployment_settings` row that holds the API key pepper.
const API_KEY_PEPPER_SETTING: &str = "api_key_pepper";

/// A store's connections to its file: a pool for reads and, for every
/// write transaction, one connection (a pool of one, so writers wait for it
/// in turn).
#[derive(Debug, Clone)]
pub(crate) struct Connections {
    reads: SqlitePool,
    writer: SqlitePool,
}

impl Connections {
    /// The pool for reads (and for nothing that writes).
    pub(crate) fn reads(&self) -> &SqlitePool {
        &self.reads
    }

    /// The one connection every write transaction runs on.
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// A connection from the read pool, for several reads of `operation`.
    pub(crate) async fn read_connection(&self, operation: Operation) -> Result<PoolConnection<Sqlite>> {
        self.reads.acquire().await.map_err(|error| map_database_error(error, operation))
    }
}

/// A [`Store`](tenantry_core::Store) on one SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    pool: Connections,
    path: PathBuf,
    limits: StoreLimits,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file and its parent
    /// directories if they are missing. The file is switched to WAL
    /// journaling; connections enforce foreign keys, wait up to ten seconds
    /// for locks and sync at `NORMAL`: with WAL the database is never
    /// corrupted, though a power loss may undo the last commits before it.
    ///
    /// Safe when many processes open one fresh file at once: see
    /// [`SqliteStore::migrate`] for the lock that serializes them.
    /// Opening does not migrate: call [`SqliteStore::migrate`].
    pub async fn open(path: &Path) -> Result<SqliteStore, Error> {
        let opening = || format!("{} at {}", Operation::OpenDatabase.describe(), path.display());
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|error| {
                Error::internal(Failure::new(format!("creating the directory {}", parent.display()), error))
            })?;
        }
        // The journal mode is deliberately not among the per-connection
        // options: WAL is a property of the file, set once below, and
        // switching into it needs an exclusive lock that SQLite does not
        // wait for under the busy timeout. Ten processes opening one fresh
        // file, each connection switching it, would fail with SQLITE_BUSY.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);

        // Creating the file and switching it to WAL happen under the schema
        // lock, so they happen once, in one process, while the others wait.
        let schema_lock = acquire_schema_lock(path).await?;
        // No ping before every acquire: it would double the cost of the
        // one-statement reads on the request path (key verification), and a
        // SQLite file does not drop connections the way a server can.
        let pool =
            |connections| SqlitePoolOptions::new().max_connections(connections).test_before_acquire(false);
        let reads = pool(MAX_CONNECTIONS)
            .connect_with(options.clone())
            .await
            .map_err(|error| Error::internal(Failure::new(opening(), error)))?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
            .fetch_one(&reads)
            .await
            .map_err(|error| Error::internal(Failure::new(opening(), error)))?;
        drop(schema_lock);
        // Connected when the first write begins. A writer waits for it as
        // long as for another process's write lock.
        let writer = pool(1).acquire_timeout(BUSY_TIMEOUT).connect_lazy_with(options);
        let pool = Connections { reads, writer };
        if !journal_mode.eq_ignore_ascii_case("wal") {
            return Err(Error::internal(Failure::message(format!(
                "{}: the file stayed in {journal_mode} journal mode instead of switching to WAL",
                opening()
            ))));
        }
        Ok(SqliteStore { pool, path: path.to_owned(), limits: StoreLimits::defaults() })
    }

    /// Applies the embedded migrations that the database has not yet seen.
    ///
    /// Safe when many processes call it at once on one database: sqlx's
    /// SQLite migrator takes no lock of its own, so this holds an exclusive
    /// operating-system lock on the sibling file `<database file>.migrate-lock`
    /// for the whole run (the same lock [`SqliteStore::open`] holds while it
    /// creates the file and switches it to WAL). A caller that waited finds
    /// the migrations applied and has nothing left to do.
    pub async fn migrate(&self) -> Result<(), Error> {
        let schema_lock = acquire_schema_lock(&self.path).await?;
        let outcome = MIGRATOR.run(self.pool.writer()).await;
        // Closing the lock file releases the lock: say so here rather than
        // leave it to the end of the scope.
        drop(schema_lock);
        outcome.map_err(|error| {
            Error::internal(Failure::new(
                format!("{} at {}", Operation::Migrate.describe(), self.path.display()),
                error,
            ))
        })
    }

    /// The database file this store opened.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `<database file>.migrate-lock`, beside the database file.
fn schema_lock_path(database_path: &Path) -> PathBuf {
    let mut lock_path = database_path.as_os_str().to_owned();
    lock_path.push(".migrate-lock");
    PathBuf::from(lock_path)
}

/// Takes the exclusive operating-system lock that serializes changes to the
/// database file's format and schema (creating it, switching it to WAL,
/// migrating it) across processes and stores. It is held until the returned
/// file is dropped, and released by the operating system if the process
/// dies. Waiting for it blocks a thread, so it happens on tokio's blocking
/// pool.
async fn acquire_schema_lock(database_path: &Path) -> Result<File> {
    let lock_path = schema_lock_path(database_path);
    tokio::task::spawn_blocking(move || lock_exclusively(&lock_path))
        .await
        .map_err(|error| Error::internal(Failure::new("waiting for the schema lock", error)))?
}

/// Opens (creating if needed) and exclusively locks a lock file, blocking
/// until no other process or store holds it. The file is never removed:
/// removing it would let a waiter lock a file that a newer caller no longer
/// sees.
fn lock_exclusively(lock_path: &Path) -> Result<File> {
    let failure = |error: std::io::Error| {
        Error::internal(Failure::new(format!("locking {}", lock_path.display()), error))
    };
    let lock_file =
        OpenOptions::new().create(true).truncate(false).write(true).open(lock_path).map_err(failure)?;
    lock_file.lock().map_err(failure)?;
    Ok(lock_file)
}

/// Begins a write transaction that holds SQLite's write lock from its first
/// statement (see the crate documentation for why). Every change to the
/// domain's data runs in one through [`audit::Write`], which records its
/// audit events; only the deployment's own settings are written in a bare
/// one.
pub(crate) async fn begin_immediate(
    pool: &Connections,
    operation: Operation,
) -> Result<Transaction<'static, Sqlite>> {
    pool.writer.begin_with("BEGIN IMMEDIATE").await.map_err(|error| map_database_error(error, operation))
}

/// Commits a transaction, a write begun by [`begin_immediate`] or a read.
pub(crate) async fn commit(transaction: Transaction<'static, Sqlite>, operation: Operation) -> Result<()> {
    transaction.commit().await.map_err(|error| map_database_error(error, operation))
}

impl SqliteStore {
    /// The same store, keeping `limits` (the defaults until this is called)
    /// inside its write transactions.
    #[must_use]
    pub fn with_limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    async fn applied_migration_versions(&self) -> Result<Vec<i64>> {
        let operation = Operation::ReadMigrations;
        let mut transaction =
            self.pool.reads().begin().await.map_err(|error| map_database_error(error, operation))?;
        let table_exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
        if !table_exists {
            return Ok(Vec::new());
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))
    }

    async fn read_or_create_api_key_pepper(&self) -> Result<Vec<u8>> {
        let operation = Operation::ApiKeyPepper;
        let read = || {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM deployment_settings WHERE name = ?1")
                .bind(API_KEY_PEPPER_SETTING)
        };
        // Every start after the first finds the pepper with one read and
        // takes no write lock.
        if let Some(pepper) = read()
            .fetch_optional(self.pool.reads())
            .await
            .map_err(|error| map_database_error(error, operation))?
        {
            return Ok(pepper);
        }
        // Whichever caller inserts first wins; everyone then reads the
        // winner's pepper, inside the same write transaction.
        let mut transaction = begin_immediate(&self.pool, operation).await?;
        sqlx::query(
            "INSERT INTO deployment_settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(API_KEY_PEPPER_SETTING)
        .bind(ApiKeyHasher::generate_pepper())
        .execute(&mut *transaction)
        .await
        .map_err(|error| map_database_error(error, operation))?;
        let pepper = read()
            .fetch_one(&mut *transaction)
            .await
            .map_err(|error| map_database_error(error, operation))?;
        commit(transaction, operation).await?;
        Ok(pepper)
    }
}

/// The `LIMIT` of a list query: one row more than asked for, so
/// that [`Page::from_overfetched`](tenantry_core::Page::from_overfetched) can tell whether a next page exists.
pub(crate) fn overfetch_limit(limit: tenantry_core::PageLimit) -> i64 {
    i64::from(limit.get()) + 1
}

/// The lower bound of a list page: the cursor, or the empty string, which
/// sorts before every id.
pub(crate) fn page_after<Id: std::fmt::Display>(after: Option<&Id>) -> String {
    after.map(ToString::to_string).unwrap_or_default()
}

/// Ids as a JSON array of strings, bound as one parameter and unpacked with
/// `json_each`, so that a list of any length is one statement with a fixed
/// text. Ids are prefixed ULIDs, but quotes and backslashes are escaped
/// anyway so that the array is valid JSON whatever `Display` gives.
pub(crate) fn json_id_array<Id: std::fmt::Display>(ids: &[Id]) -> String {
    let strings: Vec<String> = ids
        .iter()
        .map(|id| format!("\"{}\"", id.to_string().replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("[{}]", strings.join(","))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A store on a fresh, migrated file, with the directory that holds it
    /// (removed when dropped).
    pub(crate) async fn migrated_store() -> (tempfile::TempDir, SqliteStore) {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&directory.path().join("tenantry.sqlite3")).await.unwrap();
        store.migrate().await.unwrap();
        (directory, store)
    }

    /// The migrations run on the writer connection; none of them may leave
    /// it (or any other) without foreign-key enforcement, which the store's
    /// backstops rely on. So every connection the store has, the writer and
    /// every connection the read pool allows, held at once.
    #[tokio::test]
    async fn every_connection_enforces_foreign_keys_after_migrating() {
        let (_directory, store) = migrated_store().await;
        let mut connections = vec![store.pool.writer().acquire().await.unwrap()];
        for _ in 0..MAX_CONNECTIONS {
            connections.push(store.pool.reads().acquire().await.unwrap());
        }
        for connection in &mut connections {
            let enforced: i64 =
                sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut **connection).await.unwrap();
            let deferred: i64 =
                sqlx::query_scalar("PRAGMA defer_foreign_keys").fetch_one(&mut **connection).await.unwrap();
            assert_eq!((enforced, deferred), (1, 0));
        }
    }

    #[test]
    fn id_arrays_are_json() {
        assert_eq!(json_id_array::<&str>(&[]), "[]");
        assert_eq!(json_id_array(&["ws_1", "a\"b\\c"]), r#"["ws_1","a\"b\\c"]"#);
    }
}
