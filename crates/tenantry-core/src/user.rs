//! Users: people and machines that hold API keys. Users are global to the
//! deployment; what they may do inside a tenant is decided per tenant.

use serde::Serialize;

use crate::Timestamp;
use crate::id::UserId;
use crate::name::{DisplayName, Email, Username};

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Unique across the deployment.
    pub username: Username,
    /// For people to read.
    pub display_name: DisplayName,
    /// Contact address, if known.
    pub email: Option<Email>,
    /// A platform admin may create, list and delete tenants and mint keys in
    /// any tenant. The bootstrap operator is the first.
    pub is_platform_admin: bool,
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
