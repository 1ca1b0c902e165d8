//! Objects, subjects and relationships: the values the index stores and the
//! engine answers questions about. Their constructors reject malformed names
//! and ids, so code past them never re-checks.

use std::fmt;
use std::str::FromStr;

/// The longest type or relation name accepted, in bytes. Names are schema
/// identifiers; a bound keeps error messages and interning tables small.
pub const MAX_NAME_LEN: usize = 64;

/// The longest object id accepted, in bytes (the same bound as SpiceDB's).
pub const MAX_ID_LEN: usize = 1024;

/// Why a name, an id or a textual relationship was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// A type or relation name is not an identifier.
    #[error(
        "invalid {what} `{name}`: expected a letter or `_` followed by letters, digits or `_`, at most {MAX_NAME_LEN} bytes"
    )]
    InvalidName {
        /// What the name was for: "type" or "relation".
        what: &'static str,
        /// The rejected name.
        name: String,
    },
    /// An object id is empty, too long, or has a character outside the allowed set.
    #[error(
        "invalid object id `{id}`: expected 1 to {MAX_ID_LEN} characters from `A-Z a-z 0-9 _ - / | = + .`"
    )]
    InvalidId {
        /// The rejected id.
        id: String,
    },
    /// A textual relationship or subject does not have the expected shape.
    #[error("invalid {what} `{text}`: expected {expected}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// The rejected text.
        text: String,
        /// The shape that was expected.
        expected: &'static str,
    },
}

/// Whether `name` is an identifier: `[A-Za-z_][A-Za-z0-9_]*`, at most
/// [`MAX_NAME_LEN`] bytes. The schema language uses the same rule.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {}
        _ => return false,
    }
    name.len() <= MAX_NAME_LEN && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

fn is_id_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'/' | b'|' | b'=' | b'+' | b'.')
}

fn check_name(what: &'static str, name: &str) -> Result<(), RefError> {
    if is_identifier(name) { Ok(()) } else { Err(RefError::InvalidName { what, name: name.to_owned() }) }
}

fn check_id(id: &str) -> Result<(), RefError> {
    if !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(is_id_byte) {
        Ok(())
    } else {
        Err(RefError::InvalidId { id: id.to_owned() })
    }
}

/// An object: a type defined in the schema and an id, written `type:id`
/// (for example `workspace:ws_01HZX`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    object_type: String,
    id: String,
}

impl ObjectRef {
    /// An object of `object_type` with `id`, or an error if either is malformed.
    pub fn new(object_type: impl Into<String>, id: impl Into<String>) -> Result<Self, RefError> {
        let object_type = object_type.into();
        let id = id.into();
        check_name("type", &object_type)?;
        check_id(&id)?;
        Ok(Self { object_type, id })
    }

    /// An object from parts that were validated when they entered the index.
    pub(crate) fn trusted(object_type: &str, id: &str) -> Self {
        Self { object_type: object_type.to_owned(), id: id.to_owned() }
    }

    /// The object's type, a definition name of the schema.
    pub fn object_type(&self) -> &str {
        &self.object_type
    }

    /// The object's id, unique within its type.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.object_type, self.id)
    }
}

impl FromStr for ObjectRef {
    type Err = RefError;

    /// Parses `type:id`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (object_type, id) = text.split_once(':').ok_or_else(|| RefError::Malformed {
            what: "object",
            text: text.to_owned(),
            expected: "`type:id`",
        })?;
        Self::new(object_type, id)
    }
}

/// A subject: either an object (`user:alice`) or a subject set, the subjects
/// that hold a relation or permission on an object (`group:eng#member`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectRef {
    object: ObjectRef,
    relation: Option<String>,
}

impl SubjectRef {
    /// The object itself as a subject.
    pub fn object(object: ObjectRef) -> Self {
        Self { object, relation: None }
    }

    /// The subject set `object#relation`, or an error if `relation` is not a name.
    pub fn set(object: ObjectRef, relation: impl Into<String>) -> Result<Self, RefError> {
        let relation = relation.into();
        check_name("relation", &relation)?;
        Ok(Self { object, relation: Some(relation) })
    }

    /// A subject set from parts validated when they entered the index.
    pub(crate) fn trusted_set(object: ObjectRef, relation: &str) -> Self {
        Self { object, relation: Some(relation.to_owned()) }
    }

    /// The subject's object.
    pub fn object_ref(&self) -> &ObjectRef {
        &self.object
    }

    /// The relation or permission of a subject set; `None` for a plain object.
    pub fn relation(&self) -> Option<&str> {
        self.relation.as_deref()
    }
}

impl From<ObjectRef> for SubjectRef {
    fn from(object: ObjectRef) -> Self {
        Self::object(object)
    }
}

impl fmt::Display for SubjectRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.relation {
            Some(relation) => write!(formatter, "{}#{relation}", self.object),
            None => write!(formatter, "{}", self.object),
        }
    }
}

impl FromStr for SubjectRef {
    type Err = RefError;

    /// Parses `type:id` or `type:id#relation`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('#') {
            Some((object, relation)) => Self::set(object.parse()?, relation),
            None => Ok(Self::object(text.parse()?)),
        }
    }
}

/// A relationship: `resource#relation@subject`, optionally expiring.
///
/// In the [`Index`](crate::Index), a relationship is identified by its
/// resource, relation and subject; the expiry is an attribute of it
/// (touching it again replaces the expiry, deleting it ignores the expiry).
/// `==` compares the expiry too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relationship {
    resource: ObjectRef,
    relation: String,
    subject: SubjectRef,
    expires_at: Option<i64>,
}

impl Relationship {
    /// A relationship that never expires, or an error if `relation` is not a name.
    pub fn new(
        resource: ObjectRef,
        relation: impl Into<String>,
        subject: SubjectRef,
    ) -> Result<Self, RefError> {
        let relation = relation.into();
        check_name("relation", &relation)?;
        Ok(Self { resource, relation, subject, expires_at: None })
    }

    /// A relationship from parts validated when they entered the index.
    pub(crate) fn trusted(
        resource: ObjectRef,
        relation: &str,
        subject: SubjectRef,
        expires_at: Option<i64>,
    ) -> Self {
        Self { resource, relation: relation.to_owned(), subject, expires_at }
    }

    /// The same relationship, expiring at `expires_at` (microseconds since the
    /// Unix epoch). From that instant on it grants nothing.
    #[must_use]
    pub fn expiring_at(mut self, expires_at: i64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// The object the relationship is about.
    pub fn resource(&self) -> &ObjectRef {
        &self.resource
    }

    /// The relation the subject holds on the resource.
    pub fn relation(&self) -> &str {
        &self.relation
    }

    /// Who holds the relation.
    pub fn subject(&self) -> &SubjectRef {
        &self.subject
    }

    /// When the relationship stops granting anything, in microseconds since
    /// the Unix epoch; `None` if never.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }
}

impl fmt::Display for Relationship {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}#{}@{}", self.resource, self.relation, self.subject)
    }
}

impl FromStr for Relationship {
    type Err = RefError;

    /// Parses `type:id#relation@subject`, the notation SpiceDB and Zanzibar
    /// use, for tests, logs and the CLI. The result never expires.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || RefError::Malformed {
            what: "relationship",
            text: text.to_owned(),
            expected: "`type:id#relation@type:id` or `type:id#relation@type:id#relation`",
        };
        let (resource_part, subject) = text.split_once('@').ok_or_else(malformed)?;
        let (resource, relation) = resource_part.split_once('#').ok_or_else(malformed)?;
        Self::new(resource.parse()?, relation, subject.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationships_round_trip_through_text() {
        for text in ["workspace:w1#editor@group:g_1#member", "doc:a/b#viewer@user:alice"] {
            let relationship: Relationship = text.parse().unwrap();
            assert_eq!(relationship.to_string(), text);
        }
    }

    #[test]
    fn malformed_parts_are_rejected_with_the_reason() {
        let cases = [
            ("workspace#editor@user:u", "invalid object `workspace`: expected `type:id`"),
            ("workspace:w#editor", "invalid relationship `workspace:w#editor`"),
            ("workspace:w#1editor@user:u", "invalid relation `1editor`"),
            ("workspace:w#editor@user:", "invalid object id ``"),
            ("workspace:w w#editor@user:u", "invalid object id `w w`"),
            ("work-space:w#editor@user:u", "invalid type `work-space`"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<Relationship>().unwrap_err().to_string();
            assert!(error.starts_with(expected), "{text}: {error}");
        }
    }

    #[test]
    fn names_are_bounded() {
        assert!(is_identifier(&"a".repeat(MAX_NAME_LEN)));
        assert!(!is_identifier(&"a".repeat(MAX_NAME_LEN + 1)));
        assert!(ObjectRef::new("user", "x".repeat(MAX_ID_LEN + 1)).is_err());
    }
}
