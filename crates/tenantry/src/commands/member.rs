//! `tenantry member add|remove|list`: roles on a tenant, a workspace or a
//! group, written as relationships with the same rules as the API (one role
//! per member, the last admin stays). `add` and `remove` print the revision
//! token of the change, which a running server honours in
//! `X-Tenantry-Revision`.

use std::collections::HashMap;

use anyhow::Context;
use serde::Serialize;
use tenantry_core::{
    Authorizer, Member, Membership, MembershipResource, PageRequest, Role, Store, Tenant, TenantScope,
};

use super::{
    collect_pages_with, operator_scope, resolve_group, resolve_tenant, resolve_user, resolve_workspace,
};
use crate::cli::{MemberCommand, MemberOption, MembershipTarget};
use crate::output::{self, Output};

/// A membership as the CLI prints it.
#[derive(Debug, Serialize)]
struct MemberView {
    member_type: &'static str,
    member_id: String,
    name: String,
    role: Role,
    expires_at: Option<String>,
}

/// Runs one member subcommand.
pub async fn run(
    store: &dyn Store,
    authorizer: &Authorizer,
    command: MemberCommand,
    output: Output,
) -> anyhow::Result<()> {
    match command {
        MemberCommand::Add { target, member, role } => {
            let (tenant, resource, described) = resolve_target(store, &target).await?;
            let scope = operator_scope(tenant.id.clone());
            let member = resolve_member(store, &scope, &member).await?;
            let membership = Membership::new(resource, member.clone(), role, None)?;
            store
                .set_membership(&scope, membership)
                .await
                .with_context(|| format!("giving {member} the {role} role on {described}"))?;
            let revision = authorizer.synced(&scope).await.context("reading the new revision")?;
            tracing::info!(tenant_id = %tenant.id, member = %member, role = %role, "membership granted");
            let message = format!("{member} is now {role} of {described} (revision {revision}).");
            let json = serde_json::json!({ "member": member.to_string(), "role": role, "revision": revision.to_string() });
            output.emit(&json, || message)
        }
        MemberCommand::Remove { target, member } => {
            let (tenant, resource, described) = resolve_target(store, &target).await?;
            let scope = operator_scope(tenant.id.clone());
            let member = resolve_member(store, &scope, &member).await?;
            store
                .remove_membership(&scope, &resource, &member)
                .await
                .with_context(|| format!("removing {member}'s role on {described}"))?;
            let revision = authorizer.synced(&scope).await.context("reading the new revision")?;
            tracing::info!(tenant_id = %tenant.id, member = %member, "membership removed");
            let message = format!("{member} no longer has a role on {described} (revision {revision}).");
            let json = serde_json::json!({ "member": member.to_string(), "removed": true, "revision": revision.to_string() });
            output.emit(&json, || message)
        }
        MemberCommand::List { target } => {
            let (tenant, resource, described) = resolve_target(store, &target).await?;
            let scope = operator_scope(tenant.id.clone());
            let memberships = collect_pages_with(
                async |page: PageRequest<Member>| store.list_memberships(&scope, &resource, page).await,
                |cursor| cursor.parse::<Member>().ok(),
            )
            .await
            .with_context(|| format!("listing the members of {described}"))?;
            let views = views(store, &scope, &memberships).await?;
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|view| {
                    vec![
                        view.member_type.to_owned(),
                        view.name.clone(),
                        view.member_id.clone(),
                        view.role.to_string(),
                        view.expires_at.clone().unwrap_or_else(|| "-".to_owned()),
                    ]
                })
                .collect();
            output.emit(&views, || output::table(&["TYPE", "NAME", "ID", "ROLE", "EXPIRES"], &rows))
        }
    }
}

/// The memberships as printed, with each member's name, read in two
/// queries (one for the users, one for the groups).
async fn views(
    store: &dyn Store,
    scope: &TenantScope,
    memberships: &[Membership],
) -> anyhow::Result<Vec<MemberView>> {
    let mut user_ids = Vec::new();
    let mut group_ids = Vec::new();
    for membership in memberships {
        match membership.member() {
            Member::User(user_id) => user_ids.push(user_id.clone()),
            Member::Group(group_id) => group_ids.push(group_id.clone()),
        }
    }
    let mut names = HashMap::new();
    for user in store.users_by_ids(&user_ids).await.context("reading the members' users")? {
        names.insert(Member::User(user.id), user.username.into_string());
    }
    for group in store.groups_by_ids(scope, &group_ids).await.context("reading the members' groups")? {
        names.insert(Member::Group(group.id), group.name.into_string());
    }
    memberships
        .iter()
        .map(|membership| {
            let name = names.get(membership.member()).cloned().ok_or_else(|| {
                tenantry_core::Error::internal(format!("member {} vanished", membership.member()))
            })?;
            Ok(MemberView {
                member_type: membership.member().kind(),
                member_id: membership.member().id_string(),
                name,
                role: membership.role(),
                expires_at: membership.expires_at().map(|at| output::timestamp(&at)),
            })
        })
        .collect()
}

/// The tenant and the resource of a membership command, and words for it.
async fn resolve_target(
    store: &dyn Store,
    target: &MembershipTarget,
) -> anyhow::Result<(Tenant, MembershipResource, String)> {
    let tenant = resolve_tenant(store, &target.tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    if let Some(workspace) = &target.workspace {
        let workspace = resolve_workspace(store, &scope, workspace).await?;
        let described = format!("workspace {} ({}) of tenant {}", workspace.name, workspace.id, tenant.name);
        return Ok((tenant, MembershipResource::Workspace(workspace.id), described));
    }
    if let Some(group) = &target.group {
        let group = resolve_group(store, &scope, group).await?;
        let described = format!("group {} ({}) of tenant {}", group.name, group.id, tenant.name);
        return Ok((tenant, MembershipResource::Group(group.id), described));
    }
    let described = format!("tenant {} ({})", tenant.name, tenant.id);
    Ok((tenant, MembershipResource::Tenant, described))
}

async fn resolve_member(
    store: &dyn Store,
    scope: &TenantScope,
    member: &MemberOption,
) -> anyhow::Result<Member> {
    match (&member.user, &member.member_group) {
        (Some(user), None) => Ok(Member::User(resolve_user(store, user).await?.id)),
        (None, Some(group)) => Ok(Member::Group(resolve_group(store, scope, group).await?.id)),
        _ => {
            Err(tenantry_core::Error::invalid("member", "name exactly one of --user and --member-group")
                .into())
        }
    }
}
