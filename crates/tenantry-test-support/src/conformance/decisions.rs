//! Conformance cases for decisions and sessions: the reference behaviour
//! (lists and summaries per tenant and workspace), idempotent recording,
//! all-or-nothing batches, tenant isolation down to raw SQL, exact session
//! counters under concurrent writers, and every change in the audit log.

use tenantry_core::decision::{
    ActivitySummary, DecisionFilter, DecisionOutcome, NewDecision, RecordKey, SessionFilter, SessionState,
    Severity, WorkspaceSelection,
};
use tenantry_core::{ConflictCode, Label, PartitionScope};

use super::*;

fn key(text: &str) -> RecordKey {
    RecordKey::parse(text).unwrap()
}

fn label(text: &str) -> Label {
    Label::parse(text).unwrap()
}

fn decision(id: Option<&str>, workspace: &Workspace, session: &str, outcome: DecisionOutcome) -> NewDecision {
    NewDecision {
        id: id.map(key),
        workspace_id: workspace.id.clone(),
        session_id: key(session),
        agent_id: label("agent-7"),
        actor: Some(label("ada")),
        repository: Some(label("acme/app")),
        action_type: label("shell"),
        target: Some(label("prod-db")),
        requested_operation: Some(label("DROP TABLE users")),
        policy_pack: Some(label("baseline")),
        policy_id: Some(label("db-safety")),
        rule_id: Some(label("db-safety/drop")),
        decision: outcome,
        severity: Severity::High,
        reason: Some(tenantry_core::decision::Reason::parse("dropping a production table").unwrap()),
        evidence_refs: vec![label("sha256:abc")],
        approver_group: None,
        occurred_at: None,
        correlation_id: Some(label("corr-1")),
    }
}

fn all() -> DecisionFilter {
    DecisionFilter::default()
}

fn in_workspace(workspace: &Workspace) -> WorkspaceSelection {
    WorkspaceSelection::Only(vec![workspace.id.clone()])
}

async fn record_one(backend: &TestBackend, scope: &TenantScope, new: NewDecision) -> Result<bool, Error> {
    let recorded = backend.store.record_decisions(scope, vec![new]).await?;
    Ok(recorded[0].created)
}

async fn decision_count(backend: &TestBackend, scope: &TenantScope, filter: &DecisionFilter) -> usize {
    backend.store.list_decisions(scope, filter, PageRequest::first()).await.unwrap().items.len()
}

/// The reference behaviour: three decisions in tenant-a/prod, tenant-a/dev
/// and tenant-b/prod list 2 for tenant-a, 1 for tenant-a/prod and 1 for
/// tenant-b/prod; the sessions and summaries follow.
async fn lists_and_summaries_follow_tenant_and_workspace(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let b = create_tenant(backend, "tenant-b").await;
    let a_prod = create_workspace(backend, &a.scope, "prod", None).await;
    let a_dev = create_workspace(backend, &a.scope, "dev", None).await;
    let b_prod = create_workspace(backend, &b.scope, "prod", None).await;
    let store = &backend.store;
    record_one(backend, &a.scope, decision(Some("d-1"), &a_prod, "s-prod", DecisionOutcome::Block))
        .await
        .unwrap();
    record_one(backend, &a.scope, decision(Some("d-2"), &a_dev, "s-dev", DecisionOutcome::RequireApproval))
        .await
        .unwrap();
    record_one(backend, &b.scope, decision(Some("d-3"), &b_prod, "s-prod", DecisionOutcome::Allow))
        .await
        .unwrap();

    assert_eq!(decision_count(backend, &a.scope, &all()).await, 2);
    let a_prod_only = DecisionFilter { workspaces: in_workspace(&a_prod), ..all() };
    assert_eq!(decision_count(backend, &a.scope, &a_prod_only).await, 1);
    assert_eq!(decision_count(backend, &b.scope, &all()).await, 1);
    let b_sees_a_prod = DecisionFilter { workspaces: in_workspace(&a_prod), ..all() };
    assert_eq!(decision_count(backend, &b.scope, &b_sees_a_prod).await, 0, "a workspace of another tenant");

    let sessions =
        store.list_sessions(&a.scope, &SessionFilter::default(), PageRequest::first()).await.unwrap();
    assert_eq!(sessions.items.len(), 2);
    let summary = store.activity_summary(&a.scope, &WorkspaceSelection::All).await.unwrap();
    assert_eq!(
        summary,
        ActivitySummary {
            total_sessions: 2,
            total_decisions: 2,
            total_blocked: 1,
            total_approval_required: 1,
            latest_session_at: sessions.items.iter().map(|session| session.updated_at).max(),
            pending_approvals: 0,
            break_glass_awaiting_review: 0,
        }
    );
    let prod_summary = store.activity_summary(&a.scope, &in_workspace(&a_prod)).await.unwrap();
    assert_eq!((prod_summary.total_sessions, prod_summary.total_blocked), (1, 1));
    let b_session = store.get_session(&b.scope, &key("s-prod")).await.unwrap();
    assert_eq!((b_session.decision_count, b_session.blocked_count), (1, 0));
    assert_eq!(b_session.tenant_id, b.tenant.id, "the same session id in two tenants is two sessions");
    let empty = store.activity_summary(&a.scope, &WorkspaceSelection::Only(Vec::new())).await.unwrap();
    assert_eq!(empty, ActivitySummary::default());
}

/// Re-recording a decision with the same content answers the stored record
/// and writes nothing; other content under its id is a conflict; the same
/// id in another tenant is another record.
async fn recording_is_idempotent_per_tenant(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let b = create_tenant(backend, "tenant-b").await;
    let a_prod = create_workspace(backend, &a.scope, "prod", None).await;
    let b_prod = create_workspace(backend, &b.scope, "prod", None).await;
    let store = &backend.store;
    let first = decision(Some("same-id"), &a_prod, "s-1", DecisionOutcome::Block);
    assert!(record_one(backend, &a.scope, first.clone()).await.unwrap());
    let log = PartitionScope::Tenant(a.scope.clone());
    let head = store.audit_head(&log).await.unwrap();
    assert!(!record_one(backend, &a.scope, first.clone()).await.unwrap(), "a retry is not created");
    assert_eq!(store.audit_head(&log).await.unwrap(), head, "a retry appends no event");
    assert_eq!(store.get_session(&a.scope, &key("s-1")).await.unwrap().decision_count, 1);

    let changed = NewDecision { decision: DecisionOutcome::Allow, ..first.clone() };
    let error = record_one(backend, &a.scope, changed).await.unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::DecisionConflict, .. }), "{error:?}");
    assert_eq!(store.get_decision(&a.scope, &key("same-id")).await.unwrap().decision, DecisionOutcome::Block);

    assert!(
        record_one(backend, &b.scope, decision(Some("same-id"), &b_prod, "s-1", DecisionOutcome::Allow))
            .await
            .unwrap()
    );
    assert_eq!(store.get_decision(&a.scope, &key("same-id")).await.unwrap().decision, DecisionOutcome::Block);
    assert_eq!(store.get_decision(&b.scope, &key("same-id")).await.unwrap().decision, DecisionOutcome::Allow);

    let generated = store
        .record_decisions(&a.scope, vec![decision(None, &a_prod, "s-1", DecisionOutcome::Warn)])
        .await
        .unwrap();
    assert!(generated[0].decision.id.as_str().starts_with("dec_"));
    assert_eq!(generated[0].decision.recorded_by, None, "a system scope records no user");
}

/// A batch is all or nothing, and its errors name the item; a workspace of
/// another tenant is refused by the store and, through raw SQL, by the
/// database; a session belongs to one workspace.
async fn batches_are_all_or_nothing_and_stay_in_their_tenant(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let b = create_tenant(backend, "tenant-b").await;
    let a_prod = create_workspace(backend, &a.scope, "prod", None).await;
    let a_dev = create_workspace(backend, &a.scope, "dev", None).await;
    let b_prod = create_workspace(backend, &b.scope, "prod", None).await;
    let store = &backend.store;
    let batch = vec![
        decision(Some("b-1"), &a_prod, "s-1", DecisionOutcome::Allow),
        decision(Some("b-2"), &a_prod, "s-1", DecisionOutcome::Block),
        decision(Some("b-3"), &b_prod, "s-1", DecisionOutcome::Allow),
    ];
    match store.record_decisions(&a.scope, batch).await.unwrap_err() {
        Error::Invalid { field, .. } => assert_eq!(field, "decisions[2].workspace_id"),
        other => panic!("expected the third item's workspace to be refused: {other:?}"),
    }
    assert_eq!(decision_count(backend, &a.scope, &all()).await, 0, "nothing of the batch was stored");
    assert!(store.get_session(&a.scope, &key("s-1")).await.is_err());

    // An id twice in one batch: the second is a retry of the first, or a
    // conflict that refuses the whole batch.
    let twice = decision(Some("t-1"), &a_prod, "s-3", DecisionOutcome::Block);
    let recorded = store.record_decisions(&a.scope, vec![twice.clone(), twice.clone()]).await.unwrap();
    assert_eq!(recorded.iter().map(|recorded| recorded.created).collect::<Vec<_>>(), [true, false]);
    assert_eq!(store.get_session(&a.scope, &key("s-3")).await.unwrap().decision_count, 1);
    let changed = NewDecision {
        severity: Severity::Low,
        ..decision(Some("t-2"), &a_prod, "s-4", DecisionOutcome::Allow)
    };
    let error = store
        .record_decisions(
            &a.scope,
            vec![decision(Some("t-2"), &a_prod, "s-4", DecisionOutcome::Allow), changed],
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::DecisionConflict, .. }), "{error:?}");
    assert!(store.get_decision(&a.scope, &key("t-2")).await.is_err(), "the refused batch stored nothing");
    // A batch mixing a retry, new decisions and two sessions.
    let mixed = vec![
        twice,
        decision(Some("t-3"), &a_prod, "s-3", DecisionOutcome::RequireApproval),
        decision(Some("t-4"), &a_dev, "s-5", DecisionOutcome::Block),
    ];
    let recorded = store.record_decisions(&a.scope, mixed).await.unwrap();
    assert_eq!(recorded.iter().map(|recorded| recorded.created).collect::<Vec<_>>(), [false, true, true]);
    let session = store.get_session(&a.scope, &key("s-3")).await.unwrap();
    assert_eq!((session.decision_count, session.blocked_count, session.approval_required_count), (2, 1, 1));
    assert_eq!(store.get_session(&a.scope, &key("s-5")).await.unwrap().workspace_id, a_dev.id);
    record_one(backend, &a.scope, decision(Some("w-1"), &a_prod, "s-2", DecisionOutcome::Allow))
        .await
        .unwrap();
    let error = record_one(backend, &a.scope, decision(Some("w-2"), &a_dev, "s-2", DecisionOutcome::Allow))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::SessionWorkspace, .. }), "{error:?}");

    let forge = |id: &str, workspace: &Workspace| {
        format!(
            "INSERT INTO decisions (tenant_id, id, workspace_id, session_id, agent_id, action_type, decision, \
             severity, evidence_refs, occurred_at, recorded_at) VALUES ('{}', '{id}', '{}', 's-2', 'x', 'x', \
             'allow', 'low', '[]', {}, {})",
            a.tenant.id,
            workspace.id,
            backend.raw.past_instant_literal(),
            backend.raw.past_instant_literal(),
        )
    };
    assert!(
        backend.raw.execute(&forge("forged", &b_prod)).await.is_err(),
        "the database refuses another tenant's workspace"
    );
    assert_eq!(
        backend.raw.execute(&forge("control", &a_prod)).await,
        Ok(1),
        "the same row in its own workspace"
    );
    let moved = format!("UPDATE decisions SET tenant_id = '{}' WHERE id = 'w-1'", b.tenant.id);
    assert!(backend.raw.execute(&moved).await.is_err(), "a decision's tenant_id is immutable");
}

/// Concurrent writers to one session keep its counters exact, and retries
/// racing each other never duplicate a decision.
async fn concurrent_writers_keep_session_counters_exact(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let prod = create_workspace(backend, &a.scope, "prod", None).await;
    let mut writers = Vec::new();
    for writer in 0..10 {
        let store = backend.store.clone();
        let scope = a.scope.clone();
        let prod = prod.clone();
        writers.push(tokio::spawn(async move {
            for item in 0..5 {
                let outcome = if item == 0 { DecisionOutcome::Block } else { DecisionOutcome::Allow };
                let id = format!("c-{writer}-{item}");
                store
                    .record_decisions(&scope, vec![decision(Some(&id), &prod, "shared", outcome)])
                    .await
                    .unwrap();
            }
            // Every writer retries the same decision at once.
            store
                .record_decisions(
                    &scope,
                    vec![decision(Some("retried"), &prod, "shared", DecisionOutcome::Warn)],
                )
                .await
                .unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let session = backend.store.get_session(&a.scope, &key("shared")).await.unwrap();
    assert_eq!((session.decision_count, session.blocked_count), (51, 10));
    let filter = DecisionFilter { session_id: Some(key("shared")), ..all() };
    let mut listed = 0;
    let mut page = PageRequest { limit: tenantry_core::PageLimit::new(20).unwrap(), after: None };
    loop {
        let found = backend.store.list_decisions(&a.scope, &filter, page.clone()).await.unwrap();
        listed += found.items.len();
        match found.next_cursor {
            Some(cursor) => page.after = tenantry_core::decision::NewestFirstCursor::parse(&cursor),
            None => break,
        }
    }
    assert_eq!(listed, 51, "every decision once, across pages");
}

/// Filters narrow, pages run newest first without repeats, a session's
/// state changes with its event, and deleting a workspace deletes its
/// decisions and sessions.
async fn filters_pages_state_and_workspace_deletion(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let prod = create_workspace(backend, &a.scope, "prod", None).await;
    let store = &backend.store;
    let base = tenantry_core::now();
    for index in 0..7i64 {
        let mut new = decision(Some(&format!("f-{index}")), &prod, "s-f", DecisionOutcome::Allow);
        new.occurred_at = Some(base - chrono::Duration::seconds(index));
        new.severity = if index % 2 == 0 { Severity::Low } else { Severity::Critical };
        record_one(backend, &a.scope, new).await.unwrap();
    }
    let page = PageRequest { limit: tenantry_core::PageLimit::new(3).unwrap(), after: None };
    let first = store.list_decisions(&a.scope, &all(), page.clone()).await.unwrap();
    let ids: Vec<&str> = first.items.iter().map(|decision| decision.id.as_str()).collect();
    assert_eq!(ids, ["f-0", "f-1", "f-2"], "newest first");
    let after = tenantry_core::decision::NewestFirstCursor::parse(first.next_cursor.as_deref().unwrap());
    let second = store.list_decisions(&a.scope, &all(), PageRequest { after, ..page }).await.unwrap();
    assert_eq!(second.items[0].id.as_str(), "f-3");
    let critical = DecisionFilter { severity: Some(Severity::Critical), ..all() };
    assert_eq!(decision_count(backend, &a.scope, &critical).await, 3);
    let windowed =
        DecisionFilter { since: Some(base - chrono::Duration::seconds(2)), until: Some(base), ..all() };
    assert_eq!(decision_count(backend, &a.scope, &windowed).await, 2);
    let other_agent = DecisionFilter { agent_id: Some(label("agent-8")), ..all() };
    assert_eq!(decision_count(backend, &a.scope, &other_agent).await, 0);

    let session = store.get_session(&a.scope, &key("s-f")).await.unwrap();
    assert_eq!(session.started_at, base - chrono::Duration::seconds(6));
    assert_eq!(session.updated_at, base);
    let log = PartitionScope::Tenant(a.scope.clone());
    let head = store.audit_head(&log).await.unwrap().size();
    let completed = store.set_session_state(&a.scope, &key("s-f"), SessionState::Completed).await.unwrap();
    assert_eq!(completed.state, SessionState::Completed);
    let events = store.audit_events_after(&log, head, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event().unwrap().action(), "session.state_changed");
    let completed_only = SessionFilter { state: Some(SessionState::Completed), ..SessionFilter::default() };
    assert_eq!(
        store.list_sessions(&a.scope, &completed_only, PageRequest::first()).await.unwrap().items.len(),
        1
    );
    assert!(matches!(
        store.set_session_state(&a.scope, &key("missing"), SessionState::Failed).await,
        Err(Error::NotFound { .. })
    ));

    store.delete_workspace(&a.scope, &prod.id).await.unwrap();
    assert_eq!(decision_count(backend, &a.scope, &all()).await, 0);
    assert!(store.get_session(&a.scope, &key("s-f")).await.is_err());
}

crate::conformance::cases!(
    CASES,
    lists_and_summaries_follow_tenant_and_workspace,
    recording_is_idempotent_per_tenant,
    batches_are_all_or_nothing_and_stay_in_their_tenant,
    concurrent_writers_keep_session_counters_exact,
    filters_pages_state_and_workspace_deletion,
);
