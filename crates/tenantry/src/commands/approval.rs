//! `tenantry approval list|show|approve|deny|review|break-glass`: approval
//! requests on AI-agent decisions, for operators, directly on the
//! database. Changes are made as the user `--as` names, who needs what the
//! API would ask of them (membership of the approver group to decide or
//! review, `break_glass` on the decision's workspace to break the glass);
//! the requester can never decide their own request, and every change is
//! an audit event in the user's name, as through the API.

use anyhow::Context;
use tenantry_core::approval::{
    Approval, ApprovalChange, ApprovalFilter, ApprovalKind, ApprovalStep, ApprovalTtl, NewApproval,
    RequiredApprovals, Verdict,
};
use tenantry_core::decision::{NewestFirstCursor, WorkspaceSelection};
use tenantry_core::relationship::{group_object, names, user_subject, workspace_object};
use tenantry_core::{Authorizer, Consistency, Error, Store, TenantScope, User};

use super::{
    collect_pages_with, operator_scope, resolve_group, resolve_tenant, resolve_user, resolve_workspace,
};
use crate::cli::{ApprovalCommand, ApprovalStepArgs, BreakGlassArgs};
use crate::output::{self, Output};

const HEADER: [&str; 7] = ["ID", "STATE", "DECISION", "WORKSPACE", "GROUP", "APPROVALS", "REQUESTED"];

fn row(approval: &Approval) -> Vec<String> {
    let state = if approval.awaiting_review() {
        format!("{} (review open)", approval.state)
    } else {
        approval.state.to_string()
    };
    vec![
        approval.id.to_string(),
        state,
        approval.decision_id.to_string(),
        approval.workspace_id.to_string(),
        approval.approver_group.to_string(),
        format!("{}/{}", approval.approvers().len(), approval.required_approvals),
        output::timestamp(&approval.requested_at),
    ]
}

fn details(approval: &Approval) -> String {
    let mut lines = vec![output::table(&HEADER, &[row(approval)]), String::new(), "history:".to_owned()];
    for event in &approval.history {
        lines.push(format!(
            "  {}  {:<11} {:<30} {}{}",
            output::timestamp(&event.at),
            event.action.as_str(),
            event.actor.as_deref().unwrap_or("tenantry"),
            event.reason.as_ref().map_or("-", |reason| reason.as_str()),
            event.external_ref.as_ref().map(|label| format!(" [{}]", label.as_str())).unwrap_or_default()
        ));
    }
    lines.join("\n")
}

/// The scope in which `user` acts in `scope`'s tenant.
fn as_user(scope: &TenantScope, user: &User) -> TenantScope {
    TenantScope::new(scope.tenant_id().clone(), tenantry_core::audit::user_actor(&user.id, None))
}

/// Whether `user` holds `permission` on `object`, read fully consistent.
async fn holds(
    authorizer: &Authorizer,
    scope: &TenantScope,
    object: &tenantry_core::relationship::ObjectRef,
    permission: &str,
    user: &User,
) -> anyhow::Result<bool> {
    let subject = user_subject(&user.id);
    let (allowed, _) = authorizer
        .check(scope, object, permission, &subject, &Consistency::FullyConsistent)
        .await
        .with_context(|| format!("checking {object}#{permission} for user {}", user.username))?;
    Ok(allowed)
}

async fn step(
    store: &dyn Store,
    authorizer: &Authorizer,
    arguments: ApprovalStepArgs,
    change: impl FnOnce(ApprovalStep) -> ApprovalChange,
    output: Output,
) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &arguments.tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let user = resolve_user(store, &arguments.user).await?;
    let approval = store
        .get_approval(&scope, &arguments.id, tenantry_core::now())
        .await
        .with_context(|| format!("reading approval {} of tenant {}", arguments.id, tenant.name))?;
    if !holds(authorizer, &scope, &group_object(&approval.approver_group), names::DECIDE_APPROVALS, &user)
        .await?
    {
        return Err(Error::forbidden(format!(
            "{} is not a member of the approver group {}",
            user.username, approval.approver_group
        ))
        .into());
    }
    let step = ApprovalStep {
        actor: user.id.to_string(),
        reason: arguments.reason,
        external_ref: arguments.external_ref,
        at: tenantry_core::now(),
    };
    let changed = store
        .change_approval(&as_user(&scope, &user), &arguments.id, change(step))
        .await
        .with_context(|| format!("changing approval {} of tenant {}", arguments.id, tenant.name))?;
    output.emit(&changed, || details(&changed))
}

async fn break_glass(
    store: &dyn Store,
    authorizer: &Authorizer,
    arguments: BreakGlassArgs,
    output: Output,
) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &arguments.tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let user = resolve_user(store, &arguments.user).await?;
    let ttl = ApprovalTtl::for_break_glass(arguments.ttl_seconds)
        .map_err(|reason| Error::invalid("--ttl-seconds", reason))?;
    let decision = store
        .get_decision(&scope, &arguments.decision)
        .await
        .with_context(|| format!("reading decision {} of tenant {}", arguments.decision, tenant.name))?;
    if !holds(authorizer, &scope, &workspace_object(&decision.workspace_id), names::BREAK_GLASS, &user)
        .await?
    {
        return Err(Error::forbidden(format!(
            "{} may not break the glass in workspace {}",
            user.username, decision.workspace_id
        ))
        .into());
    }
    let approver_group = match &arguments.group {
        Some(reference) => Some(resolve_group(store, &scope, reference).await?.id),
        None => None,
    };
    let new = NewApproval {
        kind: ApprovalKind::BreakGlass,
        decision_id: arguments.decision,
        approver_group,
        required_approvals: RequiredApprovals::new(None)
            .map_err(|reason| Error::invalid("approvals", reason))?,
        ttl,
        reason: Some(arguments.reason),
        external_ref: arguments.external_ref,
    };
    let (grant, _) = store
        .open_approval(&as_user(&scope, &user), new, tenantry_core::now())
        .await
        .with_context(|| format!("breaking the glass in tenant {}", tenant.name))?;
    output.emit(&grant, || details(&grant))
}

/// Runs one approval subcommand.
pub async fn run(
    store: &dyn Store,
    authorizer: &Authorizer,
    command: ApprovalCommand,
    output: Output,
) -> anyhow::Result<()> {
    match command {
        ApprovalCommand::List { tenant, workspace, state, group, awaiting_review } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let workspaces = match workspace {
                Some(reference) => {
                    WorkspaceSelection::Only(vec![resolve_workspace(store, &scope, &reference).await?.id])
                }
                None => WorkspaceSelection::All,
            };
            let approver_groups = match group {
                Some(reference) => Some(vec![resolve_group(store, &scope, &reference).await?.id]),
                None => None,
            };
            let filter = ApprovalFilter {
                workspaces,
                state,
                approver_groups,
                awaiting_review,
                ..ApprovalFilter::default()
            };
            let at = tenantry_core::now();
            let approvals = collect_pages_with(
                async |page| store.list_approvals(&scope, &filter, at, page).await,
                NewestFirstCursor::parse,
            )
            .await
            .with_context(|| format!("listing the approvals of tenant {}", tenant.name))?;
            let rows: Vec<Vec<String>> = approvals.iter().map(row).collect();
            output.emit(&approvals, || output::table(&HEADER, &rows))
        }
        ApprovalCommand::Show { tenant, id } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let approval = store
                .get_approval(&scope, &id, tenantry_core::now())
                .await
                .with_context(|| format!("reading approval {id} of tenant {}", tenant.name))?;
            output.emit(&approval, || details(&approval))
        }
        ApprovalCommand::Approve(arguments) => {
            step(store, authorizer, arguments, |step| ApprovalChange::Decide(Verdict::Approve, step), output)
                .await
        }
        ApprovalCommand::Deny(arguments) => {
            step(store, authorizer, arguments, |step| ApprovalChange::Decide(Verdict::Deny, step), output)
                .await
        }
        ApprovalCommand::Review(arguments) => {
            step(store, authorizer, arguments, ApprovalChange::Review, output).await
        }
        ApprovalCommand::BreakGlass(arguments) => break_glass(store, authorizer, *arguments, output).await,
    }
}
