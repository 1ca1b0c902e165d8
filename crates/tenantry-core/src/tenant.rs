//! Tenants: the unit of isolation.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::id::{TenantId, UserId};
use crate::name::{DisplayName, TenantName, WorkspaceName};

/// Declares a closed set of snake_case values with parsing and printing.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses a stored or submitted value.
            pub fn parse(input: &str) -> Result<Self, String> {
                match input {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "must be one of {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(input: &str) -> Result<Self, String> {
                Self::parse(input)
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// Whether a tenant's keys may act in it.
    TenantStatus {
        /// Normal operation.
        Active = "active",
        /// Temporarily stopped, for example for an unpaid bill.
        Suspended = "suspended",
        /// Stopped by an operator.
        Disabled = "disabled",
        /// Kept for the record only.
        Archived = "archived",
    }
);

string_enum!(
    /// Where the tenant's control plane runs.
    DeploymentModel {
        /// On the platform's own infrastructure.
        HostedSaas = "hosted_saas",
        /// On the customer's infrastructure.
        SelfHostedEnterprise = "self_hosted_enterprise",
        /// Partly each.
        Hybrid = "hybrid",
    }
);

string_enum!(
    /// Where the tenant's data must stay.
    DataResidency {
        /// No constraint.
        Global = "global",
        /// United States.
        Us = "us",
        /// European Union.
        Eu = "eu",
        /// United Kingdom.
        Uk = "uk",
        /// India.
        In = "in",
        /// Asia-Pacific.
        Apac = "apac",
        /// Wherever the customer decides.
        CustomerManaged = "customer_managed",
    }
);

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// Unique across the deployment.
    pub name: TenantName,
    /// For people to read.
    pub display_name: DisplayName,
    /// Whether its keys may act in it.
    pub status: TenantStatus,
    /// Where its control plane runs.
    pub deployment_model: DeploymentModel,
    /// Where its data must stay.
    pub data_residency: DataResidency,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// What it takes to create a tenant. The store creates its root workspace in
/// the same transaction.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Unique across the deployment.
    pub name: TenantName,
    /// For people to read.
    pub display_name: DisplayName,
    /// Where its control plane runs.
    pub deployment_model: DeploymentModel,
    /// Where its data must stay.
    pub data_residency: DataResidency,
    /// The name of the root workspace created with it.
    pub root_workspace_name: WorkspaceName,
    /// The user creating it, who becomes its admin in the same transaction;
    /// `None` for an operator working from the CLI (platform admins manage
    /// every tenant anyway).
    pub creator: Option<UserId>,
}

/// Changes to a tenant; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    /// A new unique name.
    pub name: Option<TenantName>,
    /// A new display name.
    pub display_name: Option<DisplayName>,
    /// A new status.
    pub status: Option<TenantStatus>,
    /// A new deployment model.
    pub deployment_model: Option<DeploymentModel>,
    /// A new data residency.
    pub data_residency: Option<DataResidency>,
}

impl TenantPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.display_name.is_none()
            && self.status.is_none()
            && self.deployment_model.is_none()
            && self.data_residency.is_none()
    }
}
