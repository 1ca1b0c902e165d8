//! Conformance cases for service accounts: created, listed, read and
//! deleted with their audit events; names unique within a tenant only;
//! deletion revokes keys and removes relationships; a service account
//! belongs to its own tenant only, and a deleted one to none; the schema
//! refuses a service user an OIDC identity, whatever SQL writes it.

use tenantry_core::audit::AuditEvent;
use tenantry_core::relationship::user_object;
use tenantry_core::{
    InvitationAnswer, InvitationLifetime, Invitee, NewInvitation, NewServiceAccount, Respondent,
    ServiceAccount, ServiceAccountName, UserKind,
};

use super::*;

async fn create_service_account(
    backend: &TestBackend,
    scope: &TenantScope,
    name: &str,
    created_by: Option<&UserId>,
) -> Result<ServiceAccount, Error> {
    let new =
        NewServiceAccount { name: ServiceAccountName::parse(name).unwrap(), created_by: created_by.cloned() };
    backend.store.create_service_account(scope, new).await
}

/// The actions of the tenant's audit log, oldest first.
async fn tenant_log_events(backend: &TestBackend, scope: &TenantScope) -> Vec<AuditEvent> {
    let rows = backend.store.audit_events_after(&tenant_partition(scope), 0, 1000).await.unwrap();
    rows.iter().map(|row| row.event().unwrap()).collect()
}

/// The relationships of the tenant's partition that name the user.
async fn relationships_naming(backend: &TestBackend, scope: &TenantScope, user_id: &UserId) -> Vec<String> {
    let snapshot = backend.store.relationship_snapshot(&tenant_partition(scope)).await.unwrap();
    let user = user_object(user_id).to_string();
    snapshot
        .relationships
        .iter()
        .map(ToString::to_string)
        .filter(|text| text.ends_with(&format!("@{user}")) || text.contains(&format!("@{user}#")))
        .collect()
}

fn refused_on(outcome: Result<impl Debug, Error>, expected_field: &str, context: &str) {
    match outcome {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, expected_field, "{context}"),
        other => panic!("{context}: expected Invalid on {expected_field}, got {other:?}"),
    }
}

/// A service account is created with its user (kind `service`, username
/// `service.<id>`) and its tenant membership, listed and read in its
/// tenant only, deleted, and each change is one event in the tenant's log.
async fn service_accounts_are_created_listed_read_and_deleted(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let admin = create_user(backend, "ada").await;
    let store = &backend.store;
    let created = create_service_account(backend, &acme.scope, "deploy-bot", Some(&admin.id)).await.unwrap();
    assert_eq!(created.tenant_id, acme.tenant.id);
    assert_eq!(created.name.as_str(), "deploy-bot");
    assert_eq!(created.username.as_str(), format!("service.{}", created.user_id));
    assert_eq!(created.created_by.as_ref(), Some(&admin.id));
    let user = store.get_user(&created.user_id).await.unwrap();
    assert_eq!(user.kind, UserKind::Service);
    assert_eq!(user.username, created.username);
    assert_eq!(store.get_user(&admin.id).await.unwrap().kind, UserKind::Person);
    assert_eq!(store.get_service_account(&acme.scope, &created.user_id).await.unwrap(), created);
    let listed = store.list_service_accounts(&acme.scope, PageRequest::first()).await.unwrap();
    assert_eq!(listed.items, vec![created.clone()]);
    // Another tenant sees nothing of it.
    assert!(matches!(
        store.get_service_account(&globex.scope, &created.user_id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(store.list_service_accounts(&globex.scope, PageRequest::first()).await.unwrap().items.is_empty());
    // It is a member of its tenant.
    assert_eq!(
        relationships_naming(backend, &acme.scope, &created.user_id).await,
        vec![format!("tenant:{}#member@user:{}", acme.tenant.id, created.user_id)]
    );
    // Pages follow the user id.
    let second = create_service_account(backend, &acme.scope, "ci-bot", None).await.unwrap();
    let first_page = store
        .list_service_accounts(&acme.scope, PageRequest { after: None, limit: PageLimit::new(1).unwrap() })
        .await
        .unwrap();
    let mut ids = [created.user_id.clone(), second.user_id.clone()];
    ids.sort();
    assert_eq!(first_page.items.len(), 1);
    assert_eq!(first_page.items[0].user_id, ids[0]);
    assert!(first_page.next_cursor.is_some());

    store.delete_service_account(&acme.scope, &created.user_id, tenantry_core::now()).await.unwrap();
    assert!(matches!(
        store.get_service_account(&acme.scope, &created.user_id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_service_account(&acme.scope, &created.user_id, tenantry_core::now()).await,
        Err(Error::NotFound { .. })
    ));
    // Its user stays, for the keys and the audit log that name it.
    assert_eq!(store.get_user(&created.user_id).await.unwrap().kind, UserKind::Service);
    let events = tenant_log_events(backend, &acme.scope).await;
    let of_account: Vec<&str> = events
        .iter()
        .filter(|event| event.resource().id() == created.user_id.to_string())
        .map(AuditEvent::action)
        .collect();
    assert_eq!(of_account, ["service_account.created", "service_account.deleted"]);
    // Deleting the tenant deletes its service accounts.
    store.delete_tenant(&platform(), &acme.tenant.id).await.unwrap();
    let left = backend
        .raw
        .scalar_i64(&format!("SELECT count(*) FROM service_accounts WHERE tenant_id = '{}'", acme.tenant.id))
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// The same name twice in a tenant is a conflict; in two tenants it is two
/// accounts.
async fn names_are_unique_within_a_tenant_only(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    create_service_account(backend, &acme.scope, "agent", None).await.unwrap();
    match create_service_account(backend, &acme.scope, "agent", None).await {
        Err(Error::Conflict { code, .. }) => assert_eq!(code, ConflictCode::DuplicateServiceAccountName),
        other => panic!("expected a duplicate name, got {other:?}"),
    }
    create_service_account(backend, &globex.scope, "agent", None).await.unwrap();
    // The refused one left no user behind.
    let service_users =
        backend.raw.scalar_i64("SELECT count(*) FROM users WHERE kind = 'service'").await.unwrap();
    assert_eq!(service_users, 2);
    // An unknown tenant is not found.
    let nowhere = TenantScope::system(TenantId::generate(), "test");
    assert!(matches!(
        create_service_account(backend, &nowhere, "agent", None).await,
        Err(Error::NotFound { .. })
    ));
}

/// Deleting a service account revokes its keys in the tenant (so that they
/// no longer authenticate) and deletes every relationship naming it: its
/// tenant role, its group memberships, its roles on workspaces and keys.
async fn deleting_revokes_keys_and_removes_relationships(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let store = &backend.store;
    let account = create_service_account(backend, &acme.scope, "deploy-bot", None).await.unwrap();
    let (first_key, _) = mint(backend, &acme.scope, &account.user_id, "first").await.unwrap();
    let (second_key, _) = mint(backend, &acme.scope, &account.user_id, "second").await.unwrap();
    store.revoke_api_key(&acme.scope, &second_key.id, tenantry_core::now()).await.unwrap();
    let group = create_group(backend, &acme.scope, "deployers", None).await;
    let workspace = create_workspace(backend, &acme.scope, "prod", None).await;
    for resource in
        [MembershipResource::Group(group.id.clone()), MembershipResource::Workspace(workspace.id.clone())]
    {
        let membership =
            Membership::new(resource, Member::User(account.user_id.clone()), Role::Member, None).unwrap();
        store.set_membership(&acme.scope, membership).await.unwrap();
    }
    // A person's key and roles in the same tenant are left alone.
    let person = create_user(backend, "ada").await;
    let (person_key, _) = mint(backend, &acme.scope, &person.id, "laptop").await.unwrap();
    assert_eq!(relationships_naming(backend, &acme.scope, &account.user_id).await.len(), 5);
    let before = store.api_key_credentials(&acme.scope, &first_key.id).await.unwrap().unwrap();

    let at = tenantry_core::now();
    store.delete_service_account(&acme.scope, &account.user_id, at).await.unwrap();
    assert_eq!(relationships_naming(backend, &acme.scope, &account.user_id).await, Vec::<String>::new());
    assert_eq!(store.get_api_key(&acme.scope, &first_key.id).await.unwrap().revoked_at, Some(at));
    let second_revoked = store.get_api_key(&acme.scope, &second_key.id).await.unwrap().revoked_at;
    assert!(
        second_revoked.is_some_and(|revoked_at| revoked_at < at),
        "an earlier revocation stays as it was"
    );
    assert_eq!(store.get_api_key(&acme.scope, &person_key.id).await.unwrap().revoked_at, None);
    assert_eq!(relationships_naming(backend, &acme.scope, &person.id).await.len(), 1);
    // The credentials revision moved, so cached credentials are read again.
    let after = store.api_key_credentials(&acme.scope, &first_key.id).await.unwrap().unwrap();
    assert!(after.api_key.is_revoked());
    assert!(after.revision > before.revision);
    // The event names the keys it revoked (the already revoked one aside).
    let events = tenant_log_events(backend, &acme.scope).await;
    let deleted = events.iter().find(|event| event.action() == "service_account.deleted").unwrap();
    let revoked = deleted.changes().get("revoked_api_key_ids").map(|change| change.after().clone());
    assert_eq!(revoked, Some(serde_json::json!([first_key.id.to_string()])));
}

/// A service account belongs to one tenant: another tenant can give it
/// neither a role (directly or by an accepted invitation) nor a key, while
/// a person is welcome in both.
async fn a_service_account_belongs_to_its_own_tenant_only(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let store = &backend.store;
    let account = create_service_account(backend, &acme.scope, "deploy-bot", None).await.unwrap();
    let person = create_user(backend, "ada").await;
    let as_member = |user_id: &UserId| {
        Membership::new(MembershipResource::Tenant, Member::User(user_id.clone()), Role::Member, None)
            .unwrap()
    };
    refused_on(
        store.set_membership(&globex.scope, as_member(&account.user_id)).await,
        "member",
        "membership",
    );
    refused_on(mint(backend, &globex.scope, &account.user_id, "key").await, "user_id", "api key");
    // An invitation to it can be made, but accepting it grants nothing.
    let invitation = NewInvitation::new(
        MembershipResource::Tenant,
        Role::Member,
        Invitee::User(account.user_id.clone()),
        person.id.clone(),
        InvitationLifetime::default_lifetime(),
    )
    .unwrap();
    let invitation = store.create_invitation(&globex.scope, invitation).await.unwrap();
    let respondent = Respondent { user_id: account.user_id.clone(), verified_email: None };
    refused_on(
        store
            .answer_invitation(
                &globex.scope,
                &invitation.id,
                &respondent,
                InvitationAnswer::Accept,
                tenantry_core::now(),
            )
            .await,
        "member",
        "accepted invitation",
    );
    assert_eq!(relationships_naming(backend, &globex.scope, &account.user_id).await, Vec::<String>::new());
    // Positive controls: in its own tenant it may, and so may a person in
    // the other tenant.
    mint(backend, &acme.scope, &account.user_id, "key").await.unwrap();
    let admin =
        Membership::new(MembershipResource::Tenant, Member::User(account.user_id.clone()), Role::Admin, None)
            .unwrap();
    store.set_membership(&acme.scope, admin).await.unwrap();
    store.set_membership(&globex.scope, as_member(&person.id)).await.unwrap();
    mint(backend, &globex.scope, &person.id, "key").await.unwrap();
}

/// A deleted service account can get neither a key nor a membership, even
/// in the tenant it belonged to.
async fn a_deleted_service_account_gets_nothing(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let store = &backend.store;
    let account = create_service_account(backend, &acme.scope, "deploy-bot", None).await.unwrap();
    store.delete_service_account(&acme.scope, &account.user_id, tenantry_core::now()).await.unwrap();
    let membership = Membership::new(
        MembershipResource::Tenant,
        Member::User(account.user_id.clone()),
        Role::Member,
        None,
    )
    .unwrap();
    refused_on(store.set_membership(&acme.scope, membership).await, "member", "membership");
    refused_on(mint(backend, &acme.scope, &account.user_id, "key").await, "user_id", "api key");
    assert_eq!(relationships_naming(backend, &acme.scope, &account.user_id).await, Vec::<String>::new());
}

/// The schema itself keeps a service user away from OIDC and in its
/// tenant: an OIDC identity, a service user without a tenant, or a person
/// with one are refused; the same statements on the right rows pass.
async fn the_schema_refuses_a_service_user_an_oidc_identity(backend: &TestBackend) {
    let acme = create_tenant(backend, "acme").await;
    let account = create_service_account(backend, &acme.scope, "deploy-bot", None).await.unwrap();
    let person = create_user(backend, "ada").await;
    let give_identity = |user_id: &UserId| {
        format!(
            "UPDATE users SET oidc_issuer = 'https://issuer.example', oidc_subject = 'sub' WHERE id = '{user_id}'"
        )
    };
    assert!(
        backend.raw.execute(&give_identity(&account.user_id)).await.is_err(),
        "no OIDC for a service user"
    );
    assert_eq!(backend.raw.execute(&give_identity(&person.id)).await, Ok(1), "a person may have one");
    let without_tenant =
        format!("UPDATE users SET service_tenant_id = NULL WHERE id = '{}'", account.user_id);
    assert!(backend.raw.execute(&without_tenant).await.is_err(), "a service user names its tenant");
    let person_with_tenant =
        format!("UPDATE users SET service_tenant_id = '{}' WHERE id = '{}'", acme.tenant.id, person.id);
    assert!(backend.raw.execute(&person_with_tenant).await.is_err(), "a person names no tenant");
    let unknown_kind = format!("UPDATE users SET kind = 'robot' WHERE id = '{}'", account.user_id);
    assert!(backend.raw.execute(&unknown_kind).await.is_err(), "kind is person or service");
    let moved = format!(
        "UPDATE service_accounts SET tenant_id = '{}' WHERE user_id = '{}'",
        TenantId::generate(),
        account.user_id
    );
    assert!(backend.raw.execute(&moved).await.is_err(), "a service account's tenant_id is immutable");
}

super::cases!(
    CASES,
    service_accounts_are_created_listed_read_and_deleted,
    names_are_unique_within_a_tenant_only,
    deleting_revokes_keys_and_removes_relationships,
    a_service_account_belongs_to_its_own_tenant_only,
    a_deleted_service_account_gets_nothing,
    the_schema_refuses_a_service_user_an_oidc_identity,
);
