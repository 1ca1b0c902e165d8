//! Conformance cases for OIDC sign-in and for the reads by id that fill in
//! authorization answers.

use tenantry_core::{GroupId, OidcIdentity, OidcSignIn};

use super::*;

fn sign_in(subject: &str, username: &str, display_name: &str, email: Option<&str>) -> OidcSignIn {
    OidcSignIn {
        identity: OidcIdentity { issuer: "https://id.example".to_owned(), subject: subject.to_owned() },
        profile: NewUser {
            username: Username::parse(username).unwrap(),
            display_name: DisplayName::parse(display_name).unwrap(),
            email: email.map(|email| Email::parse(email).unwrap()),
        },
        fallback_username: Username::parse(&format!("oidc-{subject}")).unwrap(),
    }
}

/// The first sign-in of an identity creates its user; later ones bring the
/// profile in step (display name and e-mail always, the username when it is
/// free) and change nothing when nothing differs. A username held by
/// someone else makes a new user take the fallback.
async fn oidc_sign_in_creates_and_then_syncs_the_user(backend: &TestBackend) {
    let store = &backend.store;
    let ada = store
        .sign_in_oidc_user(
            &tenantry_core::PlatformScope::oidc_sign_in(),
            sign_in("ada-sub", "ada", "Ada", Some("ada@example.com")),
        )
        .await
        .unwrap();
    assert_eq!(ada.username.as_str(), "ada");
    assert_eq!(ada.display_name.as_str(), "Ada");
    assert_eq!(ada.email.as_ref().map(Email::as_str), Some("ada@example.com"));
    assert_eq!(store.get_user(&ada.id).await.unwrap(), ada);

    // Nothing differs: the same user, not even `updated_at` moves.
    let_the_clock_tick().await;
    let again = sign_in("ada-sub", "ada", "Ada", Some("ada@example.com"));
    assert_eq!(
        store.sign_in_oidc_user(&tenantry_core::PlatformScope::oidc_sign_in(), again).await.unwrap(),
        ada
    );

    let_the_clock_tick().await;
    let renamed = sign_in("ada-sub", "lovelace", "Ada Lovelace", None);
    let synced =
        store.sign_in_oidc_user(&tenantry_core::PlatformScope::oidc_sign_in(), renamed).await.unwrap();
    assert_eq!(synced.id, ada.id);
    assert_eq!(synced.username.as_str(), "lovelace");
    assert_eq!(synced.display_name.as_str(), "Ada Lovelace");
    assert_eq!(synced.email, None);
    assert_eq!(synced.created_at, ada.created_at);
    assert!(synced.updated_at > ada.updated_at);
    assert_eq!(store.get_user(&ada.id).await.unwrap(), synced);

    // A username someone else holds is not taken from them.
    let grace = create_user(backend, "grace").await;
    let clash = sign_in("ada-sub", "grace", "Ada L.", None);
    let kept = store.sign_in_oidc_user(&tenantry_core::PlatformScope::oidc_sign_in(), clash).await.unwrap();
    assert_eq!((kept.username.as_str(), kept.display_name.as_str()), ("lovelace", "Ada L."));
    assert_eq!(store.get_user(&grace.id).await.unwrap(), grace);

    // A new identity whose username is held gets its fallback.
    let impostor = store
        .sign_in_oidc_user(
            &tenantry_core::PlatformScope::oidc_sign_in(),
            sign_in("other-sub", "grace", "Grace", None),
        )
        .await
        .unwrap();
    assert_ne!(impostor.id, grace.id);
    assert_eq!(impostor.username.as_str(), "oidc-other-sub");
    // The same identity from another issuer is another user.
    let mut elsewhere = sign_in("ada-sub", "ada-elsewhere", "Ada", None);
    elsewhere.identity.issuer = "https://other.example".to_owned();
    let elsewhere =
        store.sign_in_oidc_user(&tenantry_core::PlatformScope::oidc_sign_in(), elsewhere).await.unwrap();
    assert_ne!(elsewhere.id, ada.id);
    assert_eq!(scalar(backend, "SELECT count(*) FROM users").await, 4);
}

/// Ten concurrent first sign-ins of one identity make one user.
async fn concurrent_first_oidc_sign_ins_make_one_user(backend: &TestBackend) {
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let store = backend.store.clone();
        tasks.spawn(async move {
            store
                .sign_in_oidc_user(
                    &tenantry_core::PlatformScope::oidc_sign_in(),
                    sign_in("new-sub", "newcomer", "New", None),
                )
                .await
        });
    }
    let users: Vec<User> = tasks.join_all().await.into_iter().map(Result::unwrap).collect();
    let ids: BTreeSet<UserId> = users.iter().map(|user| user.id.clone()).collect();
    assert_eq!(ids.len(), 1, "concurrent sign-ins made different users: {ids:?}");
    assert_eq!(users[0].username.as_str(), "newcomer");
    assert_eq!(scalar(backend, "SELECT count(*) FROM users").await, 1);
}

/// The reads by id return the scope tenant's rows (users: any) ordered by
/// id, each once, and leave out unknown ids and other tenants' rows.
async fn reads_by_id_skip_unknown_and_foreign_ids(backend: &TestBackend) {
    let alice = create_user(backend, "alice").await;
    let bob = create_user(backend, "bob").await;
    let acme = create_tenant(backend, "acme").await;
    let globex = create_tenant(backend, "globex").await;
    let store = &backend.store;
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };

    let team = create_workspace(backend, &acme.scope, "team", None).await;
    let foreign_workspace = create_workspace(backend, &globex.scope, "team", None).await;
    let asked = [
        team.id.clone(),
        WorkspaceId::generate(),
        foreign_workspace.id.clone(),
        acme.root.id.clone(),
        team.id.clone(),
    ];
    let found = store.workspaces_by_ids(&acme.scope, &asked).await.unwrap();
    assert_eq!(
        found.iter().map(|workspace| workspace.id.to_string()).collect::<Vec<_>>(),
        sorted(vec![team.id.to_string(), acme.root.id.to_string()])
    );
    assert!(found.contains(&team));

    let (key, _) = mint(backend, &acme.scope, &alice.id, "ci").await.unwrap();
    let (foreign_key, _) = mint(backend, &globex.scope, &alice.id, "ci").await.unwrap();
    let found = store
        .api_keys_by_ids(&acme.scope, &[foreign_key.id.clone(), ApiKeyId::generate(), key.id.clone()])
        .await
        .unwrap();
    assert_eq!(found, vec![key]);

    let readers = create_group(backend, &acme.scope, "readers", None).await;
    let writers = create_group(backend, &acme.scope, "writers", None).await;
    let foreign_group = create_group(backend, &globex.scope, "readers", None).await;
    let asked = [writers.id.clone(), foreign_group.id.clone(), GroupId::generate(), readers.id.clone()];
    let found = store.groups_by_ids(&acme.scope, &asked).await.unwrap();
    assert_eq!(
        found.iter().map(|group| group.id.to_string()).collect::<Vec<_>>(),
        sorted(vec![readers.id.to_string(), writers.id.to_string()])
    );

    let found = store
        .users_by_ids(&[bob.id.clone(), UserId::generate(), alice.id.clone(), bob.id.clone()])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|user| user.id.to_string()).collect::<Vec<_>>(),
        sorted(vec![alice.id.to_string(), bob.id.to_string()])
    );
    assert!(found.contains(&alice) && found.contains(&bob));
    assert_eq!(store.users_by_ids(&[]).await.unwrap(), Vec::new());
    assert_eq!(store.workspaces_by_ids(&globex.scope, &[team.id]).await.unwrap(), Vec::new());
}

// The cases of this module, registered: a case left out is dead code,
// which the lints refuse.
crate::conformance::cases!(
    CASES,
    oidc_sign_in_creates_and_then_syncs_the_user,
    concurrent_first_oidc_sign_ins_make_one_user,
    reads_by_id_skip_unknown_and_foreign_ids,
);
