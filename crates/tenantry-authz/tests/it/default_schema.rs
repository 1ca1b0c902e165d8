//! The default schema does what the crate docs' table says, including the
//! cases that trip up hand-written authorization (the Kartograph cases).

use std::num::NonZeroUsize;

use tenantry_authz::{
    DEFAULT_SCHEMA, Engine, Index, LookupResources, LookupSubjects, ObjectRef, Relationship, Schema,
    SubjectRef,
};

/// A schema, an index and a clock, with short-hand for relationships.
pub(crate) struct World {
    pub(crate) schema: Schema,
    pub(crate) index: Index,
    pub(crate) now: i64,
}

impl World {
    pub(crate) fn new(relationships: &[&str]) -> Self {
        let mut world =
            Self { schema: Schema::parse(DEFAULT_SCHEMA).unwrap(), index: Index::new(), now: 1_000 };
        for relationship in relationships {
            world.add(relationship);
        }
        world
    }

    pub(crate) fn add(&mut self, relationship: &str) {
        let relationship: Relationship = relationship.parse().unwrap();
        self.schema.check_relationship(&relationship).unwrap();
        self.index.touch(&relationship).unwrap();
    }

    pub(crate) fn remove(&mut self, relationship: &str) {
        assert!(self.index.delete(&relationship.parse().unwrap()), "{relationship} was not there");
    }

    pub(crate) fn engine(&self) -> Engine<'_> {
        Engine::new(&self.schema, &self.index, self.now)
    }

    /// Whether `subject` has `permission` on `resource` (`"type:id"` each).
    pub(crate) fn can(&self, subject: &str, permission: &str, resource: &str) -> bool {
        self.engine().check(&object(resource), permission, &subject_ref(subject)).unwrap()
    }

    pub(crate) fn resources(&self, subject: &str, permission: &str, resource_type: &str) -> Vec<String> {
        let subject = subject_ref(subject);
        let page = self
            .engine()
            .lookup_resources(&LookupResources {
                resource_type,
                permission,
                subject: &subject,
                after: None,
                limit: NonZeroUsize::new(10_000).unwrap(),
            })
            .unwrap();
        assert!(page.next.is_none());
        page.items.iter().map(|object| object.id().to_owned()).collect()
    }

    pub(crate) fn subjects(&self, resource: &str, permission: &str, subject_type: &str) -> Vec<String> {
        let resource = object(resource);
        let page = self
            .engine()
            .lookup_subjects(&LookupSubjects {
                resource: &resource,
                permission,
                subject_type,
                subject_relation: None,
                after: None,
                limit: NonZeroUsize::new(10_000).unwrap(),
            })
            .unwrap();
        page.items.iter().map(|subject| subject.object_ref().id().to_owned()).collect()
    }
}

pub(crate) fn object(text: &str) -> ObjectRef {
    text.parse().unwrap()
}

pub(crate) fn subject_ref(text: &str) -> SubjectRef {
    text.parse().unwrap()
}

/// A tenant `t` with root workspace `root` and child `child` (with
/// grandchild `grandchild`), created by `user:owner`.
fn tenant() -> World {
    World::new(&[
        "platform:main#admin@user:operator",
        "tenant:t#platform@platform:main",
        "tenant:t#admin@user:owner",
        "workspace:root#tenant@tenant:t",
        "workspace:root#root_of@tenant:t",
        "workspace:child#tenant@tenant:t",
        "workspace:child#parent@workspace:root",
        "workspace:grandchild#tenant@tenant:t",
        "workspace:grandchild#parent@workspace:child",
    ])
}

#[test]
fn a_tenant_member_without_a_workspace_role_creates_under_the_root_only() {
    let mut world = tenant();
    world.add("tenant:t#member@user:mia");
    assert!(world.can("user:mia", "create_child", "workspace:root"));
    assert!(world.can("user:mia", "view", "workspace:root"));
    assert!(!world.can("user:mia", "create_child", "workspace:child"));
    assert!(!world.can("user:mia", "view", "workspace:child"));
    assert!(!world.can("user:mia", "edit", "workspace:root"));
    // Someone outside the tenant gets nothing.
    assert!(!world.can("user:stranger", "create_child", "workspace:root"));
}

#[test]
fn decisions_are_recorded_by_editors_and_recorders_and_read_by_viewers() {
    let mut world = tenant();
    world.add("workspace:child#decision_recorder@user:agent");
    world.add("workspace:child#editor@user:eddie");
    world.add("workspace:child#member@user:mia");
    for (user, records, reads) in
        [("agent", true, false), ("eddie", true, true), ("mia", false, true), ("owner", true, true)]
    {
        let subject = format!("user:{user}");
        assert_eq!(world.can(&subject, "record_decision", "workspace:child"), records, "{user} records");
        assert_eq!(world.can(&subject, "record_decision", "workspace:grandchild"), records, "{user} below");
        assert_eq!(world.can(&subject, "read_decisions", "workspace:child"), reads, "{user} reads");
    }
    assert!(!world.can("user:agent", "record_decision", "workspace:root"), "not above its workspace");
    assert!(!world.can("user:agent", "view", "workspace:child"), "recording grants nothing else");
}

#[test]
fn approvals_are_requested_by_recorders_decided_by_group_members_and_broken_by_operators() {
    let mut world = tenant();
    world.add("workspace:child#decision_recorder@user:agent");
    world.add("workspace:child#break_glass_operator@user:oncall");
    world.add("workspace:child#member@user:mia");
    world.add("group:approvers#member@user:ada");
    world.add("group:leads#member@user:lead");
    world.add("group:approvers#member@group:leads#member");
    for (user, requests, breaks) in
        [("agent", true, false), ("oncall", false, true), ("mia", false, false), ("owner", true, true)]
    {
        let subject = format!("user:{user}");
        assert_eq!(
            world.can(&subject, "request_approval", "workspace:grandchild"),
            requests,
            "{user} requests"
        );
        assert_eq!(world.can(&subject, "break_glass", "workspace:grandchild"), breaks, "{user} breaks glass");
    }
    assert!(!world.can("user:oncall", "break_glass", "workspace:root"), "not above its workspace");
    for (user, decides) in [("ada", true), ("lead", true), ("mia", false), ("agent", false)] {
        assert_eq!(
            world.can(&format!("user:{user}"), "decide_approvals", "group:approvers"),
            decides,
            "{user}"
        );
    }
    assert!(world.can("user:owner", "manage_approval_routing", "tenant:t"));
    assert!(!world.can("user:mia", "manage_approval_routing", "tenant:t"));
}

#[test]
fn an_editor_of_a_child_creates_beneath_it_but_not_above() {
    let mut world = tenant();
    world.add("workspace:child#editor@user:eddie");
    assert!(world.can("user:eddie", "create_child", "workspace:child"));
    assert!(world.can("user:eddie", "create_child", "workspace:grandchild"));
    assert!(!world.can("user:eddie", "create_child", "workspace:root"));
    assert!(!world.can("user:eddie", "view", "workspace:root"));
}

#[test]
fn group_editors_edit_but_cannot_manage() {
    let mut world = tenant();
    world.add("group:writers#tenant@tenant:t");
    world.add("group:writers#member@user:gina");
    world.add("workspace:child#editor@group:writers#member");
    for workspace in ["workspace:child", "workspace:grandchild"] {
        assert!(world.can("user:gina", "view", workspace));
        assert!(world.can("user:gina", "edit", workspace));
        assert!(!world.can("user:gina", "manage", workspace));
    }
    assert!(!world.can("user:gina", "edit", "workspace:root"));
    // The group as a subject set holds the role too.
    assert!(world.can("group:writers#member", "edit", "workspace:grandchild"));
}

#[test]
fn removing_a_user_from_a_group_revokes_access_at_once() {
    let mut world = tenant();
    world.add("group:writers#member@user:gina");
    world.add("workspace:child#editor@group:writers#member");
    assert!(world.can("user:gina", "edit", "workspace:grandchild"));
    world.remove("group:writers#member@user:gina");
    assert!(!world.can("user:gina", "edit", "workspace:grandchild"));
    assert!(!world.can("user:gina", "view", "workspace:child"));
    assert!(world.resources("user:gina", "view", "workspace").is_empty());
}

#[test]
fn roles_flow_down_a_hierarchy_ten_levels_deep() {
    let mut world = World::new(&["workspace:w0#tenant@tenant:t", "tenant:t#admin@user:tina"]);
    for level in 1..=10 {
        world.add(&format!("workspace:w{level}#parent@workspace:w{}", level - 1));
        world.add(&format!("workspace:w{level}#tenant@tenant:t"));
    }
    world.add("workspace:w0#admin@user:ada");
    world.add("workspace:w3#editor@user:ed");
    world.add("workspace:w5#member@user:mo");
    for level in 0..=10 {
        let workspace = format!("workspace:w{level}");
        assert!(world.can("user:ada", "manage", &workspace), "{workspace}");
        assert!(world.can("user:tina", "manage", &workspace), "{workspace}");
        assert_eq!(world.can("user:ed", "edit", &workspace), level >= 3, "{workspace}");
        assert!(!world.can("user:ed", "manage", &workspace), "{workspace}");
        assert_eq!(world.can("user:mo", "view", &workspace), level >= 5, "{workspace}");
        assert!(!world.can("user:mo", "edit", &workspace), "{workspace}");
    }
    let visible = world.resources("user:mo", "view", "workspace");
    assert_eq!(visible, ["w10", "w5", "w6", "w7", "w8", "w9"]);
    assert_eq!(world.subjects("workspace:w10", "edit", "user"), ["ada", "ed", "tina"]);
}

#[test]
fn a_cycle_of_nested_groups_terminates_with_the_right_answer() {
    let world = World::new(&[
        "group:a#member@group:b#member",
        "group:b#member@group:c#member",
        "group:c#member@group:a#member",
        "group:b#member@user:bea",
        "group:d#member@user:dan",
        "workspace:w#editor@group:a#member",
    ]);
    for group in ["group:a", "group:b", "group:c"] {
        assert!(world.can("user:bea", "member", group), "{group}");
        assert!(!world.can("user:dan", "member", group), "{group}");
    }
    assert!(world.can("user:bea", "edit", "workspace:w"));
    assert!(!world.can("user:dan", "edit", "workspace:w"));
    assert_eq!(world.resources("user:bea", "member", "group"), ["a", "b", "c"]);
    assert_eq!(world.subjects("group:c", "member", "user"), ["bea"]);
}

#[test]
fn a_workspace_cycle_in_the_data_terminates_too() {
    // The product never writes one, but the engine must not hang if it exists.
    let world = World::new(&[
        "workspace:x#parent@workspace:y",
        "workspace:y#parent@workspace:x",
        "workspace:x#admin@user:xena",
    ]);
    assert!(world.can("user:xena", "manage", "workspace:y"));
    assert!(!world.can("user:yuri", "view", "workspace:y"));
    assert_eq!(world.resources("user:xena", "view", "workspace"), ["x", "y"]);
}

#[test]
fn expired_relationships_grant_nothing() {
    let mut world = tenant();
    let expiring: Relationship = "workspace:child#editor@user:temp".parse().unwrap();
    world.index.touch(&expiring.clone().expiring_at(2_000)).unwrap();
    world.now = 1_999;
    assert!(world.can("user:temp", "edit", "workspace:grandchild"));
    world.now = 2_000;
    assert!(!world.can("user:temp", "edit", "workspace:grandchild"));
    assert!(!world.can("user:temp", "editor", "workspace:child"));
    assert!(world.resources("user:temp", "view", "workspace").is_empty());
    assert!(!world.subjects("workspace:child", "editor", "user").contains(&"temp".to_owned()));
    // Expired through a group as well.
    let membership: Relationship = "group:g#member@user:gus".parse().unwrap();
    world.index.touch(&membership.expiring_at(1_500)).unwrap();
    world.add("workspace:root#member@group:g#member");
    assert!(!world.can("user:gus", "view", "workspace:root"));
    // Clean-up removes exactly the expired ones.
    assert_eq!(world.index.remove_expired(world.now), 2);
}

#[test]
fn platform_admins_run_every_tenant_and_admin_implies_member() {
    let world = tenant();
    for permission in ["create_tenant", "list_tenants", "suspend_tenant", "delete_tenant", "mint_key"] {
        assert!(world.can("user:operator", permission, "platform:main"));
        assert!(!world.can("user:owner", permission, "platform:main"));
    }
    assert!(world.can("user:operator", "manage", "tenant:t"));
    assert!(world.can("user:operator", "manage", "workspace:grandchild"));
    assert!(world.can("user:owner", "view", "tenant:t"), "a tenant admin is a member");
    assert!(world.can("user:owner", "create_child", "workspace:grandchild"));
}

#[test]
fn api_keys_are_seen_and_revoked_by_their_owner_and_tenant_admins() {
    let mut world = tenant();
    world.add("api_key:k#owner@user:kim");
    world.add("api_key:k#tenant@tenant:t");
    world.add("tenant:t#member@user:mia");
    for user in ["user:kim", "user:owner", "user:operator"] {
        assert!(world.can(user, "view", "api_key:k"), "{user}");
        assert!(world.can(user, "revoke", "api_key:k"), "{user}");
    }
    assert!(!world.can("user:mia", "view", "api_key:k"));
    assert!(!world.can("user:mia", "revoke", "api_key:k"));
}

#[test]
fn groups_are_managed_by_their_admins_and_tenant_admins() {
    let mut world = tenant();
    world.add("group:g#tenant@tenant:t");
    world.add("group:g#admin@user:gail");
    world.add("group:g#member@user:gus");
    assert!(world.can("user:gail", "manage", "group:g"));
    assert!(world.can("user:owner", "manage", "group:g"));
    assert!(world.can("user:gus", "view", "group:g"));
    assert!(!world.can("user:gus", "manage", "group:g"));
    assert!(!world.can("user:gail", "member", "group:g"), "managing a group is not being in it");
}

#[test]
fn the_schema_refuses_relationships_it_does_not_allow() {
    let schema = Schema::parse(DEFAULT_SCHEMA).unwrap();
    let cases = [
        ("workspace:w#editor@group:g", "relation `workspace#editor` does not allow subjects of type `group`"),
        ("workspace:w#edit@user:u", "`workspace` has no relation `edit`"),
        ("folder:f#viewer@user:u", "the schema defines no type `folder`"),
        (
            "workspace:w#parent@workspace:p#view",
            "relation `workspace#parent` does not allow subjects of type `workspace#view`",
        ),
    ];
    for (text, message) in cases {
        let error = schema.check_relationship(&text.parse().unwrap()).unwrap_err();
        assert_eq!(error.to_string(), message);
    }
    // Stored anyway, such a relationship grants nothing.
    let mut world = World::new(&[]);
    world.index.touch(&"workspace:w#editor@group:g".parse().unwrap()).unwrap();
    assert!(!world.can("group:g", "edit", "workspace:w"));
}
