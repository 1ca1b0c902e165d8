//! What the server and the CLI do with audit logs beyond reading a page:
//! signing checkpoints, proving an event's inclusion and a log's growth,
//! exporting an evidence bundle, and verifying a whole log. Each reads only
//! what it needs through [`AuditStore`] (a proof fetches its nodes in one
//! call), so none of them reads a whole log except `verify` and `export`,
//! which stream it a page at a time.

use tenantry_audit::verify::{LogToVerify, LogVerifier, Summary};
use tenantry_audit::{
    BundleContents, Checkpoint, ConsistencyProof, Finding, InclusionProof, LogId, bundle_node_ids,
    consistency_proof, consistency_proof_node_ids, inclusion_proof, inclusion_proof_node_ids, write_bundle,
};
pub use tenantry_audit::{NoteSigner, VerifierKey, verify_bundle};

use crate::audit::{AuditEvent, AuditStore, LogToCheckpoint, StoredCheckpoint};
use crate::error::{Error, Result};
use crate::relationship::PartitionScope;
use crate::scope::PlatformScope;

/// How many events (or checkpoints) one read of a stream fetches.
const STREAM_PAGE: u32 = 1000;

/// The deployment's audit signing identity: its key, and the name every
/// log's checkpoint origin carries (`tenantry/<deployment>/tenant/<id>`),
/// which is the key's name.
#[derive(Debug, Clone)]
pub struct AuditSigner {
    signer: NoteSigner,
}

impl AuditSigner {
    /// The identity of this key.
    pub fn new(signer: NoteSigner) -> Self {
        Self { signer }
    }

    /// The key that verifies this deployment's checkpoints.
    pub fn verifier_key(&self) -> VerifierKey {
        self.signer.verifier_key()
    }

    /// The checkpoint origin of `log`.
    pub fn origin(&self, log: &LogId) -> String {
        origin(&self.signer.verifier_key(), log)
    }

    /// Signs a checkpoint of every log that grew since its latest one and
    /// stores it; returns how many were signed.
    pub async fn checkpoint_logs(&self, store: &dyn AuditStore, platform: &PlatformScope) -> Result<u64> {
        let mut signed = 0;
        for LogToCheckpoint { log, head } in store.logs_to_checkpoint(platform).await? {
            let checkpoint =
                Checkpoint::new(&self.origin(&log), head.size(), head.root(), Some(crate::now()))
                    .map_err(|error| Error::internal(error.to_string()))?;
            let note = checkpoint.sign(&self.signer).map_err(|error| Error::internal(error.to_string()))?;
            store.put_audit_checkpoint(platform, &log, &StoredCheckpoint { size: head.size(), note }).await?;
            signed += 1;
        }
        Ok(signed)
    }
}

/// The checkpoint origin of `log` under the deployment whose key is `key`.
pub fn origin(key: &VerifierKey, log: &LogId) -> String {
    log.origin(key.name())
}

/// An event with its inclusion proof in the tree of `tree_size` events.
#[derive(Debug, Clone)]
pub struct ProvenEvent {
    /// The event.
    pub event: AuditEvent,
    /// Its proof.
    pub proof: InclusionProof,
}

/// The event `seq` of the log and its inclusion proof in the tree of
/// `tree_size` events (at least `seq`, at most the log's size).
pub async fn prove_inclusion(
    store: &dyn AuditStore,
    log: &PartitionScope,
    seq: u64,
    tree_size: u64,
) -> Result<ProvenEvent> {
    if seq == 0 || seq > tree_size {
        return Err(Error::invalid("tree_size", "must be at least the event's seq"));
    }
    let head = store.audit_head(log).await?;
    if seq > head.size() {
        return Err(Error::not_found("audit event"));
    }
    if tree_size > head.size() {
        return Err(Error::invalid("tree_size", format!("must be at most the log's size, {}", head.size())));
    }
    let row = store.audit_events_after(log, seq - 1, 1).await?.into_iter().next();
    let row = row.filter(|row| row.seq == seq).ok_or(Error::not_found("audit event"))?;
    let event = row.event()?;
    let ids =
        inclusion_proof_node_ids(seq - 1, tree_size).map_err(|error| Error::internal(error.to_string()))?;
    let nodes = store.audit_nodes(log, &ids).await?;
    let proof =
        inclusion_proof(seq - 1, tree_size, &nodes).map_err(|error| Error::internal(error.to_string()))?;
    Ok(ProvenEvent { event, proof })
}

/// The event `seq` of the log, proven in the tree of `tree_size` events
/// (with its signed checkpoint, if one was signed at that size) or, when
/// no size is given, in the smallest signed checkpoint that covers it (or,
/// when none does yet, in the log's current tree, with no checkpoint).
pub async fn prove_in_checkpoint(
    store: &dyn AuditStore,
    log: &PartitionScope,
    seq: u64,
    tree_size: Option<u64>,
) -> Result<(ProvenEvent, Option<StoredCheckpoint>)> {
    if seq == 0 {
        return Err(Error::invalid("seq", "must be a whole number, at least 1"));
    }
    let (tree_size, checkpoint) = match tree_size {
        Some(0) => return Err(Error::invalid("tree_size", "must be at least the event's seq")),
        Some(tree_size) => {
            let checkpoint = store.audit_checkpoints(log, tree_size - 1, 1).await?.into_iter().next();
            (tree_size, checkpoint.filter(|checkpoint| checkpoint.size == tree_size))
        }
        None => match store.audit_checkpoints(log, seq - 1, 1).await?.into_iter().next() {
            Some(checkpoint) => (checkpoint.size, Some(checkpoint)),
            None => (store.audit_head(log).await?.size().max(seq), None),
        },
    };
    let proven = prove_inclusion(store, log, seq, tree_size).await?;
    Ok((proven, checkpoint))
}

/// The consistency proof between the log's trees of `from` and `to` events.
pub async fn prove_consistency(
    store: &dyn AuditStore,
    log: &PartitionScope,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof> {
    if from > to {
        return Err(Error::invalid("from", "must be at most `to`"));
    }
    let head = store.audit_head(log).await?;
    if to > head.size() {
        return Err(Error::invalid("to", format!("must be at most the log's size, {}", head.size())));
    }
    let ids = consistency_proof_node_ids(from, to).map_err(|error| Error::internal(error.to_string()))?;
    let nodes = store.audit_nodes(log, &ids).await?;
    consistency_proof(from, to, &nodes).map_err(|error| Error::internal(error.to_string()))
}

/// Writes the evidence bundle of the log's events `from..=to` (the whole
/// log by default) against its latest checkpoint, which must cover them.
pub async fn export_bundle(
    store: &dyn AuditStore,
    log: &PartitionScope,
    key: &VerifierKey,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<Vec<u8>> {
    let checkpoint = store.latest_audit_checkpoint(log).await?.ok_or_else(|| {
        Error::invalid("log", "has no signed checkpoint yet; sign one first (`tenantry audit checkpoint`)")
    })?;
    let from = from.unwrap_or(1).max(1);
    let to = to.unwrap_or(checkpoint.size);
    if to > checkpoint.size {
        return Err(Error::invalid(
            "to",
            format!("must be at most the latest checkpoint's size, {}", checkpoint.size),
        ));
    }
    if from > to {
        return Err(Error::invalid("from", "must be at most `to`, and the log must have events"));
    }
    let mut events = Vec::new();
    let mut after = from - 1;
    while after < to {
        let rows = store
            .audit_events_after(log, after, STREAM_PAGE.min(u32::try_from(to - after).unwrap_or(STREAM_PAGE)))
            .await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after = row.seq;
            events.push(row.event()?);
        }
    }
    let ids =
        bundle_node_ids(from, to, checkpoint.size).map_err(|error| Error::internal(error.to_string()))?;
    let nodes = store.audit_nodes(log, &ids).await?;
    write_bundle(BundleContents {
        log: &crate::audit::log_of(log),
        verifier_key: key,
        checkpoint: &checkpoint.note,
        events: &events,
        nodes: &nodes,
    })
    .map_err(|error| Error::internal(error.to_string()))
}

/// Why a log did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    /// The log does not match: the first thing that does not.
    #[error(transparent)]
    Finding(#[from] Finding),
    /// The log holds an event beyond its head: one inserted outside
    /// tenantry, which never appends without moving the head.
    #[error("event seq {seq} is beyond the log's head (size {size}): it was inserted outside tenantry")]
    BeyondHead {
        /// The first event past the head.
        seq: u64,
        /// The head's size.
        size: u64,
    },
    /// The log ends before its head: its newest events were removed.
    #[error("the log ends at seq {events} but its head says {size} events: seq {} onwards is missing", .events + 1)]
    ShortOfHead {
        /// How many events there are.
        events: u64,
        /// The head's size.
        size: u64,
    },
    /// A stored event cannot be read at all.
    #[error("event seq {seq} cannot be read as an audit event: {reason}")]
    Unreadable {
        /// The event's seq.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// Verifies the whole log, streaming its events and checkpoints: every
/// leaf recomputed, the sequence, every checkpoint's signature and root,
/// and that the events end exactly at the log's head.
pub async fn verify_log(
    store: &dyn AuditStore,
    log: &PartitionScope,
    key: &VerifierKey,
) -> std::result::Result<Summary, VerifyFailure> {
    let log_id = crate::audit::log_of(log);
    let origin = origin(key, &log_id);
    let head = store.audit_head(log).await?;
    let mut checkpoints = Vec::new();
    let mut after_size = 0;
    loop {
        let page = store.audit_checkpoints(log, after_size, STREAM_PAGE).await?;
        let Some(last) = page.last() else { break };
        after_size = last.size;
        checkpoints.extend(page.into_iter().map(|checkpoint| checkpoint.note));
    }
    let mut verifier =
        LogVerifier::new(LogToVerify { log: &log_id, origin: &origin, key }, checkpoints.into_iter())?;
    let mut after = 0;
    loop {
        let rows = store.audit_events_after(log, after, STREAM_PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in rows {
            let stored = row
                .stored()
                .map_err(|error| VerifyFailure::Unreadable { seq: row.seq, reason: error.to_string() })?;
            verifier.push(stored)?;
        }
    }
    let summary = verifier.finish()?;
    match summary.events.cmp(&head.size()) {
        std::cmp::Ordering::Greater => {
            Err(VerifyFailure::BeyondHead { seq: head.size() + 1, size: head.size() })
        }
        std::cmp::Ordering::Less => {
            Err(VerifyFailure::ShortOfHead { events: summary.events, size: head.size() })
        }
        std::cmp::Ordering::Equal => Ok(summary),
    }
}
