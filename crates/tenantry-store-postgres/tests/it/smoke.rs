//! The store through its trait, as the runtime role, and the start-up races
//! between separately connected stores.

use std::collections::BTreeSet;
use std::sync::Arc;
use tenantry_core::prelude::*;

use tenantry_core::relationship;
use tenantry_core::service::{self, BootstrapConfig};
use tenantry_core::{
    ConflictCode, Error, PageLimit, PageRequest, PartitionScope, PlatformScope, TenantPatch, TenantScope,
    TenantStatus, WorkspacePatch,
};
use tenantry_test_support::RawSql;
use tenantry_test_support::postgres::{PostgresTestDb, RawPostgres};

use crate::fixtures::{TABLES_WITH_ROW_LEVEL_SECURITY, new_workspace, runtime_store, seed_tenant};

#[tokio::test]
async fn tenants_workspaces_and_keys_through_the_runtime_role() {
    let Some(db) = PostgresTestDb::create().await else { return };
    let store = runtime_store(&db).await;
    store.ping().await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());

    let alpha = seed_tenant(&store, "alpha", "ada").await;
    assert_eq!(alpha.root.parent_workspace_id, None);
    assert!(alpha.root.is_root);
    assert_eq!(alpha.child.parent_workspace_id.as_ref(), Some(&alpha.root.id));
    assert_eq!(alpha.grandchild.parent_workspace_id.as_ref(), Some(&alpha.child.id));
    assert_eq!(store.get_tenant(&alpha.scope).await.unwrap(), alpha.tenant);

    // A workspace with no parent goes under the root.
    let sibling = store
        .create_workspace(
            &alpha.scope,
            tenantry_core::NewWorkspace {
                parent_workspace_id: None,
                ..new_workspace("sibling", &alpha.root)
            },
        )
        .await
        .unwrap();
    assert_eq!(sibling.parent_workspace_id.as_ref(), Some(&alpha.root.id));

    // Pages of one, in id order, with no gaps.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_workspaces(&alpha.scope, PageRequest { limit: PageLimit::new(1).unwrap(), after })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|workspace| workspace.id.clone()));
        match page.next_cursor {
            Some(cursor) => after = Some(cursor.parse().unwrap()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 4);

    // Moves: under a descendant is a cycle; the root cannot move.
    let error = store
        .update_workspace(
            &alpha.scope,
            &alpha.child.id,
            WorkspacePatch {
                parent_workspace_id: Some(alpha.grandchild.id.clone()),
                ..WorkspacePatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::WorkspaceCycle, .. }), "{error}");
    let error = store
        .update_workspace(
            &alpha.scope,
            &alpha.root.id,
            WorkspacePatch { parent_workspace_id: Some(sibling.id.clone()), ..WorkspacePatch::default() },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::RootWorkspace, .. }), "{error}");
    let moved = store
        .update_workspace(
            &alpha.scope,
            &alpha.grandchild.id,
            WorkspacePatch { parent_workspace_id: Some(sibling.id.clone()), ..WorkspacePatch::default() },
        )
        .await
        .unwrap();
    assert_eq!(moved.parent_workspace_id.as_ref(), Some(&sibling.id));
    assert!(moved.updated_at >= alpha.grandchild.updated_at);

    // Deletes: a parent and the root are refused, a leaf goes.
    let error = store.delete_workspace(&alpha.scope, &sibling.id).await.unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::WorkspaceHasChildren, .. }), "{error}");
    let error = store.delete_workspace(&alpha.scope, &alpha.root.id).await.unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::RootWorkspace, .. }), "{error}");
    store.delete_workspace(&alpha.scope, &alpha.child.id).await.unwrap();

    // Tenant updates and name conflicts.
    let beta = seed_tenant(&store, "beta", "grace").await;
    let renamed = store
        .update_tenant(
            &alpha.scope,
            TenantPatch { status: Some(TenantStatus::Suspended), ..TenantPatch::default() },
        )
        .await
        .unwrap();
    assert_eq!(renamed.status, TenantStatus::Suspended);
    let error = store
        .update_tenant(
            &alpha.scope,
            TenantPatch { name: Some(beta.tenant.name.clone()), ..TenantPatch::default() },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::DuplicateTenantName, .. }), "{error}");

    // Keys: authentication reads one row; revoking twice conflicts.
    let credentials = store.api_key_credentials(&alpha.scope, &alpha.api_key.id).await.unwrap().unwrap();
    assert_eq!(credentials.api_key, alpha.api_key);
    assert_eq!(credentials.tenant_status, TenantStatus::Suspended);
    assert!(store.api_key_credentials(&beta.scope, &alpha.api_key.id).await.unwrap().is_none());
    store.record_api_key_use(&alpha.scope, &alpha.api_key.id, tenantry_core::now()).await.unwrap();
    let revoked = store.revoke_api_key(&alpha.scope, &alpha.api_key.id, tenantry_core::now()).await.unwrap();
    assert!(revoked.is_revoked());
    assert!(revoked.last_used_at.is_some());
    let error =
        store.revoke_api_key(&alpha.scope, &alpha.api_key.id, tenantry_core::now()).await.unwrap_err();
    assert!(matches!(error, Error::Conflict { code: ConflictCode::AlreadyRevoked, .. }), "{error}");

    // Deleting a tenant removes what it owns, and only that.
    store.delete_tenant(&PlatformScope::operator_cli(), &alpha.tenant.id).await.unwrap();
    let error = store.get_tenant(&alpha.scope).await.unwrap_err();
    assert!(matches!(error, Error::NotFound { resource: "tenant" }), "{error}");
    let error = store.delete_tenant(&PlatformScope::operator_cli(), &alpha.tenant.id).await.unwrap_err();
    assert!(matches!(error, Error::NotFound { resource: "tenant" }), "{error}");
    let owner = RawPostgres::connect(&db.owner_url).await;
    for table in TABLES_WITH_ROW_LEVEL_SECURITY.into_iter().filter(|table| *table != "tenants") {
        let alphas = owner
            .scalar_i64(&format!("SELECT count(*) FROM {table} WHERE tenant_id = '{}'", alpha.id()))
            .await
            .unwrap();
        let betas = owner
            .scalar_i64(&format!("SELECT count(*) FROM {table} WHERE tenant_id = '{}'", beta.id()))
            .await
            .unwrap();
        assert_eq!((alphas, betas > 0), (0, true), "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_bootstraps_create_one_default_tenant() {
    let Some(db) = PostgresTestDb::create().await else { return };
    const CALLERS: usize = 10;
    // Ten separately connected stores, as ten server processes would be.
    let mut stores = Vec::new();
    for _ in 0..CALLERS {
        stores.push(Arc::new(db.server_store().await));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let mut callers = tokio::task::JoinSet::new();
    for store in stores {
        let barrier = Arc::clone(&barrier);
        callers.spawn(async move {
            barrier.wait().await;
            let hasher = service::api_key_hasher(store.as_ref(), None).await?;
            let pepper = store.api_key_pepper().await?;
            let (outcome, token) =
                service::bootstrap(store.as_ref(), &hasher, &BootstrapConfig::defaults()).await?;
            Ok::<_, Error>((outcome, token, pepper))
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = callers.join_next().await {
        outcomes.push(joined.unwrap().unwrap());
    }
    assert_eq!(outcomes.len(), CALLERS);
    let created: Vec<_> = outcomes.iter().filter(|(outcome, _, _)| outcome.created).collect();
    assert_eq!(created.len(), 1, "exactly one caller created the default tenant");
    let (winner, token, _) = created[0];
    assert!(token.is_some(), "the creating caller got the operator key");
    let operator = winner.operator.as_ref().unwrap();
    let tenant_ids: BTreeSet<_> = outcomes.iter().map(|(outcome, _, _)| outcome.tenant.id.clone()).collect();
    let root_ids: BTreeSet<_> =
        outcomes.iter().map(|(outcome, _, _)| outcome.root_workspace.id.clone()).collect();
    let peppers: BTreeSet<_> = outcomes.iter().map(|(_, _, pepper)| pepper.clone()).collect();
    assert_eq!((tenant_ids.len(), root_ids.len(), peppers.len()), (1, 1, 1));
    assert!(outcomes.iter().filter(|(outcome, _, _)| !outcome.created).all(|(_, token, _)| token.is_none()));

    let owner = RawPostgres::connect(&db.owner_url).await;
    for (sql, expected) in [
        ("SELECT count(*) FROM tenants WHERE name = 'default'", 1),
        ("SELECT count(*) FROM workspaces WHERE is_root", 1),
        ("SELECT count(*) FROM tenant_root_workspaces", 1),
        ("SELECT count(*) FROM users WHERE username = 'operator'", 1),
        ("SELECT count(*) FROM api_keys", 1),
        // The operator is the one platform admin, written once, at the
        // platform's first revision.
        (
            "SELECT count(*) FROM platform_relationships WHERE resource_type = 'platform' \
             AND resource_id = 'main' AND relation = 'admin' AND subject_type = 'user'",
            1,
        ),
        ("SELECT revision FROM platform_relationship_revisions", 1),
        ("SELECT count(*) FROM platform_relationship_changes WHERE revision = 1", 1),
        // The default tenant's partition: its first revision holds the
        // tenant's, the root's and the key's relationships, the operator
        // as the tenant's admin among them.
        ("SELECT revision FROM relationship_revisions", 1),
        ("SELECT count(*) FROM relationship_changes WHERE revision = 1", 6),
        ("SELECT count(*) FROM relationships WHERE relation = 'admin' AND resource_type = 'tenant'", 1),
        ("SELECT count(*) FROM deployment_settings WHERE name = 'api_key_pepper'", 1),
    ] {
        assert_eq!(owner.scalar_i64(sql).await.unwrap(), expected, "{sql}");
    }

    // The key the winner got authenticates in the default tenant.
    let store = runtime_store(&db).await;
    let hasher = service::api_key_hasher(&store, None).await.unwrap();
    let principal =
        service::authenticate(&store, &hasher, token.as_ref().unwrap().expose(), tenantry_core::now())
            .await
            .unwrap();
    assert_eq!(principal.api_key.tenant_id, winner.tenant.id);
    assert_eq!(principal.api_key.user_id, operator.id);
    let platform =
        store.relationship_snapshot(&PartitionScope::Platform(PlatformScope::authorization())).await.unwrap();
    assert_eq!(platform.relationships, vec![relationship::platform_admin_relationship(&operator.id)]);
    let tenant = store
        .relationship_snapshot(&PartitionScope::Tenant(TenantScope::system(winner.tenant.id.clone(), "test")))
        .await
        .unwrap();
    let tenant_admin = relationship::new_tenant_relationships(
        &winner.tenant.id,
        &winner.root_workspace.id,
        Some(&operator.id),
    );
    assert!(tenant_admin.iter().all(|expected| tenant.relationships.contains(expected)), "{tenant:?}");
}
