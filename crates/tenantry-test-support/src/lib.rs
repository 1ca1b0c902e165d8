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

/// Every tenant-owned table, on both backends: `tenants` (each row is its
/// own tenant) and every table with a `tenant_id` column. The one list the
/// cross-tenant tests, the row-level security attacks and the fixtures take
/// their tables from; the conformance case `every_table_is_listed` fails
/// when a migration adds a table that is not here or in [`GLOBAL_TABLES`].
pub const TENANT_OWNED_TABLES: [&str; 20] = [
    "api_keys",
    "approval_routing",
    "approvals",
    "audit_checkpoints",
    "audit_events",
    "audit_logs",
    "audit_nodes",
    "decisions",
    "groups",
    "invitations",
    "relationship_changes",
    "relationship_revisions",
    "relationships",
    "service_accounts",
    "sessions",
    "tenant_root_workspaces",
    "tenants",
    "webhook_deliveries",
    "webhooks",
    "workspaces",
];

/// Every table that belongs to no tenant: users (who may belong to many),
/// the platform's relationship partition, audit log and schema, operation
/// runs and their jobs, and the deployment's settings.
pub const GLOBAL_TABLES: [&str; 12] = [
    "authorization_schemas",
    "deployment_settings",
    "jobs",
    "operation_runs",
    "platform_audit_checkpoints",
    "platform_audit_events",
    "platform_audit_log",
    "platform_audit_nodes",
    "platform_relationship_changes",
    "platform_relationship_revisions",
    "platform_relationships",
    "users",
];

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

    // --- The dialect: what differs between the backends' SQL, so that
    // conformance cases never branch on a backend's name. ---

    /// The tables of the schema that have a column of this name, sorted
    /// (`_sqlx_migrations` and the database's own tables aside).
    async fn tables_with_column(&self, column: &str) -> Result<Vec<String>, String>;

    /// Every table of the schema, sorted (`_sqlx_migrations` and the
    /// database's own tables aside).
    async fn tables(&self) -> Result<Vec<String>, String>;

    /// The columns of a table, sorted.
    async fn columns(&self, table: &str) -> Result<Vec<String>, String>;

    /// A literal of these bytes.
    fn blob_literal(&self, bytes: &[u8]) -> String;

    /// A literal of an instant in the past, as the backend stores
    /// timestamps that SQL compares (`expires_at` of invitations).
    fn past_instant_literal(&self) -> String;

    /// A literal of an instant after [`RawSql::past_instant_literal`]'s.
    fn later_instant_literal(&self) -> String;

    /// A literal of a boolean, as the backend stores one.
    fn boolean_literal(&self, value: bool) -> String;

    /// Whether the database's messages for a violated constraint name the
    /// constraint (PostgreSQL does; SQLite names columns, or nothing).
    fn names_violated_constraints(&self) -> bool;

    /// Statements that switch the append-only triggers of an audit table
    /// off, as an attacker with the owner's access would before rewriting
    /// it.
    fn drop_append_only_triggers(&self, table: &str) -> Vec<String>;

    /// Statements that make every delete from `table` of the row whose
    /// `id` is `id_literal` fail with `message`, and the statements that
    /// undo them.
    fn failing_delete_trigger(
        &self,
        table: &str,
        id_literal: &str,
        message: &str,
    ) -> (Vec<String>, Vec<String>);
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
