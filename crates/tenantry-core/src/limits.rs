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
    /// The most groups on a chain of groups nested in groups, each counted
    /// at its shortest distance from the chain's top (so a cycle, which is
    /// allowed, has a finite depth): a group of users alone is depth 1.
    /// Adding a group to a group so that some chain would be deeper is
    /// refused with [`LimitCode::GroupTooDeep`].
    pub max_group_depth: NonZeroU32,
    /// The most pending, unexpired invitations a tenant may have at once,
    /// so that one tenant's admin cannot fill the table. Inviting beyond it
    /// is refused with [`LimitCode::TooManyPendingInvitations`]; answered,
    /// revoked and expired invitations do not count.
    pub max_pending_invitations: NonZeroU32,
}

impl StoreLimits {
    /// The default workspace depth.
    pub const DEFAULT_MAX_WORKSPACE_DEPTH: NonZeroU32 = NonZeroU32::new(64).unwrap();

    /// The default group nesting depth.
    pub const DEFAULT_MAX_GROUP_DEPTH: NonZeroU32 = NonZeroU32::new(16).unwrap();

    /// The default number of pending invitations per tenant.
    pub const DEFAULT_MAX_PENDING_INVITATIONS: NonZeroU32 = NonZeroU32::new(1000).unwrap();

    /// The defaults: 64 workspace levels, 16 group levels, 1000 pending
    /// invitations per tenant.
    pub const fn defaults() -> Self {
        Self {
            max_workspace_depth: Self::DEFAULT_MAX_WORKSPACE_DEPTH,
            max_group_depth: Self::DEFAULT_MAX_GROUP_DEPTH,
            max_pending_invitations: Self::DEFAULT_MAX_PENDING_INVITATIONS,
        }
    }

    /// Refuses one more invitation in a tenant that has `pending` pending,
    /// unexpired invitations already.
    pub fn check_pending_invitations(&self, pending: u64) -> Result<(), Error> {
        let limit = self.max_pending_invitations.get();
        if pending >= u64::from(limit) {
            return Err(Error::limit_exceeded(
                LimitCode::TooManyPendingInvitations,
                format!(
                    "the tenant has {pending} pending invitations; this server allows {limit} (--max-pending-invitations): revoke some, or wait for answers or expiry"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses group nesting that would reach `depth` groups.
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
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self::defaults()
    }
}

#[cfg(test)]
mod tests {
    use tenantry_authz::{CheckRequest, DEFAULT_SCHEMA, Engine, Index, Relationship, Schema};

    use super::*;
    use crate::AuthorizerConfig;

    /// The defaults fit together: the largest bulk check the API accepts
    /// (1000 questions), about the bottom of the deepest tree the store
    /// allows, asked by a plain tenant member (denied, so every question
    /// walks the whole closure), fits the default evaluation budget.
    #[test]
    fn the_largest_bulk_check_on_the_deepest_tree_fits_the_default_budget() {
        let schema = Schema::parse(DEFAULT_SCHEMA).unwrap();
        let mut texts = vec![
            "tenant:t#platform@platform:main".to_owned(),
            "workspace:w1#tenant@tenant:t".to_owned(),
            "workspace:w1#root_of@tenant:t".to_owned(),
            "tenant:t#member@user:plain".to_owned(),
        ];
        let depth = StoreLimits::DEFAULT_MAX_WORKSPACE_DEPTH.get();
        for level in 2..=depth {
            texts.push(format!("workspace:w{level}#tenant@tenant:t"));
            texts.push(format!("workspace:w{level}#parent@workspace:w{}", level - 1));
        }
        let mut index = Index::new();
        for text in &texts {
            index.touch(&text.parse::<Relationship>().unwrap()).unwrap();
        }
        let questions: Vec<CheckRequest> = (0..1000)
            .map(|number| CheckRequest {
                resource: format!("workspace:w{depth}").parse().unwrap(),
                permission: if number % 2 == 0 { "view" } else { "edit" }.to_owned(),
                subject: "user:plain".parse().unwrap(),
            })
            .collect();
        let budget = AuthorizerConfig::DEFAULT_EVALUATION_BUDGET.get();
        let engine = Engine::new(&schema, &index, 0).with_budget(budget);
        let answers = engine.check_bulk(&questions);
        assert!(answers.iter().all(|answer| *answer == Ok(false)), "{:?}", answers.first());
        let spent = budget - engine.remaining_steps();
        println!("1000 denied checks {depth} levels deep: {spent} steps of {budget}");
        assert!(spent < budget / 2, "{spent} steps of {budget}");
    }

    #[test]
    fn pending_invitations_up_to_the_limit_pass_and_one_more_is_refused() {
        let limits =
            StoreLimits { max_pending_invitations: NonZeroU32::new(2).unwrap(), ..StoreLimits::defaults() };
        assert!(limits.check_pending_invitations(0).is_ok());
        assert!(limits.check_pending_invitations(1).is_ok(), "the second invitation fits");
        match limits.check_pending_invitations(2) {
            Err(Error::LimitExceeded { code: LimitCode::TooManyPendingInvitations, detail }) => {
                assert!(detail.contains("--max-pending-invitations"), "{detail}");
            }
            other => panic!("expected too_many_pending_invitations, got {other:?}"),
        }
    }

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
    }
}
