//! Users: people and machines that hold API keys or sign in with OIDC.
//! Users are global to the deployment; what they may do, on the platform and
//! inside each tenant, is decided by relationships (a platform admin is
//! `platform:main#admin@user:<id>`).

use serde::Serialize;

use crate::Timestamp;
use crate::decision::text_enum;
use crate::id::UserId;
use crate::name::{DisplayName, Email, Username};

text_enum!(
    /// What a user is: a person, who may sign in with OIDC, or a service
    /// account, which belongs to one tenant and authenticates only with
    /// its API keys (`tenantry_core::service_account`).
    UserKind, {
        /// A person.
        Person = "person",
        /// A service account.
        Service = "service",
    }
);

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Unique across the deployment.
    pub username: Username,
    /// A person or a service account.
    pub kind: UserKind,
    /// For people to read.
    pub display_name: DisplayName,
    /// Contact address, if known.
    pub email: Option<Email>,
    /// When the user was created.
    pub created_at: Timestamp,
    /// When the user last changed.
    pub updated_at: Timestamp,
}

/// What it takes to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Unique across the deployment.
    pub username: Username,
    /// For people to read.
    pub display_name: DisplayName,
    /// Contact address, if known.
    pub email: Option<Email>,
}

impl NewUser {
    /// A user known only by username; the display name is the username.
    pub fn from_username(username: Username) -> Self {
        let display_name =
            DisplayName::parse(username.as_str()).expect("a valid username is a valid display name");
        Self { username, display_name, email: None }
    }
}

/// Who an OIDC provider says a user is: the issuer and the `sub` it
/// assigned. Together they identify the user for good; names and e-mail
/// addresses may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    /// The issuer (`iss`), exactly as configured.
    pub issuer: String,
    /// The subject (`sub`) the issuer assigned.
    pub subject: String,
}

/// A verified OIDC bearer token's user, for just-in-time creation and for
/// keeping the profile in step with the token's claims.
#[derive(Debug, Clone)]
pub struct OidcSignIn {
    /// Who the token is for.
    pub identity: OidcIdentity,
    /// The profile the claims give: username (from `preferred_username`,
    /// else `email`, else `sub`), display name (`name`) and e-mail.
    pub profile: NewUser,
    /// The username to take when the profile's is held by another user:
    /// derived from the identity, so the same user always gets the same one.
    pub fallback_username: Username,
}
