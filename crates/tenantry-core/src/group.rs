//! Groups: named sets of users inside one tenant. A group's members may be
//! users or other groups (whose members then count as its members), and a
//! group can be given a role on its tenant or on a workspace like a user.
//! Who belongs to a group is stored as relationships, not in this type.

use serde::Serialize;

use crate::Timestamp;
use crate::id::{GroupId, TenantId, UserId};
use crate::name::GroupName;

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group's id.
    pub id: GroupId,
    /// The tenant that owns it.
    pub tenant_id: TenantId,
    /// Unique within the tenant.
    pub name: GroupName,
    /// When the group was created.
    pub created_at: Timestamp,
    /// When the group last changed.
    pub updated_at: Timestamp,
}

/// What it takes to create a group.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// Unique within the tenant.
    pub name: GroupName,
    /// The user creating it, who becomes its admin in the same transaction;
    /// `None` for an operator working from the CLI, in which case the
    /// tenant's admins manage it.
    pub creator: Option<UserId>,
}

/// The changes `update_group` may make. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    /// A new name, unique within the tenant.
    pub name: Option<GroupName>,
}
