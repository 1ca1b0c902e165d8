//! Conformance cases for the audit log: every change appends exactly its
//! events in its own transaction, a failed change appends none, sequences
//! stay gap-free under concurrent writers, the database refuses to change
//! or delete an event, and `verify` names the first event or checkpoint an
//! attacker with the owner's access changed.

use tenantry_core::audit::{Actor, AuditEvent, AuditFilter, AuditRow};
use tenantry_core::audit_service::{
    AuditSigner, NoteSigner, VerifyFailure, prove_consistency, prove_inclusion,
};
use tenantry_core::{
    GroupId, GroupPatch, InvitationLifetime, Invitee, NewGroup, NewInvitation, PartitionScope,
    RelationshipWrite, Role, TenantPatch, TenantStatus, WorkspaceStatus, audit_service,
};

use super::*;

fn signer() -> AuditSigner {
    AuditSigner::new(NoteSigner::from_seed("conformance", [9u8; 32]).unwrap())
}

fn tenant_log(scope: &TenantScope) -> PartitionScope {
    PartitionScope::Tenant(scope.clone())
}

fn platform_log() -> PartitionScope {
    PartitionScope::Platform(PlatformScope::operator_cli())
}

/// The log's events after `after`, oldest first.
async fn events_after(backend: &TestBackend, log: &PartitionScope, after: u64) -> Vec<AuditEvent> {
    let rows = backend.store.audit_events_after(log, after, 1000).await.unwrap();
    rows.iter().map(|row| row.event().unwrap()).collect()
}

/// Runs `change` and returns the actions it appended to `log`, in order.
async fn actions_of<F, T>(backend: &TestBackend, log: &PartitionScope, change: F) -> (T, Vec<String>)
where
    F: Future<Output = T>,
{
    let before = backend.store.audit_head(log).await.unwrap().size();
    let outcome = change.await;
    let events = events_after(backend, log, before).await;
    let seqs: Vec<u64> = events.iter().map(AuditEvent::seq).collect();
    let expected: Vec<u64> = (before + 1..=before + events.len() as u64).collect();
    assert_eq!(seqs, expected, "the new events follow the log's head without gaps");
    (outcome, events.iter().map(|event| event.action().to_owned()).collect())
}

fn user_actor(user: &User) -> Actor {
    Actor::User { user_id: user.id.to_string(), request_id: Some("req-conformance".to_owned()) }
}

/// Every kind of change appends exactly its events, to the right log, as
/// the scope's actor, with the request id; a change that changes nothing
/// appends nothing.
async fn every_change_appends_exactly_its_events(backend: &TestBackend) {
    let store = &backend.store;
    let platform_log = platform_log();
    let (alice, actions) = actions_of(backend, &platform_log, create_user(backend, "alice")).await;
    assert_eq!(actions, ["user.created"]);
    let ((tenant, root), actions) = actions_of(backend, &platform_log, async {
        store.create_tenant(&platform(), new_tenant("acme")).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["tenant.created"]);
    let scope = TenantScope::new(tenant.id.clone(), user_actor(&alice));
    let log = tenant_log(&scope);
    assert_eq!(store.audit_head(&log).await.unwrap().size(), 0, "a new tenant's log starts empty");

    let (workspace, actions) = actions_of(backend, &log, async {
        store.create_workspace(&scope, new_workspace("research", None)).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["workspace.created"]);
    let created = events_after(backend, &log, 0).await.remove(0);
    assert_eq!(created.actor(), &user_actor(&alice));
    assert_eq!(created.workspace_id(), Some(workspace.id.to_string().as_str()));
    assert_eq!(created.tenant_id(), Some(tenant.id.to_string().as_str()));
    let revision = store.relationship_snapshot(&log).await.unwrap().revision;
    assert_eq!(created.revision(), Some(revision.get()), "the event carries the revision the change made");
    assert_eq!(created.changes()["name"].after(), &serde_json::json!("research"));

    let (_, actions) = actions_of(backend, &log, async {
        store.update_workspace(&scope, &workspace.id, rename_to("lab")).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["workspace.renamed"]);
    let (_, actions) = actions_of(backend, &log, async {
        store.update_workspace(&scope, &workspace.id, rename_to("lab")).await.unwrap()
    })
    .await;
    assert!(actions.is_empty(), "a patch that changes nothing records nothing: {actions:?}");
    let other = create_workspace(backend, &scope, "other", None).await;
    let (_, actions) = actions_of(backend, &log, async {
        let patch = WorkspacePatch {
            parent_workspace_id: Some(other.id.clone()),
            status: Some(WorkspaceStatus::Archived),
            ..WorkspacePatch::default()
        };
        store.update_workspace(&scope, &workspace.id, patch).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["workspace.moved", "workspace.status_changed"]);
    let (_, actions) =
        actions_of(backend, &log, async { store.delete_workspace(&scope, &workspace.id).await.unwrap() })
            .await;
    assert_eq!(actions, ["workspace.deleted"]);

    let (group, actions) = actions_of(backend, &log, async {
        store
            .create_group(&scope, NewGroup { name: GroupName::parse("ops").unwrap(), creator: None })
            .await
            .unwrap()
    })
    .await;
    assert_eq!(actions, ["group.created"]);
    let (_, actions) = actions_of(backend, &log, async {
        let patch = GroupPatch { name: Some(GroupName::parse("sre").unwrap()) };
        store.update_group(&scope, &group.id, patch).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["group.updated"]);

    let member =
        Membership::new(MembershipResource::Tenant, Member::User(alice.id.clone()), Role::Member, None)
            .unwrap();
    let (_, actions) =
        actions_of(backend, &log, async { store.set_membership(&scope, member.clone()).await.unwrap() })
            .await;
    assert_eq!(actions, ["membership.granted"]);
    let (_, actions) =
        actions_of(backend, &log, async { store.set_membership(&scope, member.clone()).await.unwrap() })
            .await;
    assert!(actions.is_empty(), "granting what is held records nothing: {actions:?}");
    let admin =
        Membership::new(MembershipResource::Tenant, Member::User(alice.id.clone()), Role::Admin, None)
            .unwrap();
    let (_, actions) =
        actions_of(backend, &log, async { store.set_membership(&scope, admin).await.unwrap() }).await;
    assert_eq!(actions, ["membership.changed"]);
    let bob = create_user(backend, "bob").await;
    let bob_member =
        Membership::new(MembershipResource::Tenant, Member::User(bob.id.clone()), Role::Member, None)
            .unwrap();
    store.set_membership(&scope, bob_member).await.unwrap();
    let (_, actions) = actions_of(backend, &log, async {
        store
            .remove_membership(&scope, &MembershipResource::Tenant, &Member::User(bob.id.clone()))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(actions, ["membership.revoked"]);

    let (api_key, actions) =
        actions_of(backend, &log, async { mint(backend, &scope, &alice.id, "ci").await.unwrap().0 }).await;
    assert_eq!(actions, ["api_key.created"]);
    let (_, actions) = actions_of(backend, &log, async {
        store.revoke_api_key(&scope, &api_key.id, tenantry_core::now()).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["api_key.revoked"]);
    let revoked = events_after(backend, &log, 0).await.into_iter().last().unwrap();
    let body = serde_json::to_string(
        &serde_json::from_slice::<serde_json::Value>(&revoked.canonical_bytes()).unwrap(),
    )
    .unwrap();
    assert!(!body.contains("secret"), "no secret or hash of one is recorded: {body}");

    let (_, actions) = actions_of(backend, &log, async {
        let relationship: tenantry_core::relationship::Relationship =
            format!("workspace:{}#editor@user:{}", root.id, alice.id).parse().unwrap();
        store
            .write_relationships(&log, RelationshipWrite { touch: vec![relationship], delete: Vec::new() })
            .await
            .unwrap()
    })
    .await;
    assert_eq!(actions, ["relationships.written"]);

    let (invitation, actions) = actions_of(backend, &log, async {
        let invitation = NewInvitation::new(
            MembershipResource::Tenant,
            Role::Member,
            Invitee::User(bob.id.clone()),
            alice.id.clone(),
            InvitationLifetime::default_lifetime(),
        )
        .unwrap();
        store.create_invitation(&scope, invitation).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["invitation.created"]);
    let (_, actions) = actions_of(backend, &log, async {
        store.revoke_invitation(&scope, &invitation.id, tenantry_core::now()).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["invitation.revoked"]);

    let (_, actions) = actions_of(backend, &log, async {
        let patch = TenantPatch {
            display_name: Some(DisplayName::parse("Acme Corp").unwrap()),
            status: Some(TenantStatus::Suspended),
            ..TenantPatch::default()
        };
        store.update_tenant(&scope, patch).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["tenant.updated", "tenant.status_changed"]);
    let (_, actions) =
        actions_of(backend, &log, async { store.delete_group(&scope, &group.id).await.unwrap() }).await;
    assert_eq!(actions, ["group.deleted"]);

    // Every tenant event is in the tenant's log, none in the platform's.
    let platform_actions: Vec<String> =
        events_after(backend, &platform_log, 0).await.iter().map(|event| event.action().to_owned()).collect();
    assert!(
        platform_actions.iter().all(|action| action.starts_with("tenant.") || action.starts_with("user."))
    );

    let final_head = store.audit_head(&log).await.unwrap();
    let (_, actions) = actions_of(backend, &platform_log, async {
        store.delete_tenant(&platform(), &tenant.id).await.unwrap()
    })
    .await;
    assert_eq!(actions, ["tenant.deleted"]);
    let deleted = events_after(backend, &platform_log, 0).await.into_iter().last().unwrap();
    assert_eq!(deleted.changes()["final_tree_size"].after(), &serde_json::json!(final_head.size()));
    assert_eq!(deleted.changes()["final_root"].after(), &serde_json::json!(final_head.root().to_hex()));
    assert!(backend.store.audit_head(&log).await.is_err(), "the tenant's log leaves with the tenant");
    for table in ["audit_events", "audit_nodes", "audit_checkpoints", "audit_logs"] {
        let left = backend
            .raw
            .scalar_i64(&format!("SELECT count(*) FROM {table} WHERE tenant_id = '{}'", tenant.id))
            .await
            .unwrap();
        assert_eq!(left, 0, "{table} keeps nothing of the deleted tenant");
    }
}

/// A change the store refuses (a conflict, a not found, a rule) appends
/// nothing: no event exists without its change.
async fn a_refused_change_appends_nothing(backend: &TestBackend) {
    let store = &backend.store;
    let acme = create_tenant(backend, "acme").await;
    let log = tenant_log(&acme.scope);
    create_workspace(backend, &acme.scope, "research", None).await;
    let head = store.audit_head(&log).await.unwrap();
    let refused = [
        store.create_workspace(&acme.scope, new_workspace("research", None)).await.err(),
        store.delete_workspace(&acme.scope, &acme.root.id).await.err(),
        store.update_workspace(&acme.scope, &WorkspaceId::generate(), rename_to("x")).await.err(),
        store.delete_group(&acme.scope, &GroupId::generate()).await.err(),
    ];
    assert!(refused.iter().all(Option::is_some), "every change was refused: {refused:?}");
    assert_eq!(store.audit_head(&log).await.unwrap(), head, "no refused change appended an event");
    assert_eq!(events_after(backend, &log, head.size()).await.len(), 0);
    let platform_head = store.audit_head(&platform_log()).await.unwrap();
    assert!(store.create_tenant(&platform(), new_tenant("acme")).await.is_err());
    assert_eq!(store.audit_head(&platform_log()).await.unwrap(), platform_head);
}

/// Concurrent writers, many per tenant, keep every tenant's sequence
/// 1, 2, 3, … without gaps, and every log verifies.
async fn concurrent_writers_keep_every_log_gap_free(backend: &TestBackend) {
    let mut tenants = Vec::new();
    for index in 0..4 {
        tenants.push(create_tenant(backend, &format!("tenant-{index}")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..40 {
        let store = backend.store.clone();
        let scope = tenants[writer % tenants.len()].scope.clone();
        tasks.spawn(async move {
            for round in 0..3 {
                let name = GroupName::parse(&format!("group-{writer}-{round}")).unwrap();
                store.create_group(&scope, NewGroup { name, creator: None }).await.unwrap();
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    let signer = signer();
    signer.checkpoint_logs(backend.store.as_ref(), &PlatformScope::audit_checkpointer()).await.unwrap();
    for tenant in &tenants {
        let log = tenant_log(&tenant.scope);
        let events = events_after(backend, &log, 0).await;
        let seqs: Vec<u64> = events.iter().map(AuditEvent::seq).collect();
        assert_eq!(
            seqs,
            (1..=30).collect::<Vec<u64>>(),
            "tenant {} has 30 events, gap-free",
            tenant.tenant.id
        );
        let summary =
            audit_service::verify_log(backend.store.as_ref(), &log, &signer.verifier_key()).await.unwrap();
        assert_eq!((summary.events, summary.checkpoints), (30, 1));
    }
}

/// UPDATE and DELETE on the audit tables are refused by the database
/// itself, for its owner too (the runtime role has no such privilege at
/// all on PostgreSQL).
async fn the_database_refuses_to_change_or_delete_evidence(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    create_workspace(backend, &acme.scope, "research", None).await;
    create_workspace(backend, &acme.scope, "lab", None).await;
    signer().checkpoint_logs(backend.store.as_ref(), &PlatformScope::audit_checkpointer()).await.unwrap();
    let tenant = format!("'{}'", acme.tenant.id);
    let attacks = [
        format!("UPDATE audit_events SET action = 'forged.action' WHERE tenant_id = {tenant}"),
        format!("DELETE FROM audit_events WHERE tenant_id = {tenant}"),
        format!(
            "UPDATE audit_nodes SET hash = {} WHERE tenant_id = {tenant}",
            backend.raw.blob_literal(&[0; 32])
        ),
        format!("DELETE FROM audit_nodes WHERE tenant_id = {tenant}"),
        format!("UPDATE audit_checkpoints SET note = 'forged' WHERE tenant_id = {tenant}"),
        format!("DELETE FROM audit_checkpoints WHERE tenant_id = {tenant}"),
        format!("DELETE FROM audit_logs WHERE tenant_id = {tenant}"),
        "UPDATE platform_audit_events SET action = 'forged.action'".to_owned(),
        "DELETE FROM platform_audit_events".to_owned(),
        "DELETE FROM platform_audit_nodes".to_owned(),
        "DELETE FROM platform_audit_checkpoints".to_owned(),
        "DELETE FROM platform_audit_log".to_owned(),
    ];
    for attack in &attacks {
        let outcome = backend.raw.execute(attack).await;
        assert!(outcome.is_err(), "the database let its owner run `{attack}`: {outcome:?}");
    }
    let summary =
        audit_service::verify_log(backend.store.as_ref(), &tenant_log(&acme.scope), &signer().verifier_key())
            .await
            .unwrap();
    assert_eq!(summary.events, 2);
}

/// A tenant with six events and a checkpoint over all of them.
async fn checkpointed_tenant(backend: &TestBackend, name: &str) -> CreatedTenant {
    let tenant = create_tenant(backend, name).await;
    for index in 1..=6 {
        create_workspace(backend, &tenant.scope, &format!("workspace-{index}"), None).await;
    }
    signer().checkpoint_logs(backend.store.as_ref(), &PlatformScope::audit_checkpointer()).await.unwrap();
    tenant
}

async fn verify_failure(backend: &TestBackend, tenant: &CreatedTenant) -> String {
    match audit_service::verify_log(
        backend.store.as_ref(),
        &tenant_log(&tenant.scope),
        &signer().verifier_key(),
    )
    .await
    {
        Ok(summary) => panic!("the tampered log verified: {summary:?}"),
        Err(VerifyFailure::Store(error)) => panic!("the store failed: {error}"),
        Err(failure) => failure.to_string(),
    }
}

/// An attacker with the owner's access, append-only triggers switched off,
/// rewrites the log in each way there is; `verify` fails every time and
/// names the event or checkpoint.
async fn verify_names_what_an_owner_tampered_with(backend: &TestBackend) {
    let raw = &backend.raw;
    for table in ["audit_events", "audit_nodes", "audit_checkpoints"] {
        for statement in raw.drop_append_only_triggers(table) {
            raw.execute(&statement).await.unwrap();
        }
    }
    let events_of = |tenant: &CreatedTenant, seq: u64| {
        format!("FROM audit_events WHERE tenant_id = '{}' AND seq = {seq}", tenant.tenant.id)
    };

    let changed = checkpointed_tenant(backend, "changed").await;
    raw.execute(&format!(
        "UPDATE audit_events SET body = replace(body, 'workspace-3', 'workspace-X') WHERE tenant_id = '{}' AND seq = 3",
        changed.tenant.id
    ))
    .await
    .unwrap();
    let finding = verify_failure(backend, &changed).await;
    assert!(finding.contains("event seq 3 was changed"), "{finding}");

    let deleted = checkpointed_tenant(backend, "deleted").await;
    raw.execute(&format!("DELETE {}", events_of(&deleted, 4))).await.unwrap();
    let finding = verify_failure(backend, &deleted).await;
    assert!(finding.contains("event seq 4 is missing"), "{finding}");

    let swapped = checkpointed_tenant(backend, "swapped").await;
    let id = &swapped.tenant.id;
    raw.execute(&format!("UPDATE audit_events SET seq = 100 WHERE tenant_id = '{id}' AND seq = 2"))
        .await
        .unwrap();
    raw.execute(&format!("UPDATE audit_events SET seq = 2 WHERE tenant_id = '{id}' AND seq = 5"))
        .await
        .unwrap();
    raw.execute(&format!("UPDATE audit_events SET seq = 5 WHERE tenant_id = '{id}' AND seq = 100"))
        .await
        .unwrap();
    let finding = verify_failure(backend, &swapped).await;
    assert!(finding.contains("seq 5") || finding.contains("seq 2"), "{finding}");

    let truncated = checkpointed_tenant(backend, "truncated").await;
    raw.execute(&format!("DELETE FROM audit_events WHERE tenant_id = '{}' AND seq > 4", truncated.tenant.id))
        .await
        .unwrap();
    let finding = verify_failure(backend, &truncated).await;
    assert!(finding.contains("checkpoint #1"), "{finding}");

    let forged = checkpointed_tenant(backend, "forged").await;
    raw.execute(&format!(
        "INSERT INTO audit_events (tenant_id, seq, id, occurred_at, action, resource_type, resource_id, \
             workspace_id, actor_type, actor_user_id, actor_api_key_id, request_id, body) \
         SELECT tenant_id, 7, id, occurred_at, action, resource_type, resource_id, workspace_id, actor_type, \
             actor_user_id, actor_api_key_id, request_id, replace(body, '\"seq\":6', '\"seq\":7') {}",
        events_of(&forged, 6)
    ))
    .await
    .unwrap();
    let finding = verify_failure(backend, &forged).await;
    assert!(finding.contains("event seq 7"), "{finding}");

    let replaced = checkpointed_tenant(backend, "replaced").await;
    let other_key = NoteSigner::from_seed("conformance", [10u8; 32]).unwrap();
    let head = backend.store.audit_head(&tenant_log(&replaced.scope)).await.unwrap();
    let forged_note = tenantry_core::audit::Checkpoint::new(
        &signer().origin(&tenantry_core::audit::tenant_log(&replaced.tenant.id)),
        head.size(),
        head.root(),
        None,
    )
    .unwrap()
    .sign(&other_key)
    .unwrap();
    raw.execute(&format!(
        "UPDATE audit_checkpoints SET note = '{}' WHERE tenant_id = '{}'",
        forged_note.replace('\'', "''"),
        replaced.tenant.id
    ))
    .await
    .unwrap();
    let finding = verify_failure(backend, &replaced).await;
    assert!(finding.contains("checkpoint #1 cannot be trusted"), "{finding}");

    // And the logs nobody touched still verify.
    let untouched = checkpointed_tenant(backend, "untouched").await;
    audit_service::verify_log(
        backend.store.as_ref(),
        &tenant_log(&untouched.scope),
        &signer().verifier_key(),
    )
    .await
    .unwrap();
}

/// Proofs computed from the stored subtrees verify against the roots of
/// every size the log passed through, for inclusion and consistency alike.
async fn proofs_from_stored_subtrees_verify(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let log = tenant_log(&acme.scope);
    let mut roots = vec![backend.store.audit_head(&log).await.unwrap().root()];
    for index in 1..=13 {
        create_workspace(backend, &acme.scope, &format!("workspace-{index}"), None).await;
        roots.push(backend.store.audit_head(&log).await.unwrap().root());
    }
    let rows: Vec<AuditRow> = backend.store.audit_events_after(&log, 0, 100).await.unwrap();
    for size in 1..=13u64 {
        for row in rows.iter().take(size as usize) {
            let proven = prove_inclusion(backend.store.as_ref(), &log, row.seq, size).await.unwrap();
            proven.proof.verify(&proven.event.leaf_hash(), &roots[size as usize]).unwrap();
        }
        for old in 0..=size {
            let proof = prove_consistency(backend.store.as_ref(), &log, old, size).await.unwrap();
            proof.verify(&roots[old as usize], &roots[size as usize]).unwrap();
        }
    }
    assert!(prove_inclusion(backend.store.as_ref(), &log, 14, 14).await.is_err());
    assert!(prove_consistency(backend.store.as_ref(), &log, 3, 14).await.is_err());
}

/// A tenant's scope reads its own log only: another tenant's events are
/// invisible however the filter is written.
async fn a_tenant_reads_only_its_own_log(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    create_workspace(backend, &acme.scope, "research", None).await;
    let globex_log = tenant_log(&globex.scope);
    assert_eq!(backend.store.audit_head(&globex_log).await.unwrap().size(), 0);
    let page = backend
        .store
        .list_audit_events(&globex_log, &AuditFilter::default(), PageRequest::first())
        .await
        .unwrap();
    assert!(page.items.is_empty(), "globex sees none of acme's events");
    let filter = AuditFilter { resource_type: Some("workspace".to_owned()), ..AuditFilter::default() };
    assert!(
        backend
            .store
            .list_audit_events(&globex_log, &filter, PageRequest::first())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(backend.store.audit_events_after(&globex_log, 0, 100).await.unwrap().is_empty());
    let acme_page = backend
        .store
        .list_audit_events(&tenant_log(&acme.scope), &filter, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(acme_page.items.len(), 1);
}

/// The stored bodies are the events' canonical bytes exactly, whatever
/// text the change carried: quotes, backslashes and characters outside
/// ASCII survive the append (SQLite passes the events through JSON), and
/// the log verifies.
async fn stored_bodies_keep_every_character(backend: &TestBackend) {
    let display = "Zoë \"Q\" O'Brien \\ 東京 🚀 \u{2028} <&>";
    let user = backend
        .store
        .create_user(
            &platform(),
            NewUser {
                username: Username::parse("zoe").unwrap(),
                display_name: DisplayName::parse(display).unwrap(),
                email: None,
            },
        )
        .await
        .unwrap();
    let log = platform_log();
    let head = backend.store.audit_head(&log).await.unwrap();
    let events = events_after(backend, &log, head.size() - 1).await;
    let created = events.last().unwrap();
    assert_eq!(created.resource().id(), user.id.to_string());
    assert!(String::from_utf8(created.canonical_bytes()).unwrap().contains("東京 🚀"));
    let summary =
        audit_service::verify_log(backend.store.as_ref(), &log, &signer().verifier_key()).await.unwrap();
    assert_eq!(summary.events, head.size());
}

/// Every filter, alone and with others, lists exactly the events it
/// matches, newest first, across pages: the stores build a statement per
/// combination of filters, and this compares each with the log filtered
/// here.
async fn filters_list_exactly_the_matching_events(backend: &TestBackend) {
    let store = &backend.store;
    let alice = create_user(backend, "filter-alice").await;
    let tenant = create_tenant(backend, "filtered").await;
    let scope = TenantScope::new(tenant.scope.tenant_id().clone(), user_actor(&alice));
    let log = tenant_log(&scope);
    let research = store.create_workspace(&scope, new_workspace("research", None)).await.unwrap();
    let before_rename = tenantry_core::now();
    for name in ["lab", "bench"] {
        store.create_workspace(&scope, new_workspace(name, Some(&research))).await.unwrap();
    }
    let patch =
        WorkspacePatch { name: Some(WorkspaceName::parse("research-2").unwrap()), ..Default::default() };
    store.update_workspace(&scope, &research.id, patch).await.unwrap();
    store
        .create_group(&tenant.scope, NewGroup { name: GroupName::parse("auditors").unwrap(), creator: None })
        .await
        .unwrap();
    let all = events_after(backend, &log, 0).await;
    assert!(all.len() >= 5, "{} events", all.len());

    let research_id = research.id.to_string();
    let alice_id = alice.id.to_string();
    let filters = [
        AuditFilter { action: Some("workspace.created".to_owned()), ..AuditFilter::default() },
        AuditFilter { resource_type: Some("group".to_owned()), ..AuditFilter::default() },
        AuditFilter { resource_id: Some(research_id.clone()), ..AuditFilter::default() },
        AuditFilter { workspace_id: Some(research_id.clone()), ..AuditFilter::default() },
        AuditFilter { actor_user_id: Some(alice_id.clone()), ..AuditFilter::default() },
        AuditFilter { actor_api_key_id: Some("key_none".to_owned()), ..AuditFilter::default() },
        AuditFilter { since: Some(before_rename), ..AuditFilter::default() },
        AuditFilter { until: Some(before_rename), ..AuditFilter::default() },
        AuditFilter {
            action: Some("workspace.created".to_owned()),
            actor_user_id: Some(alice_id.clone()),
            since: Some(before_rename),
            ..AuditFilter::default()
        },
        AuditFilter {
            resource_type: Some("workspace".to_owned()),
            resource_id: Some(research_id.clone()),
            workspace_id: Some(research_id),
            until: Some(tenantry_core::now()),
            ..AuditFilter::default()
        },
        AuditFilter::default(),
    ];
    for filter in filters {
        let matches = |event: &AuditEvent| {
            let equal = |wanted: &Option<String>, found: Option<&str>| {
                wanted.as_deref().is_none_or(|wanted| found == Some(wanted))
            };
            equal(&filter.action, Some(event.action()))
                && equal(&filter.resource_type, Some(event.resource().resource_type()))
                && equal(&filter.resource_id, Some(event.resource().id()))
                && equal(&filter.workspace_id, event.workspace_id())
                && equal(&filter.actor_user_id, event.actor().user_id())
                && equal(&filter.actor_api_key_id, event.actor().api_key_id())
                && filter.since.is_none_or(|since| event.occurred_at() >= since)
                && filter.until.is_none_or(|until| event.occurred_at() < until)
        };
        let expected: Vec<u64> =
            all.iter().rev().filter(|event| matches(event)).map(AuditEvent::seq).collect();
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = PageRequest { limit: tenantry_core::PageLimit::new(2).unwrap(), after };
            let found = store.list_audit_events(&log, &filter, page).await.unwrap();
            listed.extend(found.items.iter().map(|row| row.seq));
            let Some(cursor) = found.next_cursor else { break };
            after = Some(cursor.parse::<u64>().unwrap());
        }
        assert_eq!(listed, expected, "{filter:?}");
    }
}

crate::conformance::cases!(
    CASES,
    filters_list_exactly_the_matching_events,
    stored_bodies_keep_every_character,
    every_change_appends_exactly_its_events,
    a_refused_change_appends_nothing,
    concurrent_writers_keep_every_log_gap_free,
    the_database_refuses_to_change_or_delete_evidence,
    verify_names_what_an_owner_tampered_with,
    proofs_from_stored_subtrees_verify,
    a_tenant_reads_only_its_own_log,
);
