//! `tenantry migrate`: apply pending migrations and say which.
//!
//! On SQLite the file in the data directory (or `--database-url sqlite://`)
//! is migrated in place. On PostgreSQL `--database-url` must be the schema
//! owner's URL; `--runtime-role` names the role the server serves tenants
//! as and `--platform-role` the role the platform's operations run as, and
//! each is granted what it needs.

use anyhow::Context;
use serde::Serialize;
use tenantry_core::Error;
use tenantry_core::prelude::*;

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
    /// The role granted the platform's access, on PostgreSQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform_role: Option<String>,
}

/// Runs `tenantry migrate`.
pub async fn run(global: &GlobalOptions, arguments: MigrateArgs, output: Output) -> anyhow::Result<()> {
    let location = DatabaseLocation::from_options(global)?;
    let outcome = match &location {
        DatabaseLocation::Sqlite { path } => {
            if arguments.runtime_role.is_some() {
                return Err(Error::invalid("--runtime-role", "only applies to PostgreSQL").into());
            }
            if arguments.platform_role.is_some() {
                return Err(Error::invalid("--platform-role", "only applies to PostgreSQL").into());
            }
            let (store, pending_before) = backend::open_and_migrate_sqlite(path).await?;
            // Another process may have migrated the file concurrently; only
            // what was pending before and is applied now counts as applied.
            let pending_after =
                store.pending_migrations().await.context("reading the migration state after migrating")?;
            let applied =
                pending_before.into_iter().filter(|version| !pending_after.contains(version)).collect();
            MigrationOutcome {
                backend: location.backend_name(),
                applied,
                runtime_role: None,
                platform_role: None,
            }
        }
        DatabaseLocation::Postgres { url } => {
            let MigrateArgs { runtime_role, platform_role } = arguments;
            let roles = tenantry_store_postgres::MigrationRoles {
                runtime_role: runtime_role.as_deref(),
                platform_role: platform_role.as_deref(),
            };
            let report = tenantry_store_postgres::migrate(url, roles)
                .await
                .with_context(|| format!("migrating PostgreSQL as the owner{}", describe_grants(&roles)))?;
            MigrationOutcome {
                backend: location.backend_name(),
                applied: report.applied,
                runtime_role,
                platform_role,
            }
        }
    };
    tracing::info!(backend = outcome.backend, applied = ?outcome.applied, "migrations applied");
    output.emit(&outcome, || describe(&outcome))
}

/// The grants a migration makes, for its error context.
fn describe_grants(roles: &tenantry_store_postgres::MigrationRoles<'_>) -> String {
    let mut grants = Vec::new();
    if let Some(role) = roles.runtime_role {
        grants.push(format!("the runtime role {role:?}"));
    }
    if let Some(role) = roles.platform_role {
        grants.push(format!("the platform role {role:?}"));
    }
    if grants.is_empty() { String::new() } else { format!(" and granting to {}", grants.join(" and ")) }
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
    if let Some(role) = &outcome.platform_role {
        text.push_str(&format!(
            "\nGranted the platform role {role:?} access to every table and its policies."
        ));
    }
    text
}
