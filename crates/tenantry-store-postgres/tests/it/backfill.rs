//! Migrations on databases that already hold data. The authorization
//! migration (0003) on the foundation's data must write the relationships
//! that data describes, move the platform-admin flag into the platform
//! partition, and do so as an owner that row-level security binds; the
//! pending-invitations migration (0007) keeps one pending invitation per
//! invitee and resource.

use std::borrow::Cow;
use std::collections::BTreeSet;
use tenantry_core::prelude::*;

use sqlx::migrate::Migrator;
use sqlx::{Connection, Executor, PgConnection};
use tenantry_core::relationship::{self, Relationship};
use tenantry_core::{
    ApiKeyId, InvitationId, InvitationStore, NewWorkspace, PartitionScope, PlatformScope,
    RelationshipChanges, Revision, TenantId, TenantScope, UserId, WorkspaceId,
};
use tenantry_store_postgres::migrate;
use tenantry_test_support::postgres::PostgresTestDb;

use crate::fixtures::{new_workspace, runtime_store};

/// The relationships as text, to compare as sets.
fn texts<'a>(relationships: impl IntoIterator<Item = &'a Relationship>) -> BTreeSet<String> {
    relationships.into_iter().map(ToString::to_string).collect()
}

/// The versions of the migrations after `after`, in order: what migrating a
/// database at `after` applies, however many migrations later work adds.
async fn versions_after(after: i64) -> Vec<i64> {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let migrator = Migrator::new(directory).await.unwrap();
    migrator.migrations.iter().map(|migration| migration.version).filter(|version| *version > after).collect()
}

/// Applies the embedded migrations up to `last_version` only, as the owner,
/// the way an existing deployment's database looks before an upgrade.
async fn migrate_through(owner_url: &str, last_version: i64) {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut migrator = Migrator::new(directory).await.unwrap();
    let foundation: Vec<_> =
        migrator.migrations.iter().filter(|migration| migration.version <= last_version).cloned().collect();
    assert_eq!(foundation.len() as i64, last_version, "migrations 1..={last_version} exist");
    migrator.migrations = Cow::Owned(foundation);
    let pool = sqlx::PgPool::connect(owner_url).await.unwrap();
    migrator.run(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn the_authorization_migration_backfills_foundation_data() {
    let Some(db) = PostgresTestDb::create_unmigrated().await else { return };
    // As a production owner would be: not a superuser and without BYPASSRLS,
    // so FORCE ROW LEVEL SECURITY binds it, and the backfill sees the
    // foundation's rows only because the migration sets the platform scope.
    let mut admin = PgConnection::connect(&db.admin_url).await.unwrap();
    admin.execute(format!("ALTER ROLE \"{}\" NOBYPASSRLS", db.owner_role).as_str()).await.unwrap();
    migrate_through(&db.owner_url, 2).await;

    let tenant_id = TenantId::generate();
    let root_id = WorkspaceId::generate();
    let child_id = WorkspaceId::generate();
    let operator_id = UserId::generate();
    let developer_id = UserId::generate();
    let operator_key_id = ApiKeyId::generate();
    let developer_key_id = ApiKeyId::generate();
    // Users whose only keys no longer work: one expired, one revoked.
    let expired_id = UserId::generate();
    let revoked_id = UserId::generate();
    let expired_key_id = ApiKeyId::generate();
    let revoked_key_id = ApiKeyId::generate();
    let mut owner = PgConnection::connect(&db.owner_url).await.unwrap();
    let foundation_rows = [
        format!(
            "INSERT INTO tenants (id, name, display_name, status, deployment_model, data_residency, \
             created_at, updated_at) VALUES ('{tenant_id}', 'acme', 'Acme', 'active', 'hosted_saas', 'eu', \
             now(), now())"
        ),
        format!(
            "INSERT INTO workspaces (tenant_id, id, name, parent_workspace_id, is_root, status, environment, \
             created_at, updated_at) VALUES ('{tenant_id}', '{root_id}', 'Root', NULL, true, 'active', \
             'production', now(), now())"
        ),
        format!(
            "INSERT INTO workspaces (tenant_id, id, name, parent_workspace_id, is_root, status, environment, \
             created_at, updated_at) VALUES ('{tenant_id}', '{child_id}', 'Child', '{root_id}', false, \
             'active', 'production', now(), now())"
        ),
        format!(
            "INSERT INTO tenant_root_workspaces (tenant_id, workspace_id) VALUES ('{tenant_id}', '{root_id}')"
        ),
        format!(
            "INSERT INTO users (id, username, display_name, email, is_platform_admin, created_at, updated_at) \
             VALUES ('{operator_id}', 'operator', 'operator', NULL, true, now(), now()), \
                    ('{developer_id}', 'dev', 'dev', NULL, false, now(), now()), \
                    ('{expired_id}', 'expired', 'expired', NULL, false, now(), now()), \
                    ('{revoked_id}', 'revoked', 'revoked', NULL, false, now(), now())"
        ),
        format!(
            "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
             VALUES ('{tenant_id}', '{operator_key_id}', '{operator_id}', 'bootstrap', '\\x00', now(), \
                     now() + interval '1 day'), \
                    ('{tenant_id}', '{developer_key_id}', '{developer_id}', 'ci', '\\x00', now(), \
                     now() + interval '1 day'), \
                    ('{tenant_id}', '{expired_key_id}', '{expired_id}', 'old', '\\x00', \
                     now() - interval '2 days', now() - interval '1 day')"
        ),
        format!(
            "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at, revoked_at) \
             VALUES ('{tenant_id}', '{revoked_key_id}', '{revoked_id}', 'revoked', '\\x00', now(), \
                     now() + interval '1 day', now())"
        ),
    ];
    let mut transaction = owner.begin().await.unwrap();
    // The owner is bound by row-level security too, so it writes the
    // foundation's rows in the platform scope, like the operator commands.
    transaction.execute("SET LOCAL tenantry.platform = 'on'").await.unwrap();
    for statement in &foundation_rows {
        transaction.execute(statement.as_str()).await.unwrap();
    }
    transaction.commit().await.unwrap();

    let report = migrate(&db.owner_url, db.migration_roles()).await.unwrap();
    // From the authorization migration on, every later one applies too.
    assert_eq!(report.applied[..2], [3, 4]);
    let columns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'is_platform_admin'",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!(columns, 0, "users.is_platform_admin is gone");

    // What the runtime role's store reads back: the relationships the
    // product would have written for the same data, at revision 1.
    let store = runtime_store(&db).await;
    let scope = TenantScope::system(tenant_id.clone(), "test");
    let tenant_partition = PartitionScope::Tenant(scope.clone());
    let child = store.get_workspace(&scope, &child_id).await.unwrap();
    let mut expected = Vec::new();
    // The user of each working key is an admin of its tenant: nobody who
    // could act loses access. Dead keys make nobody an admin.
    expected.extend(relationship::new_tenant_relationships(&tenant_id, &root_id, Some(&operator_id)));
    expected.extend(relationship::new_tenant_relationships(&tenant_id, &root_id, Some(&developer_id)));
    expected.extend(relationship::new_workspace_relationships(&child, None));
    for api_key_id in [&operator_key_id, &developer_key_id, &expired_key_id, &revoked_key_id] {
        let api_key = store.get_api_key(&scope, api_key_id).await.unwrap();
        expected.extend(relationship::new_api_key_relationships(&api_key));
    }
    let snapshot = store.relationship_snapshot(&tenant_partition).await.unwrap();
    assert_eq!(snapshot.revision, Revision::new(1));
    assert_eq!(texts(&snapshot.relationships), texts(&expected));
    assert_eq!(snapshot.relationships.len(), 15, "no duplicates: {snapshot:?}");
    assert!(snapshot.relationships.iter().all(|relationship| relationship.expires_at().is_none()));
    // The backfill is not in the log: a reader starts from the snapshot.
    let changes = store.relationship_changes(&tenant_partition, Revision::ZERO).await.unwrap();
    assert_eq!(changes, RelationshipChanges::Pruned);
    let changes = store.relationship_changes(&tenant_partition, Revision::new(1)).await.unwrap();
    assert_eq!(
        changes,
        RelationshipChanges::Since {
            revision: Revision::new(1),
            credentials_revision: Revision::new(1),
            changes: Vec::new()
        }
    );

    // The platform-admin flag became the platform relationship.
    let platform = PartitionScope::Platform(PlatformScope::authorization());
    let snapshot = store.relationship_snapshot(&platform).await.unwrap();
    assert_eq!(snapshot.revision, Revision::new(1));
    assert_eq!(snapshot.relationships, vec![relationship::platform_admin_relationship(&operator_id)]);
    assert_eq!(
        store.relationship_changes(&platform, Revision::ZERO).await.unwrap(),
        RelationshipChanges::Pruned
    );
    assert_eq!(store.get_user(&developer_id).await.unwrap().id, developer_id);
    assert_eq!(
        store.tenants_naming_user(&PlatformScope::authorization(), &developer_id).await.unwrap(),
        vec![tenant_id.clone()]
    );

    // The partition carries on from the backfill: the next write is
    // revision 2, and logged.
    let grandchild = store
        .create_workspace(
            &scope,
            NewWorkspace { creator: Some(developer_id.clone()), ..new_workspace("Grandchild", &child) },
        )
        .await
        .unwrap();
    let written = relationship::new_workspace_relationships(&grandchild, Some(&developer_id));
    match store.relationship_changes(&tenant_partition, Revision::new(1)).await.unwrap() {
        RelationshipChanges::Since { revision, changes, .. } => {
            assert_eq!(revision, Revision::new(2));
            let touched: Vec<_> = written.into_iter().map(relationship::Change::Touch).collect();
            assert_eq!(changes, touched);
        }
        other => panic!("expected the changes of revision 2, got {other:?}"),
    }
}

#[tokio::test]
async fn the_authorization_migration_on_a_fresh_database_starts_every_partition_at_zero() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let store = runtime_store(&db).await;
    let platform = PartitionScope::Platform(PlatformScope::authorization());
    let snapshot = store.relationship_snapshot(&platform).await.unwrap();
    assert_eq!((snapshot.revision, snapshot.relationships.len()), (Revision::ZERO, 0));
    assert_eq!(
        store.relationship_changes(&platform, Revision::ZERO).await.unwrap(),
        RelationshipChanges::Since {
            revision: Revision::ZERO,
            credentials_revision: Revision::ZERO,
            changes: Vec::new()
        }
    );
    assert_eq!(store.authorization_schema().await.unwrap(), None);
}

/// The pending-invitations migration (0007) on a database holding
/// invitations made before it: it revokes all but the newest of several
/// pending invitations to one invitee and resource (as of the moment the
/// next was made), leaves the rest alone, and from then on the database
/// refuses a second pending one.
#[tokio::test]
async fn the_pending_invitations_migration_keeps_the_newest_of_duplicates() {
    let Some(db) = PostgresTestDb::create_unmigrated().await else { return };
    migrate_through(&db.owner_url, 6).await;
    let tenant_id = TenantId::generate();
    let inviter = UserId::generate();
    let invitee = UserId::generate();
    let other_invitee = UserId::generate();
    // Ids sort by creation time, as the migration assumes (ULIDs made in
    // one millisecond do not, so they are sorted here).
    let mut ids: Vec<String> = (0..5).map(|_| InvitationId::generate().to_string()).collect();
    ids.sort();
    let mut owner = PgConnection::connect(&db.owner_url).await.unwrap();
    owner
        .execute(
            format!(
                "INSERT INTO tenants (id, name, display_name, status, deployment_model, data_residency, \
                 created_at, updated_at) VALUES ('{tenant_id}', 'acme', 'Acme', 'active', 'hosted_saas', 'eu', \
                 now(), now())"
            )
            .as_str(),
        )
        .await
        .unwrap();
    let rows = [
        (&ids[0], &invitee, "pending", "2026-01-01T00:00:00Z", "NULL"),
        (&ids[1], &invitee, "pending", "2026-01-02T00:00:00Z", "NULL"),
        (&ids[2], &invitee, "pending", "2026-01-03T00:00:00Z", "NULL"),
        (&ids[3], &other_invitee, "pending", "2026-01-01T00:00:00Z", "NULL"),
        (&ids[4], &invitee, "declined", "2026-01-01T00:00:00Z", "'2026-01-01T00:00:00Z'"),
    ];
    for (id, user_id, status, created_at, answered_at) in rows {
        owner
            .execute(
                format!(
                    "INSERT INTO invitations (tenant_id, id, resource_type, role, invitee_user_id, invited_by, \
                     status, created_at, expires_at, answered_at) VALUES ('{tenant_id}', '{id}', 'tenant', \
                     'member', '{user_id}', '{inviter}', '{status}', '{created_at}', '2100-01-01T00:00:00Z', \
                     {answered_at})"
                )
                .as_str(),
            )
            .await
            .unwrap();
    }

    let report = migrate(&db.owner_url, db.migration_roles()).await.unwrap();
    assert_eq!(report.applied, versions_after(6).await);
    let store = runtime_store(&db).await;
    let scope = TenantScope::system(tenant_id.clone(), "test");
    let mut statuses = Vec::new();
    for id in &ids {
        let invitation = store.get_invitation(&scope, &id.parse().unwrap()).await.unwrap();
        statuses.push((invitation.status.as_str(), invitation.answered_at.map(|at| at.to_rfc3339())));
    }
    assert_eq!(
        statuses,
        [
            ("revoked", Some("2026-01-02T00:00:00+00:00".to_owned())),
            ("revoked", Some("2026-01-03T00:00:00+00:00".to_owned())),
            ("pending", None),
            ("pending", None),
            ("declined", Some("2026-01-01T00:00:00+00:00".to_owned())),
        ]
    );
    let duplicate = format!(
        "INSERT INTO invitations (tenant_id, id, resource_type, role, invitee_user_id, invited_by, status, \
         created_at, expires_at) SELECT tenant_id, '{}', resource_type, role, invitee_user_id, invited_by, \
         status, created_at, expires_at FROM invitations WHERE id = '{}'",
        InvitationId::generate(),
        ids[2]
    );
    let refused = owner.execute(duplicate.as_str()).await.unwrap_err().to_string();
    assert!(refused.contains("invitations_one_pending_per_invitee"), "{refused}");
}
