//! `tenantry invitation list`: a tenant's invitations, for operators. The
//! operator's own `member add` grants directly; invitations are how a
//! tenant's admins reach users outside their tenant, through the API.

use anyhow::Context;
use serde::Serialize;
use tenantry_core::relationship::membership_object;
use tenantry_core::{InvitationId, Invitee, Store};

use super::{collect_pages, operator_scope, resolve_tenant};
use crate::cli::InvitationCommand;
use crate::output::{self, Output};

/// An invitation as the CLI prints it.
#[derive(Debug, Serialize)]
struct InvitationView {
    id: String,
    resource: String,
    role: String,
    invitee: String,
    invited_by: String,
    status: String,
    expires_at: String,
}

/// Runs one invitation subcommand.
pub async fn run(store: &dyn Store, command: InvitationCommand, output: Output) -> anyhow::Result<()> {
    match command {
        InvitationCommand::List { tenant } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let invitations =
                collect_pages(async |page| store.list_invitations(&scope, page).await, InvitationId::parse)
                    .await
                    .with_context(|| format!("listing the invitations of tenant {}", tenant.name))?;
            let now = tenantry_core::now();
            let views: Vec<InvitationView> = invitations
                .into_iter()
                .map(|invitation| InvitationView {
                    id: invitation.id.to_string(),
                    resource: membership_object(&invitation.tenant_id, &invitation.resource).to_string(),
                    role: invitation.role.to_string(),
                    invitee: match &invitation.invitee {
                        Invitee::User(user_id) => format!("user:{user_id}"),
                        Invitee::Email(email) => format!("email:{}", email.as_str()),
                    },
                    invited_by: invitation.invited_by.to_string(),
                    status: invitation.status_at(now).to_string(),
                    expires_at: output::timestamp(&invitation.expires_at),
                })
                .collect();
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|view| {
                    vec![
                        view.id.clone(),
                        view.resource.clone(),
                        view.role.clone(),
                        view.invitee.clone(),
                        view.status.clone(),
                        view.expires_at.clone(),
                    ]
                })
                .collect();
            output.emit(&views, || {
                output::table(&["ID", "RESOURCE", "ROLE", "INVITEE", "STATUS", "EXPIRES"], &rows)
            })
        }
    }
}
