//! Evidence bundles: a range of a log's events with everything needed to
//! verify them offline, in one text file.
//!
//! # Format (`tenantry-audit-bundle/1`)
//!
//! UTF-8 lines, each ending in `\n`, nothing after the last:
//!
//! 1. The manifest, one line of JSON with its fields in this order:
//!    `format` (`tenantry-audit-bundle/1`), `log` (`platform` or
//!    `tenant/<id>`), `origin`, `verifier_key` (`<name>+<key id>+<key>`),
//!    `checkpoint` (the signed note, as a JSON string), `tree_size` (the
//!    checkpoint's), `first_seq`, `last_seq`, `event_count`,
//!    `events_sha256` and `proofs_sha256` (lowercase hex of the SHA-256 of
//!    the event lines and of the proof lines, newlines included).
//! 2. `event_count` event lines, `first_seq..=last_seq` in order, each the
//!    event's canonical bytes (see [`crate::event`]).
//! 3. `event_count` proof lines, in the same order:
//!    `{"seq":N,"proof":["<base64 hash>",…]}`, the inclusion proof of leaf
//!    `N - 1` in the checkpoint's tree.
//!
//! Every line must be written in its one canonical form; verification
//! re-encodes each and refuses any difference, so every byte of a bundle is
//! covered by a signature, a hash or that check, and a bundle with any byte
//! changed fails with the reason.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::event::{AuditEvent, EventError, LogId};
use crate::merkle::{
    Hash, NodeId, NodeSource, ProofError, ProofVerifyError, RangeError, inclusion_proof,
    inclusion_proof_node_ids,
};
use crate::note::{NoteError, VerifierKey};

/// The format name a bundle's manifest starts with.
pub const BUNDLE_FORMAT: &str = "tenantry-audit-bundle/1";

/// What a bundle is made from, for [`write_bundle`].
#[derive(Debug)]
pub struct BundleContents<'a, S> {
    /// The log the events come from.
    pub log: &'a LogId,
    /// The deployment's verifier key.
    pub verifier_key: &'a VerifierKey,
    /// The signed checkpoint that covers the events.
    pub checkpoint: &'a str,
    /// The events, in seq order, without gaps.
    pub events: &'a [AuditEvent],
    /// The stored nodes of the log's tree, at least those of
    /// [`bundle_node_ids`].
    pub nodes: &'a S,
}

/// A bundle that cannot be written, or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The bytes are not laid out as a bundle.
    #[error("malformed bundle: {0}")]
    Malformed(String),
    /// The manifest is not a manifest, or not in its canonical form.
    #[error("the manifest (line 1) is invalid: {0}")]
    Manifest(String),
    /// The bundle's verifier key is not the one the auditor trusts.
    #[error("the bundle's verifier key {bundled} is not the trusted key {trusted}")]
    UntrustedKey {
        /// The key in the bundle.
        bundled: String,
        /// The key the auditor gave.
        trusted: String,
    },
    /// The bundle's verifier key cannot be read.
    #[error("the bundle's verifier key is invalid: {0}")]
    VerifierKey(NoteError),
    /// The checkpoint does not open with the key, or is not a checkpoint.
    #[error("the bundle's checkpoint cannot be trusted: {0}")]
    Checkpoint(CheckpointError),
    /// The manifest and the checkpoint or lines disagree.
    #[error("the manifest does not match the bundle: {0}")]
    Mismatch(String),
    /// An event line is not a valid event in canonical form.
    #[error("event line {line} is invalid: {error}")]
    Event {
        /// The line, from 1.
        line: usize,
        /// Why.
        error: EventError,
    },
    /// A proof line is not a proof in canonical form.
    #[error("proof line {line} is invalid: {reason}")]
    Proof {
        /// The line, from 1.
        line: usize,
        /// Why.
        reason: String,
    },
    /// An event's inclusion proof does not lead to the checkpoint's root.
    #[error(
        "event seq {seq} is not in the checkpoint's tree: its inclusion proof fails ({error}); the event or its proof was altered"
    )]
    NotIncluded {
        /// The event.
        seq: u64,
        /// Why the proof failed.
        error: ProofVerifyError,
    },
    /// A section's hash in the manifest does not match its lines.
    #[error("the {section} do not match the manifest's SHA-256")]
    SectionHash {
        /// `event lines` or `proof lines`.
        section: &'static str,
    },
    /// The events handed to [`write_bundle`] cannot form a bundle.
    #[error("cannot write the bundle: {0}")]
    Contents(String),
    /// A stored node could not be read while writing.
    #[error("cannot write the bundle: reading a stored node: {0}")]
    Nodes(String),
}

/// A bundle that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleSummary {
    /// The log the events come from.
    pub log: LogId,
    /// The checkpoint that covers them.
    pub checkpoint: Checkpoint,
    /// The first event's seq.
    pub first_seq: u64,
    /// The last event's seq.
    pub last_seq: u64,
    /// The bundle's verifier key.
    pub verifier_key: VerifierKey,
    /// Whether that key was checked against one the auditor trusts; when
    /// not, the bundle only proves it is consistent with its own key.
    pub key_trusted: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    log: String,
    origin: String,
    verifier_key: String,
    checkpoint: String,
    tree_size: u64,
    first_seq: u64,
    last_seq: u64,
    event_count: u64,
    events_sha256: String,
    proofs_sha256: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofLine {
    seq: u64,
    proof: Vec<String>,
}

/// The stored nodes the proofs of events `first_seq..=last_seq` in a tree
/// of `tree_size` need, each once, for one batched read.
pub fn bundle_node_ids(first_seq: u64, last_seq: u64, tree_size: u64) -> Result<Vec<NodeId>, RangeError> {
    let mut ids = Vec::new();
    for seq in first_seq.max(1)..=last_seq {
        ids.extend(inclusion_proof_node_ids(seq - 1, tree_size)?);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Writes the bundle of `contents`. The checkpoint must open with the key
/// and cover the events; each proof is checked against it before it is
/// written.
pub fn write_bundle<S>(contents: BundleContents<'_, S>) -> Result<Vec<u8>, BundleError>
where
    S: NodeSource,
    S::Error: std::fmt::Display,
{
    let checkpoint =
        Checkpoint::open(contents.checkpoint, contents.verifier_key).map_err(BundleError::Checkpoint)?;
    let (Some(first), Some(last)) = (contents.events.first(), contents.events.last()) else {
        return Err(BundleError::Contents("a bundle holds at least one event".to_owned()));
    };
    let (first_seq, last_seq) = (first.seq(), last.seq());
    if last_seq > checkpoint.size() {
        return Err(BundleError::Contents(format!(
            "the checkpoint covers {} events, not seq {last_seq}",
            checkpoint.size()
        )));
    }
    let mut event_lines = Vec::with_capacity(contents.events.len() * 512);
    let mut proof_lines = Vec::with_capacity(contents.events.len() * 64 * 16);
    for (offset, event) in contents.events.iter().enumerate() {
        if event.seq() != first_seq + offset as u64 {
            return Err(BundleError::Contents(format!(
                "the events are not in seq order without gaps at seq {}",
                event.seq()
            )));
        }
        if event.log() != contents.log {
            return Err(BundleError::Contents(format!("event seq {} belongs to another log", event.seq())));
        }
        event.write_canonical(&mut event_lines);
        event_lines.push(b'\n');
        let proof =
            inclusion_proof(event.leaf_index(), checkpoint.size(), contents.nodes).map_err(|error| {
                match error {
                    ProofError::Range(range) => BundleError::Contents(range.to_string()),
                    ProofError::Source(source) => BundleError::Nodes(source.to_string()),
                }
            })?;
        proof
            .verify(&event.leaf_hash(), checkpoint.root())
            .map_err(|error| BundleError::NotIncluded { seq: event.seq(), error })?;
        proof_lines.extend_from_slice(&proof_line_bytes(event.seq(), proof.hashes()));
        proof_lines.push(b'\n');
    }
    let manifest = Manifest {
        format: BUNDLE_FORMAT.to_owned(),
        log: contents.log.to_string(),
        origin: checkpoint.origin().to_owned(),
        verifier_key: contents.verifier_key.to_string(),
        checkpoint: contents.checkpoint.to_owned(),
        tree_size: checkpoint.size(),
        first_seq,
        last_seq,
        event_count: contents.events.len() as u64,
        events_sha256: sha256_hex(&event_lines),
        proofs_sha256: sha256_hex(&proof_lines),
    };
    let mut bundle = manifest_bytes(&manifest);
    bundle.push(b'\n');
    bundle.extend_from_slice(&event_lines);
    bundle.extend_from_slice(&proof_lines);
    Ok(bundle)
}

/// Verifies a bundle offline. With `trusted_key`, the bundle's key must be
/// that key; without, the bundle is checked against its own key and the
/// summary says so.
pub fn verify_bundle(bundle: &[u8], trusted_key: Option<&VerifierKey>) -> Result<BundleSummary, BundleError> {
    let text = std::str::from_utf8(bundle)
        .map_err(|_| BundleError::Malformed("the bundle is not UTF-8".to_owned()))?;
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| BundleError::Malformed("the last line does not end with a newline".to_owned()))?;
    let lines: Vec<&str> = body.split('\n').collect();
    let manifest_line = lines[0];
    let manifest: Manifest =
        serde_json::from_str(manifest_line).map_err(|error| BundleError::Manifest(error.to_string()))?;
    if manifest_bytes(&manifest) != manifest_line.as_bytes() {
        return Err(BundleError::Manifest("it is not written in its canonical form".to_owned()));
    }
    if manifest.format != BUNDLE_FORMAT {
        return Err(BundleError::Manifest(format!(
            "the format is `{}`, not `{BUNDLE_FORMAT}`",
            manifest.format
        )));
    }
    let verifier_key = VerifierKey::parse(&manifest.verifier_key).map_err(BundleError::VerifierKey)?;
    if verifier_key.to_string() != manifest.verifier_key {
        return Err(BundleError::Manifest(
            "the verifier key is not written in its canonical form".to_owned(),
        ));
    }
    if let Some(trusted) = trusted_key {
        if *trusted != verifier_key {
            return Err(BundleError::UntrustedKey {
                bundled: verifier_key.to_string(),
                trusted: trusted.to_string(),
            });
        }
    }
    let checkpoint =
        Checkpoint::open(&manifest.checkpoint, &verifier_key).map_err(BundleError::Checkpoint)?;
    let log =
        LogId::parse(&manifest.log).map_err(|error| BundleError::Manifest(format!("the log: {error}")))?;
    if checkpoint.origin() != manifest.origin {
        return Err(BundleError::Mismatch("the origin differs from the checkpoint's".to_owned()));
    }
    if !manifest.origin.ends_with(&format!("/{log}")) {
        return Err(BundleError::Mismatch(format!(
            "the checkpoint's origin `{}` is not the log `{log}`'s",
            manifest.origin
        )));
    }
    if checkpoint.size() != manifest.tree_size {
        return Err(BundleError::Mismatch("the tree size differs from the checkpoint's".to_owned()));
    }
    if manifest.first_seq == 0
        || manifest.last_seq < manifest.first_seq
        || manifest.last_seq > manifest.tree_size
        || manifest.event_count != manifest.last_seq - manifest.first_seq + 1
    {
        return Err(BundleError::Mismatch(
            "the seq range, the event count and the tree size do not fit together".to_owned(),
        ));
    }
    // Checked: a bundle under its own key may claim any count.
    let event_count = usize::try_from(manifest.event_count)
        .ok()
        .filter(|count| count.checked_mul(2).and_then(|lines| lines.checked_add(1)).is_some())
        .ok_or_else(|| BundleError::Mismatch("the event count is too large".to_owned()))?;
    if lines.len() != 1 + 2 * event_count {
        return Err(BundleError::Mismatch(format!(
            "the bundle has {} lines after the manifest, not {} events and {} proofs",
            lines.len() - 1,
            event_count,
            event_count
        )));
    }
    let (event_lines, proof_lines) = lines[1..].split_at(event_count);
    for (offset, (event_line, proof_line)) in event_lines.iter().zip(proof_lines).enumerate() {
        let seq = manifest.first_seq + offset as u64;
        let event_line_number = 2 + offset;
        let event = AuditEvent::from_canonical_json(event_line.as_bytes())
            .map_err(|error| BundleError::Event { line: event_line_number, error })?;
        if event.seq() != seq {
            return Err(BundleError::Mismatch(format!(
                "line {event_line_number} holds event seq {}, where seq {seq} belongs",
                event.seq()
            )));
        }
        if *event.log() != log {
            return Err(BundleError::Mismatch(format!(
                "event seq {seq} belongs to the log `{}`, not `{log}`",
                event.log()
            )));
        }
        let proof_line_number = 2 + event_count + offset;
        let hashes = parse_proof_line(proof_line, seq)
            .map_err(|reason| BundleError::Proof { line: proof_line_number, reason })?;
        crate::merkle::InclusionProof::new(seq - 1, checkpoint.size(), hashes)
            .verify(&crate::merkle::leaf_hash(event_line.as_bytes()), checkpoint.root())
            .map_err(|error| BundleError::NotIncluded { seq, error })?;
    }
    if sha256_of_lines(event_lines) != manifest.events_sha256 {
        return Err(BundleError::SectionHash { section: "event lines" });
    }
    if sha256_of_lines(proof_lines) != manifest.proofs_sha256 {
        return Err(BundleError::SectionHash { section: "proof lines" });
    }
    Ok(BundleSummary {
        log,
        checkpoint,
        first_seq: manifest.first_seq,
        last_seq: manifest.last_seq,
        verifier_key,
        key_trusted: trusted_key.is_some(),
    })
}

fn parse_proof_line(line: &str, seq: u64) -> Result<Vec<Hash>, String> {
    let parsed: ProofLine = serde_json::from_str(line).map_err(|error| error.to_string())?;
    if parsed.seq != seq {
        return Err(format!("it is for seq {}, where seq {seq} belongs", parsed.seq));
    }
    let hashes = parsed
        .proof
        .iter()
        .map(|hash| Hash::from_base64(hash).map_err(|error| error.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if proof_line_bytes(seq, &hashes) != line.as_bytes() {
        return Err("it is not written in its canonical form".to_owned());
    }
    Ok(hashes)
}

fn proof_line_bytes(seq: u64, hashes: &[Hash]) -> Vec<u8> {
    let line = ProofLine { seq, proof: hashes.iter().map(Hash::to_base64).collect() };
    // Serializing a struct of integers and strings into memory cannot fail.
    serde_json::to_vec(&line).unwrap_or_default()
}

fn manifest_bytes(manifest: &Manifest) -> Vec<u8> {
    // As above: a struct of integers and strings always serializes.
    serde_json::to_vec(manifest).unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::encoding::hex_encode(&Sha256::digest(bytes))
}

fn sha256_of_lines(lines: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for line in lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    crate::encoding::hex_encode(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_lines_escape_nothing() {
        assert_eq!(
            proof_line_bytes(3, &[Hash::from_bytes([0; 32])]),
            b"{\"seq\":3,\"proof\":[\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}"
        );
    }
}
