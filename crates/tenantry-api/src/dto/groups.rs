//! Wire types of groups and memberships.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_core::{
    Email, Group, GroupId, GroupName, GroupPatch, InvitationLifetime, Member, Membership, Role, User, UserId,
    Username,
};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::empty_patch;
use crate::error::{ApiError, ErrorCode};
use crate::extract::BODY_FIELD;

pub(crate) fn role_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Role::ALL.iter().map(|role| role.as_str())))
        .description(Some("A role: `admin`, `editor` (workspaces only) or `member`."))
        .build()
}

/// A group of users in the caller's tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupResponse {
    /// The group's id.
    #[schema(example = "grp_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    /// The tenant that owns it.
    pub tenant_id: String,
    /// Unique within the tenant.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Group> for GroupResponse {
    fn from(group: Group) -> Self {
        Self {
            id: group.id.to_string(),
            tenant_id: group.tenant_id.to_string(),
            name: group.name.into_string(),
            created_at: group.created_at,
            updated_at: group.updated_at,
        }
    }
}

/// The body of `POST /v1/groups`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// Unique within the tenant; 1 to 255 characters after trimming.
    #[schema(value_type = String, min_length = 1, max_length = 255, example = "engineering")]
    pub name: GroupName,
}

/// The body of `PATCH /v1/groups/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    /// A new name, unique within the tenant.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub name: Option<GroupName>,
}

impl UpdateGroupRequest {
    /// The domain's patch; an empty one is refused.
    pub fn into_patch(self) -> Result<GroupPatch, ApiError> {
        match self.name {
            Some(name) => Ok(GroupPatch { name: Some(name) }),
            None => Err(empty_patch("name")),
        }
    }
}

/// The body of `POST .../members`: exactly one of `user_id`, `email`,
/// `username` and `group_id`, and the role. Granting a member another role
/// replaces the one it had. A user who is not yet a member of the tenant
/// (named by `user_id` or `email`) is invited instead: nothing is granted
/// until they accept.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user to grant the role to.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "usr_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub user_id: Option<UserId>,
    /// Invites whoever signs in with an OIDC token that vouches for this
    /// e-mail address (`email_verified` true).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "ada@example.com")]
    pub email: Option<Email>,
    /// The user to grant the role to, by username: platform admins only
    /// (usernames are global; everyone else names members by `user_id`).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "ada")]
    pub username: Option<Username>,
    /// The group whose members get the role.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub group_id: Option<GroupId>,
    /// The role.
    #[schema(schema_with = role_schema)]
    pub role: Role,
    /// When the role lapses (RFC 3339, in the future); never when absent.
    /// Direct grants only: an invitation's role does not lapse.
    #[serde(default, deserialize_with = "super::rfc3339")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the request makes an invitation: how many days it may wait for
    /// its answer, 1 to 30; 7 when absent.
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(minimum = 1, maximum = 30)]
    pub expires_in_days: Option<i64>,
}

/// The longest part before `@` an invitation's e-mail address may have.
pub(crate) const MAX_EMAIL_LOCAL_CHARS: usize = 64;
/// The longest part after `@` an invitation's e-mail address may have.
pub(crate) const MAX_EMAIL_DOMAIN_CHARS: usize = 190;

/// Who an [`AddMemberRequest`] names.
#[derive(Debug, Clone)]
pub enum MemberReference {
    /// A member given by id.
    Member(Member),
    /// A user given by username.
    Username(Username),
    /// Whoever signs in with this verified address.
    Email(Email),
}

impl AddMemberRequest {
    /// The one member the body names.
    pub fn member(&self) -> Result<MemberReference, ApiError> {
        match (&self.user_id, &self.email, &self.username, &self.group_id) {
            (Some(user_id), None, None, None) => Ok(MemberReference::Member(Member::User(user_id.clone()))),
            (None, Some(email), None, None) => {
                // RFC 5321's bound on the part before `@`, and what is left
                // of the 255 characters every name may have for the domain,
                // so that the OpenAPI pattern states the rule exactly.
                let (local, domain) = email.as_str().split_once('@').unwrap_or_default();
                if local.chars().count() > MAX_EMAIL_LOCAL_CHARS
                    || domain.chars().count() > MAX_EMAIL_DOMAIN_CHARS
                {
                    return Err(ApiError::for_field(
                        ErrorCode::InvalidField,
                        "email",
                        format!(
                            "the part before `@` must be at most {MAX_EMAIL_LOCAL_CHARS} characters and the part \
                             after it at most {MAX_EMAIL_DOMAIN_CHARS}"
                        ),
                    ));
                }
                Ok(MemberReference::Email(email.clone()))
            }
            (None, None, Some(username), None) => Ok(MemberReference::Username(username.clone())),
            (None, None, None, Some(group_id)) => {
                Ok(MemberReference::Member(Member::Group(group_id.clone())))
            }
            _ => Err(ApiError::for_field(
                ErrorCode::InvalidField,
                BODY_FIELD,
                "name exactly one member: `user_id`, `email`, `username` or `group_id`",
            )),
        }
    }

    /// How long an invitation made by this request may wait: 7 days unless
    /// `expires_in_days` says otherwise.
    pub fn invitation_lifetime(&self) -> Result<InvitationLifetime, ApiError> {
        match self.expires_in_days {
            None => Ok(InvitationLifetime::default_lifetime()),
            Some(days) => InvitationLifetime::from_days(days)
                .map_err(|reason| ApiError::for_field(ErrorCode::InvalidField, "expires_in_days", reason)),
        }
    }
}

/// The body of `PATCH .../members/{member_id}`: the new role.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// The role.
    #[schema(schema_with = role_schema)]
    pub role: Role,
    /// When the role lapses (RFC 3339, in the future); never when absent.
    #[serde(default, deserialize_with = "super::rfc3339")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A member's role on a tenant, workspace or group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberResponse {
    /// `user` or `group` (a group's role holds for all its members).
    pub member_type: &'static str,
    /// The user's or group's id.
    pub member_id: String,
    /// The user's username, for a user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The role.
    #[schema(schema_with = role_schema)]
    pub role: Role,
    /// When the role lapses; null for never.
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl MemberResponse {
    /// The wire form of a membership, with the user's username if known.
    pub fn new(membership: &Membership, user: Option<&User>) -> Self {
        Self {
            member_type: membership.member().kind(),
            member_id: membership.member().id_string(),
            username: user.map(|user| user.username.as_str().to_owned()),
            role: membership.role(),
            expires_at: membership.expires_at(),
        }
    }
}

/// The answer of `GET /v1/me`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeResponse {
    /// The caller's user id: what tenant, workspace and group admins name
    /// members by.
    #[schema(example = "usr_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    /// Unique across the deployment.
    pub username: String,
    /// `person`, or `service` for a service account.
    #[schema(example = "person")]
    pub kind: String,
    /// For people to read.
    pub display_name: String,
    /// Contact address, if known.
    #[schema(required = true)]
    pub email: Option<String>,
    /// Whether the user is a platform admin (`platform:main#admin`).
    pub is_platform_admin: bool,
    /// For an API key: the tenant it acts in. Null for an OIDC token, which
    /// names its tenant per request.
    #[schema(required = true)]
    pub api_key_tenant_id: Option<String>,
}
