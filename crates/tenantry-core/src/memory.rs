//! An in-memory [`RelationshipStore`], for the authorizer's unit tests: the
//! contract's partitions, change logs, revisions and schema versions kept
//! in a map, with counters of what was read, and the operations other
//! aggregates' writes have on partitions (a tenant created or deleted, a
//! credential changed, the log pruned) as plain methods.
//!
//! It keeps the rules the contract states (deletions before touches, a
//! revision per changing write, `Pruned` and `Gone`, schema versions), not
//! the databases' concurrency: one lock around everything.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::Timestamp;
use crate::error::{ConflictCode, Error, Result};
use crate::id::{TenantId, UserId};
use crate::page::{Page, PageRequest};
use crate::relationship::{
    Change, PartitionScope, Relationship, RelationshipChanges, RelationshipFilter, RelationshipSnapshot,
    RelationshipUsage, RelationshipWrite, Revision, StoredSchema,
};
use crate::scope::PlatformScope;
use crate::store::RelationshipStore;

/// One partition: its relationships by text, its log and its revisions.
#[derive(Debug, Default)]
struct Partition {
    revision: Revision,
    credentials_revision: Revision,
    pruned_through: Revision,
    relationships: BTreeMap<String, Relationship>,
    log: Vec<(Revision, Change)>,
}

impl Partition {
    /// Applies a write; returns the revision after it.
    fn write(&mut self, write: RelationshipWrite) -> Revision {
        let mut changes = Vec::new();
        for relationship in write.delete {
            if self.relationships.remove(&relationship.to_string()).is_some() {
                changes.push(Change::Delete(relationship));
            }
        }
        for relationship in write.touch {
            let key = relationship.to_string();
            let changed = self
                .relationships
                .get(&key)
                .is_none_or(|stored| stored.expires_at() != relationship.expires_at());
            if changed {
                self.relationships.insert(key, relationship.clone());
                changes.push(Change::Touch(relationship));
            }
        }
        if !changes.is_empty() {
            self.revision = self.revision.next();
            let revision = self.revision;
            self.log.extend(changes.into_iter().map(|change| (revision, change)));
        }
        self.revision
    }

    fn changes_since(&self, after: Revision) -> RelationshipChanges {
        if after < self.pruned_through {
            return RelationshipChanges::Pruned;
        }
        let changes = self
            .log
            .iter()
            .filter(|(revision, _)| *revision > after)
            .map(|(_, change)| change.clone())
            .collect();
        RelationshipChanges::Since {
            revision: self.revision,
            credentials_revision: self.credentials_revision,
            changes,
        }
    }

    fn snapshot(&self) -> RelationshipSnapshot {
        RelationshipSnapshot {
            revision: self.revision,
            credentials_revision: self.credentials_revision,
            relationships: self.relationships.values().cloned().collect(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    platform: Partition,
    tenants: HashMap<TenantId, Partition>,
    schemas: Vec<StoredSchema>,
    snapshot_reads: usize,
    change_log_reads: usize,
    schema_reads: usize,
}

/// How many times each kind of read reached the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Reads {
    pub snapshots: usize,
    pub change_logs: usize,
    pub schemas: usize,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct MemoryRelationships {
    state: Mutex<State>,
}

impl MemoryRelationships {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("a test panicked while holding the in-memory store")
    }

    /// Creates a tenant's partition with its first relationships, at
    /// revision 1 (0 without any), as creating a tenant does.
    pub(crate) fn create_tenant(&self, tenant_id: &TenantId, relationships: Vec<Relationship>) -> Revision {
        let mut partition = Partition::default();
        let revision = partition.write(RelationshipWrite { touch: relationships, delete: Vec::new() });
        self.state().tenants.insert(tenant_id.clone(), partition);
        revision
    }

    /// Deletes a tenant's partition, as deleting the tenant does.
    pub(crate) fn delete_tenant(&self, tenant_id: &TenantId) {
        self.state().tenants.remove(tenant_id);
    }

    /// Advances a tenant's revision with no relationship change and makes it
    /// the credentials revision, as revoking a key or changing the tenant's
    /// status does.
    pub(crate) fn change_credentials(&self, tenant_id: &TenantId) -> Revision {
        let mut state = self.state();
        let partition = state.tenants.get_mut(tenant_id).expect("the tenant exists");
        partition.revision = partition.revision.next();
        partition.credentials_revision = partition.revision;
        partition.revision
    }

    /// Forgets a tenant's log up to its current revision, as pruning by age
    /// does when every entry is old.
    pub(crate) fn prune_tenant_log(&self, tenant_id: &TenantId) {
        let mut state = self.state();
        let partition = state.tenants.get_mut(tenant_id).expect("the tenant exists");
        partition.log.clear();
        partition.pruned_through = partition.revision;
    }

    /// The reads so far.
    pub(crate) fn reads(&self) -> Reads {
        let state = self.state();
        Reads {
            snapshots: state.snapshot_reads,
            change_logs: state.change_log_reads,
            schemas: state.schema_reads,
        }
    }

    fn with_partition<T>(
        &self,
        scope: &PartitionScope,
        read: impl FnOnce(&mut Partition) -> T,
    ) -> Result<Option<T>> {
        let mut state = self.state();
        Ok(match scope {
            PartitionScope::Platform(_) => Some(read(&mut state.platform)),
            PartitionScope::Tenant(tenant) => state.tenants.get_mut(tenant.tenant_id()).map(read),
        })
    }
}

fn matches(filter: &RelationshipFilter, relationship: &Relationship) -> bool {
    let subject = relationship.subject();
    let wanted = |field: &Option<String>, value: &str| field.as_deref().is_none_or(|wanted| wanted == value);
    wanted(&filter.resource_type, relationship.resource().object_type())
        && wanted(&filter.resource_id, relationship.resource().id())
        && wanted(&filter.relation, relationship.relation())
        && wanted(&filter.subject_type, subject.object_ref().object_type())
        && wanted(&filter.subject_id, subject.object_ref().id())
        && wanted(&filter.subject_relation, subject.relation().unwrap_or_default())
}

#[async_trait]
impl RelationshipStore for MemoryRelationships {
    async fn relationship_snapshot(&self, partition: &PartitionScope) -> Result<RelationshipSnapshot> {
        self.state().snapshot_reads += 1;
        self.with_partition(partition, |partition| partition.snapshot())?.ok_or(Error::not_found("tenant"))
    }

    async fn relationship_changes(
        &self,
        partition: &PartitionScope,
        after: Revision,
    ) -> Result<RelationshipChanges> {
        self.state().change_log_reads += 1;
        Ok(self
            .with_partition(partition, |partition| partition.changes_since(after))?
            .unwrap_or(RelationshipChanges::Gone))
    }

    async fn write_relationships(
        &self,
        partition: &PartitionScope,
        write: RelationshipWrite,
    ) -> Result<Revision> {
        for relationship in write.touch.iter().chain(&write.delete) {
            partition.require_admits(relationship)?;
        }
        self.with_partition(partition, |partition| partition.write(write))?.ok_or(Error::not_found("tenant"))
    }

    async fn list_relationships(
        &self,
        partition: &PartitionScope,
        filter: &RelationshipFilter,
        page: PageRequest<Relationship>,
    ) -> Result<Page<Relationship>> {
        let found = self
            .with_partition(partition, |partition| {
                let mut found: Vec<Relationship> = partition
                    .relationships
                    .values()
                    .filter(|relationship| matches(filter, relationship))
                    .cloned()
                    .collect();
                found.sort_by(|first, second| {
                    (first.resource(), first.relation(), first.subject()).cmp(&(
                        second.resource(),
                        second.relation(),
                        second.subject(),
                    ))
                });
                found
            })?
            .ok_or(Error::not_found("tenant"))?;
        let after = page.after.as_ref().map(|after| (after.resource(), after.relation(), after.subject()));
        let rest: Vec<Relationship> = found
            .into_iter()
            .filter(|relationship| {
                after.is_none_or(|after| {
                    (relationship.resource(), relationship.relation(), relationship.subject()) > after
                })
            })
            .take(page.limit.get() as usize + 1)
            .collect();
        Ok(Page::from_overfetched(rest, page.limit, ToString::to_string))
    }

    async fn delete_expired_relationships(&self, _: &PlatformScope, now: Timestamp) -> Result<u64> {
        let now = crate::relationship::timestamp_micros(now);
        let mut state = self.state();
        let mut deleted = 0;
        let State { platform, tenants, .. } = &mut *state;
        for partition in std::iter::once(platform).chain(tenants.values_mut()) {
            let before = partition.relationships.len();
            partition
                .relationships
                .retain(|_, relationship| relationship.expires_at().is_none_or(|at| at > now));
            deleted += (before - partition.relationships.len()) as u64;
        }
        Ok(deleted)
    }

    async fn prune_relationship_changes(&self, _: &PlatformScope, _: Timestamp) -> Result<u64> {
        // Entries carry no time here; tests prune with `prune_tenant_log`.
        Ok(0)
    }

    async fn relationship_usage(&self, _: &PlatformScope) -> Result<Vec<RelationshipUsage>> {
        let state = self.state();
        let mut usage: BTreeMap<(String, String, String, Option<String>), RelationshipUsage> =
            BTreeMap::new();
        for relationship in std::iter::once(&state.platform)
            .chain(state.tenants.values())
            .flat_map(|partition| partition.relationships.values())
        {
            let subject = relationship.subject();
            let shape = (
                relationship.resource().object_type().to_owned(),
                relationship.relation().to_owned(),
                subject.object_ref().object_type().to_owned(),
                subject.relation().map(str::to_owned),
            );
            usage.entry(shape.clone()).and_modify(|usage| usage.count += 1).or_insert_with(|| {
                RelationshipUsage {
                    resource_type: shape.0,
                    relation: shape.1,
                    subject_type: shape.2,
                    subject_relation: shape.3,
                    count: 1,
                    example: relationship.clone(),
                }
            });
        }
        Ok(usage.into_values().collect())
    }

    async fn tenants_naming_user(&self, _: &PlatformScope, user_id: &UserId) -> Result<Vec<TenantId>> {
        let state = self.state();
        let user = user_id.to_string();
        let mut tenants: Vec<TenantId> = state
            .tenants
            .iter()
            .filter(|(_, partition)| {
                partition.relationships.values().any(|relationship| {
                    let subject = relationship.subject().object_ref();
                    subject.object_type() == "user" && subject.id() == user
                })
            })
            .map(|(tenant_id, _)| tenant_id.clone())
            .collect();
        tenants.sort();
        Ok(tenants)
    }

    async fn authorization_schema(&self) -> Result<Option<StoredSchema>> {
        let mut state = self.state();
        state.schema_reads += 1;
        Ok(state.schemas.last().cloned())
    }

    async fn put_authorization_schema(
        &self,
        _: &PlatformScope,
        text: &str,
        expected_current: Option<i64>,
    ) -> Result<(StoredSchema, Revision)> {
        let mut state = self.state();
        let current = state.schemas.last().map(|stored| stored.version);
        if current != expected_current {
            return Err(Error::conflict(ConflictCode::SchemaChanged));
        }
        let stored = StoredSchema {
            version: current.unwrap_or(0) + 1,
            text: text.to_owned(),
            created_at: crate::now(),
        };
        state.schemas.push(stored.clone());
        state.platform.revision = state.platform.revision.next();
        Ok((stored, state.platform.revision))
    }
}
