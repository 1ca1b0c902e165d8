//! The store's operations through the `Store` trait, one scenario each, on
//! a fresh SQLite file.

use tenantry_core::prelude::*;
use tenantry_core::relationship::platform_admin_relationship;
use tenantry_core::service::{BootstrapConfig, api_key_hasher, authenticate, bootstrap};
use tenantry_core::{
    ApiKeyLifetime, ApiKeyName, ConflictCode, DataResidency, DeploymentModel, DisplayName, Environment,
    Error, NewTenant, NewUser, NewWorkspace, PageLimit, PageRequest, PartitionScope, PlatformScope,
    TenantName, TenantScope, Username, WorkspaceId, WorkspaceName, WorkspacePatch,
};
use tenantry_store_sqlite::SqliteStore;
use tenantry_test_support::RawSql;
use tenantry_test_support::sqlite::{DATABASE_FILE_NAME, RawSqlite, backend};

fn new_tenant(name: &str) -> NewTenant {
    NewTenant {
        name: TenantName::parse(name).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        deployment_model: DeploymentModel::HostedSaas,
        data_residency: DataResidency::Eu,
        root_workspace_name: WorkspaceName::default_root(),
        creator: None,
    }
}

fn new_workspace(name: &str, parent_workspace_id: Option<WorkspaceId>) -> NewWorkspace {
    NewWorkspace {
        name: WorkspaceName::parse(name).unwrap(),
        parent_workspace_id,
        environment: Environment::production(),
        creator: None,
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, Error>, expected: ConflictCode) {
    match result {
        Err(Error::Conflict { code, .. }) => assert_eq!(code, expected),
        other => panic!("expected the conflict {expected}, got {other:?}"),
    }
}

#[tokio::test]
async fn open_creates_the_file_and_its_directories_and_migrate_brings_the_schema_current() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nested").join("data").join(DATABASE_FILE_NAME);
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.path(), path);
    assert!(path.is_file());
    store.ping().await.unwrap();

    assert_eq!(store.pending_migrations().await.unwrap(), crate::migrations::versions_after(0));
    store.migrate().await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());
    // Migrating again finds nothing to do.
    store.migrate().await.unwrap();
    assert!(path.with_file_name(format!("{DATABASE_FILE_NAME}.migrate-lock")).is_file());

    let raw = RawSqlite::connect(&path).await;
    assert_eq!(
        raw.scalar_i64("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'").await,
        Ok(1)
    );
}

#[tokio::test]
async fn creating_a_tenant_creates_its_root_workspace() {
    let backend = backend().await;
    let store = &backend.store;
    let (tenant, root) =
        store.create_tenant(&PlatformScope::operator_cli(), new_tenant("acme")).await.unwrap();
    assert!(root.is_root);
    assert_eq!(root.parent_workspace_id, None);
    assert_eq!(root.tenant_id, tenant.id);
    assert_eq!(root.name.as_str(), "Root");

    let scope = TenantScope::system(tenant.id.clone(), "test");
    assert_eq!(store.get_tenant(&scope).await.unwrap(), tenant);
    assert_eq!(store.get_workspace(&scope, &root.id).await.unwrap(), root);
    let page = store.list_workspaces(&scope, PageRequest::first()).await.unwrap();
    assert_eq!(page.items, vec![root]);

    assert_conflict(
        store.create_tenant(&PlatformScope::operator_cli(), new_tenant("acme")).await,
        ConflictCode::DuplicateTenantName,
    );
    assert_eq!(backend.raw.scalar_i64("SELECT count(*) FROM tenant_root_workspaces").await, Ok(1));
}

#[tokio::test]
async fn workspaces_are_created_listed_moved_and_deleted() {
    let backend = backend().await;
    let store = &backend.store;
    let (tenant, root) =
        store.create_tenant(&PlatformScope::operator_cli(), new_tenant("acme")).await.unwrap();
    let scope = TenantScope::system(tenant.id.clone(), "test");

    let billing = store.create_workspace(&scope, new_workspace("billing", None)).await.unwrap();
    assert_eq!(billing.parent_workspace_id.as_ref(), Some(&root.id));
    let invoices =
        store.create_workspace(&scope, new_workspace("invoices", Some(billing.id.clone()))).await.unwrap();
    let search = store.create_workspace(&scope, new_workspace("search", None)).await.unwrap();
    assert_conflict(
        store.create_workspace(&scope, new_workspace("billing", None)).await,
        ConflictCode::DuplicateWorkspaceName,
    );

    let first_page = store
        .list_workspaces(&scope, PageRequest { limit: PageLimit::new(2).unwrap(), after: None })
        .await
        .unwrap();
    assert_eq!(first_page.items.len(), 2);
    let cursor = WorkspaceId::parse(first_page.next_cursor.as_deref().unwrap()).unwrap();
    let second_page = store
        .list_workspaces(&scope, PageRequest { limit: PageLimit::new(2).unwrap(), after: Some(cursor) })
        .await
        .unwrap();
    assert_eq!(second_page.items.len(), 2);
    assert_eq!(second_page.next_cursor, None);

    // Move invoices under search; moving billing under its own descendant
    // is refused, and so is moving the root.
    let move_to = |parent: &WorkspaceId| WorkspacePatch {
        parent_workspace_id: Some(parent.clone()),
        ..WorkspacePatch::default()
    };
    let moved = store.update_workspace(&scope, &invoices.id, move_to(&search.id)).await.unwrap();
    assert_eq!(moved.parent_workspace_id.as_ref(), Some(&search.id));
    assert!(moved.updated_at >= invoices.updated_at);
    store.update_workspace(&scope, &search.id, move_to(&billing.id)).await.unwrap();
    assert_conflict(
        store.update_workspace(&scope, &billing.id, move_to(&invoices.id)).await,
        ConflictCode::WorkspaceCycle,
    );
    assert_conflict(
        store.update_workspace(&scope, &billing.id, move_to(&billing.id)).await,
        ConflictCode::WorkspaceCycle,
    );
    assert_conflict(
        store.update_workspace(&scope, &root.id, move_to(&billing.id)).await,
        ConflictCode::RootWorkspace,
    );

    assert_conflict(store.delete_workspace(&scope, &root.id).await, ConflictCode::RootWorkspace);
    assert_conflict(store.delete_workspace(&scope, &billing.id).await, ConflictCode::WorkspaceHasChildren);
    store.delete_workspace(&scope, &invoices.id).await.unwrap();
    store.delete_workspace(&scope, &search.id).await.unwrap();
    store.delete_workspace(&scope, &billing.id).await.unwrap();
    assert!(matches!(
        store.get_workspace(&scope, &billing.id).await,
        Err(Error::NotFound { resource: "workspace" })
    ));
    let remaining = store.list_workspaces(&scope, PageRequest::first()).await.unwrap();
    assert_eq!(remaining.items, vec![root]);
}

#[tokio::test]
async fn api_keys_are_created_and_revoked_once() {
    let backend = backend().await;
    let store = backend.store.as_ref();
    let (tenant, _root) =
        store.create_tenant(&PlatformScope::operator_cli(), new_tenant("acme")).await.unwrap();
    let scope = TenantScope::system(tenant.id.clone(), "test");
    let user = store
        .create_user(
            &tenantry_core::PlatformScope::operator_cli(),
            NewUser::from_username(Username::parse("ada").unwrap()),
        )
        .await
        .unwrap();
    let hasher = api_key_hasher(store, None).await.unwrap();

    let (api_key, token) = tenantry_core::service::mint_api_key(
        store,
        &hasher,
        &scope,
        user.id.clone(),
        ApiKeyName::parse("ci").unwrap(),
        ApiKeyLifetime::default_lifetime(),
    )
    .await
    .unwrap();
    assert_eq!(store.get_api_key(&scope, &api_key.id).await.unwrap(), api_key);
    let principal = authenticate(store, &hasher, token.expose(), tenantry_core::now()).await.unwrap();
    assert_eq!(principal.api_key.id, api_key.id);
    assert!(store.get_api_key(&scope, &api_key.id).await.unwrap().last_used_at.is_some());

    let revoked = store.revoke_api_key(&scope, &api_key.id, tenantry_core::now()).await.unwrap();
    assert!(revoked.is_revoked());
    assert_eq!(store.get_api_key(&scope, &api_key.id).await.unwrap(), revoked);
    assert_conflict(
        store.revoke_api_key(&scope, &api_key.id, tenantry_core::now()).await,
        ConflictCode::AlreadyRevoked,
    );
    assert_eq!(store.list_api_keys(&scope, PageRequest::first()).await.unwrap().items, vec![revoked]);
}

#[tokio::test]
async fn bootstrapping_twice_creates_the_default_tenant_once() {
    let backend = backend().await;
    let store = backend.store.as_ref();
    let hasher = api_key_hasher(store, None).await.unwrap();
    let config = BootstrapConfig::defaults();

    let (first, first_token) = bootstrap(store, &hasher, &config).await.unwrap();
    assert!(first.created);
    let operator = first.operator.as_ref().unwrap();
    let platform = PartitionScope::Platform(PlatformScope::authorization());
    let platform_admins = store.relationship_snapshot(&platform).await.unwrap().relationships;
    assert_eq!(platform_admins, vec![platform_admin_relationship(&operator.id)]);
    let (second, second_token) = bootstrap(store, &hasher, &config).await.unwrap();
    assert!(!second.created);
    assert!(second.operator.is_none());
    assert!(second_token.is_none());
    assert_eq!(second.tenant, first.tenant);
    assert_eq!(second.root_workspace, first.root_workspace);

    let principal =
        authenticate(store, &hasher, first_token.unwrap().expose(), tenantry_core::now()).await.unwrap();
    assert_eq!(principal.api_key.user_id, operator.id);
    assert_eq!(principal.api_key.tenant_id, first.tenant.id);
    for (query, expected) in [
        ("SELECT count(*) FROM tenants", 1),
        ("SELECT count(*) FROM workspaces", 1),
        ("SELECT count(*) FROM users", 1),
        ("SELECT count(*) FROM api_keys", 1),
    ] {
        assert_eq!(backend.raw.scalar_i64(query).await, Ok(expected), "{query}");
    }
}
