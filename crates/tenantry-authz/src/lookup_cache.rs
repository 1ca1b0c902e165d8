//! The result sets of recent lookups, kept inside the [`Index`](crate::Index)
//! they were computed from, so that paging through a large lookup costs one
//! evaluation in total instead of one per page.
//!
//! A lookup has to solve its whole graph before it knows which objects come
//! first in id order, so without this every page would redo the whole
//! lookup. An entry is the complete, sorted result set of one question; a
//! later page of the same question cuts its page out of it by binary search.
//!
//! Why an entry can never answer wrongly:
//!
//! * it lives in the index it was computed from, and every write to the
//!   index (`touch`, `delete`, `apply`, `remove_expired`) empties the cache,
//!   so the object numbers it holds always mean what they meant;
//! * its key names the schema by [`Schema`](crate::Schema) identity and the
//!   question by the schema's item and the index's numbers;
//! * it records the instant it was computed at, and answers at another
//!   instant only if no relationship of the index expires in between (see
//!   `Index::cached_lookup`), the only way the same relationships can give
//!   a different answer.
//!
//! Tenants have one index each (tenantry-core), so one tenant's results are
//! never even in the same table as another's.

use std::sync::Arc;

/// How many result sets an index keeps by default.
pub(crate) const DEFAULT_CAPACITY: usize = 8;

/// The most results an index keeps in all, over its entries (8 bytes
/// each): a larger result set is answered, just not kept.
pub(crate) const MAX_KEPT_RESULTS: usize = 1 << 18;

/// The question a result set answers, in the schema's and the index's
/// numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupQuestion {
    /// `lookup_resources`: the objects whose `item` holds the subject key.
    Resources {
        /// The schema item (it names the resource type too).
        item: u32,
        /// The subject's key in the index.
        subject_key: u64,
    },
    /// `lookup_subjects`: the subjects of one kind that `item` on the
    /// resource holds.
    Subjects {
        /// The resource's object number.
        resource: u32,
        /// The schema item.
        item: u32,
        /// Index type number of the subjects.
        subject_type: u32,
        /// Index relation number of subject sets, or `NO_RELATION`.
        subject_relation: u32,
    },
}

#[derive(Debug)]
struct Entry {
    schema: u64,
    question: LookupQuestion,
    computed_at: i64,
    /// Object numbers or subject keys, in ascending id order.
    results: Arc<[u64]>,
    last_used: u64,
}

/// A few result sets, least recently used evicted first.
#[derive(Debug)]
pub(crate) struct LookupCache {
    entries: Vec<Entry>,
    capacity: usize,
    clock: u64,
}

impl Default for LookupCache {
    fn default() -> Self {
        Self { entries: Vec::new(), capacity: DEFAULT_CAPACITY, clock: 0 }
    }
}

impl LookupCache {
    /// Forgets every entry: the index changed.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keeps at most `capacity` entries from now on; 0 keeps none.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.evict_to(capacity, 0);
    }

    /// The results of `question` under `schema`, with the instant they were
    /// computed at; `usable` decides whether that instant is close enough.
    pub(crate) fn get(
        &mut self,
        schema: u64,
        question: LookupQuestion,
        usable: impl Fn(i64) -> bool,
    ) -> Option<Arc<[u64]>> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.iter_mut().find(|entry| {
            entry.schema == schema && entry.question == question && usable(entry.computed_at)
        })?;
        entry.last_used = clock;
        Some(entry.results.clone())
    }

    /// Keeps `results` for `question`, evicting the least recently used
    /// entries to stay within the bounds; too large a set is not kept.
    pub(crate) fn put(
        &mut self,
        schema: u64,
        question: LookupQuestion,
        computed_at: i64,
        results: Arc<[u64]>,
    ) {
        if self.capacity == 0 || results.len() > MAX_KEPT_RESULTS {
            return;
        }
        self.entries.retain(|entry| !(entry.schema == schema && entry.question == question));
        self.evict_to(self.capacity - 1, results.len());
        self.clock += 1;
        self.entries.push(Entry { schema, question, computed_at, results, last_used: self.clock });
    }

    /// Evicts until at most `entries` remain and `incoming` more results fit.
    fn evict_to(&mut self, entries: usize, incoming: usize) {
        let kept = |cache: &Self| cache.entries.iter().map(|entry| entry.results.len()).sum::<usize>();
        while self.entries.len() > entries
            || (!self.entries.is_empty() && kept(self) + incoming > MAX_KEPT_RESULTS)
        {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(position, _)| position)
                .unwrap_or(0);
            self.entries.swap_remove(oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(subject_key: u64) -> LookupQuestion {
        LookupQuestion::Resources { item: 0, subject_key }
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut cache = LookupCache::default();
        cache.set_capacity(2);
        cache.put(0, question(1), 0, Arc::from([1u64].as_slice()));
        cache.put(0, question(2), 0, Arc::from([2u64].as_slice()));
        assert!(cache.get(0, question(1), |_| true).is_some());
        cache.put(0, question(3), 0, Arc::from([3u64].as_slice()));
        assert!(cache.get(0, question(2), |_| true).is_none(), "evicted");
        assert!(cache.get(0, question(1), |_| true).is_some());
        assert!(cache.get(1, question(1), |_| true).is_none(), "another schema");
        assert!(cache.get(0, question(1), |_| false).is_none(), "another instant");
        cache.set_capacity(0);
        assert!(cache.get(0, question(3), |_| true).is_none());
        cache.put(0, question(3), 0, Arc::from([3u64].as_slice()));
        assert!(cache.get(0, question(3), |_| true).is_none(), "capacity 0 keeps nothing");
    }
}
