//! The in-memory relationship index.
//!
//! Names and ids are interned to `u32` numbers once; a relationship is then
//! two 64-bit keys, `resource << 32 | relation` and `subject_relation << 32 |
//! subject`. Subject keys put the relation first so that, sorted, a
//! relation's subject sets come before its plain objects ([`NO_RELATION`] is
//! the largest number): evaluation walks the few subject sets without
//! stepping over thousands of direct members. The forward map (resource key → sorted subjects with
//! expiry, 16 bytes each) answers "who holds this relation" and "does this
//! subject hold it" by binary search; the reverse map (subject key → sorted
//! resource keys, 8 bytes each) answers "where does this subject appear" for
//! lookups. Neither question scans.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use crate::engine::Binding;
use crate::hash::IntMap;
use crate::lookup_cache::{LookupCache, LookupQuestion};
use crate::model::{ObjectRef, Relationship, SubjectRef};
use crate::schema::Schema;

/// Stands for "no relation" in the low half of a subject key.
pub(crate) const NO_RELATION: u32 = u32::MAX;

/// Stands for "never" in an entry's expiry.
pub(crate) const NEVER: i64 = i64::MAX;

/// Why the index refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// One of the index's 32-bit number spaces (objects, names, references
    /// to one object) is full. It takes billions of relationships to get
    /// here, far beyond what fits in memory, but the index says so rather
    /// than wrap around.
    #[error("the relationship index is full: more than {limit} {what}")]
    CapacityExceeded {
        /// Which number space is full.
        what: &'static str,
        /// Its size.
        limit: u64,
    },
}

/// One change to the index, for [`Index::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert the relationship, or replace the expiry of the existing one.
    Touch(Relationship),
    /// Remove the relationship (its expiry is ignored); nothing if absent.
    Delete(Relationship),
}

/// A subject of a relation with its expiry, in the forward map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubjectEntry {
    /// `relation << 32 | object` (see [`pack_subject`]).
    pub(crate) subject: u64,
    /// Microseconds since the Unix epoch; [`NEVER`] if it does not expire.
    pub(crate) expires_at: i64,
}

impl SubjectEntry {
    /// Whether the relationship still grants anything at `now`: it does
    /// strictly before its expiry and not from that instant on.
    pub(crate) fn is_live(self, now: i64) -> bool {
        self.expires_at == NEVER || self.expires_at > now
    }
}

/// A resource key: `object << 32 | relation`. The evaluator packs its
/// `(object, item)` node keys the same way.
pub(crate) fn pack(object: u32, relation: u32) -> u64 {
    (u64::from(object) << 32) | u64::from(relation)
}

/// The `(object, relation)` of a resource key.
pub(crate) fn unpack(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// A subject key: `relation << 32 | object`, relation first so that subject
/// sets sort before plain objects.
pub(crate) fn pack_subject(object: u32, relation: u32) -> u64 {
    (u64::from(relation) << 32) | u64::from(object)
}

/// The `(object, relation)` of a subject key.
pub(crate) fn unpack_subject(key: u64) -> (u32, u32) {
    (key as u32, (key >> 32) as u32)
}

/// Where a relation's plain-object subjects start in its sorted entries.
pub(crate) fn plain_subjects_start(entries: &[SubjectEntry]) -> usize {
    entries.partition_point(|entry| unpack_subject(entry.subject).1 != NO_RELATION)
}

/// Names (types and relations) interned to dense numbers. Names are few, so
/// they are never freed.
#[derive(Debug, Default)]
struct Names {
    numbers: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Names {
    fn intern(&mut self, name: &str, what: &'static str) -> Result<u32, IndexError> {
        if let Some(&number) = self.numbers.get(name) {
            return Ok(number);
        }
        // `u32::MAX` is reserved for `NO_RELATION`.
        let number = u32::try_from(self.names.len())
            .ok()
            .filter(|&number| number < u32::MAX)
            .ok_or(IndexError::CapacityExceeded { what, limit: u64::from(u32::MAX) })?;
        self.numbers.insert(name.into(), number);
        self.names.push(name.into());
        Ok(number)
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }

    fn name(&self, number: u32) -> &str {
        self.names.get(number as usize).map_or("", |name| name)
    }
}

#[derive(Debug)]
struct ObjectSlot {
    object_type: u32,
    /// `None` while the slot is free.
    id: Option<Arc<str>>,
    /// How many relationships name this object, as resource or subject. At
    /// zero the number is freed for reuse, so churn does not grow the table.
    references: u32,
}

/// Objects interned to dense numbers, freed when no relationship names them.
#[derive(Debug, Default)]
struct Objects {
    slots: Vec<ObjectSlot>,
    /// Per type number: id → object number. The id is shared with the slot.
    by_type: Vec<HashMap<Arc<str>, u32>>,
    free: Vec<u32>,
}

impl Objects {
    fn get(&self, object_type: u32, id: &str) -> Option<u32> {
        self.by_type.get(object_type as usize)?.get(id).copied()
    }

    /// The object's number, creating it with no references if new.
    fn intern(&mut self, object_type: u32, id: &str) -> Result<u32, IndexError> {
        if let Some(number) = self.get(object_type, id) {
            return Ok(number);
        }
        let id: Arc<str> = Arc::from(id);
        let number = match self.free.pop() {
            Some(number) => {
                self.slots[number as usize] = ObjectSlot { object_type, id: Some(id.clone()), references: 0 };
                number
            }
            None => {
                let number = u32::try_from(self.slots.len()).map_err(|_| IndexError::CapacityExceeded {
                    what: "objects",
                    limit: u64::from(u32::MAX),
                })?;
                self.slots.push(ObjectSlot { object_type, id: Some(id.clone()), references: 0 });
                number
            }
        };
        if self.by_type.len() <= object_type as usize {
            self.by_type.resize_with(object_type as usize + 1, HashMap::new);
        }
        self.by_type[object_type as usize].insert(id, number);
        Ok(number)
    }

    fn add_reference(&mut self, number: u32) -> Result<(), IndexError> {
        let slot = &mut self.slots[number as usize];
        slot.references = slot.references.checked_add(1).ok_or(IndexError::CapacityExceeded {
            what: "relationships naming one object",
            limit: u64::from(u32::MAX),
        })?;
        Ok(())
    }

    fn remove_reference(&mut self, number: u32) {
        let slot = &mut self.slots[number as usize];
        slot.references = slot.references.saturating_sub(1);
        if slot.references == 0 {
            self.release(number);
        }
    }

    /// Frees an object that no relationship names.
    fn release(&mut self, number: u32) {
        let slot = &mut self.slots[number as usize];
        if slot.references != 0 {
            return;
        }
        if let Some(id) = slot.id.take() {
            if let Some(map) = self.by_type.get_mut(slot.object_type as usize) {
                map.remove(&id);
            }
            self.free.push(number);
        }
    }

    fn object_type(&self, number: u32) -> u32 {
        self.slots.get(number as usize).map_or(u32::MAX, |slot| slot.object_type)
    }

    fn id(&self, number: u32) -> &str {
        self.slots.get(number as usize).and_then(|slot| slot.id.as_deref()).unwrap_or("")
    }
}

/// The in-memory relationship index: every relationship the engine
/// evaluates, with forward and reverse adjacency.
///
/// It knows nothing of schemas: it stores whatever relationships it is given,
/// and evaluation ignores those the schema does not allow (see
/// [`Schema::check_relationship`](crate::Schema::check_relationship)).
///
/// Reads take `&self` and the index is `Send + Sync`, so callers share it
/// behind a read-write lock; writes (`touch`, `delete`, `apply`,
/// `remove_expired`) take `&mut self` and cost a few hash probes and a binary
/// search each. The index also keeps the results of recent lookups that
/// filled more than one page (behind its own small lock), and every write
/// forgets them; see [`Index::set_lookup_cache_capacity`].
#[derive(Debug, Default)]
pub struct Index {
    types: Names,
    relations: Names,
    objects: Objects,
    /// `resource << 32 | relation` → subjects sorted by key.
    forward: IntMap<u64, Vec<SubjectEntry>>,
    /// Subject key → resource keys, sorted.
    reverse: IntMap<u64, Vec<u64>>,
    /// `(expires_at, resource key, subject key)` of every expiring
    /// relationship, so that `remove_expired` touches only what expired.
    expiring: BTreeSet<(i64, u64, u64)>,
    len: usize,
    /// The result sets of recent lookups, emptied by every write (see
    /// [`crate::lookup_cache`]). A lock because reads share the index.
    lookup_cache: Mutex<LookupCache>,
    /// The last schema binding an engine made over this index, reused while
    /// it still binds (see [`Binding`]). A lock because reads share the
    /// index; held only to clone or replace the `Arc`.
    binding: Mutex<Option<Arc<Binding>>>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many relationships the index holds, expired ones included until
    /// [`remove_expired`](Self::remove_expired) drops them.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no relationship.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts the relationship, or replaces the expiry of the one already
    /// there. Returns whether it was new.
    ///
    /// An expiry of `i64::MAX` is the same as none.
    pub fn touch(&mut self, relationship: &Relationship) -> Result<bool, IndexError> {
        self.forget_lookups();
        let resource = relationship.resource();
        let subject = relationship.subject();
        let resource_type = self.types.intern(resource.object_type(), "types")?;
        let subject_type = self.types.intern(subject.object_ref().object_type(), "types")?;
        let relation = self.relations.intern(relationship.relation(), "relation names")?;
        let subject_relation = match subject.relation() {
            Some(name) => self.relations.intern(name, "relation names")?,
            None => NO_RELATION,
        };
        let resource_object = self.objects.intern(resource_type, resource.id())?;
        let subject_object = match self.objects.intern(subject_type, subject.object_ref().id()) {
            Ok(number) => number,
            Err(error) => {
                // Do not leave a fresh resource object without references.
                self.objects.release(resource_object);
                return Err(error);
            }
        };
        let resource_key = pack(resource_object, relation);
        let subject_key = pack_subject(subject_object, subject_relation);
        let expires_at = relationship.expires_at().unwrap_or(NEVER);

        let subjects = self.forward.entry(resource_key).or_default();
        match subjects.binary_search_by_key(&subject_key, |entry| entry.subject) {
            Ok(position) => {
                let previous = std::mem::replace(&mut subjects[position].expires_at, expires_at);
                if previous != NEVER {
                    self.expiring.remove(&(previous, resource_key, subject_key));
                }
                if expires_at != NEVER {
                    self.expiring.insert((expires_at, resource_key, subject_key));
                }
                Ok(false)
            }
            Err(position) => {
                if let Err(error) = self.objects.add_reference(resource_object) {
                    self.discard_empty(resource_key, resource_object, subject_object);
                    return Err(error);
                }
                if let Err(error) = self.objects.add_reference(subject_object) {
                    self.objects.remove_reference(resource_object);
                    self.discard_empty(resource_key, resource_object, subject_object);
                    return Err(error);
                }
                let subjects = self.forward.entry(resource_key).or_default();
                subjects.insert(position, SubjectEntry { subject: subject_key, expires_at });
                let resources = self.reverse.entry(subject_key).or_default();
                if let Err(position) = resources.binary_search(&resource_key) {
                    resources.insert(position, resource_key);
                }
                if expires_at != NEVER {
                    self.expiring.insert((expires_at, resource_key, subject_key));
                }
                self.len += 1;
                Ok(true)
            }
        }
    }

    /// Undoes the bookkeeping of a `touch` that failed before inserting.
    fn discard_empty(&mut self, resource_key: u64, resource_object: u32, subject_object: u32) {
        if self.forward.get(&resource_key).is_some_and(Vec::is_empty) {
            self.forward.remove(&resource_key);
        }
        self.objects.release(resource_object);
        self.objects.release(subject_object);
    }

    /// Removes the relationship, whatever its expiry. Returns whether it was
    /// there.
    pub fn delete(&mut self, relationship: &Relationship) -> bool {
        let Some((resource_key, subject_key)) = self.keys_of(relationship) else {
            return false;
        };
        self.delete_keys(resource_key, subject_key)
    }

    fn keys_of(&self, relationship: &Relationship) -> Option<(u64, u64)> {
        let resource = relationship.resource();
        let subject = relationship.subject();
        let resource_object = self.objects.get(self.types.get(resource.object_type())?, resource.id())?;
        let subject_object = self
            .objects
            .get(self.types.get(subject.object_ref().object_type())?, subject.object_ref().id())?;
        let relation = self.relations.get(relationship.relation())?;
        let subject_relation = match subject.relation() {
            Some(name) => self.relations.get(name)?,
            None => NO_RELATION,
        };
        Some((pack(resource_object, relation), pack_subject(subject_object, subject_relation)))
    }

    fn delete_keys(&mut self, resource_key: u64, subject_key: u64) -> bool {
        self.forget_lookups();
        let Some(subjects) = self.forward.get_mut(&resource_key) else {
            return false;
        };
        let Ok(position) = subjects.binary_search_by_key(&subject_key, |entry| entry.subject) else {
            return false;
        };
        let entry = subjects.remove(position);
        if subjects.is_empty() {
            self.forward.remove(&resource_key);
        }
        if let Some(resources) = self.reverse.get_mut(&subject_key) {
            if let Ok(position) = resources.binary_search(&resource_key) {
                resources.remove(position);
            }
            if resources.is_empty() {
                self.reverse.remove(&subject_key);
            }
        }
        if entry.expires_at != NEVER {
            self.expiring.remove(&(entry.expires_at, resource_key, subject_key));
        }
        self.objects.remove_reference(unpack(resource_key).0);
        self.objects.remove_reference(unpack_subject(subject_key).0);
        self.len -= 1;
        true
    }

    /// Applies changes in order. On error, the changes before the failing
    /// one stay applied (the only error is a full index, see [`IndexError`]).
    pub fn apply<'c>(&mut self, changes: impl IntoIterator<Item = &'c Change>) -> Result<(), IndexError> {
        for change in changes {
            match change {
                Change::Touch(relationship) => {
                    self.touch(relationship)?;
                }
                Change::Delete(relationship) => {
                    self.delete(relationship);
                }
            }
        }
        Ok(())
    }

    /// Removes every relationship that has expired at `now` (expiry at or
    /// before it) and returns how many. Expired relationships grant nothing
    /// even before this runs; it only frees their memory.
    pub fn remove_expired(&mut self, now: i64) -> usize {
        let mut removed = 0;
        while let Some(&(expires_at, resource_key, subject_key)) = self.expiring.first() {
            if expires_at > now {
                break;
            }
            if !self.delete_keys(resource_key, subject_key) {
                // Not reachable while the maps agree; drop the stale entry so
                // the loop always advances.
                self.expiring.pop_first();
            }
            removed += 1;
        }
        removed
    }

    /// Keeps the complete results of at most `entries` recent lookups (8
    /// unless set), so that a client paging through a large lookup pays for
    /// one evaluation, not one per page; 0 keeps none. Only results larger
    /// than one page are kept, and at most 262,144 results in all (2 MB).
    /// Every write to the index forgets them.
    pub fn set_lookup_cache_capacity(&mut self, entries: usize) {
        self.lookup_cache.get_mut().unwrap_or_else(PoisonError::into_inner).set_capacity(entries);
    }

    /// Forgets the kept lookup results: the index is about to change.
    fn forget_lookups(&mut self) {
        self.lookup_cache.get_mut().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The kept results of `question` under `schema`, if they were computed
    /// at an instant that gives the same answer as `now`: no relationship
    /// expires between the two. The index has not changed since (writes
    /// forget every result), so the same relationships are live.
    pub(crate) fn cached_lookup(
        &self,
        schema: u64,
        question: LookupQuestion,
        now: i64,
    ) -> Option<Arc<[u64]>> {
        let usable = |computed_at: i64| {
            let (earlier, later) = if computed_at <= now { (computed_at, now) } else { (now, computed_at) };
            // A relationship changes state between the two instants if it
            // expires in `earlier + 1 ..= later`.
            earlier.checked_add(1).is_none_or(|from| {
                self.expiring
                    .range((from, 0, 0)..)
                    .next()
                    .is_none_or(|&(expires_at, _, _)| expires_at > later)
            })
        };
        self.lookup_cache.lock().unwrap_or_else(PoisonError::into_inner).get(schema, question, usable)
    }

    /// Keeps the results of `question` under `schema`, computed at `now`.
    pub(crate) fn keep_lookup(&self, schema: u64, question: LookupQuestion, now: i64, results: Arc<[u64]>) {
        self.lookup_cache.lock().unwrap_or_else(PoisonError::into_inner).put(schema, question, now, results);
    }

    /// How many type and relation names are interned. Names keep their
    /// numbers and are never freed, so while these counts stay the same, so
    /// does every name's number.
    pub(crate) fn name_counts(&self) -> (usize, usize) {
        (self.types.names.len(), self.relations.names.len())
    }

    /// The binding of `schema` to this index's numbers: the one kept if it
    /// still binds, otherwise a new one, which is kept in its place.
    pub(crate) fn binding(&self, schema: &Schema) -> Arc<Binding> {
        if let Some(binding) = self.binding.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
            && binding.binds(schema, self)
        {
            return binding.clone();
        }
        // Built outside the lock: two engines may both build one, and the
        // last to finish is kept; either is right.
        let binding = Arc::new(Binding::new(schema, self));
        *self.binding.lock().unwrap_or_else(PoisonError::into_inner) = Some(binding.clone());
        binding
    }

    /// Every relationship, in no particular order, for export and for
    /// checking them against a new schema. Allocates one value per item.
    pub fn relationships(&self) -> impl Iterator<Item = Relationship> + '_ {
        self.forward.iter().flat_map(move |(&resource_key, subjects)| {
            subjects.iter().map(move |entry| self.relationship_of(resource_key, *entry))
        })
    }

    /// The relationship stored under `resource_key` with `entry`.
    pub(crate) fn relationship_of(&self, resource_key: u64, entry: SubjectEntry) -> Relationship {
        let (resource_object, relation) = unpack(resource_key);
        let expires_at = (entry.expires_at != NEVER).then_some(entry.expires_at);
        Relationship::trusted(
            self.object_ref(resource_object),
            self.relations.name(relation),
            self.subject_ref(entry.subject),
            expires_at,
        )
    }

    /// The object with this number. Every name in the index was validated
    /// on the way in, so no check is repeated.
    pub(crate) fn object_ref(&self, object: u32) -> ObjectRef {
        ObjectRef::trusted(self.types.name(self.objects.object_type(object)), self.objects.id(object))
    }

    /// The subject with this key.
    pub(crate) fn subject_ref(&self, subject_key: u64) -> SubjectRef {
        let (object, relation) = unpack_subject(subject_key);
        let object = self.object_ref(object);
        if relation == NO_RELATION {
            SubjectRef::object(object)
        } else {
            SubjectRef::trusted_set(object, self.relations.name(relation))
        }
    }

    pub(crate) fn type_number(&self, name: &str) -> Option<u32> {
        self.types.get(name)
    }

    pub(crate) fn relation_number(&self, name: &str) -> Option<u32> {
        self.relations.get(name)
    }

    pub(crate) fn object_number(&self, object: &ObjectRef) -> Option<u32> {
        self.objects.get(self.types.get(object.object_type())?, object.id())
    }

    pub(crate) fn object_type(&self, object: u32) -> u32 {
        self.objects.object_type(object)
    }

    pub(crate) fn object_id(&self, object: u32) -> &str {
        self.objects.id(object)
    }

    /// The subjects of `resource#relation`, sorted by subject key, expired
    /// ones included.
    pub(crate) fn subjects(&self, resource: u32, relation: u32) -> &[SubjectEntry] {
        self.forward.get(&pack(resource, relation)).map_or(&[], Vec::as_slice)
    }

    /// The resource keys of every relationship naming the subject key,
    /// expired ones included.
    pub(crate) fn resources_of(&self, subject_key: u64) -> &[u64] {
        self.reverse.get(&subject_key).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relationship(text: &str) -> Relationship {
        text.parse().unwrap()
    }

    #[test]
    fn touch_is_idempotent_and_replaces_expiry() {
        let mut index = Index::new();
        assert!(index.touch(&relationship("doc:a#viewer@user:u")).unwrap());
        assert!(!index.touch(&relationship("doc:a#viewer@user:u").expiring_at(10)).unwrap());
        assert_eq!(index.len(), 1);
        let stored: Vec<_> = index.relationships().collect();
        assert_eq!(stored[0].expires_at(), Some(10));
        assert!(!index.touch(&relationship("doc:a#viewer@user:u")).unwrap());
        assert_eq!(index.remove_expired(100), 0, "the expiry was replaced by none");
    }

    #[test]
    fn deleting_frees_objects_for_reuse() {
        let mut index = Index::new();
        index.touch(&relationship("doc:a#viewer@user:u")).unwrap();
        assert!(index.delete(&relationship("doc:a#viewer@user:u")));
        assert!(!index.delete(&relationship("doc:a#viewer@user:u")));
        assert!(index.is_empty());
        assert!(index.forward.is_empty() && index.reverse.is_empty());
        assert_eq!(index.objects.free.len(), 2);
        index.touch(&relationship("doc:b#viewer@user:v")).unwrap();
        assert_eq!(index.objects.slots.len(), 2, "freed numbers are reused");
        assert_eq!(index.object_number(&"doc:a".parse().unwrap()), None);
    }

    #[test]
    fn remove_expired_drops_only_what_expired() {
        let mut index = Index::new();
        index.touch(&relationship("doc:a#viewer@user:u").expiring_at(5)).unwrap();
        index.touch(&relationship("doc:a#viewer@user:v").expiring_at(6)).unwrap();
        index.touch(&relationship("doc:a#viewer@user:w")).unwrap();
        assert_eq!(index.remove_expired(5), 1);
        assert_eq!(index.len(), 2);
        assert_eq!(index.remove_expired(i64::MAX), 1);
        assert_eq!(index.len(), 1);
    }
}
