//! `tenantry user create|show|grant-platform-admin|revoke-platform-admin`.

use anyhow::Context;
use serde::Serialize;
use tenantry_core::relationship::platform_admin_relationship;
use tenantry_core::{Authorizer, DisplayName, NewUser, PlatformScope, RelationshipWrite, Store, User};

use super::resolve_user;
use crate::cli::{UserCommand, UserCreateArgs};
use crate::output::{self, Output};

/// A user as the CLI prints it.
#[derive(Debug, Serialize)]
struct UserView<'u> {
    id: String,
    username: &'u str,
    display_name: &'u str,
    email: Option<&'u str>,
    is_platform_admin: bool,
    created_at: String,
}

impl<'u> UserView<'u> {
    fn new(user: &'u User, is_platform_admin: bool) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.as_str(),
            display_name: user.display_name.as_str(),
            email: user.email.as_ref().map(|email| email.as_str()),
            is_platform_admin,
            created_at: user.created_at.to_rfc3339(),
        }
    }

    fn details(&self) -> String {
        output::details(&[
            ("id", self.id.clone()),
            ("username", self.username.to_owned()),
            ("display name", self.display_name.to_owned()),
            ("email", self.email.unwrap_or("-").to_owned()),
            ("platform admin", if self.is_platform_admin { "yes" } else { "no" }.to_owned()),
            ("created", self.created_at.clone()),
        ])
    }
}

/// Runs one user subcommand.
pub async fn run(
    store: &dyn Store,
    authorizer: &Authorizer,
    command: UserCommand,
    output: Output,
) -> anyhow::Result<()> {
    match command {
        UserCommand::Create(arguments) => create(store, authorizer, arguments, output).await,
        UserCommand::Show { user } => {
            let user = resolve_user(store, &user).await?;
            show(authorizer, &user, output).await
        }
        UserCommand::GrantPlatformAdmin { user } => {
            let user = resolve_user(store, &user).await?;
            let write =
                RelationshipWrite { touch: vec![platform_admin_relationship(&user.id)], delete: Vec::new() };
            authorizer
                .write_platform_relationships(write)
                .await
                .with_context(|| format!("making user {} a platform admin", user.username))?;
            tracing::info!(user_id = %user.id, "platform admin granted");
            show(authorizer, &user, output).await
        }
        UserCommand::RevokePlatformAdmin { user } => {
            let user = resolve_user(store, &user).await?;
            let write =
                RelationshipWrite { touch: Vec::new(), delete: vec![platform_admin_relationship(&user.id)] };
            authorizer
                .write_platform_relationships(write)
                .await
                .with_context(|| format!("taking the platform admin role from user {}", user.username))?;
            tracing::info!(user_id = %user.id, "platform admin revoked");
            show(authorizer, &user, output).await
        }
    }
}

async fn create(
    store: &dyn Store,
    authorizer: &Authorizer,
    arguments: UserCreateArgs,
    output: Output,
) -> anyhow::Result<()> {
    let UserCreateArgs { username, display_name, email } = arguments;
    let display_name = match display_name {
        Some(display_name) => display_name,
        None => DisplayName::parse(username.as_str()).context("using the username as display name")?,
    };
    let user = store
        .create_user(
            &PlatformScope::operator_cli(),
            NewUser { username: username.clone(), display_name, email },
        )
        .await
        .with_context(|| format!("creating user {:?}", username.as_str()))?;
    tracing::info!(user_id = %user.id, "user created");
    show(authorizer, &user, output).await
}

async fn show(authorizer: &Authorizer, user: &User, output: Output) -> anyhow::Result<()> {
    let is_platform_admin = is_platform_admin(authorizer, user).await?;
    let view = UserView::new(user, is_platform_admin);
    output.emit(&view, || view.details())
}

async fn is_platform_admin(authorizer: &Authorizer, user: &User) -> anyhow::Result<bool> {
    authorizer
        .check_platform(
            &user.id,
            tenantry_core::relationship::names::ADMIN,
            &tenantry_core::Consistency::FullyConsistent,
        )
        .await
        .context("reading the platform's admins")
}
