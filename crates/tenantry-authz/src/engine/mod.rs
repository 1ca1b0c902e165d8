//! Evaluation: check, explain, bulk check, lookups and expand over a schema
//! and an index at one instant.
//!
//! # Semantics
//!
//! Every `(object, relation or permission)` pair denotes a set of subjects,
//! the least solution of the schema's equations over the live relationships
//! (those not expired at `now` and allowed by the schema):
//!
//! * a relation holds the subjects its relationships name, and for each
//!   subject set `t:i#r` it names, also every subject of `t:i#r`;
//! * a permission holds what its expression computes, where a name is the
//!   same object's relation or permission and `rel->name` is the union of
//!   `name` over the objects `rel` names.
//!
//! Because no recursion passes through an exclusion's right side (the schema
//! refuses it), the least solution exists and is unique, stratum by
//! stratum. Cycles in the data (a group in itself, a workspace its own
//! ancestor) are just equations with a fixed point: they terminate and give
//! the same answer as the naive reference evaluator in the tests.
//!
//! # How
//!
//! Every operation builds a small graph of the `(object, item)` nodes it
//! needs and solves it with a worklist, without recursion across objects
//! (a deep hierarchy cannot overflow the stack) and without repeating work
//! (each node is expanded once; visited nodes are memoised by key):
//!
//! * `check` explores forward from the resource breadth-first, proving nodes
//!   true as soon as a relationship names the subject and propagating up;
//!   it stops when the resource's node is proven. Only if it is not, and
//!   the explored nodes include an exclusion, does it solve the graph
//!   exactly, stratum by stratum.
//!   Before exploring, it refuses a subject that no live relationship
//!   allowed by the schema names: such a subject is in no set at all (the
//!   fast negative path, one reverse-index read).
//! * `lookup_resources` walks the reverse index from the subject to every
//!   node that could hold it, then solves that graph.
//! * `lookup_subjects` explores forward from the resource and solves with
//!   sets of candidate subjects (bit sets) instead of booleans.
//! * A lookup whose results fill more than one page leaves them, sorted, in
//!   the index (`crate::lookup_cache`), so later pages are binary searches.

mod expand;
mod explain;
mod solver;

use std::cell::Cell;
use std::num::NonZeroUsize;
use std::sync::Arc;

pub use expand::{Expansion, ExpansionNode};
pub use explain::{Explanation, Link, Reason, Step, StepId};

use crate::hash::IntMap;
use crate::index::{Index, NO_RELATION, pack, pack_subject};
use crate::lookup_cache::LookupQuestion;
use crate::model::{ObjectRef, SubjectRef};
use crate::schema::{ItemKind, LeafKind, Schema};

use solver::{Solver, Target};

/// Stands for "none" in the engine's `u32` tables.
const NONE: u32 = u32::MAX;

/// Why a question could not be answered: it names something the schema does
/// not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The type is not defined in the schema.
    #[error("the schema defines no type `{object_type}`")]
    UnknownType {
        /// The undefined type.
        object_type: String,
    },
    /// The type defines no relation or permission of that name.
    #[error("`{object_type}` defines no relation or permission `{name}`")]
    UnknownName {
        /// The type.
        object_type: String,
        /// The undefined relation or permission.
        name: String,
    },
    /// Answering would take more steps (graph nodes and edges visited) than
    /// the engine's budget allows; see [`Engine::with_budget`].
    #[error(
        "answering needs more than the {budget} evaluation steps allowed per request; ask a smaller question"
    )]
    TooComplex {
        /// The budget that was exhausted.
        budget: u64,
    },
}

/// One question of a bulk check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    /// The object asked about.
    pub resource: ObjectRef,
    /// The permission or relation asked for.
    pub permission: String,
    /// Who is asking.
    pub subject: SubjectRef,
}

/// Where a page of lookup results starts: after the id it holds. Cursors
/// are plain ids (a keyset position), so any text is a valid cursor and a
/// page stays correct when the index changes between requests: the pages
/// stay in ascending order without duplicates, and every object that has
/// the permission throughout appears exactly once; one that lost it after
/// its page was served is not taken back, and one that gained it appears
/// only if its id sorts after the cursor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor from its text, as previously returned by [`Cursor::as_str`].
    /// Any text is a valid position.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The cursor as text, for a client to send back.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of lookup results, in ascending id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The results of this page.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this page is the last, so a
    /// caller that follows cursors sees every result exactly once.
    pub next: Option<Cursor>,
}

/// The question of [`Engine::lookup_resources`].
#[derive(Debug, Clone, Copy)]
pub struct LookupResources<'q> {
    /// The type of the objects wanted.
    pub resource_type: &'q str,
    /// The permission or relation they must grant.
    pub permission: &'q str,
    /// To whom.
    pub subject: &'q SubjectRef,
    /// Start after this cursor; `None` for the first page.
    pub after: Option<&'q Cursor>,
    /// At most this many results.
    pub limit: NonZeroUsize,
}

/// The question of [`Engine::lookup_subjects`].
#[derive(Debug, Clone, Copy)]
pub struct LookupSubjects<'q> {
    /// The object asked about.
    pub resource: &'q ObjectRef,
    /// The permission or relation the subjects must hold.
    pub permission: &'q str,
    /// The type of subjects wanted.
    pub subject_type: &'q str,
    /// `Some(r)` for subject sets `type:id#r`; `None` for plain objects.
    pub subject_relation: Option<&'q str>,
    /// Start after this cursor; `None` for the first page.
    pub after: Option<&'q Cursor>,
    /// At most this many results.
    pub limit: NonZeroUsize,
}

/// A subject type a relation allows, in the index's numbers.
#[derive(Debug, Clone, Copy)]
struct AllowedSubject {
    subject_type: u32,
    /// The index's relation number, or [`NO_RELATION`] for plain objects.
    subject_relation: u32,
    /// The schema item a subject set stands for; [`NONE`] for plain objects.
    item: u32,
}

/// A permission's leaf in the index's numbers.
#[derive(Debug, Clone)]
enum ResolvedLeaf {
    Computed {
        item: u32,
    },
    /// `tupleset->name`: the tupleset's relation number ([`NONE`] if no
    /// relationship ever used it) and `(subject type, item)` targets.
    Arrow {
        tupleset: u32,
        targets: Vec<(u32, u32)>,
    },
}

/// A schema's names bound to one index's numbers: the tables an [`Engine`]
/// reads on every step. They depend only on the schema and on the type and
/// relation names the index has interned, which keep their numbers and are
/// never freed, so the index keeps the last binding it made
/// ([`Index::binding`]) and an engine built per request or per batch does
/// not rebuild them (a few dozen string hashes and allocations per engine).
#[derive(Debug)]
pub(crate) struct Binding {
    /// The [`Schema`] identity the tables were built from.
    schema_identity: u64,
    /// How many type and relation names the index had interned.
    names: (usize, usize),
    /// Index type number → schema definition, or [`NONE`].
    definition_of_type: Vec<u32>,
    /// Schema item → index relation number, or [`NONE`].
    relation_of_item: Vec<u32>,
    /// Schema relation item → the subject types it allows.
    allowed: Vec<Vec<AllowedSubject>>,
    /// Schema permission item → its leaves.
    leaves: Vec<Vec<ResolvedLeaf>>,
    /// `definition << 32 | index relation number` → schema relation item.
    relation_items: IntMap<u64, u32>,
}

impl Binding {
    /// Maps `schema`'s names to `index`'s numbers.
    pub(crate) fn new(schema: &Schema, index: &Index) -> Self {
        let type_of_definition: Vec<u32> = schema
            .definitions
            .iter()
            .map(|definition| index.type_number(&definition.name).unwrap_or(NONE))
            .collect();
        let mut definition_of_type = Vec::new();
        for (definition, &type_number) in type_of_definition.iter().enumerate() {
            if type_number != NONE {
                if definition_of_type.len() <= type_number as usize {
                    definition_of_type.resize(type_number as usize + 1, NONE);
                }
                definition_of_type[type_number as usize] = definition as u32;
            }
        }
        let relation_of_item: Vec<u32> =
            schema.items.iter().map(|item| index.relation_number(&item.name).unwrap_or(NONE)).collect();
        let allowed = schema
            .items
            .iter()
            .map(|item| match &item.kind {
                ItemKind::Relation { allowed } => allowed
                    .iter()
                    .filter_map(|allowed| {
                        let subject_type = type_of_definition[allowed.definition as usize];
                        // A type or relation name the index has never seen
                        // cannot match any stored subject.
                        let (subject_relation, item) = match allowed.relation {
                            None => (NO_RELATION, NONE),
                            Some(item) if relation_of_item[item as usize] != NONE => {
                                (relation_of_item[item as usize], item)
                            }
                            Some(_) => return None,
                        };
                        (subject_type != NONE).then_some(AllowedSubject {
                            subject_type,
                            subject_relation,
                            item,
                        })
                    })
                    .collect(),
                ItemKind::Permission { .. } => Vec::new(),
            })
            .collect();
        let leaves = schema
            .items
            .iter()
            .map(|item| match &item.kind {
                ItemKind::Permission { leaves, .. } => leaves
                    .iter()
                    .map(|leaf| match &leaf.kind {
                        LeafKind::Computed { item } => ResolvedLeaf::Computed { item: *item },
                        LeafKind::Arrow { tupleset, targets, .. } => ResolvedLeaf::Arrow {
                            tupleset: relation_of_item[*tupleset as usize],
                            targets: targets
                                .iter()
                                .filter(|(definition, _)| type_of_definition[*definition as usize] != NONE)
                                .map(|&(definition, item)| (type_of_definition[definition as usize], item))
                                .collect(),
                        },
                    })
                    .collect(),
                ItemKind::Relation { .. } => Vec::new(),
            })
            .collect();
        let relation_items = schema
            .items
            .iter()
            .enumerate()
            .filter(|(number, item)| {
                matches!(item.kind, ItemKind::Relation { .. }) && relation_of_item[*number] != NONE
            })
            .map(|(number, item)| (pack(item.definition, relation_of_item[number]), number as u32))
            .collect();
        Self {
            schema_identity: schema.identity,
            names: index.name_counts(),
            definition_of_type,
            relation_of_item,
            allowed,
            leaves,
            relation_items,
        }
    }

    /// Whether the tables still map `schema` onto `index`: same schema, and
    /// no name interned since.
    pub(crate) fn binds(&self, schema: &Schema, index: &Index) -> bool {
        self.schema_identity == schema.identity && self.names == index.name_counts()
    }
}

/// A schema and an index bound together at one instant, answering
/// questions. Cheap to build: the mapping of the schema's names to the
/// index's numbers is kept by the index between engines (see [`Binding`]);
/// build one per request or per batch, under the caller's read lock on the
/// index.
#[derive(Debug)]
pub struct Engine<'a> {
    schema: &'a Schema,
    index: &'a Index,
    now: i64,
    /// The schema's names in the index's numbers.
    binding: Arc<Binding>,
    /// The steps allowed to every question asked of this engine together.
    budget: u64,
    /// The steps still allowed; `Cell` because questions take `&self`.
    remaining: Cell<u64>,
    /// Whether a step was refused: every answer from then on is.
    exhausted: Cell<bool>,
}

impl<'a> Engine<'a> {
    /// Binds `schema` and `index` at `now` (microseconds since the Unix
    /// epoch): relationships whose expiry is at or before `now` grant nothing.
    pub fn new(schema: &'a Schema, index: &'a Index, now: i64) -> Self {
        Self {
            schema,
            index,
            now,
            binding: index.binding(schema),
            budget: u64::MAX,
            remaining: Cell::new(u64::MAX),
            exhausted: Cell::new(false),
        }
    }

    /// The same engine, allowed at most `steps` evaluation steps over all
    /// the questions asked of it together (a step is a graph node created
    /// or an edge followed; a check answered from one relation's
    /// relationships is one step). A question that would take more answers
    /// [`EvalError::TooComplex`], and so does every later one: the budget
    /// bounds the CPU one request can spend, whatever the data's shape.
    /// Without it the engine is unbounded. [`Self::expand`] is not counted:
    /// it reads one object's relationships and walks no graph. A lookup
    /// page cut out of results the index kept costs one step.
    #[must_use]
    pub fn with_budget(mut self, steps: u64) -> Self {
        self.budget = steps;
        self.remaining = Cell::new(steps);
        self.exhausted = Cell::new(false);
        self
    }

    /// The steps still allowed, out of the budget.
    pub fn remaining_steps(&self) -> u64 {
        self.remaining.get()
    }

    /// Spends `steps` of the budget; `false` (and nothing spent) if that
    /// would exceed it, and from then on for good.
    fn charge(&self, steps: u64) -> bool {
        let remaining = self.remaining.get();
        if self.exhausted.get() || remaining < steps {
            self.exhausted.set(true);
            return false;
        }
        self.remaining.set(remaining - steps);
        true
    }

    /// Refuses an answer computed after the budget ran out: the graph was
    /// cut short, so it may be wrong.
    fn within_budget<T>(&self, answer: T) -> Result<T, EvalError> {
        if self.exhausted.get() {
            return Err(EvalError::TooComplex { budget: self.budget });
        }
        Ok(answer)
    }

    /// Whether `subject` has `permission` (or relation) on `resource`.
    pub fn check(
        &self,
        resource: &ObjectRef,
        permission: &str,
        subject: &SubjectRef,
    ) -> Result<bool, EvalError> {
        let Some(question) = self.resolve_check(resource, permission, subject)? else {
            return Ok(false);
        };
        if !self.charge(1) {
            return Err(EvalError::TooComplex { budget: self.budget });
        }
        if let Some(answer) = self.check_directly(question) {
            return Ok(answer);
        }
        if !self.holds_anything(question.subject_key)? {
            return Ok(false);
        }
        let answer = Solver::check(self, question.resource, question.item, question.subject_key).is_some();
        self.within_budget(answer)
    }

    /// Like [`check`](Self::check), but when the answer is yes, also why: the
    /// relationships that grant it, as a proof. `None` means no.
    pub fn explain(
        &self,
        resource: &ObjectRef,
        permission: &str,
        subject: &SubjectRef,
    ) -> Result<Option<Explanation>, EvalError> {
        let Some(question) = self.resolve_check(resource, permission, subject)? else {
            return Ok(None);
        };
        if !self.charge(1) {
            return Err(EvalError::TooComplex { budget: self.budget });
        }
        if !self.holds_anything(question.subject_key)? {
            return Ok(None);
        }
        let proof = Solver::check(self, question.resource, question.item, question.subject_key);
        self.within_budget(())?;
        Ok(proof.map(|proof| proof.explanation()))
    }

    /// Answers several checks; each answer is independent of the others,
    /// except that they spend one budget (see [`Self::with_budget`]).
    pub fn check_bulk(&self, requests: &[CheckRequest]) -> Vec<Result<bool, EvalError>> {
        requests
            .iter()
            .map(|request| self.check(&request.resource, &request.permission, &request.subject))
            .collect()
    }

    /// Every object of a type on which the subject has the permission, one
    /// page at a time in ascending id order. The result is complete: every
    /// such object appears on exactly one page.
    ///
    /// The first page evaluates the whole lookup (the order is by id, so no
    /// page is known before all results are); when there is more than one
    /// page, the index keeps the sorted results (see
    /// [`Index::set_lookup_cache_capacity`]) and the later pages of the same
    /// question are cut out of them by binary search, at one budget step
    /// each, until the index changes.
    pub fn lookup_resources(&self, question: &LookupResources<'_>) -> Result<Page<ObjectRef>, EvalError> {
        let item = self.resolve_item(question.resource_type, question.permission)?;
        self.resolve_subject_names(question.subject)?;
        let Some(subject_key) = self.subject_key(question.subject) else {
            return Ok(Page { items: Vec::new(), next: None });
        };
        let lookup = LookupQuestion::Resources { item, subject_key };
        let results = self.sorted_results(lookup, question.limit, || {
            let objects = self.within_budget(Solver::lookup_resources(self, item, subject_key))?;
            let mut sorted: Vec<(&str, u64)> =
                objects.into_iter().map(|object| (self.index.object_id(object), u64::from(object))).collect();
            sorted.sort_unstable();
            Ok(sorted.into_iter().map(|(_, object)| object).collect())
        })?;
        let page =
            paginate(&results, question.after, question.limit, |object| self.index.object_id(object as u32));
        Ok(Page {
            items: page
                .items
                .iter()
                .map(|&object| {
                    ObjectRef::trusted(question.resource_type, self.index.object_id(object as u32))
                })
                .collect(),
            next: page.next,
        })
    }

    /// Every subject of a type (or subject set of a type and relation) that
    /// has the permission on the resource, one page at a time in ascending
    /// id order. Complete, like [`lookup_resources`](Self::lookup_resources),
    /// and paged the same way.
    pub fn lookup_subjects(&self, question: &LookupSubjects<'_>) -> Result<Page<SubjectRef>, EvalError> {
        let item = self.resolve_item(question.resource.object_type(), question.permission)?;
        let subject_definition = self.resolve_type(question.subject_type)?;
        if let Some(relation) = question.subject_relation {
            self.resolve_name(subject_definition, question.subject_type, relation)?;
        }
        let empty = Page { items: Vec::new(), next: None };
        let (Some(resource), Some(subject_type)) =
            (self.index.object_number(question.resource), self.index.type_number(question.subject_type))
        else {
            return Ok(empty);
        };
        let subject_relation = match question.subject_relation {
            None => NO_RELATION,
            Some(name) => match self.index.relation_number(name) {
                Some(number) => number,
                None => return Ok(empty),
            },
        };
        let subject_id = |subject_key: u64| self.index.object_id(crate::index::unpack_subject(subject_key).0);
        let lookup = LookupQuestion::Subjects { resource, item, subject_type, subject_relation };
        let results = self.sorted_results(lookup, question.limit, || {
            let target = Target { subject_type, subject_relation };
            let subject_keys = self.within_budget(Solver::lookup_subjects(self, resource, item, target))?;
            let mut sorted: Vec<(&str, u64)> =
                subject_keys.into_iter().map(|subject_key| (subject_id(subject_key), subject_key)).collect();
            sorted.sort_unstable();
            Ok(sorted.into_iter().map(|(_, subject_key)| subject_key).collect())
        })?;
        let page = paginate(&results, question.after, question.limit, subject_id);
        let items = page.items.iter().map(|&subject_key| self.index.subject_ref(subject_key)).collect();
        Ok(Page { items, next: page.next })
    }

    /// The complete results of a lookup in ascending id order: kept ones if
    /// the index has them for this question and instant (one budget step),
    /// else `evaluate`'s, kept when they fill more than one page.
    fn sorted_results(
        &self,
        lookup: LookupQuestion,
        limit: NonZeroUsize,
        evaluate: impl FnOnce() -> Result<Vec<u64>, EvalError>,
    ) -> Result<Arc<[u64]>, EvalError> {
        if let Some(results) = self.index.cached_lookup(self.schema.identity, lookup, self.now) {
            if !self.charge(1) {
                return Err(EvalError::TooComplex { budget: self.budget });
            }
            return Ok(results);
        }
        let results: Arc<[u64]> = evaluate()?.into();
        if results.len() > limit.get() {
            self.index.keep_lookup(self.schema.identity, lookup, self.now, results.clone());
        }
        Ok(results)
    }

    /// The expression of `permission` on `resource`, with the live subjects
    /// of each relation and the objects each arrow reaches (see
    /// [`Expansion`]).
    pub fn expand(&self, resource: &ObjectRef, permission: &str) -> Result<Expansion, EvalError> {
        let item = self.resolve_item(resource.object_type(), permission)?;
        Ok(expand::expand(self, resource, item))
    }

    fn resolve_type(&self, object_type: &str) -> Result<u32, EvalError> {
        self.schema
            .definition(object_type)
            .ok_or_else(|| EvalError::UnknownType { object_type: object_type.to_owned() })
    }

    fn resolve_name(&self, definition: u32, object_type: &str, name: &str) -> Result<u32, EvalError> {
        self.schema.definitions[definition as usize].item_index.get(name).copied().ok_or_else(|| {
            EvalError::UnknownName { object_type: object_type.to_owned(), name: name.to_owned() }
        })
    }

    fn resolve_item(&self, object_type: &str, name: &str) -> Result<u32, EvalError> {
        let definition = self.resolve_type(object_type)?;
        self.resolve_name(definition, object_type, name)
    }

    fn resolve_subject_names(&self, subject: &SubjectRef) -> Result<(), EvalError> {
        let object_type = subject.object_ref().object_type();
        let definition = self.resolve_type(object_type)?;
        if let Some(relation) = subject.relation() {
            self.resolve_name(definition, object_type, relation)?;
        }
        Ok(())
    }

    /// The subject's key in the index, or `None` if the index has never seen
    /// it (then it holds nothing).
    fn subject_key(&self, subject: &SubjectRef) -> Option<u64> {
        let object = self.index.object_number(subject.object_ref())?;
        let relation = match subject.relation() {
            Some(name) => self.index.relation_number(name)?,
            None => NO_RELATION,
        };
        Some(pack_subject(object, relation))
    }

    /// Validates the names of a check; `None` if the answer is no because
    /// the index has never seen the resource or the subject.
    fn resolve_check(
        &self,
        resource: &ObjectRef,
        permission: &str,
        subject: &SubjectRef,
    ) -> Result<Option<CheckQuestion>, EvalError> {
        let item = self.resolve_item(resource.object_type(), permission)?;
        self.resolve_subject_names(subject)?;
        let (Some(resource), Some(subject_key)) =
            (self.index.object_number(resource), self.subject_key(subject))
        else {
            return Ok(None);
        };
        Ok(Some(CheckQuestion { resource, item, subject_key }))
    }

    /// Answers a check on a relation without building a graph when its
    /// relationships decide it: the subject is named directly, or the
    /// relation names no subject set at all. `None` means "solve it".
    fn check_directly(&self, question: CheckQuestion) -> Option<bool> {
        let relation = self.binding.relation_of_item[question.item as usize];
        if !matches!(self.schema.items[question.item as usize].kind, ItemKind::Relation { .. }) {
            return None;
        }
        if relation == NONE {
            return Some(false);
        }
        let entries = self.index.subjects(question.resource, relation);
        if self.holds_directly(question.item, entries, question.subject_key) {
            return Some(true);
        }
        if crate::index::plain_subjects_start(entries) == 0 { Some(false) } else { None }
    }

    /// Whether the subject could hold anything at all: whether a live
    /// relationship the schema allows names it. If none does, it holds
    /// nothing anywhere, and a check can answer no without walking: every
    /// set the schema computes is made of the subjects relationships name
    /// (a relation's own, its subject sets', unions, intersections and
    /// exclusions of those), so a subject no relationship grants is in none.
    /// This is the engine's fast negative path: a user of another tenant is
    /// named in no relationship of this tenant's index (or is unknown to
    /// it, answered even earlier), whatever the size of the closure a walk
    /// would have explored. It reads the reverse index: one entry for a
    /// subject that holds something (the first live one ends it), and a
    /// budget step for every expired or disallowed entry passed over.
    fn holds_anything(&self, subject_key: u64) -> Result<bool, EvalError> {
        let mut passed_over = 0u64;
        let mut holds = false;
        for &resource_key in self.index.resources_of(subject_key) {
            let (object, relation) = crate::index::unpack(resource_key);
            if let Some(item) = self.relation_item(object, relation)
                && self.holds_directly(item, self.index.subjects(object, relation), subject_key)
            {
                holds = true;
                break;
            }
            passed_over += 1;
        }
        if !self.charge(passed_over) {
            return Err(EvalError::TooComplex { budget: self.budget });
        }
        Ok(holds)
    }

    /// Whether the relation's entries name `subject_key` directly, live and
    /// allowed by the schema.
    fn holds_directly(&self, item: u32, entries: &[crate::index::SubjectEntry], subject_key: u64) -> bool {
        let Ok(position) = entries.binary_search_by_key(&subject_key, |entry| entry.subject) else {
            return false;
        };
        entries[position].is_live(self.now) && self.allowed_item(item, subject_key).is_some()
    }

    /// If the relation `item` allows the subject key's type (and relation),
    /// the schema item the subject stands for ([`NONE`] for a plain object).
    fn allowed_item(&self, item: u32, subject_key: u64) -> Option<u32> {
        let (object, relation) = crate::index::unpack_subject(subject_key);
        let subject_type = self.index.object_type(object);
        self.binding.allowed[item as usize]
            .iter()
            .find(|allowed| allowed.subject_type == subject_type && allowed.subject_relation == relation)
            .map(|allowed| allowed.item)
    }

    /// The schema relation item that a stored relationship of `object` with
    /// index relation number `relation` belongs to, if the schema has one.
    fn relation_item(&self, object: u32, relation: u32) -> Option<u32> {
        let definition = self.definition_of_object(object);
        if definition == NONE {
            return None;
        }
        self.binding.relation_items.get(&pack(definition, relation)).copied()
    }

    /// The schema definition of an index object, or [`NONE`].
    fn definition_of_object(&self, object: u32) -> u32 {
        self.binding.definition_of_type.get(self.index.object_type(object) as usize).copied().unwrap_or(NONE)
    }
}

#[derive(Debug, Clone, Copy)]
struct CheckQuestion {
    resource: u32,
    item: u32,
    subject_key: u64,
}

/// A page cut out of results sorted by id.
struct KeyPage<'r> {
    items: &'r [u64],
    next: Option<Cursor>,
}

/// The page of `results` (sorted by `id_of`) after `after`, at most `limit`
/// long. A cursor is a position between ids, so any text is a valid one.
fn paginate<'r, 'i>(
    results: &'r [u64],
    after: Option<&Cursor>,
    limit: NonZeroUsize,
    id_of: impl Fn(u64) -> &'i str,
) -> KeyPage<'r> {
    let start = match after {
        Some(cursor) => results.partition_point(|&key| id_of(key) <= cursor.as_str()),
        None => 0,
    };
    let rest = &results[start..];
    let end = rest.len().min(limit.get());
    let items = &rest[..end];
    let next = (end < rest.len()).then(|| Cursor::new(items.last().map_or("", |&key| id_of(key))));
    KeyPage { items, next }
}
