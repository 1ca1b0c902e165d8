//! Throwaway SQLite databases: a fresh file in a temporary directory per
//! test, migrated, with raw access to the same file for attacks on the
//! schema.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tenantry_store_sqlite::SqliteStore;

use crate::{RawSql, TestBackend};

/// The database file's name inside a test's directory.
pub const DATABASE_FILE_NAME: &str = "tenantry.sqlite3";

/// A store on a fresh, migrated SQLite file in a new temporary directory,
/// with raw SQL access to the same file. The directory is removed when the
/// backend's guard is dropped.
pub async fn backend() -> TestBackend {
    let directory = tempfile::tempdir().expect("a temporary directory can be created");
    let store = store_in(directory.path()).await;
    let raw = RawSqlite::connect(store.path()).await;
    TestBackend { name: "sqlite", store: Arc::new(store), raw: Arc::new(raw), guard: Box::new(directory) }
}

/// A migrated store on `<dir>/tenantry.sqlite3`, for tests that manage
/// their own directory (for example to open several stores on one file).
pub async fn store_in(dir: &Path) -> SqliteStore {
    let store = SqliteStore::open(&dir.join(DATABASE_FILE_NAME)).await.expect("the SQLite store opens");
    store.migrate().await.expect("the SQLite migrations apply");
    store
}

/// Raw SQL on the test's database file, through a pool of its own that
/// enforces foreign keys like the store's, so raw attacks meet the same
/// constraints the store relies on.
#[derive(Debug)]
pub struct RawSqlite {
    pool: SqlitePool,
}

impl RawSqlite {
    /// Connects to an existing database file. Its journal mode is left as
    /// the store set it (WAL is a property of the file).
    pub async fn connect(path: &Path) -> Self {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("the raw SQLite connection opens");
        Self { pool }
    }
}

#[async_trait]
impl RawSql for RawSqlite {
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .map(|outcome| outcome.rows_affected())
            .map_err(|error| error.to_string())
    }

    async fn scalar_i64(&self, sql: &str) -> Result<i64, String> {
        let row = sqlx::query(sql).fetch_one(&self.pool).await.map_err(|error| error.to_string())?;
        row.try_get::<i64, _>(0).map_err(|error| error.to_string())
    }

    async fn tables_with_column(&self, column: &str) -> Result<Vec<String>, String> {
        sqlx::query_scalar(
            "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND c.name = ?1 AND m.name NOT LIKE 'sqlite_%' \
               AND m.name <> '_sqlx_migrations' ORDER BY m.name",
        )
        .bind(column)
        .fetch_all(&self.pool)
        .await
        .map_err(|error| error.to_string())
    }

    async fn tables(&self) -> Result<Vec<String>, String> {
        sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> '_sqlx_migrations' ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|error| error.to_string())
    }

    async fn columns(&self, table: &str) -> Result<Vec<String>, String> {
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?1) ORDER BY name")
            .bind(table)
            .fetch_all(&self.pool)
            .await
            .map_err(|error| error.to_string())
    }

    fn blob_literal(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("X'{hex}'")
    }

    fn past_instant_literal(&self) -> String {
        // Microseconds since the Unix epoch.
        "1".to_owned()
    }

    fn later_instant_literal(&self) -> String {
        "2".to_owned()
    }

    fn boolean_literal(&self, value: bool) -> String {
        u8::from(value).to_string()
    }

    fn names_violated_constraints(&self) -> bool {
        false
    }

    fn drop_append_only_triggers(&self, table: &str) -> Vec<String> {
        vec![
            format!("DROP TRIGGER IF EXISTS {table}_no_update"),
            format!("DROP TRIGGER IF EXISTS {table}_no_delete"),
        ]
    }

    fn failing_delete_trigger(
        &self,
        table: &str,
        id_literal: &str,
        message: &str,
    ) -> (Vec<String>, Vec<String>) {
        let message = message.replace('\'', "''");
        (
            vec![format!(
                "CREATE TRIGGER conformance_injected_failure BEFORE DELETE ON {table} \
                 WHEN OLD.id = {id_literal} BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )],
            vec!["DROP TRIGGER conformance_injected_failure".to_owned()],
        )
    }
}
