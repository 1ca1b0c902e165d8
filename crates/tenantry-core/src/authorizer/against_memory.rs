//! The authorizer against the in-memory relationship store: how it keeps
//! its indexes in step with the store (snapshots, change logs, pruned and
//! deleted partitions, revision tokens, the credentials revision, the
//! schema), with the store's reads counted.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::id::{TenantId, UserId, WorkspaceId};
use crate::memory::{MemoryRelationships, Reads};
use crate::relationship::{
    new_tenant_relationships, platform_admin_relationship, tenant_object, user_subject,
};

/// A tenant with a root workspace and an admin, in the fake store.
struct Fixture {
    store: Arc<MemoryRelationships>,
    tenant_id: TenantId,
    scope: TenantScope,
    admin: UserId,
}

impl Fixture {
    fn new() -> Self {
        let store = Arc::new(MemoryRelationships::default());
        let tenant_id = TenantId::generate();
        let admin = UserId::generate();
        store.create_tenant(
            &tenant_id,
            new_tenant_relationships(&tenant_id, &WorkspaceId::generate(), Some(&admin)),
        );
        Self { store, scope: TenantScope::system(tenant_id.clone(), "test"), tenant_id, admin }
    }

    /// An authorizer over the fake store whose reads may be this stale.
    fn authorizer(&self, max_staleness: Duration) -> Authorizer {
        Authorizer::new(
            self.store.clone(),
            AuthorizerConfig::with_freshness(max_staleness, Duration::from_secs(3600)),
        )
    }

    /// Makes `user` a member of the tenant through the store, as another
    /// process would.
    async fn add_member(&self, user: &UserId) -> Revision {
        let relationship: Relationship =
            format!("tenant:{}#member@user:{user}", self.tenant_id).parse().unwrap();
        let partition = PartitionScope::Tenant(self.scope.clone());
        let write = RelationshipWrite { touch: vec![relationship], delete: Vec::new() };
        self.store.write_relationships(&partition, write).await.unwrap()
    }
}

async fn may_view(
    authorizer: &Authorizer,
    fixture: &Fixture,
    user: &UserId,
    consistency: &Consistency,
) -> bool {
    let tenant = tenant_object(&fixture.tenant_id);
    authorizer.check(&fixture.scope, &tenant, names::VIEW, &user_subject(user), consistency).await.unwrap().0
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_tenant_is_loaded_once_then_followed_through_its_change_log() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(HOUR);
    assert!(may_view(&authorizer, &fixture, &fixture.admin, &Consistency::MinimizeLatency).await);
    let loaded = fixture.store.reads();
    // The platform partition and the tenant's, each from a snapshot, and
    // the schema once.
    assert_eq!(loaded, Reads { snapshots: 2, change_logs: 0, schemas: 1 });

    // Another process adds a member: within the staleness bound this
    // process answers from what it holds, without reading the store.
    let newcomer = UserId::generate();
    fixture.add_member(&newcomer).await;
    assert!(!may_view(&authorizer, &fixture, &newcomer, &Consistency::MinimizeLatency).await);
    assert_eq!(fixture.store.reads(), loaded);

    // Full consistency reads both change logs, never a snapshot again.
    assert!(may_view(&authorizer, &fixture, &newcomer, &Consistency::FullyConsistent).await);
    assert_eq!(fixture.store.reads(), Reads { change_logs: 2, ..loaded });
}

#[tokio::test]
async fn reads_older_than_the_staleness_bound_catch_up() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(Duration::ZERO);
    let newcomer = UserId::generate();
    assert!(!may_view(&authorizer, &fixture, &newcomer, &Consistency::MinimizeLatency).await);
    fixture.add_member(&newcomer).await;
    assert!(may_view(&authorizer, &fixture, &newcomer, &Consistency::MinimizeLatency).await);
}

#[tokio::test]
async fn a_token_is_honoured_and_a_token_from_elsewhere_refused() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(HOUR);
    let newcomer = UserId::generate();
    assert!(!may_view(&authorizer, &fixture, &newcomer, &Consistency::MinimizeLatency).await);

    // A token taken after another process's write makes this one catch up.
    let written = fixture.add_member(&newcomer).await;
    let (_, held) = authorizer.evaluate(&fixture.scope, &Consistency::MinimizeLatency, |_| ()).await.unwrap();
    assert!(held.tenant_revision() < written);
    let token = RevisionToken { tenant: written, ..held };
    assert!(may_view(&authorizer, &fixture, &newcomer, &Consistency::AtLeastAsFresh(token.clone())).await);

    // A token beyond anything stored was not issued here.
    let forged = RevisionToken { tenant: written.next().next(), ..token.clone() };
    let tenant = tenant_object(&fixture.tenant_id);
    let refused = authorizer
        .check(
            &fixture.scope,
            &tenant,
            names::VIEW,
            &user_subject(&newcomer),
            &Consistency::AtLeastAsFresh(forged),
        )
        .await;
    assert!(matches!(refused, Err(Error::Invalid { .. })), "{refused:?}");

    // A token of another tenant is refused too.
    let other = RevisionToken { tenant_id: TenantId::generate(), ..token };
    let refused = authorizer
        .check(
            &fixture.scope,
            &tenant,
            names::VIEW,
            &user_subject(&newcomer),
            &Consistency::AtLeastAsFresh(other),
        )
        .await;
    assert!(matches!(refused, Err(Error::Invalid { .. })), "{refused:?}");
}

#[tokio::test]
async fn a_pruned_log_is_replaced_by_a_snapshot() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(HOUR);
    assert!(may_view(&authorizer, &fixture, &fixture.admin, &Consistency::MinimizeLatency).await);
    let newcomer = UserId::generate();
    fixture.add_member(&newcomer).await;
    fixture.store.prune_tenant_log(&fixture.tenant_id);
    let before = fixture.store.reads();
    assert!(may_view(&authorizer, &fixture, &newcomer, &Consistency::FullyConsistent).await);
    let after = fixture.store.reads();
    assert_eq!(after.snapshots, before.snapshots + 1, "the tenant reloaded from a snapshot: {after:?}");
    assert!(may_view(&authorizer, &fixture, &fixture.admin, &Consistency::MinimizeLatency).await);
}

#[tokio::test]
async fn a_deleted_tenant_is_not_found_and_dropped_from_memory() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(HOUR);
    assert!(may_view(&authorizer, &fixture, &fixture.admin, &Consistency::MinimizeLatency).await);
    fixture.store.delete_tenant(&fixture.tenant_id);
    // Within the staleness bound the process still answers from memory...
    assert!(may_view(&authorizer, &fixture, &fixture.admin, &Consistency::MinimizeLatency).await);
    // ...but a fresh question finds the partition gone, and forgets it.
    let tenant = tenant_object(&fixture.tenant_id);
    let gone = authorizer
        .check(
            &fixture.scope,
            &tenant,
            names::VIEW,
            &user_subject(&fixture.admin),
            &Consistency::FullyConsistent,
        )
        .await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    assert!(!authorizer.tenants.read().unwrap().contains_key(&fixture.tenant_id));
}

#[tokio::test]
async fn the_credentials_revision_moves_only_with_credential_changes() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(HOUR);
    let at_start =
        authorizer.tenant_credentials_revision(&fixture.scope, &Consistency::FullyConsistent).await.unwrap();
    fixture.add_member(&UserId::generate()).await;
    let after_member =
        authorizer.tenant_credentials_revision(&fixture.scope, &Consistency::FullyConsistent).await.unwrap();
    assert_eq!(after_member, at_start, "relationships alone leave credentials alone");

    let changed = fixture.store.change_credentials(&fixture.tenant_id);
    // A stale read may keep the old value; a fresh one sees the change.
    let stale =
        authorizer.tenant_credentials_revision(&fixture.scope, &Consistency::MinimizeLatency).await.unwrap();
    assert_eq!(stale, at_start);
    let fresh =
        authorizer.tenant_credentials_revision(&fixture.scope, &Consistency::FullyConsistent).await.unwrap();
    assert_eq!(fresh, changed);

    // Reloaded from a snapshot (after pruning), it is kept too.
    fixture.store.prune_tenant_log(&fixture.tenant_id);
    let other = fixture.authorizer(HOUR);
    assert_eq!(
        other.tenant_credentials_revision(&fixture.scope, &Consistency::FullyConsistent).await.unwrap(),
        changed
    );
}

#[tokio::test]
async fn platform_admins_hold_manage_in_every_tenant_once_mirrored() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(HOUR);
    let operator = UserId::generate();
    assert!(!may_view(&authorizer, &fixture, &operator, &Consistency::FullyConsistent).await);
    authorizer
        .write_platform_relationships(RelationshipWrite {
            touch: vec![platform_admin_relationship(&operator)],
            delete: Vec::new(),
        })
        .await
        .unwrap();
    assert!(may_view(&authorizer, &fixture, &operator, &Consistency::FullyConsistent).await);
    assert!(authorizer.check_platform(&operator, names::ADMIN, &Consistency::MinimizeLatency).await.unwrap());
}

#[tokio::test]
async fn a_new_schema_is_read_when_the_platform_revision_moves_and_parsed_once() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(HOUR);
    let (_, version) = authorizer.schema(&Consistency::MinimizeLatency).await.unwrap();
    assert_eq!(version, None, "the built-in default applies");
    let extended = format!("{DEFAULT_SCHEMA}\ndefinition document {{\n    relation viewer: user\n}}\n");
    authorizer.put_schema(&PlatformScope::operator_cli(), &extended, None).await.unwrap();
    let (schema, version) = authorizer.schema(&Consistency::FullyConsistent).await.unwrap();
    assert_eq!(version, Some(1));
    assert!(schema.defines("document", "viewer"));

    // A platform change that is not a schema re-reads the stored version
    // but keeps the parsed schema.
    let reads = fixture.store.reads().schemas;
    authorizer
        .write_platform_relationships(RelationshipWrite {
            touch: vec![platform_admin_relationship(&UserId::generate())],
            delete: Vec::new(),
        })
        .await
        .unwrap();
    let (again, version) = authorizer.schema(&Consistency::FullyConsistent).await.unwrap();
    assert_eq!(version, Some(1));
    assert!(Arc::ptr_eq(&schema, &again), "the schema was not parsed again");
    assert_eq!(fixture.store.reads().schemas, reads + 1);
}

#[tokio::test]
async fn relationships_outside_the_schema_are_refused_and_nothing_is_written() {
    let fixture = Fixture::new();
    let authorizer = fixture.authorizer(HOUR);
    let before = fixture.store.reads();
    let stray: Relationship =
        format!("tenant:{}#owner@user:{}", fixture.tenant_id, UserId::generate()).parse().unwrap();
    let refused = authorizer
        .write_relationships(&fixture.scope, RelationshipWrite { touch: vec![stray], delete: Vec::new() })
        .await;
    assert!(matches!(refused, Err(Error::Invalid { .. })), "{refused:?}");
    let partition = PartitionScope::Tenant(fixture.scope.clone());
    let snapshot = fixture.store.relationship_snapshot(&partition).await.unwrap();
    assert_eq!(snapshot.revision, Revision::new(1), "nothing was written");
    assert!(fixture.store.reads().snapshots > before.snapshots);
}
