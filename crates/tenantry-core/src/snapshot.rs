//! Snapshots of a whole deployment, for moving it between backends: the
//! record kinds a snapshot holds, the JSON Lines format they travel in, and
//! the [`SnapshotStore`] contract each backend implements.
//!
//! A snapshot is one file of JSON Lines:
//!
//! ```text
//! {"format":"tenantry-export","version":1,"exported_at":...,"api_key_pepper":{...},...}   header
//! {"n":1,"kind":"users","data":{...},"sha256":"..."}                                       records
//! ...
//! {"trailer":true,"records":N,"counts":{"users":3,...}}                                    trailer
//! ```
//!
//! Records come kind after kind in the order of [`RECORD_KINDS`], which
//! is an order the database's foreign keys accept (a workspace's parent
//! before the workspace). Each record is numbered from 1 and carries the
//! SHA-256 of its number, kind and fields, so a line that was edited,
//! dropped, repeated or moved is named by its line number; the trailer's
//! counts per kind tell a truncated file from a whole one.
//!
//! What a snapshot never holds: a secret. API keys travel as the keyed
//! hashes the database stores, with the fingerprint of the pepper that
//! keyed them ([`pepper_fingerprint`]), never the pepper; webhook
//! subscriptions travel without their signing secrets, which the import
//! issues anew ([`RecordKind::withheld`]); the deployment settings (the
//! pepper itself) are not a record kind at all.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::error::{Error, Result};
use crate::scope::PlatformScope;

/// The `format` every snapshot's header names.
pub const FORMAT_NAME: &str = "tenantry-export";

/// The version of the format this build writes and reads. A reader refuses
/// any other: a later version may carry kinds or fields it cannot place.
pub const FORMAT_VERSION: u32 = 1;

/// The most records one `INSERT` of an import carries.
pub const MAX_ROWS_PER_INSERT: usize = 500;

/// How a field's value is written in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A JSON string.
    Text,
    /// A JSON integer (64-bit signed).
    Integer,
    /// `true` or `false`.
    Boolean,
    /// An RFC 3339 time in UTC with microseconds
    /// (`2026-05-01T12:00:00.123456Z`).
    Timestamp,
    /// Standard base64 of the bytes.
    Bytes,
    /// Any JSON value, as it is.
    Json,
}

impl FieldType {
    fn rule(self) -> &'static str {
        match self {
            Self::Text => "must be a string",
            Self::Integer => "must be a whole number",
            Self::Boolean => "must be true or false",
            Self::Timestamp => "must be an RFC 3339 time",
            Self::Bytes => "must be base64",
            Self::Json => "must be JSON",
        }
    }
}

/// One field of a record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name, which is also its column's.
    pub name: &'static str,
    /// How its value is written.
    pub field_type: FieldType,
    /// Whether it may be null.
    pub nullable: bool,
}

const fn field(name: &'static str, field_type: FieldType) -> Field {
    Field { name, field_type, nullable: false }
}

const fn optional(name: &'static str, field_type: FieldType) -> Field {
    Field { name, field_type, nullable: true }
}

/// One kind of record: the rows of one table of the database, whose name
/// it shares, and the fields each carries.
#[derive(Debug, PartialEq, Eq)]
pub struct RecordKind {
    /// The kind's name, which is also its table's.
    pub name: &'static str,
    /// The fields a snapshot carries, in the order they are written.
    pub fields: &'static [Field],
    /// The fields the table has that a snapshot never carries (a secret),
    /// which the import fills in ([`ImportSource`]).
    pub withheld: &'static [Field],
    /// The fields records are ordered by.
    pub order: &'static [&'static str],
    /// When set, records form trees through this field (`tenant_id`,
    /// this field) to (`tenant_id`, `id`), and a parent comes before its
    /// children.
    pub tree_parent: Option<&'static str>,
    /// The table holds exactly one row, which the migrations create; an
    /// import updates it rather than inserting one.
    pub singleton: bool,
}

impl RecordKind {
    /// Every field the table stores: those carried, then those withheld.
    pub fn stored_fields(&self) -> impl Iterator<Item = &'static Field> + '_ {
        self.fields.iter().chain(self.withheld.iter())
    }

    /// How many of this kind's records one multi-row `INSERT` of an import
    /// carries, within a backend's limit of bound values per statement and
    /// at most [`MAX_ROWS_PER_INSERT`].
    pub fn rows_per_insert(&self, max_bound_values: usize) -> usize {
        (max_bound_values / self.stored_fields().count()).clamp(1, MAX_ROWS_PER_INSERT)
    }

    /// The kind with this name.
    pub fn named(name: &str) -> Option<&'static RecordKind> {
        RECORD_KINDS.iter().find(|kind| kind.name == name)
    }
}

const fn kind(name: &'static str, fields: &'static [Field], order: &'static [&'static str]) -> RecordKind {
    RecordKind { name, fields, withheld: &[], order, tree_parent: None, singleton: false }
}

const fn singleton(name: &'static str, fields: &'static [Field]) -> RecordKind {
    RecordKind { name, fields, withheld: &[], order: &[], tree_parent: None, singleton: true }
}

use FieldType::{Boolean as B, Bytes as Y, Integer as I, Json as J, Text as T, Timestamp as S};

const RELATIONSHIP_FIELDS: [Field; 7] = [
    field("resource_type", T),
    field("resource_id", T),
    field("relation", T),
    field("subject_type", T),
    field("subject_id", T),
    field("subject_relation", T),
    optional("expires_at", S),
];

const CHANGE_FIELDS: [Field; 11] = [
    field("revision", I),
    field("ordinal", I),
    field("operation", T),
    field("resource_type", T),
    field("resource_id", T),
    field("relation", T),
    field("subject_type", T),
    field("subject_id", T),
    field("subject_relation", T),
    optional("expires_at", S),
    field("recorded_at", S),
];

const EVENT_FIELDS: [Field; 12] = [
    field("seq", I),
    field("id", T),
    field("occurred_at", S),
    field("action", T),
    field("resource_type", T),
    field("resource_id", T),
    optional("workspace_id", T),
    field("actor_type", T),
    optional("actor_user_id", T),
    optional("actor_api_key_id", T),
    optional("request_id", T),
    field("body", T),
];

/// `tenant_id` followed by `fields`, at compile time.
const fn tenant_owned<const N: usize, const M: usize>(fields: [Field; N]) -> [Field; M] {
    let mut all = [field("tenant_id", T); M];
    let mut index = 0;
    while index < N {
        all[index + 1] = fields[index];
        index += 1;
    }
    all
}

const TENANT_RELATIONSHIP_FIELDS: [Field; 8] = tenant_owned(RELATIONSHIP_FIELDS);
const TENANT_CHANGE_FIELDS: [Field; 12] = tenant_owned(CHANGE_FIELDS);
const TENANT_EVENT_FIELDS: [Field; 13] = tenant_owned(EVENT_FIELDS);

/// Every record kind, in the order a snapshot holds them and an import
/// writes them: users and tenants first, then what they own, parents
/// before what references them; the audit logs last. The deployment
/// settings (the API key pepper) are not among them.
pub const RECORD_KINDS: &[RecordKind] = &[
    kind(
        "users",
        &[
            field("id", T),
            field("username", T),
            field("display_name", T),
            optional("email", T),
            optional("oidc_issuer", T),
            optional("oidc_subject", T),
            field("kind", T),
            optional("service_tenant_id", T),
            field("created_at", S),
            field("updated_at", S),
        ],
        &["id"],
    ),
    kind(
        "tenants",
        &[
            field("id", T),
            field("name", T),
            field("display_name", T),
            field("status", T),
            field("deployment_model", T),
            field("data_residency", T),
            field("created_at", S),
            field("updated_at", S),
        ],
        &["id"],
    ),
    RecordKind {
        tree_parent: Some("parent_workspace_id"),
        ..kind(
            "workspaces",
            &[
                field("tenant_id", T),
                field("id", T),
                field("name", T),
                optional("parent_workspace_id", T),
                field("is_root", B),
                field("status", T),
                field("environment", T),
                field("created_at", S),
                field("updated_at", S),
            ],
            &["tenant_id", "id"],
        )
    },
    kind("tenant_root_workspaces", &[field("tenant_id", T), field("workspace_id", T)], &["tenant_id"]),
    kind(
        "groups",
        &[
            field("tenant_id", T),
            field("id", T),
            field("name", T),
            field("created_at", S),
            field("updated_at", S),
        ],
        &["tenant_id", "id"],
    ),
    kind(
        "service_accounts",
        &[
            field("tenant_id", T),
            field("user_id", T),
            field("name", T),
            optional("created_by", T),
            field("created_at", S),
        ],
        &["tenant_id", "user_id"],
    ),
    kind(
        "api_keys",
        &[
            field("tenant_id", T),
            field("id", T),
            field("user_id", T),
            field("name", T),
            field("secret_hash", Y),
            field("created_at", S),
            field("expires_at", S),
            optional("last_used_at", S),
            optional("revoked_at", S),
        ],
        &["tenant_id", "id"],
    ),
    kind(
        "relationship_revisions",
        &[
            field("tenant_id", T),
            field("revision", I),
            field("pruned_through", I),
            field("credentials_revision", I),
        ],
        &["tenant_id"],
    ),
    kind(
        "relationships",
        &TENANT_RELATIONSHIP_FIELDS,
        &[
            "tenant_id",
            "resource_type",
            "resource_id",
            "relation",
            "subject_type",
            "subject_id",
            "subject_relation",
        ],
    ),
    kind("relationship_changes", &TENANT_CHANGE_FIELDS, &["tenant_id", "revision", "ordinal"]),
    singleton("platform_relationship_revisions", &[field("revision", I), field("pruned_through", I)]),
    kind(
        "platform_relationships",
        &RELATIONSHIP_FIELDS,
        &["resource_type", "resource_id", "relation", "subject_type", "subject_id", "subject_relation"],
    ),
    kind("platform_relationship_changes", &CHANGE_FIELDS, &["revision", "ordinal"]),
    kind(
        "authorization_schemas",
        &[field("version", I), field("text", T), field("created_at", S)],
        &["version"],
    ),
    kind(
        "invitations",
        &[
            field("tenant_id", T),
            field("id", T),
            field("resource_type", T),
            optional("workspace_id", T),
            optional("group_id", T),
            field("role", T),
            optional("invitee_user_id", T),
            optional("invitee_email", T),
            optional("invitee_email_key", T),
            field("invited_by", T),
            field("status", T),
            field("created_at", S),
            field("expires_at", S),
            optional("answered_at", S),
        ],
        &["tenant_id", "id"],
    ),
    kind(
        "sessions",
        &[
            field("tenant_id", T),
            field("id", T),
            field("workspace_id", T),
            field("state", T),
            field("agent_id", T),
            optional("actor", T),
            optional("repository", T),
            optional("policy_pack", T),
            field("decision_count", I),
            field("blocked_count", I),
            field("approval_required_count", I),
            field("evidence_refs", J),
            field("started_at", S),
            field("updated_at", S),
        ],
        &["tenant_id", "id"],
    ),
    kind(
        "decisions",
        &[
            field("tenant_id", T),
            field("id", T),
            field("workspace_id", T),
            field("session_id", T),
            field("agent_id", T),
            optional("actor", T),
            optional("repository", T),
            field("action_type", T),
            optional("target", T),
            optional("requested_operation", T),
            optional("policy_pack", T),
            optional("policy_id", T),
            optional("rule_id", T),
            field("decision", T),
            field("severity", T),
            optional("reason", T),
            field("evidence_refs", J),
            optional("approver_group", T),
            field("occurred_at", S),
            optional("correlation_id", T),
            optional("recorded_by", T),
            optional("recorded_by_api_key", T),
            field("recorded_at", S),
        ],
        &["tenant_id", "id"],
    ),
    kind(
        "approvals",
        &[
            field("tenant_id", T),
            field("id", T),
            field("workspace_id", T),
            field("decision_id", T),
            field("state", T),
            field("approver_group", T),
            field("required_approvals", I),
            field("requested_by", T),
            field("requested_at", S),
            field("expires_at", S),
            field("awaiting_review", B),
            field("updated_at", S),
            field("body", J),
        ],
        &["tenant_id", "id"],
    ),
    kind(
        "approval_routing",
        &[field("tenant_id", T), field("rules", J), field("updated_at", S)],
        &["tenant_id"],
    ),
    RecordKind {
        withheld: &[field("secret", T)],
        ..kind(
            "webhooks",
            &[
                field("tenant_id", T),
                field("id", T),
                field("url", T),
                field("event_types", J),
                optional("description", T),
                optional("created_by", T),
                field("created_at", S),
                field("delivered_through", I),
            ],
            &["tenant_id", "id"],
        )
    },
    kind(
        "webhook_deliveries",
        &[
            field("tenant_id", T),
            field("webhook_id", T),
            field("id", T),
            field("message_id", T),
            optional("event_seq", I),
            field("action", T),
            field("attempt", I),
            field("attempted_at", S),
            optional("status", I),
            optional("error", T),
            field("duration_micros", I),
            optional("next_attempt_at", S),
        ],
        &["tenant_id", "webhook_id", "id"],
    ),
    kind(
        "operation_runs",
        &[
            field("id", T),
            field("kind", T),
            field("parameters", J),
            optional("target_tenant_id", T),
            optional("started_by", T),
            field("status", T),
            field("progress", J),
            optional("cursor", T),
            field("throttle_ms", I),
            field("jobs_total", I),
            field("jobs_done", I),
            field("created_at", S),
            optional("started_at", S),
            optional("finished_at", S),
            field("updated_at", S),
            optional("error", T),
        ],
        &["id"],
    ),
    kind(
        "jobs",
        &[
            field("id", T),
            field("run_id", T),
            field("position", I),
            field("kind", T),
            field("payload", J),
            field("state", T),
            field("checkpoint", J),
            field("attempts", I),
            field("fencing_token", I),
            optional("lease_owner", T),
            optional("lease_expires_at", S),
            field("available_at", S),
            field("updated_at", S),
        ],
        &["run_id", "position", "id"],
    ),
    kind("audit_logs", &[field("tenant_id", T), field("size", I), field("frontier", Y)], &["tenant_id"]),
    kind("audit_events", &TENANT_EVENT_FIELDS, &["tenant_id", "seq"]),
    kind(
        "audit_nodes",
        &[field("tenant_id", T), field("level", I), field("idx", I), field("hash", Y)],
        &["tenant_id", "level", "idx"],
    ),
    kind(
        "audit_checkpoints",
        &[field("tenant_id", T), field("size", I), field("note", T)],
        &["tenant_id", "size"],
    ),
    singleton("platform_audit_log", &[field("size", I), field("frontier", Y)]),
    kind("platform_audit_events", &EVENT_FIELDS, &["seq"]),
    kind("platform_audit_nodes", &[field("level", I), field("idx", I), field("hash", Y)], &["level", "idx"]),
    kind("platform_audit_checkpoints", &[field("size", I), field("note", T)], &["size"]),
];

/// One field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// No value (a nullable field).
    Null,
    /// A string.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A truth value.
    Boolean(bool),
    /// A time.
    Timestamp(Timestamp),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A JSON value.
    Json(Value),
}

impl FieldValue {
    fn to_json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Text(text) => Value::from(text.as_str()),
            Self::Integer(number) => Value::from(*number),
            Self::Boolean(truth) => Value::from(*truth),
            Self::Timestamp(at) => Value::from(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            Self::Bytes(bytes) => Value::from(BASE64.encode(bytes)),
            Self::Json(value) => value.clone(),
        }
    }

    fn from_json(field: &Field, value: &Value) -> std::result::Result<Self, &'static str> {
        if value.is_null() {
            return if field.nullable { Ok(Self::Null) } else { Err("must not be null") };
        }
        let rule = field.field_type.rule();
        Ok(match field.field_type {
            FieldType::Text => Self::Text(value.as_str().ok_or(rule)?.to_owned()),
            FieldType::Integer => Self::Integer(value.as_i64().ok_or(rule)?),
            FieldType::Boolean => Self::Boolean(value.as_bool().ok_or(rule)?),
            FieldType::Timestamp => {
                let text = value.as_str().ok_or(rule)?;
                let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| rule)?;
                Self::Timestamp(at.with_timezone(&chrono::Utc))
            }
            FieldType::Bytes => Self::Bytes(BASE64.decode(value.as_str().ok_or(rule)?).map_err(|_| rule)?),
            FieldType::Json => Self::Json(value.clone()),
        })
    }

    /// The text, when the value is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// One record: a row of its kind's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    kind: &'static RecordKind,
    values: Vec<FieldValue>,
}

impl Record {
    /// A record of `kind` with the values of its carried fields, in order;
    /// a backend's export builds them. A value that does not fit its field
    /// is an internal error (the database holds something it should not).
    pub fn new(kind: &'static RecordKind, values: Vec<FieldValue>) -> Result<Self> {
        if values.len() != kind.fields.len() {
            return Err(Error::internal(format!(
                "a {} record needs {} values, not {}",
                kind.name,
                kind.fields.len(),
                values.len()
            )));
        }
        for (field, value) in kind.fields.iter().zip(&values) {
            if !fits(field, value) {
                return Err(Error::internal(format!(
                    "the stored {}.{} does not fit its field ({:?})",
                    kind.name, field.name, field.field_type
                )));
            }
        }
        Ok(Self { kind, values })
    }

    /// The record's kind.
    pub fn kind(&self) -> &'static RecordKind {
        self.kind
    }

    /// The values, in the order of [`RecordKind::stored_fields`] (the
    /// withheld fields only once the import filled them in).
    pub fn values(&self) -> &[FieldValue] {
        &self.values
    }

    /// The value of the carried field `name`.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        let index = self.kind.stored_fields().position(|field| field.name == name)?;
        self.values.get(index)
    }

    fn data(&self) -> Map<String, Value> {
        self.kind
            .fields
            .iter()
            .zip(&self.values)
            .map(|(field, value)| (field.name.to_owned(), value.to_json()))
            .collect()
    }
}

fn fits(field: &Field, value: &FieldValue) -> bool {
    matches!(
        (field.field_type, value),
        (_, FieldValue::Null) if field.nullable
    ) || matches!(
        (field.field_type, value),
        (FieldType::Text, FieldValue::Text(_))
            | (FieldType::Integer, FieldValue::Integer(_))
            | (FieldType::Boolean, FieldValue::Boolean(_))
            | (FieldType::Timestamp, FieldValue::Timestamp(_))
            | (FieldType::Bytes, FieldValue::Bytes(_))
            | (FieldType::Json, FieldValue::Json(_))
    )
}

/// How many records of each kind, by kind name.
pub type RecordCounts = BTreeMap<String, u64>;

/// Every kind with a count of zero, in the order of [`RECORD_KINDS`].
pub fn zero_counts() -> RecordCounts {
    RECORD_KINDS.iter().filter(|kind| !kind.singleton).map(|kind| (kind.name.to_owned(), 0)).collect()
}

/// Where the API key pepper of the exported deployment was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PepperKeptIn {
    /// In the database's deployment settings (no `--api-key-pepper-file`).
    Database,
    /// In a file given with `--api-key-pepper-file`.
    File,
}

/// The pepper the exported API key hashes were keyed with: its
/// fingerprint and where it was kept, never the pepper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PepperNote {
    /// [`pepper_fingerprint`] of the pepper.
    pub fingerprint: String,
    /// Where the exporting deployment kept it.
    pub kept_in: PepperKeptIn,
}

/// The first line of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The format's version, [`FORMAT_VERSION`] for this build.
    pub version: u32,
    /// When the export read the database.
    pub exported_at: String,
    /// The backend exported from (`sqlite`, `postgres`).
    pub source_backend: String,
    /// The version of tenantry that wrote it.
    pub tenantry_version: String,
    /// The API key pepper's fingerprint.
    pub api_key_pepper: PepperNote,
    /// The verifier key of the exporting deployment's audit signing key,
    /// when the export could read it: what its checkpoints verify under.
    pub audit_verifier_key: Option<String>,
    /// The record kinds, in the order they follow.
    pub kinds: Vec<String>,
}

/// The last line of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trailer {
    /// Always true: what tells the trailer from a record.
    pub trailer: bool,
    /// How many records precede it.
    pub records: u64,
    /// How many of each kind.
    pub counts: RecordCounts,
}

/// The fingerprint of an API key pepper, which a snapshot carries in its
/// place: `hmac-sha256:` and the hex HMAC-SHA-256, keyed with the pepper,
/// of a fixed label. It tells whether two peppers are the same and
/// reveals nothing of either (finding the pepper from it is as hard as
/// breaking HMAC).
pub fn pepper_fingerprint(pepper: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper).expect("HMAC takes a key of any length");
    mac.update(b"tenantry api key pepper fingerprint v1");
    format!("hmac-sha256:{}", hex(&mac.finalize().into_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The checksum of record number `n`: SHA-256 of its number, kind and
/// fields in canonical JSON (sorted keys, no white space).
fn record_checksum(n: u64, kind: &str, data: &Map<String, Value>) -> String {
    let canonical = serde_json::to_string(&serde_json::json!({ "n": n, "kind": kind, "data": data }))
        .expect("JSON values serialize");
    hex(&Sha256::digest(canonical.as_bytes()))
}

/// Receives the records of an export, one at a time.
pub trait RecordSink: Send {
    /// Takes one record.
    fn write_record(&mut self, record: Record) -> Result<()>;
}

/// Hands an import its records, one at a time, in the order of
/// [`RECORD_KINDS`]; `None` once the snapshot ended (whole and verified).
pub trait RecordSource: Send {
    /// The next record, with every stored field's value.
    fn next_record(&mut self) -> Result<Option<Record>>;
}

/// Writes a snapshot: the header, then each record as it comes, then (on
/// [`SnapshotWriter::finish`]) the trailer.
#[derive(Debug)]
pub struct SnapshotWriter<W: Write + Send> {
    output: W,
    counts: RecordCounts,
    written: u64,
}

impl<W: Write + Send> SnapshotWriter<W> {
    /// Starts a snapshot with its header.
    pub fn new(mut output: W, header: &Header) -> Result<Self> {
        write_line(&mut output, &serde_json::to_value(header).map_err(Error::internal)?)?;
        Ok(Self { output, counts: zero_counts(), written: 0 })
    }

    /// Writes the trailer and returns the output and the counts.
    pub fn finish(mut self) -> Result<(W, RecordCounts)> {
        let trailer = Trailer { trailer: true, records: self.written, counts: self.counts.clone() };
        write_line(&mut self.output, &serde_json::to_value(&trailer).map_err(Error::internal)?)?;
        self.output.flush().map_err(|error| Error::internal(format!("writing the export: {error}")))?;
        Ok((self.output, self.counts))
    }
}

impl<W: Write + Send> RecordSink for SnapshotWriter<W> {
    fn write_record(&mut self, record: Record) -> Result<()> {
        self.written += 1;
        if !record.kind.singleton {
            *self.counts.entry(record.kind.name.to_owned()).or_default() += 1;
        }
        let data = record.data();
        let sha256 = record_checksum(self.written, record.kind.name, &data);
        let line = serde_json::json!({ "n": self.written, "kind": record.kind.name, "data": data, "sha256": sha256 });
        write_line(&mut self.output, &line)
    }
}

fn write_line(output: &mut impl Write, value: &Value) -> Result<()> {
    serde_json::to_writer(&mut *output, value)
        .map_err(|error| Error::internal(format!("writing the export: {error}")))?;
    output.write_all(b"\n").map_err(|error| Error::internal(format!("writing the export: {error}")))
}

/// A refusal of a snapshot's line: the line number, and what is wrong.
fn bad_line(line: u64, reason: impl std::fmt::Display) -> Error {
    Error::invalid("input", format!("line {line}: {reason}"))
}

/// Reads a snapshot, checking every line as it goes: the header's format
/// and version, each record's number, kind, order, fields and checksum,
/// and at the end the trailer's counts. Any mismatch is
/// [`Error::Invalid`] on `input`, naming the line.
#[derive(Debug)]
pub struct SnapshotReader<R: BufRead + Send> {
    input: R,
    header: Header,
    line: u64,
    records: u64,
    counts: RecordCounts,
    kind_index: usize,
    last_kind: Option<usize>,
    trailer: Option<Trailer>,
    buffer: String,
}

impl<R: BufRead + Send> SnapshotReader<R> {
    /// Reads and checks the header.
    pub fn new(mut input: R) -> Result<Self> {
        let mut buffer = String::new();
        let read =
            input.read_line(&mut buffer).map_err(|error| bad_line(1, format!("cannot be read: {error}")))?;
        if read == 0 {
            return Err(bad_line(1, "the file is empty; a snapshot starts with its header"));
        }
        let value: Value =
            serde_json::from_str(&buffer).map_err(|error| bad_line(1, format!("is not JSON: {error}")))?;
        match value.get("format").and_then(Value::as_str) {
            Some(FORMAT_NAME) => {}
            _ => {
                return Err(bad_line(
                    1,
                    format!("is not a snapshot header: its `format` is not \"{FORMAT_NAME}\""),
                ));
            }
        }
        match value.get("version").and_then(Value::as_u64) {
            Some(version) if version == u64::from(FORMAT_VERSION) => {}
            other => {
                return Err(bad_line(
                    1,
                    format!(
                        "the snapshot's version is {}, and this tenantry reads version {FORMAT_VERSION} only",
                        other.map_or_else(|| "missing".to_owned(), |version| version.to_string())
                    ),
                ));
            }
        }
        let header: Header =
            serde_json::from_value(value).map_err(|error| bad_line(1, format!("header: {error}")))?;
        let expected: Vec<String> = RECORD_KINDS.iter().map(|kind| kind.name.to_owned()).collect();
        if header.kinds != expected {
            return Err(bad_line(1, "header: `kinds` does not list this version's record kinds in order"));
        }
        Ok(Self {
            input,
            header,
            line: 1,
            records: 0,
            counts: zero_counts(),
            kind_index: 0,
            last_kind: None,
            trailer: None,
            buffer,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The trailer, once every record was read.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    /// The counts of the records read so far.
    pub fn counts(&self) -> &RecordCounts {
        &self.counts
    }

    /// The next record, or `None` after the trailer (checked).
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if self.trailer.is_some() {
            return Ok(None);
        }
        self.buffer.clear();
        let line = self.line + 1;
        let read = self
            .input
            .read_line(&mut self.buffer)
            .map_err(|error| bad_line(line, format!("cannot be read: {error}")))?;
        if read == 0 {
            return Err(bad_line(
                line,
                format!("the file ends after line {} without its trailer: it was truncated", self.line),
            ));
        }
        self.line = line;
        if !self.buffer.ends_with('\n') {
            return Err(bad_line(line, "the line is cut short (no line end): the file was truncated"));
        }
        let value: Value = serde_json::from_str(&self.buffer)
            .map_err(|error| bad_line(line, format!("is not JSON: {error}")))?;
        let Value::Object(mut object) = value else {
            return Err(bad_line(line, "is not a JSON object"));
        };
        if object.contains_key("trailer") {
            return self.finish(line, Value::Object(object)).map(|()| None);
        }
        let n = object.get("n").and_then(Value::as_u64);
        if n != Some(self.records + 1) {
            return Err(bad_line(
                line,
                format!(
                    "record number {} where {} was expected: a line was removed, repeated or moved",
                    n.map_or_else(|| "missing".to_owned(), |n| n.to_string()),
                    self.records + 1
                ),
            ));
        }
        let kind_name = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
        let Some(position) = RECORD_KINDS.iter().position(|kind| kind.name == kind_name) else {
            return Err(bad_line(line, format!("unknown record kind {kind_name:?}")));
        };
        if position < self.kind_index {
            return Err(bad_line(
                line,
                format!(
                    "a {kind_name} record after the {} records: kinds are out of order",
                    RECORD_KINDS[self.kind_index].name
                ),
            ));
        }
        let kind = &RECORD_KINDS[position];
        let Some(Value::Object(data)) = object.remove("data") else {
            return Err(bad_line(line, "has no `data` object"));
        };
        let checksum = object.get("sha256").and_then(Value::as_str).unwrap_or_default();
        if checksum != record_checksum(self.records + 1, kind.name, &data) {
            return Err(bad_line(
                line,
                format!(
                    "its sha256 does not match its content: the {} record was edited or damaged",
                    kind.name
                ),
            ));
        }
        if let Some(extra) = object.keys().find(|key| !["n", "kind", "sha256"].contains(&key.as_str())) {
            return Err(bad_line(line, format!("unknown member {extra:?}")));
        }
        if let Some(extra) =
            data.keys().find(|key| !kind.fields.iter().any(|field| field.name == key.as_str()))
        {
            return Err(bad_line(line, format!("{}.{extra}: no such field", kind.name)));
        }
        let mut values = Vec::with_capacity(kind.fields.len());
        for field in kind.fields {
            let value = data
                .get(field.name)
                .ok_or_else(|| bad_line(line, format!("{}.{}: missing", kind.name, field.name)))?;
            values.push(
                FieldValue::from_json(field, value)
                    .map_err(|rule| bad_line(line, format!("{}.{}: {rule}", kind.name, field.name)))?,
            );
        }
        if kind.singleton && self.last_kind == Some(position) {
            return Err(bad_line(line, format!("a second {} record: it holds one", kind.name)));
        }
        self.kind_index = position;
        self.records += 1;
        if !kind.singleton {
            *self.counts.entry(kind.name.to_owned()).or_default() += 1;
        }
        self.last_kind = Some(position);
        Ok(Some(Record { kind, values }))
    }
}

impl<R: BufRead + Send> SnapshotReader<R> {
    /// Checks the trailer against what was read, and that nothing follows.
    fn finish(&mut self, line: u64, value: Value) -> Result<()> {
        let trailer: Trailer =
            serde_json::from_value(value).map_err(|error| bad_line(line, format!("trailer: {error}")))?;
        if !trailer.trailer {
            return Err(bad_line(line, "trailer: `trailer` must be true"));
        }
        if trailer.records != self.records {
            return Err(bad_line(
                line,
                format!(
                    "the trailer counts {} records but {} precede it: records were removed or added",
                    trailer.records, self.records
                ),
            ));
        }
        for (kind, read) in &self.counts {
            let counted = trailer.counts.get(kind).copied().unwrap_or_default();
            if counted != *read {
                return Err(bad_line(
                    line,
                    format!("the trailer counts {counted} {kind} records but the file holds {read}"),
                ));
            }
        }
        if let Some(unknown) = trailer.counts.keys().find(|kind| !self.counts.contains_key(*kind)) {
            return Err(bad_line(line, format!("the trailer counts an unknown kind {unknown:?}")));
        }
        self.buffer.clear();
        let more = self
            .input
            .read_line(&mut self.buffer)
            .map_err(|error| bad_line(line + 1, format!("cannot be read: {error}")))?;
        if more != 0 && !self.buffer.trim().is_empty() {
            return Err(bad_line(line + 1, "follows the trailer: nothing may"));
        }
        self.trailer = Some(trailer);
        Ok(())
    }
}

/// A webhook subscription whose signing secret an import issued anew
/// (the export carried none): what its tenant's receivers must be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReissuedWebhookSecret {
    /// The subscription's tenant.
    pub tenant_id: String,
    /// The subscription.
    pub webhook_id: String,
    /// Its endpoint.
    pub url: String,
    /// The new secret, `whsec_<base64>`.
    pub secret: String,
}

/// The records of a snapshot as an import writes them: read and checked
/// by a [`SnapshotReader`], with every withheld field filled in (each
/// webhook's new signing secret, kept in [`ImportSource::reissued`]), and
/// `progress` told of every record.
pub struct ImportSource<R: BufRead + Send> {
    reader: SnapshotReader<R>,
    reissue_webhook_secrets: bool,
    reissued: Vec<ReissuedWebhookSecret>,
    progress: Box<dyn FnMut(&'static RecordKind, u64) + Send>,
}

impl<R: BufRead + Send> std::fmt::Debug for ImportSource<R> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ImportSource").field("records", &self.reader.records).finish_non_exhaustive()
    }
}

impl<R: BufRead + Send> ImportSource<R> {
    /// Reads `reader`'s records for an import; `progress` is called with
    /// each record's kind and how many of that kind were read so far. A
    /// webhook subscription is refused (on `--webhook-secrets-output`,
    /// naming its line) unless `reissue_webhook_secrets`: the caller then
    /// keeps [`ImportSource::reissued`] for the subscriptions' tenants.
    pub fn new(
        reader: SnapshotReader<R>,
        reissue_webhook_secrets: bool,
        progress: Box<dyn FnMut(&'static RecordKind, u64) + Send>,
    ) -> Self {
        Self { reader, reissue_webhook_secrets, reissued: Vec::new(), progress }
    }

    /// The line last read.
    pub fn line(&self) -> u64 {
        self.reader.line
    }

    /// The snapshot's header.
    pub fn header(&self) -> &Header {
        self.reader.header()
    }

    /// The trailer, once the source ended.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.reader.trailer()
    }

    /// The webhook secrets issued so far.
    pub fn reissued(&self) -> &[ReissuedWebhookSecret] {
        &self.reissued
    }
}

impl<R: BufRead + Send> RecordSource for ImportSource<R> {
    fn next_record(&mut self) -> Result<Option<Record>> {
        let Some(mut record) = self.reader.next_record()? else { return Ok(None) };
        for field in record.kind.withheld {
            let value = match (record.kind.name, field.name) {
                ("webhooks", "secret") => {
                    if !self.reissue_webhook_secrets {
                        return Err(Error::invalid(
                            "--webhook-secrets-output",
                            format!(
                                "line {}: the snapshot holds webhook subscriptions, and no snapshot carries \
                                 their signing secrets; pass --webhook-secrets-output FILE to issue them new \
                                 ones, written there once for their tenants' receivers",
                                self.reader.line
                            ),
                        ));
                    }
                    let secret = crate::webhook::WebhookSecret::generate().expose();
                    let text = |name: &str| {
                        record.get(name).and_then(FieldValue::as_text).unwrap_or_default().to_owned()
                    };
                    self.reissued.push(ReissuedWebhookSecret {
                        tenant_id: text("tenant_id"),
                        webhook_id: text("id"),
                        url: text("url"),
                        secret: secret.clone(),
                    });
                    FieldValue::Text(secret)
                }
                (kind, name) => return Err(Error::internal(format!("no import fills in {kind}.{name}"))),
            };
            record.values.push(value);
        }
        let count = self.reader.counts.get(record.kind.name).copied().unwrap_or(1);
        (self.progress)(record.kind, count);
        Ok(Some(record))
    }
}

/// The header of an export of this build.
pub fn header(
    exported_at: Timestamp,
    source_backend: &str,
    api_key_pepper: PepperNote,
    audit_verifier_key: Option<String>,
) -> Header {
    Header {
        format: FORMAT_NAME.to_owned(),
        version: FORMAT_VERSION,
        exported_at: exported_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        source_backend: source_backend.to_owned(),
        tenantry_version: env!("CARGO_PKG_VERSION").to_owned(),
        api_key_pepper,
        audit_verifier_key,
        kinds: RECORD_KINDS.iter().map(|kind| kind.name.to_owned()).collect(),
    }
}

/// What an import found in its target that an import would collide with:
/// the counts of every kind that is not empty, and the platform audit
/// log's size. A target is empty when this is (see [`Occupancy::check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// The kinds that hold records, with how many.
    pub nonempty: RecordCounts,
    /// How many events the platform's audit log has.
    pub platform_audit_events: u64,
}

impl Occupancy {
    /// Refuses a target that holds anything: an import goes into a
    /// database that `tenantry migrate` made and nothing else touched
    /// (`serve` bootstraps the default tenant, so a served database is
    /// not empty). Conflict `target_not_empty`, naming what it holds.
    pub fn check(&self) -> Result<()> {
        if self.nonempty.is_empty() && self.platform_audit_events == 0 {
            return Ok(());
        }
        let held: Vec<String> = self.nonempty.iter().map(|(kind, count)| format!("{count} {kind}")).collect();
        Err(Error::conflict_with_detail(
            crate::ConflictCode::TargetNotEmpty,
            format!(
                "the target database already holds {}; an import goes only into a database that \
                 `tenantry migrate` made and nothing else wrote to (not `serve`, whose bootstrap creates \
                 the default tenant, and not an earlier import)",
                if held.is_empty() { "platform audit events".to_owned() } else { held.join(", ") }
            ),
        ))
    }
}

/// A deployment's whole contents, read and written at once: the export
/// and import of snapshots. A backend reads every record in one
/// consistent snapshot of the database, and writes an import in one
/// transaction that commits only when every record was written and the
/// source ended whole.
#[async_trait]
pub trait SnapshotStore: Send + Sync + std::fmt::Debug {
    /// Hands every record of the database to `sink`, kind after kind in
    /// the order of [`RECORD_KINDS`] (each kind in its `order`, trees
    /// parents first), read in one consistent snapshot.
    async fn export_snapshot(&self, platform: &PlatformScope, sink: &mut dyn RecordSink) -> Result<()>;

    /// What the database holds that an import would collide with.
    async fn snapshot_occupancy(&self, platform: &PlatformScope) -> Result<Occupancy>;

    /// How many records of each kind the database holds (singletons
    /// aside).
    async fn snapshot_counts(&self, platform: &PlatformScope) -> Result<RecordCounts>;

    /// Writes every record of `source` in one transaction, which first
    /// checks, inside it, that the database is empty
    /// ([`Occupancy::check`]); stores `pepper` as the deployment's API
    /// key pepper when given (refusing a database that keeps another);
    /// and commits only when `source` ended without error. Returns the
    /// counts written.
    async fn import_snapshot(
        &self,
        platform: &PlatformScope,
        source: &mut dyn RecordSource,
        pepper: Option<&[u8]>,
    ) -> Result<RecordCounts>;

    /// The API key pepper the database keeps, if it keeps one; never
    /// creates one.
    async fn stored_api_key_pepper(&self) -> Result<Option<Vec<u8>>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        let users = RecordKind::named("users").unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-05-01T12:00:00.123456Z").unwrap().to_utc();
        let user = |id: &str| {
            Record::new(
                users,
                vec![
                    FieldValue::Text(id.into()),
                    FieldValue::Text(format!("name-{id}")),
                    FieldValue::Text("A".into()),
                    FieldValue::Null,
                    FieldValue::Null,
                    FieldValue::Null,
                    FieldValue::Text("person".into()),
                    FieldValue::Null,
                    FieldValue::Timestamp(at),
                    FieldValue::Timestamp(at),
                ],
            )
            .unwrap()
        };
        let nodes = RecordKind::named("platform_audit_nodes").unwrap();
        let node = Record::new(
            nodes,
            vec![FieldValue::Integer(0), FieldValue::Integer(3), FieldValue::Bytes(vec![0, 255, 7])],
        )
        .unwrap();
        vec![user("usr_1"), user("usr_2"), node]
    }

    fn written() -> Vec<u8> {
        let note = PepperNote { fingerprint: pepper_fingerprint(&[1; 32]), kept_in: PepperKeptIn::Database };
        let mut writer =
            SnapshotWriter::new(Vec::new(), &header(crate::now(), "sqlite", note, None)).unwrap();
        for record in sample() {
            writer.write_record(record).unwrap();
        }
        writer.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>> {
        let mut reader = SnapshotReader::new(bytes)?;
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    fn refusal(bytes: &[u8]) -> String {
        match read_all(bytes) {
            Err(Error::Invalid { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        assert_eq!(read_all(&written()).unwrap(), sample());
    }

    #[test]
    fn damage_is_named_by_its_line() {
        let text = String::from_utf8(written()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let join = |lines: &[&str]| format!("{}\n", lines.join("\n")).into_bytes();
        // Truncated: no trailer.
        assert!(refusal(&join(&lines[..3])).starts_with("line 4: the file ends after line 3"));
        // Cut mid-line.
        let cut = &text.as_bytes()[..text.len() - 5];
        assert!(refusal(cut).starts_with("line 5:"), "{}", refusal(cut));
        // Edited value.
        let edited = text.replace("name-usr_2", "name-usr_9");
        assert!(refusal(edited.as_bytes()).starts_with("line 3: its sha256 does not match"));
        // A line removed.
        let removed = join(&[lines[0], lines[2], lines[3], lines[4]]);
        assert!(refusal(&removed).starts_with("line 2: record number 2 where 1"));
        // Wrong type.
        let typed = text.replacen("\"is_root\"", "\"x\"", 1).replace("\"level\":0", "\"level\":\"0\"");
        assert!(refusal(typed.as_bytes()).starts_with("line 4:"));
        // Another version.
        let later = text.replacen("\"version\":1", "\"version\":2", 1);
        assert!(refusal(later.as_bytes()).contains("version is 2"));
        // Counts that disagree.
        let counted = text.replace("\"users\":2", "\"users\":3");
        assert!(refusal(counted.as_bytes()).starts_with("line 5: the trailer counts 3 users"));
    }

    #[test]
    fn kinds_are_listed_once_with_fields_once() {
        let mut names: Vec<&str> = RECORD_KINDS.iter().map(|kind| kind.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RECORD_KINDS.len());
        for kind in RECORD_KINDS {
            let mut fields: Vec<&str> = kind.stored_fields().map(|field| field.name).collect();
            fields.sort_unstable();
            fields.dedup();
            assert_eq!(fields.len(), kind.fields.len() + kind.withheld.len(), "{}", kind.name);
            for name in kind.order {
                assert!(kind.fields.iter().any(|field| field.name == *name), "{}.{name}", kind.name);
            }
        }
    }

    #[test]
    fn fingerprints_tell_peppers_apart_without_showing_them() {
        let pepper = [7u8; 32];
        let fingerprint = pepper_fingerprint(&pepper);
        assert_eq!(fingerprint, pepper_fingerprint(&pepper));
        assert_ne!(fingerprint, pepper_fingerprint(&[8u8; 32]));
        assert!(!fingerprint.contains(&hex(&pepper)));
    }
}
