//! Conformance cases for invitations: creating, listing and reading them in
//! a tenant's scope, the invitee's cross-tenant reads, accepting (which
//! grants through the membership rules, in one revision), declining,
//! revoking, expiry, and what the schema itself refuses.

use std::sync::Arc;

use tenantry_core::relationship::membership_relationship;
use tenantry_core::{
    Invitation, InvitationAnswer, InvitationId, InvitationLifetime, InvitationStatus, Invitee, NewInvitation,
    Respondent,
};

use super::*;

fn new_invitation(resource: MembershipResource, role: Role, invitee: Invitee, by: &User) -> NewInvitation {
    NewInvitation::new(resource, role, invitee, by.id.clone(), InvitationLifetime::default_lifetime())
        .unwrap()
}

fn respondent(user: &User) -> Respondent {
    Respondent { user_id: user.id.clone(), verified_email: None }
}

fn accept() -> InvitationAnswer {
    InvitationAnswer::Accept
}

/// Every pending invitation addressed to `respondent`, page by page.
async fn pending_for(backend: &TestBackend, respondent: &Respondent, limit: u32) -> Vec<Invitation> {
    let mut listed = Vec::new();
    let mut after: Option<InvitationId> = None;
    for _ in 0..100 {
        let request = PageRequest { limit: PageLimit::new(limit).unwrap(), after };
        let page = backend
            .store
            .pending_invitations_for(&PlatformScope::invitee(), respondent, tenantry_core::now(), request)
            .await
            .unwrap();
        assert!(page.items.len() <= limit as usize);
        listed.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor.parse().unwrap()),
            None => return listed,
        }
    }
    panic!("pagination does not end");
}

/// Makes the invitation's expiry pass, as the owner, in each backend's
/// representation (SQLite stores microseconds, PostgreSQL a timestamptz).
async fn expire(backend: &TestBackend, invitation: &Invitation) {
    let past = backend.raw.past_instant_literal();
    let sql = format!(
        "UPDATE invitations SET expires_at = {past} WHERE tenant_id = {} AND id = {}",
        sql_literal(&invitation.tenant_id),
        sql_literal(&invitation.id)
    );
    assert_eq!(raw_ok(backend, &sql).await, 1);
}

/// Invitations are made without asking whether the invited user id
/// exists, read and listed (by id, in pages) in their tenant's scope only,
/// and refused for a workspace the tenant does not have.
async fn invitations_are_created_listed_and_read_in_their_tenant(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let store = &backend.store;

    let nobody = UserId::generate();
    let for_nobody = new_invitation(
        MembershipResource::Workspace(team.id.clone()),
        Role::Editor,
        Invitee::User(nobody.clone()),
        &alice,
    );
    let made = store.create_invitation(&acme.scope, for_nobody).await.unwrap();
    assert_eq!(made.tenant_id, acme.tenant.id);
    assert_eq!(made.status, InvitationStatus::Pending);
    assert_eq!(made.answered_at, None);
    assert_eq!(made.expires_at, made.created_at + chrono::Duration::days(7));
    assert_eq!(store.get_invitation(&acme.scope, &made.id).await.unwrap(), made);

    let by_email = new_invitation(
        MembershipResource::Tenant,
        Role::Member,
        Invitee::Email(Email::parse("Ada@Example.com").unwrap()),
        &alice,
    );
    let by_email = store.create_invitation(&acme.scope, by_email).await.unwrap();
    assert_eq!(store.get_invitation(&acme.scope, &by_email.id).await.unwrap(), by_email);
    for _ in 0..3 {
        let invitation = new_invitation(
            MembershipResource::Tenant,
            Role::Member,
            Invitee::User(UserId::generate()),
            &alice,
        );
        store.create_invitation(&acme.scope, invitation).await.unwrap();
    }

    // Pages of two: every invitation once, in id order.
    let mut listed: Vec<Invitation> = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest { limit: PageLimit::new(2).unwrap(), after };
        let page = store.list_invitations(&acme.scope, request).await.unwrap();
        listed.extend(page.items);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor.parse::<InvitationId>().unwrap()),
            None => break,
        }
    }
    assert_eq!(listed.len(), 5);
    assert!(listed.windows(2).all(|pair| pair[0].id < pair[1].id), "ordered by id");
    assert!(listed.contains(&made) && listed.contains(&by_email));

    // Another tenant's scope sees none of them.
    expect_not_found(store.get_invitation(&globex.scope, &made.id).await, "invitation");
    assert!(store.list_invitations(&globex.scope, PageRequest::first()).await.unwrap().items.is_empty());
    expect_not_found(
        store.revoke_invitation(&globex.scope, &made.id, tenantry_core::now()).await,
        "invitation",
    );

    // A resource the tenant does not have is not found; nothing is stored.
    let elsewhere = new_invitation(
        MembershipResource::Workspace(globex.root.id.clone()),
        Role::Member,
        Invitee::User(alice.id.clone()),
        &alice,
    );
    expect_not_found(store.create_invitation(&acme.scope, elsewhere).await, "workspace");
    assert_eq!(count(backend, "invitations", &acme.tenant.id).await, 5);
    assert_eq!(count(backend, "invitations", &globex.tenant.id).await, 0);
}

/// Accepting makes the invitee a tenant member and grants the invited
/// role, both in one new revision, and records the answer; the invitation
/// cannot be answered again and leaves the invitee's pending list.
async fn accepting_an_invitation_grants_its_role_in_one_revision(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let store = &backend.store;
    let workspace = MembershipResource::Workspace(team.id.clone());

    let invitation = new_invitation(workspace.clone(), Role::Editor, Invitee::User(bob.id.clone()), &alice);
    let invitation = store.create_invitation(&acme.scope, invitation).await.unwrap();
    let other =
        new_invitation(MembershipResource::Tenant, Role::Admin, Invitee::User(bob.id.clone()), &alice);
    let other = store.create_invitation(&globex.scope, other).await.unwrap();
    let bob_answers = respondent(&bob);

    // The invitee's cross-tenant reads: both tenants' invitations, in pages.
    let pending = pending_for(backend, &bob_answers, 1).await;
    let mut expected = vec![invitation.clone(), other.clone()];
    expected.sort_by(|left, right| left.id.cmp(&right.id));
    assert_eq!(pending, expected);
    assert!(pending_for(backend, &respondent(&alice), 10).await.is_empty());
    let found = store.find_invitation_for(&PlatformScope::invitee(), &bob_answers, &invitation.id).await;
    assert_eq!(found.unwrap(), Some(invitation.clone()));
    let not_alices = store
        .find_invitation_for(&PlatformScope::invitee(), &respondent(&alice), &invitation.id)
        .await
        .unwrap();
    assert_eq!(not_alices, None);

    let partition = tenant_partition(&acme.scope);
    let before = revision_of(backend, &partition).await;
    let at = tenantry_core::now();
    let accepted =
        store.answer_invitation(&acme.scope, &invitation.id, &bob_answers, accept(), at).await.unwrap();
    assert_eq!((accepted.status, accepted.answered_at), (InvitationStatus::Accepted, Some(at)));
    assert_eq!(store.get_invitation(&acme.scope, &invitation.id).await.unwrap(), accepted);
    assert_eq!(revision_of(backend, &partition).await, before.next(), "one revision for both roles");
    let (_, state) = partition_state(backend, &partition).await;
    for granted in [
        membership(&MembershipResource::Tenant, Member::User(bob.id.clone()), Role::Member),
        membership(&workspace, Member::User(bob.id.clone()), Role::Editor),
    ] {
        let granted = membership_relationship(&acme.tenant.id, &granted);
        assert!(state.contains_key(&granted.to_string()), "{granted} was not written");
    }

    for answer in [InvitationAnswer::Accept, InvitationAnswer::Decline] {
        expect_conflict(
            store
                .answer_invitation(&acme.scope, &invitation.id, &bob_answers, answer, tenantry_core::now())
                .await,
            ConflictCode::InvitationNotPending,
        );
    }
    expect_conflict(
        store.revoke_invitation(&acme.scope, &invitation.id, tenantry_core::now()).await,
        ConflictCode::InvitationNotPending,
    );
    assert_eq!(pending_for(backend, &bob_answers, 10).await, vec![other.clone()]);

    // A member of the tenant invited again keeps their tenant role: only
    // the invited one is written.
    let again = new_invitation(
        MembershipResource::Group(create_group(backend, &acme.scope, "ops", Some(&alice.id)).await.id),
        Role::Member,
        Invitee::User(bob.id.clone()),
        &alice,
    );
    let again = store.create_invitation(&acme.scope, again).await.unwrap();
    store
        .answer_invitation(&acme.scope, &again.id, &bob_answers, accept(), tenantry_core::now())
        .await
        .unwrap();
    let tenant_roles = list_memberships_of(backend, &acme.scope, &MembershipResource::Tenant).await;
    assert!(tenant_roles.contains(&(Member::User(bob.id.clone()), Role::Member)));
}

async fn list_memberships_of(
    backend: &TestBackend,
    scope: &TenantScope,
    resource: &MembershipResource,
) -> Vec<(Member, Role)> {
    let page = backend.store.list_memberships(scope, resource, PageRequest::first()).await.unwrap();
    page.items.iter().map(|membership| (membership.member().clone(), membership.role())).collect()
}

/// Declined, revoked and expired invitations grant nothing and cannot be
/// accepted, each with its own conflict; only pending ones are revoked,
/// and expired ones leave the invitee's list.
async fn declined_revoked_and_expired_invitations_grant_nothing(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let store = &backend.store;
    let bob_answers = respondent(&bob);
    let invite =
        || new_invitation(MembershipResource::Tenant, Role::Admin, Invitee::User(bob.id.clone()), &alice);
    let partition = tenant_partition(&acme.scope);
    let before = revision_of(backend, &partition).await;

    let declined = store.create_invitation(&acme.scope, invite()).await.unwrap();
    let at = tenantry_core::now();
    let answered =
        store.answer_invitation(&acme.scope, &declined.id, &bob_answers, InvitationAnswer::Decline, at).await;
    assert_eq!(answered.unwrap().status, InvitationStatus::Declined);
    expect_conflict(
        store
            .answer_invitation(&acme.scope, &declined.id, &bob_answers, accept(), tenantry_core::now())
            .await,
        ConflictCode::InvitationNotPending,
    );

    let revoked = store.create_invitation(&acme.scope, invite()).await.unwrap();
    let revoked = store.revoke_invitation(&acme.scope, &revoked.id, tenantry_core::now()).await.unwrap();
    assert_eq!(revoked.status, InvitationStatus::Revoked);
    assert_eq!(store.get_invitation(&acme.scope, &revoked.id).await.unwrap(), revoked);
    expect_conflict(
        store.revoke_invitation(&acme.scope, &revoked.id, tenantry_core::now()).await,
        ConflictCode::InvitationNotPending,
    );
    expect_conflict(
        store.answer_invitation(&acme.scope, &revoked.id, &bob_answers, accept(), tenantry_core::now()).await,
        ConflictCode::InvitationNotPending,
    );

    let expired = store.create_invitation(&acme.scope, invite()).await.unwrap();
    assert_eq!(pending_for(backend, &bob_answers, 10).await, vec![expired.clone()]);
    expire(backend, &expired).await;
    let now = tenantry_core::now();
    assert_eq!(
        store.get_invitation(&acme.scope, &expired.id).await.unwrap().status_at(now),
        InvitationStatus::Expired
    );
    assert!(pending_for(backend, &bob_answers, 10).await.is_empty(), "expired invitations are not pending");
    expect_conflict(
        store.answer_invitation(&acme.scope, &expired.id, &bob_answers, accept(), now).await,
        ConflictCode::InvitationExpired,
    );
    expect_conflict(
        store.revoke_invitation(&acme.scope, &expired.id, now).await,
        ConflictCode::InvitationExpired,
    );

    assert_eq!(revision_of(backend, &partition).await, before, "nothing was granted");
    assert!(list_memberships_of(backend, &acme.scope, &MembershipResource::Tenant).await.is_empty());
}

/// An invitation is answered only by its invitee: by user id, or by
/// whoever shows the invited address verified (compared without case). To
/// anyone else it does not exist.
async fn invitations_are_answered_only_by_their_invitee(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let ada = create_user(backend, "ada").await;
    let mallory = create_user(backend, "mallory").await;
    let acme = create_tenant(backend, "acme").await;
    let store = &backend.store;
    let address = Email::parse("ada@example.com").unwrap();

    let by_id =
        new_invitation(MembershipResource::Tenant, Role::Member, Invitee::User(ada.id.clone()), &alice);
    let by_id = store.create_invitation(&acme.scope, by_id).await.unwrap();
    let by_email =
        new_invitation(MembershipResource::Tenant, Role::Member, Invitee::Email(address.clone()), &alice);
    let by_email = store.create_invitation(&acme.scope, by_email).await.unwrap();

    let unverified = respondent(&mallory);
    let verified_mallory = Respondent {
        user_id: mallory.id.clone(),
        verified_email: Some(Email::parse("ADA@example.COM").unwrap()),
    };
    for invitation in [&by_id, &by_email] {
        expect_not_found(
            store
                .answer_invitation(&acme.scope, &invitation.id, &unverified, accept(), tenantry_core::now())
                .await,
            "invitation",
        );
    }
    assert!(pending_for(backend, &unverified, 10).await.is_empty());
    assert_eq!(pending_for(backend, &respondent(&ada), 10).await, vec![by_id.clone()]);
    // Whoever the issuer vouches for the address is the invitee, under any case.
    assert_eq!(pending_for(backend, &verified_mallory, 10).await, vec![by_email.clone()]);
    let found = store.find_invitation_for(&PlatformScope::invitee(), &verified_mallory, &by_email.id).await;
    assert_eq!(found.unwrap(), Some(by_email.clone()));
    let accepted = store
        .answer_invitation(&acme.scope, &by_email.id, &verified_mallory, accept(), tenantry_core::now())
        .await
        .unwrap();
    assert_eq!(accepted.status, InvitationStatus::Accepted);
    assert_eq!(
        list_memberships_of(backend, &acme.scope, &MembershipResource::Tenant).await,
        vec![(Member::User(mallory.id.clone()), Role::Member)]
    );
    assert_eq!(store.get_invitation(&acme.scope, &by_id.id).await.unwrap(), by_id, "untouched");
}

/// The schema keeps invitations in their tenant: `tenant_id` cannot
/// change, a workspace of another tenant cannot be referenced, deleting
/// the workspace or group deletes its invitations, and deleting the tenant
/// deletes them all.
async fn database_guards_the_invitations_table(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let ops = create_group(backend, &acme.scope, "ops", None).await;
    let store = &backend.store;
    let invite = |resource| new_invitation(resource, Role::Member, Invitee::User(UserId::generate()), &alice);
    let on_team = store
        .create_invitation(&acme.scope, invite(MembershipResource::Workspace(team.id.clone())))
        .await
        .unwrap();
    let on_ops = store
        .create_invitation(&acme.scope, invite(MembershipResource::Group(ops.id.clone())))
        .await
        .unwrap();
    let on_tenant = store.create_invitation(&acme.scope, invite(MembershipResource::Tenant)).await.unwrap();
    let where_on_tenant =
        format!("WHERE tenant_id = {} AND id = {}", sql_literal(&acme.tenant.id), sql_literal(&on_tenant.id));

    // Positive control: another column changes; then tenant_id does not.
    assert_eq!(raw_ok(backend, &format!("UPDATE invitations SET role = 'admin' {where_on_tenant}")).await, 1);
    let steal =
        format!("UPDATE invitations SET tenant_id = {} {where_on_tenant}", sql_literal(&globex.tenant.id));
    expect_trigger_refusal(raw(backend, &steal).await);
    assert_eq!(count(backend, "invitations", &globex.tenant.id).await, 0);

    // A workspace reference is (tenant_id, workspace_id): acme's invitation
    // cannot point at globex's root; its own workspace is fine.
    let point = |workspace_id: &WorkspaceId| {
        format!(
            "UPDATE invitations SET resource_type = 'workspace', workspace_id = {} {where_on_tenant}",
            sql_literal(workspace_id)
        )
    };
    expect_violation(
        backend,
        raw(backend, &point(&globex.root.id)).await,
        Violation::ForeignKey,
        Some("invitations_workspace_fkey"),
    );
    assert_eq!(raw_ok(backend, &point(&acme.root.id)).await, 1);
    // The checks: a workspace invitation names its workspace, and an
    // invitee is a user id or an address, not both.
    let no_workspace = format!("UPDATE invitations SET workspace_id = NULL {where_on_tenant}");
    expect_violation(
        backend,
        raw(backend, &no_workspace).await,
        Violation::Check,
        Some("invitations_resource_check"),
    );
    let both = format!(
        "UPDATE invitations SET invitee_email = 'a@b.c', invitee_email_key = 'a@b.c' {where_on_tenant}"
    );
    expect_violation(backend, raw(backend, &both).await, Violation::Check, Some("invitations_invitee_check"));
    let unknown_status =
        format!("UPDATE invitations SET status = 'lapsed', answered_at = created_at {where_on_tenant}");
    expect_violation(
        backend,
        raw(backend, &unknown_status).await,
        Violation::Check,
        Some("invitations_status_check"),
    );

    // One pending invitation per invitee and resource: a second, written
    // by hand, is refused; once the first is no longer pending, it is not.
    let copy_of_on_tenant = |id: &str, status: &str, answered_at: &str| {
        format!(
            "INSERT INTO invitations (tenant_id, id, resource_type, workspace_id, group_id, role, \
                 invitee_user_id, invitee_email, invitee_email_key, invited_by, status, created_at, expires_at, \
                 answered_at) \
             SELECT tenant_id, {}, resource_type, workspace_id, group_id, role, invitee_user_id, \
                 invitee_email, invitee_email_key, invited_by, {}, created_at, expires_at, {answered_at} \
             FROM invitations {where_on_tenant}",
            sql_literal(id),
            sql_literal(status)
        )
    };
    let on_tenant_now = store.get_invitation(&acme.scope, &on_tenant.id).await.unwrap();
    assert_eq!(on_tenant_now.status, InvitationStatus::Pending);
    let answered_copy = InvitationId::generate().to_string();
    assert_eq!(raw_ok(backend, &copy_of_on_tenant(&answered_copy, "declined", "created_at")).await, 1);
    expect_violation(
        backend,
        raw(backend, &copy_of_on_tenant(&InvitationId::generate().to_string(), "pending", "NULL")).await,
        Violation::Unique,
        Some("invitations_one_pending_per_invitee"),
    );
    // The same for an address, compared as stored in `invitee_email_key`.
    let by_email = new_invitation(
        MembershipResource::Tenant,
        Role::Member,
        Invitee::Email(Email::parse("Ada@Example.com").unwrap()),
        &alice,
    );
    let by_email = store.create_invitation(&acme.scope, by_email).await.unwrap();
    let same_address = format!(
        "INSERT INTO invitations (tenant_id, id, resource_type, workspace_id, group_id, role, \
             invitee_user_id, invitee_email, invitee_email_key, invited_by, status, created_at, expires_at) \
         SELECT tenant_id, {}, resource_type, workspace_id, group_id, role, NULL, 'ADA@example.com', \
             invitee_email_key, invited_by, 'pending', created_at, expires_at \
         FROM invitations WHERE tenant_id = {} AND id = {}",
        sql_literal(InvitationId::generate()),
        sql_literal(&acme.tenant.id),
        sql_literal(&by_email.id)
    );
    expect_violation(
        backend,
        raw(backend, &same_address).await,
        Violation::Unique,
        Some("invitations_one_pending_per_invitee"),
    );
    store.revoke_invitation(&acme.scope, &by_email.id, tenantry_core::now()).await.unwrap();
    assert_eq!(raw_ok(backend, &same_address).await, 1, "positive control: the first is revoked");
    let cleanup = format!(
        "DELETE FROM invitations WHERE tenant_id = {} AND (invitee_email_key IS NOT NULL OR id = {})",
        sql_literal(&acme.tenant.id),
        sql_literal(&answered_copy)
    );
    assert_eq!(raw_ok(backend, &cleanup).await, 3);

    store.delete_workspace(&acme.scope, &team.id).await.unwrap();
    expect_not_found(store.get_invitation(&acme.scope, &on_team.id).await, "invitation");
    store.delete_group(&acme.scope, &ops.id).await.unwrap();
    expect_not_found(store.get_invitation(&acme.scope, &on_ops.id).await, "invitation");
    assert_eq!(count(backend, "invitations", &acme.tenant.id).await, 1);

    store.delete_tenant(&platform(), &acme.tenant.id).await.unwrap();
    assert_eq!(count(backend, "invitations", &acme.tenant.id).await, 0);
}

/// An accept racing a revocation, and two accepts racing each other: one
/// wins, the other is refused as no longer pending, and what is stored
/// agrees with the winner (roles exactly when it was accepted).
async fn concurrent_answers_to_one_invitation_let_exactly_one_win(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let bob_answers = respondent(&bob);
    for round in 0..4 {
        let team = create_workspace(backend, &acme.scope, &format!("team-{round}"), None).await;
        let on_team = MembershipResource::Workspace(team.id.clone());
        let invitation = new_invitation(on_team.clone(), Role::Editor, Invitee::User(bob.id.clone()), &alice);
        let invitation = backend.store.create_invitation(&acme.scope, invitation).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = JoinSet::new();
        for racer in 0..2 {
            let (store, scope, invitation_id, respondent) =
                (backend.store.clone(), acme.scope.clone(), invitation.id.clone(), bob_answers.clone());
            let barrier = Arc::clone(&barrier);
            // Even rounds race two accepts; odd rounds an accept and a revocation.
            let revokes = round % 2 == 1 && racer == 1;
            tasks.spawn(async move {
                barrier.wait().await;
                let at = tenantry_core::now();
                if revokes {
                    store.revoke_invitation(&scope, &invitation_id, at).await
                } else {
                    store
                        .answer_invitation(&scope, &invitation_id, &respondent, InvitationAnswer::Accept, at)
                        .await
                }
            });
        }
        let outcomes = tasks.join_all().await;
        let winners: Vec<&Invitation> = outcomes.iter().filter_map(|outcome| outcome.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let winner_status = winners[0].status;
        for outcome in outcomes.into_iter().filter(Result::is_err) {
            expect_conflict(outcome, ConflictCode::InvitationNotPending);
        }
        let stored = backend.store.get_invitation(&acme.scope, &invitation.id).await.unwrap();
        assert_eq!(stored.status, winner_status, "round {round}");
        let roles = list_memberships_of(backend, &acme.scope, &on_team).await;
        let bob_is_editor = roles.contains(&(Member::User(bob.id.clone()), Role::Editor));
        assert_eq!(bob_is_editor, winner_status == InvitationStatus::Accepted, "round {round}: {roles:?}");
    }
}

fn status_patch(status: TenantStatus) -> TenantPatch {
    TenantPatch { status: Some(status), ..TenantPatch::default() }
}

#[track_caller]
fn expect_tenant_inactive<T: Debug>(result: Result<T, Error>, expected: TenantStatus) {
    match result {
        Err(Error::TenantInactive { status }) if status == expected => {}
        other => panic!("expected Err(TenantInactive {{ status: {expected:?} }}), got {other:?}"),
    }
}

/// An invitation of a tenant that is not active cannot be accepted: the
/// store reads the tenant's status inside the answer's transaction and
/// refuses, granting nothing and leaving the invitation pending. Declining
/// grants nothing, so it is allowed; once the tenant is active again, the
/// invitation is accepted as usual.
async fn accepting_into_an_inactive_tenant_is_refused_and_declining_is_not(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let store = &backend.store;
    let bob_answers = respondent(&bob);
    let partition = tenant_partition(&acme.scope);

    for status in [TenantStatus::Suspended, TenantStatus::Disabled, TenantStatus::Archived] {
        let on_team = MembershipResource::Workspace(team.id.clone());
        let to_accept = new_invitation(on_team, Role::Editor, Invitee::User(bob.id.clone()), &alice);
        let to_accept = store.create_invitation(&acme.scope, to_accept).await.unwrap();
        let to_decline =
            new_invitation(MembershipResource::Tenant, Role::Admin, Invitee::User(bob.id.clone()), &alice);
        let to_decline = store.create_invitation(&acme.scope, to_decline).await.unwrap();
        store.update_tenant(&acme.scope, status_patch(status)).await.unwrap();
        let before = partition_state(backend, &partition).await;

        expect_tenant_inactive(
            store
                .answer_invitation(&acme.scope, &to_accept.id, &bob_answers, accept(), tenantry_core::now())
                .await,
            status,
        );
        assert_eq!(partition_state(backend, &partition).await, before, "{status}: nothing was granted");
        assert_eq!(
            store.get_invitation(&acme.scope, &to_accept.id).await.unwrap(),
            to_accept,
            "still pending"
        );

        let declined = store
            .answer_invitation(
                &acme.scope,
                &to_decline.id,
                &bob_answers,
                InvitationAnswer::Decline,
                tenantry_core::now(),
            )
            .await
            .unwrap();
        assert_eq!(declined.status, InvitationStatus::Declined, "{status}");
        assert_eq!(partition_state(backend, &partition).await, before, "{status}: declining grants nothing");

        store.update_tenant(&acme.scope, status_patch(TenantStatus::Active)).await.unwrap();
        let accepted = store
            .answer_invitation(&acme.scope, &to_accept.id, &bob_answers, accept(), tenantry_core::now())
            .await
            .unwrap();
        assert_eq!(accepted.status, InvitationStatus::Accepted, "{status}");
        store
            .remove_membership(
                &acme.scope,
                &MembershipResource::Workspace(team.id.clone()),
                &Member::User(bob.id.clone()),
            )
            .await
            .unwrap();
    }
}

/// A suspension racing an accept: either the accept committed first (its
/// roles are at a revision below the suspension's) or it is refused. An
/// accept that read the tenant's status before a suspension committed and
/// granted after it would put the roles above the suspension's revision.
async fn an_accept_racing_a_suspension_never_grants_after_it(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let partition = tenant_partition(&acme.scope);
    let bob_answers = respondent(&bob);
    let mut outcomes_seen = BTreeSet::new();
    for round in 0..6 {
        let team = create_workspace(backend, &acme.scope, &format!("team-{round}"), None).await;
        let on_team = MembershipResource::Workspace(team.id.clone());
        let invitation = new_invitation(on_team.clone(), Role::Editor, Invitee::User(bob.id.clone()), &alice);
        let invitation = backend.store.create_invitation(&acme.scope, invitation).await.unwrap();
        let before = revision_of(backend, &partition).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let accepting = {
            let (store, scope, invitation_id, respondent) =
                (backend.store.clone(), acme.scope.clone(), invitation.id.clone(), bob_answers.clone());
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .answer_invitation(&scope, &invitation_id, &respondent, accept(), tenantry_core::now())
                    .await
            })
        };
        let suspending = {
            let (store, scope) = (backend.store.clone(), acme.scope.clone());
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.update_tenant(&scope, status_patch(TenantStatus::Suspended)).await
            })
        };
        let accepted = accepting.await.unwrap();
        suspending.await.unwrap().unwrap();
        let suspended_at =
            backend.store.relationship_snapshot(&partition).await.unwrap().credentials_revision;
        let grant = membership_relationship(
            &acme.tenant.id,
            &membership(&on_team, Member::User(bob.id.clone()), Role::Editor),
        )
        .to_string();
        let latest = revision_of(backend, &partition).await;
        let granted_at = {
            // The first revision after which the grant is no longer among
            // the changes that follow: the revision that made it.
            let names_grant = |change: &Change| match change {
                Change::Touch(touched) => touched.to_string() == grant,
                Change::Delete(_) => false,
            };
            let mut revision = before;
            let mut found = None;
            while revision <= latest {
                let (_, changes) = changes_after(backend, &partition, revision).await;
                if !changes.iter().any(names_grant) {
                    found = Some(revision);
                    break;
                }
                revision = revision.next();
            }
            found
        };
        match accepted {
            Ok(accepted) => {
                assert_eq!(accepted.status, InvitationStatus::Accepted);
                let granted_at = granted_at.unwrap_or_else(|| panic!("round {round}: the grant is logged"));
                assert!(
                    granted_at > before && granted_at < suspended_at,
                    "round {round}: granted at {granted_at}, suspended at {suspended_at}"
                );
                outcomes_seen.insert("accepted");
            }
            Err(error) => {
                expect_tenant_inactive(Err::<(), _>(error), TenantStatus::Suspended);
                let roles = list_memberships_of(backend, &acme.scope, &on_team).await;
                assert!(!roles.contains(&(Member::User(bob.id.clone()), Role::Editor)), "round {round}");
                outcomes_seen.insert("refused");
            }
        }
        backend.store.update_tenant(&acme.scope, status_patch(TenantStatus::Active)).await.unwrap();
    }
    println!("outcomes seen: {outcomes_seen:?}");
}

/// Inviting the same invitee (the same user id, or the same address under
/// any case) to the same resource while a pending invitation stands makes
/// nothing new: the same role is answered with the pending invitation,
/// unchanged; another role is a conflict naming it. Another resource, or
/// an invitation that was answered, revoked or has expired, leaves room
/// for a new one; an expired one is then stored as expired. None of it
/// depends on whether the invited user id belongs to anyone.
async fn inviting_again_answers_with_the_pending_invitation(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let store = &backend.store;
    let on_team = MembershipResource::Workspace(team.id.clone());

    for invitee in [Invitee::User(bob.id.clone()), Invitee::User(UserId::generate())] {
        let first = new_invitation(on_team.clone(), Role::Editor, invitee.clone(), &alice);
        let first = store.create_invitation(&acme.scope, first).await.unwrap();
        let longer = NewInvitation::new(
            on_team.clone(),
            Role::Editor,
            invitee.clone(),
            bob.id.clone(),
            InvitationLifetime::from_days(30).unwrap(),
        )
        .unwrap();
        let again = store.create_invitation(&acme.scope, longer).await.unwrap();
        assert_eq!(again, first, "the same role: the pending invitation, unchanged");
        match store
            .create_invitation(
                &acme.scope,
                new_invitation(on_team.clone(), Role::Admin, invitee.clone(), &alice),
            )
            .await
        {
            Err(Error::Conflict { code: ConflictCode::InvitationPending, detail: Some(detail) }) => {
                assert!(detail.contains(&first.id.to_string()), "names the pending invitation: {detail}");
            }
            other => panic!("expected invitation_pending, got {other:?}"),
        }
        assert_eq!(store.get_invitation(&acme.scope, &first.id).await.unwrap(), first, "untouched");

        // Another resource, or another tenant, is another invitation.
        let on_tenant = new_invitation(MembershipResource::Tenant, Role::Admin, invitee.clone(), &alice);
        assert_ne!(store.create_invitation(&acme.scope, on_tenant.clone()).await.unwrap().id, first.id);
        assert_ne!(store.create_invitation(&globex.scope, on_tenant).await.unwrap().id, first.id);

        // Revoked: room for a new one, with any role.
        store.revoke_invitation(&acme.scope, &first.id, tenantry_core::now()).await.unwrap();
        let second = new_invitation(on_team.clone(), Role::Admin, invitee.clone(), &alice);
        let second = store.create_invitation(&acme.scope, second).await.unwrap();
        assert_ne!(second.id, first.id);
        assert_eq!((second.status, second.role), (InvitationStatus::Pending, Role::Admin));

        // Expired: stored as expired, at its expiry, when the next takes its place.
        expire(backend, &second).await;
        let second = store.get_invitation(&acme.scope, &second.id).await.unwrap();
        let third = new_invitation(on_team.clone(), Role::Member, invitee.clone(), &alice);
        let third = store.create_invitation(&acme.scope, third).await.unwrap();
        assert_ne!(third.id, second.id);
        let stored_second = store.get_invitation(&acme.scope, &second.id).await.unwrap();
        assert_eq!(stored_second, second.clone().expired());
        assert_eq!(
            (stored_second.status, stored_second.answered_at),
            (InvitationStatus::Expired, Some(second.expires_at))
        );
        expect_conflict(
            store.revoke_invitation(&acme.scope, &second.id, tenantry_core::now()).await,
            ConflictCode::InvitationExpired,
        );
        store.revoke_invitation(&acme.scope, &third.id, tenantry_core::now()).await.unwrap();
    }

    // Answered: room for a new one.
    let invited = new_invitation(on_team.clone(), Role::Editor, Invitee::User(bob.id.clone()), &alice);
    let invited = store.create_invitation(&acme.scope, invited).await.unwrap();
    store
        .answer_invitation(
            &acme.scope,
            &invited.id,
            &respondent(&bob),
            InvitationAnswer::Decline,
            tenantry_core::now(),
        )
        .await
        .unwrap();
    let after_decline = new_invitation(on_team.clone(), Role::Editor, Invitee::User(bob.id.clone()), &alice);
    assert_ne!(store.create_invitation(&acme.scope, after_decline).await.unwrap().id, invited.id);

    // An address is the same invitee under any case, and never a user id.
    let by_email = |address: &str, role| {
        new_invitation(
            MembershipResource::Tenant,
            role,
            Invitee::Email(Email::parse(address).unwrap()),
            &alice,
        )
    };
    let lower =
        store.create_invitation(&acme.scope, by_email("ada@example.com", Role::Member)).await.unwrap();
    let upper =
        store.create_invitation(&acme.scope, by_email("ADA@Example.COM", Role::Member)).await.unwrap();
    assert_eq!(upper, lower);
    expect_conflict(
        store.create_invitation(&acme.scope, by_email("Ada@example.com", Role::Admin)).await,
        ConflictCode::InvitationPending,
    );
    let pending = scalar(
        backend,
        &format!(
            "SELECT count(*) FROM invitations WHERE tenant_id = {} AND status = 'pending'",
            sql_literal(&acme.tenant.id)
        ),
    )
    .await;
    // bob's and the made-up id's on the tenant, bob's on the team after
    // his decline, and ada's.
    assert_eq!(pending, 4);
}

/// Concurrent identical invitations make one: every caller gets the same
/// pending invitation back, none an error, and one row is stored.
async fn concurrent_identical_invitations_make_one(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    for round in 0..4 {
        let invitee = Invitee::User(UserId::generate());
        let racers = 4;
        let barrier = Arc::new(tokio::sync::Barrier::new(racers));
        let mut tasks = JoinSet::new();
        for _ in 0..racers {
            let (store, scope, barrier) = (backend.store.clone(), acme.scope.clone(), Arc::clone(&barrier));
            let invitation = new_invitation(
                MembershipResource::Workspace(team.id.clone()),
                Role::Editor,
                invitee.clone(),
                &alice,
            );
            tasks.spawn(async move {
                barrier.wait().await;
                store.create_invitation(&scope, invitation).await
            });
        }
        let outcomes = tasks.join_all().await;
        let made: BTreeSet<InvitationId> = outcomes
            .iter()
            .map(|outcome| {
                outcome.as_ref().unwrap_or_else(|error| panic!("round {round}: {error}")).id.clone()
            })
            .collect();
        assert_eq!(made.len(), 1, "round {round}: {outcomes:?}");
    }
    assert_eq!(count(backend, "invitations", &acme.tenant.id).await, 4);
}

/// Stores pending invitations of the tenant as the owner, copies of
/// `model` with ids and invitees of their own, so that a case can reach
/// the limit without making a thousand invitations one by one.
pub async fn fill_pending_invitations(backend: &TestBackend, model: &Invitation, how_many: u32) {
    assert!(how_many < 100_000, "five digits number the copies");
    // SQL both backends read alike: a recursive count, and the number in
    // five digits (the last five characters of 100000 + n).
    let numbers = format!(
        "WITH RECURSIVE numbers (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < {how_many}) \
         SELECT n FROM numbers"
    );
    let number_text = "substr(CAST(100000 + n AS TEXT), 2)";
    let sql = format!(
        "INSERT INTO invitations (tenant_id, id, resource_type, workspace_id, group_id, role, \
             invitee_user_id, invitee_email, invitee_email_key, invited_by, status, created_at, expires_at) \
         SELECT tenant_id, substr(id, 1, length(id) - 5) || {number_text}, resource_type, workspace_id, \
             group_id, role, 'usr_01J00000000000000000' || {number_text}, NULL, NULL, invited_by, status, \
             created_at, expires_at \
         FROM invitations, ({numbers}) AS counter \
         WHERE tenant_id = {} AND id = {}",
        sql_literal(&model.tenant_id),
        sql_literal(&model.id)
    );
    assert_eq!(raw_ok(backend, &sql).await, u64::from(how_many));
}

/// A tenant has at most `--max-pending-invitations` pending, unexpired
/// invitations: one more is refused inside the invitation's transaction,
/// while answered, revoked and expired ones do not count, another tenant is
/// unaffected, and inviting someone already invited is still answered.
async fn pending_invitations_per_tenant_are_limited(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let store = &backend.store;
    let limit = StoreLimits::defaults().max_pending_invitations.get();
    let invite = || {
        new_invitation(MembershipResource::Tenant, Role::Member, Invitee::User(UserId::generate()), &alice)
    };

    // Invitations that do not count: declined, revoked, expired.
    let declined = store.create_invitation(&acme.scope, invite()).await.unwrap();
    raw_ok(
        backend,
        &format!(
            "UPDATE invitations SET status = 'declined', answered_at = created_at WHERE tenant_id = {} AND id = {}",
            sql_literal(&acme.tenant.id),
            sql_literal(&declined.id)
        ),
    )
    .await;
    let revoked = store.create_invitation(&acme.scope, invite()).await.unwrap();
    store.revoke_invitation(&acme.scope, &revoked.id, tenantry_core::now()).await.unwrap();
    let expired = store.create_invitation(&acme.scope, invite()).await.unwrap();
    expire(backend, &expired).await;

    let model = store.create_invitation(&acme.scope, invite()).await.unwrap();
    fill_pending_invitations(backend, &model, limit - 2).await;
    // limit - 1 pending: one more fits, and then none.
    let last = store.create_invitation(&acme.scope, invite()).await.unwrap();
    match store.create_invitation(&acme.scope, invite()).await {
        Err(Error::LimitExceeded { code: LimitCode::TooManyPendingInvitations, detail }) => {
            assert!(detail.contains(&limit.to_string()), "{detail}");
        }
        other => panic!("expected too_many_pending_invitations, got {other:?}"),
    }
    let pending = format!(
        "SELECT count(*) FROM invitations WHERE tenant_id = {} AND status = 'pending'",
        sql_literal(&acme.tenant.id)
    );
    assert_eq!(scalar(backend, &pending).await, i64::from(limit) + 1, "the limit and the expired one");

    // Inviting someone already invited is answered, not refused.
    let again = NewInvitation::new(
        last.resource.clone(),
        last.role,
        last.invitee.clone(),
        alice.id.clone(),
        InvitationLifetime::default_lifetime(),
    )
    .unwrap();
    assert_eq!(store.create_invitation(&acme.scope, again).await.unwrap(), last);
    // Another tenant is not limited by this one.
    store.create_invitation(&globex.scope, invite()).await.unwrap();
    // A revocation makes room again.
    store.revoke_invitation(&acme.scope, &last.id, tenantry_core::now()).await.unwrap();
    store.create_invitation(&acme.scope, invite()).await.unwrap();
    expect_limit(store.create_invitation(&acme.scope, invite()).await, LimitCode::TooManyPendingInvitations);
}

/// Concurrent invitations at the limit cannot exceed it together: of two
/// racing for the last place, one is refused.
async fn concurrent_invitations_cannot_exceed_the_limit_together(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let limit = StoreLimits::defaults().max_pending_invitations.get();
    let invite = || {
        new_invitation(MembershipResource::Tenant, Role::Member, Invitee::User(UserId::generate()), &alice)
    };
    let model = backend.store.create_invitation(&acme.scope, invite()).await.unwrap();
    fill_pending_invitations(backend, &model, limit - 2).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut tasks = JoinSet::new();
    for _ in 0..2 {
        let (store, scope, barrier, invitation) =
            (backend.store.clone(), acme.scope.clone(), Arc::clone(&barrier), invite());
        tasks.spawn(async move {
            barrier.wait().await;
            store.create_invitation(&scope, invitation).await
        });
    }
    let outcomes = tasks.join_all().await;
    assert_eq!(outcomes.iter().filter(|outcome| outcome.is_ok()).count(), 1, "{outcomes:?}");
    for outcome in outcomes.into_iter().filter(Result::is_err) {
        expect_limit(outcome, LimitCode::TooManyPendingInvitations);
    }
    assert_eq!(count(backend, "invitations", &acme.tenant.id).await, i64::from(limit));
}

// The cases of this module, registered: a case left out is dead code,
// which the lints refuse.
crate::conformance::cases!(
    CASES,
    invitations_are_created_listed_and_read_in_their_tenant,
    accepting_an_invitation_grants_its_role_in_one_revision,
    declined_revoked_and_expired_invitations_grant_nothing,
    invitations_are_answered_only_by_their_invitee,
    database_guards_the_invitations_table,
    concurrent_answers_to_one_invitation_let_exactly_one_win,
    accepting_into_an_inactive_tenant_is_refused_and_declining_is_not,
    an_accept_racing_a_suspension_never_grants_after_it,
    inviting_again_answers_with_the_pending_invitation,
    concurrent_identical_invitations_make_one,
    pending_invitations_per_tenant_are_limited,
    concurrent_invitations_cannot_exceed_the_limit_together,
);
