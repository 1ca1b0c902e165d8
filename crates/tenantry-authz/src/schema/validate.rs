//! Turns the syntax tree into a [`Schema`], refusing anything the engine
//! could not evaluate to one well-defined answer.

use std::collections::{HashMap, VecDeque};

use super::parser::{DefinitionSyntax, ExpressionSyntax, ItemSyntax, Name};
use super::{
    Allowed, Definition, Expression, Item, ItemKind, Leaf, LeafKind, Operator, Position, Schema, SchemaError,
};

/// Validates and compiles parsed definitions.
pub(super) fn validate(syntax: &[DefinitionSyntax<'_>]) -> Result<Schema, SchemaError> {
    let mut builder = Builder::default();
    builder.declare(syntax)?;
    builder.compile_relations(syntax)?;
    builder.compile_permissions(syntax)?;
    builder.check_same_object_cycles()?;
    let (strata, stratum_count) = builder.stratify()?;
    Ok(builder.finish(strata, stratum_count))
}

#[derive(Default)]
struct Builder {
    definitions: Vec<Definition>,
    definition_index: HashMap<String, u32>,
    items: Vec<Item>,
    /// Where each item's name was written, for error messages.
    positions: Vec<Position>,
}

impl Builder {
    /// Numbers definitions and items, refusing duplicate names.
    fn declare(&mut self, syntax: &[DefinitionSyntax<'_>]) -> Result<(), SchemaError> {
        let mut definition_positions: Vec<Position> = Vec::new();
        for definition in syntax {
            if let Some(&first) = self.definition_index.get(definition.name.text) {
                let first = definition_positions[first as usize];
                return Err(SchemaError::new(
                    definition.name.position,
                    format!(
                        "type `{}` is defined twice; the first definition is at line {}, column {}",
                        definition.name.text, first.line, first.column
                    ),
                ));
            }
            let number = self.definitions.len() as u32;
            self.definition_index.insert(definition.name.text.to_owned(), number);
            definition_positions.push(definition.name.position);
            let mut compiled = Definition {
                name: definition.name.text.to_owned(),
                items: Vec::new(),
                item_index: HashMap::new(),
            };
            for item in &definition.items {
                let name = item.name();
                if let Some(&first) = compiled.item_index.get(name.text) {
                    let first = self.positions[first as usize];
                    return Err(SchemaError::new(
                        name.position,
                        format!(
                            "`{}` defines `{}` twice; the first is at line {}, column {} (relations and permissions share one namespace)",
                            definition.name.text, name.text, first.line, first.column
                        ),
                    ));
                }
                let item_number = self.items.len() as u32;
                compiled.item_index.insert(name.text.to_owned(), item_number);
                compiled.items.push(item_number);
                // The kind is filled in by the compile passes; a placeholder
                // keeps item numbers dense while later items are declared.
                self.items.push(Item {
                    definition: number,
                    name: name.text.to_owned(),
                    kind: ItemKind::Relation { allowed: Vec::new() },
                });
                self.positions.push(name.position);
            }
            self.definitions.push(compiled);
        }
        Ok(())
    }

    fn qualified(&self, item: u32) -> String {
        let item = &self.items[item as usize];
        format!("{}#{}", self.definitions[item.definition as usize].name, item.name)
    }

    fn lookup(&self, definition: u32, name: &str) -> Option<u32> {
        self.definitions[definition as usize].item_index.get(name).copied()
    }

    /// Resolves every relation's allowed subject types.
    fn compile_relations(&mut self, syntax: &[DefinitionSyntax<'_>]) -> Result<(), SchemaError> {
        for (definition_number, definition) in syntax.iter().enumerate() {
            for item in &definition.items {
                let ItemSyntax::Relation { name, allowed } = item else { continue };
                let relation_label = format!("{}#{}", definition.name.text, name.text);
                let mut compiled: Vec<Allowed> = Vec::new();
                for alternative in allowed {
                    let Some(&subject_definition) = self.definition_index.get(alternative.type_name.text)
                    else {
                        return Err(SchemaError::new(
                            alternative.type_name.position,
                            format!(
                                "relation `{relation_label}` allows type `{}`, which is not defined",
                                alternative.type_name.text
                            ),
                        ));
                    };
                    let subject_relation = match alternative.relation {
                        None => None,
                        Some(relation) => Some(self.lookup(subject_definition, relation.text).ok_or_else(|| {
                            SchemaError::new(
                                relation.position,
                                format!(
                                    "relation `{relation_label}` allows `{}#{}`, but `{}` defines no relation or permission `{}`",
                                    alternative.type_name.text,
                                    relation.text,
                                    alternative.type_name.text,
                                    relation.text
                                ),
                            )
                        })?),
                    };
                    let entry = Allowed { definition: subject_definition, relation: subject_relation };
                    if compiled.contains(&entry) {
                        let written = match alternative.relation {
                            Some(relation) => format!("{}#{}", alternative.type_name.text, relation.text),
                            None => alternative.type_name.text.to_owned(),
                        };
                        return Err(SchemaError::new(
                            alternative.type_name.position,
                            format!("relation `{relation_label}` lists `{written}` twice"),
                        ));
                    }
                    compiled.push(entry);
                }
                let number = self.lookup(definition_number as u32, name.text).unwrap_or_default();
                self.items[number as usize].kind = ItemKind::Relation { allowed: compiled };
            }
        }
        Ok(())
    }

    /// Resolves every permission's expression into leaves.
    fn compile_permissions(&mut self, syntax: &[DefinitionSyntax<'_>]) -> Result<(), SchemaError> {
        for (definition_number, definition) in syntax.iter().enumerate() {
            for item in &definition.items {
                let ItemSyntax::Permission { name, expression } = item else { continue };
                let mut leaves = Vec::new();
                let context = PermissionContext { definition: definition_number as u32, permission: *name };
                let compiled = self.compile_expression(&context, expression, true, &mut leaves)?;
                let number = self.lookup(definition_number as u32, name.text).unwrap_or_default();
                self.items[number as usize].kind = ItemKind::Permission { expression: compiled, leaves };
            }
        }
        Ok(())
    }

    fn compile_expression(
        &self,
        context: &PermissionContext<'_>,
        expression: &ExpressionSyntax<'_>,
        positive: bool,
        leaves: &mut Vec<Leaf>,
    ) -> Result<Expression, SchemaError> {
        let permission_label =
            format!("{}#{}", self.definitions[context.definition as usize].name, context.permission.text);
        match expression {
            ExpressionSyntax::Nil => Ok(Expression::Nil),
            ExpressionSyntax::Reference(name) => {
                let item = self.lookup(context.definition, name.text).ok_or_else(|| {
                    SchemaError::new(
                        name.position,
                        format!(
                            "permission `{permission_label}` refers to `{}`, which `{}` does not define",
                            name.text, self.definitions[context.definition as usize].name
                        ),
                    )
                })?;
                leaves.push(Leaf { kind: LeafKind::Computed { item }, positive });
                Ok(Expression::Leaf(leaves.len() as u32 - 1))
            }
            ExpressionSyntax::Arrow { tupleset, computed } => {
                let kind = self.compile_arrow(context, &permission_label, *tupleset, *computed)?;
                leaves.push(Leaf { kind, positive });
                Ok(Expression::Leaf(leaves.len() as u32 - 1))
            }
            ExpressionSyntax::Operation { operator, operands } => {
                let mut compiled = Vec::with_capacity(operands.len());
                for (position, operand) in operands.iter().enumerate() {
                    let subtracted = *operator == Operator::Exclusion && position > 0;
                    compiled.push(self.compile_expression(
                        context,
                        operand,
                        positive && !subtracted,
                        leaves,
                    )?);
                }
                Ok(Expression::Operation { operator: *operator, operands: compiled })
            }
        }
    }

    fn compile_arrow(
        &self,
        context: &PermissionContext<'_>,
        permission_label: &str,
        tupleset: Name<'_>,
        computed: Name<'_>,
    ) -> Result<LeafKind, SchemaError> {
        let definition_name = &self.definitions[context.definition as usize].name;
        let written = format!("{}->{}", tupleset.text, computed.text);
        let tupleset_item = self.lookup(context.definition, tupleset.text).ok_or_else(|| {
            SchemaError::new(
                tupleset.position,
                format!(
                    "permission `{permission_label}` uses `{written}`, but `{definition_name}` defines no relation `{}`",
                    tupleset.text
                ),
            )
        })?;
        let ItemKind::Relation { allowed } = &self.items[tupleset_item as usize].kind else {
            return Err(SchemaError::new(
                tupleset.position,
                format!(
                    "permission `{permission_label}` uses `{written}`, but `{}` is a permission: the left side of an arrow must be a relation",
                    tupleset.text
                ),
            ));
        };
        if let Some(subject_set) =
            allowed.iter().find_map(|allowed| allowed.relation.map(|r| (allowed.definition, r)))
        {
            return Err(SchemaError::new(
                tupleset.position,
                format!(
                    "permission `{permission_label}` uses `{written}`, but relation `{definition_name}#{}` allows the subject set `{}#{}`: the left side of an arrow must be a relation of plain objects",
                    tupleset.text,
                    self.definitions[subject_set.0 as usize].name,
                    self.items[subject_set.1 as usize].name
                ),
            ));
        }
        let targets: Vec<(u32, u32)> = allowed
            .iter()
            .filter_map(|allowed| {
                self.lookup(allowed.definition, computed.text).map(|item| (allowed.definition, item))
            })
            .collect();
        if targets.is_empty() {
            let types: Vec<String> = allowed
                .iter()
                .map(|allowed| format!("`{}`", self.definitions[allowed.definition as usize].name))
                .collect();
            return Err(SchemaError::new(
                computed.position,
                format!(
                    "permission `{permission_label}` uses `{written}`, but no type that `{definition_name}#{}` allows ({}) defines `{}`",
                    tupleset.text,
                    types.join(", "),
                    computed.text
                ),
            ));
        }
        Ok(LeafKind::Arrow { tupleset: tupleset_item, computed: computed.text.to_owned(), targets })
    }

    /// Refuses a permission that refers to itself on the same object, such
    /// as `permission a = b` with `permission b = a`: it has no base case.
    /// Recursion through an arrow or a subject set moves to another object
    /// and is fine.
    fn check_same_object_cycles(&self) -> Result<(), SchemaError> {
        let edges: Vec<Vec<u32>> = self
            .items
            .iter()
            .map(|item| match &item.kind {
                ItemKind::Permission { leaves, .. } => leaves
                    .iter()
                    .filter_map(|leaf| match leaf.kind {
                        LeafKind::Computed { item }
                            if matches!(self.items[item as usize].kind, ItemKind::Permission { .. }) =>
                        {
                            Some(item)
                        }
                        _ => None,
                    })
                    .collect(),
                ItemKind::Relation { .. } => Vec::new(),
            })
            .collect();
        // Iterative depth-first search with three colours, so that a long
        // chain of permissions cannot overflow the stack.
        const WHITE: u8 = 0;
        const GREY: u8 = 1;
        const BLACK: u8 = 2;
        let mut colour = vec![WHITE; edges.len()];
        for root in 0..edges.len() {
            if colour[root] != WHITE {
                continue;
            }
            let mut path: Vec<(u32, usize)> = vec![(root as u32, 0)];
            colour[root] = GREY;
            while let Some(&(node, next_edge)) = path.last() {
                let Some(&target) = edges[node as usize].get(next_edge) else {
                    colour[node as usize] = BLACK;
                    path.pop();
                    continue;
                };
                if let Some(top) = path.last_mut() {
                    top.1 += 1;
                }
                match colour[target as usize] {
                    WHITE => {
                        colour[target as usize] = GREY;
                        path.push((target, 0));
                    }
                    GREY => {
                        let start = path.iter().position(|&(on_path, _)| on_path == target).unwrap_or(0);
                        let mut names: Vec<String> = path[start..]
                            .iter()
                            .map(|&(on_path, _)| format!("`{}`", self.items[on_path as usize].name))
                            .collect();
                        names.push(format!("`{}`", self.items[target as usize].name));
                        return Err(SchemaError::new(
                            self.positions[target as usize],
                            format!(
                                "permission `{}` refers to itself on the same object: {}; give it a base case that does not depend on itself",
                                self.qualified(target),
                                names.join(" → ")
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Every dependency edge between items, with whether it is monotone
    /// (`true`) or on the right side of an exclusion (`false`).
    fn dependency_edges(&self) -> Vec<Vec<(u32, bool)>> {
        self.items
            .iter()
            .map(|item| match &item.kind {
                ItemKind::Relation { allowed } => allowed
                    .iter()
                    .filter_map(|allowed| allowed.relation)
                    .map(|target| (target, true))
                    .collect(),
                ItemKind::Permission { leaves, .. } => leaves
                    .iter()
                    .flat_map(|leaf| {
                        let targets: Vec<u32> = match &leaf.kind {
                            LeafKind::Computed { item } => vec![*item],
                            LeafKind::Arrow { targets, .. } => {
                                targets.iter().map(|&(_, item)| item).collect()
                            }
                        };
                        targets.into_iter().map(move |target| (target, leaf.positive))
                    })
                    .collect(),
            })
            .collect()
    }

    /// Computes strata (strongly connected components in dependency-first
    /// order) and refuses recursion through the right side of an exclusion.
    fn stratify(&self) -> Result<(Vec<u32>, u32), SchemaError> {
        let edges = self.dependency_edges();
        let plain: Vec<Vec<u32>> =
            edges.iter().map(|targets| targets.iter().map(|&(target, _)| target).collect()).collect();
        let (component, count) = strongly_connected_components(&plain);
        for (source, targets) in edges.iter().enumerate() {
            for &(target, monotone) in targets {
                if monotone || component[source] != component[target as usize] {
                    continue;
                }
                if target as usize == source {
                    return Err(SchemaError::new(
                        self.positions[source],
                        format!(
                            "permission `{}` excludes itself (on the objects an arrow or subject set leads to): an exclusion cannot be part of a recursive definition, because its answer would depend on itself",
                            self.qualified(target),
                        ),
                    ));
                }
                let path = self.path_within(&plain, &component, target, source as u32);
                let path: Vec<String> =
                    path.iter().map(|&item| format!("`{}`", self.qualified(item))).collect();
                return Err(SchemaError::new(
                    self.positions[source],
                    format!(
                        "permission `{}` excludes `{}`, which depends on `{}` in turn ({}): an exclusion cannot be part of a recursive definition, because its answer would depend on itself",
                        self.qualified(source as u32),
                        self.qualified(target),
                        self.qualified(source as u32),
                        path.join(" → ")
                    ),
                ));
            }
        }
        Ok((component, count))
    }

    /// A shortest path from `from` to `to` inside one component.
    fn path_within(&self, edges: &[Vec<u32>], component: &[u32], from: u32, to: u32) -> Vec<u32> {
        let mut previous: HashMap<u32, u32> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(node) = queue.pop_front() {
            if node == to {
                break;
            }
            for &next in &edges[node as usize] {
                if component[next as usize] == component[from as usize]
                    && next != from
                    && !previous.contains_key(&next)
                {
                    previous.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        let mut path = vec![to];
        let mut node = to;
        while let Some(&before) = previous.get(&node) {
            path.push(before);
            node = before;
            if path.len() > edges.len() {
                break;
            }
        }
        if node != from {
            path.push(from);
        }
        path.reverse();
        path
    }

    fn finish(self, strata: Vec<u32>, stratum_count: u32) -> Schema {
        let mut computed_dependents: Vec<Vec<u32>> = vec![Vec::new(); self.items.len()];
        let mut arrow_dependents: Vec<Vec<(u32, u32)>> = vec![Vec::new(); self.items.len()];
        for (number, item) in self.items.iter().enumerate() {
            let ItemKind::Permission { leaves, .. } = &item.kind else { continue };
            let permission = number as u32;
            for leaf in leaves.iter().filter(|leaf| leaf.positive) {
                match &leaf.kind {
                    LeafKind::Computed { item } => {
                        let dependents = &mut computed_dependents[*item as usize];
                        if !dependents.contains(&permission) {
                            dependents.push(permission);
                        }
                    }
                    LeafKind::Arrow { tupleset, targets, .. } => {
                        for &(_, target) in targets {
                            let dependents = &mut arrow_dependents[target as usize];
                            if !dependents.contains(&(permission, *tupleset)) {
                                dependents.push((permission, *tupleset));
                            }
                        }
                    }
                }
            }
        }
        Schema {
            identity: super::next_schema_identity(),
            definitions: self.definitions,
            definition_index: self.definition_index,
            items: self.items,
            strata,
            stratum_count,
            computed_dependents,
            arrow_dependents,
        }
    }
}

struct PermissionContext<'src> {
    definition: u32,
    permission: Name<'src>,
}

/// Tarjan's algorithm with an explicit stack. Components are numbered in the
/// order Tarjan completes them, which is dependency-first: every edge leads to
/// the same component or to one with a lower number.
fn strongly_connected_components(edges: &[Vec<u32>]) -> (Vec<u32>, u32) {
    const UNVISITED: u32 = u32::MAX;
    let count = edges.len();
    let mut index = vec![UNVISITED; count];
    let mut low = vec![0u32; count];
    let mut on_stack = vec![false; count];
    let mut component = vec![UNVISITED; count];
    let mut stack: Vec<u32> = Vec::new();
    let mut calls: Vec<(u32, usize)> = Vec::new();
    let mut next_index = 0u32;
    let mut components = 0u32;
    for root in 0..count {
        if index[root] != UNVISITED {
            continue;
        }
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root as u32);
        on_stack[root] = true;
        calls.push((root as u32, 0));
        while let Some(&(node, next_edge)) = calls.last() {
            let node_usize = node as usize;
            if let Some(&target) = edges[node_usize].get(next_edge) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                let target_usize = target as usize;
                if index[target_usize] == UNVISITED {
                    index[target_usize] = next_index;
                    low[target_usize] = next_index;
                    next_index += 1;
                    stack.push(target);
                    on_stack[target_usize] = true;
                    calls.push((target, 0));
                } else if on_stack[target_usize] {
                    low[node_usize] = low[node_usize].min(index[target_usize]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent as usize] = low[parent as usize].min(low[node_usize]);
            }
            if low[node_usize] == index[node_usize] {
                while let Some(member) = stack.pop() {
                    on_stack[member as usize] = false;
                    component[member as usize] = components;
                    if member == node {
                        break;
                    }
                }
                components += 1;
            }
        }
    }
    (component, components)
}

#[cfg(test)]
mod tests {
    use super::strongly_connected_components;

    #[test]
    fn components_come_dependency_first() {
        // 0 -> 1 <-> 2 -> 3
        let edges = vec![vec![1], vec![2], vec![1, 3], vec![]];
        let (component, count) = strongly_connected_components(&edges);
        assert_eq!(count, 3);
        assert_eq!(component[1], component[2]);
        assert!(component[3] < component[1]);
        assert!(component[1] < component[0]);
    }
}
