//! `tenantry api-key create|list|revoke`.

use std::collections::HashMap;

use anyhow::Context;
use tenantry_core::service::{mint_api_key, revoke_api_key};
use tenantry_core::{ApiKeyId, Authorizer, NewUser, PlatformScope, Store, UserId, now};

use super::{operator_scope, resolve_tenant};
use crate::cli::{ApiKeyCommand, ApiKeyCreateArgs, TenantOption};
use crate::output::{self, ApiKeyView, Output};
use crate::pepper::hasher_for;

/// Runs one API key subcommand.
pub async fn run(
    store: &dyn Store,
    authorizer: &Authorizer,
    command: ApiKeyCommand,
    output: Output,
) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create(arguments) => create(store, arguments, output).await,
        ApiKeyCommand::List { tenant } => list(store, &tenant, output).await,
        ApiKeyCommand::Revoke { tenant, api_key_id } => {
            revoke(store, authorizer, &tenant, &api_key_id, output).await
        }
    }
}

async fn create(store: &dyn Store, arguments: ApiKeyCreateArgs, output: Output) -> anyhow::Result<()> {
    let ApiKeyCreateArgs { tenant, username, name, expires_in_days, pepper } = arguments;
    let tenant = resolve_tenant(store, &tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let hasher = hasher_for(store, &pepper).await?;
    let user = store
        .ensure_user(&PlatformScope::operator_cli(), NewUser::from_username(username.clone()))
        .await
        .with_context(|| format!("finding or creating user {:?}", username.as_str()))?;
    let (api_key, token) =
        mint_api_key(store, &hasher, &scope, user.id.clone(), name.clone(), expires_in_days)
            .await
            .with_context(|| {
                format!(
                    "creating API key {:?} for user {:?} in tenant {} ({})",
                    name.as_str(),
                    username.as_str(),
                    tenant.name,
                    tenant.id
                )
            })?;
    tracing::info!(
        tenant_id = %api_key.tenant_id,
        api_key_id = %api_key.id,
        user_id = %api_key.user_id,
        "api key created"
    );
    let mut view = ApiKeyView::new(&api_key, Some(user.username.to_string()));
    view.secret = Some(token.expose().to_owned());
    output.emit(&view, || {
        format!(
            "Created API key {:?} ({}) for user {} in tenant {} ({}), expiring {}.\n\
             Store this key now: it is shown only this once and cannot be retrieved later.\n\n{}",
            view.name,
            view.id,
            user.username,
            tenant.name,
            tenant.id,
            output::timestamp(&view.expires_at),
            token.expose()
        )
    })
}

async fn list(store: &dyn Store, tenant: &TenantOption, output: Output) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let api_keys =
        super::collect_pages(async |page| store.list_api_keys(&scope, page).await, ApiKeyId::parse)
            .await
            .with_context(|| format!("listing the API keys of tenant {} ({})", tenant.name, tenant.id))?;
    // Keys name their user by id; people recognise usernames. A tenant has
    // few users, so each is read once.
    let mut usernames: HashMap<UserId, String> = HashMap::new();
    let mut views = Vec::with_capacity(api_keys.len());
    for api_key in &api_keys {
        if !usernames.contains_key(&api_key.user_id) {
            let user = store
                .get_user(&api_key.user_id)
                .await
                .with_context(|| format!("reading user {} of API key {}", api_key.user_id, api_key.id))?;
            usernames.insert(api_key.user_id.clone(), user.username.into_string());
        }
        views.push(ApiKeyView::new(api_key, usernames.get(&api_key.user_id).cloned()));
    }
    let listed_at = now();
    output.emit(&views, || output::api_key_table(&views, &listed_at))
}

async fn revoke(
    store: &dyn Store,
    authorizer: &Authorizer,
    tenant: &TenantOption,
    api_key_id: &ApiKeyId,
    output: Output,
) -> anyhow::Result<()> {
    let tenant = resolve_tenant(store, &tenant.tenant).await?;
    let scope = operator_scope(tenant.id.clone());
    let api_key = revoke_api_key(authorizer, store, &scope, api_key_id, now()).await.with_context(|| {
        format!("revoking API key {api_key_id} in tenant {} ({})", tenant.name, tenant.id)
    })?;
    tracing::info!(tenant_id = %api_key.tenant_id, api_key_id = %api_key.id, "api key revoked");
    let view = ApiKeyView::new(&api_key, None);
    output.emit(&view, || format!("Revoked API key {:?} ({}).", view.name, view.id))
}
