//! The test app: the real router over a test backend, fixtures made through
//! the store and the core use cases, and small helpers to send requests and
//! check answers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tenantry_api::{ApiConfig, ApiState, router};
use tenantry_core::service::{BootstrapConfig, bootstrap, mint_api_key};
use tenantry_core::{
    ApiKey, ApiKeyHasher, ApiKeyLifetime, ApiKeyName, Authorizer, AuthorizerConfig, DataResidency,
    DeploymentModel, DisplayName, Member, Membership, MembershipResource, NewTenant, NewUser, PlatformScope,
    Role, Store, Tenant, TenantName, TenantScope, UserId, Username, Workspace, WorkspaceName,
};
use tenantry_oidc::OidcVerifier;
use tenantry_test_support::TestBackend;
use tower::ServiceExt;

/// The key every test app signs audit checkpoints with.
pub fn audit_signer() -> tenantry_core::audit_service::AuditSigner {
    tenantry_core::audit_service::AuditSigner::new(
        tenantry_core::audit_service::NoteSigner::from_seed("test-deployment", [5u8; 32]).unwrap(),
    )
}

/// The pepper every test app hashes keys with.
pub const TEST_PEPPER: [u8; 32] = [7u8; 32];

/// The tables whose row counts tell whether a request changed anything:
/// every tenant-owned table ([`tenantry_test_support::TENANT_OWNED_TABLES`],
/// so a new one is counted without being listed here), users, and the
/// platform's relationships.
pub fn counted_tables() -> impl Iterator<Item = &'static str> {
    tenantry_test_support::TENANT_OWNED_TABLES.into_iter().chain(["users", "platform_relationships"])
}

/// How stale a test app's authorizer may be: long, so that a test that
/// relies on freshness must ask for it (a write, a token, full consistency).
pub const TEST_MAX_STALENESS: std::time::Duration = std::time::Duration::from_secs(3600);

/// A tenant with a user and an API key in it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant: Tenant,
    pub root_workspace: Workspace,
    pub user_id: UserId,
    pub api_key: ApiKey,
    /// The key's whole token.
    pub token: String,
}

impl Actor {
    pub fn tenant_id(&self) -> String {
        self.tenant.id.to_string()
    }

    pub fn root_id(&self) -> String {
        self.root_workspace.id.to_string()
    }

    pub fn scope(&self) -> TenantScope {
        TenantScope::system(self.tenant.id.clone(), "test")
    }
}

/// The router over one backend, with the bootstrap's default tenant and its
/// platform-admin operator.
pub struct TestApp {
    pub backend: TestBackend,
    pub router: Router,
    pub authorizer: Arc<Authorizer>,
    pub hasher: ApiKeyHasher,
    /// The bootstrap operator: a platform admin in the default tenant.
    pub operator: Actor,
}

/// A user of a tenant with a key, but no role beyond what the test gives.
#[derive(Debug, Clone)]
pub struct Person {
    pub user_id: UserId,
    pub token: String,
}

impl TestApp {
    pub async fn new(backend: TestBackend) -> Self {
        let hasher = ApiKeyHasher::new(&TEST_PEPPER).unwrap();
        let (outcome, token) =
            bootstrap(backend.store.as_ref(), &hasher, &BootstrapConfig::defaults()).await.unwrap();
        let token = token.expect("a fresh database is bootstrapped by this call");
        let scope = TenantScope::system(outcome.tenant.id.clone(), "test");
        let api_key = backend.store.get_api_key(&scope, token.api_key_id()).await.unwrap();
        let operator = Actor {
            tenant: outcome.tenant,
            root_workspace: outcome.root_workspace,
            user_id: outcome.operator.expect("the creating bootstrap returns the operator").id,
            api_key,
            token: token.expose().to_owned(),
        };
        let authorizer = Self::new_authorizer(&backend);
        let state =
            ApiState::new(backend.store.clone(), authorizer.clone(), hasher.clone(), ApiConfig::defaults())
                .with_audit_key(audit_signer().verifier_key());
        Self { router: router(state), authorizer, backend, hasher, operator }
    }

    /// An authorizer of its own over the backend's store: what another
    /// server process on the same database has.
    pub fn new_authorizer(backend: &TestBackend) -> Arc<Authorizer> {
        Arc::new(Authorizer::new(
            backend.store.clone(),
            AuthorizerConfig::with_freshness(TEST_MAX_STALENESS, TEST_MAX_STALENESS),
        ))
    }

    /// Another router over the same database with its own authorizer: a
    /// second server process.
    pub fn second_process(&self) -> Router {
        self.process_with_staleness(TEST_MAX_STALENESS)
    }

    /// Another server process whose authorization index (and so its cached
    /// API key credentials) may be at most `max_staleness` old for reads.
    pub fn process_with_staleness(&self, max_staleness: std::time::Duration) -> Router {
        let authorizer = Arc::new(Authorizer::new(
            self.backend.store.clone(),
            AuthorizerConfig::with_freshness(max_staleness, TEST_MAX_STALENESS),
        ));
        router(ApiState::new(
            self.backend.store.clone(),
            authorizer,
            self.hasher.clone(),
            ApiConfig::defaults(),
        ))
    }

    /// The same app, its router replaced by one under `config`: the same
    /// database and authorizer, so fixtures made either way are seen by
    /// both.
    pub fn with_config(self, config: ApiConfig) -> Self {
        let state =
            ApiState::new(self.backend.store.clone(), self.authorizer.clone(), self.hasher.clone(), config);
        Self { router: router(state), ..self }
    }

    /// The same app, its router replaced by one under `config` that also
    /// accepts the OIDC bearer tokens `verifier` accepts.
    pub fn with_oidc(self, verifier: Arc<OidcVerifier>, config: ApiConfig) -> Self {
        let state =
            ApiState::new(self.backend.store.clone(), self.authorizer.clone(), self.hasher.clone(), config)
                .with_oidc(verifier);
        Self { router: router(state), ..self }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.backend.store
    }

    /// Signs a checkpoint of every audit log that grew, as `serve` does
    /// every few seconds.
    pub async fn sign_checkpoints(&self) {
        audit_signer()
            .checkpoint_logs(self.store().as_ref(), &PlatformScope::audit_checkpointer())
            .await
            .unwrap();
    }

    /// A new tenant (made through the store, as an operator would) with a
    /// user `<name>-user`, its admin, who holds a key `<name>-key`.
    pub async fn tenant_with_key(&self, name: &str) -> Actor {
        let store = self.store();
        let user = store
            .ensure_user(
                &tenantry_core::PlatformScope::operator_cli(),
                NewUser::from_username(Username::parse(&format!("{name}-user")).unwrap()),
            )
            .await
            .unwrap();
        let (tenant, root_workspace) = store
            .create_tenant(
                &PlatformScope::operator_cli(),
                NewTenant {
                    name: TenantName::parse(name).unwrap(),
                    display_name: DisplayName::parse(&format!("{name} display")).unwrap(),
                    deployment_model: DeploymentModel::HostedSaas,
                    data_residency: DataResidency::Eu,
                    root_workspace_name: WorkspaceName::parse(&format!("{name}-root")).unwrap(),
                    creator: Some(user.id.clone()),
                },
            )
            .await
            .unwrap();
        let scope = TenantScope::system(tenant.id.clone(), "test");
        let (api_key, token) = mint_api_key(
            store.as_ref(),
            &self.hasher,
            &scope,
            user.id.clone(),
            ApiKeyName::parse(&format!("{name}-key")).unwrap(),
            ApiKeyLifetime::default_lifetime(),
        )
        .await
        .unwrap();
        Actor { tenant, root_workspace, user_id: user.id, api_key, token: token.expose().to_owned() }
    }

    /// A new user `username` with a key in the actor's tenant, given `role`
    /// on the tenant (none when `None`).
    pub async fn person(&self, actor: &Actor, username: &str, role: Option<Role>) -> Person {
        let store = self.store();
        // A new user, always: a name taken already (`<tenant>-user` is each
        // tenant's admin) would silently hand the test someone else.
        let user = store
            .create_user(
                &tenantry_core::PlatformScope::operator_cli(),
                NewUser::from_username(Username::parse(username).unwrap()),
            )
            .await
            .unwrap_or_else(|error| panic!("person {username}: {error}"));
        let scope = actor.scope();
        if let Some(role) = role {
            let membership =
                Membership::new(MembershipResource::Tenant, Member::User(user.id.clone()), role, None)
                    .unwrap();
            store.set_membership(&scope, membership).await.unwrap();
        }
        let (_, token) = mint_api_key(
            store.as_ref(),
            &self.hasher,
            &scope,
            user.id.clone(),
            ApiKeyName::parse(&format!("{username}-key")).unwrap(),
            ApiKeyLifetime::default_lifetime(),
        )
        .await
        .unwrap();
        // The fixture wrote through the store, behind the authorizer's back.
        self.authorizer.synced(&scope).await.unwrap();
        Person { user_id: user.id, token: token.expose().to_owned() }
    }

    pub async fn send(&self, call: Call) -> Reply {
        send_to(&self.router, call).await
    }

    /// Creates a workspace over HTTP and returns its JSON.
    pub async fn create_workspace(
        &self,
        token: &str,
        name: &str,
        parent_workspace_id: Option<&str>,
    ) -> Value {
        let body = serde_json::json!({ "name": name, "parent_workspace_id": parent_workspace_id });
        self.send(Call::post("/v1/workspaces").key(token).json(body)).await.expect(StatusCode::CREATED)
    }

    /// [`TestApp::row_counts`] without the audit log's tables: for tests of
    /// changes that are made (and so recorded) but must touch no other data.
    pub async fn data_row_counts(&self) -> BTreeMap<&'static str, i64> {
        let mut counts = self.row_counts().await;
        counts.retain(|table, _| !table.starts_with("audit_"));
        counts
    }

    /// The row count of each of [`counted_tables`], read as the database
    /// owner.
    pub async fn row_counts(&self) -> BTreeMap<&'static str, i64> {
        let mut counts = BTreeMap::new();
        for table in counted_tables() {
            let count = self.backend.raw.scalar_i64(&format!("SELECT count(*) FROM {table}")).await.unwrap();
            counts.insert(table, count);
        }
        counts
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self { method, path: path.into(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Presents `token` as `Authorization: Bearer`.
    pub fn key(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Names the tenant to act in with `X-Tenant-ID`.
    pub fn tenant(self, tenant_id: &str) -> Self {
        self.header("x-tenant-id", tenant_id)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A JSON body with its content type.
    pub fn json(self, body: Value) -> Self {
        self.raw_body(Some("application/json"), serde_json::to_vec(&body).unwrap())
    }

    /// Any body, with the given content type or none.
    pub fn raw_body(mut self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Self {
        if let Some(content_type) = content_type {
            self = self.header(header::CONTENT_TYPE.as_str(), content_type);
        }
        self.body = body.into();
        self
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The request, for assertion messages.
    pub description: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("{}: body is not JSON ({error}): {}", self.description, self.text))
    }

    /// Asserts the status and returns the JSON body (`null` when empty).
    pub fn expect(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}: {}", self.description, self.text);
        if self.text.is_empty() { Value::Null } else { self.json() }
    }

    /// Asserts an error response in the envelope, with this status and
    /// code, carrying the request id of the `x-request-id` header; returns
    /// the envelope's `error` object.
    pub fn expect_error(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(
            (self.status, self.error_code().as_str()),
            (status, code),
            "{}: {}",
            self.description,
            self.text
        );
        assert_eq!(
            self.headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()),
            Some("application/json"),
            "{}",
            self.description
        );
        let error = self.json()["error"].clone();
        let header_request_id = self.headers.get("x-request-id").and_then(|value| value.to_str().ok());
        assert!(header_request_id.is_some(), "{}: no x-request-id header", self.description);
        assert_eq!(error["request_id"].as_str(), header_request_id, "{}", self.description);
        assert!(
            error["message"].as_str().is_some_and(|message| !message.is_empty()),
            "{}: {}",
            self.description,
            self.text
        );
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(
                self.headers.get(header::WWW_AUTHENTICATE).and_then(|value| value.to_str().ok()),
                Some("Bearer realm=\"tenantry\""),
                "{}",
                self.description
            );
        }
        error
    }

    /// The envelope's code, or an empty string when the body is not one.
    pub fn error_code(&self) -> String {
        serde_json::from_str::<Value>(&self.text)
            .ok()
            .and_then(|body| body["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// A well-formed id of the given kind that no test ever created.
pub fn unused_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// Sends a request through `router` and reads the whole response.
pub async fn send_to(router: &Router, call: Call) -> Reply {
    let description = format!("{} {}", call.method, call.path);
    let mut builder = Request::builder().method(call.method).uri(&call.path);
    for (name, value) in &call.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(Body::from(call.body)).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply { description, status, headers, text: String::from_utf8(bytes.to_vec()).unwrap() }
}
