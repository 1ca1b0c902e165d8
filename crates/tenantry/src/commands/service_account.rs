//! `tenantry service-account create|list|delete`: a tenant's service
//! accounts, for operators, directly on the database. The operator acts in
//! the tenant's scope as tenantry itself (`created_by` is empty), and every
//! change is an audit event, as through the API. A service account's keys
//! are minted with `tenantry api-key create --username service.<id>`.

use anyhow::Context;
use serde::Serialize;
use tenantry_core::{
    NewServiceAccount, ServiceAccount, ServiceAccountName, Store, TenantId, Timestamp, UserId, UserKind, now,
};

use super::{collect_pages, operator_scope, resolve_tenant};
use crate::cli::{ServiceAccountCommand, TenantOption};
use crate::output::{self, Output};

/// A service account as the CLI prints it: the API's fields.
#[derive(Debug, Serialize)]
struct ServiceAccountView {
    id: UserId,
    tenant_id: TenantId,
    name: ServiceAccountName,
    username: String,
    kind: &'static str,
    created_by: Option<UserId>,
    created_at: Timestamp,
}

impl From<ServiceAccount> for ServiceAccountView {
    fn from(service_account: ServiceAccount) -> Self {
        Self {
            id: service_account.user_id,
            tenant_id: service_account.tenant_id,
            name: service_account.name,
            username: service_account.username.into_string(),
            kind: UserKind::Service.as_str(),
            created_by: service_account.created_by,
            created_at: service_account.created_at,
        }
    }
}

/// What `delete` prints.
#[derive(Debug, Serialize)]
struct DeletedServiceAccount {
    id: UserId,
    tenant_id: TenantId,
    name: ServiceAccountName,
    deleted: bool,
}

/// Runs one service account subcommand.
pub async fn run(store: &dyn Store, command: ServiceAccountCommand, output: Output) -> anyhow::Result<()> {
    match command {
        ServiceAccountCommand::Create { tenant, name } => create(store, &tenant, name, output).await,
        ServiceAccountCommand::List { tenant } => list(store, &tenant, output).await,
        ServiceAccountCommand::Delete { tenant, id } => delete(store, &tenant, &id, output).await,
    }
}

async fn create(
    store: &dyn Store,
    tenant: &TenantOption,
    name: ServiceAccountName,
    output: Output,
) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let new = NewServiceAccount { name: name.clone(), created_by: None };
    let service_account = store.create_service_account(&scope, new).await.with_context(|| {
        format!("creating service account {:?} in tenant {} ({})", name.as_str(), tenant.name, tenant.id)
    })?;
    tracing::info!(
        tenant_id = %service_account.tenant_id,
        service_account_id = %service_account.user_id,
        "service account created"
    );
    let view = ServiceAccountView::from(service_account);
    output.emit(&view, || {
        format!(
            "Created service account {} ({}) in tenant {} ({}), username {}.\n\
             Mint its key with: tenantry api-key create --tenant {} --username {} --name NAME",
            view.name, view.id, tenant.name, tenant.id, view.username, tenant.id, view.username
        )
    })
}

async fn list(store: &dyn Store, tenant: &TenantOption, output: Output) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let service_accounts =
        collect_pages(async |page| store.list_service_accounts(&scope, page).await, UserId::parse)
            .await
            .with_context(|| {
                format!("listing the service accounts of tenant {} ({})", tenant.name, tenant.id)
            })?;
    let views: Vec<ServiceAccountView> = service_accounts.into_iter().map(ServiceAccountView::from).collect();
    output.emit(&views, || {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|view| {
                vec![
                    view.id.to_string(),
                    view.name.to_string(),
                    view.username.clone(),
                    output::timestamp(&view.created_at),
                ]
            })
            .collect();
        output::table(&["ID", "NAME", "USERNAME", "CREATED"], &rows)
    })
}

async fn delete(
    store: &dyn Store,
    tenant: &TenantOption,
    user_id: &UserId,
    output: Output,
) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let service_account = store.get_service_account(&scope, user_id).await.with_context(|| {
        format!("reading service account {user_id} of tenant {} ({})", tenant.name, tenant.id)
    })?;
    store.delete_service_account(&scope, user_id, now()).await.with_context(|| {
        format!("deleting service account {} ({user_id}) of tenant {}", service_account.name, tenant.name)
    })?;
    tracing::info!(tenant_id = %tenant.id, service_account_id = %user_id, "service account deleted");
    let deleted = DeletedServiceAccount {
        id: service_account.user_id,
        tenant_id: service_account.tenant_id,
        name: service_account.name,
        deleted: true,
    };
    output.emit(&deleted, || {
        format!("Deleted service account {} ({}); its API keys are revoked.", deleted.name, deleted.id)
    })
}
