//! The engine against a deliberately naive reference evaluator, on random
//! schemas and random relationships.
//!
//! Cases are drawn from a stream of random numbers that proptest shrinks
//! towards zeros, and every choice maps 0 to its simplest option, so a
//! failure shrinks to a small schema and few relationships.
//!
//! The reference knows nothing of the engine's graph, worklists or strata
//! propagation: it computes the subject set of every `(object, name)` over the
//! whole universe by repeating the schema's equations until nothing changes,
//! one stratum at a time, with strata computed by brute force.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;

use proptest::prelude::*;
use tenantry_authz::{
    Cursor, Engine, Index, Link, LookupResources, LookupSubjects, ObjectRef, Reason, Relationship, Schema,
    SubjectRef,
};

const NOW: i64 = 1_000;
/// Object ids. The last, `d`, is a ghost: it is named only by
/// relationships that grant nothing (expired, or not allowed by the schema)
/// and as a resource, so checks about it take the engine's fast negative
/// path while the index still knows it.
const IDS: [&str; 4] = ["a", "b", "c", "d"];
/// The ids ordinary relationships use.
const GENERATED_IDS: usize = 3;
/// The ghost's position in [`IDS`].
const GHOST: usize = 3;

/// Random numbers consumed one per choice; past the end every choice is 0.
struct Choices {
    values: Vec<u32>,
    position: usize,
}

impl Choices {
    fn below(&mut self, bound: usize) -> usize {
        let value = self.values.get(self.position).copied().unwrap_or(0);
        self.position += 1;
        if bound == 0 { 0 } else { value as usize % bound }
    }

    fn percent(&mut self, percent: usize) -> bool {
        // 0 (the shrunk value) means "no", the simplest option.
        self.below(100) >= 100 - percent
    }
}

#[derive(Debug, Clone)]
enum Expr {
    Nil,
    Name(String),
    Arrow(String, String),
    Op(char, Vec<Expr>),
}

/// A relation's allowed subject types: `(type number, subject relation)`.
type Allowed = Vec<(usize, Option<String>)>;

#[derive(Debug, Clone)]
struct TypeModel {
    name: String,
    /// `(name, allowed (type, relation)` alternatives).
    relations: Vec<(String, Allowed)>,
    permissions: Vec<(String, Expr)>,
}

impl TypeModel {
    fn defines(&self, name: &str) -> bool {
        self.relations.iter().any(|(relation, _)| relation == name)
            || self.permissions.iter().any(|(permission, _)| permission == name)
    }

    fn names(&self) -> Vec<String> {
        self.relations
            .iter()
            .map(|(name, _)| name.clone())
            .chain(self.permissions.iter().map(|(name, _)| name.clone()))
            .collect()
    }

    fn relation(&self, name: &str) -> Option<&Allowed> {
        self.relations.iter().find(|(relation, _)| relation == name).map(|(_, allowed)| allowed)
    }

    fn permission(&self, name: &str) -> Option<&Expr> {
        self.permissions.iter().find(|(permission, _)| permission == name).map(|(_, expr)| expr)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Subject {
    object_type: usize,
    id: usize,
    relation: Option<String>,
}

#[derive(Debug, Clone)]
struct Fact {
    resource_type: usize,
    resource_id: usize,
    relation: String,
    subject: Subject,
    expires_at: Option<i64>,
}

impl Fact {
    fn is_live(&self) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > NOW)
    }
}

fn generate_types(choices: &mut Choices) -> Vec<TypeModel> {
    let type_count = 2 + choices.below(3);
    let mut types: Vec<TypeModel> = (0..type_count)
        .map(|number| TypeModel {
            name: format!("t{number}"),
            relations: (0..1 + choices.below(3))
                .map(|relation| (format!("r{relation}"), Vec::new()))
                .collect(),
            permissions: (0..choices.below(4))
                .map(|permission| (format!("p{permission}"), Expr::Nil))
                .collect(),
        })
        .collect();
    // Allowed subject types: plain objects, subject sets of relations (which
    // makes recursion in the data), now and then subject sets of permissions.
    for type_number in 0..type_count {
        for relation_number in 0..types[type_number].relations.len() {
            let mut allowed = Vec::new();
            for _ in 0..1 + choices.below(2) {
                let subject_type = choices.below(type_count);
                let target = &types[subject_type];
                let relation = if choices.percent(35) {
                    Some(target.relations[choices.below(target.relations.len())].0.clone())
                } else if !target.permissions.is_empty() && choices.percent(10) {
                    Some(target.permissions[choices.below(target.permissions.len())].0.clone())
                } else {
                    None
                };
                if !allowed.contains(&(subject_type, relation.clone())) {
                    allowed.push((subject_type, relation));
                }
            }
            types[type_number].relations[relation_number].1 = allowed;
        }
    }
    for type_number in 0..type_count {
        for permission_number in 0..types[type_number].permissions.len() {
            let expr = generate_expr(choices, &types, type_number, permission_number, 0);
            types[type_number].permissions[permission_number].1 = expr;
        }
    }
    types
}

fn generate_expr(
    choices: &mut Choices,
    types: &[TypeModel],
    own: usize,
    permission_number: usize,
    depth: usize,
) -> Expr {
    let own_type = &types[own];
    let options = if depth < 2 { 7 } else { 4 };
    match choices.below(options) {
        0 => Expr::Name(own_type.relations[choices.below(own_type.relations.len())].0.clone()),
        1 => {
            // Mostly earlier permissions; rarely any (possibly itself), so
            // that same-object cycles get generated and must be refused.
            let limit = if choices.percent(5) { own_type.permissions.len() } else { permission_number };
            if limit == 0 {
                Expr::Name(own_type.relations[0].0.clone())
            } else {
                Expr::Name(own_type.permissions[choices.below(limit)].0.clone())
            }
        }
        2 => {
            let plain: Vec<&(String, Allowed)> = own_type
                .relations
                .iter()
                .filter(|(_, allowed)| allowed.iter().all(|(_, relation)| relation.is_none()))
                .collect();
            if plain.is_empty() {
                return Expr::Name(own_type.relations[0].0.clone());
            }
            let (tupleset, allowed) = plain[choices.below(plain.len())];
            let mut targets: Vec<String> =
                allowed.iter().flat_map(|(subject_type, _)| types[*subject_type].names()).collect();
            targets.sort();
            targets.dedup();
            Expr::Arrow(tupleset.clone(), targets[choices.below(targets.len())].clone())
        }
        3 => Expr::Nil,
        _ => {
            let operator = ['+', '&', '-'][choices.below(3)];
            let operands = (0..2 + choices.below(2))
                .map(|_| generate_expr(choices, types, own, permission_number, depth + 1))
                .collect();
            Expr::Op(operator, operands)
        }
    }
}

fn generate_facts(choices: &mut Choices, types: &[TypeModel]) -> Vec<Fact> {
    let mut facts = Vec::new();
    for _ in 0..choices.below(30) {
        let resource_type = choices.below(types.len());
        let (relation, allowed) =
            &types[resource_type].relations[choices.below(types[resource_type].relations.len())];
        let (subject_type, subject_relation) = allowed[choices.below(allowed.len())].clone();
        let subject = Subject {
            object_type: subject_type,
            id: choices.below(GENERATED_IDS),
            relation: subject_relation,
        };
        // Now and then a subject the schema does not allow here: stored,
        // but it must grant nothing.
        let subject = if choices.percent(8) {
            let subject_type = choices.below(types.len());
            let names = types[subject_type].names();
            let relation =
                if choices.percent(50) { Some(names[choices.below(names.len())].clone()) } else { None };
            Subject { object_type: subject_type, id: choices.below(GENERATED_IDS), relation }
        } else {
            subject
        };
        let expires_at = match choices.below(10) {
            8 => Some(NOW - choices.below(3) as i64),
            9 => Some(NOW + 1 + choices.below(3) as i64),
            _ => None,
        };
        facts.push(Fact {
            resource_type,
            resource_id: choices.below(GENERATED_IDS),
            relation: relation.clone(),
            subject,
            expires_at,
        });
    }
    // The ghost: named only by expired relationships and by ones the schema
    // does not allow; sometimes a resource too.
    for _ in 0..choices.below(4) {
        let resource_type = choices.below(types.len());
        let (relation, allowed) =
            &types[resource_type].relations[choices.below(types[resource_type].relations.len())];
        let subject_type = choices.below(types.len());
        let (subject, expires_at) = if !allowed.contains(&(subject_type, None)) && choices.percent(50) {
            (Subject { object_type: subject_type, id: GHOST, relation: None }, None)
        } else {
            let (subject_type, subject_relation) = allowed[choices.below(allowed.len())].clone();
            let subject = Subject { object_type: subject_type, id: GHOST, relation: subject_relation };
            (subject, Some(NOW - choices.below(3) as i64))
        };
        facts.push(Fact {
            resource_type,
            resource_id: choices.below(IDS.len()),
            relation: relation.clone(),
            subject,
            expires_at,
        });
    }
    // Touching twice keeps the last expiry, as the index does.
    let mut unique: BTreeMap<(usize, usize, String, Subject), Fact> = BTreeMap::new();
    for fact in facts {
        unique.insert(
            (fact.resource_type, fact.resource_id, fact.relation.clone(), fact.subject.clone()),
            fact,
        );
    }
    unique.into_values().collect()
}

fn print_expr(expr: &Expr, nested: bool) -> String {
    match expr {
        Expr::Nil => "nil".to_owned(),
        Expr::Name(name) => name.clone(),
        Expr::Arrow(tupleset, target) => format!("{tupleset}->{target}"),
        Expr::Op(operator, operands) => {
            let inner: Vec<String> = operands.iter().map(|operand| print_expr(operand, true)).collect();
            let joined = inner.join(&format!(" {operator} "));
            if nested { format!("({joined})") } else { joined }
        }
    }
}

fn schema_text(types: &[TypeModel]) -> String {
    let mut text = String::new();
    for model in types {
        text.push_str(&format!("definition {} {{\n", model.name));
        for (name, allowed) in &model.relations {
            let alternatives: Vec<String> = allowed
                .iter()
                .map(|(subject_type, relation)| match relation {
                    Some(relation) => format!("{}#{relation}", types[*subject_type].name),
                    None => types[*subject_type].name.clone(),
                })
                .collect();
            text.push_str(&format!("  relation {name}: {}\n", alternatives.join(" | ")));
        }
        for (name, expr) in &model.permissions {
            text.push_str(&format!("  permission {name} = {}\n", print_expr(expr, false)));
        }
        text.push_str("}\n");
    }
    text
}

/// An item of the reference: `(type, name)`.
type ItemKey = (usize, String);

/// Dependency edges between items, `true` when monotone.
fn item_edges(types: &[TypeModel]) -> Vec<(ItemKey, ItemKey, bool)> {
    fn leaves(expr: &Expr, positive: bool, found: &mut Vec<(Expr, bool)>) {
        match expr {
            Expr::Nil => {}
            Expr::Name(_) | Expr::Arrow(..) => found.push((expr.clone(), positive)),
            Expr::Op(operator, operands) => {
                for (position, operand) in operands.iter().enumerate() {
                    leaves(operand, positive && !(*operator == '-' && position > 0), found);
                }
            }
        }
    }
    let mut edges = Vec::new();
    for (type_number, model) in types.iter().enumerate() {
        for (name, allowed) in &model.relations {
            for (subject_type, relation) in allowed {
                if let Some(relation) = relation {
                    edges.push(((type_number, name.clone()), (*subject_type, relation.clone()), true));
                }
            }
        }
        for (name, expr) in &model.permissions {
            let mut found = Vec::new();
            leaves(expr, true, &mut found);
            for (leaf, positive) in found {
                match leaf {
                    Expr::Name(target) => {
                        edges.push(((type_number, name.clone()), (type_number, target), positive))
                    }
                    Expr::Arrow(tupleset, target) => {
                        for (subject_type, _) in model.relation(&tupleset).into_iter().flatten() {
                            if types[*subject_type].defines(&target) {
                                edges.push((
                                    (type_number, name.clone()),
                                    (*subject_type, target.clone()),
                                    positive,
                                ));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    edges
}

/// Whether the schema should be accepted, and if so each item's stratum.
fn expected_strata(types: &[TypeModel]) -> Option<BTreeMap<ItemKey, usize>> {
    let items: Vec<ItemKey> = types
        .iter()
        .enumerate()
        .flat_map(|(type_number, model)| model.names().into_iter().map(move |name| (type_number, name)))
        .collect();
    let position = |key: &ItemKey| items.iter().position(|item| item == key).unwrap();
    let count = items.len();
    let edges = item_edges(types);
    // Same-object cycles: name references between permissions of one type.
    let mut same = vec![vec![false; count]; count];
    for (from, to, _) in &edges {
        let from_type = &types[from.0];
        if from.0 == to.0 && from_type.permission(&from.1).is_some() && from_type.permission(&to.1).is_some()
        {
            // An arrow from a type to itself also makes such an edge; only
            // name references count, so check the expression mentions it.
            let mentions = mentions_name(from_type.permission(&from.1).unwrap(), &to.1);
            if mentions {
                same[position(from)][position(to)] = true;
            }
        }
    }
    let mut reach_same = same.clone();
    for middle in 0..count {
        for from in 0..count {
            for to in 0..count {
                if reach_same[from][middle] && reach_same[middle][to] {
                    reach_same[from][to] = true;
                }
            }
        }
    }
    if (0..count).any(|item| reach_same[item][item]) {
        return None;
    }
    let mut reach = vec![vec![false; count]; count];
    for (from, to, _) in &edges {
        reach[position(from)][position(to)] = true;
    }
    for middle in 0..count {
        for from in 0..count {
            for to in 0..count {
                if reach[from][middle] && reach[middle][to] {
                    reach[from][to] = true;
                }
            }
        }
    }
    for (from, to, positive) in &edges {
        let (from, to) = (position(from), position(to));
        if !positive && (from == to || reach[to][from]) {
            return None;
        }
    }
    let mut strata = vec![0usize; count];
    for _ in 0..=count {
        for (from, to, positive) in &edges {
            let (from, to) = (position(from), position(to));
            strata[from] = strata[from].max(strata[to] + usize::from(!positive));
        }
    }
    Some(items.into_iter().zip(strata).collect())
}

fn mentions_name(expr: &Expr, name: &str) -> bool {
    match expr {
        Expr::Name(mentioned) => mentioned == name,
        Expr::Op(_, operands) => operands.iter().any(|operand| mentions_name(operand, name)),
        _ => false,
    }
}

/// `(type, id, name)` → subjects: the naive least fixed point.
type Solution = BTreeMap<(usize, usize, String), BTreeSet<Subject>>;

fn allowed_by(types: &[TypeModel], fact: &Fact) -> bool {
    types[fact.resource_type]
        .relation(&fact.relation)
        .is_some_and(|allowed| allowed.contains(&(fact.subject.object_type, fact.subject.relation.clone())))
}

fn reference_solution(types: &[TypeModel], facts: &[Fact], strata: &BTreeMap<ItemKey, usize>) -> Solution {
    let live: Vec<&Fact> = facts.iter().filter(|fact| fact.is_live() && allowed_by(types, fact)).collect();
    let mut solution: Solution = BTreeMap::new();
    let nodes: Vec<(usize, usize, String)> = types
        .iter()
        .enumerate()
        .flat_map(|(type_number, model)| {
            (0..IDS.len())
                .flat_map(move |id| model.names().into_iter().map(move |name| (type_number, id, name)))
        })
        .collect();
    for node in &nodes {
        solution.insert(node.clone(), BTreeSet::new());
    }
    let top = strata.values().copied().max().unwrap_or(0);
    for stratum in 0..=top {
        loop {
            let mut changed = false;
            for node in &nodes {
                if strata[&(node.0, node.2.clone())] > stratum {
                    continue;
                }
                let value = evaluate_node(types, &live, &solution, node);
                if value != solution[node] {
                    solution.insert(node.clone(), value);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
    solution
}

fn evaluate_node(
    types: &[TypeModel],
    live: &[&Fact],
    solution: &Solution,
    node: &(usize, usize, String),
) -> BTreeSet<Subject> {
    let (type_number, id, name) = node;
    let model = &types[*type_number];
    if model.relation(name).is_some() {
        let mut value = BTreeSet::new();
        for fact in live {
            if fact.resource_type == *type_number && fact.resource_id == *id && &fact.relation == name {
                value.insert(fact.subject.clone());
                if let Some(relation) = &fact.subject.relation {
                    value.extend(
                        solution[&(fact.subject.object_type, fact.subject.id, relation.clone())]
                            .iter()
                            .cloned(),
                    );
                }
            }
        }
        value
    } else {
        evaluate_expr(types, live, solution, *type_number, *id, model.permission(name).unwrap())
    }
}

fn evaluate_expr(
    types: &[TypeModel],
    live: &[&Fact],
    solution: &Solution,
    type_number: usize,
    id: usize,
    expr: &Expr,
) -> BTreeSet<Subject> {
    match expr {
        Expr::Nil => BTreeSet::new(),
        Expr::Name(name) => solution[&(type_number, id, name.clone())].clone(),
        Expr::Arrow(tupleset, target) => {
            let mut value = BTreeSet::new();
            for fact in live {
                if fact.resource_type == type_number
                    && fact.resource_id == id
                    && &fact.relation == tupleset
                    && fact.subject.relation.is_none()
                    && types[fact.subject.object_type].defines(target)
                {
                    value.extend(
                        solution[&(fact.subject.object_type, fact.subject.id, target.clone())]
                            .iter()
                            .cloned(),
                    );
                }
            }
            value
        }
        Expr::Op(operator, operands) => {
            let mut values =
                operands.iter().map(|operand| evaluate_expr(types, live, solution, type_number, id, operand));
            let first = values.next().unwrap_or_default();
            values.fold(first, |accumulated, value| match operator {
                '+' => accumulated.union(&value).cloned().collect(),
                '&' => accumulated.intersection(&value).cloned().collect(),
                _ => accumulated.difference(&value).cloned().collect(),
            })
        }
    }
}

fn subject_ref(types: &[TypeModel], subject: &Subject) -> SubjectRef {
    let object = ObjectRef::new(types[subject.object_type].name.clone(), IDS[subject.id]).unwrap();
    match &subject.relation {
        Some(relation) => SubjectRef::set(object, relation.clone()).unwrap(),
        None => SubjectRef::object(object),
    }
}

fn relationship(types: &[TypeModel], fact: &Fact) -> Relationship {
    let resource = ObjectRef::new(types[fact.resource_type].name.clone(), IDS[fact.resource_id]).unwrap();
    let relationship =
        Relationship::new(resource, fact.relation.clone(), subject_ref(types, &fact.subject)).unwrap();
    match fact.expires_at {
        Some(expires_at) => relationship.expiring_at(expires_at),
        None => relationship,
    }
}

fn run_case(values: Vec<u32>) -> Result<(), TestCaseError> {
    let mut choices = Choices { values, position: 0 };
    let types = generate_types(&mut choices);
    let text = schema_text(&types);
    let expected = expected_strata(&types);
    let parsed = Schema::parse(&text);
    let (schema, strata) = match (parsed, expected) {
        (Ok(schema), Some(strata)) => (schema, strata),
        (Err(_), None) => return Ok(()),
        (Ok(_), None) => return Err(TestCaseError::fail(format!("accepted an invalid schema:\n{text}"))),
        (Err(error), Some(_)) => {
            return Err(TestCaseError::fail(format!("refused a valid schema: {error}\n{text}")));
        }
    };
    // The printer's output parses back to the same schema.
    let reparsed = Schema::parse(&schema.to_string());
    prop_assert_eq!(reparsed.as_ref(), Ok(&schema), "printed:\n{}", schema);

    let facts = generate_facts(&mut choices, &types);
    let mut index = Index::new();
    for fact in &facts {
        index.touch(&relationship(&types, fact)).unwrap();
    }
    let solution = reference_solution(&types, &facts, &strata);
    let engine = Engine::new(&schema, &index, NOW);
    let limit = NonZeroUsize::new(1 + choices.below(3)).unwrap();
    let live: BTreeSet<String> = facts
        .iter()
        .filter(|fact| fact.is_live())
        .map(|fact| relationship(&types, fact).to_string())
        .collect();

    // The subjects some live relationship allowed by the schema names.
    let granted: BTreeSet<Subject> = facts
        .iter()
        .filter(|fact| fact.is_live() && allowed_by(&types, fact))
        .map(|fact| fact.subject.clone())
        .collect();
    let plain_subjects: Vec<Subject> = (0..types.len())
        .flat_map(|object_type| (0..IDS.len()).map(move |id| Subject { object_type, id, relation: None }))
        .collect();
    let set_subjects: BTreeSet<Subject> = facts
        .iter()
        .filter(|fact| fact.subject.relation.is_some())
        .map(|fact| fact.subject.clone())
        .collect();

    for ((type_number, id, name), holders) in &solution {
        let resource = ObjectRef::new(types[*type_number].name.clone(), IDS[*id]).unwrap();
        // check, for plain subjects and the subject sets in use.
        for subject in plain_subjects.iter().chain(&set_subjects) {
            let expected = holders.contains(subject);
            let subject_ref = subject_ref(&types, subject);
            let actual = engine.check(&resource, name, &subject_ref).unwrap();
            prop_assert_eq!(actual, expected, "check {}#{}@{}\n{}", resource, name, subject_ref, text);
            // A subject that no live, allowed relationship names is refused
            // by the fast negative path: one step, and one per relationship
            // naming it that is passed over; never a walk.
            if !granted.contains(subject) {
                let naming = facts.iter().filter(|fact| &fact.subject == subject).count() as u64;
                let budgeted = Engine::new(&schema, &index, NOW).with_budget(1 + naming);
                prop_assert_eq!(
                    budgeted.check(&resource, name, &subject_ref),
                    Ok(false),
                    "fast path {}#{}@{}\n{}",
                    resource,
                    name,
                    subject_ref,
                    text
                );
            }
            if actual && (subject.id + id) % 3 == 0 {
                let explanation = engine.explain(&resource, name, &subject_ref).unwrap().unwrap();
                prop_assert_eq!(explanation.root().resource(), &resource);
                prop_assert_eq!(explanation.root().name(), name.as_str());
                for used in explanation.relationships() {
                    prop_assert!(
                        live.contains(&used.to_string()),
                        "explanation uses {} which is not live",
                        used
                    );
                }
                let reaches_subject = explanation.steps().iter().any(|step| match step.reason() {
                    Reason::Direct { relationship } => relationship.subject() == &subject_ref,
                    _ => false,
                });
                prop_assert!(reaches_subject, "explanation does not end at the subject:\n{}", explanation);
                let steps_resolve = explanation.steps().iter().all(|step| match step.reason() {
                    Reason::SubjectSet { then, .. } => explanation.step(*then).is_some(),
                    Reason::Expression { because } => because.iter().all(|link| match link {
                        Link::SameObject { then } | Link::Arrow { then, .. } => {
                            explanation.step(*then).is_some()
                        }
                    }),
                    Reason::Direct { .. } => true,
                });
                prop_assert!(steps_resolve);
            }
        }
        // lookup_subjects, for every subject type, plain objects only.
        for (subject_type, model) in types.iter().enumerate() {
            let expected: Vec<String> = holders
                .iter()
                .filter(|subject| subject.object_type == subject_type && subject.relation.is_none())
                .map(|subject| IDS[subject.id].to_owned())
                .collect();
            let mut actual = Vec::new();
            let mut after: Option<Cursor> = None;
            loop {
                let page = engine
                    .lookup_subjects(&LookupSubjects {
                        resource: &resource,
                        permission: name,
                        subject_type: &model.name,
                        subject_relation: None,
                        after: after.as_ref(),
                        limit,
                    })
                    .unwrap();
                prop_assert!(page.items.len() <= limit.get());
                actual.extend(page.items.iter().map(|subject| subject.object_ref().id().to_owned()));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            prop_assert_eq!(
                &actual,
                &expected,
                "lookup_subjects {}#{} type {}\n{}",
                resource,
                name,
                model.name,
                text
            );
        }
    }
    // lookup_resources, for every (type, name) and plain subject.
    for (type_number, model) in types.iter().enumerate() {
        for name in model.names() {
            for subject in &plain_subjects {
                let expected: Vec<String> = (0..IDS.len())
                    .filter(|id| solution[&(type_number, *id, name.clone())].contains(subject))
                    .map(|id| IDS[id].to_owned())
                    .collect();
                let subject_ref = subject_ref(&types, subject);
                let mut actual = Vec::new();
                let mut after: Option<Cursor> = None;
                loop {
                    let page = engine
                        .lookup_resources(&LookupResources {
                            resource_type: &model.name,
                            permission: &name,
                            subject: &subject_ref,
                            after: after.as_ref(),
                            limit,
                        })
                        .unwrap();
                    actual.extend(page.items.iter().map(|object| object.id().to_owned()));
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                prop_assert_eq!(
                    &actual,
                    &expected,
                    "lookup_resources {}#{} for {}\n{}",
                    model.name,
                    name,
                    subject_ref,
                    text
                );
            }
        }
    }

    // Paging across a change: the first page of every lookup_resources
    // before one relationship is deleted, the rest after. The pages stay in
    // ascending order without duplicates, each page is right for the state
    // it was served from, and every object that has the permission in both
    // states appears.
    let first_pages =
        lookup_resources_pages(&Engine::new(&schema, &index, NOW), &types, &plain_subjects, limit);
    if facts.is_empty() {
        return Ok(());
    }
    let deleted = choices.below(facts.len());
    prop_assert!(index.delete(&relationship(&types, &facts[deleted])));
    let mut remaining = facts.clone();
    remaining.remove(deleted);
    let solution_after = reference_solution(&types, &remaining, &strata);
    let engine = Engine::new(&schema, &index, NOW);
    for ((type_number, name, subject), (first, mut after)) in first_pages {
        let holds =
            |solution: &Solution, id: usize| solution[&(type_number, id, name.clone())].contains(subject);
        let model = &types[type_number];
        let subject_ref = subject_ref(&types, subject);
        let mut seen = first.clone();
        while let Some(cursor) = after {
            let page = engine
                .lookup_resources(&LookupResources {
                    resource_type: &model.name,
                    permission: &name,
                    subject: &subject_ref,
                    after: Some(&cursor),
                    limit,
                })
                .unwrap();
            let ids: Vec<String> = page.items.iter().map(|object| object.id().to_owned()).collect();
            for id in &ids {
                let number = IDS.iter().position(|known| known == id).unwrap();
                prop_assert!(holds(&solution_after, number), "{} served after the change", id);
            }
            seen.extend(ids);
            after = page.next;
        }
        for id in &first {
            let number = IDS.iter().position(|known| known == id).unwrap();
            prop_assert!(holds(&solution, number), "{} served before the change", id);
        }
        prop_assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "ascending, once each: {:?}", seen);
        for number in
            (0..IDS.len()).filter(|&number| holds(&solution, number) && holds(&solution_after, number))
        {
            prop_assert!(
                seen.iter().any(|id| id == IDS[number]),
                "{} holds throughout but was not served: {:?}\n{}",
                IDS[number],
                seen,
                text
            );
        }
    }
    Ok(())
}

/// The first page of `lookup_resources` for every `(type, name, subject)`,
/// with its cursor.
type FirstPages<'s> = Vec<((usize, String, &'s Subject), (Vec<String>, Option<Cursor>))>;

fn lookup_resources_pages<'s>(
    engine: &Engine<'_>,
    types: &[TypeModel],
    subjects: &'s [Subject],
    limit: NonZeroUsize,
) -> FirstPages<'s> {
    let mut pages = Vec::new();
    for (type_number, model) in types.iter().enumerate() {
        for name in model.names() {
            for subject in subjects {
                let subject_ref = subject_ref(types, subject);
                let page = engine
                    .lookup_resources(&LookupResources {
                        resource_type: &model.name,
                        permission: &name,
                        subject: &subject_ref,
                        after: None,
                        limit,
                    })
                    .unwrap();
                let ids = page.items.iter().map(|object| object.id().to_owned()).collect();
                pages.push(((type_number, name.clone(), subject), (ids, page.next)));
            }
        }
    }
    pages
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, max_shrink_iters: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_the_naive_reference(values in prop::collection::vec(any::<u32>(), 0..400)) {
        run_case(values)?;
    }
}
