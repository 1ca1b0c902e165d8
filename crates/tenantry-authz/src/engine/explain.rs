//! Explanations: why a check came out true, as the relationships that prove
//! it.

use std::fmt;

use super::solver::Proof;
use super::{NONE, ResolvedLeaf};
use crate::hash::IntMap;
use crate::index::{NO_RELATION, SubjectEntry, pack, pack_subject, unpack};
use crate::model::{ObjectRef, Relationship};

use crate::schema::{Expression, ItemKind, Operator};

/// Names one [`Step`] of an [`Explanation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepId(usize);

impl StepId {
    /// The step's position in [`Explanation::steps`].
    pub fn index(self) -> usize {
        self.0
    }
}

/// One proven fact: the subject holds `name` on `resource`, for `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    resource: ObjectRef,
    name: String,
    reason: Reason,
}

impl Step {
    /// The object the fact is about.
    pub fn resource(&self) -> &ObjectRef {
        &self.resource
    }

    /// The relation or permission the subject holds on it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

/// Why a [`Step`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The relation names the subject itself.
    Direct {
        /// The relationship that names it.
        relationship: Relationship,
    },
    /// The relation names a subject set that holds the subject.
    SubjectSet {
        /// The relationship naming the subject set.
        relationship: Relationship,
        /// The step proving the subject set holds the subject.
        then: StepId,
    },
    /// The permission's expression holds: one link for a union, one per
    /// operand for an intersection; for an exclusion, the links of its base
    /// (what it subtracts does not hold).
    Expression {
        /// What the expression holds through.
        because: Vec<Link>,
    },
}

/// How a permission reaches the step that grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Through another relation or permission of the same object.
    SameObject {
        /// The step for that relation or permission.
        then: StepId,
    },
    /// Through an arrow: this relationship leads to another object.
    Arrow {
        /// The relationship the arrow follows.
        relationship: Relationship,
        /// The step on the object it leads to.
        then: StepId,
    },
}

/// A proof that a check is allowed: a directed acyclic graph of steps from
/// the question (the root) down to relationships naming the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    steps: Vec<Step>,
}

impl Explanation {
    /// The step answering the question itself.
    pub fn root(&self) -> &Step {
        // Built with the root first and never empty.
        &self.steps[0]
    }

    /// A step named by a [`StepId`] of this explanation.
    pub fn step(&self, id: StepId) -> Option<&Step> {
        self.steps.get(id.0)
    }

    /// Every step, the root first.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The relationships the proof rests on, each once, in depth-first order
    /// from the root: for a chain of inheritance, the path from the resource
    /// down to the relationship naming the subject.
    pub fn relationships(&self) -> Vec<&Relationship> {
        let mut seen = vec![false; self.steps.len()];
        let mut found = Vec::new();
        let mut stack = vec![0usize];
        while let Some(step) = stack.pop() {
            if std::mem::replace(&mut seen[step], true) {
                continue;
            }
            let mut next = Vec::new();
            match &self.steps[step].reason {
                Reason::Direct { relationship } => found.push(relationship),
                Reason::SubjectSet { relationship, then } => {
                    found.push(relationship);
                    next.push(then.0);
                }
                Reason::Expression { because } => {
                    for link in because {
                        match link {
                            Link::SameObject { then } => next.push(then.0),
                            Link::Arrow { relationship, then } => {
                                found.push(relationship);
                                next.push(then.0);
                            }
                        }
                    }
                }
            }
            stack.extend(next.into_iter().rev());
        }
        found
    }
}

/// An indented tree, one step or relationship per line; a step reached a
/// second time is printed once and then referred to.
impl fmt::Display for Explanation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut printed = vec![false; self.steps.len()];
        let mut stack = vec![(0usize, 0usize)];
        while let Some((step_number, depth)) = stack.pop() {
            let step = &self.steps[step_number];
            let indent = "  ".repeat(depth);
            if std::mem::replace(&mut printed[step_number], true) {
                writeln!(formatter, "{indent}{}#{} (as above)", step.resource, step.name)?;
                continue;
            }
            writeln!(formatter, "{indent}{}#{}", step.resource, step.name)?;
            let mut children = Vec::new();
            match &step.reason {
                Reason::Direct { relationship } => writeln!(formatter, "{indent}  by {relationship}")?,
                Reason::SubjectSet { relationship, then } => {
                    writeln!(formatter, "{indent}  by {relationship}")?;
                    children.push(then.0);
                }
                Reason::Expression { because } => {
                    for link in because {
                        match link {
                            Link::SameObject { then } => children.push(then.0),
                            Link::Arrow { relationship, then } => {
                                writeln!(formatter, "{indent}  via {relationship}")?;
                                children.push(then.0);
                            }
                        }
                    }
                }
            }
            stack.extend(children.into_iter().rev().map(|child| (child, depth + 1)));
        }
        Ok(())
    }
}

impl Proof<'_, '_> {
    /// Reads the proof out of the solved graph. Each node proven true was
    /// proven from nodes with smaller stamps, so following only those never
    /// goes round a cycle; the walk uses an explicit stack.
    pub(super) fn explanation(&self) -> Explanation {
        let mut builder =
            Builder { proof: self, steps: Vec::new(), step_of: IntMap::default(), pending: Vec::new() };
        builder.step_for(self.root);
        while let Some((node, step)) = builder.pending.pop() {
            let reason = builder.reason(node);
            builder.steps[step].reason = reason;
        }
        Explanation { steps: builder.steps }
    }
}

struct Builder<'p, 'e, 'a> {
    proof: &'p Proof<'e, 'a>,
    steps: Vec<Step>,
    step_of: IntMap<u32, usize>,
    pending: Vec<(u32, usize)>,
}

impl Builder<'_, '_, '_> {
    fn step_for(&mut self, node: u32) -> StepId {
        if let Some(&step) = self.step_of.get(&node) {
            return StepId(step);
        }
        let solver = &self.proof.solver;
        let (object, item) = unpack(solver.keys[node as usize]);
        let step = self.steps.len();
        self.steps.push(Step {
            resource: solver.engine.index.object_ref(object),
            name: solver.engine.schema.item_name(item).to_owned(),
            reason: Reason::Expression { because: Vec::new() },
        });
        self.step_of.insert(node, step);
        self.pending.push((node, step));
        StepId(step)
    }

    /// Whether `node` was true before `stamp`.
    fn before(&self, node: u32, stamp: u32) -> bool {
        let solver = &self.proof.solver;
        solver.values[node as usize] && solver.proved_at[node as usize] < stamp
    }

    fn relationship(&self, resource: u32, relation: u32, subject_key: u64) -> Option<Relationship> {
        let index = self.proof.solver.engine.index;
        let entries = index.subjects(resource, relation);
        let position =
            entries.binary_search_by_key(&subject_key, |entry: &SubjectEntry| entry.subject).ok()?;
        Some(index.relationship_of(pack(resource, relation), entries[position]))
    }

    fn reason(&mut self, node: u32) -> Reason {
        let solver = &self.proof.solver;
        let engine = solver.engine;
        let (object, item) = unpack(solver.keys[node as usize]);
        let stamp = solver.proved_at[node as usize];
        match &engine.schema.items[item as usize].kind {
            ItemKind::Relation { .. } => {
                let relation = engine.binding.relation_of_item[item as usize];
                if solver.bases[node as usize] {
                    let subject_key = self.proof_subject();
                    if let Some(relationship) = self.relationship(object, relation, subject_key) {
                        return Reason::Direct { relationship };
                    }
                }
                for &child in solver.children(node) {
                    if !self.before(child, stamp) {
                        continue;
                    }
                    let (child_object, child_item) = unpack(solver.keys[child as usize]);
                    let subject_key =
                        pack_subject(child_object, engine.binding.relation_of_item[child_item as usize]);
                    if let Some(relationship) = self.relationship(object, relation, subject_key) {
                        let then = self.step_for(child);
                        return Reason::SubjectSet { relationship, then };
                    }
                }
                Reason::Expression { because: Vec::new() }
            }
            ItemKind::Permission { expression, .. } => {
                let mut because = Vec::new();
                self.links(node, expression, stamp, &mut because);
                Reason::Expression { because }
            }
        }
    }

    fn proof_subject(&self) -> u64 {
        self.proof.solver.subject_key()
    }

    /// Whether the expression held on `node` before `stamp`.
    fn holds(&self, node: u32, expression: &Expression, stamp: u32) -> bool {
        match expression {
            Expression::Nil => false,
            Expression::Leaf(leaf) => self
                .proof
                .solver
                .leaf_dependencies(node, *leaf)
                .iter()
                .any(|&dependency| self.before(dependency, stamp)),
            Expression::Operation { operator, operands } => match operator {
                Operator::Union => operands.iter().any(|operand| self.holds(node, operand, stamp)),
                Operator::Intersection => operands.iter().all(|operand| self.holds(node, operand, stamp)),
                // What an exclusion subtracts lies in a lower stratum, final
                // and false by the time the node was proven: only the base
                // needs to hold.
                Operator::Exclusion => operands.first().is_some_and(|base| self.holds(node, base, stamp)),
            },
        }
    }

    fn links(&mut self, node: u32, expression: &Expression, stamp: u32, because: &mut Vec<Link>) {
        match expression {
            Expression::Nil => {}
            Expression::Leaf(leaf) => {
                let solver = &self.proof.solver;
                let engine = solver.engine;
                let Some(&dependency) = solver
                    .leaf_dependencies(node, *leaf)
                    .iter()
                    .find(|&&dependency| self.before(dependency, stamp))
                else {
                    return;
                };
                let (object, item) = unpack(solver.keys[node as usize]);
                match engine.binding.leaves[item as usize].get(*leaf as usize) {
                    Some(ResolvedLeaf::Arrow { tupleset, .. }) if *tupleset != NONE => {
                        let (target, _) = unpack(solver.keys[dependency as usize]);
                        let relationship =
                            self.relationship(object, *tupleset, pack_subject(target, NO_RELATION));
                        let then = self.step_for(dependency);
                        if let Some(relationship) = relationship {
                            because.push(Link::Arrow { relationship, then });
                        }
                    }
                    _ => {
                        let then = self.step_for(dependency);
                        because.push(Link::SameObject { then });
                    }
                }
            }
            Expression::Operation { operator, operands } => match operator {
                Operator::Union => {
                    if let Some(operand) = operands.iter().find(|operand| self.holds(node, operand, stamp)) {
                        self.links(node, operand, stamp, because);
                    }
                }
                Operator::Intersection => {
                    for operand in operands {
                        self.links(node, operand, stamp, because);
                    }
                }
                Operator::Exclusion => {
                    if let Some(base) = operands.first() {
                        self.links(node, base, stamp, because);
                    }
                }
            },
        }
    }
}
