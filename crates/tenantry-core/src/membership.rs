//! Memberships: a user or a group holding one role on the tenant, a
//! workspace or a group.
//!
//! A membership is stored as exactly one relationship, for example
//! `workspace:ws_1#editor@group:grp_1#member`; there is no second copy in a
//! table of its own, so the data and what authorization sees cannot drift
//! apart. The rules that the relationship language alone does not express
//! are kept by the store, in the transaction that writes the relationship:
//! one role per member per resource (granting another replaces it), and a
//! resource that has admins keeps at least one (`last_admin`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::error::{Error, Result};
use crate::id::{GroupId, UserId, WorkspaceId};
use crate::relationship::object_types;
use crate::tenant::string_enum;

string_enum!(
    /// A member's role on a resource. Roles are ordered: an admin may do
    /// everything an editor may, an editor everything a member may.
    Role {
        /// Manages the resource: its members, settings and deletion.
        Admin = "admin",
        /// Edits the resource (workspaces only).
        Editor = "editor",
        /// Sees the resource.
        Member = "member",
    }
);

impl Role {
    /// The relation that stores this role.
    pub fn relation(self) -> &'static str {
        self.as_str()
    }

    /// The role stored by `relation`, if it is a role relation.
    pub fn from_relation(relation: &str) -> Option<Self> {
        Self::parse(relation).ok()
    }
}

/// What a membership is on. The tenant is always the scope's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MembershipResource {
    /// The scope's tenant.
    Tenant,
    /// A workspace of the scope's tenant.
    Workspace(WorkspaceId),
    /// A group of the scope's tenant.
    Group(GroupId),
}

impl MembershipResource {
    /// The kind of resource, as named in errors (`tenant`, `workspace`, `group`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tenant => object_types::TENANT,
            Self::Workspace(_) => object_types::WORKSPACE,
            Self::Group(_) => object_types::GROUP,
        }
    }

    /// The roles a member may hold on this kind of resource.
    pub fn roles(&self) -> &'static [Role] {
        match self {
            Self::Workspace(_) => &[Role::Admin, Role::Editor, Role::Member],
            Self::Tenant | Self::Group(_) => &[Role::Admin, Role::Member],
        }
    }

    /// [`Error::Invalid`] on `role` unless `role` exists on this kind of
    /// resource.
    pub fn require_role(&self, role: Role) -> Result<()> {
        if self.roles().contains(&role) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.roles().iter().map(|role| role.as_str()).collect();
        Err(Error::invalid(
            "role",
            format!("a {} has no role `{role}`; it has {}", self.kind(), allowed.join(", ")),
        ))
    }
}

/// Who holds a role: a user, or every member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Member {
    /// One user.
    User(UserId),
    /// Every member of the group, nested groups included.
    Group(GroupId),
}

impl Member {
    /// `user` or `group`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => object_types::USER,
            Self::Group(_) => object_types::GROUP,
        }
    }

    /// The member's id as text.
    pub fn id_string(&self) -> String {
        match self {
            Self::User(user_id) => user_id.to_string(),
            Self::Group(group_id) => group_id.to_string(),
        }
    }
}

/// `user:usr_...` or `group:grp_...`: also the cursor of a members list.
impl fmt::Display for Member {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.kind(), self.id_string())
    }
}

impl FromStr for Member {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let invalid = || Error::invalid("member", "must be `user:<user id>` or `group:<group id>`");
        let (kind, id) = text.split_once(':').ok_or_else(invalid)?;
        match kind {
            object_types::USER => {
                UserId::parse(id).map(Self::User).map_err(|error| Error::invalid("member", error))
            }
            object_types::GROUP => {
                GroupId::parse(id).map(Self::Group).map_err(|error| Error::invalid("member", error))
            }
            _ => Err(invalid()),
        }
    }
}

/// A member's role on a resource, valid by construction: the role exists on
/// that kind of resource, a group's admins are users, and no group is a
/// member of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    #[serde(skip)]
    resource: MembershipResource,
    #[serde(skip)]
    member: Member,
    role: Role,
    expires_at: Option<Timestamp>,
}

impl Membership {
    /// Checks the rules above; each violation is [`Error::Invalid`] naming
    /// the field (`role` or `member`).
    pub fn new(
        resource: MembershipResource,
        member: Member,
        role: Role,
        expires_at: Option<Timestamp>,
    ) -> Result<Self> {
        resource.require_role(role)?;
        if let (MembershipResource::Group(group_id), Member::Group(member_group_id)) = (&resource, &member) {
            if group_id == member_group_id {
                return Err(Error::invalid("member", "a group cannot be a member of itself"));
            }
            if role == Role::Admin {
                return Err(Error::invalid("role", "a group's admins are users, not groups"));
            }
        }
        Ok(Self { resource, member, role, expires_at })
    }

    /// What the membership is on.
    pub fn resource(&self) -> &MembershipResource {
        &self.resource
    }

    /// Who holds the role.
    pub fn member(&self) -> &Member {
        &self.member
    }

    /// The role held.
    pub fn role(&self) -> Role {
        self.role
    }

    /// When the membership lapses, if it does; it grants nothing from then on.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }
}

/// Whether a relationship grants anything at `at`: it has no expiry, or
/// expires after `at`.
pub fn is_live(relationship: &tenantry_authz::Relationship, at: Timestamp) -> bool {
    relationship.expires_at().is_none_or(|expires_at| expires_at > crate::relationship::timestamp_micros(at))
}

/// The last-admin rule, the part that needs no database: whether taking
/// the roles `held` on a resource away from `subject` must first find
/// another admin there (else [`crate::ConflictCode::LastAdmin`]). Only a
/// plain user holding the admin role live counts: an admin role held by a
/// group does not, since the group's membership changes without touching
/// the resource, so taking it from a group never leaves the resource
/// without the admins it had. Both backends ask this, then look for
/// another live admin that is a user who exists, in the same transaction.
pub fn removal_needs_another_admin(
    subject: &tenantry_authz::SubjectRef,
    held: &[tenantry_authz::Relationship],
    at: Timestamp,
) -> bool {
    let is_user = subject.object_ref().object_type() == object_types::USER && subject.relation().is_none();
    is_user
        && held.iter().any(|relationship| {
            relationship.relation() == Role::Admin.relation() && is_live(relationship, at)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_user_holding_admin_live_needs_another_admin() {
        let now = crate::now();
        let user = UserId::generate();
        let subject = crate::relationship::user_subject(&user);
        let admin: tenantry_authz::Relationship = format!("tenant:t#admin@user:{user}").parse().unwrap();
        let member: tenantry_authz::Relationship = format!("tenant:t#member@user:{user}").parse().unwrap();
        let expired = admin.clone().expiring_at(crate::relationship::timestamp_micros(now) - 1);
        let later = admin.clone().expiring_at(crate::relationship::timestamp_micros(now) + 1_000_000);
        assert!(removal_needs_another_admin(&subject, std::slice::from_ref(&admin), now));
        assert!(removal_needs_another_admin(&subject, &[member.clone(), later], now));
        assert!(!removal_needs_another_admin(&subject, &[member], now));
        assert!(!removal_needs_another_admin(&subject, &[expired], now));
        let group: tenantry_authz::SubjectRef = "group:g#member".parse().unwrap();
        let group_admin: tenantry_authz::Relationship = "tenant:t#admin@group:g#member".parse().unwrap();
        assert!(!removal_needs_another_admin(&group, &[group_admin], now));
    }

    #[test]
    fn memberships_are_checked_on_construction() {
        let workspace = MembershipResource::Workspace(WorkspaceId::generate());
        let group_id = GroupId::generate();
        let group = MembershipResource::Group(group_id.clone());
        let user = Member::User(UserId::generate());
        let cases = [
            (MembershipResource::Tenant, user.clone(), Role::Admin, true),
            (MembershipResource::Tenant, user.clone(), Role::Editor, false),
            (workspace.clone(), user.clone(), Role::Editor, true),
            (workspace.clone(), Member::Group(group_id.clone()), Role::Admin, true),
            (group.clone(), user.clone(), Role::Editor, false),
            (group.clone(), Member::Group(GroupId::generate()), Role::Member, true),
            (group.clone(), Member::Group(GroupId::generate()), Role::Admin, false),
            (group.clone(), Member::Group(group_id.clone()), Role::Member, false),
        ];
        for (resource, member, role, valid) in cases {
            let outcome = Membership::new(resource.clone(), member.clone(), role, None);
            assert_eq!(outcome.is_ok(), valid, "{resource:?} {member:?} {role}: {outcome:?}");
        }
    }

    #[test]
    fn members_round_trip_through_text() {
        for member in [Member::User(UserId::generate()), Member::Group(GroupId::generate())] {
            assert_eq!(member.to_string().parse::<Member>().unwrap(), member);
        }
        for bad in [
            "",
            "user",
            "user:",
            "team:grp_01HZX3J4Q8W6E5R7T9Y2U4I6O8",
            "group:usr_01HZX3J4Q8W6E5R7T9Y2U4I6O8",
        ] {
            assert!(bad.parse::<Member>().is_err(), "{bad:?}");
        }
    }
}
