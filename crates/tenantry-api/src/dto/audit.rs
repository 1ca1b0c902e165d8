//! The wire types of the audit log's routes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an audit event's change was made to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditResourceDto {
    /// The resource's type (`workspace`, `api_key`, `membership`, …).
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Its id.
    pub id: String,
}

/// One audit event, exactly as its canonical bytes hold it (the leaf of
/// its log's Merkle tree is the SHA-256 of `0x00` and those bytes).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditEventDto {
    /// `platform` or `tenant/<tenant id>`.
    pub log: String,
    /// Its position in the log: 1, 2, 3, … without gaps.
    pub seq: u64,
    /// Its id.
    pub id: String,
    /// When the change was made (RFC 3339, UTC, microseconds).
    pub occurred_at: String,
    /// Who made it: `{"type":"user","user_id","request_id"}`,
    /// `{"type":"api_key","api_key_id","user_id","request_id"}` or
    /// `{"type":"system","reason"}`.
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    /// What was done, as a stable dotted name (`workspace.created`).
    pub action: String,
    /// What it was done to.
    pub resource: AuditResourceDto,
    /// The tenant whose log it is; null in the platform's.
    #[schema(required = true)]
    pub tenant_id: Option<String>,
    /// The workspace it happened in, if any.
    #[schema(required = true)]
    pub workspace_id: Option<String>,
    /// The partition's relationship revision after the change, if it
    /// wrote relationships.
    #[schema(required = true)]
    pub revision: Option<u64>,
    /// The fields that changed: `{"field": {"before": …, "after": …}}`.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

/// An event with its inclusion proof: the hashes (base64) that lead from
/// its leaf to the root of the log's tree of `tree_size` events.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProvenAuditEventResponse {
    /// The event.
    pub event: AuditEventDto,
    /// Its leaf's index in the tree (`seq - 1`).
    pub leaf_index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// The RFC 9162 inclusion proof, base64 hashes, leaf to root.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint of `tree_size`, when the proof is against one;
    /// null when the event is newer than the latest checkpoint (the proof
    /// is then against the log's current, not yet signed, tree).
    #[schema(required = true)]
    pub checkpoint: Option<String>,
}

/// A log's latest signed checkpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditCheckpointResponse {
    /// `platform` or `tenant/<tenant id>`.
    pub log: String,
    /// How many events it covers.
    pub tree_size: u64,
    /// The signed note (C2SP `tlog-checkpoint` in a signed note).
    pub checkpoint: String,
    /// The deployment's verifier key, when this server knows it.
    #[schema(required = true)]
    pub verifier_key: Option<String>,
    /// How many events the log has now (some may be newer than the
    /// checkpoint).
    pub log_size: u64,
}

/// A consistency proof between two sizes of a log's tree.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditConsistencyResponse {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The RFC 9162 consistency proof, base64 hashes.
    pub proof: Vec<String>,
}
