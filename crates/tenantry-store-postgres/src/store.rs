//! Transactions on PostgreSQL: one per operation, each opened by
//! [`PostgresStore::begin`] with its scope set first, and the paging helpers
//! every tenant-owned table shares. Each aggregate's operations are in its
//! own module (`tenants`, `workspaces`, `api_keys`, ...).

use sqlx::postgres::PgRow;
use sqlx::{Executor, Postgres, Transaction};
use tenantry_core::{PageRequest, PlatformScope, Result, StoreLimits, TenantScope};

use crate::PostgresStore;
use crate::error::{DatabaseResultExt, Operation};

/// Whose rows a transaction may touch. Every transaction decides it before
/// its first statement, in [`PostgresStore::begin`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum TransactionScope<'scope> {
    /// One tenant's rows: `SET LOCAL tenantry.tenant_id`.
    Tenant(&'scope TenantScope),
    /// Every tenant's rows and the platform's tables, for the named
    /// operations: a platform-role connection, which the `platform_scope`
    /// policies admit by its identity.
    Platform(&'scope PlatformScope),
    /// The deployment settings (the API key pepper): a platform-role
    /// connection, since the runtime role has no privilege on them.
    Deployment,
    /// The global tables only (users, the schema, the migrations): a
    /// runtime connection with no tenant setting, so row-level security
    /// hides every tenant-owned row.
    Global,
}

/// How a transaction sees concurrent commits.
#[derive(Debug, Clone, Copy)]
enum Isolation {
    /// PostgreSQL's default: each statement sees what was committed before
    /// it started. Writers use it, under row locks.
    ReadCommitted,
    /// One snapshot for the whole transaction, read only.
    Snapshot,
}

/// Quotes a string as an SQL literal. `SET LOCAL` takes no bind
/// parameters; the values quoted here are validated ids anyway.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The largest number of rows a page query fetches: one more than the
/// limit, which tells whether there is a next page.
pub(crate) fn overfetch_limit<Id>(page: &PageRequest<Id>) -> i64 {
    i64::from(page.limit.get()) + 1
}

/// The cursor bound of a page query. Ids are never empty, so the empty
/// string sorts before every id and a first page needs no second query
/// shape (an `$after IS NULL OR` would defeat the index in generic plans).
pub(crate) fn after_cursor<Id: ToString>(page: &PageRequest<Id>) -> String {
    page.after.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl PostgresStore {
    /// The platform role's pool, for the one statement that needs no
    /// transaction: reading the platform partition's change log.
    pub(crate) fn platform_pool(&self) -> &sqlx::PgPool {
        &self.platform_pool
    }

    /// Opens a transaction confined to `scope`. It is the only way the store
    /// opens one, so no operation can forget its scope. The setting is
    /// `SET LOCAL` (transaction-local), so it ends with the transaction and
    /// a pooled connection never carries it into the next one; and it is
    /// `SET LOCAL` rather than `set_config(..., true)` because Citus
    /// propagates `SET LOCAL` to its workers, where the policies run, and
    /// not a function call.
    pub(crate) async fn begin(
        &self,
        scope: TransactionScope<'_>,
        operation: Operation,
    ) -> Result<Transaction<'static, Postgres>> {
        self.begin_with(scope, Isolation::ReadCommitted, operation).await
    }

    /// Opens a read-only transaction confined to `scope` that reads one
    /// snapshot (REPEATABLE READ): every statement in it sees the database
    /// as it was at its first, so a revision and the rows it counts are
    /// read together.
    pub(crate) async fn begin_snapshot(
        &self,
        scope: TransactionScope<'_>,
        operation: Operation,
    ) -> Result<Transaction<'static, Postgres>> {
        self.begin_with(scope, Isolation::Snapshot, operation).await
    }

    async fn begin_with(
        &self,
        scope: TransactionScope<'_>,
        isolation: Isolation,
        operation: Operation,
    ) -> Result<Transaction<'static, Postgres>> {
        // The setting is worked out before the first await, so that the
        // future holds no borrowed scope across it (which would keep it
        // from being provably `Send` for `async_trait`).
        let (pool, statement) = match scope {
            TransactionScope::Tenant(scope) => (
                &self.tenant_pool,
                Some(format!(
                    "SET LOCAL tenantry.tenant_id = {}",
                    quote_literal(&scope.tenant_id().to_string())
                )),
            ),
            TransactionScope::Platform(platform) => {
                // The authorizer reads the platform partition and sweeps
                // every few seconds; an operator's operations are rare and
                // worth a line each.
                if operation.is_routine() {
                    tracing::debug!(
                        reason = platform.reason(),
                        operation = operation.describe(),
                        "routine operation in platform scope"
                    );
                } else {
                    tracing::info!(
                        reason = platform.reason(),
                        operation = operation.describe(),
                        "cross-tenant operation in platform scope"
                    );
                }
                (&self.platform_pool, None)
            }
            TransactionScope::Deployment => (&self.platform_pool, None),
            TransactionScope::Global => (&self.tenant_pool, None),
        };
        let transaction = match isolation {
            Isolation::ReadCommitted => pool.begin().await,
            Isolation::Snapshot => pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await,
        };
        let mut transaction = transaction.during(operation)?;
        if let Some(statement) = statement {
            // The simple protocol: one statement, no prepared statement
            // cached per tenant id.
            transaction.execute(sqlx::raw_sql(&statement)).await.during(operation)?;
        }
        Ok(transaction)
    }
}

impl PostgresStore {
    /// Opens a transaction confined to `scope`, as [`PostgresStore::begin`]
    /// does, and locks and reads the tenant's audit log head in the same
    /// round trip as the scope's `SET LOCAL` (one simple-protocol query of
    /// two statements): the first lock every change of the tenant takes, so
    /// that its events are numbered in commit order. `None` when the tenant
    /// has no log (it does not exist).
    pub(crate) async fn begin_with_audit_head(
        &self,
        scope: &TenantScope,
        operation: Operation,
    ) -> Result<(Transaction<'static, Postgres>, Option<PgRow>)> {
        let tenant_id = quote_literal(&scope.tenant_id().to_string());
        let statements = format!(
            "SET LOCAL tenantry.tenant_id = {tenant_id}; \
             SELECT size, frontier FROM audit_logs WHERE tenant_id = {tenant_id} FOR UPDATE"
        );
        let mut transaction = self.tenant_pool.begin().await.during(operation)?;
        let head = transaction.fetch_optional(sqlx::raw_sql(&statements)).await.during(operation)?;
        Ok((transaction, head))
    }
}

/// Commits a transaction opened by [`PostgresStore::begin`].
pub(crate) async fn commit(transaction: Transaction<'static, Postgres>, operation: Operation) -> Result<()> {
    transaction.commit().await.during(operation)
}

/// One page of a tenant-owned table's rows, and the one after it that tells
/// whether another page follows (for [`Page::from_overfetched`]), read by
/// `read`: `sql` selects them with `tenant_id = $1 AND id > $2 ORDER BY id
/// LIMIT $3`.
pub(crate) async fn tenant_rows_page<Id: ToString, T>(
    store: &PostgresStore,
    scope: &TenantScope,
    sql: &'static str,
    page: &PageRequest<Id>,
    read: fn(&PgRow, Operation) -> Result<T>,
    operation: Operation,
) -> Result<Vec<T>> {
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let found = sqlx::query(sql)
        .bind(scope.tenant_id().to_string())
        .bind(after_cursor(page))
        .bind(overfetch_limit(page))
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
    commit(transaction, operation).await?;
    found.iter().map(|row| read(row, operation)).collect()
}

/// The rows of one tenant-owned table with these ids, read by `read`: `sql`
/// selects them with `tenant_id = $1 AND id = ANY($2) ORDER BY id`, one
/// statement however many ids.
pub(crate) async fn tenant_rows_by_ids<T>(
    store: &PostgresStore,
    scope: &TenantScope,
    sql: &'static str,
    ids: &[impl ToString],
    read: fn(&PgRow, Operation) -> Result<T>,
    operation: Operation,
) -> Result<Vec<T>> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let mut transaction = store.begin(TransactionScope::Tenant(scope), operation).await?;
    let found = sqlx::query(sql)
        .bind(scope.tenant_id().to_string())
        .bind(ids)
        .fetch_all(&mut *transaction)
        .await
        .during(operation)?;
    commit(transaction, operation).await?;
    found.iter().map(|row| read(row, operation)).collect()
}

impl PostgresStore {
    /// The same store, keeping `limits` (the defaults until this is called)
    /// inside its write transactions.
    #[must_use]
    pub fn with_limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote_literal("ten_01ARZ3NDEKTSV4RRFFQ69G5FAV"), "'ten_01ARZ3NDEKTSV4RRFFQ69G5FAV'");
        assert_eq!(quote_literal("o'clock"), "'o''clock'");
    }
}
