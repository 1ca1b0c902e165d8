//! The reads every tenant-owned table with an id column offers alike:
//! existence, a page by id, and rows by ids. One implementation serves
//! workspaces, API keys, groups, invitations and service accounts (whose
//! id is `user_id`); every statement carries the scope's `tenant_id`.

use std::fmt::Display;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use tenantry_core::{Page, PageRequest, Result, TenantId, TenantScope};

use crate::error::{Operation, map_database_error};
use crate::{Connections, json_id_array, overfetch_limit, page_after};

/// A tenant-owned table keyed by `(tenant_id, <id column>)`, with how its
/// rows are read into `T` and which id a read row has.
#[derive(Debug)]
pub(crate) struct TenantTable<T> {
    /// The table's name.
    pub(crate) name: &'static str,
    /// The column that identifies a row within its tenant (`id`, or
    /// `user_id` for service accounts).
    pub(crate) id_column: &'static str,
    /// The columns `read` expects.
    pub(crate) columns: &'static str,
    /// Reads one row selected with `columns`.
    pub(crate) read: fn(&SqliteRow) -> Result<T>,
    /// The id of a row, as text: a list's cursor.
    pub(crate) id_of: fn(&T) -> String,
}

impl<T> TenantTable<T> {
    /// Whether the tenant has a row with this id, read on the caller's
    /// connection (inside its transaction, if any).
    pub(crate) async fn exists(
        &self,
        connection: &mut SqliteConnection,
        tenant_id: &TenantId,
        id: &impl Display,
        operation: Operation,
    ) -> Result<bool> {
        sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE tenant_id = ?1 AND {} = ?2)",
            self.name, self.id_column
        ))
        .bind(tenant_id.to_string())
        .bind(id.to_string())
        .fetch_one(&mut *connection)
        .await
        .map_err(|error| map_database_error(error, operation))
    }

    /// One page of the scope's rows, ordered by id.
    pub(crate) async fn page<Id: Display>(
        &self,
        pool: &Connections,
        scope: &TenantScope,
        page: PageRequest<Id>,
        operation: Operation,
    ) -> Result<Page<T>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE tenant_id = ?1 AND {id} > ?2 ORDER BY {id} LIMIT ?3",
            self.columns,
            self.name,
            id = self.id_column
        ))
        .bind(scope.tenant_id().to_string())
        .bind(page_after(page.after.as_ref()))
        .bind(overfetch_limit(page.limit))
        .fetch_all(pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
        let items = rows.iter().map(self.read).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetched(items, page.limit, self.id_of))
    }

    /// The scope's rows with these ids, ordered by id; ids the tenant has
    /// no row for are left out.
    pub(crate) async fn by_ids<Id: Display>(
        &self,
        pool: &Connections,
        scope: &TenantScope,
        ids: &[Id],
        operation: Operation,
    ) -> Result<Vec<T>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE tenant_id = ?1 AND {id} IN (SELECT value FROM json_each(?2)) ORDER BY {id}",
            self.columns,
            self.name,
            id = self.id_column
        ))
        .bind(scope.tenant_id().to_string())
        .bind(json_id_array(ids))
        .fetch_all(pool.reads())
        .await
        .map_err(|error| map_database_error(error, operation))?;
        rows.iter().map(self.read).collect()
    }
}
