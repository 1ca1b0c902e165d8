//! Workspaces: a tree inside each tenant, rooted at the tenant's root
//! workspace.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::id::{TenantId, UserId, WorkspaceId};
use crate::name::{Environment, WorkspaceName};
use crate::tenant::string_enum;

string_enum!(
    /// A workspace's lifecycle state.
    WorkspaceStatus {
        /// Normal operation.
        Active = "active",
        /// Temporarily stopped.
        Paused = "paused",
        /// Stopped by an administrator.
        Disabled = "disabled",
        /// Kept for the record only.
        Archived = "archived",
    }
);

/// A workspace as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    /// The workspace's id.
    pub id: WorkspaceId,
    /// The tenant that owns it.
    pub tenant_id: TenantId,
    /// Unique within the tenant.
    pub name: WorkspaceName,
    /// The parent; `None` only for the root.
    pub parent_workspace_id: Option<WorkspaceId>,
    /// True for the tenant's one root workspace.
    pub is_root: bool,
    /// Lifecycle state.
    pub status: WorkspaceStatus,
    /// Free text, `production` unless set.
    pub environment: Environment,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// What it takes to create a (non-root) workspace.
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    /// Unique within the tenant.
    pub name: WorkspaceName,
    /// The parent; `None` means the tenant's root workspace.
    pub parent_workspace_id: Option<WorkspaceId>,
    /// The environment label.
    pub environment: Environment,
    /// The user creating it, who becomes its admin in the same transaction;
    /// `None` for an operator working from the CLI.
    pub creator: Option<UserId>,
}

/// Changes to a workspace; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WorkspacePatch {
    /// A new name, unique within the tenant.
    pub name: Option<WorkspaceName>,
    /// A new parent in the same tenant: moves the workspace and its subtree.
    pub parent_workspace_id: Option<WorkspaceId>,
    /// A new status.
    pub status: Option<WorkspaceStatus>,
    /// A new environment label.
    pub environment: Option<Environment>,
}

impl WorkspacePatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.parent_workspace_id.is_none()
            && self.status.is_none()
            && self.environment.is_none()
    }
}
