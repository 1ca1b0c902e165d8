//! Races between separately connected stores, as between server processes
//! on one database: relationship revisions commit in order and without
//! gaps, the last-admin rule holds under concurrent demotions, and an OIDC
//! identity's concurrent first sign-ins make one user.

use std::collections::BTreeSet;
use std::sync::Arc;
use tenantry_core::prelude::*;

use tenantry_core::relationship::Relationship;
use tenantry_core::service::oidc_sign_in;
use tenantry_core::{
    ConflictCode, Error, Member, Membership, MembershipResource, NewTenant, NewUser, PageRequest,
    PartitionScope, PlatformScope, RelationshipChanges, RelationshipWrite, Revision, Role, TenantScope,
    Username,
};
use tenantry_store_postgres::PostgresStore;
use tenantry_test_support::RawSql;
use tenantry_test_support::postgres::{PostgresTestDb, RawPostgres};

use crate::fixtures::new_tenant;

/// Stores each with a pool of its own, as separate processes would have.
async fn stores(db: &PostgresTestDb, count: usize) -> Vec<Arc<PostgresStore>> {
    let mut stores = Vec::new();
    for _ in 0..count {
        stores.push(Arc::new(db.server_store().await));
    }
    stores
}

/// `document:<number>#viewer@user:reader`: one relationship per writer.
fn document(number: usize) -> Relationship {
    format!("document:{number}#viewer@user:reader").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_consecutive_revisions_and_readers_never_see_a_gap() {
    let Some(db) = PostgresTestDb::create().await else { return };
    const WRITERS: usize = 40;
    let stores = stores(&db, 4).await;
    let (tenant, _root) =
        stores[0].create_tenant(&PlatformScope::operator_cli(), new_tenant("alpha")).await.unwrap();
    let partition = PartitionScope::Tenant(TenantScope::system(tenant.id.clone(), "test"));
    // Creating the tenant wrote revision 1; every writer adds one document
    // in a revision of its own.
    let base = stores[0].relationship_snapshot(&partition).await.unwrap().revision;
    assert_eq!(base, Revision::new(1));

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&stores[3]);
        let partition = partition.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut reads = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                // A snapshot at revision n holds exactly the documents of
                // revisions up to n.
                let snapshot = store.relationship_snapshot(&partition).await.unwrap();
                let documents = snapshot
                    .relationships
                    .iter()
                    .filter(|relationship| relationship.resource().object_type() == "document")
                    .count() as u64;
                assert_eq!(
                    documents,
                    snapshot.revision.get() - base.get(),
                    "snapshot at {}",
                    snapshot.revision
                );
                // The log up to any committed revision is complete.
                match store.relationship_changes(&partition, base).await.unwrap() {
                    RelationshipChanges::Since { revision, changes, .. } => {
                        assert_eq!(
                            changes.len() as u64,
                            revision.get() - base.get(),
                            "changes through {revision}"
                        );
                    }
                    other => panic!("the log reaches back to the base: {other:?}"),
                }
                reads += 1;
                if finished {
                    return reads;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut writers = tokio::task::JoinSet::new();
    for number in 0..WRITERS {
        let store = Arc::clone(&stores[number % 3]);
        let partition = partition.clone();
        let barrier = Arc::clone(&barrier);
        writers.spawn(async move {
            barrier.wait().await;
            let write = RelationshipWrite { touch: vec![document(number)], delete: Vec::new() };
            store.write_relationships(&partition, write).await
        });
    }
    let mut revisions = Vec::new();
    while let Some(joined) = writers.join_next().await {
        revisions.push(joined.unwrap().unwrap().get());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.await.unwrap() >= 1);
    revisions.sort_unstable();
    let expected: Vec<u64> = (base.get() + 1..=base.get() + WRITERS as u64).collect();
    assert_eq!(revisions, expected, "each writer got its own revision, with none skipped");

    // The log holds every revision from 1 on, each once, without a gap.
    let owner = RawPostgres::connect(&db.owner_url).await;
    let (distinct, first, last): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT revision), min(revision), max(revision) FROM relationship_changes \
         WHERE tenant_id = $1",
    )
    .bind(tenant.id.to_string())
    .fetch_one(owner.pool())
    .await
    .unwrap();
    assert_eq!((distinct, first, last), (WRITERS as i64 + 1, 1, WRITERS as i64 + 1));
    let snapshot = stores[0].relationship_snapshot(&partition).await.unwrap();
    assert_eq!(snapshot.revision.get(), base.get() + WRITERS as u64);
    let stored: BTreeSet<String> = snapshot.relationships.iter().map(ToString::to_string).collect();
    assert!((0..WRITERS).all(|number| stored.contains(&document(number).to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_demotions_of_the_two_admins_leave_one() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let stores = stores(&db, 2).await;
    let user = |name: &str| NewUser::from_username(Username::parse(name).unwrap());
    let first =
        stores[0].ensure_user(&tenantry_core::PlatformScope::operator_cli(), user("ada")).await.unwrap();
    let second =
        stores[0].ensure_user(&tenantry_core::PlatformScope::operator_cli(), user("grace")).await.unwrap();
    let (tenant, _root) = stores[0]
        .create_tenant(
            &PlatformScope::operator_cli(),
            NewTenant { creator: Some(first.id.clone()), ..new_tenant("alpha") },
        )
        .await
        .unwrap();
    let scope = TenantScope::system(tenant.id.clone(), "test");
    let admins = [Member::User(first.id.clone()), Member::User(second.id.clone())];
    let grant = |member: &Member, role: Role| {
        Membership::new(MembershipResource::Tenant, member.clone(), role, None).unwrap()
    };
    stores[0].set_membership(&scope, grant(&admins[1], Role::Admin)).await.unwrap();
    // Each round, both admins are demoted at once: without the partition's
    // lock, both checks could see the other admin and both succeed.
    for round in 0..10 {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut demotions = tokio::task::JoinSet::new();
        for (store, admin) in stores.iter().zip(&admins) {
            let store = Arc::clone(store);
            let scope = scope.clone();
            let demotion = grant(admin, Role::Member);
            let barrier = Arc::clone(&barrier);
            demotions.spawn(async move {
                barrier.wait().await;
                store.set_membership(&scope, demotion).await
            });
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = demotions.join_next().await {
            outcomes.push(joined.unwrap());
        }
        let demoted: Vec<_> = outcomes.iter().filter_map(|outcome| outcome.as_ref().ok()).collect();
        assert_eq!(demoted.len(), 1, "round {round}: exactly one demotion succeeds: {outcomes:?}");
        let refused = outcomes.iter().find_map(|outcome| outcome.as_ref().err()).unwrap();
        assert!(matches!(refused, Error::Conflict { code: ConflictCode::LastAdmin, .. }), "{refused}");
        // Make the demoted one an admin again for the next round.
        stores[0].set_membership(&scope, grant(demoted[0].member(), Role::Admin)).await.unwrap();
    }
    let page =
        stores[0].list_memberships(&scope, &MembershipResource::Tenant, PageRequest::first()).await.unwrap();
    let roles: Vec<Role> = page.items.iter().map(Membership::role).collect();
    assert_eq!(roles, vec![Role::Admin, Role::Admin], "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_sign_ins_of_one_identity_make_one_user() {
    let Some(db) = PostgresTestDb::create().await else { return };
    const CALLERS: usize = 8;
    let stores = stores(&db, CALLERS).await;
    // The profile's username is someone else's, so every caller also
    // races through the fallback.
    stores[0]
        .create_user(
            &tenantry_core::PlatformScope::operator_cli(),
            NewUser::from_username(Username::parse("ada").unwrap()),
        )
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let mut callers = tokio::task::JoinSet::new();
    for store in stores {
        let barrier = Arc::clone(&barrier);
        callers.spawn(async move {
            let sign_in = oidc_sign_in("https://id.example", "subject-1", Some("ada"), Some("Ada"), None);
            barrier.wait().await;
            store.sign_in_oidc_user(&tenantry_core::PlatformScope::oidc_sign_in(), sign_in).await
        });
    }
    let mut users = Vec::new();
    while let Some(joined) = callers.join_next().await {
        users.push(joined.unwrap().unwrap());
    }
    let ids: BTreeSet<_> = users.iter().map(|user| user.id.clone()).collect();
    assert_eq!(ids.len(), 1, "{users:?}");
    let expected = oidc_sign_in("https://id.example", "subject-1", None, None, None).fallback_username;
    assert!(users.iter().all(|user| user.username == expected), "{users:?}");
    let owner = RawPostgres::connect(&db.owner_url).await;
    let identities = owner
        .scalar_i64("SELECT count(*) FROM users WHERE oidc_issuer = 'https://id.example' AND oidc_subject = 'subject-1'")
        .await
        .unwrap();
    assert_eq!(identities, 1);
}
