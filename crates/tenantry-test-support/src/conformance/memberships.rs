//! Conformance cases for groups and memberships: CRUD, one role per member
//! per resource, the last admin, lists, and what deleting a group removes.

use std::sync::Arc;

use tenantry_core::relationship::{membership_relationship, new_group_relationships};
use tenantry_core::{GroupId, GroupPatch};
use tokio::sync::Barrier;

use super::*;

fn user(user: &User) -> Member {
    Member::User(user.id.clone())
}

/// The member's role relationships on a resource, counted as the owner
/// sees them: one role per member per resource means at most one.
async fn stored_roles(
    backend: &TestBackend,
    scope: &TenantScope,
    resource: &MembershipResource,
    member: &Member,
) -> i64 {
    let object = tenantry_core::relationship::membership_object(scope.tenant_id(), resource);
    let subject = tenantry_core::relationship::member_subject(member);
    let sql = format!(
        "SELECT count(*) FROM relationships WHERE tenant_id = {} AND resource_type = {} AND resource_id = {} \
         AND relation IN ('admin', 'editor', 'member') AND subject_type = {} AND subject_id = {} \
         AND subject_relation = {}",
        sql_literal(scope.tenant_id()),
        sql_literal(object.object_type()),
        sql_literal(object.id()),
        sql_literal(subject.object_ref().object_type()),
        sql_literal(subject.object_ref().id()),
        sql_literal(subject.relation().unwrap_or("")),
    );
    scalar(backend, &sql).await
}

/// Every page of a resource's members.
async fn list_members(
    backend: &TestBackend,
    scope: &TenantScope,
    resource: &MembershipResource,
    limit: u32,
) -> Vec<Membership> {
    let mut listed = Vec::new();
    let mut after = None;
    for _ in 0..100 {
        let request = PageRequest { limit: PageLimit::new(limit).unwrap(), after };
        let page = backend.store.list_memberships(scope, resource, request).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        listed.extend(page.items);
        match page.next_cursor {
            Some(cursor) => {
                let last = listed.last().map(|membership: &Membership| membership.member().to_string());
                assert_eq!(Some(&cursor), last.as_ref(), "the cursor is the last member");
                after = Some(cursor.parse::<Member>().unwrap());
            }
            None => return listed,
        }
    }
    panic!("pagination does not end");
}

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

/// Groups are created (with their relationships), read, listed, renamed and
/// deleted; names are unique within a tenant, on create and on rename.
async fn groups_are_managed_with_unique_names(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let store = &backend.store;

    let editors = create_group(backend, &acme.scope, "editors", Some(&alice.id)).await;
    assert_eq!((editors.tenant_id.clone(), editors.name.as_str()), (acme.tenant.id.clone(), "editors"));
    assert_eq!(store.get_group(&acme.scope, &editors.id).await.unwrap(), editors);
    let (_, state) = partition_state(backend, &tenant_partition(&acme.scope)).await;
    for written in new_group_relationships(&editors, Some(&alice.id)) {
        assert!(state.contains_key(&written.to_string()), "{written} was not written");
    }
    let owners = create_group(backend, &acme.scope, "owners", None).await;
    assert_eq!(
        list_members(backend, &acme.scope, &MembershipResource::Group(owners.id.clone()), 10).await,
        Vec::new(),
        "a group made from the CLI has no admin"
    );

    let duplicate = NewGroup { name: GroupName::parse("editors").unwrap(), creator: None };
    expect_conflict(
        store.create_group(&acme.scope, duplicate.clone()).await,
        ConflictCode::DuplicateGroupName,
    );
    let other_tenants = store.create_group(&globex.scope, duplicate).await.unwrap();
    assert_eq!(other_tenants.tenant_id, globex.tenant.id);
    let take_editors = GroupPatch { name: Some(GroupName::parse("editors").unwrap()) };
    expect_conflict(
        store.update_group(&acme.scope, &owners.id, take_editors).await,
        ConflictCode::DuplicateGroupName,
    );
    assert_eq!(store.get_group(&acme.scope, &owners.id).await.unwrap(), owners);

    let_the_clock_tick().await;
    let rename = GroupPatch { name: Some(GroupName::parse("admins").unwrap()) };
    let admins = store.update_group(&acme.scope, &owners.id, rename).await.unwrap();
    assert_eq!(admins.name.as_str(), "admins");
    assert_eq!(admins.created_at, owners.created_at);
    assert!(admins.updated_at > owners.updated_at);
    assert_eq!(store.get_group(&acme.scope, &owners.id).await.unwrap(), admins);
    create_group(backend, &acme.scope, "owners", None).await;

    let mut expected: Vec<Group> = store.list_groups(&acme.scope, PageRequest::first()).await.unwrap().items;
    assert_eq!(expected.len(), 3);
    assert!(expected.windows(2).all(|pair| pair[0].id < pair[1].id), "ordered by id");
    let one = PageLimit::new(1).unwrap();
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_groups(&acme.scope, PageRequest { limit: one, after }).await.unwrap();
        listed.extend(page.items);
        let Some(cursor) = page.next_cursor else { break };
        after = Some(GroupId::parse(&cursor).unwrap());
    }
    assert_eq!(listed, expected);

    let unknown = GroupId::generate();
    expect_not_found(store.get_group(&acme.scope, &unknown).await, "group");
    expect_not_found(store.get_group(&globex.scope, &editors.id).await, "group");
    let rename = GroupPatch { name: Some(GroupName::parse("stolen").unwrap()) };
    expect_not_found(store.update_group(&globex.scope, &editors.id, rename).await, "group");
    expect_not_found(store.delete_group(&globex.scope, &editors.id).await, "group");
    expect_not_found(store.delete_group(&acme.scope, &unknown).await, "group");
    store.delete_group(&acme.scope, &editors.id).await.unwrap();
    expect_not_found(store.get_group(&acme.scope, &editors.id).await, "group");
    expected.retain(|group| group.id != editors.id);
    assert_eq!(store.list_groups(&acme.scope, PageRequest::first()).await.unwrap().items, expected);
    assert_eq!(count(backend, "groups", &globex.tenant.id).await, 1);
}

/// Deleting a group deletes every relationship naming it, its own and the
/// roles it holds elsewhere, in one logged revision; other groups' and
/// resources' relationships stay.
async fn deleting_a_group_removes_every_relationship_naming_it(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let doomed = create_group(backend, &acme.scope, "doomed", Some(&alice.id)).await;
    let nested = create_group(backend, &acme.scope, "nested", Some(&alice.id)).await;
    let outer = create_group(backend, &acme.scope, "outer", Some(&alice.id)).await;
    let store = &backend.store;
    let on = |resource: MembershipResource, member: Member, role: Role| membership(&resource, member, role);
    let kept = [
        on(MembershipResource::Group(nested.id.clone()), user(&bob), Role::Member),
        on(MembershipResource::Workspace(team.id.clone()), user(&bob), Role::Editor),
    ];
    let naming = [
        on(MembershipResource::Group(doomed.id.clone()), user(&bob), Role::Member),
        on(MembershipResource::Group(doomed.id.clone()), Member::Group(nested.id.clone()), Role::Member),
        on(MembershipResource::Group(outer.id.clone()), Member::Group(doomed.id.clone()), Role::Member),
        on(MembershipResource::Workspace(team.id.clone()), Member::Group(doomed.id.clone()), Role::Editor),
        on(MembershipResource::Tenant, Member::Group(doomed.id.clone()), Role::Member),
    ];
    for granted in kept.iter().chain(&naming) {
        store.set_membership(&acme.scope, granted.clone()).await.unwrap();
    }
    let partition = tenant_partition(&acme.scope);
    let (revision, mut expected) = partition_state(backend, &partition).await;
    let doomed_object = format!("group:{}", doomed.id);
    let removed: Vec<String> =
        expected.keys().filter(|text| text.contains(&doomed_object)).cloned().collect();
    assert_eq!(removed.len(), naming.len() + 2, "plus the group's tenant and admin");
    expected.retain(|text, _| !text.contains(&doomed_object));
    let naming = count_naming(backend, &acme.tenant.id, "group", &doomed.id).await;
    assert_eq!(naming, removed.len() as i64, "positive control");

    store.delete_group(&acme.scope, &doomed.id).await.unwrap();
    assert_eq!(partition_state(backend, &partition).await, (revision.next(), expected));
    let (_, changes) = changes_after(backend, &partition, revision).await;
    let mut logged: Vec<String> = changes
        .iter()
        .map(|change| match change {
            Change::Delete(relationship) => relationship.to_string(),
            other => panic!("deleting a group only deletes: {other:?}"),
        })
        .collect();
    logged.sort();
    let mut removed = removed;
    removed.sort();
    assert_eq!(logged, removed);
    assert_eq!(count_naming(backend, &acme.tenant.id, "group", &doomed.id).await, 0);
    for still in &kept {
        assert_eq!(stored_roles(backend, &acme.scope, still.resource(), still.member()).await, 1);
    }
}

// ---------------------------------------------------------------------------
// Memberships
// ---------------------------------------------------------------------------

/// Granting a role replaces the member's role on that resource: exactly
/// one relationship, with the expiry asked for; granting the same again
/// changes nothing. Users and groups alike.
async fn memberships_keep_one_role_per_member(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let readers = create_group(backend, &acme.scope, "readers", None).await;
    let store = &backend.store;
    let partition = tenant_partition(&acme.scope);
    let on_team = MembershipResource::Workspace(team.id.clone());
    // Bob stays admin, so that the others' admin roles may be taken back.
    let bob_admin = membership(&on_team, user(&bob), Role::Admin);
    store.set_membership(&acme.scope, bob_admin.clone()).await.unwrap();

    for member in [user(&alice), Member::Group(readers.id.clone())] {
        let mut previous: Option<Membership> = None;
        for role in [Role::Member, Role::Editor, Role::Admin, Role::Editor] {
            let granted = membership(&on_team, member.clone(), role);
            assert_eq!(store.set_membership(&acme.scope, granted.clone()).await.unwrap(), granted);
            assert_eq!(stored_roles(backend, &acme.scope, &on_team, &member).await, 1, "{member} as {role}");
            let (_, state) = partition_state(backend, &partition).await;
            assert!(state.contains_key(&membership_relationship(&acme.tenant.id, &granted).to_string()));
            if let Some(previous) = &previous {
                assert!(!state.contains_key(&membership_relationship(&acme.tenant.id, previous).to_string()));
            }
            previous = Some(granted);
        }
        let again = previous.unwrap();
        let revision = revision_of(backend, &partition).await;
        store.set_membership(&acme.scope, again).await.unwrap();
        assert_eq!(
            revision_of(backend, &partition).await,
            revision,
            "granting the held role changes nothing"
        );
    }

    // The expiry is stored and listed as given.
    let in_a_day = tenantry_core::now() + chrono::Duration::days(1);
    let expiring = Membership::new(on_team.clone(), user(&alice), Role::Member, Some(in_a_day)).unwrap();
    store.set_membership(&acme.scope, expiring.clone()).await.unwrap();
    let mut expected =
        vec![membership(&on_team, Member::Group(readers.id.clone()), Role::Editor), expiring, bob_admin];
    expected.sort_by_key(|listed| (listed.member().kind(), listed.member().id_string()));
    assert_eq!(list_members(backend, &acme.scope, &on_team, 10).await, expected);
}

/// The last live admin of a tenant, workspace or group can be neither
/// demoted nor removed, and the refusal writes nothing. An expired admin
/// does not count as another; a group holding the admin role does.
async fn the_last_admin_can_neither_leave_nor_be_demoted(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme_request = NewTenant { creator: Some(alice.id.clone()), ..new_tenant("acme") };
    let (tenant, _) = backend.store.create_tenant(&platform(), acme_request).await.unwrap();
    let scope = TenantScope::system(tenant.id.clone(), "test");
    let team = create_workspace(backend, &scope, "team", None).await;
    let admins = create_group(backend, &scope, "admins", Some(&alice.id)).await;
    let store = &backend.store;
    let partition = tenant_partition(&scope);
    let on_team = MembershipResource::Workspace(team.id.clone());
    store.set_membership(&scope, membership(&on_team, user(&alice), Role::Admin)).await.unwrap();

    for resource in
        [MembershipResource::Tenant, on_team.clone(), MembershipResource::Group(admins.id.clone())]
    {
        let before = partition_state(backend, &partition).await;
        expect_conflict(
            store.set_membership(&scope, membership(&resource, user(&alice), Role::Member)).await,
            ConflictCode::LastAdmin,
        );
        expect_conflict(
            store.remove_membership(&scope, &resource, &user(&alice)).await,
            ConflictCode::LastAdmin,
        );
        // An admin whose role has expired is no admin.
        let an_hour_ago = tenantry_core::now() - chrono::Duration::hours(1);
        let expired = Membership::new(resource.clone(), user(&bob), Role::Admin, Some(an_hour_ago)).unwrap();
        store.set_membership(&scope, expired).await.unwrap();
        expect_conflict(
            store.remove_membership(&scope, &resource, &user(&alice)).await,
            ConflictCode::LastAdmin,
        );
        let expired = membership_relationship(&tenant.id, &membership(&resource, user(&bob), Role::Admin));
        let sweep = RelationshipWrite { touch: vec![], delete: vec![expired] };
        store.write_relationships(&partition, sweep).await.unwrap();
        assert_eq!(
            partition_state(backend, &partition).await.1,
            before.1,
            "{resource:?}: refusals wrote nothing"
        );
        // With a second admin, the first may go.
        store.set_membership(&scope, membership(&resource, user(&bob), Role::Admin)).await.unwrap();
        store.set_membership(&scope, membership(&resource, user(&alice), Role::Member)).await.unwrap();
        expect_conflict(
            store.remove_membership(&scope, &resource, &user(&bob)).await,
            ConflictCode::LastAdmin,
        );
    }

    // A group's admin role is no other admin: the group's membership changes
    // without touching the resource, and it may be empty. So the last user
    // admin stays, and taking the admin role from a group is never refused.
    let readers = create_group(backend, &scope, "readers", None).await;
    store
        .set_membership(&scope, membership(&on_team, Member::Group(readers.id.clone()), Role::Admin))
        .await
        .unwrap();
    expect_conflict(store.remove_membership(&scope, &on_team, &user(&bob)).await, ConflictCode::LastAdmin);
    store.remove_membership(&scope, &on_team, &Member::Group(readers.id.clone())).await.unwrap();
    // Nor does a stored "user" that is no user (written by hand) count.
    let ghost = format!("workspace:{}#admin@user:{}", team_id(&on_team), tenantry_core::UserId::generate());
    let ghost_write = RelationshipWrite { touch: vec![ghost.parse().unwrap()], delete: vec![] };
    store.write_relationships(&partition, ghost_write).await.unwrap();
    expect_conflict(store.remove_membership(&scope, &on_team, &user(&bob)).await, ConflictCode::LastAdmin);
}

/// The workspace id of a workspace membership resource.
fn team_id(resource: &MembershipResource) -> String {
    match resource {
        MembershipResource::Workspace(workspace_id) => workspace_id.to_string(),
        other => panic!("not a workspace: {other:?}"),
    }
}

/// Unknown resources are not found (another tenant's included), unknown
/// members are invalid, removing a non-member is not found; nothing is
/// written by any of them.
async fn membership_errors_name_what_is_missing(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let readers = create_group(backend, &acme.scope, "readers", None).await;
    let foreign_workspace = create_workspace(backend, &globex.scope, "foreign", None).await;
    let foreign_group = create_group(backend, &globex.scope, "foreign", None).await;
    let store = &backend.store;
    let partition = tenant_partition(&acme.scope);
    let before = partition_state(backend, &partition).await;

    let missing_resources = [
        (MembershipResource::Workspace(WorkspaceId::generate()), "workspace"),
        (MembershipResource::Workspace(foreign_workspace.id.clone()), "workspace"),
        (MembershipResource::Group(GroupId::generate()), "group"),
        (MembershipResource::Group(foreign_group.id.clone()), "group"),
    ];
    for (resource, kind) in &missing_resources {
        expect_not_found(
            store.set_membership(&acme.scope, membership(resource, user(&alice), Role::Member)).await,
            kind,
        );
        expect_not_found(store.remove_membership(&acme.scope, resource, &user(&alice)).await, kind);
        expect_not_found(store.list_memberships(&acme.scope, resource, PageRequest::first()).await, kind);
    }
    let nowhere = TenantScope::system(TenantId::generate(), "test");
    let on_tenant = MembershipResource::Tenant;
    expect_not_found(
        store.set_membership(&nowhere, membership(&on_tenant, user(&alice), Role::Member)).await,
        "tenant",
    );
    expect_not_found(store.list_memberships(&nowhere, &on_tenant, PageRequest::first()).await, "tenant");

    let on_team = MembershipResource::Workspace(team.id.clone());
    let unknown_members = [
        Member::User(UserId::generate()),
        Member::Group(GroupId::generate()),
        Member::Group(foreign_group.id.clone()),
    ];
    for member in unknown_members {
        expect_invalid(
            store.set_membership(&acme.scope, membership(&on_team, member, Role::Member)).await,
            "member",
        );
    }
    expect_not_found(store.remove_membership(&acme.scope, &on_team, &user(&alice)).await, "membership");
    let on_readers = MembershipResource::Group(readers.id.clone());
    expect_not_found(
        store.remove_membership(&acme.scope, &on_readers, &Member::Group(GroupId::generate())).await,
        "membership",
    );
    assert_eq!(partition_state(backend, &partition).await, before);
}

/// Members are listed groups first, then users, each by id, across pages
/// without gaps; expired memberships, other resources' roles and
/// relationships that are no role are not listed.
async fn memberships_are_listed_in_member_order(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let other = create_workspace(backend, &acme.scope, "other", None).await;
    let store = &backend.store;
    let on_team = MembershipResource::Workspace(team.id.clone());
    let mut expected = Vec::new();
    for index in 0..3 {
        let group = create_group(backend, &acme.scope, &format!("group-{index}"), None).await;
        expected.push(membership(&on_team, Member::Group(group.id), Role::Editor));
    }
    let roles = [Role::Admin, Role::Editor, Role::Member];
    for index in 0..9 {
        let member = user(&create_user(backend, &format!("user-{index}")).await);
        let granted = membership(&on_team, member.clone(), roles[index % 3]);
        expected.push(granted);
        store
            .set_membership(
                &acme.scope,
                membership(&MembershipResource::Workspace(other.id.clone()), member, Role::Admin),
            )
            .await
            .unwrap();
    }
    for granted in &expected {
        store.set_membership(&acme.scope, granted.clone()).await.unwrap();
    }
    let lapsed = user(&create_user(backend, "lapsed").await);
    let a_second_ago = tenantry_core::now() - chrono::Duration::seconds(1);
    let lapsed = Membership::new(on_team.clone(), lapsed, Role::Member, Some(a_second_ago)).unwrap();
    store.set_membership(&acme.scope, lapsed).await.unwrap();
    expected.sort_by_key(|granted| (granted.member().kind(), granted.member().id_string()));

    for limit in [1, 4, 100] {
        assert_eq!(list_members(backend, &acme.scope, &on_team, limit).await, expected, "pages of {limit}");
    }
    let on_tenant = list_members(backend, &acme.scope, &MembershipResource::Tenant, 10).await;
    assert_eq!(on_tenant, Vec::new(), "the tenant's structural relationships are no memberships");
}

/// Two concurrent removals of the two admins of a resource: exactly one
/// succeeds and the other is refused, so one admin remains. Repeated, to
/// give an interleaving that breaks the rule a chance to show.
async fn concurrent_removals_of_two_admins_leave_one(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    for round in 0..5 {
        let team = create_workspace(backend, &acme.scope, &format!("team-{round}"), None).await;
        let on_team = MembershipResource::Workspace(team.id.clone());
        for admin in [&alice, &bob] {
            backend
                .store
                .set_membership(&acme.scope, membership(&on_team, user(admin), Role::Admin))
                .await
                .unwrap();
        }
        let barrier = Arc::new(Barrier::new(2));
        let mut tasks = JoinSet::new();
        for admin in [&alice, &bob] {
            let (store, scope, resource, member) =
                (backend.store.clone(), acme.scope.clone(), on_team.clone(), user(admin));
            let barrier = Arc::clone(&barrier);
            tasks.spawn(async move {
                barrier.wait().await;
                store.remove_membership(&scope, &resource, &member).await
            });
        }
        let outcomes = tasks.join_all().await;
        assert_eq!(
            outcomes.iter().filter(|outcome| outcome.is_ok()).count(),
            1,
            "round {round}: {outcomes:?}"
        );
        for outcome in outcomes.into_iter().filter(Result::is_err) {
            expect_conflict(outcome, ConflictCode::LastAdmin);
        }
        let remaining = list_members(backend, &acme.scope, &on_team, 10).await;
        assert_eq!(remaining.len(), 1, "round {round}: {remaining:?}");
        assert_eq!(remaining[0].role(), Role::Admin);
    }
}

/// Groups nest to the store's depth limit (the test backends keep the
/// defaults) and no further, counted in groups from the top of a chain to
/// its bottom; a short cycle stays allowed, since every group in it is a
/// few hops from every other; a refused nesting writes nothing.
async fn group_nesting_is_limited(backend: &TestBackend) {
    let limit = StoreLimits::defaults().max_group_depth.get();
    let acme = create_tenant(backend, "acme").await;
    let store = &backend.store;
    let nest = |container: &Group, nested: &Group| {
        Membership::new(
            MembershipResource::Group(container.id.clone()),
            Member::Group(nested.id.clone()),
            Role::Member,
            None,
        )
        .unwrap()
    };
    let mut chain = Vec::new();
    for number in 1..=limit + 1 {
        chain.push(create_group(backend, &acme.scope, &format!("group-{number}"), None).await);
    }
    // group-1 holds group-2 holds ... group-{limit}: limit groups deep.
    for pair in chain[..limit as usize].windows(2) {
        store.set_membership(&acme.scope, nest(&pair[0], &pair[1])).await.unwrap();
    }
    let (bottom, extra) = (&chain[limit as usize - 1], &chain[limit as usize]);
    expect_limit(store.set_membership(&acme.scope, nest(bottom, extra)).await, LimitCode::GroupTooDeep);
    // From the other end: the extra group holding the top.
    expect_limit(store.set_membership(&acme.scope, nest(extra, &chain[0])).await, LimitCode::GroupTooDeep);
    let resource = MembershipResource::Group(bottom.id.clone());
    assert_eq!(stored_roles(backend, &acme.scope, &resource, &Member::Group(extra.id.clone())).await, 0);

    // A cycle of three groups, then a fourth beneath it: shallow, allowed.
    let cycle: Vec<Group> = {
        let mut groups = Vec::new();
        for name in ["ring-a", "ring-b", "ring-c", "ring-tail"] {
            groups.push(create_group(backend, &acme.scope, name, None).await);
        }
        groups
    };
    for (container, nested) in [(0, 1), (1, 2), (2, 0), (2, 3)] {
        store.set_membership(&acme.scope, nest(&cycle[container], &cycle[nested])).await.unwrap();
    }
}

// The cases of this module, registered: a case left out is dead code,
// which the lints refuse.
crate::conformance::cases!(
    CASES,
    groups_are_managed_with_unique_names,
    deleting_a_group_removes_every_relationship_naming_it,
    memberships_keep_one_role_per_member,
    the_last_admin_can_neither_leave_nor_be_demoted,
    membership_errors_name_what_is_missing,
    memberships_are_listed_in_member_order,
    concurrent_removals_of_two_admins_leave_one,
    group_nesting_is_limited,
);
