//! Wire types of invitations.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_core::relationship::membership_object;
use tenantry_core::{Invitation, InvitationStatus, Invitee, Role, Timestamp};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use super::role_schema;

fn invitation_status_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(InvitationStatus::ALL.iter().map(|status| status.as_str())))
        .description(Some(
            "`pending` until answered; `accepted`, `declined` or `revoked` once it is; `expired` when it was not answered in time.",
        ))
        .build()
}

fn resource_type_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["tenant", "workspace", "group"]))
        .description(Some("The kind of resource the role is on."))
        .build()
}

/// What the invited role is on: the tenant, or one of its workspaces or
/// groups.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationResourceDto {
    /// `tenant`, `workspace` or `group`.
    #[serde(rename = "type")]
    #[schema(schema_with = resource_type_schema)]
    pub resource_type: String,
    /// The tenant's, workspace's or group's id.
    #[schema(example = "ws_01J9Z8Y7X6W5V4T3S2R1Q0P9N8", pattern = "^(ten|ws|grp)_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: String,
}

/// Who an invitation is for, as the inviter named them: a user id, or an
/// e-mail address that an OIDC token must vouch for (`email_verified`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum InviteeDto {
    /// A user, by id.
    User {
        /// The invited user's id.
        #[schema(example = "usr_01J9Z8Y7X6W5V4T3S2R1Q0P9N8", pattern = "^usr_[0-9A-HJKMNP-TV-Z]{26}$")]
        user_id: String,
    },
    /// Whoever signs in with this verified e-mail address.
    Email {
        /// The address, as the inviter gave it (trimmed). Not a
        /// `format: email`: the server takes any address with one `@` and
        /// no white space, which that format's validators may not.
        #[schema(example = "ada@example.com")]
        email: String,
    },
}

/// An invitation to hold a role in a tenant. It names no user beyond their
/// id or the address the inviter gave.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationResponse {
    /// The invitation's id.
    #[schema(example = "inv_01J9Z8Y7X6W5V4T3S2R1Q0P9N8", pattern = "^inv_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub id: String,
    /// The inviting tenant.
    #[schema(example = "ten_01J9Z8Y7X6W5V4T3S2R1Q0P9N8", pattern = "^ten_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub tenant_id: String,
    /// What the role is on.
    pub resource: InvitationResourceDto,
    /// The role offered.
    #[schema(schema_with = role_schema)]
    pub role: Role,
    /// Who is invited.
    pub invitee: InviteeDto,
    /// The id of the user who invited.
    #[schema(example = "usr_01J9Z8Y7X6W5V4T3S2R1Q0P9N8", pattern = "^usr_[0-9A-HJKMNP-TV-Z]{26}$")]
    pub invited_by: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it can no longer be accepted.
    pub expires_at: DateTime<Utc>,
    /// Where it stands now.
    #[schema(schema_with = invitation_status_schema)]
    pub status: InvitationStatus,
}

impl InvitationResponse {
    /// The wire form of an invitation, its status as of `now`.
    pub fn new(invitation: Invitation, now: Timestamp) -> Self {
        let object = membership_object(&invitation.tenant_id, &invitation.resource);
        let status = invitation.status_at(now);
        Self {
            id: invitation.id.to_string(),
            tenant_id: invitation.tenant_id.to_string(),
            resource: InvitationResourceDto {
                resource_type: object.object_type().to_owned(),
                id: object.id().to_owned(),
            },
            role: invitation.role,
            invitee: match invitation.invitee {
                Invitee::User(user_id) => InviteeDto::User { user_id: user_id.to_string() },
                Invitee::Email(email) => InviteeDto::Email { email: email.into_string() },
            },
            invited_by: invitation.invited_by.to_string(),
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
            status,
        }
    }
}
