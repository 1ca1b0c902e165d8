//! The subcommands other than `serve`, and the lookups they share: finding
//! a tenant or workspace named on the command line by id or by name.

pub mod api_key;
pub mod approval;
pub mod audit;
pub mod check;
pub mod decision;
pub mod group;
pub mod invitation;
pub mod member;
pub mod migrate;
pub mod operations;
pub mod retrofit;
pub mod schema;
pub mod service_account;
pub mod snapshot;
pub mod tenant;
pub mod user;
pub mod workspace;

use anyhow::Context;
use tenantry_core::{
    Error, Page, PageLimit, PageRequest, PlatformScope, Store, Tenant, TenantId, TenantScope, Workspace,
    WorkspaceId,
};

use crate::cli::{TenantReference, WorkspaceReference};

/// The scope an operator command acts in: the tenant's, with tenantry's
/// operator CLI as the actor its changes are recorded under (the CLI
/// authenticates no one: whoever runs it holds the database's keys).
pub fn operator_scope(tenant_id: TenantId) -> TenantScope {
    TenantScope::system(tenant_id, "operator cli")
}

/// The largest page the store serves; the CLI reads whole lists.
fn full_page_limit() -> Result<PageLimit, Error> {
    PageLimit::new(PageLimit::MAX).map_err(|reason| Error::internal(format!("page limit: {reason}")))
}

/// Reads every page of a list, following cursors until the last page.
async fn collect_pages<T, Id, Fetch, Parse>(fetch: Fetch, parse_cursor: Parse) -> Result<Vec<T>, Error>
where
    Fetch: AsyncFnMut(PageRequest<Id>) -> Result<Page<T>, Error>,
    Parse: Fn(&str) -> Result<Id, tenantry_core::IdError>,
{
    collect_pages_with(fetch, |cursor| parse_cursor(cursor).ok()).await
}

/// [`collect_pages`] for lists whose cursor is not an id.
async fn collect_pages_with<T, Cursor, Fetch, Parse>(
    mut fetch: Fetch,
    parse_cursor: Parse,
) -> Result<Vec<T>, Error>
where
    Fetch: AsyncFnMut(PageRequest<Cursor>) -> Result<Page<T>, Error>,
    Parse: Fn(&str) -> Option<Cursor>,
{
    let limit = full_page_limit()?;
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = fetch(PageRequest { limit, after }).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => {
                after = Some(parse_cursor(&cursor).ok_or_else(|| {
                    Error::internal(format!("the store returned an unreadable cursor {cursor:?}"))
                })?);
            }
            None => return Ok(items),
        }
    }
}

/// Every tenant of the deployment, through the operator CLI's platform scope.
pub async fn all_tenants(store: &dyn Store) -> anyhow::Result<Vec<Tenant>> {
    let platform = PlatformScope::operator_cli();
    collect_pages(async |page| store.list_tenants(&platform, page).await, TenantId::parse)
        .await
        .context("listing tenants")
}

/// Every workspace of the scope's tenant.
pub async fn all_workspaces(store: &dyn Store, scope: &TenantScope) -> anyhow::Result<Vec<Workspace>> {
    collect_pages(async |page| store.list_workspaces(scope, page).await, WorkspaceId::parse)
        .await
        .with_context(|| format!("listing the workspaces of tenant {}", scope.tenant_id()))
}

/// The tenant named by id or by name. Names are resolved by listing tenants
/// with the platform scope, since a name is not a tenant scope.
pub async fn resolve_tenant(store: &dyn Store, reference: &TenantReference) -> anyhow::Result<Tenant> {
    match reference {
        TenantReference::Id(tenant_id) => store
            .get_tenant(&operator_scope(tenant_id.clone()))
            .await
            .with_context(|| format!("finding tenant {tenant_id}")),
        TenantReference::Name(name) => {
            let tenants = all_tenants(store).await?;
            tenants
                .into_iter()
                .find(|tenant| tenant.name == *name)
                .ok_or_else(|| Error::not_found("tenant"))
                .with_context(|| format!("finding tenant {:?}", name.as_str()))
        }
    }
}

/// The workspace of the scope's tenant named by id or by name.
pub async fn resolve_workspace(
    store: &dyn Store,
    scope: &TenantScope,
    reference: &WorkspaceReference,
) -> anyhow::Result<Workspace> {
    match reference {
        WorkspaceReference::Id(workspace_id) => store
            .get_workspace(scope, workspace_id)
            .await
            .with_context(|| format!("finding workspace {workspace_id} in tenant {}", scope.tenant_id())),
        WorkspaceReference::Name(name) => {
            let workspaces = all_workspaces(store, scope).await?;
            workspaces
                .into_iter()
                .find(|workspace| workspace.name == *name)
                .ok_or_else(|| Error::not_found("workspace"))
                .with_context(|| {
                    format!("finding workspace {:?} in tenant {}", name.as_str(), scope.tenant_id())
                })
        }
    }
}

/// The user named by id (`usr_...`) or by username.
pub async fn resolve_user(store: &dyn Store, reference: &str) -> anyhow::Result<tenantry_core::User> {
    let reference = reference.trim();
    if let Ok(user_id) = tenantry_core::UserId::parse(reference) {
        return store.get_user(&user_id).await.with_context(|| format!("finding user {user_id}"));
    }
    let username = tenantry_core::Username::parse(reference).map_err(|reason| {
        Error::invalid("user", format!("{reference:?} is neither a user id nor a username: {reason}"))
    })?;
    store
        .find_user_by_username(&username)
        .await
        .with_context(|| format!("finding user {:?}", username.as_str()))?
        .ok_or_else(|| Error::not_found("user"))
        .with_context(|| format!("finding user {:?}", username.as_str()))
}

/// The group of the scope's tenant named by id (`grp_...`) or by name.
pub async fn resolve_group(
    store: &dyn Store,
    scope: &TenantScope,
    reference: &str,
) -> anyhow::Result<tenantry_core::Group> {
    let reference = reference.trim();
    if let Ok(group_id) = tenantry_core::GroupId::parse(reference) {
        return store
            .get_group(scope, &group_id)
            .await
            .with_context(|| format!("finding group {group_id} in tenant {}", scope.tenant_id()));
    }
    let name = tenantry_core::GroupName::parse(reference).map_err(|reason| {
        Error::invalid("group", format!("{reference:?} is neither a group id nor a name: {reason}"))
    })?;
    let groups =
        collect_pages(async |page| store.list_groups(scope, page).await, tenantry_core::GroupId::parse)
            .await
            .with_context(|| format!("listing the groups of tenant {}", scope.tenant_id()))?;
    groups
        .into_iter()
        .find(|group| group.name == name)
        .ok_or_else(|| Error::not_found("group"))
        .with_context(|| format!("finding group {:?} in tenant {}", name.as_str(), scope.tenant_id()))
}
