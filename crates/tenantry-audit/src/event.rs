//! Audit events and their canonical bytes, the leaves of a log's tree.
//!
//! # Canonical bytes
//!
//! An event's leaf is [`leaf_hash`] of its canonical bytes: one line of
//! compact JSON (UTF-8, no whitespace outside strings, no trailing newline)
//! with the fields in this fixed order:
//!
//! ```text
//! {"log":"tenant/ten_…","seq":1,"id":"evt_…","occurred_at":"2026-12-06T17:03:34.123456Z",
//!  "actor":{"type":"user","user_id":"usr_…","request_id":"req_…"},
//!  "action":"workspace.created","resource":{"type":"workspace","id":"ws_…"},
//!  "tenant_id":"ten_…","workspace_id":"ws_…","revision":7,
//!  "changes":{"name":{"before":null,"after":"Research"}}}
//! ```
//!
//! - `log` is `platform` or `tenant/<tenant id>`; `tenant_id` is the
//!   tenant's id in a tenant's log and `null` in the platform's.
//! - An absent optional value is written as `null`, never left out.
//! - `actor` is one of `{"type":"user","user_id","request_id"}`,
//!   `{"type":"api_key","api_key_id","user_id","request_id"}` and
//!   `{"type":"system","reason"}`, fields in that order.
//! - `occurred_at` is RFC 3339 in UTC with exactly six fraction digits and
//!   `Z`; a time is truncated to microseconds when the event is made.
//! - `changes` and every object inside a `before` or `after` value have
//!   their keys sorted by their UTF-8 bytes. Numbers are integers that fit
//!   `i64` or `u64`: a float is refused, so no number has two spellings.
//! - Strings are escaped as JSON requires and no more: `"`, `\` and the
//!   control characters (`\b \t \n \f \r`, others as `\u00xx`); everything
//!   else, non-ASCII included, is written as its UTF-8 bytes. This is what
//!   `serde_json` writes, so an event read back with it and written again
//!   gives the same bytes.
//!
//! # What an event may not hold
//!
//! A `changes` field whose name looks like a secret or a hash of one
//! (`secret`, `secret_hash`, `token`, `password`, `pepper`, …; see
//! [`looks_like_a_secret`]) is refused when the event is made, at any depth
//! of the values too, so no caller can put one in the log.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::merkle::{Hash, leaf_hash};

/// Which log an event belongs to: the platform's, or one tenant's.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogId {
    /// The platform's log: tenants created and deleted, platform admins,
    /// the schema, the bootstrap.
    Platform,
    /// One tenant's log.
    Tenant(String),
}

impl LogId {
    /// The log of the tenant with this id.
    pub fn tenant(tenant_id: impl Into<String>) -> Result<Self, EventError> {
        let tenant_id = tenant_id.into();
        check_identifier("tenant_id", &tenant_id)?;
        Ok(Self::Tenant(tenant_id))
    }

    /// The tenant whose log this is, `None` for the platform's.
    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Self::Platform => None,
            Self::Tenant(tenant_id) => Some(tenant_id),
        }
    }

    /// The checkpoint origin of this log in a deployment:
    /// `tenantry/<deployment>/platform` or
    /// `tenantry/<deployment>/tenant/<tenant id>`.
    pub fn origin(&self, deployment: &str) -> String {
        format!("tenantry/{deployment}/{self}")
    }

    /// Parses `platform` or `tenant/<tenant id>`.
    pub fn parse(text: &str) -> Result<Self, EventError> {
        if text == "platform" {
            return Ok(Self::Platform);
        }
        match text.strip_prefix("tenant/") {
            Some(tenant_id) => Self::tenant(tenant_id),
            None => Err(EventError::invalid("log", "must be `platform` or `tenant/<tenant id>`")),
        }
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform => formatter.write_str("platform"),
            Self::Tenant(tenant_id) => write!(formatter, "tenant/{tenant_id}"),
        }
    }
}

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A user, signed in (OIDC) or through the CLI as themselves.
    User {
        /// The user's id.
        user_id: String,
        /// The request that made the change, if it came over HTTP.
        request_id: Option<String>,
    },
    /// An API key, which acts for its user.
    ApiKey {
        /// The key's id (never its secret).
        api_key_id: String,
        /// The key's user.
        user_id: String,
        /// The request that made the change.
        request_id: Option<String>,
    },
    /// tenantry itself: the bootstrap, the expiry sweep.
    System {
        /// Why, in a few words (`bootstrap`, `invitation expiry`).
        reason: Option<String>,
    },
}

impl Actor {
    /// tenantry itself, for the given reason.
    pub fn system(reason: &str) -> Self {
        Self::System { reason: Some(reason.to_owned()) }
    }

    /// The request that made the change, if one did.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::User { request_id, .. } | Self::ApiKey { request_id, .. } => request_id.as_deref(),
            Self::System { .. } => None,
        }
    }

    /// The user the change was made by, if a user made it (for a key, its
    /// user).
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::User { user_id, .. } | Self::ApiKey { user_id, .. } => Some(user_id),
            Self::System { .. } => None,
        }
    }

    /// The API key that made the change, if a key did.
    pub fn api_key_id(&self) -> Option<&str> {
        match self {
            Self::ApiKey { api_key_id, .. } => Some(api_key_id),
            Self::User { .. } | Self::System { .. } => None,
        }
    }

    /// `user`, `api_key` or `system`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User { .. } => "user",
            Self::ApiKey { .. } => "api_key",
            Self::System { .. } => "system",
        }
    }
}

/// What a change was made to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    resource_type: String,
    id: String,
}

impl Resource {
    /// A resource of `resource_type` (`workspace`, `api_key`, …:
    /// lowercase snake case) with this id.
    pub fn new(resource_type: impl Into<String>, id: impl Into<String>) -> Result<Self, EventError> {
        let resource_type = resource_type.into();
        let id = id.into();
        if !is_snake_word(&resource_type) {
            return Err(EventError::invalid(
                "resource.type",
                "must be lowercase snake case (`workspace`, `api_key`)",
            ));
        }
        check_identifier("resource.id", &id)?;
        Ok(Self { resource_type, id })
    }

    /// The kind of resource.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The resource's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// One field's value before and after a change (`null` where it had none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    before: Value,
    after: Value,
}

impl Change {
    /// A field that went from `before` to `after`.
    pub fn new(before: Value, after: Value) -> Self {
        Self { before, after }
    }

    /// The value before the change.
    pub fn before(&self) -> &Value {
        &self.before
    }

    /// The value after the change.
    pub fn after(&self) -> &Value {
        &self.after
    }
}

/// Everything an event is made of, for [`AuditEvent::new`].
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    /// The log the event is appended to.
    pub log: LogId,
    /// Its position in the log: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// Its id.
    pub id: String,
    /// When the change was made (truncated to microseconds).
    pub occurred_at: DateTime<Utc>,
    /// Who made it.
    pub actor: Actor,
    /// What was done, as a stable dotted name (`workspace.created`).
    pub action: String,
    /// What it was done to.
    pub resource: Resource,
    /// The workspace it happened in, if any.
    pub workspace_id: Option<String>,
    /// The relationship revision the change produced, if any.
    pub revision: Option<u64>,
    /// The fields that changed.
    pub changes: BTreeMap<String, Change>,
}

/// One audit event, valid by construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    log: LogId,
    seq: u64,
    id: String,
    occurred_at: DateTime<Utc>,
    actor: Actor,
    action: String,
    resource: Resource,
    workspace_id: Option<String>,
    revision: Option<u64>,
    changes: BTreeMap<String, Change>,
}

/// An event that cannot be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A field's value breaks its rule.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, as named in the canonical JSON.
        field: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A change names something that looks like a secret.
    #[error("the change `{field}` looks like a secret or a hash of one; secrets never enter the audit log")]
    Secret {
        /// The offending field name (or path inside a value).
        field: String,
    },
    /// The text is not the JSON of an event.
    #[error("not an audit event: {0}")]
    Json(String),
}

impl EventError {
    fn invalid(field: impl Into<String>, reason: &'static str) -> Self {
        Self::Invalid { field: field.into(), reason }
    }
}

impl AuditEvent {
    /// Checks every field and makes the event.
    pub fn new(new: NewAuditEvent) -> Result<Self, EventError> {
        if new.seq == 0 {
            return Err(EventError::invalid("seq", "starts at 1"));
        }
        check_identifier("id", &new.id)?;
        match &new.actor {
            Actor::User { user_id, request_id } => {
                check_identifier("actor.user_id", user_id)?;
                check_optional("actor.request_id", request_id.as_deref())?;
            }
            Actor::ApiKey { api_key_id, user_id, request_id } => {
                check_identifier("actor.api_key_id", api_key_id)?;
                check_identifier("actor.user_id", user_id)?;
                check_optional("actor.request_id", request_id.as_deref())?;
            }
            Actor::System { reason } => {
                if let Some(reason) = reason {
                    check_text("actor.reason", reason)?;
                }
            }
        }
        if !is_action(&new.action) {
            return Err(EventError::invalid(
                "action",
                "must be dotted lowercase snake case words (`workspace.created`)",
            ));
        }
        check_optional("workspace_id", new.workspace_id.as_deref())?;
        if let LogId::Tenant(tenant_id) = &new.log {
            check_identifier("tenant_id", tenant_id)?;
        }
        for (field, change) in &new.changes {
            check_change(field, change)?;
        }
        Ok(Self {
            log: new.log,
            seq: new.seq,
            id: new.id,
            occurred_at: new.occurred_at.trunc_subsecs(6),
            actor: new.actor,
            action: new.action,
            resource: new.resource,
            workspace_id: new.workspace_id,
            revision: new.revision,
            changes: new.changes,
        })
    }

    /// The log the event belongs to.
    pub fn log(&self) -> &LogId {
        &self.log
    }

    /// Its position in the log, from 1.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Its leaf's index in the log's tree: `seq - 1`.
    pub fn leaf_index(&self) -> u64 {
        self.seq - 1
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the change was made, to the microsecond.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }

    /// Who made the change.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// What was done.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// What it was done to.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The tenant whose log holds the event; `None` in the platform's.
    pub fn tenant_id(&self) -> Option<&str> {
        self.log.tenant_id()
    }

    /// The workspace the change happened in, if any.
    pub fn workspace_id(&self) -> Option<&str> {
        self.workspace_id.as_deref()
    }

    /// The relationship revision the change produced, if any.
    pub fn revision(&self) -> Option<u64> {
        self.revision
    }

    /// The fields that changed.
    pub fn changes(&self) -> &BTreeMap<String, Change> {
        &self.changes
    }

    /// The event's canonical bytes (see the module docs).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_canonical(&mut out);
        out
    }

    /// The event's leaf in its log's tree: [`leaf_hash`] of its canonical
    /// bytes.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.canonical_bytes())
    }

    /// Appends the canonical bytes to `out`.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"log\":");
        write_string(out, &self.log.to_string());
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"id\":");
        write_string(out, &self.id);
        out.extend_from_slice(b",\"occurred_at\":");
        write_string(out, &self.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true));
        out.extend_from_slice(b",\"actor\":");
        match &self.actor {
            Actor::User { user_id, request_id } => {
                out.extend_from_slice(b"{\"type\":\"user\",\"user_id\":");
                write_string(out, user_id);
                out.extend_from_slice(b",\"request_id\":");
                write_optional_string(out, request_id.as_deref());
            }
            Actor::ApiKey { api_key_id, user_id, request_id } => {
                out.extend_from_slice(b"{\"type\":\"api_key\",\"api_key_id\":");
                write_string(out, api_key_id);
                out.extend_from_slice(b",\"user_id\":");
                write_string(out, user_id);
                out.extend_from_slice(b",\"request_id\":");
                write_optional_string(out, request_id.as_deref());
            }
            Actor::System { reason } => {
                out.extend_from_slice(b"{\"type\":\"system\",\"reason\":");
                write_optional_string(out, reason.as_deref());
            }
        }
        out.extend_from_slice(b"},\"action\":");
        write_string(out, &self.action);
        out.extend_from_slice(b",\"resource\":{\"type\":");
        write_string(out, &self.resource.resource_type);
        out.extend_from_slice(b",\"id\":");
        write_string(out, &self.resource.id);
        out.extend_from_slice(b"},\"tenant_id\":");
        write_optional_string(out, self.log.tenant_id());
        out.extend_from_slice(b",\"workspace_id\":");
        write_optional_string(out, self.workspace_id.as_deref());
        out.extend_from_slice(b",\"revision\":");
        match self.revision {
            Some(revision) => out.extend_from_slice(revision.to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"changes\":{");
        for (position, (field, change)) in self.changes.iter().enumerate() {
            if position > 0 {
                out.push(b',');
            }
            write_string(out, field);
            out.extend_from_slice(b":{\"before\":");
            write_value(out, &change.before);
            out.extend_from_slice(b",\"after\":");
            write_value(out, &change.after);
            out.push(b'}');
        }
        out.extend_from_slice(b"}}");
    }

    /// Reads an event from its JSON (canonical or not: any key order and
    /// whitespace), checking it as [`AuditEvent::new`] does. Unknown fields
    /// are refused.
    pub fn from_json(json: &[u8]) -> Result<Self, EventError> {
        let wire: WireEvent =
            serde_json::from_slice(json).map_err(|error| EventError::Json(error.to_string()))?;
        wire.into_event()
    }

    /// Reads an event that must be exactly in its canonical bytes, as an
    /// evidence bundle carries it.
    pub fn from_canonical_json(json: &[u8]) -> Result<Self, EventError> {
        let event = Self::from_json(json)?;
        if event.canonical_bytes() != json {
            return Err(EventError::Json("the event is not written in its canonical bytes".to_owned()));
        }
        Ok(event)
    }
}

/// Whether a field name looks like a secret, or a hash of one: its letters
/// and digits, lowercased, contain `secret`, `password`, `passwd`,
/// `passphrase`, `pepper`, `token`, `privatekey`, `credential`, `hash` or
/// `salt`. It errs on the side of refusing (`token_count` is refused too):
/// the audit log records who changed what, never a credential. A value
/// that is not a secret goes in under a name without these words: the
/// final checkpoint a tenant's deletion carries is `final_tree_size` and
/// `final_root`, not `root_hash`.
pub fn looks_like_a_secret(field: &str) -> bool {
    const SECRET_WORDS: [&str; 10] = [
        "secret",
        "password",
        "passwd",
        "passphrase",
        "pepper",
        "token",
        "privatekey",
        "credential",
        "hash",
        "salt",
    ];
    let letters: String =
        field.chars().filter(|character| character.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    SECRET_WORDS.iter().any(|word| letters.contains(word))
}

fn check_change(field: &str, change: &Change) -> Result<(), EventError> {
    if field.is_empty() || field.len() > 128 || field.chars().any(char::is_control) {
        return Err(EventError::invalid(
            format!("changes.{field}"),
            "a field name is 1 to 128 characters, none of them control characters",
        ));
    }
    if looks_like_a_secret(field) {
        return Err(EventError::Secret { field: field.to_owned() });
    }
    check_value(&format!("changes.{field}.before"), &change.before)?;
    check_value(&format!("changes.{field}.after"), &change.after)
}

fn check_value(path: &str, value: &Value) -> Result<(), EventError> {
    match value {
        Value::Number(number) if !(number.is_i64() || number.is_u64()) => {
            Err(EventError::invalid(path, "numbers must be integers (no floats in canonical bytes)"))
        }
        Value::Array(items) => items.iter().try_for_each(|item| check_value(path, item)),
        Value::Object(members) => members.iter().try_for_each(|(key, member)| {
            let member_path = format!("{path}.{key}");
            if looks_like_a_secret(key) {
                return Err(EventError::Secret { field: member_path });
            }
            check_value(&member_path, member)
        }),
        _ => Ok(()),
    }
}

/// Ids: 1 to 256 characters, no whitespace or control characters.
fn check_identifier(field: &str, value: &str) -> Result<(), EventError> {
    if value.is_empty()
        || value.len() > 256
        || value.chars().any(|character| character.is_whitespace() || character.is_control())
    {
        return Err(EventError::invalid(
            field,
            "must be 1 to 256 characters without whitespace or control characters",
        ));
    }
    Ok(())
}

fn check_optional(field: &str, value: Option<&str>) -> Result<(), EventError> {
    value.map_or(Ok(()), |value| check_identifier(field, value))
}

/// Free text: 1 to 256 characters, no control characters.
fn check_text(field: &str, value: &str) -> Result<(), EventError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(EventError::invalid(field, "must be 1 to 256 characters without control characters"));
    }
    Ok(())
}

fn is_snake_word(word: &str) -> bool {
    let mut characters = word.chars();
    matches!(characters.next(), Some('a'..='z'))
        && characters.all(|character| matches!(character, 'a'..='z' | '0'..='9' | '_'))
        && word.len() <= 64
}

fn is_action(action: &str) -> bool {
    let mut words = action.split('.');
    let all_words = action.split('.').all(is_snake_word);
    words.next().is_some() && words.next().is_some() && all_words
}

fn write_optional_string(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => write_string(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string, escaped exactly as `serde_json` escapes it.
fn write_string(out: &mut Vec<u8>, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut start = 0;
    for (position, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => {
                &[b'\\', b'u', b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0x0f)]]
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..position]);
        out.extend_from_slice(escape);
        start = position + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A JSON value with its object keys sorted by their bytes.
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Only integers get here: floats were refused when the event was
        // made, and an integer has one spelling.
        Value::Number(number) => out.extend_from_slice(number.to_string().as_bytes()),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_unstable_by(|left, right| left.0.as_bytes().cmp(right.0.as_bytes()));
            out.push(b'{');
            for (position, (key, member)) in sorted.into_iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, member);
            }
            out.push(b'}');
        }
    }
}

/// The JSON of an event as read, before its rules are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent {
    log: String,
    seq: u64,
    id: String,
    occurred_at: String,
    actor: WireActor,
    action: String,
    resource: WireResource,
    tenant_id: Option<String>,
    workspace_id: Option<String>,
    revision: Option<u64>,
    changes: BTreeMap<String, WireChange>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum WireActor {
    User { user_id: String, request_id: Option<String> },
    ApiKey { api_key_id: String, user_id: String, request_id: Option<String> },
    System { reason: Option<String> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireResource {
    #[serde(rename = "type")]
    resource_type: String,
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireChange {
    before: Value,
    after: Value,
}

impl WireEvent {
    fn into_event(self) -> Result<AuditEvent, EventError> {
        let log = LogId::parse(&self.log)?;
        if log.tenant_id() != self.tenant_id.as_deref() {
            return Err(EventError::invalid(
                "tenant_id",
                "must be the log's tenant (and null in the platform's log)",
            ));
        }
        let occurred_at = DateTime::parse_from_rfc3339(&self.occurred_at)
            .map_err(|_| EventError::invalid("occurred_at", "must be an RFC 3339 time"))?
            .with_timezone(&Utc);
        if occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true) != self.occurred_at {
            return Err(EventError::invalid(
                "occurred_at",
                "must be UTC with six fraction digits and `Z` (2026-12-06T17:03:34.123456Z)",
            ));
        }
        let actor = match self.actor {
            WireActor::User { user_id, request_id } => Actor::User { user_id, request_id },
            WireActor::ApiKey { api_key_id, user_id, request_id } => {
                Actor::ApiKey { api_key_id, user_id, request_id }
            }
            WireActor::System { reason } => Actor::System { reason },
        };
        AuditEvent::new(NewAuditEvent {
            log,
            seq: self.seq,
            id: self.id,
            occurred_at,
            actor,
            action: self.action,
            resource: Resource::new(self.resource.resource_type, self.resource.id)?,
            workspace_id: self.workspace_id,
            revision: self.revision,
            changes: self
                .changes
                .into_iter()
                .map(|(field, change)| (field, Change::new(change.before, change.after)))
                .collect(),
        })
    }
}
