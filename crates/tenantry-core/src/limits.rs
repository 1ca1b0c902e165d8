//! Limits the stores keep inside their write transactions, so that no
//! tenant can build data whose evaluation stalls the others, and no race
//! between two writers can exceed them.

use std::num::NonZeroU32;

use crate::error::{Error, LimitCode};

/// The shape limits a store enforces on every write that could exceed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// The most workspaces on any path from a tenant's root down, the root
    /// included: the root alone is depth 1. Creating a workspace beneath one
    /// at this depth, or moving a subtree so that its deepest workspace
    /// would be deeper, is refused with [`LimitCode::WorkspaceTooDeep`].
    pub max_workspace_depth: NonZeroU32,
    /// The most groups on any chain of group-in-group memberships: a group
    /// with only users is depth 1. Adding a group as a member so that a
    /// chain would be longer is refused with [`LimitCode::GroupTooDeep`].
    pub max_group_depth: NonZeroU32,
}

impl StoreLimits {
    /// The default workspace depth.
    pub const DEFAULT_MAX_WORKSPACE_DEPTH: NonZeroU32 = NonZeroU32::new(64).unwrap();
    /// The default group nesting depth.
    pub const DEFAULT_MAX_GROUP_DEPTH: NonZeroU32 = NonZeroU32::new(16).unwrap();

    /// The defaults: 64 workspace levels, 16 group levels.
    pub const fn defaults() -> Self {
        Self {
            max_workspace_depth: Self::DEFAULT_MAX_WORKSPACE_DEPTH,
            max_group_depth: Self::DEFAULT_MAX_GROUP_DEPTH,
        }
    }

    /// Refuses a workspace tree that would reach `depth` levels.
    pub fn check_workspace_depth(&self, depth: u64) -> Result<(), Error> {
        let limit = self.max_workspace_depth.get();
        if depth > u64::from(limit) {
            return Err(Error::limit_exceeded(
                LimitCode::WorkspaceTooDeep,
                format!(
                    "the workspace tree would be {depth} levels deep; this server allows {limit} (--max-workspace-depth)"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a chain of nested groups that would reach `depth` groups.
    pub fn check_group_depth(&self, depth: u64) -> Result<(), Error> {
        let limit = self.max_group_depth.get();
        if depth > u64::from(limit) {
            return Err(Error::limit_exceeded(
                LimitCode::GroupTooDeep,
                format!(
                    "groups would nest {depth} levels deep; this server allows {limit} (--max-group-depth)"
                ),
            ));
        }
        Ok(())
    }
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self::defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_at_the_limit_passes_and_one_more_is_refused() {
        let limits =
            StoreLimits { max_workspace_depth: NonZeroU32::new(3).unwrap(), ..StoreLimits::defaults() };
        assert!(limits.check_workspace_depth(3).is_ok());
        match limits.check_workspace_depth(4) {
            Err(Error::LimitExceeded { code: LimitCode::WorkspaceTooDeep, detail }) => {
                assert!(detail.contains("--max-workspace-depth"), "{detail}");
            }
            other => panic!("expected workspace_too_deep, got {other:?}"),
        }
        assert!(matches!(
            limits.check_group_depth(17),
            Err(Error::LimitExceeded { code: LimitCode::GroupTooDeep, .. })
        ));
    }
}
