//! Conformance cases for relationship partitions: what the product writes,
//! revisions and the change log, writes, lists, the sweeps, the platform
//! reads, the authorization schema, and what the database itself refuses.

use tenantry_core::relationship::{timestamp_micros, workspace_parent_relationship};

use super::*;

/// A point in time as relationships carry it.
fn micros(at: tenantry_core::Timestamp) -> i64 {
    timestamp_micros(at)
}

/// An hour in microseconds.
const HOUR_MICROS: i64 = 3_600 * 1_000_000;

/// Writes a batch that must succeed and returns the revision after it.
async fn write(
    backend: &TestBackend,
    partition: &PartitionScope,
    touch: &[Relationship],
    delete: &[Relationship],
) -> Revision {
    let batch = RelationshipWrite { touch: touch.to_vec(), delete: delete.to_vec() };
    backend.store.write_relationships(partition, batch).await.unwrap()
}

/// The changes' relationships as text, in order, marked `+` for a touch and
/// `-` for a delete; a delete's expiry is not part of what it says.
fn described(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|change| match change {
            Change::Touch(relationship) => format!("+{relationship} {:?}", relationship.expires_at()),
            Change::Delete(relationship) => format!("-{relationship}"),
        })
        .collect()
}

fn touched(relationship: &Relationship) -> String {
    described(&[Change::Touch(relationship.clone())]).remove(0)
}

fn deleted(relationship: &Relationship) -> String {
    described(&[Change::Delete(relationship.clone())]).remove(0)
}

/// Applies logged changes to a partition's relationships, as a reader does.
fn apply(state: &mut BTreeMap<String, Option<i64>>, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Touch(relationship) => {
                state.insert(relationship.to_string(), relationship.expires_at());
            }
            Change::Delete(relationship) => {
                state.remove(&relationship.to_string());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// What the product writes
// ---------------------------------------------------------------------------

/// `create_tenant` creates the tenant's partition with the relationships of
/// `new_tenant_relationships` (its creator as admin, if any) at revision 1,
/// logged, and leaves the platform partition alone.
async fn create_tenant_writes_its_relationships_at_revision_one(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let request = NewTenant { creator: Some(alice.id.clone()), ..new_tenant("acme") };
    let (tenant, root) = backend.store.create_tenant(&platform(), request).await.unwrap();
    let acme = tenant_partition(&TenantScope::system(tenant.id.clone(), "test"));
    let expected = new_tenant_relationships(&tenant.id, &root.id, Some(&alice.id));
    assert_eq!(expected.len(), 4, "tenant, root's tenant, root_of, creator as admin");
    assert_eq!(partition_state(backend, &acme).await, (Revision::new(1), canonical(&expected)));

    let (revision, changes) = changes_after(backend, &acme, Revision::ZERO).await;
    assert_eq!(revision, Revision::new(1));
    let mut logged = described(&changes);
    logged.sort();
    let mut wanted: Vec<String> = expected.iter().map(touched).collect();
    wanted.sort();
    assert_eq!(logged, wanted);
    let revision_one = format!(
        "SELECT count(*) FROM relationship_changes WHERE tenant_id = {} AND revision = 1",
        sql_literal(&tenant.id)
    );
    assert_eq!(scalar(backend, &revision_one).await, 4);

    // Without a creator nobody is the tenant's admin.
    let globex = create_tenant(backend, "globex").await;
    let expected = new_tenant_relationships(&globex.tenant.id, &globex.root.id, None);
    assert_eq!(
        partition_state(backend, &tenant_partition(&globex.scope)).await,
        (Revision::new(1), canonical(&expected))
    );
    assert_eq!(partition_state(backend, &platform_partition()).await, (Revision::ZERO, canonical(&[])));
}

/// Workspaces and groups make their creators admins; a move replaces the
/// workspace's `parent` relationship; deleting a workspace removes every
/// relationship naming it, as resource or as subject.
async fn workspace_moves_and_deletes_maintain_relationships(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme = create_tenant(backend, "acme").await;
    let partition = tenant_partition(&acme.scope);
    let store = &backend.store;
    let team_request = NewWorkspace { creator: Some(alice.id.clone()), ..new_workspace("team", None) };
    let team = store.create_workspace(&acme.scope, team_request).await.unwrap();
    let sub = create_workspace(backend, &acme.scope, "sub", Some(&team)).await;
    let mut expected = new_tenant_relationships(&acme.tenant.id, &acme.root.id, None);
    expected.extend(tenantry_core::relationship::new_workspace_relationships(&team, Some(&alice.id)));
    expected.extend(tenantry_core::relationship::new_workspace_relationships(&sub, None));
    assert!(expected.contains(&relationship(&format!("workspace:{}#admin@user:{}", team.id, alice.id))));
    assert_eq!(partition_state(backend, &partition).await, (Revision::new(3), canonical(&expected)));

    let before_move = revision_of(backend, &partition).await;
    store.update_workspace(&acme.scope, &sub.id, move_under(&acme.root.id)).await.unwrap();
    let (revision, changes) = changes_after(backend, &partition, before_move).await;
    assert_eq!(revision, before_move.next(), "a move is one revision");
    let old_parent = workspace_parent_relationship(&sub.id, &team.id);
    let new_parent = workspace_parent_relationship(&sub.id, &acme.root.id);
    assert_eq!(described(&changes), vec![deleted(&old_parent), touched(&new_parent)]);
    let (_, state) = partition_state(backend, &partition).await;
    assert!(state.contains_key(&new_parent.to_string()) && !state.contains_key(&old_parent.to_string()));

    // A rename changes no relationship.
    store.update_workspace(&acme.scope, &sub.id, rename_to("renamed")).await.unwrap();
    assert_eq!(revision_of(backend, &partition).await, revision);

    // Relationships naming `sub`, written by hand, as resource and as
    // subject with and without a subject relation.
    let naming_sub = [
        relationship(&format!("document:plan#parent@workspace:{}", sub.id)),
        relationship(&format!("workspace:{}#viewer@workspace:{}#member", team.id, sub.id)),
        relationship(&format!("workspace:{}#editor@user:{}", sub.id, alice.id)),
    ];
    let unrelated = relationship(&format!("workspace:{}#editor@user:{}", team.id, alice.id));
    let mut batch = naming_sub.to_vec();
    batch.push(unrelated.clone());
    let before_delete = write(backend, &partition, &batch, &[]).await;
    assert_eq!(count_naming(backend, &acme.tenant.id, "workspace", &sub.id).await, 5, "positive control");

    store.delete_workspace(&acme.scope, &sub.id).await.unwrap();
    let (revision, changes) = changes_after(backend, &partition, before_delete).await;
    assert_eq!(revision, before_delete.next(), "a delete is one revision");
    assert!(changes.iter().all(|change| matches!(change, Change::Delete(_))), "{changes:?}");
    let (_, state) = partition_state(backend, &partition).await;
    let sub_object = format!("workspace:{}", sub.id);
    let still_naming: Vec<&String> = state.keys().filter(|text| text.contains(&sub_object)).collect();
    assert!(still_naming.is_empty(), "relationships still name the deleted workspace: {still_naming:?}");
    assert!(state.contains_key(&unrelated.to_string()));
    assert_eq!(changes.len(), naming_sub.len() + 2, "the hand-written ones, `tenant` and `parent`");
    assert_eq!(count_naming(backend, &acme.tenant.id, "workspace", &sub.id).await, 0);
}

// ---------------------------------------------------------------------------
// Revisions and the change log
// ---------------------------------------------------------------------------

/// Checks what the last operation did to the partition's revision: one step
/// with at least one logged change, or nothing at all.
async fn expect_step(
    backend: &TestBackend,
    partition: &PartitionScope,
    previous: &mut Revision,
    advance: Advance,
    what: &str,
) {
    let (revision, changes) = changes_after(backend, partition, *previous).await;
    match advance {
        Advance::Logged => {
            assert_eq!(revision, previous.next(), "{what}: expected exactly one revision more");
            assert!(!changes.is_empty(), "{what}: a new revision logs its changes");
        }
        Advance::Marked => {
            assert_eq!(revision, previous.next(), "{what}: expected exactly one revision more");
            assert_eq!(changes, Vec::new(), "{what}: expected no logged change");
        }
        Advance::No => {
            assert_eq!(revision, *previous, "{what}: expected no new revision");
            assert_eq!(changes, Vec::new(), "{what}: expected no logged change");
        }
    }
    assert_eq!(revision_of(backend, partition).await, revision, "{what}: snapshot and log disagree");
    *previous = revision;
}

/// What a step does to its partition's revision.
#[derive(Debug, Clone, Copy)]
enum Advance {
    /// One revision more, with the relationships it changed in the log.
    Logged,
    /// One revision more, with nothing in the log: a key revoked or a
    /// tenant's status changed, which the partition's readers must notice
    /// (cached API key credentials) though no relationship changed.
    Marked,
    /// None.
    No,
}

/// Every operation that changes relationships advances the partition's
/// revision by exactly one; so do revoking a key and changing the tenant's
/// status, logging nothing; one that changes none, or fails, leaves it.
async fn every_relationship_change_advances_the_revision_by_exactly_one(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let scope = &acme.scope;
    let partition = tenant_partition(scope);
    let store = &backend.store;
    let mut revision = Revision::new(1);
    let mut steps = 0;
    let mut step = async |advance: Advance, what: &str, revision: &mut Revision| {
        expect_step(backend, &partition, revision, advance, what).await;
        steps += u64::from(!matches!(advance, Advance::No));
    };

    let team_request = NewWorkspace { creator: Some(alice.id.clone()), ..new_workspace("team", None) };
    let team = store.create_workspace(scope, team_request).await.unwrap();
    step(Advance::Logged, "create a workspace", &mut revision).await;
    let sub = create_workspace(backend, scope, "sub", Some(&team)).await;
    step(Advance::Logged, "create a child workspace", &mut revision).await;
    store.update_workspace(scope, &sub.id, rename_to("renamed")).await.unwrap();
    step(Advance::No, "rename a workspace", &mut revision).await;
    store.update_workspace(scope, &sub.id, move_under(&acme.root.id)).await.unwrap();
    step(Advance::Logged, "move a workspace", &mut revision).await;
    expect_conflict(
        store.update_workspace(scope, &team.id, move_under(&team.id)).await,
        ConflictCode::WorkspaceCycle,
    );
    step(Advance::No, "a refused move", &mut revision).await;

    let group = create_group(backend, scope, "editors", Some(&bob.id)).await;
    step(Advance::Logged, "create a group", &mut revision).await;
    let on_group = MembershipResource::Group(group.id.clone());
    let alice_member = membership(&on_group, Member::User(alice.id.clone()), Role::Member);
    store.set_membership(scope, alice_member.clone()).await.unwrap();
    step(Advance::Logged, "add a member", &mut revision).await;
    store.set_membership(scope, alice_member).await.unwrap();
    step(Advance::No, "add the same member again", &mut revision).await;
    let in_a_day = tenantry_core::now() + chrono::Duration::days(1);
    let expiring =
        Membership::new(on_group.clone(), Member::User(alice.id.clone()), Role::Member, Some(in_a_day))
            .unwrap();
    store.set_membership(scope, expiring).await.unwrap();
    step(Advance::Logged, "give the membership an expiry", &mut revision).await;
    expect_conflict(
        store.set_membership(scope, membership(&on_group, Member::User(bob.id.clone()), Role::Member)).await,
        ConflictCode::LastAdmin,
    );
    step(Advance::No, "a refused demotion", &mut revision).await;
    store.remove_membership(scope, &on_group, &Member::User(alice.id.clone())).await.unwrap();
    step(Advance::Logged, "remove a member", &mut revision).await;

    let (key, _) = mint(backend, scope, &alice.id, "ci").await.unwrap();
    step(Advance::Logged, "mint a key", &mut revision).await;
    store.revoke_api_key(scope, &key.id, tenantry_core::now()).await.unwrap();
    step(Advance::Marked, "revoke a key", &mut revision).await;
    let suspend = TenantPatch { status: Some(TenantStatus::Suspended), ..TenantPatch::default() };
    store.update_tenant(scope, suspend).await.unwrap();
    step(Advance::Marked, "suspend the tenant", &mut revision).await;

    let document = relationship("document:readme#viewer@user:someone");
    write(backend, &partition, std::slice::from_ref(&document), &[]).await;
    step(Advance::Logged, "write a relationship", &mut revision).await;
    write(backend, &partition, std::slice::from_ref(&document), &[]).await;
    step(Advance::No, "write it again", &mut revision).await;
    write(backend, &partition, &[], &[relationship("document:readme#viewer@user:nobody")]).await;
    step(Advance::No, "delete an absent relationship", &mut revision).await;

    store.delete_workspace(scope, &sub.id).await.unwrap();
    step(Advance::Logged, "delete a workspace", &mut revision).await;
    store.delete_group(scope, &group.id).await.unwrap();
    step(Advance::Logged, "delete a group", &mut revision).await;
    assert_eq!(revision, Revision::new(1 + steps));
}

/// A small deterministic random source (xorshift64*), so that a failing
/// sequence can be replayed from its seed.
#[derive(Debug)]
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `bound`.
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Whether a random operation's outcome is one the sequence may meet: a
/// success, or a refusal the operation's rules call for.
fn tolerated<T: Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Ok(_)
        | Err(Error::NotFound { resource: "membership" })
        | Err(Error::Conflict {
            code:
                ConflictCode::LastAdmin
                | ConflictCode::WorkspaceHasChildren
                | ConflictCode::WorkspaceCycle
                | ConflictCode::DuplicateWorkspaceName
                | ConflictCode::DuplicateGroupName,
            ..
        }) => {}
        Err(error) => panic!("{what}: unexpected {error:?}"),
    }
}

/// Runs `steps` random product operations and relationship writes on one
/// tenant, snapshotting the partition after each.
async fn random_history(
    backend: &TestBackend,
    acme: &CreatedTenant,
    users: &[User],
    random: &mut Random,
    steps: usize,
) -> Vec<(Revision, BTreeMap<String, Option<i64>>)> {
    let store = &backend.store;
    let scope = &acme.scope;
    let partition = tenant_partition(scope);
    let future = micros(tenantry_core::now()) + 24 * HOUR_MICROS;
    let mut workspaces = vec![acme.root.clone()];
    let mut groups: Vec<Group> = Vec::new();
    let mut history = vec![partition_state(backend, &partition).await];
    for step in 0..steps {
        let user = random.pick(users).clone();
        let what = format!("step {step}");
        match random.below(10) {
            0..=3 => {
                let mut universe = Vec::new();
                for document in ["doc-0", "doc-1", "Doc-1"] {
                    for relation in ["viewer", "owner"] {
                        for subject in users {
                            universe.push(relationship(&format!(
                                "document:{document}#{relation}@user:{}",
                                subject.id
                            )));
                        }
                    }
                }
                for group in &groups {
                    universe.push(relationship(&format!("document:doc-0#viewer@group:{}#member", group.id)));
                }
                let pick_some = |random: &mut Random| -> Vec<Relationship> {
                    (0..random.below(3))
                        .map(|_| {
                            let chosen = random.pick(&universe).clone();
                            match random.below(3) {
                                0 => chosen,
                                expiry => chosen.expiring_at(future + expiry as i64),
                            }
                        })
                        .collect()
                };
                let touch = pick_some(random);
                let delete = pick_some(random);
                store.write_relationships(&partition, RelationshipWrite { touch, delete }).await.unwrap();
            }
            4 => {
                let workspace = random.pick(&workspaces).clone();
                let resource = MembershipResource::Workspace(workspace.id);
                let role = *random.pick(resource.roles());
                tolerated(
                    store.set_membership(scope, membership(&resource, Member::User(user.id), role)).await,
                    &what,
                );
            }
            5 => {
                let workspace = random.pick(&workspaces).clone();
                let resource = MembershipResource::Workspace(workspace.id);
                tolerated(store.remove_membership(scope, &resource, &Member::User(user.id)).await, &what);
            }
            6 => {
                let parent = random.pick(&workspaces).clone();
                let request = NewWorkspace {
                    creator: Some(user.id.clone()),
                    ..new_workspace(&format!("workspace-{step}"), Some(&parent))
                };
                workspaces.push(store.create_workspace(scope, request).await.unwrap());
            }
            7 if workspaces.len() > 1 => {
                let index = 1 + random.below(workspaces.len() - 1);
                let result = store.delete_workspace(scope, &workspaces[index].id).await;
                if result.is_ok() {
                    workspaces.remove(index);
                }
                tolerated(result, &what);
            }
            8 if workspaces.len() > 1 => {
                let moved = workspaces[1 + random.below(workspaces.len() - 1)].clone();
                let parent = random.pick(&workspaces).clone();
                tolerated(store.update_workspace(scope, &moved.id, move_under(&parent.id)).await, &what);
            }
            _ if !groups.is_empty() && random.below(2) == 0 => {
                let group = groups.remove(random.below(groups.len()));
                store.delete_group(scope, &group.id).await.unwrap();
            }
            _ => groups.push(create_group(backend, scope, &format!("group-{step}"), Some(&user.id)).await),
        }
        history.push(partition_state(backend, &partition).await);
    }
    history
}

/// Property: for any revision `r` a reader took a snapshot at, applying
/// `relationship_changes(after r)` to that snapshot gives the latest
/// snapshot. Checked over random sequences of product operations and
/// relationship writes; two snapshots at one revision must be equal.
async fn replaying_the_change_log_onto_any_snapshot_gives_the_latest(backend: &TestBackend) {
    let users = [
        create_user(backend, "alice").await,
        create_user(backend, "bob").await,
        create_user(backend, "carol").await,
    ];
    for seed in [0x5eed_0001_u64, 0x5eed_0002, 0x5eed_0003] {
        let acme = create_tenant(backend, &format!("tenant-{seed:x}")).await;
        let partition = tenant_partition(&acme.scope);
        let mut random = Random(seed);
        let history = random_history(backend, &acme, &users, &mut random, 60).await;
        let (latest_revision, latest) = partition_state(backend, &partition).await;
        let mut at_revision: BTreeMap<Revision, BTreeMap<String, Option<i64>>> = BTreeMap::new();
        for (revision, state) in history {
            let earlier = at_revision.entry(revision).or_insert_with(|| state.clone());
            assert_eq!(*earlier, state, "seed {seed:#x}: two snapshots at revision {revision} differ");
        }
        assert!(
            at_revision.len() > 20,
            "seed {seed:#x}: too few revisions ({}) to mean much",
            at_revision.len()
        );
        for (revision, mut state) in at_revision {
            let (replayed_to, changes) = changes_after(backend, &partition, revision).await;
            assert_eq!(replayed_to, latest_revision, "seed {seed:#x}, from revision {revision}");
            apply(&mut state, &changes);
            assert_eq!(state, latest, "seed {seed:#x}: replaying from revision {revision}");
        }
    }
}

/// `write_relationships` counts only effective changes: an insert, a new
/// expiry, a delete of a stored relationship. Deletes go first. A batch
/// with a relationship the partition does not admit writes nothing.
async fn write_relationships_changes_only_what_differs(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let partition = tenant_partition(&acme.scope);
    let store = &backend.store;
    let readme = relationship("document:readme#viewer@user:alice");
    let in_an_hour = micros(tenantry_core::now()) + HOUR_MICROS;
    let expiring = readme.clone().expiring_at(in_an_hour);
    let mut revision = Revision::new(1);
    let expect = async |returned: Revision, changes: Vec<String>, revision: &mut Revision| {
        let (current, logged) = changes_after(backend, &partition, *revision).await;
        assert_eq!(returned, current, "the write returns the revision it left");
        assert_eq!(described(&logged), changes);
        let advanced = if changes.is_empty() { *revision } else { revision.next() };
        assert_eq!(current, advanced);
        *revision = current;
    };

    let returned = write(backend, &partition, std::slice::from_ref(&readme), &[]).await;
    expect(returned, vec![touched(&readme)], &mut revision).await;
    let returned = write(backend, &partition, std::slice::from_ref(&readme), &[]).await;
    expect(returned, vec![], &mut revision).await;
    let returned = write(backend, &partition, std::slice::from_ref(&expiring), &[]).await;
    expect(returned, vec![touched(&expiring)], &mut revision).await;
    assert_eq!(
        partition_state(backend, &partition).await.1.get(&readme.to_string()),
        Some(&Some(in_an_hour))
    );
    let returned = write(backend, &partition, std::slice::from_ref(&expiring), &[]).await;
    expect(returned, vec![], &mut revision).await;
    let returned = write(backend, &partition, std::slice::from_ref(&readme), &[]).await;
    expect(returned, vec![touched(&readme)], &mut revision).await;
    let absent = relationship("document:readme#viewer@user:nobody");
    let returned = write(backend, &partition, &[], std::slice::from_ref(&absent)).await;
    expect(returned, vec![], &mut revision).await;
    // A delete ignores the expiry it names.
    let returned = write(backend, &partition, &[], &[readme.clone().expiring_at(1)]).await;
    expect(returned, vec![deleted(&readme)], &mut revision).await;
    // Deletes go first: deleting and touching an absent relationship in one
    // batch inserts it; doing so to a stored one deletes and re-inserts it.
    let returned =
        write(backend, &partition, std::slice::from_ref(&readme), std::slice::from_ref(&readme)).await;
    expect(returned, vec![touched(&readme)], &mut revision).await;
    let returned =
        write(backend, &partition, std::slice::from_ref(&readme), std::slice::from_ref(&readme)).await;
    expect(returned, vec![deleted(&readme), touched(&readme)], &mut revision).await;
    assert!(partition_state(backend, &partition).await.1.contains_key(&readme.to_string()));

    // The platform's relationships do not belong in a tenant's partition,
    // nor a tenant's in the platform's: refused before anything is written.
    let before = partition_state(backend, &partition).await;
    let alice_admin = platform_admin_relationship(&UserId::generate());
    let valid = relationship("document:other#viewer@user:bob");
    let mixed = RelationshipWrite { touch: vec![valid.clone(), alice_admin.clone()], delete: vec![] };
    expect_invalid(store.write_relationships(&partition, mixed).await, "resource");
    let mixed = RelationshipWrite { touch: vec![valid.clone()], delete: vec![alice_admin.clone()] };
    expect_invalid(store.write_relationships(&partition, mixed).await, "resource");
    assert_eq!(partition_state(backend, &partition).await, before);

    let platform_before = partition_state(backend, &platform_partition()).await;
    let mixed = RelationshipWrite { touch: vec![alice_admin.clone(), valid], delete: vec![] };
    expect_invalid(store.write_relationships(&platform_partition(), mixed).await, "resource");
    assert_eq!(partition_state(backend, &platform_partition()).await, platform_before);
    let returned = write(backend, &platform_partition(), std::slice::from_ref(&alice_admin), &[]).await;
    assert_eq!(returned, platform_before.0.next());
    assert_eq!(
        changes_after(backend, &platform_partition(), platform_before.0).await,
        (returned, vec![Change::Touch(alice_admin)])
    );
}

/// A relationship's key as a tuple of texts: the order lists use, bytewise.
fn sort_key(relationship: &Relationship) -> [String; 6] {
    let subject = relationship.subject();
    [
        relationship.resource().object_type().to_owned(),
        relationship.resource().id().to_owned(),
        relationship.relation().to_owned(),
        subject.object_ref().object_type().to_owned(),
        subject.object_ref().id().to_owned(),
        subject.relation().unwrap_or("").to_owned(),
    ]
}

/// Reads every page of a list and returns the relationships in order.
async fn list_all(
    backend: &TestBackend,
    partition: &PartitionScope,
    filter: &RelationshipFilter,
    limit: u32,
) -> Vec<Relationship> {
    let mut listed: Vec<Relationship> = Vec::new();
    let mut after: Option<Relationship> = None;
    for _ in 0..100 {
        let request = PageRequest { limit: PageLimit::new(limit).unwrap(), after: after.clone() };
        let page = backend.store.list_relationships(partition, filter, request).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        listed.extend(page.items);
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(
                    Some(&cursor),
                    listed.last().map(ToString::to_string).as_ref(),
                    "the cursor is the last item"
                );
                after = Some(cursor.parse().unwrap());
            }
            None => return listed,
        }
    }
    panic!("pagination does not end");
}

/// Filters match exactly (`Some("")` on the subject relation: plain
/// subjects), expired relationships are listed, and pages cover the
/// matches once each, in key order compared bytewise.
async fn list_relationships_filters_and_pages_without_gaps(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let partition = tenant_partition(&acme.scope);
    let long_ago = micros(tenantry_core::now()) - HOUR_MICROS;
    let mut written = Vec::new();
    for resource in ["document:Doc", "document:doc", "document:doc-2", "folder:f"] {
        for relation in ["viewer", "editor"] {
            for subject in ["user:a", "user:B", "group:g#member", "group:g#admin"] {
                written.push(relationship(&format!("{resource}#{relation}@{subject}")));
            }
        }
    }
    written[5] = written[5].clone().expiring_at(long_ago);
    write(backend, &partition, &written, &[]).await;
    // The same shapes in another tenant never show up.
    write(backend, &tenant_partition(&globex.scope), &written[..8], &[]).await;
    let stored = backend.store.relationship_snapshot(&partition).await.unwrap().relationships;
    assert_eq!(stored.len(), written.len() + 3);

    let some = |value: &str| Some(value.to_owned());
    let filters = [
        RelationshipFilter::default(),
        RelationshipFilter { resource_type: some("document"), ..RelationshipFilter::default() },
        RelationshipFilter {
            resource_type: some("document"),
            resource_id: some("doc"),
            ..RelationshipFilter::default()
        },
        RelationshipFilter { relation: some("viewer"), ..RelationshipFilter::default() },
        RelationshipFilter { subject_type: some("group"), ..RelationshipFilter::default() },
        RelationshipFilter { subject_id: some("a"), ..RelationshipFilter::default() },
        RelationshipFilter { subject_relation: some(""), ..RelationshipFilter::default() },
        RelationshipFilter {
            subject_relation: some("member"),
            subject_type: some("group"),
            ..RelationshipFilter::default()
        },
        RelationshipFilter { resource_type: some("nothing"), ..RelationshipFilter::default() },
    ];
    for filter in &filters {
        let matches = |relationship: &&Relationship| {
            let key = sort_key(relationship);
            [
                &filter.resource_type,
                &filter.resource_id,
                &filter.relation,
                &filter.subject_type,
                &filter.subject_id,
                &filter.subject_relation,
            ]
            .iter()
            .zip(&key)
            .all(|(wanted, actual)| wanted.as_ref().is_none_or(|wanted| wanted == actual))
        };
        let mut expected: Vec<Relationship> = stored.iter().filter(matches).cloned().collect();
        expected.sort_by_key(sort_key);
        for limit in [1, 7, 1000] {
            let listed = list_all(backend, &partition, filter, limit).await;
            assert_eq!(listed, expected, "filter {filter:?}, pages of {limit}");
        }
    }
    let plain = RelationshipFilter { subject_relation: some(""), ..RelationshipFilter::default() };
    assert!(
        list_all(backend, &partition, &plain, 1000)
            .await
            .iter()
            .all(|listed| listed.subject().relation().is_none())
    );
    assert!(
        list_all(backend, &partition, &RelationshipFilter::default(), 1000)
            .await
            .iter()
            .any(|listed| listed.expires_at() == Some(long_ago)),
        "an expired relationship is listed until it is swept"
    );
    let platform_listed = list_all(backend, &platform_partition(), &RelationshipFilter::default(), 10).await;
    assert_eq!(platform_listed, Vec::new());
}

// ---------------------------------------------------------------------------
// Sweeps
// ---------------------------------------------------------------------------

/// Pruning deletes log entries recorded before the cutoff and remembers per
/// partition how far: a reader behind that is told `Pruned`, a reader past
/// it still gets its changes, and the relationships themselves stay.
async fn pruning_the_log_tells_readers_behind_to_reload(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let partition = tenant_partition(&acme.scope);
    let platform_scope = platform_partition();
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let early = relationship("document:early#viewer@user:a");
    let late = relationship("document:late#viewer@user:a");
    let_the_clock_tick().await;
    assert_eq!(write(backend, &partition, std::slice::from_ref(&early), &[]).await, Revision::new(2));
    assert_eq!(
        write(backend, &platform_scope, &[platform_admin_relationship(&alice)], &[]).await,
        Revision::new(1)
    );
    let_the_clock_tick().await;
    let cutoff = tenantry_core::now();
    let_the_clock_tick().await;
    assert_eq!(write(backend, &partition, std::slice::from_ref(&late), &[]).await, Revision::new(3));
    let bob_admin = platform_admin_relationship(&bob);
    assert_eq!(
        write(backend, &platform_scope, std::slice::from_ref(&bob_admin), &[]).await,
        Revision::new(2)
    );
    let before = partition_state(backend, &partition).await;

    // Revision 1 (3 entries) and 2 (1) of the tenant, revision 1 of the platform.
    assert_eq!(backend.store.prune_relationship_changes(&platform(), cutoff).await.unwrap(), 5);
    for after in [Revision::ZERO, Revision::new(1)] {
        assert_eq!(
            backend.store.relationship_changes(&partition, after).await.unwrap(),
            RelationshipChanges::Pruned,
            "after {after}"
        );
    }
    assert_eq!(
        changes_after(backend, &partition, Revision::new(2)).await,
        (Revision::new(3), vec![Change::Touch(late)])
    );
    assert_eq!(changes_after(backend, &partition, Revision::new(3)).await, (Revision::new(3), vec![]));
    assert_eq!(
        backend.store.relationship_changes(&platform_scope, Revision::ZERO).await.unwrap(),
        RelationshipChanges::Pruned
    );
    assert_eq!(
        changes_after(backend, &platform_scope, Revision::new(1)).await,
        (Revision::new(2), vec![Change::Touch(bob_admin)])
    );
    assert_eq!(partition_state(backend, &partition).await, before, "pruning keeps the relationships");
    assert_eq!(count(backend, "relationship_changes", &acme.tenant.id).await, 1);
    assert_eq!(backend.store.prune_relationship_changes(&platform(), cutoff).await.unwrap(), 0);
}

/// The expiry sweep deletes relationships that expired at or before `now`
/// in every partition, logs nothing and leaves revisions alone.
async fn expired_relationships_are_swept_from_every_partition(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let (acme_partition, globex_partition) = (tenant_partition(&acme.scope), tenant_partition(&globex.scope));
    let now = tenantry_core::now();
    let at = micros(now);
    let past = relationship("document:past#viewer@user:a").expiring_at(at - HOUR_MICROS);
    let exactly_now = relationship("document:now#viewer@user:a").expiring_at(at);
    let future = relationship("document:future#viewer@user:a").expiring_at(at + HOUR_MICROS);
    let forever = relationship("document:forever#viewer@user:a");
    write(
        backend,
        &acme_partition,
        &[past.clone(), exactly_now.clone(), future.clone(), forever.clone()],
        &[],
    )
    .await;
    write(backend, &globex_partition, std::slice::from_ref(&past), &[]).await;
    let expired_admin = platform_admin_relationship(&UserId::generate()).expiring_at(at - 1);
    let admin = platform_admin_relationship(&UserId::generate());
    write(backend, &platform_partition(), &[expired_admin, admin.clone()], &[]).await;
    let (acme_revision, mut acme_expected) = partition_state(backend, &acme_partition).await;
    let (globex_revision, mut globex_expected) = partition_state(backend, &globex_partition).await;
    let platform_revision = revision_of(backend, &platform_partition()).await;

    assert_eq!(backend.store.delete_expired_relationships(&platform(), now).await.unwrap(), 4);
    for gone in [&past, &exactly_now] {
        acme_expected.remove(&gone.to_string());
    }
    globex_expected.remove(&past.to_string());
    assert_eq!(partition_state(backend, &acme_partition).await, (acme_revision, acme_expected));
    assert_eq!(partition_state(backend, &globex_partition).await, (globex_revision, globex_expected));
    assert_eq!(
        partition_state(backend, &platform_partition()).await,
        (platform_revision, canonical(&[admin]))
    );
    assert_eq!(changes_after(backend, &acme_partition, acme_revision).await, (acme_revision, vec![]));
    assert_eq!(backend.store.delete_expired_relationships(&platform(), now).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------
// Platform reads
// ---------------------------------------------------------------------------

/// `relationship_usage` counts every stored shape across all partitions,
/// each with an example that is really stored.
async fn relationship_usage_counts_every_shape_with_a_real_example(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let acme_request = NewTenant { creator: Some(alice.id.clone()), ..new_tenant("acme") };
    let (acme, _) = backend.store.create_tenant(&platform(), acme_request).await.unwrap();
    let acme_scope = TenantScope::system(acme.id.clone(), "test");
    let globex = create_tenant(backend, "globex").await;
    create_workspace(backend, &acme_scope, "team", None).await;
    let group = create_group(backend, &globex.scope, "readers", None).await;
    write(
        backend,
        &tenant_partition(&acme_scope),
        &[
            relationship("document:1#viewer@user:a"),
            relationship("document:2#viewer@user:b").expiring_at(1),
            relationship(&format!("document:1#viewer@group:{}#member", group.id)),
        ],
        &[],
    )
    .await;
    write(backend, &platform_partition(), &[platform_admin_relationship(&alice.id)], &[]).await;

    let mut stored = Vec::new();
    for partition in [tenant_partition(&acme_scope), tenant_partition(&globex.scope), platform_partition()] {
        stored.extend(backend.store.relationship_snapshot(&partition).await.unwrap().relationships);
    }
    let shape = |relationship: &Relationship| {
        (
            relationship.resource().object_type().to_owned(),
            relationship.relation().to_owned(),
            relationship.subject().object_ref().object_type().to_owned(),
            relationship.subject().relation().map(str::to_owned),
        )
    };
    let mut expected: BTreeMap<_, u64> = BTreeMap::new();
    for relationship in &stored {
        *expected.entry(shape(relationship)).or_default() += 1;
    }
    let usage = backend.store.relationship_usage(&platform()).await.unwrap();
    let mut counted = BTreeMap::new();
    for used in &usage {
        let used_shape = (
            used.resource_type.clone(),
            used.relation.clone(),
            used.subject_type.clone(),
            used.subject_relation.clone(),
        );
        assert_eq!(shape(&used.example), used_shape, "the example has the shape it stands for");
        assert!(stored.contains(&used.example), "the example {} is not stored as given", used.example);
        assert!(counted.insert(used_shape, used.count).is_none(), "a shape is listed twice");
    }
    assert_eq!(counted, expected);
    let viewers = ("document".to_owned(), "viewer".to_owned(), "user".to_owned(), None);
    assert_eq!(counted.get(&viewers), Some(&2));
}

/// `tenants_naming_user` lists each tenant whose partition names the user
/// as a subject, once, ordered; the platform partition is no tenant.
async fn tenants_naming_user_lists_each_tenant_once(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let carol = create_user(backend, "carol").await;
    let acme_request = NewTenant { creator: Some(alice.id.clone()), ..new_tenant("acme") };
    let (acme, _) = backend.store.create_tenant(&platform(), acme_request).await.unwrap();
    let globex = create_tenant(backend, "globex").await;
    let initech = create_tenant(backend, "initech").await;
    write(
        backend,
        &tenant_partition(&TenantScope::system(acme.id.clone(), "test")),
        &[relationship(&format!("document:1#viewer@user:{}", alice.id))],
        &[],
    )
    .await;
    mint(backend, &globex.scope, &alice.id, "ci").await.unwrap();
    let on_initech = MembershipResource::Tenant;
    backend
        .store
        .set_membership(&initech.scope, membership(&on_initech, Member::User(bob.id.clone()), Role::Member))
        .await
        .unwrap();
    write(backend, &platform_partition(), &[platform_admin_relationship(&carol.id)], &[]).await;

    let naming = |user_id: UserId| async move {
        backend.store.tenants_naming_user(&platform(), &user_id).await.unwrap()
    };
    let mut alices = vec![acme.id.clone(), globex.tenant.id.clone()];
    alices.sort();
    assert_eq!(naming(alice.id.clone()).await, alices);
    assert_eq!(naming(bob.id.clone()).await, vec![initech.tenant.id.clone()]);
    assert_eq!(naming(carol.id.clone()).await, Vec::<TenantId>::new());
    assert_eq!(naming(UserId::generate()).await, Vec::<TenantId>::new());
}

/// The schema is stored with optimistic versions: a put naming a version
/// that is no longer current is `SchemaChanged` and stores nothing; each
/// stored version advances the platform revision without logging a change.
async fn authorization_schema_versions_are_optimistic(backend: &TestBackend) {
    let store = &backend.store;
    assert_eq!(store.authorization_schema().await.unwrap(), None);
    let platform_revision = revision_of(backend, &platform_partition()).await;

    let (first, revision) =
        store.put_authorization_schema(&platform(), "definition user {}", None).await.unwrap();
    assert_eq!((first.version, first.text.as_str()), (1, "definition user {}"));
    assert_eq!(revision, platform_revision.next());
    assert_eq!(store.authorization_schema().await.unwrap(), Some(first.clone()));
    expect_conflict(
        store.put_authorization_schema(&platform(), "stale", None).await,
        ConflictCode::SchemaChanged,
    );
    expect_conflict(
        store.put_authorization_schema(&platform(), "future", Some(2)).await,
        ConflictCode::SchemaChanged,
    );

    let (second, revision) =
        store.put_authorization_schema(&platform(), "definition group {}", Some(1)).await.unwrap();
    assert_eq!(second.version, 2);
    assert!(second.created_at >= first.created_at);
    assert_eq!(revision, platform_revision.next().next());
    expect_conflict(
        store.put_authorization_schema(&platform(), "stale", Some(1)).await,
        ConflictCode::SchemaChanged,
    );
    assert_eq!(store.authorization_schema().await.unwrap(), Some(second));
    assert_eq!(scalar(backend, "SELECT count(*) FROM authorization_schemas").await, 2);
    assert_eq!(changes_after(backend, &platform_partition(), platform_revision).await, (revision, vec![]));
    assert_eq!(revision_of(backend, &platform_partition()).await, revision);
}

// ---------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------

/// Through another tenant's partition, a tenant's relationships do not
/// exist: not in its snapshot, log or lists, and deleting them there
/// changes nothing. Object ids are only unique within a partition.
async fn another_tenants_partition_sees_none_of_its_relationships(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let (acme_partition, globex_partition) = (tenant_partition(&acme.scope), tenant_partition(&globex.scope));
    let shared = relationship("document:1#viewer@user:x");
    let secret = relationship("document:secret#viewer@user:x");
    write(backend, &acme_partition, &[shared.clone(), secret.clone()], &[]).await;
    let acme_state = partition_state(backend, &acme_partition).await;

    let globex_own = new_tenant_relationships(&globex.tenant.id, &globex.root.id, None);
    assert_eq!(partition_state(backend, &globex_partition).await, (Revision::new(1), canonical(&globex_own)));
    let documents =
        RelationshipFilter { resource_type: Some("document".to_owned()), ..RelationshipFilter::default() };
    assert_eq!(list_all(backend, &globex_partition, &documents, 10).await, Vec::new());
    assert_eq!(write(backend, &globex_partition, &[], std::slice::from_ref(&secret)).await, Revision::new(1));

    // The same text in both partitions: two relationships.
    write(backend, &globex_partition, std::slice::from_ref(&shared), &[]).await;
    write(backend, &globex_partition, &[], std::slice::from_ref(&shared)).await;
    assert_eq!(partition_state(backend, &acme_partition).await, acme_state);
    let (_, globex_changes) = changes_after(backend, &globex_partition, Revision::ZERO).await;
    assert!(!described(&globex_changes).iter().any(|change| change.contains("secret")));

    // A tenant that does not exist has no partition.
    let nowhere = tenant_partition(&TenantScope::system(TenantId::generate(), "test"));
    expect_not_found(backend.store.relationship_snapshot(&nowhere).await, "tenant");
    assert_eq!(
        backend.store.relationship_changes(&nowhere, Revision::ZERO).await.unwrap(),
        RelationshipChanges::Gone
    );
    expect_not_found(
        backend
            .store
            .write_relationships(&nowhere, RelationshipWrite { touch: vec![shared], delete: vec![] })
            .await,
        "tenant",
    );
    assert_eq!(scalar(backend, "SELECT count(*) FROM relationships WHERE resource_id = 'secret'").await, 1);
}

/// The database itself keeps the authorization tables honest: no raw
/// UPDATE moves a row to another tenant (only the immutability trigger can
/// refuse each statement below), a relationship needs its tenant, and the
/// platform partition holds only relationships on the platform.
async fn database_guards_the_authorization_tables(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let group = create_group(backend, &acme.scope, "editors", None).await;
    write(backend, &tenant_partition(&acme.scope), &[relationship("document:1#viewer@user:x")], &[]).await;
    let acme_literal = sql_literal(&acme.tenant.id);
    let globex_literal = sql_literal(&globex.tenant.id);
    // A tenant with a revision row and no log, and one with neither, so
    // that no key or foreign key stands in the way of the moves below.
    let (lonely, empty) = (TenantId::generate(), TenantId::generate());
    raw_ok(backend, &insert_tenant_sql(&lonely, "lonely")).await;
    raw_ok(backend, &insert_tenant_sql(&empty, "empty")).await;
    let lonely_revisions = format!(
        "INSERT INTO relationship_revisions (tenant_id, revision, pruned_through) VALUES ({}, 0, 0)",
        sql_literal(&lonely)
    );
    raw_ok(backend, &lonely_revisions).await;
    let acme_state = partition_state(backend, &tenant_partition(&acme.scope)).await;
    let globex_counts = tenant_row_counts(backend, &globex.tenant.id).await;

    let group_where = format!("WHERE tenant_id = {acme_literal} AND id = {}", sql_literal(&group.id));
    let document_where = format!("WHERE tenant_id = {acme_literal} AND resource_type = 'document'");
    let first_change_where = format!("WHERE tenant_id = {acme_literal} AND revision = 1 AND ordinal = 0");
    let lonely_where = format!("WHERE tenant_id = {}", sql_literal(&lonely));
    let cases = [
        (
            format!("UPDATE groups SET name = 'renamed' {group_where}"),
            format!("UPDATE groups SET tenant_id = {globex_literal} {group_where}"),
        ),
        (
            format!("UPDATE relationships SET expires_at = NULL {document_where}"),
            format!("UPDATE relationships SET tenant_id = {globex_literal} {document_where}"),
        ),
        (
            format!("UPDATE relationship_revisions SET revision = revision {lonely_where}"),
            format!("UPDATE relationship_revisions SET tenant_id = {} {lonely_where}", sql_literal(&empty)),
        ),
        (
            format!("UPDATE relationship_changes SET recorded_at = recorded_at {first_change_where}"),
            format!(
                "UPDATE relationship_changes SET tenant_id = {} {first_change_where}",
                sql_literal(&lonely)
            ),
        ),
    ];
    for (control, attack) in &cases {
        assert_eq!(raw_ok(backend, control).await, 1, "positive control: {control}");
        expect_trigger_refusal(raw(backend, attack).await);
    }
    assert_eq!(backend.store.get_group(&acme.scope, &group.id).await.unwrap().name.as_str(), "renamed");
    assert_eq!(partition_state(backend, &tenant_partition(&acme.scope)).await, acme_state);
    assert_eq!(tenant_row_counts(backend, &globex.tenant.id).await, globex_counts);
    assert_eq!(count(backend, "relationship_revisions", &empty).await, 0);
    assert_eq!(count(backend, "relationship_changes", &lonely).await, 0);

    let insert_relationship = |tenant_id: &str| {
        format!(
            "INSERT INTO relationships (tenant_id, resource_type, resource_id, relation, subject_type, \
             subject_id, subject_relation) VALUES ({tenant_id}, 'document', 'raw', 'viewer', 'user', 'x', '')"
        )
    };
    assert_eq!(raw_ok(backend, &insert_relationship(&acme_literal)).await, 1, "positive control");
    let nobody = sql_literal(TenantId::generate());
    expect_violation(backend, raw(backend, &insert_relationship(&nobody)).await, Violation::ForeignKey, None);
    let insert_platform = |resource_type: &str| {
        format!(
            "INSERT INTO platform_relationships (resource_type, resource_id, relation, subject_type, \
             subject_id, subject_relation) VALUES ('{resource_type}', 'main', 'admin', 'user', 'x', '')"
        )
    };
    assert_eq!(raw_ok(backend, &insert_platform("platform")).await, 1, "positive control");
    expect_violation(
        backend,
        raw(backend, &insert_platform("tenant")).await,
        Violation::Check,
        Some("platform_relationships_resource_type_check"),
    );
}

// The cases of this module, registered: a case left out is dead code,
// which the lints refuse.
crate::conformance::cases!(
    CASES,
    create_tenant_writes_its_relationships_at_revision_one,
    workspace_moves_and_deletes_maintain_relationships,
    every_relationship_change_advances_the_revision_by_exactly_one,
    replaying_the_change_log_onto_any_snapshot_gives_the_latest,
    write_relationships_changes_only_what_differs,
    list_relationships_filters_and_pages_without_gaps,
    pruning_the_log_tells_readers_behind_to_reload,
    expired_relationships_are_swept_from_every_partition,
    relationship_usage_counts_every_shape_with_a_real_example,
    tenants_naming_user_lists_each_tenant_once,
    authorization_schema_versions_are_optimistic,
    another_tenants_partition_sees_none_of_its_relationships,
    database_guards_the_authorization_tables,
);
