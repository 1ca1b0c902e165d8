//! The rules of the values the server parses, in the OpenAPI document:
//! ids, names, authorization names, cursors and revision tokens, the roles
//! of each kind of resource, and non-empty PATCH bodies. [`ExactRules`]
//! adds them to what the derive generates.
//!
//! Each schema accepts exactly what the parser accepts (a schema-driven
//! fuzzer in CI holds the two together), so the patterns spell out the
//! parsers' rules: names are trimmed of Unicode white space (what Rust's
//! `str::trim` removes) and must then be 1 to 255 characters without control
//! characters (Unicode `Cc`), which no `maxLength` can say since surrounding
//! white space does not count.

use tenantry_core::{
    ApiKeyId, ApprovalId, GroupId, InvitationId, MembershipResource, Role, RunId, TenantId, UserId,
    WebhookDeliveryId, WebhookId, WorkspaceId,
};
use utoipa::Modify;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, Object, ObjectBuilder, OneOfBuilder, Schema,
    SchemaType, Type,
};
use utoipa::openapi::{OpenApi, Ref, RefOr};

/// The 26 characters of a ULID as the server writes and reads them:
/// Crockford base 32 in upper case, the first character at most `7`.
const ULID: &str = "[0-7][0-9A-HJKMNP-TV-Z]{25}";

/// Unicode white space (Rust's `char::is_whitespace`).
const WHITE_SPACE: &str = r"[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// Neither white space nor a control character.
const VISIBLE: &str = r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// Not a control character.
const NOT_CONTROL: &str = r"[^\u0000-\u001f\u007f-\u009f]";

/// A key the platform chooses: 1 to 128 of `A-Z a-z 0-9 . _ : @ / + -`.
const RECORD_KEY: &str = r"[A-Za-z0-9._:@/+\-]{1,128}";
/// A character of a reason: not a control character, except a tab or a
/// line break.
const REASON_CHARACTER: &str = r"[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]";

/// An identifier of the authorization schema: a type, relation or
/// permission name (at most 64 bytes, all ASCII).
const IDENTIFIER: &str = "[A-Za-z_][A-Za-z0-9_]{0,63}";
/// An authorization object id: 1 to 1024 of `A-Z a-z 0-9 _ - / | = + .`.
const OBJECT_ID: &str = r"[A-Za-z0-9_\-/|=+.]{1,1024}";

/// The pattern of an id with `prefix` (`ten`, `ws`, ...).
fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}_{ULID}$")
}

/// The pattern of a name: 1 to 255 characters without control characters
/// once trimmed.
fn name_pattern() -> String {
    format!("^{WHITE_SPACE}*{VISIBLE}(?:{NOT_CONTROL}{{0,253}}{VISIBLE})?{WHITE_SPACE}*$")
}

/// The pattern of a username: a name without white space once trimmed.
fn username_pattern() -> String {
    format!("^{WHITE_SPACE}*{VISIBLE}{{1,255}}{WHITE_SPACE}*$")
}

/// The pattern of an invitation's e-mail address: no white space or
/// control characters once trimmed, one `@`, 1 to 64 characters before it
/// and 1 to 190 after it.
fn email_pattern() -> String {
    let not_at = VISIBLE.replacen("[^", "[^@", 1);
    format!(
        "^{WHITE_SPACE}*{not_at}{{1,{}}}@{not_at}{{1,{}}}{WHITE_SPACE}*$",
        super::groups::MAX_EMAIL_LOCAL_CHARS,
        super::groups::MAX_EMAIL_DOMAIN_CHARS
    )
}

/// The pattern of a members list's cursor, a member: `user:usr_...` or
/// `group:grp_...`.
fn member_cursor_pattern() -> String {
    format!("^(?:user:{}|group:{})_{ULID}$", UserId::PREFIX, GroupId::PREFIX)
}

/// The pattern of a member id in a path: a user's or a group's id.
fn member_id_pattern() -> String {
    format!("^(?:{}|{})_{ULID}$", UserId::PREFIX, GroupId::PREFIX)
}

/// The pattern of a relationships list's cursor: the last relationship,
/// `type:id#relation@type:id` or `type:id#relation@type:id#relation`.
fn relationship_cursor_pattern() -> String {
    format!("^{IDENTIFIER}:{OBJECT_ID}#{IDENTIFIER}@{IDENTIFIER}:{OBJECT_ID}(?:#{IDENTIFIER})?$")
}

/// The pattern of a revision token: `<tenant id>.<tenant revision>.<platform revision>`.
fn revision_token_pattern() -> String {
    format!(r"^{}_{ULID}\.[0-9]{{1,19}}\.[0-9]{{1,19}}$", TenantId::PREFIX)
}

/// What a string field or parameter must match, beyond being a string.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// A name: tenant, workspace, group, API key or display name, environment.
    Name,
    /// A username.
    Username,
    /// An invitation's e-mail address.
    Email,
    /// An id with this prefix.
    Id(&'static str),
    /// A user's or a group's id.
    MemberId,
    /// A type, relation or permission name of the authorization schema.
    Identifier,
    /// A name of the authorization schema, or empty.
    IdentifierOrEmpty,
    /// An authorization object's id.
    ObjectId,
    /// A revision token.
    RevisionToken,
    /// A members list's cursor.
    MemberCursor,
    /// A relationships list's cursor.
    RelationshipCursor,
    /// An audit event's seq, as a path parameter or a list's cursor.
    AuditCursor,
    /// An audit list's filter value: 1 to 256 characters, none of them
    /// control characters.
    AuditText,
    /// A key the platform chooses (a decision's or a session's id).
    RecordKey,
    /// A decision's reason: 1 to 4,096 characters once trimmed; line breaks
    /// and tabs are the only control characters allowed.
    Reason,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A newest-first list's cursor: microseconds, `.`, a record key.
    NewestFirstCursor,
    /// A webhook's target: `https://`, a DNS name or an IPv4 address, an
    /// optional port, an optional path and query; no user name, no
    /// fragment (`WebhookUrl::check_syntax`).
    WebhookUrl,
    /// A webhook's event type: `*`, an audit action, or an action prefix
    /// followed by `.*`.
    EventType,
}

impl Rule {
    /// The pattern the whole value must match.
    pub(crate) fn pattern(self) -> String {
        match self {
            Self::Name => name_pattern(),
            Self::Username => username_pattern(),
            Self::Email => email_pattern(),
            Self::Id(prefix) => id_pattern(prefix),
            Self::MemberId => member_id_pattern(),
            Self::Identifier => format!("^{IDENTIFIER}$"),
            Self::IdentifierOrEmpty => format!("^(?:{IDENTIFIER})?$"),
            Self::ObjectId => format!("^{OBJECT_ID}$"),
            Self::RevisionToken => revision_token_pattern(),
            Self::MemberCursor => member_cursor_pattern(),
            Self::RelationshipCursor => relationship_cursor_pattern(),
            Self::AuditCursor => "^[1-9][0-9]{0,18}$".to_owned(),
            Self::AuditText => "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,256}$".to_owned(),
            Self::RecordKey => format!("^{RECORD_KEY}$"),
            Self::Reason => {
                format!("^{WHITE_SPACE}*{VISIBLE}(?:{REASON_CHARACTER}{{0,4094}}{VISIBLE})?{WHITE_SPACE}*$")
            }
            Self::OneOf(words) => format!("^(?:{})$", words.join("|")),
            Self::NewestFirstCursor => format!(r"^-?[0-9]{{1,18}}\.{RECORD_KEY}$"),
            Self::EventType => r"^(?:\*|[a-z0-9_]+(?:\.[a-z0-9_]+)*(?:\.\*)?)$".to_owned(),
            // `WebhookUrl::check_syntax` in tenantry-core, as a pattern.
            Self::WebhookUrl => {
                let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
                let last_label = "[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
                let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
                let port = "(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?";
                format!(
                    r"^https://(?:(?:{label}\.)*{last_label}|{octet}(?:\.{octet}){{3}}){port}(?:[/?][\u0021-\u0022\u0024-\u007E]*)?$"
                )
            }
        }
    }

    /// The length bounds the pattern implies, in characters, where they
    /// are fixed (an id is always as long). A name has none: white space
    /// around it does not count.
    pub(crate) fn length(self) -> Option<(usize, usize)> {
        const ULID_CHARS: usize = 26;
        match self {
            Self::Id(prefix) => Some((prefix.len() + 1 + ULID_CHARS, prefix.len() + 1 + ULID_CHARS)),
            Self::MemberId => Some((4 + ULID_CHARS, 4 + ULID_CHARS)),
            Self::Identifier => Some((1, 64)),
            Self::IdentifierOrEmpty => Some((0, 64)),
            Self::ObjectId => Some((1, 1024)),
            Self::AuditCursor => Some((1, 19)),
            Self::AuditText => Some((1, 256)),
            Self::RecordKey => Some((1, 128)),
            Self::WebhookUrl => Some((9, 2048)),
            Self::EventType => Some((1, 128)),
            Self::Name
            | Self::Reason
            | Self::OneOf(_)
            | Self::NewestFirstCursor
            | Self::Username
            | Self::Email
            | Self::RevisionToken
            | Self::MemberCursor
            | Self::RelationshipCursor => None,
        }
    }

    /// The sentence a description gets, for rules that names alone do not
    /// make plain.
    pub(crate) fn sentence(self) -> Option<&'static str> {
        match self {
            Self::Name => {
                Some("1 to 255 characters once white space around it is trimmed; no control characters.")
            }
            Self::Username => Some(
                "1 to 255 characters once white space around it is trimmed; no white space or control characters.",
            ),
            Self::RevisionToken => Some(
                "A `revision` a tenantry response returned, unchanged: `<tenant id>.<tenant revision>.<platform revision>`.",
            ),
            _ => None,
        }
    }
}

/// The rule of each string field of a request body that the server
/// parses, by component schema and property. A field this table names but
/// the schema lacks stops the document being built, so the table cannot
/// silently go stale.
const FIELD_RULES: &[(&str, &str, Rule)] = &[
    ("CreateTenantRequest", "name", Rule::Name),
    ("CreateTenantRequest", "display_name", Rule::Name),
    ("CreateTenantRequest", "root_workspace_name", Rule::Name),
    ("UpdateTenantRequest", "name", Rule::Name),
    ("UpdateTenantRequest", "display_name", Rule::Name),
    ("CreateWorkspaceRequest", "name", Rule::Name),
    ("CreateWorkspaceRequest", "parent_workspace_id", Rule::Id(WorkspaceId::PREFIX)),
    ("CreateWorkspaceRequest", "environment", Rule::Name),
    ("UpdateWorkspaceRequest", "name", Rule::Name),
    ("UpdateWorkspaceRequest", "parent_workspace_id", Rule::Id(WorkspaceId::PREFIX)),
    ("UpdateWorkspaceRequest", "environment", Rule::Name),
    ("CreateApiKeyRequest", "name", Rule::Name),
    ("CreateApiKeyRequest", "tenant_id", Rule::Id(TenantId::PREFIX)),
    ("CreateApiKeyRequest", "username", Rule::Username),
    ("CreateGroupRequest", "name", Rule::Name),
    ("CreateServiceAccountRequest", "name", Rule::Username),
    ("CreateServiceAccountApiKeyRequest", "name", Rule::Name),
    ("CreateWebhookRequest", "description", Rule::Name),
    ("CreateWebhookRequest", "url", Rule::WebhookUrl),
    ("UpdateGroupRequest", "name", Rule::Name),
    ("AddMemberRequest", "user_id", Rule::Id(UserId::PREFIX)),
    ("AddMemberRequest", "username", Rule::Username),
    ("AddMemberRequest", "group_id", Rule::Id(GroupId::PREFIX)),
    ("AddMemberRequest", "email", Rule::Email),
    ("ObjectDto", "type", Rule::Identifier),
    ("ObjectDto", "id", Rule::ObjectId),
    ("SubjectDto", "type", Rule::Identifier),
    ("SubjectDto", "id", Rule::ObjectId),
    ("SubjectDto", "relation", Rule::Identifier),
    ("CheckPermissionRequest", "permission", Rule::Identifier),
    ("LookupResourcesRequest", "resource_type", Rule::Identifier),
    ("LookupResourcesRequest", "permission", Rule::Identifier),
    ("LookupSubjectsRequest", "permission", Rule::Identifier),
    ("LookupSubjectsRequest", "subject_type", Rule::Identifier),
    ("LookupSubjectsRequest", "subject_relation", Rule::Identifier),
    ("ExpandRequest", "permission", Rule::Identifier),
    ("WriteRelationshipRequest", "relation", Rule::Identifier),
    ("DeleteRelationshipRequest", "relation", Rule::Identifier),
    ("RecordDecisionRequest", "id", Rule::RecordKey),
    ("RecordDecisionRequest", "workspace_id", Rule::Id(WorkspaceId::PREFIX)),
    ("RecordDecisionRequest", "session_id", Rule::RecordKey),
    ("RecordDecisionRequest", "agent_id", Rule::Name),
    ("RecordDecisionRequest", "actor", Rule::Name),
    ("RecordDecisionRequest", "repository", Rule::Name),
    ("RecordDecisionRequest", "action_type", Rule::Name),
    ("RecordDecisionRequest", "target", Rule::Name),
    ("RecordDecisionRequest", "requested_operation", Rule::Name),
    ("RecordDecisionRequest", "policy_pack", Rule::Name),
    ("RecordDecisionRequest", "policy_id", Rule::Name),
    ("RecordDecisionRequest", "rule_id", Rule::Name),
    ("RecordDecisionRequest", "reason", Rule::Reason),
    ("RecordDecisionRequest", "approver_group", Rule::Id(GroupId::PREFIX)),
    ("RecordDecisionRequest", "correlation_id", Rule::Name),
    ("RequestApprovalRequest", "decision_id", Rule::RecordKey),
    ("RequestApprovalRequest", "approver_group", Rule::Id(GroupId::PREFIX)),
    ("RequestApprovalRequest", "reason", Rule::Reason),
    ("RequestApprovalRequest", "external_ref", Rule::Name),
    ("BreakGlassRequest", "decision_id", Rule::RecordKey),
    ("BreakGlassRequest", "approver_group", Rule::Id(GroupId::PREFIX)),
    ("BreakGlassRequest", "reason", Rule::Reason),
    ("BreakGlassRequest", "external_ref", Rule::Name),
    ("ApprovalStepRequest", "reason", Rule::Reason),
    ("ApprovalStepRequest", "external_ref", Rule::Name),
    ("RoutingRuleBody", "rule_id_prefix", Rule::Name),
    ("RoutingRuleBody", "target_contains", Rule::Name),
    ("RoutingRuleBody", "approver_group", Rule::Id(GroupId::PREFIX)),
];

/// The rule of each item of an array field of a request body.
const ITEM_RULES: &[(&str, &str, Rule)] = &[
    ("RecordDecisionRequest", "evidence_refs", Rule::Name),
    ("CreateWebhookRequest", "event_types", Rule::EventType),
];

/// The PATCH bodies: each must change something, so at least one field
/// must be present and not null.
const PATCH_BODIES: &[&str] = &["UpdateTenantRequest", "UpdateWorkspaceRequest", "UpdateGroupRequest"];

/// Makes the document as strict as the server: the patterns of
/// [`FIELD_RULES`], ids and cursors in paths and queries, non-empty PATCH
/// bodies, revision tokens, and a membership body per kind of resource
/// with that resource's roles.
pub(crate) struct ExactRules;

impl Modify for ExactRules {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let schemas = &mut components.schemas;
        for &(schema_name, property, rule) in FIELD_RULES {
            let object = object_mut(schemas.get_mut(schema_name))
                .unwrap_or_else(|| panic!("FIELD_RULES names {schema_name}, not an object schema"));
            let field = object_mut(object.properties.get_mut(property))
                .unwrap_or_else(|| panic!("FIELD_RULES names {schema_name}.{property}, not a property"));
            apply_rule(field, rule);
        }
        for &(schema_name, property, rule) in ITEM_RULES {
            let object = object_mut(schemas.get_mut(schema_name))
                .unwrap_or_else(|| panic!("ITEM_RULES names {schema_name}, not an object schema"));
            let Some(RefOr::T(Schema::Array(array))) = object.properties.get_mut(property) else {
                panic!("ITEM_RULES names {schema_name}.{property}, not an array property");
            };
            // A webhook's event types are refused when one is given twice.
            if matches!(rule, Rule::EventType) {
                array.unique_items = true;
            }
            let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut array.items else {
                panic!("ITEM_RULES names {schema_name}.{property}, an array without items");
            };
            let Some(items) = object_mut(Some(items.as_mut())) else {
                panic!("ITEM_RULES names {schema_name}.{property}, whose items are not an object schema");
            };
            apply_rule(items, rule);
        }
        for &schema_name in PATCH_BODIES {
            let Some(RefOr::T(Schema::Object(object))) = schemas.remove(schema_name) else {
                panic!("PATCH_BODIES names {schema_name}, not an object schema");
            };
            schemas.insert(schema_name.to_owned(), RefOr::T(at_least_one_field(object)));
        }
        consistency_rules(schemas.get_mut("ConsistencyDto"));
        membership_bodies(schemas);
        for (path, path_item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut path_item.get,
                &mut path_item.put,
                &mut path_item.post,
                &mut path_item.delete,
                &mut path_item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                parameter_rules(path, operation);
                membership_body_of(path, operation);
            }
        }
    }
}

fn object_mut(schema: Option<&mut RefOr<Schema>>) -> Option<&mut Object> {
    match schema {
        Some(RefOr::T(Schema::Object(object))) => Some(object),
        _ => None,
    }
}

fn apply_rule(object: &mut Object, rule: Rule) {
    object.pattern = Some(rule.pattern());
    (object.min_length, object.max_length) = match rule.length() {
        Some((min, max)) => (Some(min), Some(max)),
        None => (None, None),
    };
    if let Some(sentence) = rule.sentence() {
        object.description = Some(match object.description.take() {
            Some(description) => format!("{description} {sentence}"),
            None => sentence.to_owned(),
        });
    }
}

fn string_schema(nullable: bool) -> Object {
    let schema_type = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::from(Type::String)
    };
    ObjectBuilder::new().schema_type(schema_type).build()
}

/// `object`, with at least one property present and not null.
fn at_least_one_field(mut object: Object) -> Schema {
    object.min_properties = Some(1);
    let mut any_field = AnyOfBuilder::new();
    for name in object.properties.keys() {
        let not_null = ObjectBuilder::new()
            .property(name, ObjectBuilder::new().schema_type(SchemaType::from_iter(NOT_NULL)))
            .required(name);
        any_field = any_field.item(Schema::Object(not_null.build()));
    }
    let description = object.description.take();
    Schema::AllOf(
        AllOfBuilder::new()
            .description(description)
            .item(Schema::Object(object))
            .item(Schema::AnyOf(any_field.build()))
            .build(),
    )
}

/// Every JSON type but null.
const NOT_NULL: [Type; 6] =
    [Type::String, Type::Number, Type::Integer, Type::Boolean, Type::Array, Type::Object];

/// `{"at_least_as_fresh": "<revision token>"}` and nothing else.
fn consistency_rules(consistency: Option<&mut RefOr<Schema>>) {
    let Some(RefOr::T(Schema::OneOf(one_of))) = consistency else {
        panic!("ConsistencyDto is not a oneOf");
    };
    for item in &mut one_of.items {
        let Some(object) = object_mut(Some(item)) else { continue };
        if let Some(token) = object_mut(object.properties.get_mut("at_least_as_fresh")) {
            apply_rule(token, Rule::RevisionToken);
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// The kinds of resource members are added to, with the path their
/// members live under and the names of their body schemas.
const MEMBERSHIP_RESOURCES: [(&str, &str, &str); 3] = [
    ("/v1/tenants/{id}/members", "AddTenantMemberRequest", "UpdateTenantMemberRequest"),
    ("/v1/workspaces/{id}/members", "AddWorkspaceMemberRequest", "UpdateWorkspaceMemberRequest"),
    ("/v1/groups/{id}/members", "AddGroupMemberRequest", "UpdateGroupMemberRequest"),
];

fn membership_resource(path: &str) -> MembershipResource {
    if path.starts_with("/v1/tenants/") {
        MembershipResource::Tenant
    } else if path.starts_with("/v1/workspaces/") {
        MembershipResource::Workspace(WorkspaceId::generate())
    } else {
        MembershipResource::Group(GroupId::generate())
    }
}

fn role_schema(roles: &[Role]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(roles.iter().map(|role| role.as_str())))
        .description(Some(format!(
            "The role: {}.",
            roles.iter().map(|role| format!("`{role}`")).collect::<Vec<_>>().join(", ")
        )))
        .build()
}

/// Replaces the shared member bodies with one per kind of resource: its
/// roles, and for a new member exactly one of `user_id`, `email`,
/// `username` and `group_id` (on a group, a group member may only be a `member`).
fn membership_bodies(schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>) {
    let Some(RefOr::T(Schema::Object(add))) = schemas.remove("AddMemberRequest") else {
        panic!("AddMemberRequest is not an object schema");
    };
    let Some(RefOr::T(Schema::Object(update))) = schemas.remove("UpdateMemberRequest") else {
        panic!("UpdateMemberRequest is not an object schema");
    };
    for (path, add_name, update_name) in MEMBERSHIP_RESOURCES {
        let resource = membership_resource(path);
        let roles = role_schema(resource.roles());
        let mut add = add.clone();
        add.properties.insert("role".to_owned(), RefOr::T(Schema::Object(roles.clone())));
        let mut one_member = OneOfBuilder::new();
        const MEMBER_FIELDS: [&str; 4] = ["user_id", "email", "username", "group_id"];
        for field in MEMBER_FIELDS {
            let mut branch = ObjectBuilder::new().property(field, string_schema(false)).required(field);
            // Exactly one: the others absent or null in this branch, so that
            // a body naming two members matches no branch.
            for other in MEMBER_FIELDS.into_iter().filter(|other| *other != field) {
                branch = branch.property(other, ObjectBuilder::new().schema_type(Type::Null));
            }
            if field == "email" {
                // An address always makes an invitation, and an invited
                // role does not lapse: no `expires_at` beside it.
                branch = branch.property("expires_at", ObjectBuilder::new().schema_type(Type::Null));
            }
            one_member = one_member.item(Schema::Object(branch.build()));
        }
        let description = add.description.take();
        let mut add = AllOfBuilder::new()
            .description(description)
            .item(Schema::Object(add))
            .item(Schema::OneOf(one_member.build()));
        if matches!(resource, MembershipResource::Group(_)) {
            // A group's admins are users: with a `group_id`, the role is `member`.
            let member_role =
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some([Role::Member.as_str()]));
            let no_group = ObjectBuilder::new().schema_type(Type::Null);
            add = add.item(Schema::AnyOf(
                AnyOfBuilder::new()
                    .item(Schema::Object(ObjectBuilder::new().property("role", member_role).build()))
                    .item(Schema::Object(ObjectBuilder::new().property("group_id", no_group).build()))
                    .build(),
            ));
        }
        let add = add.build();
        schemas.insert(add_name.to_owned(), RefOr::T(Schema::AllOf(add)));
        let mut update = update.clone();
        update.properties.insert("role".to_owned(), RefOr::T(Schema::Object(roles)));
        schemas.insert(update_name.to_owned(), RefOr::T(Schema::Object(update)));
    }
}

fn membership_body_of(path: &str, operation: &mut Operation) {
    let Some((_, add_name, update_name)) =
        MEMBERSHIP_RESOURCES.iter().find(|(members_path, _, _)| path.starts_with(members_path))
    else {
        return;
    };
    let Some(request_body) = operation.request_body.as_mut() else { return };
    for content in request_body.content.values_mut() {
        let name = if path.ends_with("{member_id}") { update_name } else { add_name };
        content.schema = Some(RefOr::Ref(Ref::from_schema_name(*name)));
    }
}

/// The words of the decision filters, as `tenantry_core::decision` spells
/// them (a unit test holds the lists to the enums).
const DECISION_OUTCOMES: &[&str] =
    &["allow", "block", "require_approval", "warn", "audit_only", "allow_with_attestation"];
const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];
const SESSION_STATES: &[&str] = &["active", "completed", "failed", "archived"];
const APPROVAL_STATES: &[&str] = &["pending", "approved", "denied", "expired", "cancelled", "break_glass"];

/// The rule of a path or query parameter of the operation at `path`.
fn parameter_rule(path: &str, parameter: &str) -> Option<Rule> {
    if path.starts_with("/v1/decisions") || path.starts_with("/v1/session") {
        return match parameter {
            "id" | "session_id" => Some(Rule::RecordKey),
            "workspace_id" => Some(Rule::Id(WorkspaceId::PREFIX)),
            "agent_id" | "repository" | "policy_pack" | "action_type" => Some(Rule::Name),
            "decision" => Some(Rule::OneOf(DECISION_OUTCOMES)),
            "severity" => Some(Rule::OneOf(SEVERITIES)),
            "state" => Some(Rule::OneOf(SESSION_STATES)),
            "cursor" => Some(Rule::NewestFirstCursor),
            _ => None,
        };
    }
    if path.starts_with("/v1/approval") {
        return match parameter {
            "id" => Some(Rule::Id(ApprovalId::PREFIX)),
            "workspace_id" => Some(Rule::Id(WorkspaceId::PREFIX)),
            "approver_group" => Some(Rule::Id(GroupId::PREFIX)),
            "requested_by" => Some(Rule::Id(UserId::PREFIX)),
            "decision_id" => Some(Rule::RecordKey),
            "state" => Some(Rule::OneOf(APPROVAL_STATES)),
            "awaiting_review" => Some(Rule::OneOf(&["true", "false"])),
            "for" => Some(Rule::OneOf(&["me"])),
            "cursor" => Some(Rule::NewestFirstCursor),
            _ => None,
        };
    }
    if path.starts_with("/v1/audit") {
        return match parameter {
            "cursor" | "seq" => Some(Rule::AuditCursor),
            "action" | "actor_user_id" | "actor_api_key_id" | "resource_type" | "resource_id"
            | "workspace_id" => Some(Rule::AuditText),
            _ => None,
        };
    }
    let resource_id = || {
        let collection = path.trim_start_matches("/v1/").split('/').next().unwrap_or_default();
        Some(Rule::Id(match collection {
            "tenants" => TenantId::PREFIX,
            "workspaces" => WorkspaceId::PREFIX,
            "groups" => GroupId::PREFIX,
            "api-keys" => ApiKeyId::PREFIX,
            "invitations" => InvitationId::PREFIX,
            "operations" => RunId::PREFIX,
            "service-accounts" => UserId::PREFIX,
            "webhooks" => WebhookId::PREFIX,
            other => panic!("no id rule for the collection {other} of {path}"),
        }))
    };
    match parameter {
        "id" => resource_id(),
        "member_id" => Some(Rule::MemberId),
        "invitation_id" => Some(Rule::Id(InvitationId::PREFIX)),
        "cursor" if path.ends_with("/invitations") => Some(Rule::Id(InvitationId::PREFIX)),
        "cursor" if path.ends_with("/members") => Some(Rule::MemberCursor),
        "cursor" if path == "/v1/relationships" => Some(Rule::RelationshipCursor),
        "cursor" if path == "/v1/operations" => Some(Rule::NewestFirstCursor),
        "cursor" if path.ends_with("/deliveries") => Some(Rule::Id(WebhookDeliveryId::PREFIX)),
        "resource_type" | "relation" | "subject_type" => Some(Rule::Identifier),
        "resource_id" | "subject_id" => Some(Rule::ObjectId),
        "subject_relation" => Some(Rule::IdentifierOrEmpty),
        "cursor" => resource_id(),
        _ => None,
    }
}

fn parameter_rules(path: &str, operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        let Some(rule) = parameter_rule(path, &parameter.name) else { continue };
        let mut schema = string_schema(false);
        apply_rule(&mut schema, rule);
        parameter.schema = Some(RefOr::T(Schema::Object(schema)));
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;
    use tenantry_core::{GroupName, Username, WorkspaceId};

    use super::*;

    /// The patterns, read the way a JSON Schema validator reads them, accept
    /// exactly what the parsers accept.
    #[test]
    fn patterns_agree_with_the_parsers() {
        let name = Regex::new(&name_pattern()).unwrap();
        let username = Regex::new(&username_pattern()).unwrap();
        let cases = [
            "a",
            " a ",
            "\ta\n",
            "a b",
            "a\u{a0}b",
            "",
            " ",
            "a\nb",
            "a\u{0}",
            "a\u{85}b",
            "\u{85}a\u{85}",
            "a\u{7f}",
            "\u{3000}x\u{3000}",
            "é",
        ];
        let long = ["x".repeat(255), "x".repeat(256), format!("  {}  ", "é".repeat(255)), "😀".repeat(255)];
        for case in cases.iter().map(|case| case.to_string()).chain(long) {
            assert_eq!(name.is_match(&case), GroupName::parse(&case).is_ok(), "name {case:?}");
            assert_eq!(username.is_match(&case), Username::parse(&case).is_ok(), "username {case:?}");
        }
        let email = Regex::new(&email_pattern()).unwrap();
        for case in [
            "ada@example.com",
            " ada@example.com ",
            "a@b",
            "ada",
            "@example.com",
            "ada@",
            "a@b@c",
            "a b@c",
            "a\u{0}@b",
            "é@é",
        ] {
            assert_eq!(email.is_match(case), tenantry_core::Email::parse(case).is_ok(), "email {case:?}");
        }
        let id = Regex::new(&id_pattern(WorkspaceId::PREFIX)).unwrap();
        let valid = WorkspaceId::generate().to_string();
        for case in [
            valid.as_str(),
            "ws_7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "ws_8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "ws_01hzx3j4q8w6e5r7t9y2v4j6p8",
            "ws_01HZX3J4Q8W6E5R7T9Y2U4I6O8",
        ] {
            assert_eq!(id.is_match(case), WorkspaceId::parse(case).is_ok(), "id {case:?}");
        }
    }

    /// The webhook target's pattern and `WebhookUrl::check_syntax` agree on
    /// hand-picked URLs and on thousands of one- and two-character edits of
    /// them; and whatever the pattern accepts, the URL parser accepts too
    /// (on a server that allows private targets, so only syntax counts).
    #[test]
    fn webhook_url_pattern_agrees_with_the_parser() {
        use tenantry_core::{TargetPolicy, WebhookUrl};
        let pattern = Regex::new(&Rule::WebhookUrl.pattern()).unwrap();
        let seeds = [
            "https://hooks.example.com/in",
            "https://1password.example.com:8443/a?b=c&d=%20",
            "https://203.0.113.9/in",
            "https://a.b",
            "https://x-1.y/?",
            "https://h.k.ddG.ecky.Nu1zlbXCZncKv-WQ3tkzrsq",
            "https://example.com:65535/",
            "https://255.255.255.255:1",
        ];
        let mut cases: Vec<String> = seeds.iter().map(|seed| seed.to_string()).collect();
        cases.extend(
            [
                "https://h.k.ddG.ecky.Nu1zlbXCZncKv-WQ3tkzrsq*",
                "https://under_score.example.com/",
                "https://[2001:db8::1]/",
                "HTTPS://example.com/",
                "https://exämple.com/",
                "https://example.com/ä",
                "https://example.com/#x",
                "https://example.com:0/",
                "https://example.com:65536/",
                "https://example.com:080/",
                "https://example.com:/",
                "https://1.2.3.04/",
                "https://1.2.3.256/",
                "https://1.2.3/",
                "https://example.1/",
                "https://-a.example.com/",
                "https://a-.example.com/",
                "https://example.com./",
                "https://.example.com/",
                "https://a..b/",
                "https://user@example.com/",
                "https://user:pw@example.com/",
                "http://example.com/",
                "https://",
            ]
            .map(str::to_owned),
        );
        let label = format!("{}.com", "a".repeat(63));
        cases.push(format!("https://{label}/"));
        cases.push(format!("https://a{label}/"));
        // Edits: insert, replace or delete one character, twice over, with
        // characters that matter to some rule.
        let alphabet: Vec<char> = "aZ09-._*:/?#[]@%é \\~".chars().collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..20_000 {
            let mut text: Vec<char> = seeds[next(seeds.len())].chars().collect();
            for _ in 0..1 + next(2) {
                let at = next(text.len() + 1);
                let character = alphabet[next(alphabet.len())];
                match next(3) {
                    0 => text.insert(at, character),
                    1 if at < text.len() => text[at] = character,
                    _ if at < text.len() => {
                        text.remove(at);
                    }
                    _ => text.push(character),
                }
            }
            cases.push(text.into_iter().collect());
        }
        let open = TargetPolicy { allow_private: true };
        let mut accepted = 0;
        for case in &cases {
            let matches = pattern.is_match(case);
            assert_eq!(matches, WebhookUrl::check_syntax(case, false).is_ok(), "{case:?}");
            if matches {
                accepted += 1;
                assert!(
                    WebhookUrl::parse(case, open).is_ok(),
                    "the pattern accepts {case:?}; the URL parser does not"
                );
            }
        }
        assert!(accepted > 2_000 && accepted < cases.len() - 2_000, "{accepted} of {} accepted", cases.len());
    }

    #[test]
    fn decision_patterns_agree_with_the_parsers() {
        use tenantry_core::decision::{DecisionOutcome, Reason, RecordKey, SessionState, Severity};
        let key = Regex::new(&Rule::RecordKey.pattern()).unwrap();
        for case in ["d-1", "run:1/step@2+x.y_z", "", "a b", "é", "a?b", &"k".repeat(128), &"k".repeat(129)]
        {
            assert_eq!(key.is_match(case), RecordKey::parse(case).is_ok(), "key {case:?}");
        }
        let reason = Regex::new(&Rule::Reason.pattern()).unwrap();
        for case in
            ["why", " line\nnext\t ", "", "  ", "a\u{7}b", "\u{85}", &"r".repeat(4096), &"r".repeat(4097)]
        {
            assert_eq!(reason.is_match(case), Reason::parse(case).is_ok(), "reason {case:?}");
        }
        let words = |all: &[&'static str]| all.iter().map(|word| (*word).to_owned()).collect::<Vec<_>>();
        let names = |all: Vec<&'static str>| all.into_iter().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            words(DECISION_OUTCOMES),
            names(DecisionOutcome::ALL.iter().map(|value| value.as_str()).collect())
        );
        assert_eq!(words(SEVERITIES), names(Severity::ALL.iter().map(|value| value.as_str()).collect()));
        assert_eq!(
            words(SESSION_STATES),
            names(SessionState::ALL.iter().map(|value| value.as_str()).collect())
        );
        let cursor = Regex::new(&Rule::NewestFirstCursor.pattern()).unwrap();
        for case in ["1700000000000000.d-1", "-5.x", "1.", ".x", "x.y", "+5.x", "9223372036854775807.x"] {
            assert_eq!(
                cursor.is_match(case),
                tenantry_core::decision::NewestFirstCursor::parse(case).is_some(),
                "cursor {case:?}"
            );
        }
    }
}
