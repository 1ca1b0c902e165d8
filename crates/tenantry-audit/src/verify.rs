//! The log verifier: streams a log's events and checkpoints and names the
//! first one that does not match.
//!
//! It recomputes every leaf from the stored event (and compares it with the
//! leaf the store recorded when it appended the event, where one is given),
//! checks the sequence `1, 2, 3, …` without gaps, repeats or reorders, checks
//! every checkpoint's signature and origin, and compares the root of the
//! recomputed tree at each checkpoint's size with the root it signs. It
//! holds one [`Frontier`] (at most 64 hashes) and the checkpoint it waits
//! for, never the events, so a log of any length verifies in constant
//! memory.
//!
//! What it can say depends on what was tampered with. An event changed in
//! place while its recorded leaf was left alone is named by its seq. When
//! the recorded leaf was rewritten too (or none was given), the first
//! checkpoint that covers the change is named, with the range of seqs since
//! the checkpoint before it: only a checkpoint, signed with a key that is
//! not in the database, binds the events. Events after the latest
//! checkpoint are recomputed but not yet bound by any signature; the summary
//! counts them.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::event::{AuditEvent, LogId};
use crate::merkle::{Frontier, Hash};
use crate::note::VerifierKey;

/// An event as a store holds it: the event and, where the store keeps it,
/// the leaf hash it recorded when it appended the event (its level-0 node).
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// The event, as read back from the store.
    pub event: AuditEvent,
    /// The leaf the store recorded at append time, if it keeps them.
    pub recorded_leaf_hash: Option<Hash>,
}

impl From<AuditEvent> for StoredEvent {
    fn from(event: AuditEvent) -> Self {
        Self { event, recorded_leaf_hash: None }
    }
}

/// Which log is verified, and against which key.
#[derive(Clone, Copy, Debug)]
pub struct LogToVerify<'a> {
    /// The log every event must belong to.
    pub log: &'a LogId,
    /// The origin every checkpoint must carry.
    pub origin: &'a str,
    /// The deployment's verifier key, as the auditor trusts it.
    pub key: &'a VerifierKey,
}

/// A log that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How many events were recomputed.
    pub events: u64,
    /// How many checkpoints verified.
    pub checkpoints: u64,
    /// The latest checkpoint, if any.
    pub latest_checkpoint: Option<Checkpoint>,
    /// The root of the recomputed tree of all the events.
    pub root: Hash,
    /// Events after the latest checkpoint: recomputed, but not yet bound by
    /// a signature.
    pub events_after_latest_checkpoint: u64,
}

/// The first thing in a log that does not match, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    /// An event's recomputed leaf differs from the one recorded for it.
    #[error(
        "event seq {seq} was changed: its canonical bytes no longer hash to the leaf recorded when it was appended"
    )]
    EventChanged {
        /// The event.
        seq: u64,
    },
    /// The sequence skips a seq.
    #[error("event seq {seq} is missing: the log goes on at seq {next}")]
    EventMissing {
        /// The seq that is not there.
        seq: u64,
        /// The seq that came in its place, or `seq` when the log ended.
        next: u64,
    },
    /// A seq comes after a higher one.
    #[error("event seq {seq} is out of order: it comes after seq {came_after}")]
    EventReordered {
        /// The event out of place.
        seq: u64,
        /// The seq it came after.
        came_after: u64,
    },
    /// A seq appears twice.
    #[error("event seq {seq} appears twice: an event was inserted")]
    EventDuplicated {
        /// The repeated seq.
        seq: u64,
    },
    /// An event says it belongs to another log.
    #[error("event seq {seq} belongs to the log `{log}`, not this one")]
    EventFromAnotherLog {
        /// The event.
        seq: u64,
        /// The log it names.
        log: LogId,
    },
    /// A checkpoint is malformed, or not signed by the trusted key, or its
    /// signature does not verify.
    #[error("checkpoint #{index} cannot be trusted: {error}")]
    CheckpointInvalid {
        /// Its position among the checkpoints, from 1.
        index: u64,
        /// Why.
        error: CheckpointError,
    },
    /// A checkpoint is for another log.
    #[error("checkpoint #{index} is for the log `{origin}`, not this one")]
    CheckpointForAnotherLog {
        /// Its position among the checkpoints, from 1.
        index: u64,
        /// The origin it carries.
        origin: String,
    },
    /// A checkpoint is smaller than the one before it.
    #[error(
        "checkpoint #{index} (size {size}) does not extend the previous checkpoint (size {previous_size}): the log cannot shrink"
    )]
    CheckpointShrinks {
        /// Its position among the checkpoints, from 1.
        index: u64,
        /// Its size.
        size: u64,
        /// The previous checkpoint's size.
        previous_size: u64,
    },
    /// The events do not produce a checkpoint's root.
    #[error(
        "checkpoint #{index} (size {size}) does not match the events: the root of seq 1..={size} differs from the one it signs, so an event of seq {}..={size} was changed, or the checkpoint does not extend the previous one (size {previous_size})",
        previous_size + 1
    )]
    CheckpointMismatch {
        /// Its position among the checkpoints, from 1.
        index: u64,
        /// Its size.
        size: u64,
        /// The size of the checkpoint before it that matched (0 if none).
        previous_size: u64,
    },
    /// The log ends before a checkpoint's size.
    #[error(
        "the log was truncated: checkpoint #{index} covers {size} events but the log has {events} (seq {} onwards is gone)",
        events + 1
    )]
    Truncated {
        /// The checkpoint's position, from 1.
        index: u64,
        /// Its size.
        size: u64,
        /// How many events the log has.
        events: u64,
    },
}

/// A log verification in progress: push the events in seq order, then
/// [`LogVerifier::finish`]. Checkpoints are pulled from their iterator as
/// the events reach their sizes.
#[derive(Debug)]
pub struct LogVerifier<'a, C> {
    log: LogToVerify<'a>,
    checkpoints: C,
    checkpoint_index: u64,
    pending_checkpoint: Option<Checkpoint>,
    latest_checkpoint: Option<Checkpoint>,
    verified_checkpoints: u64,
    frontier: Frontier,
    /// A seq seen ahead of the expected one: whether it is a gap or a
    /// reorder shows with the next event.
    seq_ahead: Option<u64>,
    canonical: Vec<u8>,
}

impl<'a, C, S> LogVerifier<'a, C>
where
    C: Iterator<Item = S>,
    S: AsRef<str>,
{
    /// Starts verifying `log` against `checkpoints` (signed notes in
    /// order of size).
    pub fn new(log: LogToVerify<'a>, checkpoints: C) -> Result<Self, Finding> {
        let mut verifier = Self {
            log,
            checkpoints,
            checkpoint_index: 0,
            pending_checkpoint: None,
            latest_checkpoint: None,
            verified_checkpoints: 0,
            frontier: Frontier::empty(),
            seq_ahead: None,
            canonical: Vec::with_capacity(1024),
        };
        verifier.next_checkpoint()?;
        Ok(verifier)
    }

    /// Checks the next event.
    pub fn push(&mut self, stored: StoredEvent) -> Result<(), Finding> {
        let expected = self.frontier.size() + 1;
        let seq = stored.event.seq();
        if let Some(ahead) = self.seq_ahead {
            return Err(if seq == expected {
                Finding::EventReordered { seq, came_after: ahead }
            } else {
                Finding::EventMissing { seq: expected, next: ahead }
            });
        }
        if seq != expected {
            if seq > expected {
                self.seq_ahead = Some(seq);
                return Ok(());
            }
            return Err(if seq + 1 == expected {
                Finding::EventDuplicated { seq }
            } else {
                Finding::EventReordered { seq, came_after: expected - 1 }
            });
        }
        if stored.event.log() != self.log.log {
            return Err(Finding::EventFromAnotherLog { seq, log: stored.event.log().clone() });
        }
        self.canonical.clear();
        stored.event.write_canonical(&mut self.canonical);
        let leaf = crate::merkle::leaf_hash(&self.canonical);
        if stored.recorded_leaf_hash.is_some_and(|recorded| recorded != leaf) {
            return Err(Finding::EventChanged { seq });
        }
        // A log of 2^64 - 1 events cannot be stored, so the tree cannot be
        // full here; were it, the next seq would not fit a u64 either.
        let _ = self.frontier.append_with(leaf, |_, _| {});
        if self
            .pending_checkpoint
            .as_ref()
            .is_some_and(|checkpoint| checkpoint.size() == self.frontier.size())
        {
            self.reach_pending_checkpoint()?;
        }
        Ok(())
    }

    /// Ends the log: every checkpoint must have been reached.
    pub fn finish(self) -> Result<Summary, Finding> {
        let events = self.frontier.size();
        if let Some(ahead) = self.seq_ahead {
            return Err(Finding::EventMissing { seq: events + 1, next: ahead });
        }
        if let Some(pending) = self.pending_checkpoint {
            return Err(Finding::Truncated { index: self.checkpoint_index, size: pending.size(), events });
        }
        let checkpointed = self.latest_checkpoint.as_ref().map_or(0, Checkpoint::size);
        Ok(Summary {
            events,
            checkpoints: self.verified_checkpoints,
            root: self.frontier.root(),
            events_after_latest_checkpoint: events - checkpointed,
            latest_checkpoint: self.latest_checkpoint,
        })
    }

    fn reach_pending_checkpoint(&mut self) -> Result<(), Finding> {
        if let Some(checkpoint) = self.pending_checkpoint.take() {
            self.compare_root(checkpoint)?;
        }
        self.next_checkpoint()
    }

    fn compare_root(&mut self, checkpoint: Checkpoint) -> Result<(), Finding> {
        if *checkpoint.root() != self.frontier.root() {
            return Err(Finding::CheckpointMismatch {
                index: self.checkpoint_index,
                size: checkpoint.size(),
                previous_size: self.latest_checkpoint.as_ref().map_or(0, Checkpoint::size),
            });
        }
        self.verified_checkpoints += 1;
        self.latest_checkpoint = Some(checkpoint);
        Ok(())
    }

    /// Reads checkpoints until one lies ahead of the events (or none is
    /// left), checking those the events already reach.
    fn next_checkpoint(&mut self) -> Result<(), Finding> {
        while let Some(note) = self.checkpoints.next() {
            self.checkpoint_index += 1;
            let index = self.checkpoint_index;
            let checkpoint = Checkpoint::open(note.as_ref(), self.log.key)
                .map_err(|error| Finding::CheckpointInvalid { index, error })?;
            if checkpoint.origin() != self.log.origin {
                return Err(Finding::CheckpointForAnotherLog {
                    index,
                    origin: checkpoint.origin().to_owned(),
                });
            }
            let previous_size = self.latest_checkpoint.as_ref().map_or(0, Checkpoint::size);
            if checkpoint.size() < previous_size {
                return Err(Finding::CheckpointShrinks { index, size: checkpoint.size(), previous_size });
            }
            // Checkpoints are read only when the events have reached the
            // previous one, so the events' count is `previous_size` here.
            if checkpoint.size() == self.frontier.size() {
                self.compare_root(checkpoint)?;
                continue;
            }
            self.pending_checkpoint = Some(checkpoint);
            return Ok(());
        }
        Ok(())
    }
}

/// Verifies a whole log: its events in seq order (streamed, never held)
/// against its checkpoints in order of size.
pub fn verify_log<E, C>(log: LogToVerify<'_>, events: E, checkpoints: C) -> Result<Summary, Finding>
where
    E: IntoIterator,
    E::Item: Into<StoredEvent>,
    C: IntoIterator,
    C::Item: AsRef<str>,
{
    let mut verifier = LogVerifier::new(log, checkpoints.into_iter())?;
    for event in events {
        verifier.push(event.into())?;
    }
    verifier.finish()
}
