//! tenantry's relationship-based authorization engine: a schema language in
//! the spirit of SpiceDB's, an in-memory relationship index, and the
//! questions asked of them (check, explain, bulk check, lookup resources,
//! lookup subjects, expand). It does no IO: the stores keep the [`Index`] in
//! step with the database, and the API asks an [`Engine`].
//!
//! ```
//! use tenantry_authz::{DEFAULT_SCHEMA, Engine, Index, Relationship, Schema};
//!
//! let schema = Schema::parse(DEFAULT_SCHEMA)?;
//! let mut index = Index::new();
//! for text in [
//!     "workspace:child#parent@workspace:root",
//!     "workspace:root#editor@group:eng#member",
//!     "group:eng#member@user:alice",
//! ] {
//!     index.touch(&text.parse::<Relationship>()?)?;
//! }
//! let now = 0;
//! let engine = Engine::new(&schema, &index, now);
//! let child = "workspace:child".parse()?;
//! let alice = "user:alice".parse()?;
//! assert!(engine.check(&child, "edit", &alice)?);
//! assert!(!engine.check(&child, "manage", &alice)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The default schema
//!
//! [`DEFAULT_SCHEMA`] models the platform (one object, `platform:main`),
//! users, groups, tenants, workspaces and API keys. "Role" below means a
//! relationship naming the user, or a group whose members include the user
//! (groups nest, to any depth, cycles included).
//!
//! | object | permission | who has it |
//! |---|---|---|
//! | `platform` | `create_tenant`, `list_tenants`, `suspend_tenant`, `delete_tenant`, `mint_key`, `read_audit`, `manage_operations` | platform `admin` |
//! | `tenant` | `manage`, `read_audit`, `manage_approval_routing` | tenant `admin`; platform `admin` |
//! | `tenant` | `view` | tenant `member`; everyone with `manage` (admin implies member) |
//! | `group` | `manage` | group `admin`; `manage` on the group's tenant |
//! | `group` | `view` | group `member`; everyone with `manage` |
//! | `group` | `decide_approvals` | group `member` (the approval requests routed to the group; never the requester) |
//! | `workspace` | `manage` | `admin` of it or of any ancestor; `manage` on its tenant |
//! | `workspace` | `edit` | `editor` of it or of any ancestor; everyone with `manage` |
//! | `workspace` | `view_by_role` | `member` of it or of any ancestor; everyone with `edit` (the part of `view` that flows down) |
//! | `workspace` | `view` | `member` of it or of any ancestor; everyone with `edit`; for the root workspace (only), everyone with `view` on the tenant |
//! | `workspace` | `create_child` | everyone with `edit`; for the root workspace, everyone with `view` on the tenant |
//! | `workspace` | `record_decision` | `decision_recorder` of it or of any ancestor (the relation to grant an agent's service account); everyone with `edit` |
//! | `workspace` | `read_decisions` | everyone with `view` |
//! | `workspace` | `request_approval` | everyone with `record_decision` |
//! | `workspace` | `break_glass` | `break_glass_operator` of it or of any ancestor; everyone with `manage` |
//! | `api_key` | `view`, `revoke` | its `owner`; `manage` on its tenant |
//!
//! The relationships the product writes:
//!
//! | when | relationships |
//! |---|---|
//! | bootstrap | `platform:main#admin@user:OPERATOR` |
//! | tenant created | `tenant:T#platform@platform:main`, `tenant:T#admin@user:CREATOR` |
//! | root workspace created | `workspace:R#tenant@tenant:T`, `workspace:R#root_of@tenant:T` |
//! | child workspace created | `workspace:W#tenant@tenant:T`, `workspace:W#parent@workspace:P`, `workspace:W#admin@user:CREATOR` |
//! | membership | `tenant:T#member@user:U`, `workspace:W#editor@group:G#member`, … (one role per member per object) |
//! | group created | `group:G#tenant@tenant:T`, `group:G#admin@user:CREATOR`; members `group:G#member@user:U` or `@group:H#member` |
//! | API key minted | `api_key:K#owner@user:U`, `api_key:K#tenant@tenant:T` |
//!
//! `root_of` is what limits "any tenant member may create workspaces" to the
//! root: it is set on the root only, so `create_child` and `view` reach the
//! tenant's members there and nowhere else. What flows down the hierarchy is
//! `view_by_role` (the view that roles grant), not `view` itself, so the
//! root's tenant-wide visibility does not leak to its descendants. Below the root, creating needs
//! `edit`, which flows down from an `editor` or `admin` role on an ancestor.
//!
//! # Time
//!
//! Expiry and `now` are microseconds since the Unix epoch. A relationship
//! expiring at `t` grants nothing from `t` on; [`Index::remove_expired`]
//! frees it later.

#![warn(missing_docs)]

mod default_schema;
mod engine;
mod hash;
mod index;
mod lookup_cache;
mod model;
mod schema;

pub use default_schema::DEFAULT_SCHEMA;
pub use engine::{
    CheckRequest, Cursor, Engine, EvalError, Expansion, ExpansionNode, Explanation, Link, LookupResources,
    LookupSubjects, Page, Reason, Step, StepId,
};
pub use index::{Change, Index, IndexError};
pub use model::{MAX_ID_LEN, MAX_NAME_LEN, ObjectRef, RefError, Relationship, SubjectRef};
pub use schema::{MAX_EXPRESSION_NESTING, Operator, Position, RelationshipError, Schema, SchemaError};
