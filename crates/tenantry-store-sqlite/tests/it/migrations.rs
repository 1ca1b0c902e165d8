//! Migrations on databases that already hold data: the authorization
//! migration (0002) on foundation data (0001) rebuilds `users` without
//! losing a row or a reference, and backfills the relationships the data
//! describes; the pending-invitations migration (0005) rebuilds
//! `invitations` and keeps one pending invitation per invitee and resource.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use tenantry_core::prelude::*;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tenantry_core::relationship::{
    Relationship, new_api_key_relationships, new_tenant_relationships, new_workspace_relationships,
    platform_admin_relationship,
};
use tenantry_core::{
    ApiKeyId, Environment, InvitationId, InvitationStore, NewWorkspace, PartitionScope, PlatformScope,
    RelationshipChanges, Revision, TenantId, TenantScope, UserId, WorkspaceId, WorkspaceName,
};
use tenantry_store_sqlite::SqliteStore;
use tenantry_test_support::RawSql;
use tenantry_test_support::sqlite::{DATABASE_FILE_NAME, RawSqlite};

/// Every migration of the crate, embedded as the store embeds them.
pub(crate) static ALL_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// The versions of every migration after `after`, in order.
pub(crate) fn versions_after(after: i64) -> Vec<i64> {
    ALL_MIGRATIONS.iter().map(|migration| migration.version).filter(|version| *version > after).collect()
}

/// A fixed list of migrations, so that a test can stop the schema at an
/// earlier version.
#[derive(Debug)]
struct Only(Vec<Migration>);

impl MigrationSource<'static> for Only {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// Relationships as a set of their texts; the backfill writes no expiry.
fn texts(relationships: &[Relationship]) -> BTreeSet<String> {
    assert!(relationships.iter().all(|relationship| relationship.expires_at().is_none()));
    relationships.iter().map(ToString::to_string).collect()
}

/// The foundation data, inserted with the foundation schema's own columns.
struct Foundation {
    tenant_id: TenantId,
    root_id: WorkspaceId,
    child_id: WorkspaceId,
    admin_id: UserId,
    user_id: UserId,
    admin_key_id: ApiKeyId,
    user_key_id: ApiKeyId,
    /// A user whose only key expired, and one whose only key was revoked.
    expired_id: UserId,
    revoked_id: UserId,
    expired_key_id: ApiKeyId,
    revoked_key_id: ApiKeyId,
}

impl Foundation {
    fn new() -> Self {
        Self {
            tenant_id: TenantId::generate(),
            root_id: WorkspaceId::generate(),
            child_id: WorkspaceId::generate(),
            admin_id: UserId::generate(),
            user_id: UserId::generate(),
            admin_key_id: ApiKeyId::generate(),
            user_key_id: ApiKeyId::generate(),
            expired_id: UserId::generate(),
            revoked_id: UserId::generate(),
            expired_key_id: ApiKeyId::generate(),
            revoked_key_id: ApiKeyId::generate(),
        }
    }

    fn statements(&self) -> Vec<String> {
        let Self {
            tenant_id,
            root_id,
            child_id,
            admin_id,
            user_id,
            admin_key_id,
            user_key_id,
            expired_id,
            revoked_id,
            expired_key_id,
            revoked_key_id,
        } = self;
        let at = "'2024-01-01T00:00:00+00:00'";
        let later = "'2099-01-01T00:00:00+00:00'";
        vec![
            format!(
                "INSERT INTO tenants VALUES ('{tenant_id}', 'acme', 'Acme', 'active', 'hosted_saas', 'global', {at}, {at})"
            ),
            format!(
                "INSERT INTO workspaces VALUES ('{tenant_id}', '{root_id}', 'Root', NULL, 1, 'active', 'production', {at}, {at})"
            ),
            format!(
                "INSERT INTO workspaces VALUES ('{tenant_id}', '{child_id}', 'child', '{root_id}', 0, 'active', 'production', {at}, {at})"
            ),
            format!("INSERT INTO tenant_root_workspaces VALUES ('{tenant_id}', '{root_id}')"),
            format!(
                "INSERT INTO users (id, username, display_name, email, is_platform_admin, created_at, updated_at) \
                 VALUES ('{admin_id}', 'operator', 'Operator', 'op@example.com', 1, {at}, {at})"
            ),
            format!(
                "INSERT INTO users (id, username, display_name, email, is_platform_admin, created_at, updated_at) \
                 VALUES ('{user_id}', 'ada', 'Ada', NULL, 0, {at}, {at})"
            ),
            format!(
                "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
                 VALUES ('{tenant_id}', '{admin_key_id}', '{admin_id}', 'bootstrap', X'00', {at}, {later})"
            ),
            format!(
                "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
                 VALUES ('{tenant_id}', '{user_key_id}', '{user_id}', 'ci', X'01', {at}, {later})"
            ),
            format!(
                "INSERT INTO users (id, username, display_name, email, is_platform_admin, created_at, updated_at) \
                 VALUES ('{expired_id}', 'expired', 'Expired', NULL, 0, {at}, {at}), \
                        ('{revoked_id}', 'revoked', 'Revoked', NULL, 0, {at}, {at})"
            ),
            format!(
                "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at) \
                 VALUES ('{tenant_id}', '{expired_key_id}', '{expired_id}', 'old', X'02', {at}, {at})"
            ),
            format!(
                "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, created_at, expires_at, revoked_at) \
                 VALUES ('{tenant_id}', '{revoked_key_id}', '{revoked_id}', 'revoked', X'03', {at}, {later}, {at})"
            ),
        ]
    }
}

#[tokio::test]
async fn the_authorization_migration_backfills_a_foundation_database() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(DATABASE_FILE_NAME);
    let store = SqliteStore::open(&path).await.unwrap();

    // The foundation schema only, applied the way sqlx applies any
    // migration, then data written with it.
    let foundation_only: Vec<Migration> =
        ALL_MIGRATIONS.iter().filter(|migration| migration.version == 1).cloned().collect();
    assert_eq!(foundation_only.len(), 1);
    let options = SqliteConnectOptions::new().filename(&path).foreign_keys(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
    Migrator::new(Only(foundation_only)).await.unwrap().run(&pool).await.unwrap();
    let foundation = Foundation::new();
    for statement in foundation.statements() {
        sqlx::query(&statement).execute(&pool).await.unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    pool.close().await;
    assert_eq!(store.pending_migrations().await.unwrap(), versions_after(1));

    store.migrate().await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());

    // The users survived the rebuild, without the flag, and every key
    // still points at its user.
    let raw = RawSqlite::connect(&path).await;
    let admin = store.get_user(&foundation.admin_id).await.unwrap();
    assert_eq!(
        (admin.username.as_str(), admin.email.as_ref().map(|email| email.as_str())),
        ("operator", Some("op@example.com"))
    );
    assert_eq!(store.get_user(&foundation.user_id).await.unwrap().username.as_str(), "ada");
    for (query, expected) in [
        ("SELECT count(*) FROM users", 4),
        ("SELECT count(*) FROM pragma_table_info('users') WHERE name = 'is_platform_admin'", 0),
        ("SELECT count(*) FROM pragma_foreign_key_check", 0),
        ("SELECT count(*) FROM api_keys", 4),
    ] {
        assert_eq!(raw.scalar_i64(query).await, Ok(expected), "{query}");
    }
    // The rebuilt table is still the keys' parent: a user with keys cannot go.
    let delete_admin = format!("DELETE FROM users WHERE id = '{}'", foundation.admin_id);
    let refused = raw.execute(&delete_admin).await.unwrap_err();
    assert!(refused.contains("FOREIGN KEY constraint failed"), "{refused}");

    // The tenant's partition holds what the data describes, at revision 1,
    // and its log starts after it.
    let scope = TenantScope::system(foundation.tenant_id.clone(), "test");
    let tenant_partition = PartitionScope::Tenant(scope.clone());
    let child = store.get_workspace(&scope, &foundation.child_id).await.unwrap();
    let mut expected = new_tenant_relationships(&foundation.tenant_id, &foundation.root_id, None);
    expected.extend(new_workspace_relationships(&child, None));
    let keys = [
        &foundation.admin_key_id,
        &foundation.user_key_id,
        &foundation.expired_key_id,
        &foundation.revoked_key_id,
    ];
    for key_id in keys {
        expected.extend(new_api_key_relationships(&store.get_api_key(&scope, key_id).await.unwrap()));
    }
    // The user of every working key became an admin of the key's tenant;
    // the holders of the expired and the revoked key did not.
    for user_id in [&foundation.admin_id, &foundation.user_id] {
        expected.push(format!("tenant:{}#admin@user:{user_id}", foundation.tenant_id).parse().unwrap());
    }
    let snapshot = store.relationship_snapshot(&tenant_partition).await.unwrap();
    assert_eq!(snapshot.revision, Revision::new(1));
    assert_eq!(snapshot.relationships.len(), expected.len());
    assert_eq!(texts(&snapshot.relationships), texts(&expected));
    assert_eq!(
        store.relationship_changes(&tenant_partition, Revision::ZERO).await.unwrap(),
        RelationshipChanges::Pruned
    );
    assert_eq!(
        store.relationship_changes(&tenant_partition, Revision::new(1)).await.unwrap(),
        RelationshipChanges::Since {
            revision: Revision::new(1),
            credentials_revision: Revision::new(1),
            changes: vec![]
        }
    );

    // The flag became the platform admin relationship, at revision 1.
    let platform = PartitionScope::Platform(PlatformScope::authorization());
    let snapshot = store.relationship_snapshot(&platform).await.unwrap();
    assert_eq!(snapshot.revision, Revision::new(1));
    assert_eq!(snapshot.relationships, vec![platform_admin_relationship(&foundation.admin_id)]);
    assert_eq!(
        store.relationship_changes(&platform, Revision::ZERO).await.unwrap(),
        RelationshipChanges::Pruned
    );

    // The partition goes on from there.
    let new_workspace = NewWorkspace {
        name: WorkspaceName::parse("grandchild").unwrap(),
        parent_workspace_id: Some(child.id.clone()),
        environment: Environment::production(),
        creator: Some(foundation.user_id.clone()),
    };
    let grandchild = store.create_workspace(&scope, new_workspace).await.unwrap();
    let RelationshipChanges::Since { revision, changes, .. } =
        store.relationship_changes(&tenant_partition, Revision::new(1)).await.unwrap()
    else {
        panic!("the log reaches back to revision 1");
    };
    assert_eq!(revision, Revision::new(2));
    assert_eq!(changes.len(), new_workspace_relationships(&grandchild, Some(&foundation.user_id)).len());
}

/// The pending-invitations migration (0005) on a database holding
/// invitations made before it: it keeps every row, revokes all but the
/// newest of several pending invitations to one invitee and resource (as
/// of the moment the next was made), and from then on the database refuses
/// a second pending one.
#[tokio::test]
async fn the_pending_invitations_migration_keeps_the_newest_of_duplicates() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(DATABASE_FILE_NAME);
    let store = SqliteStore::open(&path).await.unwrap();
    let before: Vec<Migration> =
        ALL_MIGRATIONS.iter().filter(|migration| migration.version <= 4).cloned().collect();
    assert_eq!(before.len(), 4);
    let options = SqliteConnectOptions::new().filename(&path).foreign_keys(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
    Migrator::new(Only(before)).await.unwrap().run(&pool).await.unwrap();
    pool.close().await;
    assert_eq!(store.pending_migrations().await.unwrap(), versions_after(4));

    let foundation = Foundation::new();
    let raw = RawSqlite::connect(&path).await;
    let tenant_id = &foundation.tenant_id;
    raw.execute(&format!(
        "INSERT INTO tenants (id, name, display_name, status, deployment_model, data_residency, created_at, \
         updated_at) VALUES ('{tenant_id}', 'acme', 'Acme', 'active', 'hosted_saas', 'eu', \
         '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
    ))
    .await
    .unwrap();
    let invitee = UserId::generate();
    let other_invitee = UserId::generate();
    // Three pending invitations to one invitee for the tenant, made a day
    // apart, one to another invitee, and an answered one.
    // Ids sort by creation time, as the migration assumes (ULIDs made in
    // one millisecond do not, so they are sorted here).
    let mut ids: Vec<String> = (0..5).map(|_| InvitationId::generate().to_string()).collect();
    ids.sort();
    let rows = [
        (&ids[0], &invitee, "pending", "2026-01-01T00:00:00Z", "NULL"),
        (&ids[1], &invitee, "pending", "2026-01-02T00:00:00Z", "NULL"),
        (&ids[2], &invitee, "pending", "2026-01-03T00:00:00Z", "NULL"),
        (&ids[3], &other_invitee, "pending", "2026-01-01T00:00:00Z", "NULL"),
        (&ids[4], &invitee, "declined", "2026-01-01T00:00:00Z", "'2026-01-01T00:00:00Z'"),
    ];
    for (id, user_id, status, created_at, answered_at) in rows {
        raw.execute(&format!(
            "INSERT INTO invitations (tenant_id, id, resource_type, role, invitee_user_id, invited_by, status, \
             created_at, expires_at, answered_at) VALUES ('{tenant_id}', '{id}', 'tenant', 'member', \
             '{user_id}', '{}', '{status}', '{created_at}', 4102444800000000, {answered_at})",
            foundation.admin_id
        ))
        .await
        .unwrap();
    }

    store.migrate().await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());
    let scope = TenantScope::system(tenant_id.clone(), "test");
    let status_of = |index: usize| {
        let (store, scope, id) = (&store, &scope, ids[index].parse::<InvitationId>().unwrap());
        async move {
            let invitation = store.get_invitation(scope, &id).await.unwrap();
            (invitation.status.as_str(), invitation.answered_at.map(|at| at.to_rfc3339()))
        }
    };
    assert_eq!(status_of(0).await, ("revoked", Some("2026-01-02T00:00:00+00:00".to_owned())));
    assert_eq!(status_of(1).await, ("revoked", Some("2026-01-03T00:00:00+00:00".to_owned())));
    assert_eq!(status_of(2).await, ("pending", None));
    assert_eq!(status_of(3).await, ("pending", None));
    assert_eq!(status_of(4).await.0, "declined");
    assert_eq!(raw.scalar_i64("SELECT count(*) FROM invitations").await, Ok(5));

    // The rebuilt table keeps its rules: one pending invitation per
    // invitee and resource, an immutable tenant_id, the status check.
    let duplicate = format!(
        "INSERT INTO invitations (tenant_id, id, resource_type, role, invitee_user_id, invited_by, status, \
         created_at, expires_at) SELECT tenant_id, '{}', resource_type, role, invitee_user_id, invited_by, \
         status, created_at, expires_at FROM invitations WHERE id = '{}'",
        InvitationId::generate(),
        ids[2]
    );
    let refused = raw.execute(&duplicate).await.unwrap_err();
    assert!(refused.contains("invitations_one_pending_per_invitee"), "{refused}");
    let moved = raw
        .execute(&format!("UPDATE invitations SET tenant_id = 'ten_other' WHERE id = '{}'", ids[2]))
        .await
        .unwrap_err();
    assert!(moved.contains("immutable"), "{moved}");
    for index in [
        "invitations_tenant_id_workspace_id_idx",
        "invitations_tenant_id_group_id_idx",
        "invitations_invitee_user_id_idx",
        "invitations_invitee_email_key_idx",
        "invitations_one_pending_per_invitee",
    ] {
        let query = format!("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '{index}'");
        assert_eq!(raw.scalar_i64(&query).await, Ok(1), "{index}");
    }
    assert_eq!(raw.scalar_i64("SELECT count(*) FROM pragma_foreign_key_check").await, Ok(0));
}
