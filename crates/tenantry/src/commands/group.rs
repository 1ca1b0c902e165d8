//! `tenantry group create|list`: a tenant's groups, for operators, directly
//! on the database. A group created here has no creator: the tenant's
//! admins manage it (`group:G#tenant`), and `tenantry member ... --group`
//! names who belongs to it.

use anyhow::Context;
use tenantry_core::{GroupId, NewGroup, Store};

use super::{collect_pages, operator_scope, resolve_tenant};
use crate::cli::GroupCommand;
use crate::output::{self, Output};

const HEADER: [&str; 3] = ["ID", "NAME", "CREATED"];

fn row(group: &tenantry_core::Group) -> Vec<String> {
    vec![group.id.to_string(), group.name.as_str().to_owned(), output::timestamp(&group.created_at)]
}

/// Runs one group subcommand.
pub async fn run(store: &dyn Store, command: GroupCommand, output: Output) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create { tenant, name } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let group = store
                .create_group(&scope, NewGroup { name, creator: None })
                .await
                .with_context(|| format!("creating a group in tenant {}", tenant.name))?;
            output.emit(&group, || output::table(&HEADER, &[row(&group)]))
        }
        GroupCommand::List { tenant } => {
            let tenant = resolve_tenant(store, &tenant.tenant).await?;
            let scope = operator_scope(tenant.id.clone());
            let groups = collect_pages(async |page| store.list_groups(&scope, page).await, GroupId::parse)
                .await
                .with_context(|| format!("listing the groups of tenant {}", tenant.name))?;
            let rows: Vec<Vec<String>> = groups.iter().map(row).collect();
            output.emit(&groups, || output::table(&HEADER, &rows))
        }
    }
}
