//! `tenantry migrate`: apply pending migrations and say which.
//!
//! On SQLite the file in the data directory (or `--database-url sqlite://`)
//! is migrated in place. On PostgreSQL `--database-url` must be the schema
//! owner's URL, and `--runtime-role` names the role the server runs as, which
//! is granted what it needs.

use anyhow::Context;
use serde::Serialize;
use tenantry_core::{Error, Store};

use crate::backend::{self, DatabaseLocation};
use crate::cli::{GlobalOptions, MigrateArgs};
use crate::output::Output;

/// What `migrate --json` prints.
#[derive(Debug, Serialize)]
struct MigrationOutcome {
    backend: &'static str,
    /// The versions this run applied, ascending.
    applied: Vec<i64>,
    /// The role granted access, on PostgreSQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime_role: Option<String>,
}

/// Runs `tenantry migrate`.
pub async fn run(global: &GlobalOptions, arguments: MigrateArgs, output: Output) -> anyhow::Result<()> {
    let location = DatabaseLocation::from_options(global)?;
    let outcome = match &location {
        DatabaseLocation::Sqlite { path } => {
            if arguments.runtime_role.is_some() {
                return Err(Error::invalid("--runtime-role", "only applies to PostgreSQL").into());
            }
            let (store, pending_before) = backend::open_and_migrate_sqlite(path).await?;
            // Another process may have migrated the file concurrently; only
            // what was pending before and is applied now counts as applied.
            let pending_after =
                store.pending_migrations().await.context("reading the migration state after migrating")?;
            let applied =
                pending_before.into_iter().filter(|version| !pending_after.contains(version)).collect();
            MigrationOutcome { backend: location.backend_name(), applied, runtime_role: None }
        }
        DatabaseLocation::Postgres { url } => {
            let runtime_role = arguments.runtime_role;
            let report =
                tenantry_store_postgres::migrate(url, runtime_role.as_deref()).await.with_context(|| {
                    match &runtime_role {
                        Some(role) => {
                            format!("migrating PostgreSQL as the owner and granting to role {role:?}")
                        }
                        None => "migrating PostgreSQL as the owner".to_owned(),
                    }
                })?;
            MigrationOutcome { backend: location.backend_name(), applied: report.applied, runtime_role }
        }
    };
    tracing::info!(backend = outcome.backend, applied = ?outcome.applied, "migrations applied");
    output.emit(&outcome, || describe(&outcome))
}

fn describe(outcome: &MigrationOutcome) -> String {
    let mut text = if outcome.applied.is_empty() {
        format!("The {} database is up to date; no migrations were pending.", outcome.backend)
    } else {
        let versions = outcome.applied.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        format!(
            "Applied {} migration(s) to the {} database: {versions}.",
            outcome.applied.len(),
            outcome.backend
        )
    };
    if let Some(role) = &outcome.runtime_role {
        text.push_str(&format!("\nGranted the runtime role {role:?} access to tenantry's tables."));
    }
    text
}
