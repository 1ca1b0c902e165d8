//! The schema language: parsing, validation, and the compiled form the engine
//! evaluates.
//!
//! ```text
//! definition user {}
//!
//! definition group {
//!     relation member: user | group#member   // nested groups
//!     relation admin: user
//!     permission manage = admin
//! }
//!
//! definition document {
//!     relation parent: document
//!     relation viewer: user | group#member
//!     relation banned: user
//!     permission view = (viewer + parent->view) - banned
//! }
//! ```
//!
//! * `relation name: a | b#r` lists the subject types a relationship of the
//!   relation may name: objects of type `a`, or subject sets `b:id#r`.
//! * `permission name = expression` combines relations and permissions of the
//!   same object with `+` (union), `&` (intersection) and `-` (exclusion), and
//!   follows relationships with arrows: `parent->view` is `view` on each
//!   object that `parent` names. `nil` is the empty set; `()` group.
//! * One operator per level: `a + b - c` is refused as ambiguous; write
//!   `(a + b) - c`. SpiceDB gives exclusion the loosest binding, so there
//!   `a - b + c` means `a - (b + c)`; refusing the mix means that every schema
//!   accepted here means the same in SpiceDB and to a reader.
//! * `//` and `/* */` are comments; `;` after an item is optional.
//!
//! A schema is accepted only if every type, relation and permission it names
//! exists, every arrow starts from a relation of plain objects (no subject
//! sets) and ends at a name that one of those types defines, no name is
//! defined twice, no permission refers to itself on the same object, and no
//! recursion passes through the right side of an exclusion (which would have
//! no well-defined answer). Recursion across objects (`parent->view` inside
//! `view`, `group#member` inside `member`) is allowed: evaluation handles
//! cycles in the data.

mod lexer;
mod parser;
mod validate;

use std::collections::HashMap;
use std::fmt;

pub use parser::MAX_EXPRESSION_NESTING;

use crate::model::Relationship;

/// A line and column in schema text, both counted from 1; columns count
/// characters, as editors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1, in characters.
    pub column: u32,
}

/// Why schema text was rejected: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {}, column {}: {message}", position.line, position.column)]
pub struct SchemaError {
    position: Position,
    message: String,
}

impl SchemaError {
    fn new(position: Position, message: String) -> Self {
        Self { position, message }
    }

    /// Where the problem is.
    pub fn position(&self) -> Position {
        self.position
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why a relationship does not fit a schema (see [`Schema::check_relationship`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationshipError {
    /// The resource's type is not defined.
    #[error("the schema defines no type `{object_type}`")]
    UnknownType {
        /// The undefined type.
        object_type: String,
    },
    /// The resource's type has no relation of that name (permissions are
    /// computed, never stored).
    #[error("`{object_type}` has no relation `{relation}`")]
    UnknownRelation {
        /// The resource's type.
        object_type: String,
        /// The missing relation.
        relation: String,
    },
    /// The relation does not allow the subject's type (or subject set).
    #[error("relation `{object_type}#{relation}` does not allow subjects of type `{subject_type}`")]
    SubjectNotAllowed {
        /// The resource's type.
        object_type: String,
        /// The relation.
        relation: String,
        /// The subject's type, with `#relation` for a subject set.
        subject_type: String,
    },
}

/// The three set operators of permission expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `+`: in either operand.
    Union,
    /// `&`: in every operand.
    Intersection,
    /// `-`: in the first operand and in none of the others.
    Exclusion,
}

impl Operator {
    /// How the operator is written.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Union => "+",
            Self::Intersection => "&",
            Self::Exclusion => "-",
        }
    }
}

/// A parsed and validated schema.
///
/// Internally every relation and permission of every definition is an
/// *item* with a dense number, so the engine can key its work by
/// `(object, item)` integers instead of strings.
#[derive(Debug, Clone)]
pub struct Schema {
    /// A number no other schema parsed in this process has (a clone keeps
    /// it: same content). Indexes key the lookup results they keep by it,
    /// so results computed under one schema never answer under another.
    pub(crate) identity: u64,
    pub(crate) definitions: Vec<Definition>,
    pub(crate) definition_index: HashMap<String, u32>,
    pub(crate) items: Vec<Item>,
    /// Per item: its stratum, the position of its strongly connected
    /// component in dependency-first order. Everything an item depends on has
    /// the same stratum (recursion, monotone) or a lower one; the right side
    /// of an exclusion always has a lower one.
    pub(crate) strata: Vec<u32>,
    /// How many strata there are.
    pub(crate) stratum_count: u32,
    /// Per item: the permissions of the same definition that use it outside
    /// the right side of an exclusion (reverse edges for lookups).
    pub(crate) computed_dependents: Vec<Vec<u32>>,
    /// Per item: `(permission, tupleset relation)` pairs whose arrow
    /// `tupleset->name` can reach this item, outside exclusions' right sides.
    pub(crate) arrow_dependents: Vec<Vec<(u32, u32)>>,
}

/// Schemas are equal when their content is: the identity only tells
/// separately parsed ones apart for caching.
impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.definitions == other.definitions
            && self.definition_index == other.definition_index
            && self.items == other.items
            && self.strata == other.strata
            && self.stratum_count == other.stratum_count
            && self.computed_dependents == other.computed_dependents
            && self.arrow_dependents == other.arrow_dependents
    }
}

impl Eq for Schema {}

/// The next [`Schema::identity`]: process-wide, never reused.
pub(crate) fn next_schema_identity() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// One `definition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Definition {
    pub(crate) name: String,
    /// Its items in source order.
    pub(crate) items: Vec<u32>,
    pub(crate) item_index: HashMap<String, u32>,
}

/// A relation or permission of a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) definition: u32,
    pub(crate) name: String,
    pub(crate) kind: ItemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemKind {
    Relation { allowed: Vec<Allowed> },
    Permission { expression: Expression, leaves: Vec<Leaf> },
}

/// A subject type a relation allows: objects of `definition`, or the
/// subject sets `definition:id#relation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowed {
    pub(crate) definition: u32,
    pub(crate) relation: Option<u32>,
}

/// A compiled expression; leaves are numbered per permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expression {
    Nil,
    Leaf(u32),
    /// For exclusion, `operands[0]` is the base and the rest are subtracted.
    Operation {
        operator: Operator,
        operands: Vec<Expression>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leaf {
    pub(crate) kind: LeafKind,
    /// False when the leaf sits on the right side of some exclusion: then
    /// more of it can mean less of the permission.
    pub(crate) positive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeafKind {
    /// A relation or permission of the same object.
    Computed { item: u32 },
    /// `tupleset->computed`: for each object the relation names whose type
    /// defines `computed`, that item (`targets` maps definition to item).
    Arrow { tupleset: u32, computed: String, targets: Vec<(u32, u32)> },
}

impl Schema {
    /// Parses and validates schema text.
    ///
    /// The error points at the first problem, by line and column, and says
    /// what is wrong in terms of the schema's own names.
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let definitions = parser::parse(text)?;
        validate::validate(&definitions)
    }

    /// The names of the defined types, in source order.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.definitions.iter().map(|definition| definition.name.as_str())
    }

    /// Whether `object_type` defines a relation or permission `name`.
    pub fn defines(&self, object_type: &str, name: &str) -> bool {
        self.item(object_type, name).is_some()
    }

    /// Whether the relationship fits the schema: its resource type exists,
    /// its relation is a relation (not a permission) of that type, and the
    /// relation allows its subject's type or subject set. Relationships that
    /// do not fit are still stored by an [`Index`](crate::Index), but
    /// evaluation ignores them; stores use this to refuse them up front, and
    /// to find the relationships a new schema would orphan.
    pub fn check_relationship(&self, relationship: &Relationship) -> Result<(), RelationshipError> {
        let resource_type = relationship.resource().object_type();
        let definition = self
            .definition_index
            .get(resource_type)
            .ok_or_else(|| RelationshipError::UnknownType { object_type: resource_type.to_owned() })?;
        let unknown_relation = || RelationshipError::UnknownRelation {
            object_type: resource_type.to_owned(),
            relation: relationship.relation().to_owned(),
        };
        let item = self.definitions[*definition as usize]
            .item_index
            .get(relationship.relation())
            .ok_or_else(unknown_relation)?;
        let ItemKind::Relation { allowed } = &self.items[*item as usize].kind else {
            return Err(unknown_relation());
        };
        let subject = relationship.subject();
        let fits = allowed.iter().any(|allowed| {
            self.definitions[allowed.definition as usize].name == subject.object_ref().object_type()
                && allowed.relation.map(|item| self.items[item as usize].name.as_str()) == subject.relation()
        });
        if fits {
            Ok(())
        } else {
            let subject_type = match subject.relation() {
                Some(relation) => format!("{}#{relation}", subject.object_ref().object_type()),
                None => subject.object_ref().object_type().to_owned(),
            };
            Err(RelationshipError::SubjectNotAllowed {
                object_type: resource_type.to_owned(),
                relation: relationship.relation().to_owned(),
                subject_type,
            })
        }
    }

    pub(crate) fn definition(&self, object_type: &str) -> Option<u32> {
        self.definition_index.get(object_type).copied()
    }

    pub(crate) fn item(&self, object_type: &str, name: &str) -> Option<u32> {
        let definition = self.definition(object_type)?;
        self.definitions[definition as usize].item_index.get(name).copied()
    }

    pub(crate) fn item_name(&self, item: u32) -> &str {
        &self.items[item as usize].name
    }

    pub(crate) fn definition_name(&self, definition: u32) -> &str {
        &self.definitions[definition as usize].name
    }
}

/// Prints the schema in canonical form: one item per line, four-space
/// indentation, parentheses around every nested operation. Parsing the
/// output gives back an equal schema.
impl fmt::Display for Schema {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (number, definition) in self.definitions.iter().enumerate() {
            if number > 0 {
                formatter.write_str("\n")?;
            }
            if definition.items.is_empty() {
                writeln!(formatter, "definition {} {{}}", definition.name)?;
                continue;
            }
            writeln!(formatter, "definition {} {{", definition.name)?;
            for &item in &definition.items {
                let item = &self.items[item as usize];
                match &item.kind {
                    ItemKind::Relation { allowed } => {
                        write!(formatter, "    relation {}: ", item.name)?;
                        for (position, allowed) in allowed.iter().enumerate() {
                            if position > 0 {
                                formatter.write_str(" | ")?;
                            }
                            formatter.write_str(self.definition_name(allowed.definition))?;
                            if let Some(relation) = allowed.relation {
                                write!(formatter, "#{}", self.item_name(relation))?;
                            }
                        }
                        formatter.write_str("\n")?;
                    }
                    ItemKind::Permission { expression, leaves } => {
                        write!(formatter, "    permission {} = ", item.name)?;
                        self.write_expression(formatter, expression, leaves, false)?;
                        formatter.write_str("\n")?;
                    }
                }
            }
            formatter.write_str("}\n")?;
        }
        Ok(())
    }
}

impl Schema {
    fn write_expression(
        &self,
        formatter: &mut fmt::Formatter<'_>,
        expression: &Expression,
        leaves: &[Leaf],
        nested: bool,
    ) -> fmt::Result {
        match expression {
            Expression::Nil => formatter.write_str("nil"),
            Expression::Leaf(leaf) => match leaves.get(*leaf as usize).map(|leaf| &leaf.kind) {
                Some(LeafKind::Computed { item }) => formatter.write_str(self.item_name(*item)),
                Some(LeafKind::Arrow { tupleset, computed, .. }) => {
                    write!(formatter, "{}->{computed}", self.item_name(*tupleset))
                }
                // Leaves are numbered when compiling, so every number exists.
                None => formatter.write_str("nil"),
            },
            Expression::Operation { operator, operands } => {
                if nested {
                    formatter.write_str("(")?;
                }
                for (position, operand) in operands.iter().enumerate() {
                    if position > 0 {
                        write!(formatter, " {} ", operator.symbol())?;
                    }
                    self.write_expression(formatter, operand, leaves, true)?;
                }
                if nested {
                    formatter.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}
