//! Checkpoints (`c2sp.org/tlog-checkpoint`): a log's size and root, signed.
//!
//! The note text is the origin, the tree size in decimal, the root in
//! standard base64, and tenantry's one extension line, the time it was
//! signed:
//!
//! ```text
//! tenantry/prod/tenant/ten_01J…
//! 42
//! 0hAe9FbUjL6GcJ4Yw1q8s0FZ9oPpJnAq0vq1w2tq8c4=
//! time 2026-12-06T17:03:34.123456Z
//!
//! — tenantry/prod Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
//! ```
//!
//! One deployment key signs every log of the deployment, so its name is the
//! deployment's (`tenantry/<deployment>`) rather than each log's origin, as
//! the spec would otherwise suggest: an auditor trusts one verifier key per
//! deployment, and the origin line says which log a checkpoint is for.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use crate::merkle::Hash;
use crate::note::{NoteError, NoteSigner, VerifierKey};

/// The prefix of the extension line that carries the signing time.
const TIME_PREFIX: &str = "time ";

/// A log's tree head at one size: what a checkpoint signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    time: Option<DateTime<Utc>>,
}

/// A checkpoint that cannot be made, read or trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note around it is malformed or not signed by the key.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The note text is not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The origin is empty or holds a control character.
    #[error("invalid checkpoint origin: it must be non-empty, without control characters")]
    InvalidOrigin,
}

impl Checkpoint {
    /// The checkpoint of `origin`'s tree of `size` leaves with root `root`,
    /// signed at `time` (truncated to microseconds), if given.
    pub fn new(
        origin: &str,
        size: u64,
        root: Hash,
        time: Option<DateTime<Utc>>,
    ) -> Result<Self, CheckpointError> {
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(CheckpointError::InvalidOrigin);
        }
        Ok(Self { origin: origin.to_owned(), size, root, time: time.map(|time| time.trunc_subsecs(6)) })
    }

    /// The log the checkpoint is for.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree's size: how many events it covers.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// When it was signed, if it says.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.time
    }

    /// The note text: origin, size, root and the time line, each ending in
    /// a newline.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        if let Some(time) = self.time {
            text.push_str(TIME_PREFIX);
            text.push_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true));
            text.push('\n');
        }
        text
    }

    /// Reads note text written by [`Checkpoint::text`]. Anything else (a
    /// leading zero, another extension line, a second time line) is
    /// refused, so one checkpoint has one text.
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let body =
            text.strip_suffix('\n').ok_or(CheckpointError::Malformed("the text must end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(CheckpointError::Malformed(
                "a checkpoint has an origin, a size and a root hash line",
            ));
        };
        let size: u64 =
            size.parse().ok().filter(|parsed: &u64| parsed.to_string() == size).ok_or(
                CheckpointError::Malformed("the size is not a decimal number without leading zeros"),
            )?;
        let root = Hash::from_base64(root)
            .map_err(|_| CheckpointError::Malformed("the root hash is not the base64 of 32 bytes"))?;
        let time = match lines.next() {
            None => None,
            Some(line) => {
                let written = line.strip_prefix(TIME_PREFIX).ok_or(CheckpointError::Malformed(
                    "the only extension line is `time <RFC 3339 UTC time>`",
                ))?;
                let time = DateTime::parse_from_rfc3339(written)
                    .map_err(|_| CheckpointError::Malformed("the time is not an RFC 3339 time"))?
                    .with_timezone(&Utc);
                Some(time)
            }
        };
        if lines.next().is_some() {
            return Err(CheckpointError::Malformed("a checkpoint has at most one extension line"));
        }
        let checkpoint = Self::new(origin, size, root, time)?;
        if checkpoint.text() != text {
            return Err(CheckpointError::Malformed(
                "the checkpoint is not written in its one form (time: UTC, six fraction digits, `Z`)",
            ));
        }
        Ok(checkpoint)
    }

    /// The signed note of this checkpoint.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        Ok(signer.sign(&self.text())?)
    }

    /// Opens a signed checkpoint: verifies the note's signature by `key`,
    /// then reads the checkpoint from its text.
    pub fn open(note: &str, key: &VerifierKey) -> Result<Self, CheckpointError> {
        let text = key.open(note)?;
        Self::parse_text(text)
    }
}
