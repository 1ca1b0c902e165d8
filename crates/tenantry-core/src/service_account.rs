//! Service accounts: users of kind `service` that belong to one tenant, made
//! by its admins for the machines (AI agents, CI jobs) that act in it.
//!
//! A service account is a row of `users` (so that API keys, memberships and
//! the authorization engine name it `user:<id>` like anyone) plus a row of
//! the tenant-owned `service_accounts` table that says which tenant it
//! belongs to and what it is called there. It holds roles and groups like
//! any user, authenticates only with its API keys (the database refuses it
//! an OIDC identity), and deleting it revokes its keys and removes its
//! relationships; the `users` row stays, for the keys and the audit log
//! that name it.
//!
//! The rule "it belongs to one tenant" is [`UserStanding`], which both
//! stores apply wherever a user is given a key or a membership in a tenant.

use serde::Serialize;

use crate::Timestamp;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::name::{ServiceAccountName, Username};
use crate::user::UserKind;

/// A service account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceAccount {
    /// The id of its user: what keys, memberships and relationships name.
    pub user_id: UserId,
    /// The tenant it belongs to, and only acts in.
    pub tenant_id: TenantId,
    /// Unique within the tenant.
    pub name: ServiceAccountName,
    /// Its user's username, `service.<user id>`: unique by construction.
    pub username: Username,
    /// The user who created it; `None` for an operator working from the CLI.
    pub created_by: Option<UserId>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// What it takes to create a service account.
#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    /// Unique within the tenant.
    pub name: ServiceAccountName,
    /// The user creating it; `None` for an operator working from the CLI.
    pub created_by: Option<UserId>,
}

impl NewServiceAccount {
    /// The service account this creates in `tenant_id` at `at`, with a new
    /// user id and the username derived from it. Both stores make it here,
    /// so that the username rule lives once.
    pub fn begin(self, tenant_id: &TenantId, at: Timestamp) -> ServiceAccount {
        let user_id = UserId::generate();
        ServiceAccount {
            username: service_username(&user_id),
            user_id,
            tenant_id: tenant_id.clone(),
            name: self.name,
            created_by: self.created_by,
            created_at: at,
        }
    }
}

/// The username of a service account's user: `service.<user id>`. User ids
/// are unique, so it is too; no person can have taken it first, since ids
/// are generated when the account is created.
pub fn service_username(user_id: &UserId) -> Username {
    Username::parse(&format!("service.{user_id}")).expect("a user id has no white space")
}

/// Where a user stands with respect to one tenant, for giving it a key or a
/// membership there: a person may belong to any tenant, a service account
/// only to its own, and only until it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStanding {
    /// A person: may be given keys and roles in any tenant.
    Person,
    /// A service account of this tenant, not deleted.
    ServiceAccountOfThisTenant,
    /// A service account of another tenant.
    ServiceAccountElsewhere,
    /// A service account of this tenant that was deleted.
    DeletedServiceAccount,
}

impl UserStanding {
    /// Classifies a stored user for the tenant `tenant_id` from its `kind`
    /// and `service_tenant_id` columns and whether `tenant_id` has a
    /// `service_accounts` row for it. A stored kind that is not one of
    /// [`UserKind`]'s is an internal error.
    pub fn from_stored(
        kind: &str,
        service_tenant_id: Option<&str>,
        has_service_account_row: bool,
        tenant_id: &TenantId,
    ) -> Result<Self> {
        let kind = UserKind::parse(kind)
            .map_err(|reason| Error::internal(format!("the stored kind of a user is not valid: {reason}")))?;
        let this_tenant = tenant_id.to_string();
        Ok(match kind {
            UserKind::Person => Self::Person,
            UserKind::Service if service_tenant_id != Some(this_tenant.as_str()) => {
                Self::ServiceAccountElsewhere
            }
            UserKind::Service if has_service_account_row => Self::ServiceAccountOfThisTenant,
            UserKind::Service => Self::DeletedServiceAccount,
        })
    }

    /// Whether a user so placed may be given a key or a role in the tenant;
    /// if not, [`Error::Invalid`] on `field` saying why.
    pub fn check(self, field: &str) -> Result<()> {
        match self {
            Self::Person | Self::ServiceAccountOfThisTenant => Ok(()),
            Self::ServiceAccountElsewhere => {
                Err(Error::invalid(field, "a service account belongs to its own tenant only"))
            }
            Self::DeletedServiceAccount => Err(Error::invalid(field, "the service account was deleted")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_follows_kind_tenant_and_row() {
        let here = TenantId::generate();
        let elsewhere = TenantId::generate().to_string();
        let here_text = here.to_string();
        let cases = [
            ("person", None, false, UserStanding::Person),
            ("service", Some(here_text.as_str()), true, UserStanding::ServiceAccountOfThisTenant),
            ("service", Some(here_text.as_str()), false, UserStanding::DeletedServiceAccount),
            ("service", Some(elsewhere.as_str()), false, UserStanding::ServiceAccountElsewhere),
            ("service", Some(elsewhere.as_str()), true, UserStanding::ServiceAccountElsewhere),
        ];
        for (kind, service_tenant_id, has_row, expected) in cases {
            let standing = UserStanding::from_stored(kind, service_tenant_id, has_row, &here).unwrap();
            assert_eq!(standing, expected, "{kind} {service_tenant_id:?} {has_row}");
        }
        assert!(UserStanding::from_stored("robot", None, false, &here).is_err());
    }

    #[test]
    fn only_people_and_the_tenants_own_accounts_pass() {
        assert!(UserStanding::Person.check("member").is_ok());
        assert!(UserStanding::ServiceAccountOfThisTenant.check("member").is_ok());
        for refused in [UserStanding::ServiceAccountElsewhere, UserStanding::DeletedServiceAccount] {
            match refused.check("user_id") {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, "user_id"),
                other => panic!("expected Invalid on user_id, got {other:?}"),
            }
        }
    }

    #[test]
    fn usernames_are_derived_from_the_user_id() {
        let user_id = UserId::generate();
        assert_eq!(service_username(&user_id).as_str(), format!("service.{user_id}"));
    }
}
