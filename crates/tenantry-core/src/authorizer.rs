//! The authorizer: answers permission questions from in-memory indexes kept
//! in step with the store.
//!
//! # How the indexes stay in step
//!
//! Each tenant's relationship partition is loaded into a
//! [`tenantry_authz::Index`] on first use (one snapshot read) and then
//! caught up by reading the partition's change log after the revision the
//! index is at. The platform partition (who the platform admins are) and the
//! schema in force are held the same way, once per process, and mirrored
//! into every tenant's index, so that `tenant->platform->admin` resolves
//! inside one index.
//!
//! How fresh an answer must be is the caller's choice ([`Consistency`]):
//!
//! * [`Consistency::MinimizeLatency`]: what this process has, caught up if
//!   it was last synced longer ago than the configured staleness bound.
//! * [`Consistency::AtLeastAsFresh`]: at least the revisions a
//!   [`RevisionToken`] names. A process that is behind reads the change log
//!   up to them before answering, so a write made through one process is
//!   seen by a check with that write's token in any other.
//! * [`Consistency::FullyConsistent`]: the newest committed state: one read
//!   of the change log before answering.
//!
//! Writes go through the store in the same transaction as the data they
//! describe; the process that made one then syncs the partition and hands
//! back the token of the new state.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use tenantry_authz::{DEFAULT_SCHEMA, Engine, EvalError, Index, ObjectRef, Relationship, Schema, SubjectRef};

use crate::error::{Error, LimitCode, Result};
use crate::evaluation_pool::EvaluationPool;
use crate::id::{TenantId, UserId};
use crate::relationship::{
    PartitionScope, RelationshipChanges, RelationshipWrite, Revision, StoredSchema, names, platform_object,
    timestamp_micros, user_subject,
};
use crate::scope::{PlatformScope, TenantScope};
use crate::store::RelationshipStore;

/// How fresh the relationships behind an answer must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consistency {
    /// What this process has, no older than the configured staleness bound.
    MinimizeLatency,
    /// At least as fresh as the state a token was taken from.
    AtLeastAsFresh(RevisionToken),
    /// The newest committed state.
    FullyConsistent,
    /// The newest committed state as read at or after this instant: what
    /// the rest of a request asks for once its first fully consistent read
    /// is done (the API key check of a request that changes data), so that
    /// a request reads each change log once. Never older than
    /// [`Consistency::FullyConsistent`] asked at that instant.
    ReadSince(Instant),
}

/// A point in a tenant's authorization history: the revisions of the
/// tenant's partition and of the platform partition (which also counts
/// schema changes). Written as `<tenant id>.<tenant revision>.<platform
/// revision>`; clients treat it as opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionToken {
    tenant_id: TenantId,
    tenant: Revision,
    platform: Revision,
}

impl RevisionToken {
    /// Parses a token; `field` names where it came from in errors.
    pub fn parse(text: &str, field: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(field, "is not a revision token: use the `revision` a tenantry response returned")
        };
        let mut parts = text.split('.');
        let (Some(tenant_id), Some(tenant), Some(platform), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let tenant_id = TenantId::parse(tenant_id).map_err(|_| invalid())?;
        let tenant = parse_revision(tenant).ok_or_else(invalid)?;
        let platform = parse_revision(platform).ok_or_else(invalid)?;
        Ok(Self { tenant_id, tenant, platform })
    }

    /// The tenant whose history the token is a point in.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The tenant partition's revision.
    pub fn tenant_revision(&self) -> Revision {
        self.tenant
    }

    /// The platform partition's revision.
    pub fn platform_revision(&self) -> Revision {
        self.platform
    }
}

/// A revision as a token spells it: 1 to 19 ASCII digits, the form the
/// OpenAPI document gives (`u64::from_str` also takes a `+` sign and 20
/// digits, which no token the server writes has).
fn parse_revision(text: &str) -> Option<Revision> {
    let digits_only = (1..=19).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_digit());
    digits_only.then(|| text.parse::<u64>().ok().map(Revision::new)).flatten()
}

impl fmt::Display for RevisionToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}.{}.{}", self.tenant_id, self.tenant, self.platform)
    }
}

/// The authorizer's settings.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizerConfig {
    /// How old an index may be before a [`Consistency::MinimizeLatency`]
    /// question first catches it up.
    pub max_staleness: Duration,
    /// How long a tenant's index may go unasked before
    /// [`Authorizer::sweep`] drops it from memory (the next question loads
    /// it again).
    pub idle_eviction: Duration,
    /// The engine steps (graph nodes and edges) one evaluation may take:
    /// a request's question, or all the questions of a bulk check together.
    /// Beyond it the answer is [`LimitCode::TooComplex`].
    pub evaluation_budget: NonZeroU64,
    /// How many heavy evaluations ([`Authorizer::evaluate_offloaded`]) run
    /// at once, each on a thread of the evaluation pool; the others wait
    /// their turn.
    pub evaluation_threads: NonZeroUsize,
    /// The `nice` value (0 to 19) the evaluation pool's threads set for
    /// themselves when they start, so that heavy evaluations run on the CPU
    /// time the async workers leave (see `evaluation_pool`). 0 keeps the
    /// process's priority. Applied on Linux only.
    pub evaluation_niceness: u8,
}

impl AuthorizerConfig {
    /// The default evaluation budget: a bulk check of 1000 denied questions
    /// about the bottom of a tree 64 levels deep takes two fifths of it
    /// (804,500 steps; a test in `limits.rs` keeps the two in step).
    pub const DEFAULT_EVALUATION_BUDGET: NonZeroU64 = NonZeroU64::new(2_000_000).unwrap();

    /// The default `nice` value of the evaluation threads: well below the
    /// async workers' priority (Linux gives a nice-0 thread about 10 times
    /// the CPU of a nice-10 one when both want it), not the lowest.
    pub const DEFAULT_EVALUATION_NICENESS: u8 = 10;

    /// The most a `nice` value can be.
    pub const MAX_EVALUATION_NICENESS: u8 = 19;

    /// The default number of heavy evaluations at once: one fewer than the
    /// cores, at least one, so that one core is left to the async workers
    /// that serve cheap requests.
    pub fn default_evaluation_threads() -> NonZeroUsize {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        NonZeroUsize::new(cores.saturating_sub(1)).unwrap_or(NonZeroUsize::MIN)
    }

    /// The given freshness settings with the default evaluation limits.
    pub fn with_freshness(max_staleness: Duration, idle_eviction: Duration) -> Self {
        Self {
            max_staleness,
            idle_eviction,
            evaluation_budget: Self::DEFAULT_EVALUATION_BUDGET,
            evaluation_threads: Self::default_evaluation_threads(),
            evaluation_niceness: Self::DEFAULT_EVALUATION_NICENESS,
        }
    }
}

/// What [`Authorizer::sweep`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired relationships deleted from the database.
    pub expired_relationships: u64,
    /// Change-log entries pruned.
    pub pruned_changes: u64,
    /// Tenants' indexes dropped from memory for being idle.
    pub evicted_indexes: u64,
}

/// The platform partition and the schema at one revision. Immutable: a sync
/// builds a new one, so readers never wait for a writer.
#[derive(Debug)]
struct PlatformView {
    revision: Revision,
    /// Keyed by the relationship's text, so a change replaces its entry.
    relationships: BTreeMap<String, Relationship>,
    /// The platform partition alone, for platform-wide questions.
    index: Index,
    schema: Arc<Schema>,
    schema_version: Option<i64>,
}

impl PlatformView {
    fn build(
        revision: Revision,
        relationships: BTreeMap<String, Relationship>,
        schema: Arc<Schema>,
        schema_version: Option<i64>,
    ) -> Result<Self> {
        let mut index = Index::new();
        for relationship in relationships.values() {
            index.touch(relationship).map_err(Error::internal)?;
        }
        Ok(Self { revision, relationships, index, schema, schema_version })
    }
}

#[derive(Debug)]
struct PlatformState {
    view: Arc<PlatformView>,
    synced_at: Instant,
}

#[derive(Debug)]
struct TenantState {
    /// The tenant's relationships and the mirrored platform ones.
    index: Index,
    revision: Revision,
    /// The last revision up to `revision` that changed one of the tenant's
    /// credentials (see [`RelationshipChanges::Since`]).
    credentials_revision: Revision,
    /// The platform view whose relationships are mirrored into `index`.
    mirrored: Option<Arc<PlatformView>>,
    synced_at: Instant,
}

/// One partition's state and the lock that lets one task at a time sync it.
#[derive(Debug)]
struct Cell<S> {
    state: RwLock<Option<S>>,
    syncing: tokio::sync::Mutex<()>,
    /// When a question last used it, for idle eviction.
    last_used: std::sync::Mutex<Instant>,
}

impl<S> Default for Cell<S> {
    fn default() -> Self {
        Self {
            state: RwLock::new(None),
            syncing: tokio::sync::Mutex::new(()),
            last_used: std::sync::Mutex::new(Instant::now()),
        }
    }
}

impl<S> Cell<S> {
    fn touch(&self) -> Result<()> {
        *self.last_used.lock().map_err(poisoned)? = Instant::now();
        Ok(())
    }

    fn idle_for(&self) -> Result<Duration> {
        Ok(self.last_used.lock().map_err(poisoned)?.elapsed())
    }
}

/// How many times a question mirrors the platform partition into a tenant's
/// index that concurrent reloads keep replacing, before it gives up.
const MIRROR_ATTEMPTS: usize = 3;

/// What a sync must achieve.
#[derive(Debug, Clone, Copy)]
enum Freshness {
    /// Synced within the staleness bound.
    Recent,
    /// At least this revision.
    AtLeast(Revision),
    /// Synced by a read that started after this instant.
    SyncedAfter(Instant),
}

/// Answers permission questions; see the module documentation.
#[derive(Debug)]
pub struct Authorizer {
    /// The relationship partitions and the schema: all the authorizer
    /// reads and writes.
    relationships: Arc<dyn RelationshipStore>,
    config: AuthorizerConfig,
    platform: Cell<PlatformState>,
    tenants: RwLock<HashMap<TenantId, Arc<Cell<TenantState>>>>,
    /// Permits for heavy evaluations, one per evaluation thread.
    evaluation_permits: Arc<tokio::sync::Semaphore>,
    /// The threads heavy evaluations run on, started at the first one.
    evaluation_pool: OnceLock<EvaluationPool>,
}

/// A poisoned lock means a panic while an index was being changed; the index
/// may be half-updated, so refuse to answer from it.
fn poisoned<T>(_: T) -> Error {
    Error::internal("an authorization index lock was poisoned by a panic")
}

/// The current time as the engine counts it.
fn now_micros() -> i64 {
    timestamp_micros(crate::now())
}

/// The engine's refusal of a question as the field error it is.
pub fn eval_error(error: EvalError) -> Error {
    match &error {
        EvalError::UnknownType { .. } => Error::invalid("type", error),
        EvalError::UnknownName { .. } => Error::invalid("permission", error),
        EvalError::TooComplex { .. } => {
            Error::limit_exceeded(LimitCode::TooComplex, format!("{error} (--evaluation-budget)"))
        }
    }
}

impl Authorizer {
    /// An authorizer over a store's relationships and schema. Nothing is
    /// read until the first question.
    pub fn new(relationships: Arc<dyn RelationshipStore>, config: AuthorizerConfig) -> Self {
        Self {
            relationships,
            config,
            platform: Cell::default(),
            tenants: RwLock::new(HashMap::new()),
            evaluation_permits: Arc::new(tokio::sync::Semaphore::new(config.evaluation_threads.get())),
            evaluation_pool: OnceLock::new(),
        }
    }

    fn freshness(
        &self,
        consistency: &Consistency,
        revision_of: impl Fn(&RevisionToken) -> Revision,
    ) -> Freshness {
        match consistency {
            Consistency::MinimizeLatency => Freshness::Recent,
            Consistency::AtLeastAsFresh(token) => Freshness::AtLeast(revision_of(token)),
            Consistency::FullyConsistent => Freshness::SyncedAfter(Instant::now()),
            Consistency::ReadSince(instant) => Freshness::SyncedAfter(*instant),
        }
    }

    fn satisfied(&self, revision: Revision, synced_at: Instant, freshness: Freshness) -> bool {
        match freshness {
            Freshness::Recent => synced_at.elapsed() <= self.config.max_staleness,
            // A token asks for at least its state, never for less than the
            // default: an old token must not pin a process to old state.
            Freshness::AtLeast(wanted) => {
                revision >= wanted && synced_at.elapsed() <= self.config.max_staleness
            }
            Freshness::SyncedAfter(instant) => synced_at >= instant,
        }
    }

    // --- The platform partition and the schema -------------------------------

    async fn platform_view(&self, freshness: Freshness) -> Result<Arc<PlatformView>> {
        if let Some(view) = self.platform_view_if(freshness)? {
            return Ok(view);
        }
        let _syncing = self.platform.syncing.lock().await;
        if let Some(view) = self.platform_view_if(freshness)? {
            return Ok(view);
        }
        let current = self.platform.state.read().map_err(poisoned)?.as_ref().map(|state| state.view.clone());
        let started = Instant::now();
        let partition = PartitionScope::Platform(PlatformScope::authorization());
        let (revision, relationships) = match &current {
            Some(view) => match self.relationships.relationship_changes(&partition, view.revision).await? {
                RelationshipChanges::Since { revision, changes, .. } => {
                    let mut relationships = view.relationships.clone();
                    for change in changes {
                        match change {
                            tenantry_authz::Change::Touch(relationship) => {
                                relationships.insert(relationship.to_string(), relationship);
                            }
                            tenantry_authz::Change::Delete(relationship) => {
                                relationships.remove(&relationship.to_string());
                            }
                        }
                    }
                    (revision, relationships)
                }
                RelationshipChanges::Pruned | RelationshipChanges::Gone => {
                    self.platform_snapshot(&partition).await?
                }
            },
            None => self.platform_snapshot(&partition).await?,
        };
        let unchanged = current.as_ref().filter(|view| view.revision == revision);
        let view = match unchanged {
            Some(view) => view.clone(),
            None => {
                let (schema, schema_version) = match &current {
                    Some(view) => self.schema_after(view).await?,
                    None => self.load_schema().await?,
                };
                Arc::new(PlatformView::build(revision, relationships, schema, schema_version)?)
            }
        };
        if let Freshness::AtLeast(wanted) = freshness
            && view.revision < wanted
        {
            return Err(token_from_elsewhere());
        }
        *self.platform.state.write().map_err(poisoned)? =
            Some(PlatformState { view: view.clone(), synced_at: started });
        Ok(view)
    }

    fn platform_view_if(&self, freshness: Freshness) -> Result<Option<Arc<PlatformView>>> {
        let state = self.platform.state.read().map_err(poisoned)?;
        Ok(state
            .as_ref()
            .filter(|state| self.satisfied(state.view.revision, state.synced_at, freshness))
            .map(|state| state.view.clone()))
    }

    async fn platform_snapshot(
        &self,
        partition: &PartitionScope,
    ) -> Result<(Revision, BTreeMap<String, Relationship>)> {
        let snapshot = self.relationships.relationship_snapshot(partition).await?;
        let relationships = snapshot
            .relationships
            .into_iter()
            .map(|relationship| (relationship.to_string(), relationship))
            .collect();
        Ok((snapshot.revision, relationships))
    }

    /// The schema after the platform revision moved on: re-read, and parsed
    /// again only if its version changed.
    async fn schema_after(&self, view: &PlatformView) -> Result<(Arc<Schema>, Option<i64>)> {
        let stored = self.relationships.authorization_schema().await?;
        if stored.as_ref().map(|stored| stored.version) == view.schema_version {
            return Ok((view.schema.clone(), view.schema_version));
        }
        parse_stored_schema(stored)
    }

    async fn load_schema(&self) -> Result<(Arc<Schema>, Option<i64>)> {
        parse_stored_schema(self.relationships.authorization_schema().await?)
    }

    /// The schema in force and its stored version (`None`: the default).
    pub async fn schema(&self, consistency: &Consistency) -> Result<(Arc<Schema>, Option<i64>)> {
        let freshness = self.freshness(consistency, RevisionToken::platform_revision);
        let view = self.platform_view(freshness).await?;
        Ok((view.schema.clone(), view.schema_version))
    }

    // --- Tenant partitions --------------------------------------------------

    fn tenant_cell(&self, tenant_id: &TenantId) -> Result<Arc<Cell<TenantState>>> {
        if let Some(cell) = self.tenants.read().map_err(poisoned)?.get(tenant_id) {
            return Ok(cell.clone());
        }
        Ok(self.tenants.write().map_err(poisoned)?.entry(tenant_id.clone()).or_default().clone())
    }

    fn tenant_satisfied(&self, cell: &Cell<TenantState>, freshness: Freshness) -> Result<bool> {
        let state = cell.state.read().map_err(poisoned)?;
        Ok(state.as_ref().is_some_and(|state| self.satisfied(state.revision, state.synced_at, freshness)))
    }

    async fn sync_tenant(
        &self,
        tenant_id: &TenantId,
        freshness: Freshness,
    ) -> Result<Arc<Cell<TenantState>>> {
        let cell = self.tenant_cell(tenant_id)?;
        self.sync_cell(tenant_id, &cell, freshness).await?;
        Ok(cell)
    }

    async fn sync_cell(
        &self,
        tenant_id: &TenantId,
        cell: &Cell<TenantState>,
        freshness: Freshness,
    ) -> Result<()> {
        if self.tenant_satisfied(cell, freshness)? {
            return Ok(());
        }
        let _syncing = cell.syncing.lock().await;
        if self.tenant_satisfied(cell, freshness)? {
            return Ok(());
        }
        let current = cell.state.read().map_err(poisoned)?.as_ref().map(|state| state.revision);
        let started = Instant::now();
        let partition = PartitionScope::Tenant(TenantScope::system(tenant_id.clone(), "authorization"));
        let changes = match current {
            Some(revision) => Some(self.relationships.relationship_changes(&partition, revision).await?),
            None => None,
        };
        match changes {
            Some(RelationshipChanges::Since { revision, credentials_revision, changes }) => {
                let mut guard = cell.state.write().map_err(poisoned)?;
                // Only this task, holding `syncing`, replaces the state.
                let state = guard
                    .as_mut()
                    .ok_or_else(|| Error::internal("an authorization index vanished while it was synced"))?;
                state.index.apply(&changes).map_err(Error::internal)?;
                state.revision = revision;
                state.credentials_revision = credentials_revision;
                state.synced_at = started;
            }
            Some(RelationshipChanges::Gone) => {
                self.forget_tenant(tenant_id)?;
                return Err(Error::not_found("tenant"));
            }
            Some(RelationshipChanges::Pruned) | None => {
                let snapshot = match self.relationships.relationship_snapshot(&partition).await {
                    Ok(snapshot) => snapshot,
                    Err(error @ Error::NotFound { .. }) => {
                        self.forget_tenant(tenant_id)?;
                        return Err(error);
                    }
                    Err(error) => return Err(error),
                };
                let mut index = Index::new();
                for relationship in &snapshot.relationships {
                    index.touch(relationship).map_err(Error::internal)?;
                }
                *cell.state.write().map_err(poisoned)? = Some(TenantState {
                    index,
                    revision: snapshot.revision,
                    credentials_revision: snapshot.credentials_revision,
                    mirrored: None,
                    synced_at: started,
                });
            }
        }
        if let Freshness::AtLeast(wanted) = freshness
            && cell.state.read().map_err(poisoned)?.as_ref().is_some_and(|state| state.revision < wanted)
        {
            return Err(token_from_elsewhere());
        }
        Ok(())
    }

    /// The last revision of the tenant's partition that changed one of its
    /// credentials, as far as this process's index, caught up as
    /// `consistency` asks, knows (the platform partition is not read). What
    /// the API key credentials of a request are compared with: see
    /// [`crate::credentials::CredentialCache`].
    pub async fn tenant_credentials_revision(
        &self,
        scope: &TenantScope,
        consistency: &Consistency,
    ) -> Result<Revision> {
        let (_, tenant_freshness) = self.freshness_of(scope, consistency)?;
        let cell = self.sync_tenant(scope.tenant_id(), tenant_freshness).await?;
        cell.touch()?;
        let state = cell.state.read().map_err(poisoned)?;
        state
            .as_ref()
            .map(|state| state.credentials_revision)
            .ok_or_else(|| Error::internal("an authorization index vanished after it was synced"))
    }

    /// Drops the tenant's index from memory: after the tenant was deleted,
    /// or to free the memory of one not asked about for a while. The next
    /// question loads it again.
    pub fn forget_tenant(&self, tenant_id: &TenantId) -> Result<()> {
        self.tenants.write().map_err(poisoned)?.remove(tenant_id);
        Ok(())
    }

    /// Brings the tenant's mirror of the platform partition up to `view`,
    /// unless it already mirrors a newer one (or holds nothing yet).
    fn mirror(cell: &Cell<TenantState>, view: &Arc<PlatformView>) -> Result<()> {
        let current = |state: &TenantState| {
            state.mirrored.as_ref().is_some_and(|mirrored| mirrored.revision >= view.revision)
        };
        if cell.state.read().map_err(poisoned)?.as_ref().is_none_or(current) {
            return Ok(());
        }
        let mut guard = cell.state.write().map_err(poisoned)?;
        let Some(state) = guard.as_mut().filter(|state| !current(state)) else {
            return Ok(());
        };
        let empty = BTreeMap::new();
        let old = state.mirrored.as_ref().map_or(&empty, |mirrored| &mirrored.relationships);
        for (key, relationship) in old {
            if !view.relationships.contains_key(key) {
                state.index.delete(relationship);
            }
        }
        for (key, relationship) in &view.relationships {
            if old.get(key).is_none_or(|previous| previous.expires_at() != relationship.expires_at()) {
                state.index.touch(relationship).map_err(Error::internal)?;
            }
        }
        state.mirrored = Some(view.clone());
        Ok(())
    }

    /// Answers with the engine over the tenant's relationships (and the
    /// platform's), as fresh as `consistency` asks, and returns the token of
    /// the state that answered.
    ///
    /// A token of another tenant is [`Error::Invalid`] on `consistency`.
    pub async fn evaluate<T>(
        &self,
        scope: &TenantScope,
        consistency: &Consistency,
        question: impl FnOnce(&Engine<'_>) -> T,
    ) -> Result<(T, RevisionToken)> {
        let (platform_freshness, tenant_freshness) = self.freshness_of(scope, consistency)?;
        self.evaluate_at(scope, platform_freshness, tenant_freshness, question).await
    }

    /// The freshness each partition must have; refuses a token of another
    /// tenant.
    fn freshness_of(&self, scope: &TenantScope, consistency: &Consistency) -> Result<(Freshness, Freshness)> {
        if let Consistency::AtLeastAsFresh(token) = consistency
            && token.tenant_id() != scope.tenant_id()
        {
            return Err(Error::invalid("consistency", "the revision token belongs to another tenant"));
        }
        Ok((
            self.freshness(consistency, RevisionToken::platform_revision),
            self.freshness(consistency, RevisionToken::tenant_revision),
        ))
    }

    /// [`Self::evaluate`] with the freshness of each partition given apart.
    async fn evaluate_at<T>(
        &self,
        scope: &TenantScope,
        platform_freshness: Freshness,
        tenant_freshness: Freshness,
        question: impl FnOnce(&Engine<'_>) -> T,
    ) -> Result<(T, RevisionToken)> {
        let tenant_id = scope.tenant_id();
        let view = self.platform_view(platform_freshness).await?;
        let cell = self.sync_tenant(tenant_id, tenant_freshness).await?;
        cell.touch()?;
        Self::answer(&cell, &view, tenant_id, self.config.evaluation_budget, question)
    }

    /// [`Self::evaluate`] for questions that can be heavy (bulk checks,
    /// lookups, expand, explanations): the index is caught up on the async
    /// task as usual, then the question is answered on a thread of the
    /// evaluation pool, at most [`AuthorizerConfig::evaluation_threads`] at
    /// once (the others wait for a permit, asynchronously), so that a
    /// tenant's heavy questions never occupy the async workers that serve
    /// everyone's cheap requests, and run at a lower OS priority than they
    /// do ([`AuthorizerConfig::evaluation_niceness`]). A question that
    /// panics is [`Error::Internal`].
    pub async fn evaluate_offloaded<T: Send + 'static>(
        &self,
        scope: &TenantScope,
        consistency: &Consistency,
        question: impl FnOnce(&Engine<'_>) -> T + Send + 'static,
    ) -> Result<(T, RevisionToken)> {
        let tenant_id = scope.tenant_id();
        let (platform_freshness, tenant_freshness) = self.freshness_of(scope, consistency)?;
        let view = self.platform_view(platform_freshness).await?;
        let cell = self.sync_tenant(tenant_id, tenant_freshness).await?;
        cell.touch()?;
        let permit = self.evaluation_permits.clone().acquire_owned().await.map_err(Error::internal)?;
        let budget = self.config.evaluation_budget;
        let tenant_id = tenant_id.clone();
        self.evaluation_pool()?
            .answer(move || {
                let answer = Self::answer(&cell, &view, &tenant_id, budget, question);
                // Released on the pool's thread, once it is free again: a
                // permit stands for a thread.
                drop(permit);
                answer
            })
            .await?
    }

    /// The evaluation pool, started with one thread per permit on first use
    /// (an authorizer that never answers a heavy question starts none).
    fn evaluation_pool(&self) -> Result<&EvaluationPool> {
        if let Some(pool) = self.evaluation_pool.get() {
            return Ok(pool);
        }
        let pool =
            EvaluationPool::start(self.config.evaluation_threads.get(), self.config.evaluation_niceness)?;
        // Two first questions at once may both start one; the second is
        // dropped, and its threads exit.
        Ok(self.evaluation_pool.get_or_init(|| pool))
    }

    /// Answers from a caught-up tenant cell, mirroring `view` into it first.
    fn answer<T>(
        cell: &Cell<TenantState>,
        view: &Arc<PlatformView>,
        tenant_id: &TenantId,
        budget: NonZeroU64,
        question: impl FnOnce(&Engine<'_>) -> T,
    ) -> Result<(T, RevisionToken)> {
        // A concurrent reload (after the change log was pruned) may replace
        // the state between mirroring and reading it; mirror again then.
        for _ in 0..MIRROR_ATTEMPTS {
            Self::mirror(cell, view)?;
            let guard = cell.state.read().map_err(poisoned)?;
            if let Some(state) = guard.as_ref()
                && let Some(mirrored) = state.mirrored.as_ref()
            {
                let engine =
                    Engine::new(&mirrored.schema, &state.index, now_micros()).with_budget(budget.get());
                let answer = question(&engine);
                let token = RevisionToken {
                    tenant_id: tenant_id.clone(),
                    tenant: state.revision,
                    platform: mirrored.revision,
                };
                return Ok((answer, token));
            }
        }
        Err(Error::internal(format!(
            "the authorization index of tenant {tenant_id} was reloaded {MIRROR_ATTEMPTS} times while a question waited"
        )))
    }

    /// Answers a platform-wide question (about `platform:main`) from the
    /// platform partition alone.
    pub async fn evaluate_platform<T>(
        &self,
        consistency: &Consistency,
        question: impl FnOnce(&Engine<'_>) -> T,
    ) -> Result<T> {
        let view = self.platform_view(self.freshness(consistency, RevisionToken::platform_revision)).await?;
        let engine = Engine::new(&view.schema, &view.index, now_micros())
            .with_budget(self.config.evaluation_budget.get());
        Ok(question(&engine))
    }

    /// Whether `subject` has `permission` on `resource` in the scope's
    /// tenant, with the token of the state that answered.
    pub async fn check(
        &self,
        scope: &TenantScope,
        resource: &ObjectRef,
        permission: &str,
        subject: &SubjectRef,
        consistency: &Consistency,
    ) -> Result<(bool, RevisionToken)> {
        let (answer, token) =
            self.evaluate(scope, consistency, |engine| engine.check(resource, permission, subject)).await?;
        Ok((answer.map_err(eval_error)?, token))
    }

    /// Requires `permission` on `resource` for `user`: `Ok` with the token
    /// if granted; otherwise [`Error::Forbidden`] if the user may at least
    /// view the resource and [`Error::NotFound`] (`resource_kind`) if not,
    /// so that what a caller cannot see answers exactly like what does not
    /// exist.
    pub async fn require(
        &self,
        scope: &TenantScope,
        resource: &ObjectRef,
        permission: &str,
        user_id: &UserId,
        consistency: &Consistency,
        resource_kind: &'static str,
    ) -> Result<RevisionToken> {
        let subject = user_subject(user_id);
        let (answer, token) = self
            .evaluate(scope, consistency, |engine| -> Result<(bool, bool)> {
                let allowed = engine.check(resource, permission, &subject).map_err(eval_error)?;
                // Whether to say "forbidden" rather than "not found": only
                // to someone who may see the resource.
                let visible = !allowed
                    && permission != names::VIEW
                    && engine.check(resource, names::VIEW, &subject).map_err(eval_error)?;
                Ok((allowed, visible))
            })
            .await?;
        let (allowed, visible) = answer?;
        if allowed {
            Ok(token)
        } else if visible {
            Err(Error::forbidden(format!(
                "you may view this {resource_kind} but lack the `{permission}` permission on it"
            )))
        } else {
            Err(Error::not_found(resource_kind))
        }
    }

    /// Whether `user` holds `permission` on `platform:main`.
    pub async fn check_platform(
        &self,
        user_id: &UserId,
        permission: &str,
        consistency: &Consistency,
    ) -> Result<bool> {
        let subject = user_subject(user_id);
        self.evaluate_platform(consistency, |engine| engine.check(&platform_object(), permission, &subject))
            .await?
            .map_err(eval_error)
    }

    /// The tenants `user` may view, ordered by id: every tenant for a
    /// platform admin is the caller's business (list them from the store);
    /// this returns the tenants whose partitions grant the user `view` on
    /// the tenant, read fully consistently.
    pub async fn tenants_viewable_by(&self, user_id: &UserId) -> Result<Vec<TenantId>> {
        let candidates =
            self.relationships.tenants_naming_user(&PlatformScope::authorization(), user_id).await?;
        let subject = user_subject(user_id);
        let mut viewable = Vec::new();
        for tenant_id in candidates {
            let scope = TenantScope::system(tenant_id.clone(), "authorization");
            let object = crate::relationship::tenant_object(&tenant_id);
            match self
                .evaluate(&scope, &Consistency::MinimizeLatency, |engine| {
                    engine.check(&object, names::VIEW, &subject)
                })
                .await
            {
                Ok((Ok(true), _)) => viewable.push(tenant_id),
                Ok((Ok(false), _)) | Err(Error::NotFound { .. }) => {}
                Ok((Err(error), _)) => return Err(eval_error(error)),
                Err(error) => return Err(error),
            }
        }
        Ok(viewable)
    }

    // --- After writes -------------------------------------------------------

    /// Catches the tenant's index up after a write this process made through
    /// the store, and returns the token of the state that includes it.
    ///
    /// Only the tenant's partition is read: a write to a tenant's partition
    /// does not change the platform's, which is caught up as usual.
    pub async fn synced(&self, scope: &TenantScope) -> Result<RevisionToken> {
        let tenant_freshness = Freshness::SyncedAfter(Instant::now());
        let ((), token) = self.evaluate_at(scope, Freshness::Recent, tenant_freshness, |_| ()).await?;
        Ok(token)
    }

    /// Writes relationships to a tenant's partition after checking every
    /// touched one against the schema in force (and its expiry is in the
    /// future), then syncs; returns the token of the state that includes
    /// the write.
    pub async fn write_relationships(
        &self,
        scope: &TenantScope,
        write: RelationshipWrite,
    ) -> Result<RevisionToken> {
        let partition = PartitionScope::Tenant(scope.clone());
        self.check_write(&partition, &write).await?;
        self.relationships.write_relationships(&partition, write).await?;
        self.synced(scope).await
    }

    /// Writes relationships to the platform partition, checked like
    /// [`Self::write_relationships`]; returns the platform revision after it.
    pub async fn write_platform_relationships(&self, write: RelationshipWrite) -> Result<Revision> {
        let partition = PartitionScope::Platform(PlatformScope::authorization());
        self.check_write(&partition, &write).await?;
        self.relationships.write_relationships(&partition, write).await?;
        let view = self.platform_view(Freshness::SyncedAfter(Instant::now())).await?;
        Ok(view.revision)
    }

    async fn check_write(&self, partition: &PartitionScope, write: &RelationshipWrite) -> Result<()> {
        let (schema, _) = self.schema(&Consistency::FullyConsistent).await?;
        let now = now_micros();
        for relationship in write.touch.iter().chain(&write.delete) {
            partition.require_admits(relationship)?;
        }
        for relationship in &write.touch {
            schema
                .check_relationship(relationship)
                .map_err(|error| Error::invalid("relationship", format!("{relationship}: {error}")))?;
            if relationship.expires_at().is_some_and(|expires_at| expires_at <= now) {
                return Err(Error::invalid("expires_at", "must be in the future"));
            }
        }
        Ok(())
    }

    // --- The schema ---------------------------------------------------------

    /// Replaces the schema in force, if it is still version
    /// `expected_current` (`None`: the built-in default is in force). The new
    /// schema must parse, keep every permission and relation tenantry's
    /// routes use, and still allow every stored relationship; otherwise
    /// nothing changes and the error says why (for orphans: which
    /// relationships, with counts and an example each). `platform` names
    /// who makes the change, for the audit log.
    pub async fn put_schema(
        &self,
        platform: &PlatformScope,
        text: &str,
        expected_current: Option<i64>,
    ) -> Result<(StoredSchema, Revision)> {
        let schema = Schema::parse(text).map_err(|error| Error::invalid("schema", error))?;
        product_requirements(&schema).map_err(|missing| {
            Error::invalid(
                "schema",
                format!(
                    "it must keep what tenantry's routes use; missing or changed: {}",
                    missing.join("; ")
                ),
            )
        })?;
        let usage = self.relationships.relationship_usage(&PlatformScope::authorization()).await?;
        let orphans: Vec<String> = usage
            .iter()
            .filter(|usage| schema.check_relationship(&usage.example).is_err())
            .map(|usage| {
                let subject = match &usage.subject_relation {
                    Some(relation) => format!("{}#{relation}", usage.subject_type),
                    None => usage.subject_type.clone(),
                };
                format!(
                    "{} relationship(s) {}#{}@{} (for example {})",
                    usage.count, usage.resource_type, usage.relation, subject, usage.example
                )
            })
            .collect();
        if !orphans.is_empty() {
            return Err(Error::conflict_with_detail(
                crate::error::ConflictCode::SchemaOrphansRelationships,
                orphans.join("; "),
            ));
        }
        let (stored, revision) =
            self.relationships.put_authorization_schema(platform, text, expected_current).await?;
        self.platform_view(Freshness::SyncedAfter(Instant::now())).await?;
        Ok((stored, revision))
    }

    // --- Housekeeping -------------------------------------------------------

    /// Deletes expired relationships from the database and from every index
    /// in memory, prunes change-log entries older than `log_retention`, and
    /// drops the indexes of tenants no question used for the configured
    /// idle time. A question about a dropped tenant loads it again; one
    /// being answered meanwhile keeps its own reference and finishes.
    pub async fn sweep(&self, log_retention: Duration) -> Result<SweepReport> {
        let platform = PlatformScope::authorization();
        let now = crate::now();
        let expired_relationships = self.relationships.delete_expired_relationships(&platform, now).await?;
        let retention = chrono::Duration::from_std(log_retention).unwrap_or(chrono::Duration::MAX);
        let pruned_changes = self
            .relationships
            .prune_relationship_changes(&platform, now.checked_sub_signed(retention).unwrap_or(now))
            .await?;
        let now_micros = timestamp_micros(now);
        let cells: Vec<_> = self
            .tenants
            .read()
            .map_err(poisoned)?
            .iter()
            .map(|(id, cell)| (id.clone(), cell.clone()))
            .collect();
        let mut idle = Vec::new();
        for (tenant_id, cell) in cells {
            if cell.idle_for()? >= self.config.idle_eviction {
                idle.push(tenant_id);
            } else if let Some(state) = cell.state.write().map_err(poisoned)?.as_mut() {
                state.index.remove_expired(now_micros);
            }
        }
        let mut evicted_indexes = 0;
        if !idle.is_empty() {
            let mut tenants = self.tenants.write().map_err(poisoned)?;
            for tenant_id in idle {
                // Asked about since it was found idle: keep it.
                let still_idle = match tenants.get(&tenant_id) {
                    Some(cell) => cell.idle_for()? >= self.config.idle_eviction,
                    None => false,
                };
                if still_idle {
                    tenants.remove(&tenant_id);
                    evicted_indexes += 1;
                }
            }
        }
        Ok(SweepReport { expired_relationships, pruned_changes, evicted_indexes })
    }
}

fn token_from_elsewhere() -> Error {
    Error::invalid(
        "consistency",
        "the revision token is newer than this deployment's data: it was not issued by this deployment",
    )
}

fn parse_stored_schema(stored: Option<StoredSchema>) -> Result<(Arc<Schema>, Option<i64>)> {
    match stored {
        None => Ok((Arc::new(Schema::parse(DEFAULT_SCHEMA).map_err(Error::internal)?), None)),
        Some(stored) => {
            let schema = Schema::parse(&stored.text).map_err(|error| {
                Error::internal(format!(
                    "the stored authorization schema version {} does not parse: {error}",
                    stored.version
                ))
            })?;
            Ok((Arc::new(schema), Some(stored.version)))
        }
    }
}

/// The permissions tenantry's routes ask for, as `(type, name)`.
const ASKED: [(&str, &str); 28] = [
    ("platform", names::CREATE_TENANT),
    ("platform", names::LIST_TENANTS),
    ("platform", names::SUSPEND_TENANT),
    ("platform", names::DELETE_TENANT),
    ("platform", names::MINT_KEY),
    ("platform", names::READ_AUDIT),
    ("platform", names::MANAGE_OPERATIONS),
    ("tenant", names::READ_AUDIT),
    ("tenant", names::VIEW),
    ("tenant", names::MANAGE),
    ("workspace", names::VIEW),
    ("workspace", names::EDIT),
    ("workspace", names::MANAGE),
    ("workspace", names::CREATE_CHILD),
    ("workspace", names::RECORD_DECISION),
    ("workspace", names::READ_DECISIONS),
    ("workspace", names::REQUEST_APPROVAL),
    ("workspace", names::BREAK_GLASS),
    ("group", names::DECIDE_APPROVALS),
    ("tenant", names::MANAGE_APPROVAL_ROUTING),
    ("group", names::VIEW),
    ("group", names::MANAGE),
    ("api_key", names::VIEW),
    ("api_key", names::REVOKE),
    ("tenant", names::ADMIN),
    ("tenant", names::MEMBER),
    ("workspace", names::EDITOR),
    ("group", names::MEMBER),
];

/// Checks that `schema` keeps what the product needs: every permission the
/// routes ask for, and every relationship shape the product writes. Returns
/// what is missing.
pub fn product_requirements(schema: &Schema) -> std::result::Result<(), Vec<String>> {
    let mut missing: Vec<String> = ASKED
        .iter()
        .filter(|(object_type, name)| !schema.defines(object_type, name))
        .map(|(object_type, name)| format!("{object_type}#{name}"))
        .collect();
    for relationship in crate::relationship::product_relationship_shapes() {
        if let Err(error) = schema.check_relationship(&relationship) {
            missing.push(format!("{relationship}: {error}"));
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(missing) }
}

#[cfg(test)]
mod against_memory;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let token = RevisionToken {
            tenant_id: TenantId::generate(),
            tenant: Revision::new(42),
            platform: Revision::new(7),
        };
        assert_eq!(RevisionToken::parse(&token.to_string(), "consistency").unwrap(), token);
        for bad in [
            "",
            "1.2",
            "x.1.2",
            "ten_01HZX3J4Q8W6E5R7T9Y2U4I6O8.1",
            "ten_01HZX3J4Q8W6E5R7T9Y2U4I6O8.-1.2",
            "ten_01HZX3J4Q8W6E5R7T9Y2U4I6O8.1.2.3",
        ] {
            assert!(RevisionToken::parse(bad, "consistency").is_err(), "{bad:?}");
        }
        // Only the form the OpenAPI document gives: no sign, no padding, at
        // most 19 digits, a canonical tenant id.
        let tenant_id = token.tenant_id.to_string();
        for bad in [
            format!("{tenant_id}.+1.2"),
            format!(" {tenant_id}.1.2"),
            format!("{tenant_id}.1.2 "),
            format!("{tenant_id}.1.18446744073709551615"),
            format!("{}.1.2", tenant_id.to_lowercase()),
        ] {
            assert!(RevisionToken::parse(&bad, "consistency").is_err(), "{bad:?}");
        }
        let longest = format!("{tenant_id}.9999999999999999999.0");
        assert!(RevisionToken::parse(&longest, "consistency").is_ok());
    }

    #[test]
    fn the_default_schema_meets_the_product_requirements() {
        assert_eq!(product_requirements(&Schema::parse(DEFAULT_SCHEMA).unwrap()), Ok(()));
        let stripped = DEFAULT_SCHEMA.replace("permission create_child = edit + root_of->view", "");
        let missing = product_requirements(&Schema::parse(&stripped).unwrap()).unwrap_err();
        assert_eq!(missing, vec!["workspace#create_child".to_owned()]);
    }
}
