//! Conformance cases for approvals: the reference behaviour (a decided
//! request cannot be decided again, an empty reason never reaches the
//! store, break-glass carries its reason and history), quorum, expiry on
//! read and by the sweep, routing rules, tenant isolation down to raw SQL,
//! and every change in the audit log.

use tenantry_core::approval::{
    ApprovalAction, ApprovalChange, ApprovalFilter, ApprovalKind, ApprovalRouting, ApprovalState,
    ApprovalStep, ApprovalTtl, NewApproval, RequiredApprovals, RoutingRule, Verdict,
};
use tenantry_core::decision::{
    DecisionOutcome, NewDecision, Reason, RecordKey, Severity, WorkspaceSelection,
};
use tenantry_core::{ApprovalId, ConflictCode, Label, PartitionScope, audit::user_actor};

use super::*;

fn label(text: &str) -> Label {
    Label::parse(text).unwrap()
}

fn key(text: &str) -> RecordKey {
    RecordKey::parse(text).unwrap()
}

/// A scope in which `user` acts.
fn as_user(scope: &TenantScope, user: &User) -> TenantScope {
    TenantScope::new(scope.tenant_id().clone(), user_actor(&user.id, None))
}

async fn record(
    backend: &TestBackend,
    scope: &TenantScope,
    workspace: &Workspace,
    id: &str,
    outcome: DecisionOutcome,
) {
    let new = NewDecision {
        id: Some(key(id)),
        workspace_id: workspace.id.clone(),
        session_id: key(&format!("s-{}", workspace.id)),
        agent_id: label("agent-7"),
        actor: None,
        repository: None,
        action_type: label("deploy"),
        target: Some(label("eu-prod-1")),
        requested_operation: None,
        policy_pack: None,
        policy_id: None,
        rule_id: Some(label("deploy.k8s")),
        decision: outcome,
        severity: Severity::High,
        reason: None,
        evidence_refs: vec![label("sha256:abc")],
        approver_group: None,
        occurred_at: None,
        correlation_id: Some(label("corr-9")),
    };
    backend.store.record_decisions(scope, vec![new]).await.unwrap();
}

fn request(decision_id: &str, group: Option<&Group>, required: i64) -> NewApproval {
    NewApproval {
        kind: ApprovalKind::Request,
        decision_id: key(decision_id),
        approver_group: group.map(|group| group.id.clone()),
        required_approvals: RequiredApprovals::new(Some(required)).unwrap(),
        ttl: ApprovalTtl::for_request(None).unwrap(),
        reason: None,
        external_ref: None,
    }
}

fn step(user: &User) -> ApprovalStep {
    ApprovalStep {
        actor: user.id.to_string(),
        reason: Reason::parse("checked the change").unwrap(),
        external_ref: Some(label("CHG-1")),
        at: tenantry_core::now(),
    }
}

async fn count(
    backend: &TestBackend,
    scope: &TenantScope,
    filter: ApprovalFilter,
    at: tenantry_core::Timestamp,
) -> usize {
    backend.store.list_approvals(scope, &filter, at, PageRequest::first()).await.unwrap().items.len()
}

fn conflict(result: Result<impl std::fmt::Debug, Error>) -> ConflictCode {
    match result {
        Err(Error::Conflict { code, .. }) => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// The reference behaviour and quorum: a request resolves its group, the
/// requester cannot decide it, two distinct approvers are needed for a
/// quorum of two, a decided request cannot be decided again, a retry of
/// the request answers the pending one, and every step is in the log.
async fn requests_follow_quorum_and_refuse_a_second_decision(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let prod = create_workspace(backend, &a.scope, "prod", None).await;
    let (agent, ada, grace) = (
        create_user(backend, "agent").await,
        create_user(backend, "ada").await,
        create_user(backend, "grace").await,
    );
    let approvers = create_group(backend, &a.scope, "approvers", None).await;
    record(backend, &a.scope, &prod, "d-1", DecisionOutcome::RequireApproval).await;
    let store = &backend.store;
    let agent_scope = as_user(&a.scope, &agent);
    let log = PartitionScope::Tenant(a.scope.clone());
    let head = store.audit_head(&log).await.unwrap().size();

    let (opened, created) = store
        .open_approval(&agent_scope, request("d-1", Some(&approvers), 2), tenantry_core::now())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(opened.state, ApprovalState::Pending);
    assert_eq!(opened.workspace_id, prod.id);
    assert_eq!(opened.session_id.as_str(), format!("s-{}", prod.id));
    assert_eq!(opened.correlation_id.as_ref().map(Label::as_str), Some("corr-9"));
    assert_eq!(opened.evidence_refs, [label("sha256:abc")]);
    assert_eq!(opened.requested_by, agent.id.to_string());
    let (again, created) = store
        .open_approval(&agent_scope, request("d-1", Some(&approvers), 2), tenantry_core::now())
        .await
        .unwrap();
    assert!(!created, "a second request on the decision answers the pending one");
    assert_eq!(again.id, opened.id);

    let decide = |user: &User, verdict| ApprovalChange::Decide(verdict, step(user));
    assert!(matches!(
        store.change_approval(&a.scope, &opened.id, decide(&agent, Verdict::Approve)).await,
        Err(Error::Forbidden { .. })
    ));
    let once = store.change_approval(&a.scope, &opened.id, decide(&ada, Verdict::Approve)).await.unwrap();
    assert_eq!(once.state, ApprovalState::Pending);
    assert_eq!(
        conflict(store.change_approval(&a.scope, &opened.id, decide(&ada, Verdict::Approve)).await),
        ConflictCode::AlreadyApproved
    );
    let twice = store.change_approval(&a.scope, &opened.id, decide(&grace, Verdict::Approve)).await.unwrap();
    assert_eq!(twice.state, ApprovalState::Approved);
    assert_eq!(
        conflict(store.change_approval(&a.scope, &opened.id, decide(&grace, Verdict::Deny)).await),
        ConflictCode::ApprovalNotPending
    );
    let stored = store.get_approval(&a.scope, &opened.id, tenantry_core::now()).await.unwrap();
    assert_eq!(stored, twice, "the stored record is what the change answered");
    let actions: Vec<ApprovalAction> = stored.history.iter().map(|event| event.action).collect();
    assert_eq!(actions, [ApprovalAction::Requested, ApprovalAction::Approved, ApprovalAction::Approved]);
    assert_eq!(stored.history[1].external_ref.as_ref().map(Label::as_str), Some("CHG-1"));

    let events = store.audit_events_after(&log, head, 20).await.unwrap();
    let logged: Vec<String> = events.iter().map(|event| event.event().unwrap().action().to_owned()).collect();
    assert_eq!(logged, ["approval.requested", "approval.approved", "approval.approved"]);

    // A denial denies at once; only decisions that need approval open
    // requests; an unknown decision is not found.
    record(backend, &a.scope, &prod, "d-2", DecisionOutcome::RequireApproval).await;
    let (second, _) = store
        .open_approval(&agent_scope, request("d-2", Some(&approvers), 3), tenantry_core::now())
        .await
        .unwrap();
    let denied = store.change_approval(&a.scope, &second.id, decide(&ada, Verdict::Deny)).await.unwrap();
    assert_eq!(denied.state, ApprovalState::Denied);
    record(backend, &a.scope, &prod, "d-3", DecisionOutcome::Allow).await;
    assert!(matches!(
        store.open_approval(&agent_scope, request("d-3", Some(&approvers), 1), tenantry_core::now()).await,
        Err(Error::Invalid { field, .. }) if field == "decision_id"
    ));
    assert!(matches!(
        store
            .open_approval(&agent_scope, request("missing", Some(&approvers), 1), tenantry_core::now())
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        matches!(
            store.open_approval(&a.scope, request("d-2", Some(&approvers), 1), tenantry_core::now()).await,
            Err(Error::Forbidden { .. })
        ),
        "tenantry itself does not ask for approvals"
    );
}

/// A pending request passes to expired at its deadline without anyone
/// acting: every read after it shows it expired, it cannot be decided,
/// and the sweep stores the expiry with its event.
async fn requests_expire_on_read_and_by_the_sweep(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let b = create_tenant(backend, "tenant-b").await;
    let prod = create_workspace(backend, &a.scope, "prod", None).await;
    let (agent, ada) = (create_user(backend, "agent").await, create_user(backend, "ada").await);
    let approvers = create_group(backend, &a.scope, "approvers", None).await;
    record(backend, &a.scope, &prod, "d-1", DecisionOutcome::RequireApproval).await;
    let store = &backend.store;
    let opened_at = tenantry_core::now() - chrono::Duration::hours(2);
    let mut new = request("d-1", Some(&approvers), 1);
    new.ttl = ApprovalTtl::for_request(Some(3600)).unwrap();
    let (opened, _) = store.open_approval(&as_user(&a.scope, &agent), new, opened_at).await.unwrap();
    let now = tenantry_core::now();

    let read = store.get_approval(&a.scope, &opened.id, now).await.unwrap();
    assert_eq!(read.state, ApprovalState::Expired);
    assert_eq!(
        count(
            backend,
            &a.scope,
            ApprovalFilter { state: Some(ApprovalState::Expired), ..ApprovalFilter::default() },
            now
        )
        .await,
        1
    );
    assert_eq!(
        count(
            backend,
            &a.scope,
            ApprovalFilter { state: Some(ApprovalState::Pending), ..ApprovalFilter::default() },
            now
        )
        .await,
        0
    );
    let summary = store.activity_summary(&a.scope, &WorkspaceSelection::All).await.unwrap();
    assert_eq!(summary.pending_approvals, 0);
    assert_eq!(
        conflict(
            store
                .change_approval(&a.scope, &opened.id, ApprovalChange::Decide(Verdict::Approve, step(&ada)))
                .await
        ),
        ConflictCode::ApprovalNotPending
    );

    assert_eq!(
        store.tenants_with_due_approvals(&PlatformScope::approval_expiry(), now).await.unwrap(),
        std::slice::from_ref(&a.tenant.id),
        "only tenant-a has a request past its deadline"
    );
    let log = PartitionScope::Tenant(a.scope.clone());
    let head = store.audit_head(&log).await.unwrap().size();
    assert_eq!(tenantry_core::service::expire_due_approvals(store.as_ref(), now).await.unwrap(), 1);
    assert_eq!(store.expire_approvals(&a.scope, now).await.unwrap(), 0, "expired once");
    assert_eq!(store.expire_approvals(&b.scope, now).await.unwrap(), 0);
    let events = store.audit_events_after(&log, head, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event().unwrap().action(), "approval.expired");
    assert!(
        store.tenants_with_due_approvals(&PlatformScope::approval_expiry(), now).await.unwrap().is_empty()
    );
    let stored = store.get_approval(&a.scope, &opened.id, now).await.unwrap();
    assert_eq!(stored, read, "the sweep stored what the read showed");
}

/// Break-glass is granted at once with its reason and a short deadline,
/// listed and counted while its review is open, and reviewed once, by
/// someone other than the user who broke the glass.
async fn break_glass_is_granted_at_once_and_reviewed_by_a_second_member(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let prod = create_workspace(backend, &a.scope, "prod", None).await;
    let (oncall, lead) = (create_user(backend, "oncall").await, create_user(backend, "lead").await);
    let approvers = create_group(backend, &a.scope, "approvers", None).await;
    record(backend, &a.scope, &prod, "d-1", DecisionOutcome::Block).await;
    let store = &backend.store;
    let at = tenantry_core::now();
    let new = NewApproval {
        kind: ApprovalKind::BreakGlass,
        reason: Some(Reason::parse("production is down").unwrap()),
        external_ref: Some(label("INC-42")),
        ttl: ApprovalTtl::for_break_glass(None).unwrap(),
        ..request("d-1", Some(&approvers), 1)
    };
    let (grant, created) = store.open_approval(&as_user(&a.scope, &oncall), new, at).await.unwrap();
    assert!(created);
    assert_eq!(grant.state, ApprovalState::BreakGlass);
    assert_eq!(grant.expires_at, at + chrono::Duration::hours(4));
    assert_eq!(grant.history[0].action, ApprovalAction::BreakGlass);
    assert_eq!(grant.history[0].reason.as_ref().map(Reason::as_str), Some("production is down"));
    let awaiting = ApprovalFilter { awaiting_review: true, ..ApprovalFilter::default() };
    let listed = store.list_approvals(&a.scope, &awaiting, at, PageRequest::first()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let summary = store.activity_summary(&a.scope, &WorkspaceSelection::All).await.unwrap();
    assert_eq!(summary.break_glass_awaiting_review, 1);

    assert!(matches!(
        store.change_approval(&a.scope, &grant.id, ApprovalChange::Review(step(&oncall))).await,
        Err(Error::Forbidden { .. })
    ));
    assert_eq!(
        conflict(
            store
                .change_approval(&a.scope, &grant.id, ApprovalChange::Decide(Verdict::Approve, step(&lead)))
                .await
        ),
        ConflictCode::ApprovalNotPending
    );
    let reviewed =
        store.change_approval(&a.scope, &grant.id, ApprovalChange::Review(step(&lead))).await.unwrap();
    assert!(!reviewed.awaiting_review());
    assert_eq!(
        conflict(store.change_approval(&a.scope, &grant.id, ApprovalChange::Review(step(&lead))).await),
        ConflictCode::AlreadyReviewed
    );
    let listed = store.list_approvals(&a.scope, &awaiting, at, PageRequest::first()).await.unwrap();
    assert!(listed.items.is_empty());
    let summary = store.activity_summary(&a.scope, &WorkspaceSelection::All).await.unwrap();
    assert_eq!(summary.break_glass_awaiting_review, 0);
}

/// Routing rules: validated against the tenant's groups, matched in
/// order, audited when they change; the group comes from the rules when
/// the request names none, and a request with no group is refused.
async fn routing_rules_pick_the_group(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let b = create_tenant(backend, "tenant-b").await;
    let prod = create_workspace(backend, &a.scope, "prod", None).await;
    let agent = create_user(backend, "agent").await;
    let deployers = create_group(backend, &a.scope, "deployers", None).await;
    let foreign = create_group(backend, &b.scope, "foreign", None).await;
    let store = &backend.store;
    assert_eq!(store.approval_routing(&a.scope).await.unwrap(), ApprovalRouting::default());
    record(backend, &a.scope, &prod, "d-1", DecisionOutcome::RequireApproval).await;
    assert!(matches!(
        store.open_approval(&as_user(&a.scope, &agent), request("d-1", None, 1), tenantry_core::now()).await,
        Err(Error::Invalid { field, .. }) if field == "approver_group"
    ));
    let rule = |group: &Group| RoutingRule {
        rule_id_prefix: Some(label("deploy.")),
        target_contains: Some(label("prod")),
        approver_group: group.id.clone(),
    };
    let refused = ApprovalRouting::new(vec![rule(&deployers), rule(&foreign)]).unwrap();
    assert!(
        matches!(
            store.put_approval_routing(&a.scope, refused).await,
            Err(Error::Invalid { field, .. }) if field == "rules[1].approver_group"
        ),
        "another tenant's group is not this tenant's"
    );
    let log = PartitionScope::Tenant(a.scope.clone());
    let head = store.audit_head(&log).await.unwrap().size();
    let routing = ApprovalRouting::new(vec![rule(&deployers)]).unwrap();
    store.put_approval_routing(&a.scope, routing.clone()).await.unwrap();
    store.put_approval_routing(&a.scope, routing.clone()).await.unwrap();
    assert_eq!(store.approval_routing(&a.scope).await.unwrap(), routing);
    assert_eq!(store.approval_routing(&b.scope).await.unwrap(), ApprovalRouting::default());
    let events = store.audit_events_after(&log, head, 10).await.unwrap();
    assert_eq!(events.len(), 1, "an unchanged put is not an event");
    assert_eq!(events[0].event().unwrap().action(), "approval_routing.updated");
    let (opened, _) = store
        .open_approval(&as_user(&a.scope, &agent), request("d-1", None, 1), tenantry_core::now())
        .await
        .unwrap();
    assert_eq!(opened.approver_group, deployers.id);
    // A named group of another tenant is refused.
    record(backend, &a.scope, &prod, "d-2", DecisionOutcome::RequireApproval).await;
    assert!(matches!(
        store.open_approval(&as_user(&a.scope, &agent), request("d-2", Some(&foreign), 1), tenantry_core::now()).await,
        Err(Error::Invalid { field, .. }) if field == "approver_group"
    ));
}

/// Approvals stay in their tenant: another tenant's scope neither reads
/// nor changes them, lists filter by group, requester and workspace, and
/// the database refuses an approval naming another tenant's decision.
async fn approvals_stay_in_their_tenant(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let b = create_tenant(backend, "tenant-b").await;
    let a_prod = create_workspace(backend, &a.scope, "prod", None).await;
    let a_dev = create_workspace(backend, &a.scope, "dev", None).await;
    let b_prod = create_workspace(backend, &b.scope, "prod", None).await;
    let (agent, ada) = (create_user(backend, "agent").await, create_user(backend, "ada").await);
    let approvers = create_group(backend, &a.scope, "approvers", None).await;
    let b_group = create_group(backend, &b.scope, "approvers", None).await;
    record(backend, &a.scope, &a_prod, "d-1", DecisionOutcome::RequireApproval).await;
    record(backend, &a.scope, &a_dev, "d-2", DecisionOutcome::RequireApproval).await;
    record(backend, &b.scope, &b_prod, "d-1", DecisionOutcome::RequireApproval).await;
    let store = &backend.store;
    let now = tenantry_core::now();
    let (in_prod, _) = store
        .open_approval(&as_user(&a.scope, &agent), request("d-1", Some(&approvers), 1), now)
        .await
        .unwrap();
    store.open_approval(&as_user(&a.scope, &ada), request("d-2", Some(&approvers), 1), now).await.unwrap();
    let (in_b, _) = store
        .open_approval(&as_user(&b.scope, &agent), request("d-1", Some(&b_group), 1), now)
        .await
        .unwrap();
    assert_ne!(in_prod.id, in_b.id, "the same decision id in two tenants is two requests");

    assert!(matches!(store.get_approval(&b.scope, &in_prod.id, now).await, Err(Error::NotFound { .. })));
    assert!(matches!(
        store
            .change_approval(&b.scope, &in_prod.id, ApprovalChange::Decide(Verdict::Approve, step(&ada)))
            .await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(count(backend, &a.scope, ApprovalFilter::default(), now).await, 2);
    let only_prod = WorkspaceSelection::Only(vec![a_prod.id.clone()]);
    assert_eq!(
        count(backend, &a.scope, ApprovalFilter { workspaces: only_prod, ..ApprovalFilter::default() }, now)
            .await,
        1
    );
    assert_eq!(
        count(
            backend,
            &a.scope,
            ApprovalFilter { requested_by: Some(agent.id.to_string()), ..ApprovalFilter::default() },
            now
        )
        .await,
        1
    );
    assert_eq!(
        count(
            backend,
            &a.scope,
            ApprovalFilter { not_requested_by: Some(agent.id.to_string()), ..ApprovalFilter::default() },
            now
        )
        .await,
        1
    );
    assert_eq!(
        count(
            backend,
            &a.scope,
            ApprovalFilter { approver_groups: Some(vec![]), ..ApprovalFilter::default() },
            now
        )
        .await,
        0
    );
    assert_eq!(
        count(
            backend,
            &a.scope,
            ApprovalFilter { approver_groups: Some(vec![approvers.id.clone()]), ..ApprovalFilter::default() },
            now
        )
        .await,
        2
    );
    let page = PageRequest { limit: PageLimit::new(1).unwrap(), after: None };
    let first = store.list_approvals(&a.scope, &ApprovalFilter::default(), now, page.clone()).await.unwrap();
    let after = tenantry_core::decision::NewestFirstCursor::parse(first.next_cursor.as_deref().unwrap());
    let second = store
        .list_approvals(&a.scope, &ApprovalFilter::default(), now, PageRequest { after, ..page })
        .await
        .unwrap();
    assert_ne!(first.items[0].id, second.items[0].id);
    assert!(second.next_cursor.is_none());

    store.delete_workspace(&a.scope, &a_dev.id).await.unwrap();
    assert_eq!(
        count(backend, &a.scope, ApprovalFilter::default(), now).await,
        1,
        "the dev request went with its workspace"
    );

    let forge = |tenant: &Tenant, decision: &str, workspace: &Workspace| {
        format!(
            "INSERT INTO approvals (tenant_id, id, workspace_id, decision_id, state, approver_group, \
             required_approvals, requested_by, requested_at, expires_at, awaiting_review, updated_at, body) \
             VALUES ('{}', '{}', '{}', '{decision}', 'pending', 'grp_x', 1, 'usr_x', {at}, {later}, {no}, \
             {at}, '{{}}')",
            tenant.id,
            ApprovalId::generate(),
            workspace.id,
            at = backend.raw.past_instant_literal(),
            later = backend.raw.later_instant_literal(),
            no = backend.raw.boolean_literal(false),
        )
    };
    assert!(
        backend.raw.execute(&forge(&a.tenant, "d-1", &b_prod)).await.is_err(),
        "the database refuses another tenant's workspace"
    );
    assert!(
        backend.raw.execute(&forge(&a.tenant, "missing", &a_prod)).await.is_err(),
        "the database refuses a decision the tenant does not have"
    );
    assert_eq!(backend.raw.execute(&forge(&a.tenant, "d-1", &a_prod)).await, Ok(1), "the control row");
    let moved = format!("UPDATE approvals SET tenant_id = '{}' WHERE id = '{}'", b.tenant.id, in_prod.id);
    assert!(backend.raw.execute(&moved).await.is_err(), "an approval's tenant_id is immutable");

    store.delete_tenant(&platform(), &b.tenant.id).await.unwrap();
}

/// Approvers deciding one request at once are applied one after the
/// other: a quorum of two reached by two concurrent approvals is approved
/// with both, and of two concurrent approvals of one approver exactly one
/// counts.
async fn concurrent_approvers_are_applied_one_after_the_other(backend: &TestBackend) {
    let a = create_tenant(backend, "tenant-a").await;
    let prod = create_workspace(backend, &a.scope, "prod", None).await;
    let agent = create_user(backend, "agent").await;
    let approvers = create_group(backend, &a.scope, "approvers", None).await;
    let mut users = Vec::new();
    for name in ["ada", "grace"] {
        users.push(create_user(backend, name).await);
    }
    let store = &backend.store;
    let agent_scope = as_user(&a.scope, &agent);
    for round in 0..5 {
        let id = format!("d-{round}");
        record(backend, &a.scope, &prod, &id, DecisionOutcome::RequireApproval).await;
        let (opened, _) = store
            .open_approval(&agent_scope, request(&id, Some(&approvers), 2), tenantry_core::now())
            .await
            .unwrap();
        let mut tasks = JoinSet::new();
        for user in [users[0].clone(), users[1].clone(), users[0].clone()] {
            let (store, scope, approval_id) = (store.clone(), a.scope.clone(), opened.id.clone());
            tasks.spawn(async move {
                store
                    .change_approval(
                        &scope,
                        &approval_id,
                        ApprovalChange::Decide(Verdict::Approve, step(&user)),
                    )
                    .await
            });
        }
        let mut outcomes = Vec::new();
        while let Some(outcome) = tasks.join_next().await {
            outcomes.push(outcome.unwrap());
        }
        let refused: Vec<&Error> = outcomes.iter().filter_map(|outcome| outcome.as_ref().err()).collect();
        assert_eq!(
            refused.len(),
            1,
            "ada's second approval, or one after the quorum, is refused: {refused:?}"
        );
        assert!(matches!(
            refused[0],
            Error::Conflict { code: ConflictCode::AlreadyApproved | ConflictCode::ApprovalNotPending, .. }
        ));
        let stored = store.get_approval(&a.scope, &opened.id, tenantry_core::now()).await.unwrap();
        assert_eq!(stored.state, ApprovalState::Approved);
        let mut approvers_seen = stored.approvers();
        approvers_seen.sort_unstable();
        let mut expected = [users[0].id.to_string(), users[1].id.to_string()];
        expected.sort();
        assert_eq!(approvers_seen, expected.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(stored.history.len(), 3, "requested, then two approvals");
    }
}

crate::conformance::cases!(
    CASES,
    concurrent_approvers_are_applied_one_after_the_other,
    requests_follow_quorum_and_refuse_a_second_decision,
    requests_expire_on_read_and_by_the_sweep,
    break_glass_is_granted_at_once_and_reviewed_by_a_second_member,
    routing_rules_pick_the_group,
    approvals_stay_in_their_tenant,
);
