//! Command output on stdout: aligned tables and sentences for people by
//! default, JSON with `--json` for scripts. Logs never go here.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;
use serde::Serialize;
use tenantry_core::{ApiKey, ApiKeyId, Tenant, TenantId, Timestamp, UserId, Workspace, WorkspaceId};

/// Where command output goes and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    /// Output as JSON when `json` is true, for people otherwise.
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints `value` as JSON, or `human` for people.
    pub fn emit<T: Serialize>(self, value: &T, human: impl FnOnce() -> String) -> anyhow::Result<()> {
        let text = if self.json {
            serde_json::to_string_pretty(value).context("encoding the output as JSON")?
        } else {
            human()
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", text.trim_end_matches('\n')).context("writing to stdout")?;
        stdout.flush().context("writing to stdout")
    }
}

/// Renders rows under a header, each column as wide as its widest cell,
/// separated by two spaces. Widths count characters, not bytes, so names in
/// any script line up.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header_cells: Vec<String> = header.iter().map(|title| (*title).to_owned()).collect();
    for row in std::iter::once(&header_cells).chain(rows) {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let padding = width.saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', padding));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Renders `label: value` lines with the values aligned.
pub fn details(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    fields.iter().fold(String::new(), |mut text, (label, value)| {
        let padding = width - label.chars().count();
        text.push_str(label);
        text.push(':');
        text.extend(std::iter::repeat_n(' ', padding + 1));
        text.push_str(value);
        text.push('\n');
        text
    })
}

/// A timestamp as people read it, to the second, in UTC.
pub fn timestamp(at: &Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// The lines describing one tenant.
pub fn tenant_details(tenant: &Tenant) -> String {
    details(&[
        ("id", tenant.id.to_string()),
        ("name", tenant.name.to_string()),
        ("display name", tenant.display_name.to_string()),
        ("status", tenant.status.to_string()),
        ("deployment model", tenant.deployment_model.to_string()),
        ("data residency", tenant.data_residency.to_string()),
        ("created at", timestamp(&tenant.created_at)),
        ("updated at", timestamp(&tenant.updated_at)),
    ])
}

/// A table of tenants.
pub fn tenant_table(tenants: &[Tenant]) -> String {
    if tenants.is_empty() {
        return "no tenants".to_owned();
    }
    let rows: Vec<Vec<String>> = tenants
        .iter()
        .map(|tenant| {
            vec![
                tenant.id.to_string(),
                tenant.name.to_string(),
                tenant.display_name.to_string(),
                tenant.status.to_string(),
                tenant.deployment_model.to_string(),
                tenant.data_residency.to_string(),
                timestamp(&tenant.created_at),
            ]
        })
        .collect();
    table(&["ID", "NAME", "DISPLAY NAME", "STATUS", "DEPLOYMENT MODEL", "DATA RESIDENCY", "CREATED"], &rows)
}

/// The lines describing one workspace.
pub fn workspace_details(workspace: &Workspace) -> String {
    details(&[
        ("id", workspace.id.to_string()),
        ("tenant id", workspace.tenant_id.to_string()),
        ("name", workspace.name.to_string()),
        (
            "parent",
            workspace.parent_workspace_id.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
        ),
        ("root", yes_no(workspace.is_root)),
        ("status", workspace.status.to_string()),
        ("environment", workspace.environment.to_string()),
        ("created at", timestamp(&workspace.created_at)),
    ])
}

/// A table of workspaces.
pub fn workspace_table(workspaces: &[Workspace]) -> String {
    let rows: Vec<Vec<String>> = workspaces
        .iter()
        .map(|workspace| {
            vec![
                workspace.id.to_string(),
                workspace.name.to_string(),
                workspace.parent_workspace_id.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
                yes_no(workspace.is_root),
                workspace.status.to_string(),
                workspace.environment.to_string(),
                timestamp(&workspace.created_at),
            ]
        })
        .collect();
    table(&["ID", "NAME", "PARENT", "ROOT", "STATUS", "ENVIRONMENT", "CREATED"], &rows)
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// One node of a workspace hierarchy, as printed with `--json`.
#[derive(Debug, Serialize)]
pub struct WorkspaceTreeNode {
    /// The workspace.
    #[serde(flatten)]
    pub workspace: Workspace,
    /// Its children, sorted by name.
    pub children: Vec<WorkspaceTreeNode>,
}

/// Arranges a tenant's workspaces into their hierarchy, children sorted by
/// name. Returns `None` when the list holds no root workspace.
pub fn workspace_tree(workspaces: Vec<Workspace>) -> Option<WorkspaceTreeNode> {
    let mut children_by_parent: HashMap<WorkspaceId, Vec<Workspace>> = HashMap::new();
    let mut root = None;
    for workspace in workspaces {
        match workspace.parent_workspace_id.clone() {
            Some(parent_workspace_id) => {
                children_by_parent.entry(parent_workspace_id).or_default().push(workspace)
            }
            None if workspace.is_root => root = Some(workspace),
            None => {}
        }
    }
    // Iterative construction would need the same bookkeeping; the depth of
    // a workspace tree is small, so recursion is the clearer choice.
    fn attach(
        workspace: Workspace,
        children_by_parent: &mut HashMap<WorkspaceId, Vec<Workspace>>,
    ) -> WorkspaceTreeNode {
        let mut children = children_by_parent.remove(&workspace.id).unwrap_or_default();
        children.sort_by(|left, right| left.name.cmp(&right.name).then_with(|| left.id.cmp(&right.id)));
        let children = children.into_iter().map(|child| attach(child, children_by_parent)).collect();
        WorkspaceTreeNode { workspace, children }
    }
    root.map(|root| attach(root, &mut children_by_parent))
}

/// Draws a hierarchy with box-drawing characters, one `name (id)` a line.
pub fn draw_workspace_tree(root: &WorkspaceTreeNode) -> String {
    fn draw_children(node: &WorkspaceTreeNode, indent: &str, text: &mut String) {
        let count = node.children.len();
        for (index, child) in node.children.iter().enumerate() {
            let is_last = index + 1 == count;
            let (branch, continuation) =
                if is_last { ("└── ", "    ") } else { ("├── ", "│   ") };
            text.push_str(&format!("{indent}{branch}{} ({})\n", child.workspace.name, child.workspace.id));
            draw_children(child, &format!("{indent}{continuation}"), text);
        }
    }
    let mut text = format!("{} ({})\n", root.workspace.name, root.workspace.id);
    draw_children(root, "", &mut text);
    text
}

/// An API key as the CLI shows it: the same fields as the HTTP API, with
/// the secret only right after creation.
#[derive(Debug, Serialize)]
pub struct ApiKeyView {
    /// The key's id.
    pub id: ApiKeyId,
    /// The key's name.
    pub name: String,
    /// The tenant it acts in.
    pub tenant_id: TenantId,
    /// The user it acts as.
    pub user_id: UserId,
    /// The user's username, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The public head of its token.
    pub prefix: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
    /// Whether it was revoked.
    pub is_revoked: bool,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// The token, present only in the output of `api-key create`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl ApiKeyView {
    /// The view of a stored key, without its secret.
    pub fn new(api_key: &ApiKey, username: Option<String>) -> Self {
        Self {
            id: api_key.id.clone(),
            name: api_key.name.to_string(),
            tenant_id: api_key.tenant_id.clone(),
            user_id: api_key.user_id.clone(),
            username,
            prefix: api_key.prefix(),
            created_at: api_key.created_at,
            expires_at: api_key.expires_at,
            last_used_at: api_key.last_used_at,
            is_revoked: api_key.is_revoked(),
            revoked_at: api_key.revoked_at,
            secret: None,
        }
    }

    /// `active`, `revoked` or `expired` at `now`.
    pub fn state(&self, now: &Timestamp) -> &'static str {
        if self.is_revoked {
            "revoked"
        } else if *now >= self.expires_at {
            "expired"
        } else {
            "active"
        }
    }
}

/// A table of API keys.
pub fn api_key_table(api_keys: &[ApiKeyView], now: &Timestamp) -> String {
    if api_keys.is_empty() {
        return "no API keys".to_owned();
    }
    let rows: Vec<Vec<String>> = api_keys
        .iter()
        .map(|api_key| {
            vec![
                api_key.id.to_string(),
                api_key.name.clone(),
                api_key.username.clone().unwrap_or_else(|| api_key.user_id.to_string()),
                api_key.state(now).to_owned(),
                timestamp(&api_key.created_at),
                timestamp(&api_key.expires_at),
                api_key.last_used_at.as_ref().map_or_else(|| "never".to_owned(), timestamp),
            ]
        })
        .collect();
    table(&["ID", "NAME", "USER", "STATE", "CREATED", "EXPIRES", "LAST USED"], &rows)
}

#[cfg(test)]
mod tests {
    use tenantry_core::{Environment, TenantId, WorkspaceName, WorkspaceStatus, now};

    use super::*;

    fn workspace(tenant_id: &TenantId, name: &str, parent: Option<&Workspace>) -> Workspace {
        Workspace {
            id: WorkspaceId::generate(),
            tenant_id: tenant_id.clone(),
            name: WorkspaceName::parse(name).unwrap(),
            parent_workspace_id: parent.map(|parent| parent.id.clone()),
            is_root: parent.is_none(),
            status: WorkspaceStatus::Active,
            environment: Environment::production(),
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn draws_the_hierarchy_with_children_sorted_by_name() {
        let tenant_id = TenantId::generate();
        let root = workspace(&tenant_id, "Root", None);
        let zulu = workspace(&tenant_id, "zulu", Some(&root));
        let alpha = workspace(&tenant_id, "alpha", Some(&root));
        let child = workspace(&tenant_id, "child", Some(&alpha));
        let grandchild = workspace(&tenant_id, "grandchild", Some(&child));
        let expected = format!(
            "Root ({})\n├── alpha ({})\n│   └── child ({})\n│       └── grandchild ({})\n└── zulu ({})\n",
            root.id, alpha.id, child.id, grandchild.id, zulu.id
        );
        let tree = workspace_tree(vec![grandchild, zulu, child, root, alpha]).unwrap();
        assert_eq!(draw_workspace_tree(&tree), expected);
    }

    #[test]
    fn a_list_without_a_root_has_no_tree() {
        let tenant_id = TenantId::generate();
        let root = workspace(&tenant_id, "Root", None);
        let child = workspace(&tenant_id, "child", Some(&root));
        assert!(workspace_tree(vec![child]).is_none());
    }

    #[test]
    fn tables_align_columns_by_characters() {
        let text =
            table(&["A", "B"], &[vec!["é".repeat(3), "x".to_owned()], vec!["y".to_owned(), "z".to_owned()]]);
        assert_eq!(text, "A    B\nééé  x\ny    z\n");
    }
}
