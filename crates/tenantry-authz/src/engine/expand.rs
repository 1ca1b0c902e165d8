//! Expand: the expression of a permission on one object, with its leaves
//! filled in from the index.
//!
//! Expansion stays on one object. Permissions of the same object and the
//! objects arrows reach appear as leaves that the caller may expand with
//! another call, rather than being inlined: inlining would repeat shared
//! sub-permissions (exponentially, in the worst case) and walk hierarchies
//! of any depth in one answer.

use super::{Engine, NONE, ResolvedLeaf};
use crate::index::{SubjectEntry, plain_subjects_start, unpack_subject};
use crate::model::{ObjectRef, SubjectRef};
use crate::schema::{Expression, ItemKind, LeafKind, Operator};

/// The expansion of one relation or permission on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The object expanded.
    pub resource: ObjectRef,
    /// The relation or permission expanded.
    pub name: String,
    /// Its expression, or for a relation a single [`ExpansionNode::Relation`].
    pub tree: ExpansionNode,
}

/// A node of an [`Expansion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpansionNode {
    /// The empty set (`nil`).
    Nil,
    /// A relation of the object: its live subjects that the schema allows,
    /// sorted. Subject sets are listed, not expanded.
    Relation {
        /// The relation.
        relation: String,
        /// Its subjects.
        subjects: Vec<SubjectRef>,
    },
    /// Another permission of the same object; expand it separately.
    Permission {
        /// The permission.
        permission: String,
    },
    /// `tupleset->name`: the subject sets `object#name` for each object the
    /// tupleset relation names whose type defines `name`, sorted.
    Arrow {
        /// The relation the arrow follows.
        tupleset: String,
        /// The relation or permission it reaches.
        name: String,
        /// The subject sets reached.
        subjects: Vec<SubjectRef>,
    },
    /// Subjects in any of the operands.
    Union(Vec<ExpansionNode>),
    /// Subjects in every operand.
    Intersection(Vec<ExpansionNode>),
    /// Subjects in `base` and in none of `subtracted`.
    Exclusion {
        /// What is granted.
        base: Box<ExpansionNode>,
        /// What is taken away from it.
        subtracted: Vec<ExpansionNode>,
    },
}

pub(super) fn expand(engine: &Engine<'_>, resource: &ObjectRef, item: u32) -> Expansion {
    let object = engine.index.object_number(resource);
    let tree = match &engine.schema.items[item as usize].kind {
        ItemKind::Relation { .. } => relation_node(engine, object, item),
        ItemKind::Permission { expression, leaves } => {
            expression_node(engine, object, item, expression, &|leaf| {
                leaves.get(leaf as usize).map(|l| &l.kind)
            })
        }
    };
    Expansion { resource: resource.clone(), name: engine.schema.item_name(item).to_owned(), tree }
}

fn live_entries<'i>(
    engine: &Engine<'i>,
    object: Option<u32>,
    relation: u32,
) -> impl Iterator<Item = SubjectEntry> + 'i {
    let entries = match object {
        Some(object) if relation != NONE => engine.index.subjects(object, relation),
        _ => &[],
    };
    let now = engine.now;
    entries.iter().copied().filter(move |entry| entry.is_live(now))
}

fn relation_node(engine: &Engine<'_>, object: Option<u32>, item: u32) -> ExpansionNode {
    let relation = engine.binding.relation_of_item[item as usize];
    let mut subjects: Vec<SubjectRef> = live_entries(engine, object, relation)
        .filter(|entry| engine.allowed_item(item, entry.subject).is_some())
        .map(|entry| engine.index.subject_ref(entry.subject))
        .collect();
    subjects.sort();
    ExpansionNode::Relation { relation: engine.schema.item_name(item).to_owned(), subjects }
}

fn expression_node<'s>(
    engine: &Engine<'_>,
    object: Option<u32>,
    item: u32,
    expression: &Expression,
    leaf_kind: &dyn Fn(u32) -> Option<&'s LeafKind>,
) -> ExpansionNode {
    match expression {
        Expression::Nil => ExpansionNode::Nil,
        Expression::Leaf(leaf) => match leaf_kind(*leaf) {
            Some(LeafKind::Computed { item: computed }) => {
                match engine.schema.items[*computed as usize].kind {
                    ItemKind::Relation { .. } => relation_node(engine, object, *computed),
                    ItemKind::Permission { .. } => ExpansionNode::Permission {
                        permission: engine.schema.item_name(*computed).to_owned(),
                    },
                }
            }
            Some(LeafKind::Arrow { tupleset, computed, .. }) => {
                let mut subjects = Vec::new();
                if let Some(ResolvedLeaf::Arrow { tupleset: relation, targets }) =
                    engine.binding.leaves[item as usize].get(*leaf as usize)
                {
                    let entries: Vec<SubjectEntry> = live_entries(engine, object, *relation).collect();
                    for entry in &entries[plain_subjects_start(&entries)..] {
                        let (target, _) = unpack_subject(entry.subject);
                        let target_type = engine.index.object_type(target);
                        if targets.iter().any(|(subject_type, _)| *subject_type == target_type) {
                            subjects.push(SubjectRef::trusted_set(engine.index.object_ref(target), computed));
                        }
                    }
                }
                subjects.sort();
                ExpansionNode::Arrow {
                    tupleset: engine.schema.item_name(*tupleset).to_owned(),
                    name: computed.clone(),
                    subjects,
                }
            }
            None => ExpansionNode::Nil,
        },
        Expression::Operation { operator, operands } => {
            let mut nodes: Vec<ExpansionNode> = operands
                .iter()
                .map(|operand| expression_node(engine, object, item, operand, leaf_kind))
                .collect();
            match operator {
                Operator::Union => ExpansionNode::Union(nodes),
                Operator::Intersection => ExpansionNode::Intersection(nodes),
                Operator::Exclusion => {
                    if nodes.is_empty() {
                        return ExpansionNode::Nil;
                    }
                    let base = nodes.remove(0);
                    ExpansionNode::Exclusion { base: Box::new(base), subtracted: nodes }
                }
            }
        }
    }
}
