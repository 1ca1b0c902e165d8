//! The evidence core of tenantry's audit log: everything about the log that
//! does not touch a database.
//!
//! Each tenant has one append-only log of [`AuditEvent`]s, and the platform
//! has one more. Each log is an RFC 9162 (Certificate Transparency v2)
//! Merkle tree whose leaves are the hashes of the events' canonical bytes,
//! and its tree heads are published as C2SP checkpoints signed with the
//! deployment's Ed25519 key, which is not kept in the database. An auditor
//! holding one checkpoint can then check, offline, that an event is in the
//! log ([`InclusionProof`]) and that the log only grew between two
//! checkpoints ([`ConsistencyProof`]).
//!
//! # Modules
//!
//! - [`merkle`]: leaf and node hashes, the [`Frontier`] a writer appends
//!   through, roots, inclusion and consistency proofs computed from stored
//!   complete subtrees through a [`NodeSource`], and their verification.
//! - [`event`]: [`AuditEvent`], its rules (no secret in `changes`) and its
//!   canonical bytes.
//! - [`note`]: C2SP signed notes with Ed25519: [`NoteSigner`] (generate,
//!   load and save the private key as text) and [`VerifierKey`].
//! - [`checkpoint`]: [`Checkpoint`], a log's size and root in the
//!   `tlog-checkpoint` format, signed and opened as a note.
//! - [`verify`]: [`verify_log`] and the streaming [`LogVerifier`], which name
//!   the first event or checkpoint that does not match ([`Finding`]).
//! - [`bundle`]: the evidence bundle, [`write_bundle`] and
//!   [`verify_bundle`].
//!
//! # How a store uses it
//!
//! Appending event `n + 1` (seq), in the transaction of the change:
//! fetch [`Frontier::node_ids`]`(n)` in one query, [`Frontier::load`] them,
//! [`Frontier::append`] the event's [`AuditEvent::leaf_hash`], and insert
//! the event and the returned `(level, index, hash)` nodes; a change that
//! makes several events appends them in turn to the same frontier. A proof
//! is two steps: list the node ids it needs ([`inclusion_proof_node_ids`],
//! [`consistency_proof_node_ids`], [`root_node_ids`]), fetch them in one
//! query into a `HashMap`, then compute the proof from it
//! ([`inclusion_proof`], [`consistency_proof`], [`root`]). Only complete
//! subtrees are ever stored, and no stored row changes after its insert, so
//! the node table is append-only like the event table.
//!
//! # Why the Merkle tree is written here
//!
//! The crates that implement RFC 6962/9162 proofs were weighed. `ct-merkle`
//! (0.3) computes proofs from an in-memory tree or from node indices in its
//! own array layout, in which the right edge of a tree whose size is not a
//! power of two is addressed by nodes whose hash changes as the tree grows;
//! a store would have to keep a hash per tree size, not one immutable row
//! per complete subtree. It is also built on `digest` 0.11, which would put
//! a second SHA-2 stack into the build beside `sha2` 0.10. `merkle-log`
//! (0.0.x) and the crates of single applications are young and keep their
//! own storage shapes. What this crate needs is small (two recursive
//! decompositions into complete subtrees, and the RFC's two verification
//! loops), and it is checked against the RFC's definitions computed from all
//! the leaves, an independent verifier, and transparency-dev's test
//! vectors. Ed25519 is `ed25519-dalek`; nothing cryptographic is written
//! here.

pub mod bundle;
pub mod checkpoint;
mod encoding;
pub mod event;
pub mod merkle;
pub mod note;
pub mod verify;

pub use bundle::{BundleContents, BundleError, BundleSummary, bundle_node_ids, verify_bundle, write_bundle};
pub use checkpoint::{Checkpoint, CheckpointError};
pub use event::{Actor, AuditEvent, Change, EventError, LogId, NewAuditEvent, Resource, looks_like_a_secret};
pub use merkle::{
    ConsistencyProof, Frontier, Hash, InclusionProof, MissingNode, NodeId, NodeSource, ProofError,
    ProofVerifyError, RangeError, consistency_proof, consistency_proof_node_ids, empty_root, inclusion_proof,
    inclusion_proof_node_ids, leaf_hash, node_hash, root, root_node_ids,
};
pub use note::{NoteError, NoteSigner, VerifierKey};
pub use verify::{Finding, LogToVerify, LogVerifier, StoredEvent, Summary, verify_log};
