//! The tenantry domain.
//!
//! This crate holds the types every other crate speaks in: identifiers,
//! validated names, tenants, workspaces, users, groups, memberships and API
//! keys, the relationships that authorization reads, the scopes that every
//! tenant-owned operation requires, the error type, and the [`Store`]
//! contract that each database backend implements.
//!
//! It knows nothing of HTTP or SQL: it does not depend on axum or sqlx, and
//! the compiler keeps it that way. It depends on `tenantry-authz`, the
//! IO-free authorization engine, whose relationship type it stores.

pub mod api_key;
pub mod approval;
pub mod audit;
pub mod audit_service;
pub mod authorizer;
pub mod credentials;
pub mod decision;
pub mod error;
mod evaluation_pool;
pub mod group;
pub mod id;
pub mod invitation;
pub mod limits;
pub mod membership;
#[cfg(test)]
mod memory;
pub mod name;
pub mod operation;
pub mod operation_run;
pub mod page;
pub mod relationship;
pub mod scope;
pub mod service;
pub mod service_account;
pub mod snapshot;
pub mod store;
pub mod tenant;
pub mod user;
pub mod webhook;
pub mod workspace;

pub use api_key::{
    ApiKey, ApiKeyCredentials, ApiKeyHasher, ApiKeyLifetime, ApiKeyToken, NewApiKey, TokenError,
};
pub use audit::{Actor, AuditStore};
pub use authorizer::{Authorizer, AuthorizerConfig, Consistency, RevisionToken, SweepReport};
pub use credentials::CredentialCache;
pub use error::{ConflictCode, Error, LimitCode, Result};
pub use group::{Group, GroupPatch, NewGroup};
pub use id::{
    ApiKeyId, ApprovalId, GroupId, IdError, InvitationId, JobId, RunId, TenantId, UserId, WebhookDeliveryId,
    WebhookId, WorkspaceId,
};
pub use invitation::{
    Invitation, InvitationAnswer, InvitationLifetime, InvitationStatus, Invitee, NewInvitation,
    PendingInvitation, Respondent,
};
pub use limits::StoreLimits;
pub use membership::{Member, Membership, MembershipResource, Role};
pub use name::{
    ApiKeyName, DisplayName, Email, Environment, GroupName, Label, ServiceAccountName, TenantName, Username,
    WebhookDescription, WorkspaceName,
};
pub use operation::Operation;
pub use page::{Page, PageLimit, PageRequest};
pub use relationship::{
    PartitionScope, RelationshipChanges, RelationshipFilter, RelationshipSnapshot, RelationshipUsage,
    RelationshipWrite, Revision, StoredSchema,
};
pub use scope::{PlatformScope, TenantScope};
/// Every store trait, unnamed: `use tenantry_core::prelude::*;` lets a
/// caller that uses many aggregates through one store value (a concrete
/// backend, or `dyn Store`) call their methods. Code that needs one
/// aggregate names its trait instead.
pub mod prelude {
    pub use crate::store::{
        ApiKeyStore as _, ApprovalStore as _, AuditStore as _, DecisionStore as _, DeploymentStore as _,
        GroupStore as _, InvitationStore as _, MembershipStore as _, RelationshipStore as _, RunStore as _,
        ServiceAccountStore as _, SnapshotStore as _, TenantStore as _, UserStore as _, WebhookStore as _,
        WorkspaceStore as _,
    };
}

pub use service_account::{NewServiceAccount, ServiceAccount, UserStanding};
pub use store::{
    ApiKeyStore, ApprovalStore, BootstrapOutcome, BootstrapRequest, DecisionStore, DeploymentStore,
    GroupStore, InvitationStore, MembershipStore, RelationshipStore, RunStore, ServiceAccountStore,
    SnapshotStore, Store, TenantStore, UserStore, WebhookStore, WorkspaceStore,
};
pub use tenant::{DataResidency, DeploymentModel, NewTenant, Tenant, TenantPatch, TenantStatus};
pub use user::{NewUser, OidcIdentity, OidcSignIn, User, UserKind};
pub use webhook::{
    DeliveryOutcome, DeliveryRecord, EventTypeFilter, EventTypes, NewWebhook, RetrySchedule, TargetPolicy,
    Webhook, WebhookDelivery, WebhookMessage, WebhookSecret, WebhookUrl,
};
pub use workspace::{NewWorkspace, Workspace, WorkspacePatch, WorkspaceStatus};

/// The moment operations are stamped with. One alias so every crate agrees.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A time given in microseconds since the Unix epoch, moved into the years
/// 0000 to 9999 when beyond them: the times RFC 3339 writes, and so the only
/// ones a stored record carries (PostgreSQL stores none before 4713 BC,
/// chrono reaches 262,000 years either way). For a position in a list, such
/// as a cursor's, the moved time orders against every stored record as the
/// given one would, and every backend can compare with it.
pub fn storable_time_from_micros(micros: i64) -> Timestamp {
    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
    const FIRST: i64 = -62_167_219_200_000_000;
    const LAST: i64 = 253_402_300_799_999_999;
    chrono::DateTime::from_timestamp_micros(micros.clamp(FIRST, LAST)).unwrap_or(chrono::DateTime::UNIX_EPOCH)
}

/// The current time, truncated to microseconds so that a value written to and
/// read back from either backend compares equal.
pub fn now() -> Timestamp {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}
