//! The schema tenantry ships with. The crate docs have the table of who can
//! do what; tests in `tests/it/default_schema.rs` hold it to that table.

/// tenantry's default schema: platform, users, groups, tenants, workspaces
/// and API keys.
pub const DEFAULT_SCHEMA: &str = r#"
// A person, created from an OIDC token or by the CLI.
definition user {}

// The deployment itself: one object, `platform:main`. Its admins (the
// bootstrap operator first) run every tenant.
definition platform {
    relation admin: user

    permission create_tenant = admin
    permission list_tenants = admin
    permission suspend_tenant = admin
    permission delete_tenant = admin
    permission mint_key = admin
    // Reading the platform's audit log.
    permission read_audit = admin
    // Watching, pausing, resuming and cancelling operation runs.
    permission manage_operations = admin
}

// A set of users. `member` may name other groups' members, so groups nest;
// a cycle of groups is allowed and simply makes them share members.
definition group {
    relation tenant: tenant
    relation member: user | group#member
    relation admin: user

    permission manage = admin + tenant->manage
    permission view = member + manage
    // Deciding the approval requests routed to the group, and reviewing
    // its break-glass grants: its members (never the requester, a rule
    // tenantry keeps on top of this).
    permission decide_approvals = member
}

definition tenant {
    relation platform: platform
    relation admin: user | group#member
    relation member: user | group#member

    // Tenant admins, and the platform's admins in every tenant.
    permission manage = admin + platform->admin
    // Admin implies member: everything a member may do, an admin may do.
    permission view = member + manage
    // Reading the tenant's audit log: its admins, and the platform's.
    permission read_audit = manage
    // Replacing the tenant's approval routing rules.
    permission manage_approval_routing = manage
}

// Workspaces form a tree per tenant. Roles granted on a workspace hold on
// every descendant: `parent->manage`, `parent->edit`, `parent->view_by_role`.
definition workspace {
    relation tenant: tenant
    relation parent: workspace
    // Set only on a tenant's root workspace, to that tenant: it lets every
    // tenant member create workspaces directly under the root (and see it),
    // but not under any other workspace.
    relation root_of: tenant
    relation admin: user | group#member
    relation editor: user | group#member
    relation member: user | group#member
    // Records AI-agent decisions and nothing else: the relation to grant
    // an agent's service account.
    relation decision_recorder: user | group#member
    // Breaks the glass: grants an approval at once, subject to review.
    relation break_glass_operator: user | group#member

    permission manage = admin + parent->manage + tenant->manage
    permission edit = editor + manage + parent->edit
    // View granted by a role here or on an ancestor. It is kept apart from
    // `view` so that what `root_of` grants on the root does not flow down.
    permission view_by_role = member + edit + parent->view_by_role
    permission view = view_by_role + root_of->view
    permission create_child = edit + root_of->view
    permission record_decision = decision_recorder + edit + parent->record_decision
    permission read_decisions = view
    permission request_approval = record_decision
    permission break_glass = break_glass_operator + manage + parent->break_glass
}

definition api_key {
    relation owner: user
    relation tenant: tenant

    permission view = owner + tenant->manage
    permission revoke = owner + tenant->manage
}
"#;
