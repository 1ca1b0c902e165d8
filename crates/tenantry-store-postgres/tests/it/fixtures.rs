//! Data the tests put in through the store, and connections as each role.

use sqlx::postgres::{PgPool, PgPoolOptions};
use tenantry_core::approval::{
    ApprovalKind, ApprovalRouting, ApprovalTtl, NewApproval, RequiredApprovals, RoutingRule,
};
use tenantry_core::decision::{DecisionOutcome, NewDecision, Reason, RecordKey, Severity};
use tenantry_core::service::mint_api_key;
use tenantry_core::{
    ApiKey, ApiKeyHasher, ApiKeyLifetime, ApiKeyName, DataResidency, DeploymentModel, DisplayName,
    Environment, GroupName, InvitationLifetime, Invitee, MembershipResource, NewGroup, NewInvitation,
    NewServiceAccount, NewTenant, NewUser, NewWorkspace, PlatformScope, Role, ServiceAccount, Store, Tenant,
    TenantName, TenantScope, UserId, Username, Workspace, WorkspaceName,
};
use tenantry_store_postgres::PostgresStore;
use tenantry_test_support::postgres::PostgresTestDb;

/// The tables row-level security confines to one tenant: every
/// tenant-owned one (the conformance case `every_table_is_listed` keeps the
/// list complete).
pub const TABLES_WITH_ROW_LEVEL_SECURITY: [&str; tenantry_test_support::TENANT_OWNED_TABLES.len()] =
    tenantry_test_support::TENANT_OWNED_TABLES;

/// A tenant made through the store: root, a child, a grandchild, one key,
/// one group, all created by one user, a decision in the child (and its
/// session), a service account, an invitation to the child for a
/// made-up user id, and a signed audit checkpoint (so every table of the
/// tenant has rows, relationships and the audit log included).
#[derive(Debug, Clone)]
pub struct SeededTenant {
    pub tenant: Tenant,
    pub scope: TenantScope,
    pub root: Workspace,
    pub child: Workspace,
    pub grandchild: Workspace,
    pub api_key: ApiKey,
    pub service_account: ServiceAccount,
}

impl SeededTenant {
    pub fn id(&self) -> String {
        self.tenant.id.to_string()
    }
}

pub fn hasher() -> ApiKeyHasher {
    ApiKeyHasher::new(&[7u8; 32]).unwrap()
}

pub fn new_tenant(name: &str) -> NewTenant {
    NewTenant {
        name: TenantName::parse(name).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        deployment_model: DeploymentModel::HostedSaas,
        data_residency: DataResidency::Eu,
        root_workspace_name: WorkspaceName::default_root(),
        creator: None,
    }
}

pub fn new_workspace(name: &str, parent: &Workspace) -> NewWorkspace {
    NewWorkspace {
        name: WorkspaceName::parse(name).unwrap(),
        parent_workspace_id: Some(parent.id.clone()),
        environment: Environment::production(),
        creator: None,
    }
}

/// Creates a tenant with a three-level tree, a group and an API key, all
/// created by `username`.
pub async fn seed_tenant(store: &dyn Store, name: &str, username: &str) -> SeededTenant {
    let user = store
        .ensure_user(
            &tenantry_core::PlatformScope::operator_cli(),
            NewUser::from_username(Username::parse(username).unwrap()),
        )
        .await
        .unwrap();
    let creator = Some(user.id.clone());
    let (tenant, root) = store
        .create_tenant(
            &PlatformScope::operator_cli(),
            NewTenant { creator: creator.clone(), ..new_tenant(name) },
        )
        .await
        .unwrap();
    let scope = TenantScope::system(tenant.id.clone(), "test");
    let child = store
        .create_workspace(
            &scope,
            NewWorkspace { creator: creator.clone(), ..new_workspace(&format!("{name} child"), &root) },
        )
        .await
        .unwrap();
    let grandchild =
        store.create_workspace(&scope, new_workspace(&format!("{name} grandchild"), &child)).await.unwrap();
    let team = store
        .create_group(&scope, NewGroup { name: GroupName::parse(&format!("{name} team")).unwrap(), creator })
        .await
        .unwrap();
    let (api_key, _token) = mint_api_key(
        store,
        &hasher(),
        &scope,
        user.id.clone(),
        ApiKeyName::parse("ci").unwrap(),
        ApiKeyLifetime::default_lifetime(),
    )
    .await
    .unwrap();
    let invitation = NewInvitation::new(
        MembershipResource::Workspace(child.id.clone()),
        Role::Editor,
        Invitee::User(UserId::generate()),
        user.id.clone(),
        InvitationLifetime::default_lifetime(),
    )
    .unwrap();
    store.create_invitation(&scope, invitation).await.unwrap();
    // A decision in the child, which starts its session.
    let label = |text: &str| tenantry_core::Label::parse(text).unwrap();
    let decision = NewDecision {
        id: Some(RecordKey::parse("decision-1").unwrap()),
        workspace_id: child.id.clone(),
        session_id: RecordKey::parse("session-1").unwrap(),
        agent_id: label("agent"),
        actor: None,
        repository: None,
        action_type: label("shell"),
        target: None,
        requested_operation: None,
        policy_pack: None,
        policy_id: None,
        rule_id: None,
        decision: DecisionOutcome::Block,
        severity: Severity::High,
        reason: None,
        evidence_refs: Vec::new(),
        approver_group: None,
        occurred_at: None,
        correlation_id: None,
    };
    store.record_decisions(&scope, vec![decision]).await.unwrap();
    // Routing rules, and a break-glass grant on the decision.
    let routing = ApprovalRouting::new(vec![RoutingRule {
        rule_id_prefix: None,
        target_contains: Some(label("prod")),
        approver_group: team.id.clone(),
    }])
    .unwrap();
    store.put_approval_routing(&scope, routing).await.unwrap();
    let break_glass = NewApproval {
        kind: ApprovalKind::BreakGlass,
        decision_id: RecordKey::parse("decision-1").unwrap(),
        approver_group: Some(team.id.clone()),
        required_approvals: RequiredApprovals::new(None).unwrap(),
        ttl: ApprovalTtl::for_break_glass(None).unwrap(),
        reason: Some(Reason::parse("incident").unwrap()),
        external_ref: None,
    };
    let as_user = TenantScope::new(tenant.id.clone(), tenantry_core::audit::user_actor(&user.id, None));
    store.open_approval(&as_user, break_glass, tenantry_core::now()).await.unwrap();
    let service_account = store
        .create_service_account(
            &scope,
            NewServiceAccount {
                name: tenantry_core::ServiceAccountName::parse(&format!("{name}-bot")).unwrap(),
                created_by: Some(user.id.clone()),
            },
        )
        .await
        .unwrap();
    // A webhook with one recorded delivery attempt.
    let (webhook, _secret) = store
        .create_webhook(
            &scope,
            tenantry_core::NewWebhook {
                url: tenantry_core::WebhookUrl::parse(
                    &format!("https://hooks.example.com/{name}"),
                    tenantry_core::TargetPolicy { allow_private: false },
                )
                .unwrap(),
                event_types: tenantry_core::EventTypes::parse(&["approval.*"]).unwrap(),
                description: None,
                created_by: Some(user.id.clone()),
            },
        )
        .await
        .unwrap();
    store
        .record_delivery(
            &scope,
            &webhook.id,
            tenantry_core::DeliveryRecord {
                message_id: "msg_fixture".to_owned(),
                event_seq: None,
                action: tenantry_core::webhook::TEST_EVENT_TYPE.to_owned(),
                attempt: 1,
                attempted_at: tenantry_core::now(),
                outcome: tenantry_core::DeliveryOutcome {
                    status: Some(204),
                    error: None,
                    duration: std::time::Duration::from_millis(3),
                },
                next_attempt_at: None,
            },
        )
        .await
        .unwrap();
    // A signed checkpoint, so that every audit table has rows too.
    let signer = tenantry_core::audit_service::AuditSigner::new(
        tenantry_core::audit_service::NoteSigner::from_seed("fixtures", [3u8; 32]).unwrap(),
    );
    signer.checkpoint_logs(store, &PlatformScope::audit_checkpointer()).await.unwrap();
    SeededTenant { tenant, scope, root, child, grandchild, api_key, service_account }
}

/// The store as the server connects: as the runtime role.
pub async fn runtime_store(db: &PostgresTestDb) -> PostgresStore {
    db.server_store().await
}

/// Two tenants, `alpha` and `beta`, seeded through the runtime role's store.
pub async fn seed_two_tenants(db: &PostgresTestDb) -> (SeededTenant, SeededTenant) {
    let store = runtime_store(db).await;
    let alpha = seed_tenant(&store, "alpha", "ada").await;
    let beta = seed_tenant(&store, "beta", "grace").await;
    store.close().await;
    (alpha, beta)
}

/// A pool of one connection, so that consecutive transactions are sure to
/// run on the same session.
pub async fn single_connection_pool(url: &str) -> PgPool {
    PgPoolOptions::new().max_connections(1).connect(url).await.unwrap()
}

/// `SELECT count(*) FROM <table>` plus an optional condition.
pub fn count_sql(table: &str, condition: &str) -> String {
    if condition.is_empty() {
        format!("SELECT count(*) FROM {table}")
    } else {
        format!("SELECT count(*) FROM {table} WHERE {condition}")
    }
}

/// The column naming a row's tenant: `id` on `tenants`, `tenant_id`
/// elsewhere.
pub fn tenant_column(table: &str) -> &'static str {
    if table == "tenants" { "id" } else { "tenant_id" }
}
