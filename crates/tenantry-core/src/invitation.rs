//! Invitations: how a user who is not yet a member of a tenant comes to hold
//! a role in it.
//!
//! A tenant's admin cannot grant a role to a user outside the tenant: users
//! are global to the deployment, and a silent add would put anyone in any
//! tenant without their consent (and would tell the admin which user ids
//! exist). Instead the admin invites the user, by user id or, for users who
//! sign in with OIDC, by verified e-mail address; the invitee sees their
//! pending invitations and accepts or declines. Accepting makes them a
//! member of the tenant (role `member`) if they were not one, and grants the
//! invited role on the invited resource, through the same membership rules
//! as the members routes.
//!
//! The rules that do not depend on the database live here, once: whom an
//! invitation is addressed to, which invitations can still be answered or
//! revoked (and in which tenants), what accepting grants, what inviting
//! someone again does, and how long invitations last.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::error::{ConflictCode, Error, Result};
use crate::id::{GroupId, InvitationId, TenantId, UserId, WorkspaceId};
use crate::membership::{Member, Membership, MembershipResource, Role};
use crate::name::Email;
use crate::relationship::object_types;
use crate::tenant::{TenantStatus, string_enum};

string_enum!(
    /// Where an invitation stands. A pending invitation whose expiry has
    /// passed is `expired` (see [`Invitation::status_at`]); it is stored as
    /// `expired` only once a new invitation to the same invitee and
    /// resource takes its place (see [`NewInvitation::against_pending`]).
    InvitationStatus {
        /// Waiting for the invitee's answer.
        Pending = "pending",
        /// The invitee accepted: they hold the invited role.
        Accepted = "accepted",
        /// The invitee declined: nothing was granted.
        Declined = "declined",
        /// An inviter revoked it before it was answered.
        Revoked = "revoked",
        /// It was not answered before its expiry.
        Expired = "expired",
    }
);

/// Who an invitation is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Invitee {
    /// A user, by id. Whether the id belongs to anyone is never checked
    /// when inviting: the answer would tell the inviter who exists.
    User(UserId),
    /// Whoever signs in with an OIDC token whose `email` claim is this
    /// address and whose `email_verified` claim is true.
    Email(Email),
}

impl Invitee {
    /// Whether the invitation is addressed to `respondent`.
    pub fn addresses(&self, respondent: &Respondent) -> bool {
        match self {
            Self::User(user_id) => user_id == &respondent.user_id,
            Self::Email(email) => respondent
                .verified_email
                .as_ref()
                .is_some_and(|verified| email_key(verified) == email_key(email)),
        }
    }
}

/// How e-mail addresses are compared: without regard to case, as every
/// mail system in use treats them. Stored beside the address as given, so
/// that the lookup is served by an index.
pub fn email_key(email: &Email) -> String {
    email.as_str().to_lowercase()
}

/// Who is answering or listing invitations: the signed-in user, and the
/// e-mail address their OIDC token vouches for, if it does
/// (`email_verified` true). An API key vouches for no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respondent {
    /// The caller's user.
    pub user_id: UserId,
    /// The verified e-mail address of the caller's OIDC token, if any.
    pub verified_email: Option<Email>,
}

/// An invitee's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationAnswer {
    /// Join, with the invited role.
    Accept,
    /// Refuse; nothing is granted.
    Decline,
}

impl InvitationAnswer {
    /// The status an invitation takes with this answer.
    pub fn status(self) -> InvitationStatus {
        match self {
            Self::Accept => InvitationStatus::Accepted,
            Self::Decline => InvitationStatus::Declined,
        }
    }

    /// Whether this answer may be given while the inviting tenant has
    /// `tenant_status`, as read inside the answer's transaction. Accepting
    /// needs an active tenant ([`Error::TenantInactive`] otherwise): a
    /// tenant that is not active grants nothing to anyone, and must not
    /// gain members while a platform admin has it stopped. Declining
    /// grants nothing, so it is allowed whatever the tenant's status: the
    /// invitee can clear their list without waiting for the tenant.
    pub fn check_tenant_status(self, tenant_status: TenantStatus) -> Result<()> {
        match self {
            Self::Accept => Error::require_active(tenant_status),
            Self::Decline => Ok(()),
        }
    }
}

/// How long an invitation may wait for its answer: 1 to 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvitationLifetime(u32);

impl InvitationLifetime {
    /// The lifetime used when none is asked for.
    pub const DEFAULT_DAYS: u32 = 7;
    /// The longest lifetime, in days.
    pub const MAX_DAYS: u32 = 30;

    /// Validates a lifetime in days.
    pub fn from_days(days: i64) -> Result<Self, &'static str> {
        if (1..=i64::from(Self::MAX_DAYS)).contains(&days) {
            Ok(Self(days as u32))
        } else {
            Err("must be between 1 and 30 days")
        }
    }

    /// The default lifetime of 7 days.
    pub fn default_lifetime() -> Self {
        Self(Self::DEFAULT_DAYS)
    }

    /// The expiry of an invitation created at `created_at`.
    pub fn expires_at(self, created_at: Timestamp) -> Timestamp {
        created_at + Duration::days(i64::from(self.0))
    }
}

/// What it takes to invite someone, valid by construction: the role exists
/// on that kind of resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    resource: MembershipResource,
    role: Role,
    invitee: Invitee,
    invited_by: UserId,
    lifetime: InvitationLifetime,
}

impl NewInvitation {
    /// Checks that `role` exists on `resource` ([`Error::Invalid`] on
    /// `role` otherwise).
    pub fn new(
        resource: MembershipResource,
        role: Role,
        invitee: Invitee,
        invited_by: UserId,
        lifetime: InvitationLifetime,
    ) -> Result<Self> {
        resource.require_role(role)?;
        Ok(Self { resource, role, invitee, invited_by, lifetime })
    }

    /// The resource the role is on.
    pub fn resource(&self) -> &MembershipResource {
        &self.resource
    }

    /// The role offered.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Who is invited.
    pub fn invitee(&self) -> &Invitee {
        &self.invitee
    }

    /// Who invites.
    pub fn invited_by(&self) -> &UserId {
        &self.invited_by
    }

    /// What inviting does when `existing` is the stored pending
    /// invitation of the tenant to the same invitee (the same user id, or
    /// the same address compared without case) for the same resource, at
    /// `now`. A tenant holds at most one such invitation, so that inviting
    /// someone twice neither piles invitations up nor makes the invitee
    /// choose between them:
    ///
    /// - if it has expired, it no longer stands: it is to be stored as
    ///   expired ([`Invitation::expired`]) and the new one made;
    /// - if it offers the same role, inviting again is answered with it,
    ///   unchanged (its expiry included), so a retried request makes
    ///   nothing new;
    /// - if it offers another role, inviting is refused with
    ///   [`ConflictCode::InvitationPending`], naming it: revoke it first.
    ///
    /// None of this depends on whether the invitee exists: the answer for
    /// an id that belongs to no one is the same as for a real user's.
    pub fn against_pending(&self, existing: Invitation, now: Timestamp) -> Result<PendingInvitation> {
        if existing.status_at(now) == InvitationStatus::Expired {
            return Ok(PendingInvitation::Expired(existing));
        }
        if existing.role != self.role {
            return Err(Error::conflict_with_detail(
                ConflictCode::InvitationPending,
                format!("invitation {} offers the role {}", existing.id, existing.role),
            ));
        }
        Ok(PendingInvitation::Standing(existing))
    }

    /// The invitation as created at `at` in the scope's tenant: pending,
    /// with a fresh id.
    pub fn into_invitation(self, tenant_id: TenantId, at: Timestamp) -> Invitation {
        Invitation {
            id: InvitationId::generate(),
            tenant_id,
            resource: self.resource,
            role: self.role,
            invitee: self.invitee,
            invited_by: self.invited_by,
            created_at: at,
            expires_at: self.lifetime.expires_at(at),
            status: InvitationStatus::Pending,
            answered_at: None,
        }
    }
}

/// The stored pending invitation to the same invitee for the same
/// resource, as [`NewInvitation::against_pending`] judged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingInvitation {
    /// Still pending and offering the same role: the answer to inviting
    /// again, unchanged.
    Standing(Invitation),
    /// Past its expiry: to be stored as expired before the new invitation
    /// is made.
    Expired(Invitation),
}

/// An invitation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The invitation's id.
    pub id: InvitationId,
    /// The inviting tenant.
    pub tenant_id: TenantId,
    /// What the role is on: the tenant, or one of its workspaces or groups.
    pub resource: MembershipResource,
    /// The role offered.
    pub role: Role,
    /// Who is invited.
    pub invitee: Invitee,
    /// The user who invited.
    pub invited_by: UserId,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it can no longer be accepted.
    pub expires_at: Timestamp,
    /// The stored status: [`InvitationStatus::Expired`] only once a new
    /// invitation took its place; read it with [`Invitation::status_at`].
    pub status: InvitationStatus,
    /// When it was accepted, declined or revoked, or for one stored as
    /// expired, its expiry.
    pub answered_at: Option<Timestamp>,
}

impl Invitation {
    /// The status as of `now`: a pending invitation past its expiry is
    /// expired.
    pub fn status_at(&self, now: Timestamp) -> InvitationStatus {
        match self.status {
            InvitationStatus::Pending if self.expires_at <= now => InvitationStatus::Expired,
            stored => stored,
        }
    }

    /// The pending invitation, past its expiry, as stored once a new
    /// invitation takes its place: expired, at its expiry.
    pub fn expired(self) -> Self {
        Self { status: InvitationStatus::Expired, answered_at: Some(self.expires_at), ..self }
    }

    /// Whether `respondent` may answer it now: an invitation addressed to
    /// someone else is not found (its existence is not theirs to know);
    /// one already answered or revoked, or expired, is a conflict.
    pub fn check_answerable(&self, respondent: &Respondent, now: Timestamp) -> Result<()> {
        if !self.invitee.addresses(respondent) {
            return Err(Error::not_found("invitation"));
        }
        self.check_pending(now)
    }

    /// Whether an inviter may revoke it now: only while it is pending.
    pub fn check_revocable(&self, now: Timestamp) -> Result<()> {
        self.check_pending(now)
    }

    fn check_pending(&self, now: Timestamp) -> Result<()> {
        match self.status_at(now) {
            InvitationStatus::Pending => Ok(()),
            InvitationStatus::Expired => Err(Error::conflict(ConflictCode::InvitationExpired)),
            _ => Err(Error::conflict(ConflictCode::InvitationNotPending)),
        }
    }

    /// The memberships accepting grants to `user_id`, in order: the
    /// tenant's `member` role first unless the user holds a role on the
    /// tenant already (or the invitation is for a role on the tenant
    /// itself), then the invited role.
    pub fn memberships_on_accept(
        &self,
        user_id: &UserId,
        holds_tenant_role: bool,
    ) -> Result<Vec<Membership>> {
        let member = Member::User(user_id.clone());
        let mut memberships = Vec::new();
        if !holds_tenant_role && self.resource != MembershipResource::Tenant {
            memberships.push(Membership::new(
                MembershipResource::Tenant,
                member.clone(),
                Role::Member,
                None,
            )?);
        }
        memberships.push(Membership::new(self.resource.clone(), member, self.role, None)?);
        Ok(memberships)
    }
}

/// The columns an invitation's resource is stored in: its kind, and the
/// workspace or group id (each referenced by a composite foreign key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResource {
    /// `tenant`, `workspace` or `group`.
    pub resource_type: &'static str,
    /// The workspace, for a role on a workspace.
    pub workspace_id: Option<String>,
    /// The group, for a role on a group.
    pub group_id: Option<String>,
}

impl StoredResource {
    /// The columns of `resource`.
    pub fn of(resource: &MembershipResource) -> Self {
        match resource {
            MembershipResource::Tenant => {
                Self { resource_type: object_types::TENANT, workspace_id: None, group_id: None }
            }
            MembershipResource::Workspace(workspace_id) => Self {
                resource_type: object_types::WORKSPACE,
                workspace_id: Some(workspace_id.to_string()),
                group_id: None,
            },
            MembershipResource::Group(group_id) => Self {
                resource_type: object_types::GROUP,
                workspace_id: None,
                group_id: Some(group_id.to_string()),
            },
        }
    }

    /// The resource stored in these columns; a combination the table's
    /// check constraint forbids is an error naming it.
    pub fn parse(
        resource_type: &str,
        workspace_id: Option<&str>,
        group_id: Option<&str>,
    ) -> std::result::Result<MembershipResource, String> {
        match (resource_type, workspace_id, group_id) {
            (object_types::TENANT, None, None) => Ok(MembershipResource::Tenant),
            (object_types::WORKSPACE, Some(workspace_id), None) => WorkspaceId::parse(workspace_id)
                .map(MembershipResource::Workspace)
                .map_err(|error| error.to_string()),
            (object_types::GROUP, None, Some(group_id)) => {
                GroupId::parse(group_id).map(MembershipResource::Group).map_err(|error| error.to_string())
            }
            _ => Err(format!(
                "resource_type {resource_type:?} with workspace_id {workspace_id:?} and group_id {group_id:?}"
            )),
        }
    }
}

/// What the unique index `invitations_one_pending_per_invitee` of both
/// backends compares, beside `tenant_id`, to keep one pending invitation
/// per invitee and resource: the resource's kind, its workspace or group
/// id (empty for the tenant itself), and the invitee's user id or address
/// as compared ([`email_key`]; no id contains `@`, so the two never meet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingKey {
    /// `tenant`, `workspace` or `group`.
    pub resource_type: &'static str,
    /// `coalesce(workspace_id, group_id, '')`.
    pub resource_id: String,
    /// `coalesce(invitee_user_id, invitee_email_key)`.
    pub invitee: String,
}

impl PendingKey {
    /// The key of `invitation`.
    pub fn of(invitation: &NewInvitation) -> Self {
        let resource = StoredResource::of(invitation.resource());
        let invitee = match invitation.invitee() {
            Invitee::User(user_id) => user_id.to_string(),
            Invitee::Email(email) => email_key(email),
        };
        Self {
            resource_type: resource.resource_type,
            resource_id: resource.workspace_id.or(resource.group_id).unwrap_or_default(),
            invitee,
        }
    }
}

/// How an invitee was stored: a user id, or an address as given. Exactly
/// one is set.
pub fn stored_invitee(user_id: Option<&str>, email: Option<&str>) -> std::result::Result<Invitee, String> {
    match (user_id, email) {
        (Some(user_id), None) => UserId::parse(user_id).map(Invitee::User).map_err(|error| error.to_string()),
        (None, Some(email)) => Email::parse(email).map(Invitee::Email).map_err(|error| error.to_string()),
        _ => Err(format!("invitee_user_id {user_id:?} with invitee_email {email:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(invitee: Invitee, expires_at: Timestamp) -> Invitation {
        Invitation {
            id: InvitationId::generate(),
            tenant_id: TenantId::generate(),
            resource: MembershipResource::Workspace(WorkspaceId::generate()),
            role: Role::Editor,
            invitee,
            invited_by: UserId::generate(),
            created_at: expires_at - Duration::days(7),
            expires_at,
            status: InvitationStatus::Pending,
            answered_at: None,
        }
    }

    #[test]
    fn invitations_are_addressed_by_user_id_or_verified_email() {
        let user_id = UserId::generate();
        let ada = Email::parse("Ada@Example.com").unwrap();
        let by_id = Invitee::User(user_id.clone());
        let by_email = Invitee::Email(Email::parse("ada@example.com").unwrap());
        let verified = Respondent { user_id: user_id.clone(), verified_email: Some(ada) };
        let unverified = Respondent { user_id: UserId::generate(), verified_email: None };
        assert!(by_id.addresses(&verified));
        assert!(!by_id.addresses(&unverified));
        assert!(by_email.addresses(&verified), "addresses compare without case");
        assert!(!by_email.addresses(&unverified), "an unverified address matches nothing");
    }

    #[test]
    fn only_pending_unexpired_invitations_can_be_answered() {
        let now = crate::now();
        let user_id = UserId::generate();
        let respondent = Respondent { user_id: user_id.clone(), verified_email: None };
        let pending = invitation(Invitee::User(user_id), now + Duration::days(1));
        assert!(pending.check_answerable(&respondent, now).is_ok());
        let stranger = Respondent { user_id: UserId::generate(), verified_email: None };
        assert!(matches!(pending.check_answerable(&stranger, now), Err(Error::NotFound { .. })));
        let expired = Invitation { expires_at: now, ..pending.clone() };
        assert_eq!(expired.status_at(now), InvitationStatus::Expired);
        assert!(matches!(
            expired.check_answerable(&respondent, now),
            Err(Error::Conflict { code: ConflictCode::InvitationExpired, .. })
        ));
        for status in [InvitationStatus::Accepted, InvitationStatus::Declined, InvitationStatus::Revoked] {
            let answered = Invitation { status, ..pending.clone() };
            assert!(matches!(
                answered.check_answerable(&respondent, now),
                Err(Error::Conflict { code: ConflictCode::InvitationNotPending, .. })
            ));
            assert!(answered.check_revocable(now).is_err());
        }
    }

    #[test]
    fn accepting_makes_a_tenant_member_first_when_needed() {
        let now = crate::now();
        let user_id = UserId::generate();
        let on_workspace = invitation(Invitee::User(user_id.clone()), now);
        let roles = |memberships: Vec<Membership>| -> Vec<(String, Role)> {
            memberships
                .iter()
                .map(|membership| (membership.resource().kind().to_owned(), membership.role()))
                .collect()
        };
        assert_eq!(
            roles(on_workspace.memberships_on_accept(&user_id, false).unwrap()),
            [("tenant".to_owned(), Role::Member), ("workspace".to_owned(), Role::Editor)]
        );
        assert_eq!(
            roles(on_workspace.memberships_on_accept(&user_id, true).unwrap()),
            [("workspace".to_owned(), Role::Editor)]
        );
        let on_tenant =
            Invitation { resource: MembershipResource::Tenant, role: Role::Admin, ..on_workspace.clone() };
        assert_eq!(
            roles(on_tenant.memberships_on_accept(&user_id, false).unwrap()),
            [("tenant".to_owned(), Role::Admin)]
        );
    }

    #[test]
    fn accepting_needs_an_active_tenant_and_declining_does_not() {
        for status in
            [TenantStatus::Active, TenantStatus::Suspended, TenantStatus::Disabled, TenantStatus::Archived]
        {
            let accepted = InvitationAnswer::Accept.check_tenant_status(status);
            match status {
                TenantStatus::Active => assert!(accepted.is_ok()),
                _ => assert!(
                    matches!(accepted, Err(Error::TenantInactive { status: refused }) if refused == status),
                    "{status}: {accepted:?}"
                ),
            }
            assert!(InvitationAnswer::Decline.check_tenant_status(status).is_ok(), "{status}");
        }
    }

    #[test]
    fn inviting_again_answers_with_the_pending_invitation_or_replaces_an_expired_one() {
        let now = crate::now();
        let invitee = Invitee::User(UserId::generate());
        let pending = invitation(invitee.clone(), now + Duration::days(1));
        let again = |role| {
            NewInvitation::new(
                pending.resource.clone(),
                role,
                invitee.clone(),
                UserId::generate(),
                InvitationLifetime::default_lifetime(),
            )
            .unwrap()
        };
        assert_eq!(
            again(Role::Editor).against_pending(pending.clone(), now).unwrap(),
            PendingInvitation::Standing(pending.clone())
        );
        match again(Role::Admin).against_pending(pending.clone(), now) {
            Err(Error::Conflict { code: ConflictCode::InvitationPending, detail: Some(detail) }) => {
                assert!(detail.contains(&pending.id.to_string()), "{detail}");
            }
            other => panic!("expected invitation_pending, got {other:?}"),
        }
        let expired = Invitation { expires_at: now, ..pending.clone() };
        for role in [Role::Editor, Role::Admin] {
            assert_eq!(
                again(role).against_pending(expired.clone(), now).unwrap(),
                PendingInvitation::Expired(expired.clone())
            );
        }
        let stored = expired.clone().expired();
        assert_eq!(
            (stored.status, stored.answered_at),
            (InvitationStatus::Expired, Some(expired.expires_at))
        );
        assert!(matches!(
            stored.check_revocable(now + Duration::days(1)),
            Err(Error::Conflict { code: ConflictCode::InvitationExpired, .. })
        ));
    }

    #[test]
    fn pending_keys_name_the_resource_and_the_invitee_as_compared() {
        let workspace_id = WorkspaceId::generate();
        let user_id = UserId::generate();
        let key = |resource, invitee| {
            PendingKey::of(
                &NewInvitation::new(
                    resource,
                    Role::Member,
                    invitee,
                    UserId::generate(),
                    InvitationLifetime::default_lifetime(),
                )
                .unwrap(),
            )
        };
        assert_eq!(
            key(MembershipResource::Workspace(workspace_id.clone()), Invitee::User(user_id.clone())),
            PendingKey {
                resource_type: "workspace",
                resource_id: workspace_id.to_string(),
                invitee: user_id.to_string()
            }
        );
        assert_eq!(
            key(MembershipResource::Tenant, Invitee::Email(Email::parse("Ada@Example.com").unwrap())),
            PendingKey {
                resource_type: "tenant",
                resource_id: String::new(),
                invitee: "ada@example.com".to_owned()
            }
        );
    }

    #[test]
    fn lifetimes_are_one_to_thirty_days() {
        for (days, valid) in [(0, false), (1, true), (7, true), (30, true), (31, false), (-1, false)] {
            assert_eq!(InvitationLifetime::from_days(days).is_ok(), valid, "{days}");
        }
    }

    #[test]
    fn resources_round_trip_through_their_columns() {
        for resource in [
            MembershipResource::Tenant,
            MembershipResource::Workspace(WorkspaceId::generate()),
            MembershipResource::Group(GroupId::generate()),
        ] {
            let stored = StoredResource::of(&resource);
            let parsed = StoredResource::parse(
                stored.resource_type,
                stored.workspace_id.as_deref(),
                stored.group_id.as_deref(),
            );
            assert_eq!(parsed, Ok(resource));
        }
        assert!(StoredResource::parse("tenant", Some("ws_x"), None).is_err());
    }
}
