//! The data of the authorization benchmarks: about a million relationships
//! of tenantry's default schema, as text, and the questions asked of them.
//!
//! 100 tenants, each with 100 users (10k), 10 groups nested three deep (1k)
//! and 100 workspaces in a tree eight levels deep (10k), with tenant, group
//! and workspace memberships filling it up to about a million
//! relationships. A fixed seed makes every run build the same data.
//!
//! The relationships are text (`workspace:w1#parent@workspace:w0`), so that
//! each engine compared builds its own representation from the same facts;
//! [`Dataset::index`] builds tenantry's.

use tenantry_authz::Index;

/// How many tenants.
pub const TENANTS: usize = 100;
/// Users of each tenant.
pub const USERS_PER_TENANT: usize = 100;
/// Groups of each tenant.
pub const GROUPS_PER_TENANT: usize = 10;
/// Workspaces of each tenant, in one tree.
pub const WORKSPACES_PER_TENANT: usize = 100;
/// Levels of each workspace tree, the root included.
pub const DEPTH: usize = 8;
/// The user of each tenant whose only way into its workspaces is nested
/// groups: a member of group 9 only, which is nested in group 2, nested in
/// group 0, which holds `editor` on the root. Users 0 and 1 hold no
/// workspace role; user 0 is the tenant's admin.
pub const DEEP_USER: usize = 1;

const USERS_PER_GROUP: usize = 30;
const ROLES_PER_WORKSPACE: usize = 94;
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// A small deterministic generator (xorshift64).
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    /// The generator the data is built with; questions drawn from it after
    /// the data are the same in every run too.
    pub fn seeded() -> Self {
        Self(SEED)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// The tenant object `tenant:t<number>`.
pub fn tenant(tenant: usize) -> String {
    format!("tenant:t{tenant}")
}

/// User `number` of a tenant.
pub fn user(tenant: usize, number: usize) -> String {
    format!("user:u{}", tenant * USERS_PER_TENANT + number)
}

/// Group `number` of a tenant.
pub fn group(tenant: usize, number: usize) -> String {
    format!("group:g{}", tenant * GROUPS_PER_TENANT + number)
}

/// Workspace `number` of a tenant; 0 is the root.
pub fn workspace(tenant: usize, number: usize) -> String {
    format!("workspace:w{}", tenant * WORKSPACES_PER_TENANT + number)
}

/// Groups nest three deep: group 0 holds 1 and 2, 1 holds 3..=5, 2 holds 6..=9.
fn group_children(number: usize) -> &'static [usize] {
    match number {
        0 => &[1, 2],
        1 => &[3, 4, 5],
        2 => &[6, 7, 8, 9],
        _ => &[],
    }
}

/// A role a user holds directly on a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `admin`, which grants `manage`.
    Admin,
    /// `editor`, which grants `edit`.
    Editor,
    /// `member`, which grants `view`.
    Member,
}

impl Role {
    /// The relation of the default schema.
    pub fn relation(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Member => "member",
        }
    }

    /// The strongest permission the role grants.
    pub fn permission(self) -> &'static str {
        match self {
            Role::Admin => "manage",
            Role::Editor => "edit",
            Role::Member => "view",
        }
    }
}

/// One tenant's relationships and what the questions need to know of them.
#[derive(Debug)]
pub struct TenantData {
    relationships: Vec<String>,
    /// Per workspace number: its level below the root (0 for the root).
    depths: Vec<usize>,
    /// Every `(workspace, user, role)` of a role held by a user directly.
    workspace_roles: Vec<(usize, usize, Role)>,
}

impl TenantData {
    fn generate(tenant_number: usize, random: &mut Random) -> Self {
        let tenant_object = tenant(tenant_number);
        let user = |number| user(tenant_number, number);
        let group = |number| group(tenant_number, number);
        let workspace = |number| workspace(tenant_number, number);
        let mut relationships = vec![
            format!("{tenant_object}#platform@platform:main"),
            format!("{tenant_object}#admin@{}", user(0)),
        ];
        for number in 0..USERS_PER_TENANT {
            relationships.push(format!("{tenant_object}#member@{}", user(number)));
        }
        for number in 0..GROUPS_PER_TENANT {
            relationships.push(format!("{}#tenant@{tenant_object}", group(number)));
            relationships.push(format!("{}#admin@{}", group(number), user(0)));
            for &child in group_children(number) {
                relationships.push(format!("{}#member@{}#member", group(number), group(child)));
            }
            let mut members: Vec<usize> = (DEEP_USER + 1..USERS_PER_TENANT).collect();
            for _ in 0..USERS_PER_GROUP.min(members.len()) {
                let pick = members.swap_remove(random.below(members.len()));
                relationships.push(format!("{}#member@{}", group(number), user(pick)));
            }
            if number == 9 {
                relationships.push(format!("{}#member@{}", group(number), user(DEEP_USER)));
            }
        }
        // Workspace 0 is the root; 1..DEPTH form a spine eight levels deep;
        // every other workspace hangs below a random one that is not yet at
        // the deepest level.
        let mut depths = vec![0usize; WORKSPACES_PER_TENANT];
        relationships.push(format!("{}#root_of@{tenant_object}", workspace(0)));
        for number in 1..WORKSPACES_PER_TENANT {
            let parent = if number < DEPTH {
                number - 1
            } else {
                loop {
                    let candidate = random.below(number);
                    if depths[candidate] + 1 < DEPTH {
                        break candidate;
                    }
                }
            };
            depths[number] = depths[parent] + 1;
            relationships.push(format!("{}#parent@{}", workspace(number), workspace(parent)));
        }
        let mut workspace_roles = Vec::new();
        for number in 0..WORKSPACES_PER_TENANT {
            relationships.push(format!("{}#tenant@{tenant_object}", workspace(number)));
            let mut users: Vec<usize> = (DEEP_USER + 1..USERS_PER_TENANT).collect();
            for role_number in 0..ROLES_PER_WORKSPACE.min(users.len()) {
                let pick = users.swap_remove(random.below(users.len()));
                let role = match role_number {
                    0..2 => Role::Admin,
                    2..15 => Role::Editor,
                    _ => Role::Member,
                };
                relationships.push(format!("{}#{}@{}", workspace(number), role.relation(), user(pick)));
                workspace_roles.push((number, pick, role));
            }
            // The outermost group of the nesting edits the root; a random
            // group views every workspace.
            if number == 0 {
                relationships.push(format!("{}#editor@{}#member", workspace(0), group(0)));
            }
            relationships.push(format!(
                "{}#member@{}#member",
                workspace(number),
                group(random.below(GROUPS_PER_TENANT))
            ));
        }
        Self { relationships, depths, workspace_roles }
    }

    /// The tenant's relationships, as text.
    pub fn relationships(&self) -> &[String] {
        &self.relationships
    }

    /// The workspaces at the deepest level, `DEPTH - 1` below the root.
    fn deepest_workspaces(&self) -> Vec<usize> {
        (0..self.depths.len()).filter(|&number| self.depths[number] == DEPTH - 1).collect()
    }
}

/// The whole data set: the platform's relationships and every tenant's.
#[derive(Debug)]
pub struct Dataset {
    platform: Vec<String>,
    tenants: Vec<TenantData>,
}

/// The relationship that makes the bootstrap operator a platform admin, the
/// one relationship outside any tenant.
pub const PLATFORM_ADMIN: &str = "platform:main#admin@user:operator";

impl Dataset {
    /// Builds the data from `random` (use [`Random::seeded`]).
    pub fn generate(random: &mut Random) -> Self {
        let tenants = (0..TENANTS).map(|number| TenantData::generate(number, random)).collect();
        Self { platform: vec![PLATFORM_ADMIN.to_owned()], tenants }
    }

    /// The relationships outside any tenant.
    pub fn platform_relationships(&self) -> &[String] {
        &self.platform
    }

    /// Every relationship: the platform's, then each tenant's.
    pub fn relationships(&self) -> impl Iterator<Item = &str> {
        let tenants = self.tenants.iter().flat_map(|tenant| tenant.relationships.iter());
        self.platform.iter().chain(tenants).map(String::as_str)
    }

    /// tenantry's index of every relationship.
    pub fn index(&self) -> Index {
        let mut index = Index::new();
        for text in self.relationships() {
            index.touch(&text.parse().expect("valid relationship")).expect("room in the index");
        }
        index
    }

    /// One tenant's index as tenantry-core builds it: the tenant's
    /// relationships and the platform's, mirrored into it. A user of
    /// another tenant is not in it.
    pub fn tenant_index(&self, tenant: usize) -> Index {
        let mut index = Index::new();
        for text in self.platform.iter().chain(&self.tenants[tenant].relationships) {
            index.touch(&text.parse().expect("valid relationship")).expect("room in the index");
        }
        index
    }

    /// Every tenant's data, in tenant number order.
    pub fn tenants(&self) -> &[TenantData] {
        &self.tenants
    }

    /// How many relationships in all.
    pub fn len(&self) -> usize {
        self.platform.len() + self.tenants.iter().map(|tenant| tenant.relationships.len()).sum::<usize>()
    }

    /// Whether there is no relationship at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `count` questions about a random workspace and a random user of the
    /// same tenant.
    pub fn random_pairs(&self, random: &mut Random, count: usize, permission: &'static str) -> Vec<Question> {
        (0..count)
            .map(|_| {
                let tenant = random.below(TENANTS);
                Question {
                    tenant,
                    workspace: random.below(WORKSPACES_PER_TENANT),
                    user_tenant: tenant,
                    user: random.below(USERS_PER_TENANT),
                    permission,
                }
            })
            .collect()
    }

    /// `count` questions each answered yes by a role the user holds directly
    /// on the workspace: the role's permission (`view` for `member`, `edit`
    /// for `editor`, `manage` for `admin`).
    pub fn direct_roles(&self, random: &mut Random, count: usize) -> Vec<Question> {
        (0..count)
            .map(|_| {
                let tenant = random.below(TENANTS);
                let roles = &self.tenants[tenant].workspace_roles;
                let (workspace, user, role) = roles[random.below(roles.len())];
                Question { tenant, workspace, user_tenant: tenant, user, permission: role.permission() }
            })
            .collect()
    }

    /// `count` questions about a random workspace at the deepest level of a
    /// random tenant, asked by its [`DEEP_USER`].
    pub fn deepest(&self, random: &mut Random, count: usize, permission: &'static str) -> Vec<Question> {
        let deepest: Vec<Vec<usize>> = self.tenants.iter().map(TenantData::deepest_workspaces).collect();
        (0..count)
            .map(|_| {
                let tenant = random.below(TENANTS);
                let workspace = deepest[tenant][random.below(deepest[tenant].len())];
                Question { tenant, workspace, user_tenant: tenant, user: DEEP_USER, permission }
            })
            .collect()
    }
}

/// One check: may a user do `permission` on a workspace?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The tenant the workspace belongs to.
    pub tenant: usize,
    /// The workspace's number within its tenant.
    pub workspace: usize,
    /// The tenant the user belongs to (another one for a stranger).
    pub user_tenant: usize,
    /// The user's number within their tenant.
    pub user: usize,
    /// The permission asked for.
    pub permission: &'static str,
}

impl Question {
    /// The same question asked by user 50 of the next tenant: a user the
    /// data knows, holding nothing in this tenant.
    pub fn asked_by_stranger(&self) -> Self {
        Self { user_tenant: (self.tenant + 1) % TENANTS, user: 50, ..self.clone() }
    }

    /// The workspace, as `workspace:w<number>`.
    pub fn resource(&self) -> String {
        workspace(self.tenant, self.workspace)
    }

    /// The user, as `user:u<number>`.
    pub fn subject(&self) -> String {
        user(self.user_tenant, self.user)
    }

    /// The workspace's tenant, as `tenant:t<number>`.
    pub fn tenant(&self) -> String {
        tenant(self.tenant)
    }
}
