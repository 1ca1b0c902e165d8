//! Wire types of the authorization API: objects, subjects, consistency,
//! checks, lookups, expand, relationships and the schema.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenantry_authz::{
    Expansion, ExpansionNode, Explanation, Link, ObjectRef, Reason, Relationship, SubjectRef,
};
use tenantry_core::relationship::{timestamp_from_micros, timestamp_micros};
use tenantry_core::{Consistency, RevisionToken};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorCode};

/// An object: a type of the schema and an id, `{"type": "workspace", "id": "ws_..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectDto {
    /// A type the schema defines.
    #[serde(rename = "type")]
    #[schema(example = "workspace")]
    pub object_type: String,
    /// The object's id: 1 to 1024 characters from `A-Z a-z 0-9 _ - / | = + .`.
    #[schema(example = "ws_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
}

impl ObjectDto {
    /// The engine's object, or a 422 on `field`.
    pub fn parse(&self, field: &str) -> Result<ObjectRef, ApiError> {
        ObjectRef::new(&self.object_type, &self.id)
            .map_err(|error| ApiError::for_field(ErrorCode::InvalidField, field, error))
    }
}

impl From<&ObjectRef> for ObjectDto {
    fn from(object: &ObjectRef) -> Self {
        Self { object_type: object.object_type().to_owned(), id: object.id().to_owned() }
    }
}

/// A subject: an object, or with `relation` the set of subjects holding that
/// relation on it (`{"type": "group", "id": "grp_...", "relation": "member"}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectDto {
    /// A type the schema defines.
    #[serde(rename = "type")]
    #[schema(example = "user")]
    pub object_type: String,
    /// The subject's id.
    #[schema(example = "usr_01J9Z8Y7X6W5V4T3S2R1Q0P9N8")]
    pub id: String,
    /// For a subject set: the relation whose subjects are meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

impl SubjectDto {
    /// The engine's subject, or a 422 on `field`.
    pub fn parse(&self, field: &str) -> Result<SubjectRef, ApiError> {
        let invalid = |error| ApiError::for_field(ErrorCode::InvalidField, field, error);
        let object = ObjectRef::new(&self.object_type, &self.id).map_err(invalid)?;
        match &self.relation {
            None => Ok(SubjectRef::object(object)),
            Some(relation) => SubjectRef::set(object, relation).map_err(invalid),
        }
    }
}

impl From<&SubjectRef> for SubjectDto {
    fn from(subject: &SubjectRef) -> Self {
        let object = subject.object_ref();
        Self {
            object_type: object.object_type().to_owned(),
            id: object.id().to_owned(),
            relation: subject.relation().map(str::to_owned),
        }
    }
}

/// How fresh an answer must be: `"minimize_latency"` (the default: what the
/// answering process has, no older than its staleness bound),
/// `"fully_consistent"` (the newest committed state), or
/// `{"at_least_as_fresh": "<revision>"}` (at least the state a `revision`
/// returned by an earlier response names).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConsistencyDto {
    /// What the answering process has.
    MinimizeLatency,
    /// The newest committed state.
    FullyConsistent,
    /// At least as fresh as the revision token.
    AtLeastAsFresh(String),
}

impl ConsistencyDto {
    /// The domain's consistency; absent means minimize latency.
    pub fn parse(consistency: Option<&Self>) -> Result<Consistency, ApiError> {
        Ok(match consistency {
            None | Some(Self::MinimizeLatency) => Consistency::MinimizeLatency,
            Some(Self::FullyConsistent) => Consistency::FullyConsistent,
            Some(Self::AtLeastAsFresh(token)) => Consistency::AtLeastAsFresh(
                RevisionToken::parse(token, "consistency.at_least_as_fresh").map_err(ApiError::from)?,
            ),
        })
    }
}

/// The body of `POST /v1/permissions/check`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckPermissionRequest {
    /// The object asked about.
    pub resource: ObjectDto,
    /// A permission or relation of the resource's type.
    #[schema(example = "edit")]
    pub permission: String,
    /// Who is asking. Anyone may ask about themselves; asking about another
    /// subject needs `manage` on the tenant.
    pub subject: SubjectDto,
    /// How fresh the answer must be.
    #[serde(default)]
    pub consistency: Option<ConsistencyDto>,
    /// Whether to explain a yes: the relationships that grant it.
    #[serde(default)]
    pub explain: bool,
}

/// The answer of `POST /v1/permissions/check`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckPermissionResponse {
    /// Whether the subject has the permission.
    pub allowed: bool,
    /// The revision the answer reflects; pass it as `at_least_as_fresh` (or
    /// in `X-Tenantry-Revision`) to read at least this state elsewhere.
    pub revision: String,
    /// With `explain` and a yes: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<ExplanationDto>,
}

/// Why a check is allowed: a proof whose steps lead from the question down
/// to relationships naming the subject.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExplanationDto {
    /// The relationships the proof rests on, each once, from the resource
    /// down to the subject, as `type:id#relation@type:id[#relation]`.
    pub relationships: Vec<String>,
    /// Every step, the question first; `then` indexes into this list.
    pub steps: Vec<ExplanationStepDto>,
}

/// One proven fact of an explanation: the subject holds `name` on `resource`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExplanationStepDto {
    /// The object.
    pub resource: ObjectDto,
    /// The relation or permission held.
    pub name: String,
    /// `direct` (a relationship names the subject), `subject_set` (a
    /// relationship names a set holding the subject) or `expression` (the
    /// permission's expression holds through `then`).
    pub reason: &'static str,
    /// The relationship of a `direct` or `subject_set` step, or the ones
    /// arrows follow.
    pub relationships: Vec<String>,
    /// The steps this one rests on.
    pub then: Vec<usize>,
}

impl From<&Explanation> for ExplanationDto {
    fn from(explanation: &Explanation) -> Self {
        let steps = explanation
            .steps()
            .iter()
            .map(|step| {
                let (reason, relationships, then) = match step.reason() {
                    Reason::Direct { relationship } => ("direct", vec![relationship.to_string()], Vec::new()),
                    Reason::SubjectSet { relationship, then } => {
                        ("subject_set", vec![relationship.to_string()], vec![then.index()])
                    }
                    Reason::Expression { because } => {
                        let mut relationships = Vec::new();
                        let mut then = Vec::new();
                        for link in because {
                            match link {
                                Link::SameObject { then: step } => then.push(step.index()),
                                Link::Arrow { relationship, then: step } => {
                                    relationships.push(relationship.to_string());
                                    then.push(step.index());
                                }
                            }
                        }
                        ("expression", relationships, then)
                    }
                };
                ExplanationStepDto {
                    resource: step.resource().into(),
                    name: step.name().to_owned(),
                    reason,
                    relationships,
                    then,
                }
            })
            .collect();
        Self {
            relationships: explanation.relationships().into_iter().map(ToString::to_string).collect(),
            steps,
        }
    }
}

/// The most questions one bulk check may ask.
pub const MAX_BULK_CHECKS: usize = 1000;

/// One question of a bulk check.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCheckItem {
    /// The object asked about.
    pub resource: ObjectDto,
    /// A permission or relation of the resource's type; any other text is
    /// answered in this item's `error`, not refused.
    pub permission: String,
    /// Who is asking.
    pub subject: SubjectDto,
}

/// The body of `POST /v1/permissions/check-bulk`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCheckRequest {
    /// 1 to 1000 questions, answered at one revision.
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<BulkCheckItem>,
    /// How fresh the answers must be.
    #[serde(default)]
    pub consistency: Option<ConsistencyDto>,
}

/// One answer of a bulk check: `allowed`, or the error of a question that
/// names something the schema does not define.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkCheckResult {
    /// Whether the subject has the permission; absent with `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    /// Why this question could not be answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of `POST /v1/permissions/check-bulk`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkCheckResponse {
    /// One result per question, in order.
    pub results: Vec<BulkCheckResult>,
    /// The revision every answer reflects.
    pub revision: String,
}

/// The body of `POST /v1/permissions/lookup-resources`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupResourcesRequest {
    /// The type of the objects wanted.
    #[schema(example = "workspace")]
    pub resource_type: String,
    /// The permission or relation they must grant.
    #[schema(example = "view")]
    pub permission: String,
    /// To whom. Anyone may ask about themselves; another subject needs
    /// `manage` on the tenant.
    pub subject: SubjectDto,
    /// How fresh the answer must be.
    #[serde(default)]
    pub consistency: Option<ConsistencyDto>,
    /// The most results, 1 to 1000; 100 when absent.
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The answer of `POST /v1/permissions/lookup-resources`: complete, in
/// ascending id order, one page at a time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LookupResourcesResponse {
    /// The objects on this page.
    pub resources: Vec<ObjectDto>,
    /// Pass as `cursor` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// The revision the answer reflects (the same for every page asked with
    /// `at_least_as_fresh` of it).
    pub revision: String,
}

/// The body of `POST /v1/permissions/lookup-subjects`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupSubjectsRequest {
    /// The object asked about.
    pub resource: ObjectDto,
    /// The permission or relation the subjects must hold.
    pub permission: String,
    /// The type of subjects wanted.
    #[schema(example = "user")]
    pub subject_type: String,
    /// For subject sets: their relation (`member` for groups).
    #[serde(default)]
    pub subject_relation: Option<String>,
    /// How fresh the answer must be.
    #[serde(default)]
    pub consistency: Option<ConsistencyDto>,
    /// The most results, 1 to 1000; 100 when absent.
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The answer of `POST /v1/permissions/lookup-subjects`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LookupSubjectsResponse {
    /// The subjects on this page, in ascending id order.
    pub subjects: Vec<SubjectDto>,
    /// Pass as `cursor` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// The revision the answer reflects.
    pub revision: String,
}

/// The body of `POST /v1/permissions/expand`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpandRequest {
    /// The object.
    pub resource: ObjectDto,
    /// The permission or relation to expand.
    pub permission: String,
    /// How fresh the answer must be.
    #[serde(default)]
    pub consistency: Option<ConsistencyDto>,
}

/// The answer of `POST /v1/permissions/expand`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpandResponse {
    /// The object expanded.
    pub resource: ObjectDto,
    /// The permission or relation expanded.
    pub permission: String,
    /// Its expression with the leaves filled in. Nodes: `{"nil": {}}`,
    /// `{"relation": {"relation", "subjects"}}`, `{"permission":
    /// {"permission"}}` (expand it with another call), `{"arrow":
    /// {"tupleset", "name", "subjects"}}`, `{"union": [...]}`,
    /// `{"intersection": [...]}`, `{"exclusion": {"base", "subtracted"}}`.
    #[schema(value_type = Object)]
    pub tree: Value,
    /// The revision the answer reflects.
    pub revision: String,
}

fn subjects_json(subjects: &[SubjectRef]) -> Value {
    Value::Array(subjects.iter().map(|subject| json!(SubjectDto::from(subject))).collect())
}

/// The JSON form of an expansion node.
pub fn expansion_json(node: &ExpansionNode) -> Value {
    match node {
        ExpansionNode::Nil => json!({ "nil": {} }),
        ExpansionNode::Relation { relation, subjects } => {
            json!({ "relation": { "relation": relation, "subjects": subjects_json(subjects) } })
        }
        ExpansionNode::Permission { permission } => json!({ "permission": { "permission": permission } }),
        ExpansionNode::Arrow { tupleset, name, subjects } => {
            json!({ "arrow": { "tupleset": tupleset, "name": name, "subjects": subjects_json(subjects) } })
        }
        ExpansionNode::Union(children) => {
            json!({ "union": children.iter().map(expansion_json).collect::<Vec<_>>() })
        }
        ExpansionNode::Intersection(children) => {
            json!({ "intersection": children.iter().map(expansion_json).collect::<Vec<_>>() })
        }
        ExpansionNode::Exclusion { base, subtracted } => json!({
            "exclusion": {
                "base": expansion_json(base),
                "subtracted": subtracted.iter().map(expansion_json).collect::<Vec<_>>(),
            }
        }),
    }
}

impl ExpandResponse {
    /// The wire form of an expansion at `revision`.
    pub fn new(expansion: &Expansion, revision: String) -> Self {
        Self {
            resource: (&expansion.resource).into(),
            permission: expansion.name.clone(),
            tree: expansion_json(&expansion.tree),
            revision,
        }
    }
}

/// A relationship: `resource` holds `relation` for `subject`, until
/// `expires_at` if set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RelationshipDto {
    /// The object.
    pub resource: ObjectDto,
    /// The relation.
    pub relation: String,
    /// Who holds it.
    pub subject: SubjectDto,
    /// When it stops granting anything; null for never.
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&Relationship> for RelationshipDto {
    fn from(relationship: &Relationship) -> Self {
        Self {
            resource: relationship.resource().into(),
            relation: relationship.relation().to_owned(),
            subject: relationship.subject().into(),
            expires_at: relationship.expires_at().map(timestamp_from_micros),
        }
    }
}

/// The body of `POST /v1/relationships`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteRelationshipRequest {
    /// The object.
    pub resource: ObjectDto,
    /// A relation of the resource's type that allows the subject.
    pub relation: String,
    /// Who holds it.
    pub subject: SubjectDto,
    /// When it stops granting anything (RFC 3339, in the future); never
    /// when absent.
    #[serde(default, deserialize_with = "super::rfc3339")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl WriteRelationshipRequest {
    /// The engine's relationship.
    pub fn parse(&self) -> Result<Relationship, ApiError> {
        let relationship = Relationship::new(
            self.resource.parse("resource")?,
            &self.relation,
            self.subject.parse("subject")?,
        )
        .map_err(|error| ApiError::for_field(ErrorCode::InvalidField, "relation", error))?;
        Ok(match self.expires_at {
            Some(expires_at) => relationship.expiring_at(timestamp_micros(expires_at)),
            None => relationship,
        })
    }
}

/// The body of `DELETE /v1/relationships`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRelationshipRequest {
    /// The object.
    pub resource: ObjectDto,
    /// The relation.
    pub relation: String,
    /// Who holds it.
    pub subject: SubjectDto,
}

impl DeleteRelationshipRequest {
    /// The engine's relationship.
    pub fn parse(&self) -> Result<Relationship, ApiError> {
        Relationship::new(self.resource.parse("resource")?, &self.relation, self.subject.parse("subject")?)
            .map_err(|error| ApiError::for_field(ErrorCode::InvalidField, "relation", error))
    }
}

/// The answer of `POST /v1/relationships`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WrittenRelationshipResponse {
    /// The relationship as stored.
    pub relationship: RelationshipDto,
    /// The revision that includes it.
    pub revision: String,
}

/// The query of `GET /v1/relationships`: every given field must match.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelationshipListParams {
    /// The resource's type.
    pub resource_type: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// The relation.
    pub relation: Option<String>,
    /// The subject's type.
    pub subject_type: Option<String>,
    /// The subject's id.
    pub subject_id: Option<String>,
    /// The subject's relation; empty for plain subjects.
    pub subject_relation: Option<String>,
    /// The most items, 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The answer of `GET /v1/schema` and `PUT /v1/schema`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchemaResponse {
    /// The stored version in force; null while the built-in default applies.
    #[schema(required = true)]
    pub version: Option<i64>,
    /// The schema, in canonical form.
    pub schema: String,
}

/// The body of `PUT /v1/schema`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSchemaRequest {
    /// The new schema's text, in the schema language (see the README): it
    /// must parse and keep every type, relation and permission tenantry's
    /// routes use, which no JSON Schema can check (422 `invalid_field`).
    pub schema: String,
    /// The version this replaces, as `GET /v1/schema` returned it (null for
    /// the default); a schema changed since is refused with
    /// `schema_changed`. When absent, whatever version is in force.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub expected_version: Option<Option<i64>>,
}

/// Tells an explicit `null` (Some(None)) from an absent field (None).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<i64>>, D::Error> {
    super::whole_number(deserializer).map(Some)
}

/// A limit of a lookup body: 1 to the server's largest page, 100 (or the
/// largest page, when smaller) when absent; see [`crate::extract::page_limit`].
pub fn lookup_limit(
    limit: Option<u32>,
    largest: tenantry_core::PageLimit,
) -> Result<std::num::NonZeroUsize, ApiError> {
    let limit = crate::extract::page_limit(limit, largest)?;
    Ok(std::num::NonZeroUsize::new(limit.get() as usize).expect("a page limit is at least 1"))
}
