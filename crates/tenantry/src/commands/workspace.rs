//! `tenantry workspace create|list|tree|move|delete`.

use anyhow::Context;
use serde::Serialize;
use tenantry_core::{
    Environment, Error, NewWorkspace, Store, TenantId, TenantScope, WorkspaceId, WorkspaceName,
    WorkspacePatch,
};

use super::{all_workspaces, operator_scope, resolve_tenant, resolve_workspace};
use crate::cli::{TenantOption, WorkspaceCommand, WorkspaceReference};
use crate::output::{self, Output};

/// Runs one workspace subcommand.
pub async fn run(store: &dyn Store, command: WorkspaceCommand, output: Output) -> anyhow::Result<()> {
    match command {
        WorkspaceCommand::Create { tenant, name, parent, environment } => {
            create(store, &tenant, name, parent.as_ref(), environment, output).await
        }
        WorkspaceCommand::List { tenant } => list(store, &tenant, output).await,
        WorkspaceCommand::Tree { tenant } => tree(store, &tenant, output).await,
        WorkspaceCommand::Move { tenant, workspace, parent } => {
            move_workspace(store, &tenant, &workspace, &parent, output).await
        }
        WorkspaceCommand::Delete { tenant, workspace } => delete(store, &tenant, &workspace, output).await,
    }
}

/// The scope of the tenant named by `--tenant`.
async fn tenant_scope(store: &dyn Store, tenant: &TenantOption) -> anyhow::Result<TenantScope> {
    let tenant = resolve_tenant(store, &tenant.tenant).await?;
    Ok(operator_scope(tenant.id))
}

async fn create(
    store: &dyn Store,
    tenant: &TenantOption,
    name: WorkspaceName,
    parent: Option<&WorkspaceReference>,
    environment: Environment,
    output: Output,
) -> anyhow::Result<()> {
    let scope = tenant_scope(store, tenant).await?;
    let parent_workspace_id = match parent {
        Some(parent) => {
            Some(resolve_workspace(store, &scope, parent).await.context("finding the parent")?.id)
        }
        None => None,
    };
    let new_workspace = NewWorkspace { name: name.clone(), parent_workspace_id, environment, creator: None };
    let workspace = store
        .create_workspace(&scope, new_workspace)
        .await
        .with_context(|| format!("creating workspace {:?} in tenant {}", name.as_str(), scope.tenant_id()))?;
    tracing::info!(
        tenant_id = %workspace.tenant_id,
        workspace_id = %workspace.id,
        parent_workspace_id = workspace.parent_workspace_id.as_ref().map(tracing::field::display),
        "workspace created"
    );
    output.emit(&workspace, || {
        format!(
            "Created workspace {} ({}).\n\n{}",
            workspace.name,
            workspace.id,
            output::workspace_details(&workspace)
        )
    })
}

async fn list(store: &dyn Store, tenant: &TenantOption, output: Output) -> anyhow::Result<()> {
    let scope = tenant_scope(store, tenant).await?;
    let workspaces = all_workspaces(store, &scope).await?;
    output.emit(&workspaces, || output::workspace_table(&workspaces))
}

async fn tree(store: &dyn Store, tenant: &TenantOption, output: Output) -> anyhow::Result<()> {
    let scope = tenant_scope(store, tenant).await?;
    let workspaces = all_workspaces(store, &scope).await?;
    let tree = output::workspace_tree(workspaces)
        .ok_or_else(|| Error::internal(format!("tenant {} has no root workspace", scope.tenant_id())))
        .context("drawing the workspace tree")?;
    output.emit(&tree, || output::draw_workspace_tree(&tree))
}

async fn move_workspace(
    store: &dyn Store,
    tenant: &TenantOption,
    workspace: &WorkspaceReference,
    parent: &WorkspaceReference,
    output: Output,
) -> anyhow::Result<()> {
    let scope = tenant_scope(store, tenant).await?;
    let workspace = resolve_workspace(store, &scope, workspace).await?;
    let parent = resolve_workspace(store, &scope, parent).await.context("finding the new parent")?;
    let patch = WorkspacePatch { parent_workspace_id: Some(parent.id.clone()), ..WorkspacePatch::default() };
    let moved = store.update_workspace(&scope, &workspace.id, patch).await.with_context(|| {
        format!(
            "moving workspace {} ({}) beneath {} ({})",
            workspace.name, workspace.id, parent.name, parent.id
        )
    })?;
    tracing::info!(
        tenant_id = %moved.tenant_id,
        workspace_id = %moved.id,
        parent_workspace_id = %parent.id,
        "workspace moved"
    );
    output.emit(&moved, || {
        format!(
            "Moved workspace {} ({}) beneath {} ({}).\n\n{}",
            moved.name,
            moved.id,
            parent.name,
            parent.id,
            output::workspace_details(&moved)
        )
    })
}

/// What `workspace delete --json` prints.
#[derive(Debug, Serialize)]
struct DeletedWorkspace {
    id: WorkspaceId,
    tenant_id: TenantId,
    name: WorkspaceName,
    deleted: bool,
}

async fn delete(
    store: &dyn Store,
    tenant: &TenantOption,
    workspace: &WorkspaceReference,
    output: Output,
) -> anyhow::Result<()> {
    let scope = tenant_scope(store, tenant).await?;
    let workspace = resolve_workspace(store, &scope, workspace).await?;
    store
        .delete_workspace(&scope, &workspace.id)
        .await
        .with_context(|| format!("deleting workspace {} ({})", workspace.name, workspace.id))?;
    tracing::info!(tenant_id = %workspace.tenant_id, workspace_id = %workspace.id, "workspace deleted");
    let deleted = DeletedWorkspace {
        id: workspace.id,
        tenant_id: workspace.tenant_id,
        name: workspace.name,
        deleted: true,
    };
    output.emit(&deleted, || format!("Deleted workspace {} ({}).", deleted.name, deleted.id))
}
