//! Dev-only helpers for tenantry's tests: throwaway databases on both
//! backends, raw SQL access as the database owner, and the store
//! conformance suite that every backend must pass.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use tenantry_core::Store;

pub mod conformance;
pub mod oidc_issuer;
pub mod postgres;
pub mod sqlite;

/// Raw SQL against a test database, as its owner: on PostgreSQL the owner
/// role (row-level security does not apply to it), on SQLite the file
/// itself. Tests use it to attack the schema directly.
#[async_trait]
pub trait RawSql: Send + Sync {
    /// Runs one statement; returns the rows affected, or the database's
    /// error message.
    async fn execute(&self, sql: &str) -> Result<u64, String>;

    /// Runs a query whose first column of its first row is an integer
    /// (for example `SELECT count(*) ...`) and returns it.
    async fn scalar_i64(&self, sql: &str) -> Result<i64, String>;
}

/// A store on a fresh, migrated, throwaway database, with owner access to
/// the same database. Dropping it removes the database.
pub struct TestBackend {
    /// `sqlite` or `postgres`.
    pub name: &'static str,
    /// The store under test, connected as the server would connect (on
    /// PostgreSQL: the runtime role, subject to row-level security).
    pub store: Arc<dyn Store>,
    /// Owner access to the same database.
    pub raw: Arc<dyn RawSql>,
    /// Whatever must live as long as the database (a temporary directory,
    /// a guard that drops the PostgreSQL database).
    pub guard: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for TestBackend {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TestBackend").field("name", &self.name).finish_non_exhaustive()
    }
}
