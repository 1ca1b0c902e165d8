//! Relationships as the store keeps them: the authorization data, written in
//! the same transaction as the data they describe.
//!
//! # Partitions
//!
//! Relationships live in partitions. Each tenant has one, holding every
//! relationship about its objects (its workspaces, groups, API keys and
//! custom types, and the tenant itself); the platform partition holds the
//! relationships on `platform:main`, the deployment (who its admins are).
//! A tenant's partition is tenant-owned data like any other: `tenant_id`
//! on every row, row-level security on PostgreSQL. Object ids are only
//! unique within a partition, so two tenants may both have a `document:1`
//! without seeing each other's.
//!
//! # Revisions
//!
//! Every partition counts its writes. A transaction that changes at least
//! one relationship of a partition increments that partition's revision by
//! exactly one and records each change under the new revision in the
//! partition's change log. The increment takes a row lock that is held until
//! commit, so within a partition revisions commit in order: whoever reads
//! revision `n` committed can also read every change up to `n`. A reader
//! that is at revision `m` catches up by applying the changes after `m`.
//!
//! # What the product writes
//!
//! The functions at the end of this module say which relationships each
//! product operation writes, so both backends write the same ones.

use std::fmt;

pub use tenantry_authz::{Change, ObjectRef, Relationship, SubjectRef};

use crate::Timestamp;
use crate::api_key::ApiKey;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::id::{ApiKeyId, GroupId, TenantId, UserId, WorkspaceId};
use crate::membership::{Member, Membership, MembershipResource};
use crate::scope::{PlatformScope, TenantScope};
use crate::workspace::Workspace;

/// The built-in object types of the default schema.
pub mod object_types {
    /// The deployment: one object, `platform:main`.
    pub const PLATFORM: &str = "platform";
    /// A user.
    pub const USER: &str = "user";
    /// A group of users.
    pub const GROUP: &str = "group";
    /// A tenant.
    pub const TENANT: &str = "tenant";
    /// A workspace.
    pub const WORKSPACE: &str = "workspace";
    /// An API key.
    pub const API_KEY: &str = "api_key";

    /// Every built-in type: the routes of tenantry manage their objects.
    pub const ALL: [&str; 6] = [PLATFORM, USER, GROUP, TENANT, WORKSPACE, API_KEY];
}

/// The relation and permission names the product writes and asks for.
pub mod names {
    /// `tenant#platform`: the deployment a tenant belongs to.
    pub const PLATFORM: &str = "platform";
    /// `workspace#tenant`, `group#tenant`, `api_key#tenant`: the owning tenant.
    pub const TENANT: &str = "tenant";
    /// `workspace#parent`: the parent workspace.
    pub const PARENT: &str = "parent";
    /// `workspace#root_of`: set on a tenant's root workspace only.
    pub const ROOT_OF: &str = "root_of";
    /// `api_key#owner`: the user a key acts as.
    pub const OWNER: &str = "owner";
    /// The admin role.
    pub const ADMIN: &str = "admin";
    /// The editor role (workspaces).
    pub const EDITOR: &str = "editor";
    /// The member role; also `group#member`, the subject set of a group.
    pub const MEMBER: &str = "member";

    /// Permission: see the object.
    pub const VIEW: &str = "view";
    /// Permission: change the object.
    pub const EDIT: &str = "edit";
    /// Permission: manage the object (its members, its deletion).
    pub const MANAGE: &str = "manage";
    /// Permission: create a workspace beneath this one.
    pub const CREATE_CHILD: &str = "create_child";
    /// Permission: revoke an API key.
    pub const REVOKE: &str = "revoke";
    /// Platform permission: create tenants.
    pub const CREATE_TENANT: &str = "create_tenant";
    /// Platform permission: list every tenant.
    pub const LIST_TENANTS: &str = "list_tenants";
    /// Platform permission: change a tenant's status.
    pub const SUSPEND_TENANT: &str = "suspend_tenant";
    /// Platform permission: delete tenants.
    pub const DELETE_TENANT: &str = "delete_tenant";
    /// Platform permission: mint keys in any tenant, for any user.
    pub const MINT_KEY: &str = "mint_key";
    /// Reading an audit log: the tenant's (on `tenant`) or the platform's
    /// (on `platform`).
    pub const READ_AUDIT: &str = "read_audit";
    /// Permission: record AI-agent decisions in a workspace (on
    /// `workspace`).
    pub const RECORD_DECISION: &str = "record_decision";
    /// Permission: read a workspace's decisions and sessions (on
    /// `workspace`).
    pub const READ_DECISIONS: &str = "read_decisions";
    /// The relation that grants `record_decision` alone (on `workspace`),
    /// for the service accounts of agents.
    pub const DECISION_RECORDER: &str = "decision_recorder";
    /// Permission: ask for approval of a workspace's decisions (on
    /// `workspace`).
    pub const REQUEST_APPROVAL: &str = "request_approval";
    /// Permission: break the glass on a workspace's decisions (on
    /// `workspace`).
    pub const BREAK_GLASS: &str = "break_glass";
    /// The relation that grants `break_glass` (on `workspace`).
    pub const BREAK_GLASS_OPERATOR: &str = "break_glass_operator";
    /// Permission: decide the approval requests routed to a group and
    /// review its break-glass grants (on `group`).
    pub const DECIDE_APPROVALS: &str = "decide_approvals";
    /// Platform permission: watch and control operation runs.
    pub const MANAGE_OPERATIONS: &str = "manage_operations";
    /// Permission: replace a tenant's approval routing rules (on `tenant`).
    pub const MANAGE_APPROVAL_ROUTING: &str = "manage_approval_routing";

    /// Relations of the built-in types that only tenantry's own routes
    /// write: they describe structure (which tenant, which parent, who owns
    /// a key), and writing them by hand would contradict the stored data.
    /// As `(type, relation)` pairs.
    pub const STRUCTURAL: [(&str, &str); 7] = [
        ("tenant", PLATFORM),
        ("workspace", TENANT),
        ("workspace", PARENT),
        ("workspace", ROOT_OF),
        ("group", TENANT),
        ("api_key", TENANT),
        ("api_key", OWNER),
    ];
}

/// The id of the one platform object.
pub const PLATFORM_ID: &str = "main";

fn object(object_type: &str, id: &str) -> ObjectRef {
    ObjectRef::new(object_type, id).expect("built-in types and prefixed ids are valid object references")
}

fn relationship(resource: ObjectRef, relation: &str, subject: SubjectRef) -> Relationship {
    Relationship::new(resource, relation, subject).expect("built-in relation names are valid")
}

/// `platform:main`.
pub fn platform_object() -> ObjectRef {
    object(object_types::PLATFORM, PLATFORM_ID)
}

/// `tenant:<id>`.
pub fn tenant_object(tenant_id: &TenantId) -> ObjectRef {
    object(object_types::TENANT, &tenant_id.to_string())
}

/// `workspace:<id>`.
pub fn workspace_object(workspace_id: &WorkspaceId) -> ObjectRef {
    object(object_types::WORKSPACE, &workspace_id.to_string())
}

/// `group:<id>`.
pub fn group_object(group_id: &GroupId) -> ObjectRef {
    object(object_types::GROUP, &group_id.to_string())
}

/// `api_key:<id>`.
pub fn api_key_object(api_key_id: &ApiKeyId) -> ObjectRef {
    object(object_types::API_KEY, &api_key_id.to_string())
}

/// `user:<id>`.
pub fn user_object(user_id: &UserId) -> ObjectRef {
    object(object_types::USER, &user_id.to_string())
}

/// The subject `user:<id>`.
pub fn user_subject(user_id: &UserId) -> SubjectRef {
    SubjectRef::object(user_object(user_id))
}

/// The subject set `group:<id>#member`: every member of the group.
pub fn group_members_subject(group_id: &GroupId) -> SubjectRef {
    SubjectRef::set(group_object(group_id), names::MEMBER).expect("`member` is a valid relation")
}

/// The object a membership is on, in the scope's tenant.
pub fn membership_object(tenant_id: &TenantId, resource: &MembershipResource) -> ObjectRef {
    match resource {
        MembershipResource::Tenant => tenant_object(tenant_id),
        MembershipResource::Workspace(workspace_id) => workspace_object(workspace_id),
        MembershipResource::Group(group_id) => group_object(group_id),
    }
}

/// The subject a member stands for.
pub fn member_subject(member: &Member) -> SubjectRef {
    match member {
        Member::User(user_id) => user_subject(user_id),
        Member::Group(group_id) => group_members_subject(group_id),
    }
}

/// The member a stored subject stands for, if it is one: `user:<id>` or
/// `group:<id>#member`.
pub fn member_of_subject(subject: &SubjectRef) -> Option<Member> {
    let object = subject.object_ref();
    match (object.object_type(), subject.relation()) {
        (object_types::USER, None) => UserId::parse(object.id()).ok().map(Member::User),
        (object_types::GROUP, Some(names::MEMBER)) => GroupId::parse(object.id()).ok().map(Member::Group),
        _ => None,
    }
}

/// Microseconds since the Unix epoch: how relationships carry expiry.
pub fn timestamp_micros(at: Timestamp) -> i64 {
    at.timestamp_micros()
}

/// The timestamp of an expiry in microseconds since the Unix epoch.
pub fn timestamp_from_micros(micros: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// The relationship that stores a membership.
pub fn membership_relationship(tenant_id: &TenantId, membership: &Membership) -> Relationship {
    let stored = relationship(
        membership_object(tenant_id, membership.resource()),
        membership.role().relation(),
        member_subject(membership.member()),
    );
    match membership.expires_at() {
        Some(expires_at) => stored.expiring_at(timestamp_micros(expires_at)),
        None => stored,
    }
}

/// A partition's revision: how many relationship-changing transactions it
/// has committed. A new partition is at revision 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(u64);

impl Revision {
    /// The revision of a partition nothing was ever written to.
    pub const ZERO: Revision = Revision(0);

    /// A revision from its number.
    pub fn new(number: u64) -> Self {
        Self(number)
    }

    /// A revision read from a database column, which stores it as a signed
    /// 64-bit integer; a negative one is corrupt data.
    pub fn from_stored(number: i64) -> Result<Self> {
        u64::try_from(number)
            .map(Self)
            .map_err(|_| Error::internal(format!("a stored revision is negative: {number}")))
    }

    /// The revision's number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The number as the databases store it.
    pub fn to_stored(self) -> i64 {
        i64::try_from(self.0).expect("revisions stay far below 2^63")
    }

    /// The revision after this one.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// Which partition a relationship operation works on, with the scope that
/// permits it. There is no way to name "every partition".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionScope {
    /// The platform partition: relationships on `platform:main`.
    Platform(PlatformScope),
    /// One tenant's partition.
    Tenant(TenantScope),
}

impl PartitionScope {
    /// Whether `relationship` belongs in this partition: the platform
    /// partition holds exactly the relationships whose resource is of type
    /// `platform`, and a tenant partition every other one.
    pub fn admits(&self, relationship: &Relationship) -> bool {
        let is_platform = relationship.resource().object_type() == object_types::PLATFORM;
        matches!(self, Self::Platform(_)) == is_platform
    }

    /// [`Self::admits`] as an error naming the field: `Error::Invalid` on
    /// `resource` when the relationship belongs in another partition.
    pub fn require_admits(&self, relationship: &Relationship) -> Result<()> {
        if self.admits(relationship) {
            return Ok(());
        }
        let reason = match self {
            Self::Platform(_) => "only relationships on `platform:main` belong to the platform",
            Self::Tenant(_) => "relationships on `platform:main` are the platform's, not a tenant's",
        };
        Err(Error::invalid("resource", format!("{relationship}: {reason}")))
    }
}

/// Everything a partition holds at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipSnapshot {
    /// The revision the relationships are at.
    pub revision: Revision,
    /// The last revision at or before `revision` that changed a credential
    /// of the partition's tenant: see [`RelationshipChanges::Since`].
    pub credentials_revision: Revision,
    /// Every stored relationship of the partition, expired ones included
    /// until they are swept. In no particular order.
    pub relationships: Vec<Relationship>,
}

/// What a partition's change log says after a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationshipChanges {
    /// The changes after the asked-for revision, in order, and the revision
    /// they bring the reader to (the partition's current one). Empty when the
    /// reader is current.
    Since {
        /// The partition's current revision.
        revision: Revision,
        /// The last revision up to `revision` that changed a credential of
        /// the partition's tenant (revoked one of its API keys, changed its
        /// status) rather than, or besides, its relationships: what a
        /// process's cached credentials are compared with (see
        /// [`crate::credentials::CredentialCache`]). Always zero for the
        /// platform partition, which holds no credentials.
        credentials_revision: Revision,
        /// Every change after the asked-for revision up to `revision`.
        changes: Vec<Change>,
    },
    /// Some changes after the asked-for revision were pruned from the log;
    /// the reader must start again from a snapshot.
    Pruned,
    /// The partition is gone: its tenant was deleted.
    Gone,
}

/// A batch of relationship changes, applied in one transaction: deletions
/// first, then touches (insert, or replace the expiry of an existing one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationshipWrite {
    /// Relationships to insert, or whose expiry to replace.
    pub touch: Vec<Relationship>,
    /// Relationships to remove; their expiry is ignored, and a relationship
    /// that is not stored is no change.
    pub delete: Vec<Relationship>,
}

/// Which relationships a list returns: every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationshipFilter {
    /// The resource's type.
    pub resource_type: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// The relation.
    pub relation: Option<String>,
    /// The subject's type.
    pub subject_type: Option<String>,
    /// The subject's id.
    pub subject_id: Option<String>,
    /// The subject's relation; `Some("")` matches subjects without one.
    pub subject_relation: Option<String>,
}

impl RelationshipFilter {
    /// The relationships between one resource and one subject (a plain
    /// subject when it names no relation), of `relation` or of any.
    pub fn between(resource: &ObjectRef, relation: Option<&str>, subject: &SubjectRef) -> Self {
        Self {
            resource_type: Some(resource.object_type().to_owned()),
            resource_id: Some(resource.id().to_owned()),
            relation: relation.map(str::to_owned),
            subject_type: Some(subject.object_ref().object_type().to_owned()),
            subject_id: Some(subject.object_ref().id().to_owned()),
            subject_relation: Some(subject.relation().unwrap_or_default().to_owned()),
        }
    }
}

/// How many stored relationships have one shape, across all partitions:
/// what a schema change must keep allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipUsage {
    /// The resource's type.
    pub resource_type: String,
    /// The relation.
    pub relation: String,
    /// The subject's type.
    pub subject_type: String,
    /// The subject's relation, if it is a subject set.
    pub subject_relation: Option<String>,
    /// How many relationships have this shape.
    pub count: u64,
    /// One of them, to show.
    pub example: Relationship,
}

/// A version of the deployment's authorization schema as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchema {
    /// Versions count up from 1; the highest is in force.
    pub version: i64,
    /// The schema's text.
    pub text: String,
    /// When it was stored.
    pub created_at: Timestamp,
}

// ---------------------------------------------------------------------------
// What the product writes
// ---------------------------------------------------------------------------

/// The platform admin relationship, `platform:main#admin@user:<id>`,
/// written by the bootstrap for the operator.
pub fn platform_admin_relationship(user_id: &UserId) -> Relationship {
    relationship(platform_object(), names::ADMIN, user_subject(user_id))
}

/// What creating a tenant writes in its partition: the tenant belongs to the
/// platform, its root workspace to it (and is marked its root), and its
/// creator, if any, is its admin.
pub fn new_tenant_relationships(
    tenant_id: &TenantId,
    root_workspace_id: &WorkspaceId,
    creator: Option<&UserId>,
) -> Vec<Relationship> {
    let tenant = tenant_object(tenant_id);
    let root = workspace_object(root_workspace_id);
    let mut relationships = vec![
        relationship(tenant.clone(), names::PLATFORM, SubjectRef::object(platform_object())),
        relationship(root.clone(), names::TENANT, SubjectRef::object(tenant.clone())),
        relationship(root, names::ROOT_OF, SubjectRef::object(tenant.clone())),
    ];
    if let Some(creator) = creator {
        relationships.push(relationship(tenant, names::ADMIN, user_subject(creator)));
    }
    relationships
}

/// The parent relationship of a workspace below the root.
pub fn workspace_parent_relationship(workspace_id: &WorkspaceId, parent_id: &WorkspaceId) -> Relationship {
    relationship(
        workspace_object(workspace_id),
        names::PARENT,
        SubjectRef::object(workspace_object(parent_id)),
    )
}

/// What creating a workspace below the root writes: its tenant, its parent,
/// and its creator, if any, as its admin.
pub fn new_workspace_relationships(workspace: &Workspace, creator: Option<&UserId>) -> Vec<Relationship> {
    let object = workspace_object(&workspace.id);
    let mut relationships = vec![relationship(
        object.clone(),
        names::TENANT,
        SubjectRef::object(tenant_object(&workspace.tenant_id)),
    )];
    if let Some(parent_id) = &workspace.parent_workspace_id {
        relationships.push(workspace_parent_relationship(&workspace.id, parent_id));
    }
    if let Some(creator) = creator {
        relationships.push(relationship(object, names::ADMIN, user_subject(creator)));
    }
    relationships
}

/// What creating a group writes: its tenant, and its creator, if any, as
/// its admin.
pub fn new_group_relationships(group: &Group, creator: Option<&UserId>) -> Vec<Relationship> {
    let object = group_object(&group.id);
    let mut relationships = vec![relationship(
        object.clone(),
        names::TENANT,
        SubjectRef::object(tenant_object(&group.tenant_id)),
    )];
    if let Some(creator) = creator {
        relationships.push(relationship(object, names::ADMIN, user_subject(creator)));
    }
    relationships
}

/// What creating a service account writes: its user is a `member` of its
/// tenant, the role it holds until an admin gives it another.
pub fn new_service_account_relationships(
    service_account: &crate::service_account::ServiceAccount,
) -> Vec<Relationship> {
    vec![relationship(
        tenant_object(&service_account.tenant_id),
        names::MEMBER,
        user_subject(&service_account.user_id),
    )]
}

/// What minting an API key writes: its owner and its tenant.
pub fn new_api_key_relationships(api_key: &ApiKey) -> Vec<Relationship> {
    let object = api_key_object(&api_key.id);
    vec![
        relationship(object.clone(), names::OWNER, user_subject(&api_key.user_id)),
        relationship(object, names::TENANT, SubjectRef::object(tenant_object(&api_key.tenant_id))),
    ]
}

/// One relationship of every shape the product writes, on made-up ids:
/// what any schema in force must allow.
pub fn product_relationship_shapes() -> Vec<Relationship> {
    let tenant_id = TenantId::from_ulid(ulid::Ulid::nil());
    let user_id = UserId::from_ulid(ulid::Ulid::nil());
    let group_id = GroupId::from_ulid(ulid::Ulid::nil());
    let workspace_id = WorkspaceId::from_ulid(ulid::Ulid::nil());
    let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let workspace = Workspace {
        id: workspace_id.clone(),
        tenant_id: tenant_id.clone(),
        name: crate::WorkspaceName::default_root(),
        parent_workspace_id: Some(workspace_id.clone()),
        is_root: false,
        status: crate::WorkspaceStatus::Active,
        environment: crate::Environment::parse("production").expect("valid literal"),
        created_at: at,
        updated_at: at,
    };
    let group = Group {
        id: group_id.clone(),
        tenant_id: tenant_id.clone(),
        name: crate::GroupName::parse("group").expect("valid literal"),
        created_at: at,
        updated_at: at,
    };
    let api_key = ApiKey {
        id: ApiKeyId::from_ulid(ulid::Ulid::nil()),
        tenant_id: tenant_id.clone(),
        user_id: user_id.clone(),
        name: crate::ApiKeyName::parse("key").expect("valid literal"),
        created_at: at,
        expires_at: at,
        last_used_at: None,
        revoked_at: None,
    };
    let mut shapes = vec![platform_admin_relationship(&user_id)];
    shapes.extend(new_tenant_relationships(&tenant_id, &workspace_id, Some(&user_id)));
    shapes.extend(new_workspace_relationships(&workspace, Some(&user_id)));
    shapes.extend(new_group_relationships(&group, Some(&user_id)));
    shapes.extend(new_api_key_relationships(&api_key));
    let resources = [
        MembershipResource::Tenant,
        MembershipResource::Workspace(workspace_id),
        MembershipResource::Group(group_id.clone()),
    ];
    for resource in resources {
        for &role in resource.roles() {
            for member in [
                Member::User(user_id.clone()),
                Member::Group(GroupId::from_ulid(ulid::Ulid::from_parts(0, 1))),
            ] {
                if let Ok(membership) = Membership::new(resource.clone(), member, role, None) {
                    shapes.push(membership_relationship(&tenant_id, &membership));
                }
            }
        }
    }
    shapes
}

#[cfg(test)]
mod tests {
    use tenantry_authz::{DEFAULT_SCHEMA, Schema};

    use super::*;

    /// Every relationship the product writes is one the default schema
    /// allows; a rename on either side fails here, not in production.
    #[test]
    fn the_default_schema_allows_what_the_product_writes() {
        let schema = Schema::parse(DEFAULT_SCHEMA).unwrap();
        let shapes = product_relationship_shapes();
        assert!(shapes.len() > 15, "{shapes:?}");
        for relationship in &shapes {
            schema.check_relationship(relationship).unwrap_or_else(|error| panic!("{relationship}: {error}"));
        }
        for (object_type, relation) in names::STRUCTURAL {
            assert!(schema.defines(object_type, relation), "{object_type}#{relation}");
        }
    }
    #[test]
    fn partitions_admit_their_own_relationships_only() {
        let platform = PartitionScope::Platform(PlatformScope::bootstrap());
        let tenant = PartitionScope::Tenant(TenantScope::system(TenantId::generate(), "test"));
        let admin = platform_admin_relationship(&UserId::generate());
        let document: Relationship = "document:1#viewer@user:u".parse().unwrap();
        assert!(platform.admits(&admin) && !tenant.admits(&admin));
        assert!(tenant.admits(&document) && !platform.admits(&document));
        assert!(tenant.require_admits(&admin).is_err());
    }

    #[test]
    fn subjects_map_back_to_members() {
        let user = Member::User(UserId::generate());
        let group = Member::Group(GroupId::generate());
        for member in [user, group] {
            assert_eq!(member_of_subject(&member_subject(&member)), Some(member));
        }
        assert_eq!(member_of_subject(&SubjectRef::object(group_object(&GroupId::generate()))), None);
    }
}
