//! `tenantry decision record|list|show` and `tenantry session
//! list|show|summary`: AI-agent decisions and their sessions, for
//! operators, directly on the database. The operator records in the
//! tenant's scope as tenantry itself (`recorded_by` is empty), and every
//! decision recorded is an audit event, as through the API.

use anyhow::Context;
use tenantry_core::decision::{
    Decision, DecisionFilter, NewDecision, NewestFirstCursor, Session, SessionFilter, WorkspaceSelection,
};
use tenantry_core::{Store, TenantScope};

use super::{collect_pages_with, operator_scope, resolve_tenant, resolve_workspace};
use crate::cli::{DecisionCommand, RecordDecisionArgs, SessionCommand, WorkspaceReference};
use crate::output::{self, Output};

/// The workspaces a read covers: the one named, or all.
async fn selection(
    store: &dyn Store,
    scope: &TenantScope,
    workspace: Option<&WorkspaceReference>,
) -> anyhow::Result<WorkspaceSelection> {
    Ok(match workspace {
        Some(reference) => {
            WorkspaceSelection::Only(vec![resolve_workspace(store, scope, reference).await?.id])
        }
        None => WorkspaceSelection::All,
    })
}

fn optional(text: Option<&impl AsRef<str>>) -> String {
    text.map_or_else(|| "-".to_owned(), |text| text.as_ref().to_owned())
}

fn decision_row(decision: &Decision) -> Vec<String> {
    vec![
        decision.id.to_string(),
        output::timestamp(&decision.occurred_at),
        decision.workspace_id.to_string(),
        decision.session_id.to_string(),
        decision.agent_id.as_str().to_owned(),
        decision.action_type.as_str().to_owned(),
        decision.decision.to_string(),
        decision.severity.to_string(),
    ]
}

const DECISION_HEADER: [&str; 8] =
    ["ID", "OCCURRED", "WORKSPACE", "SESSION", "AGENT", "ACTION", "DECISION", "SEVERITY"];

fn decision_details(decision: &Decision) -> String {
    let refs: Vec<&str> = decision.evidence_refs.iter().map(|label| label.as_str()).collect();
    let lines = [
        ("id", decision.id.to_string()),
        ("workspace", decision.workspace_id.to_string()),
        ("session", decision.session_id.to_string()),
        ("agent", decision.agent_id.as_str().to_owned()),
        ("actor", optional(decision.actor.as_ref().map(|label| label.as_str()).as_ref())),
        ("repository", optional(decision.repository.as_ref().map(|label| label.as_str()).as_ref())),
        ("action type", decision.action_type.as_str().to_owned()),
        ("target", optional(decision.target.as_ref().map(|label| label.as_str()).as_ref())),
        ("policy pack", optional(decision.policy_pack.as_ref().map(|label| label.as_str()).as_ref())),
        ("rule", optional(decision.rule_id.as_ref().map(|label| label.as_str()).as_ref())),
        ("decision", decision.decision.to_string()),
        ("severity", decision.severity.to_string()),
        ("reason", optional(decision.reason.as_ref().map(|reason| reason.as_str()).as_ref())),
        ("evidence", if refs.is_empty() { "-".to_owned() } else { refs.join(", ") }),
        ("occurred", output::timestamp(&decision.occurred_at)),
        ("recorded", output::timestamp(&decision.recorded_at)),
        ("recorded by", optional(decision.recorded_by.as_ref())),
    ];
    lines.iter().map(|(name, value)| format!("{name:<12} {value}")).collect::<Vec<_>>().join("\n")
}

fn session_row(session: &Session) -> Vec<String> {
    vec![
        session.id.to_string(),
        session.state.to_string(),
        session.workspace_id.to_string(),
        session.agent_id.as_str().to_owned(),
        session.decision_count.to_string(),
        session.blocked_count.to_string(),
        session.approval_required_count.to_string(),
        output::timestamp(&session.updated_at),
    ]
}

const SESSION_HEADER: [&str; 8] =
    ["ID", "STATE", "WORKSPACE", "AGENT", "DECISIONS", "BLOCKED", "APPROVAL", "UPDATED"];

async fn record(store: &dyn Store, arguments: RecordDecisionArgs, output: Output) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &arguments.tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let workspace = resolve_workspace(store, &scope, &arguments.workspace).await?;
    if arguments.evidence_refs.len() > tenantry_core::decision::MAX_EVIDENCE_REFS {
        anyhow::bail!("--evidence-ref: at most 100 references");
    }
    let new = NewDecision {
        id: arguments.id,
        workspace_id: workspace.id,
        session_id: arguments.session,
        agent_id: arguments.agent,
        actor: arguments.actor,
        repository: arguments.repository,
        action_type: arguments.action_type,
        target: arguments.target,
        requested_operation: arguments.requested_operation,
        policy_pack: arguments.policy_pack,
        policy_id: arguments.policy_id,
        rule_id: arguments.rule_id,
        decision: arguments.decision,
        severity: arguments.severity,
        reason: arguments.reason,
        evidence_refs: arguments.evidence_refs,
        approver_group: arguments.approver_group,
        occurred_at: arguments.occurred_at,
        correlation_id: arguments.correlation_id,
    };
    let mut recorded = store
        .record_decisions(&scope, vec![new])
        .await
        .with_context(|| format!("recording a decision in tenant {}", tenant.name))?;
    let recorded = recorded.pop().context("the store recorded no decision")?;
    let verb = if recorded.created { "recorded" } else { "already recorded, unchanged" };
    output.emit(&recorded.decision, || format!("{verb}\n{}", decision_details(&recorded.decision)))
}

/// Runs one decision subcommand.
pub async fn run_decision(store: &dyn Store, command: DecisionCommand, output: Output) -> anyhow::Result<()> {
    match command {
        DecisionCommand::Record(arguments) => record(store, *arguments, output).await,
        DecisionCommand::List { tenant, workspace, session, agent, decision, severity } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let filter = DecisionFilter {
                workspaces: selection(store, &scope, workspace.as_ref()).await?,
                session_id: session,
                agent_id: agent,
                decision,
                severity,
                ..DecisionFilter::default()
            };
            let decisions = collect_pages_with(
                async |page| store.list_decisions(&scope, &filter, page).await,
                NewestFirstCursor::parse,
            )
            .await
            .with_context(|| format!("listing the decisions of tenant {}", tenant.name))?;
            let rows: Vec<Vec<String>> = decisions.iter().map(decision_row).collect();
            output.emit(&decisions, || output::table(&DECISION_HEADER, &rows))
        }
        DecisionCommand::Show { tenant, id } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let decision = store
                .get_decision(&scope, &id)
                .await
                .with_context(|| format!("reading decision {id} of tenant {}", tenant.name))?;
            output.emit(&decision, || decision_details(&decision))
        }
    }
}

/// Runs one session subcommand.
pub async fn run_session(store: &dyn Store, command: SessionCommand, output: Output) -> anyhow::Result<()> {
    match command {
        SessionCommand::List { tenant, workspace, state } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let filter = SessionFilter {
                workspaces: selection(store, &scope, workspace.as_ref()).await?,
                state,
                ..SessionFilter::default()
            };
            let sessions = collect_pages_with(
                async |page| store.list_sessions(&scope, &filter, page).await,
                NewestFirstCursor::parse,
            )
            .await
            .with_context(|| format!("listing the sessions of tenant {}", tenant.name))?;
            let rows: Vec<Vec<String>> = sessions.iter().map(session_row).collect();
            output.emit(&sessions, || output::table(&SESSION_HEADER, &rows))
        }
        SessionCommand::Show { tenant, id } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let session = store
                .get_session(&scope, &id)
                .await
                .with_context(|| format!("reading session {id} of tenant {}", tenant.name))?;
            output.emit(&session, || output::table(&SESSION_HEADER, &[session_row(&session)]))
        }
        SessionCommand::Summary { tenant, workspace } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let workspaces = selection(store, &scope, workspace.as_ref()).await?;
            let summary = store
                .activity_summary(&scope, &workspaces)
                .await
                .with_context(|| format!("summarising the sessions of tenant {}", tenant.name))?;
            output.emit(&summary, || {
                format!(
                    "sessions           {}\ndecisions          {}\nblocked            {}\napproval required  {}\nlatest             {}\npending approvals  {}\nbreak-glass grants awaiting review  {}",
                    summary.total_sessions,
                    summary.total_decisions,
                    summary.total_blocked,
                    summary.total_approval_required,
                    summary.latest_session_at.as_ref().map_or_else(|| "-".to_owned(), output::timestamp),
                    summary.pending_approvals,
                    summary.break_glass_awaiting_review
                )
            })
        }
    }
}
