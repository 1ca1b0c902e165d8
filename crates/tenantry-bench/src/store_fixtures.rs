//! What the store benchmarks create through the [`Store`] before they
//! measure: tenants and workspaces, made the way the API makes them.

use tenantry_core::{
    DataResidency, DeploymentModel, DisplayName, Environment, NewTenant, NewWorkspace, PlatformScope, Store,
    TenantId, TenantName, TenantScope, Workspace, WorkspaceId, WorkspaceName,
};

/// A tenant named `name`, hosted, with the default root workspace and no
/// creator (as the operator CLI makes one).
pub fn new_tenant(name: &str) -> NewTenant {
    NewTenant {
        name: TenantName::parse(name).expect("valid tenant name"),
        display_name: DisplayName::parse(name).expect("valid display name"),
        deployment_model: DeploymentModel::HostedSaas,
        data_residency: DataResidency::Global,
        root_workspace_name: WorkspaceName::default_root(),
        creator: None,
    }
}

/// Creates a tenant whose name is `label` followed by a fresh id, so that
/// any number of calls on one database succeed; returns its scope and root
/// workspace.
pub async fn create_tenant(store: &dyn Store, label: &str) -> (TenantScope, Workspace) {
    let (tenant, root) = store
        .create_tenant(&PlatformScope::bootstrap(), new_tenant(&format!("{label}-{}", TenantId::generate())))
        .await
        .expect("create tenant");
    (TenantScope::system(tenant.id, "test"), root)
}

/// A production workspace named `name` beneath `parent`, with no creator.
pub fn new_workspace(parent: &WorkspaceId, name: &str) -> NewWorkspace {
    NewWorkspace {
        name: WorkspaceName::parse(name).expect("valid workspace name"),
        parent_workspace_id: Some(parent.clone()),
        environment: Environment::production(),
        creator: None,
    }
}
