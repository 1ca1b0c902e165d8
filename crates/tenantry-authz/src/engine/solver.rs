//! The graph solver behind check and the lookups.
//!
//! A solver holds the `(object, item)` nodes one question needs, each with
//! its dependencies (the nodes its value is computed from) and dependents
//! (the reverse edges, as linked lists in one arena). Values are booleans
//! ("does this node hold the subject?") or bit sets over candidate subjects.
//! Nodes are memoised by key, so cycles in the data only close loops in the
//! graph; all traversal uses explicit queues and worklists.

use std::collections::VecDeque;

use super::{Engine, NONE, ResolvedLeaf};
use crate::hash::IntMap;
use crate::index::{NO_RELATION, SubjectEntry, pack, plain_subjects_start, unpack, unpack_subject};
use crate::schema::{Expression, ItemKind, Operator};

/// The kind of subject [`Solver::lookup_subjects`] collects.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target {
    /// Index type number of the subjects.
    pub(super) subject_type: u32,
    /// Index relation number of subject sets, or [`NO_RELATION`].
    pub(super) subject_relation: u32,
}

/// What a node's value is: a set with union, intersection and difference.
pub(super) trait Value: Clone + PartialEq + Default {
    fn union_with(&mut self, other: &Self);
    fn intersect_with(&mut self, other: &Self);
    fn subtract(&mut self, other: &Self);
    fn is_empty(&self) -> bool;
}

impl Value for bool {
    fn union_with(&mut self, other: &Self) {
        *self |= *other;
    }

    fn intersect_with(&mut self, other: &Self) {
        *self &= *other;
    }

    fn subtract(&mut self, other: &Self) {
        *self &= !*other;
    }

    fn is_empty(&self) -> bool {
        !*self
    }
}

/// A set of candidate numbers. Missing words are zero, so sets built while
/// candidates were still being discovered compare and combine correctly.
#[derive(Debug, Clone, Default)]
pub(super) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    fn insert(&mut self, bit: u32) {
        let word = bit as usize / 64;
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (bit % 64);
    }

    fn bits(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(word_number, &word)| {
            (0..64u32).filter(move |bit| word & (1 << bit) != 0).map(move |bit| word_number as u32 * 64 + bit)
        })
    }
}

impl PartialEq for BitSet {
    fn eq(&self, other: &Self) -> bool {
        let longest = self.words.len().max(other.words.len());
        (0..longest).all(|word| self.words.get(word).unwrap_or(&0) == other.words.get(word).unwrap_or(&0))
    }
}

impl Value for BitSet {
    fn union_with(&mut self, other: &Self) {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word |= other;
        }
    }

    fn intersect_with(&mut self, other: &Self) {
        self.words.truncate(other.words.len());
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word &= other;
        }
    }

    fn subtract(&mut self, other: &Self) {
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word &= !other;
        }
    }

    fn is_empty(&self) -> bool {
        self.words.iter().all(|&word| word == 0)
    }
}

/// How a relation node's own relationships contribute to its value.
pub(super) trait Mode {
    type Value: Value;

    /// The value the relation's entries give directly (subject sets are
    /// followed by the graph, not here).
    fn base(&mut self, engine: &Engine<'_>, item: u32, entries: &[SubjectEntry]) -> Self::Value;
}

/// Boolean values: does the node hold this one subject?
pub(super) struct SubjectMode {
    subject_key: u64,
}

impl Mode for SubjectMode {
    type Value = bool;

    fn base(&mut self, engine: &Engine<'_>, item: u32, entries: &[SubjectEntry]) -> bool {
        engine.holds_directly(item, entries, self.subject_key)
    }
}

/// Bit-set values over candidate subjects of one kind, numbered as found.
pub(super) struct CandidateMode {
    target: Target,
    numbers: IntMap<u64, u32>,
    candidates: Vec<u64>,
}

impl Mode for CandidateMode {
    type Value = BitSet;

    fn base(&mut self, engine: &Engine<'_>, item: u32, entries: &[SubjectEntry]) -> BitSet {
        let plain_start = plain_subjects_start(entries);
        let region = if self.target.subject_relation == NO_RELATION {
            &entries[plain_start..]
        } else {
            // Subject sets are sorted by relation first: find this relation's run.
            let subject_sets = &entries[..plain_start];
            let start = subject_sets
                .partition_point(|entry| unpack_subject(entry.subject).1 < self.target.subject_relation);
            let length = subject_sets[start..]
                .partition_point(|entry| unpack_subject(entry.subject).1 == self.target.subject_relation);
            &subject_sets[start..start + length]
        };
        let mut set = BitSet::default();
        for entry in region {
            let (object, _) = unpack_subject(entry.subject);
            if !entry.is_live(engine.now)
                || engine.index.object_type(object) != self.target.subject_type
                || engine.allowed_item(item, entry.subject).is_none()
            {
                continue;
            }
            let next = self.candidates.len() as u32;
            let number = *self.numbers.entry(entry.subject).or_insert(next);
            if number == next {
                self.candidates.push(entry.subject);
            }
            set.insert(number);
        }
        set
    }
}

/// One question's graph and its values.
pub(super) struct Solver<'e, 'a, M: Mode> {
    pub(super) engine: &'e Engine<'a>,
    mode: M,
    /// Node → `object << 32 | item`.
    pub(super) keys: Vec<u64>,
    slots: IntMap<u64, u32>,
    pub(super) values: Vec<M::Value>,
    pub(super) bases: Vec<M::Value>,
    /// When each node's value last grew, on one clock: a node proven true
    /// was proven from nodes with smaller stamps, which is what lets an
    /// explanation walk down without going round a cycle.
    pub(super) proved_at: Vec<u32>,
    clock: u32,
    /// Relation nodes: their subject-set children in `dependencies`.
    /// Permission nodes: all their leaves' nodes.
    dependency_ranges: Vec<(u32, u32)>,
    /// Permission nodes: where their `leaves + 1` offsets start in
    /// `leaf_offsets`; each offset indexes `dependencies`.
    leaf_starts: Vec<u32>,
    leaf_offsets: Vec<u32>,
    pub(super) dependencies: Vec<u32>,
    dependents_head: Vec<u32>,
    dependent_links: Vec<(u32, u32)>,
    expanded: Vec<bool>,
    queue: VecDeque<u32>,
    /// Whether an expanded node's expression has an exclusion, which the
    /// optimistic exploration cannot decide.
    has_exclusion: bool,
}

/// A `check` that came out true, with the graph that proves it.
pub(super) struct Proof<'e, 'a> {
    pub(super) solver: Solver<'e, 'a, SubjectMode>,
    pub(super) root: u32,
}

impl<'e, 'a> Solver<'e, 'a, SubjectMode> {
    /// Whether the subject holds `item` on `resource`; the proof if so.
    pub(super) fn check(
        engine: &'e Engine<'a>,
        resource: u32,
        item: u32,
        subject_key: u64,
    ) -> Option<Proof<'e, 'a>> {
        let mut solver = Solver::new(engine, SubjectMode { subject_key });
        let root = solver.node(pack(resource, item), true)?;
        // Breadth-first, so that short proofs (a direct role, a role on the
        // parent) are found before the far ends of the hierarchy are visited.
        while let Some(node) = solver.queue.pop_front() {
            solver.expand(node, true);
            if solver.evaluate(node, false) && !solver.values[node as usize] {
                solver.set_value(node, true);
                solver.propagate(node);
            }
            if solver.values[root as usize] {
                return Some(Proof { solver, root });
            }
        }
        if solver.has_exclusion {
            solver.solve_exactly();
        }
        solver.values[root as usize].then_some(Proof { solver, root })
    }

    /// The subject the question is about.
    pub(super) fn subject_key(&self) -> u64 {
        self.mode.subject_key
    }

    /// Every object whose `item` holds the subject.
    pub(super) fn lookup_resources(engine: &'e Engine<'a>, item: u32, subject_key: u64) -> Vec<u32> {
        let mut solver = Solver::new(engine, SubjectMode { subject_key });
        // Every node that can hold the subject is reachable from a
        // relationship naming it along reverse edges outside exclusions'
        // right sides: collect exactly those.
        for &resource_key in engine.index.resources_of(subject_key) {
            let (object, relation) = unpack(resource_key);
            if let Some(relation_item) = engine.relation_item(object, relation)
                && engine.allowed_item(relation_item, subject_key).is_some()
            {
                solver.node(pack(object, relation_item), true);
            }
        }
        while let Some(node) = solver.queue.pop_front() {
            solver.reach_dependents(node);
        }
        // Then wire up their forward edges among themselves (a node outside
        // the set cannot hold the subject, so it counts as empty) and solve.
        for node in 0..solver.keys.len() as u32 {
            solver.expand(node, false);
        }
        solver.solve_exactly();
        (0..solver.keys.len())
            .filter(|&node| solver.values[node])
            .map(|node| unpack(solver.keys[node]))
            .filter(|&(_, node_item)| node_item == item)
            .map(|(object, _)| object)
            .collect()
    }

    /// Adds the nodes that `node` holding the subject could make hold it.
    fn reach_dependents(&mut self, node: u32) {
        let engine = self.engine;
        let schema = engine.schema;
        let index = engine.index;
        let (object, item) = unpack(self.keys[node as usize]);
        for &permission in &schema.computed_dependents[item as usize] {
            self.node(pack(object, permission), true);
        }
        if !schema.arrow_dependents[item as usize].is_empty() {
            let as_subject = crate::index::pack_subject(object, NO_RELATION);
            for &(permission, tupleset) in &schema.arrow_dependents[item as usize] {
                let tupleset_relation = engine.binding.relation_of_item[tupleset as usize];
                let definition = schema.items[permission as usize].definition;
                for &resource_key in index.resources_of(as_subject) {
                    let (resource, relation) = unpack(resource_key);
                    if relation == tupleset_relation && engine.definition_of_object(resource) == definition {
                        self.node(pack(resource, permission), true);
                    }
                }
            }
        }
        let relation = engine.binding.relation_of_item[item as usize];
        if relation != NONE {
            let as_subject_set = crate::index::pack_subject(object, relation);
            for &resource_key in index.resources_of(as_subject_set) {
                let (resource, resource_relation) = unpack(resource_key);
                if let Some(relation_item) = engine.relation_item(resource, resource_relation)
                    && engine.allowed_item(relation_item, as_subject_set) == Some(item)
                {
                    self.node(pack(resource, relation_item), true);
                }
            }
        }
    }

    /// Proves dependents true as far as the optimistic rules allow.
    fn propagate(&mut self, proven: u32) {
        let mut stack = vec![proven];
        while let Some(node) = stack.pop() {
            let mut link = self.dependents_head[node as usize];
            while link != NONE {
                let (dependent, next) = self.dependent_links[link as usize];
                link = next;
                if !self.values[dependent as usize] && self.evaluate(dependent, false) {
                    self.set_value(dependent, true);
                    stack.push(dependent);
                }
            }
        }
    }
}

impl<'e, 'a> Solver<'e, 'a, CandidateMode> {
    /// Every subject of the target kind that `item` on `resource` holds, as
    /// subject keys.
    pub(super) fn lookup_subjects(
        engine: &'e Engine<'a>,
        resource: u32,
        item: u32,
        target: Target,
    ) -> Vec<u64> {
        let mode = CandidateMode { target, numbers: IntMap::default(), candidates: Vec::new() };
        let mut solver = Solver::new(engine, mode);
        let Some(root) = solver.node(pack(resource, item), true) else {
            return Vec::new();
        };
        while let Some(node) = solver.queue.pop_front() {
            solver.expand(node, true);
        }
        solver.solve_exactly();
        solver.values[root as usize]
            .bits()
            .filter_map(|bit| solver.mode.candidates.get(bit as usize).copied())
            .collect()
    }
}

impl<'e, 'a, M: Mode> Solver<'e, 'a, M> {
    fn new(engine: &'e Engine<'a>, mode: M) -> Self {
        // Room for a typical check's graph (a role on the resource or a few
        // ancestors up) from the start: growing a dozen vectors from empty
        // cost more than the walk itself. Larger graphs grow as before.
        const NODES: usize = 32;
        const EDGES: usize = 64;
        Self {
            engine,
            mode,
            keys: Vec::with_capacity(NODES),
            slots: IntMap::with_capacity_and_hasher(NODES, Default::default()),
            values: Vec::with_capacity(NODES),
            bases: Vec::with_capacity(NODES),
            proved_at: Vec::with_capacity(NODES),
            clock: 0,
            dependency_ranges: Vec::with_capacity(NODES),
            leaf_starts: Vec::with_capacity(NODES),
            leaf_offsets: Vec::with_capacity(EDGES),
            dependencies: Vec::with_capacity(EDGES),
            dependents_head: Vec::with_capacity(NODES),
            dependent_links: Vec::with_capacity(EDGES),
            expanded: Vec::with_capacity(NODES),
            queue: VecDeque::with_capacity(NODES),
            has_exclusion: false,
        }
    }

    /// The node for `key`; with `create`, made (and queued) if new.
    fn node(&mut self, key: u64, create: bool) -> Option<u32> {
        if let Some(&node) = self.slots.get(&key) {
            return Some(node);
        }
        // Creating a node is a step of the engine's budget; once it is spent
        // the graph stops growing, and the engine refuses the answer.
        if !create || !self.engine.charge(1) {
            return None;
        }
        let node = self.keys.len() as u32;
        self.slots.insert(key, node);
        self.keys.push(key);
        self.values.push(M::Value::default());
        self.bases.push(M::Value::default());
        self.proved_at.push(u32::MAX);
        self.dependency_ranges.push((0, 0));
        self.leaf_starts.push(NONE);
        self.dependents_head.push(NONE);
        self.expanded.push(false);
        self.queue.push_back(node);
        Some(node)
    }

    pub(super) fn item_of(&self, node: u32) -> u32 {
        unpack(self.keys[node as usize]).1
    }

    fn link(&mut self, dependency: u32, dependent: u32) {
        let link = self.dependent_links.len() as u32;
        self.dependent_links.push((dependent, self.dependents_head[dependency as usize]));
        self.dependents_head[dependency as usize] = link;
    }

    fn add_dependency(&mut self, key: u64, dependent: u32, create: bool) {
        if !self.engine.charge(1) {
            return;
        }
        if let Some(dependency) = self.node(key, create) {
            self.dependencies.push(dependency);
            self.link(dependency, dependent);
        }
    }

    /// Reads the node's relationships and records its dependencies. With
    /// `create`, unseen dependencies become new nodes; without, they are
    /// left out (they are known to be empty).
    fn expand(&mut self, node: u32, create: bool) {
        if std::mem::replace(&mut self.expanded[node as usize], true) {
            return;
        }
        let engine = self.engine;
        let index = engine.index;
        let (object, item) = unpack(self.keys[node as usize]);
        let start = self.dependencies.len() as u32;
        match &engine.schema.items[item as usize].kind {
            ItemKind::Relation { .. } => {
                let relation = engine.binding.relation_of_item[item as usize];
                let entries = if relation == NONE { &[][..] } else { index.subjects(object, relation) };
                self.bases[node as usize] = self.mode.base(engine, item, entries);
                for entry in &entries[..plain_subjects_start(entries)] {
                    if !entry.is_live(engine.now) {
                        continue;
                    }
                    if let Some(child_item) = engine.allowed_item(item, entry.subject)
                        && child_item != NONE
                    {
                        let (child_object, _) = unpack_subject(entry.subject);
                        self.add_dependency(pack(child_object, child_item), node, create);
                    }
                }
            }
            ItemKind::Permission { expression, .. } => {
                self.has_exclusion |= contains_exclusion(expression);
                self.leaf_starts[node as usize] = self.leaf_offsets.len() as u32;
                for leaf in &engine.binding.leaves[item as usize] {
                    self.leaf_offsets.push(self.dependencies.len() as u32);
                    match leaf {
                        ResolvedLeaf::Computed { item: computed } => {
                            self.add_dependency(pack(object, *computed), node, create);
                        }
                        ResolvedLeaf::Arrow { tupleset, targets } => {
                            if *tupleset == NONE {
                                continue;
                            }
                            let entries = index.subjects(object, *tupleset);
                            for entry in &entries[plain_subjects_start(entries)..] {
                                if !entry.is_live(engine.now) {
                                    continue;
                                }
                                let (target_object, _) = unpack_subject(entry.subject);
                                let target_type = index.object_type(target_object);
                                if let Some(&(_, target_item)) =
                                    targets.iter().find(|(subject_type, _)| *subject_type == target_type)
                                {
                                    self.add_dependency(pack(target_object, target_item), node, create);
                                }
                            }
                        }
                    }
                }
                self.leaf_offsets.push(self.dependencies.len() as u32);
            }
        }
        self.dependency_ranges[node as usize] = (start, self.dependencies.len() as u32);
    }

    /// The node's dependencies for one leaf of its permission.
    pub(super) fn leaf_dependencies(&self, node: u32, leaf: u32) -> &[u32] {
        let start = self.leaf_starts[node as usize];
        if start == NONE {
            return &[];
        }
        let position = (start + leaf) as usize;
        match (self.leaf_offsets.get(position), self.leaf_offsets.get(position + 1)) {
            (Some(&from), Some(&to)) => &self.dependencies[from as usize..to as usize],
            _ => &[],
        }
    }

    /// A relation node's subject-set children.
    pub(super) fn children(&self, node: u32) -> &[u32] {
        let (start, end) = self.dependency_ranges[node as usize];
        &self.dependencies[start as usize..end as usize]
    }

    /// The node's value from its dependencies' current values. With `exact`
    /// false, exclusions count as empty: their right side may not be final
    /// yet, and an empty answer is the only safe under-estimate.
    fn evaluate(&self, node: u32, exact: bool) -> M::Value {
        let item = self.item_of(node);
        match &self.engine.schema.items[item as usize].kind {
            ItemKind::Relation { .. } => {
                let mut value = self.bases[node as usize].clone();
                for &child in self.children(node) {
                    value.union_with(&self.values[child as usize]);
                }
                value
            }
            ItemKind::Permission { expression, .. } => self.evaluate_expression(node, expression, exact),
        }
    }

    fn evaluate_expression(&self, node: u32, expression: &Expression, exact: bool) -> M::Value {
        match expression {
            Expression::Nil => M::Value::default(),
            Expression::Leaf(leaf) => {
                let mut value = M::Value::default();
                for &dependency in self.leaf_dependencies(node, *leaf) {
                    value.union_with(&self.values[dependency as usize]);
                }
                value
            }
            Expression::Operation { operator, operands } => {
                let Some((first, rest)) = operands.split_first() else {
                    return M::Value::default();
                };
                if *operator == Operator::Exclusion && !exact {
                    return M::Value::default();
                }
                let mut value = self.evaluate_expression(node, first, exact);
                for operand in rest {
                    match operator {
                        Operator::Union => value.union_with(&self.evaluate_expression(node, operand, exact)),
                        Operator::Intersection | Operator::Exclusion if value.is_empty() => break,
                        Operator::Intersection => {
                            value.intersect_with(&self.evaluate_expression(node, operand, exact));
                        }
                        Operator::Exclusion => {
                            value.subtract(&self.evaluate_expression(node, operand, exact))
                        }
                    }
                }
                value
            }
        }
    }

    /// Solves the whole graph exactly: stratum by stratum in dependency
    /// order, each to its least fixed point with a worklist. Lower strata are
    /// final when a higher one reads them, which is what makes exclusion
    /// sound; within a stratum everything is monotone, so values only grow
    /// and the loop ends.
    fn solve_exactly(&mut self) {
        let strata = &self.engine.schema.strata;
        let stratum_of = |solver: &Self, node: u32| strata[solver.item_of(node) as usize];
        let mut order: Vec<u32> = (0..self.keys.len() as u32).collect();
        order.sort_unstable_by_key(|&node| stratum_of(self, node));
        let mut worklist: Vec<u32> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let stratum = stratum_of(self, order[start]);
            let length = order[start..].partition_point(|&node| stratum_of(self, node) == stratum);
            worklist.extend(order[start..start + length].iter().rev());
            while let Some(node) = worklist.pop() {
                let mut value = self.evaluate(node, true);
                value.union_with(&self.values[node as usize]);
                if value == self.values[node as usize] {
                    continue;
                }
                self.set_value(node, value);
                let mut link = self.dependents_head[node as usize];
                while link != NONE {
                    let (dependent, next) = self.dependent_links[link as usize];
                    link = next;
                    if stratum_of(self, dependent) == stratum {
                        worklist.push(dependent);
                    }
                }
            }
            start += length;
        }
    }

    fn set_value(&mut self, node: u32, value: M::Value) {
        self.values[node as usize] = value;
        self.proved_at[node as usize] = self.clock;
        self.clock = self.clock.saturating_add(1);
    }
}

fn contains_exclusion(expression: &Expression) -> bool {
    match expression {
        Expression::Nil | Expression::Leaf(_) => false,
        Expression::Operation { operator: Operator::Exclusion, .. } => true,
        Expression::Operation { operands, .. } => operands.iter().any(contains_exclusion),
    }
}
