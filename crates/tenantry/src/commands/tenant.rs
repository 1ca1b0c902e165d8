//! `tenantry tenant create|list|show|update|delete`.

use anyhow::Context;
use serde::Serialize;
use tenantry_core::{DisplayName, Error, NewTenant, PlatformScope, Store, Tenant, TenantPatch, Workspace};

use super::{all_tenants, operator_scope, resolve_tenant};
use crate::cli::{TenantCommand, TenantCreateArgs, TenantReference, TenantUpdateArgs};
use crate::output::{self, Output};

/// Runs one tenant subcommand.
pub async fn run(store: &dyn Store, command: TenantCommand, output: Output) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create(arguments) => create(store, arguments, output).await,
        TenantCommand::List => list(store, output).await,
        TenantCommand::Show { tenant } => show(store, &tenant, output).await,
        TenantCommand::Update(arguments) => update(store, arguments, output).await,
        TenantCommand::Delete { tenant, yes } => delete(store, &tenant, yes, output).await,
    }
}

/// A new tenant and the root workspace created with it.
#[derive(Debug, Serialize)]
struct CreatedTenant {
    #[serde(flatten)]
    tenant: Tenant,
    root_workspace: Workspace,
}

async fn create(store: &dyn Store, arguments: TenantCreateArgs, output: Output) -> anyhow::Result<()> {
    let TenantCreateArgs { name, display_name, deployment_model, data_residency, root_workspace_name } =
        arguments;
    let display_name = match display_name {
        Some(display_name) => display_name,
        None => {
            DisplayName::parse(name.as_str()).map_err(|reason| Error::invalid("--display-name", reason))?
        }
    };
    let new_tenant = NewTenant {
        name: name.clone(),
        display_name,
        deployment_model,
        data_residency,
        root_workspace_name,
        // Platform admins manage every tenant; an operator at the CLI
        // grants the first tenant admin with `tenantry member add`.
        creator: None,
    };
    let (tenant, root_workspace) = store
        .create_tenant(&PlatformScope::operator_cli(), new_tenant)
        .await
        .with_context(|| format!("creating tenant {:?}", name.as_str()))?;
    tracing::info!(
        tenant_id = %tenant.id,
        root_workspace_id = %root_workspace.id,
        "tenant created"
    );
    let created = CreatedTenant { tenant, root_workspace };
    output.emit(&created, || {
        format!(
            "Created tenant {} ({}) with root workspace {} ({}).\n\n{}",
            created.tenant.name,
            created.tenant.id,
            created.root_workspace.name,
            created.root_workspace.id,
            output::tenant_details(&created.tenant)
        )
    })
}

async fn list(store: &dyn Store, output: Output) -> anyhow::Result<()> {
    let tenants = all_tenants(store).await?;
    output.emit(&tenants, || output::tenant_table(&tenants))
}

async fn show(store: &dyn Store, reference: &TenantReference, output: Output) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, reference).await?;
    output.emit(&tenant, || output::tenant_details(&tenant))
}

async fn update(store: &dyn Store, arguments: TenantUpdateArgs, output: Output) -> anyhow::Result<()> {
    let TenantUpdateArgs { tenant, name, display_name, status, deployment_model, data_residency } = arguments;
    let patch = TenantPatch { name, display_name, status, deployment_model, data_residency };
    if patch.is_empty() {
        return Err(Error::invalid(
            "tenant update",
            "nothing to change; pass at least one of --name, --display-name, --status, --deployment-model, \
             --data-residency",
        )
        .into());
    }
    let existing = resolve_tenant(store, &tenant).await?;
    let updated = store
        .update_tenant(&operator_scope(existing.id.clone()), patch)
        .await
        .with_context(|| format!("updating tenant {} ({})", existing.name, existing.id))?;
    tracing::info!(tenant_id = %updated.id, status = %updated.status, "tenant updated");
    output
        .emit(&updated, || format!("Updated tenant {}.\n\n{}", updated.id, output::tenant_details(&updated)))
}

/// What `tenant delete --json` prints.
#[derive(Debug, Serialize)]
struct DeletedTenant {
    id: tenantry_core::TenantId,
    name: tenantry_core::TenantName,
    deleted: bool,
}

async fn delete(
    store: &dyn Store,
    reference: &TenantReference,
    yes: bool,
    output: Output,
) -> anyhow::Result<()> {
    if !yes {
        return Err(Error::invalid(
            "--yes",
            "deleting a tenant deletes all of its workspaces and API keys; pass --yes to confirm",
        )
        .into());
    }
    let tenant = resolve_tenant(store, reference).await?;
    store
        .delete_tenant(&PlatformScope::operator_cli(), &tenant.id)
        .await
        .with_context(|| format!("deleting tenant {} ({})", tenant.name, tenant.id))?;
    tracing::info!(tenant_id = %tenant.id, "tenant deleted");
    let deleted = DeletedTenant { id: tenant.id, name: tenant.name, deleted: true };
    output.emit(&deleted, || {
        format!("Deleted tenant {} ({}) with all its workspaces and API keys.", deleted.name, deleted.id)
    })
}
