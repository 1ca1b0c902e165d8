//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 keys.
//!
//! A note is a text ending in a newline, a blank line, then signature lines
//! `— <key name> <base64(key ID || signature)>`. The key ID is the first
//! four bytes of `SHA-256(key name || 0x0A || 0x01 || public key)`, and a
//! verifier key is written `<key name>+<hex key ID>+<base64(0x01 || public
//! key)>`. The private key is written as Go's `golang.org/x/mod/sumdb/note`
//! writes it, `PRIVATE+KEY+<key name>+<hex key ID>+<base64(0x01 ||
//! 32-byte seed)>`, so keys move between tenantry and the Go tools (and
//! their test vectors check this code).
//!
//! Verification follows the spec: signatures by other keys are ignored, a
//! signature by the trusted key must verify, and a note with none by the
//! trusted key is refused.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 in the signed-note spec.
const ED25519: u8 = 0x01;

/// The separator of a signature line: em dash, space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// How many signature lines a note may carry; the spec asks verifiers to
/// accept at least 16.
const MAX_SIGNATURES: usize = 100;

/// A note or key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The text is not a signed note.
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),
    /// The note is well formed but carries no signature by the trusted key.
    #[error("the note is not signed by the trusted key {name}+{key_id:08x}")]
    NotSignedByTrustedKey {
        /// The trusted key's name.
        name: String,
        /// The trusted key's ID.
        key_id: u32,
    },
    /// A signature by the trusted key does not match the text.
    #[error("the signature by {name}+{key_id:08x} does not verify: the note was altered or forged")]
    BadSignature {
        /// The trusted key's name.
        name: String,
        /// The trusted key's ID.
        key_id: u32,
    },
    /// A key name is empty or holds a space or a plus sign.
    #[error("invalid key name: it must be non-empty, without spaces or `+`")]
    InvalidKeyName,
    /// A verifier or private key text is not in its format.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// The operating system's random source failed.
    #[error("no randomness for a new key: {0}")]
    Randomness(String),
}

/// Whether a key name is valid: non-empty, no Unicode space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|character| character.is_whitespace() || character == '+')
}

/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`, big endian.
fn key_id(name: &str, public_key: &VerifyingKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519]);
    hasher.update(public_key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Parses exactly 8 lowercase hex digits.
fn parse_key_id(text: &str) -> Option<u32> {
    crate::encoding::hex_decode::<4>(text).map(u32::from_be_bytes)
}

/// The three parts of a key's text, `<name>+<hex key ID>+<base64(0x01 ||
/// 32 key bytes)>`: a verifier key, or a private key after its
/// `PRIVATE+KEY+`. The caller derives the key ID from the key and compares.
struct KeyText<'a> {
    name: &'a str,
    key_id: u32,
    key: [u8; 32],
}

impl<'a> KeyText<'a> {
    fn parse(text: &'a str) -> Result<Self, NoteError> {
        // The base64 key may itself hold `+`: it is the rest of the text.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(key_id_hex), Some(key_base64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::MalformedKey("a key is <name>+<key id>+<key>"));
        };
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key_id = parse_key_id(key_id_hex)
            .ok_or(NoteError::MalformedKey("the key ID is not 8 lowercase hex digits"))?;
        let key = BASE64
            .decode(key_base64)
            .map_err(|_| NoteError::MalformedKey("the key is not standard base64"))?;
        let [algorithm, key @ ..] = key.as_slice() else {
            return Err(NoteError::MalformedKey("the key is empty"));
        };
        if *algorithm != ED25519 {
            return Err(NoteError::MalformedKey("the key is not an Ed25519 key (type 0x01)"));
        }
        let key = key.try_into().map_err(|_| NoteError::MalformedKey("an Ed25519 key is 32 bytes"))?;
        Ok(Self { name, key_id, key })
    }
}

/// A named Ed25519 key that signs notes. Its `Debug` shows the name and the
/// key ID, never the key.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    signing_key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A new key named `name`, from the operating system's randomness.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| NoteError::Randomness(error.to_string()))?;
        Self::from_seed(name, seed)
    }

    /// The key named `name` whose RFC 8032 private key (seed) is `seed`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let signing_key = SigningKey::from_bytes(&seed);
        Ok(Self { name: name.to_owned(), key_id: key_id(name, &signing_key.verifying_key()), signing_key })
    }

    /// Reads a private key written by [`NoteSigner::to_private_key_text`]
    /// (or Go's `note.GenerateKey`): `PRIVATE+KEY+<name>+<hex key
    /// ID>+<base64(0x01 || seed)>`, surrounding whitespace allowed (a key
    /// file ends with a newline).
    pub fn from_private_key_text(text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey("a private key starts with PRIVATE+KEY+"))?;
        let KeyText { name, key_id, key: seed } = KeyText::parse(rest)?;
        let signer = Self::from_seed(name, seed)?;
        if signer.key_id != key_id {
            return Err(NoteError::MalformedKey("the key ID does not match the key and name"));
        }
        Ok(signer)
    }

    /// The private key as text (see [`NoteSigner::from_private_key_text`]),
    /// for the key file. Keep it secret.
    pub fn to_private_key_text(&self) -> String {
        let mut key = Vec::with_capacity(33);
        key.push(ED25519);
        key.extend_from_slice(self.signing_key.as_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(&key))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The key that verifies this key's signatures.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            public_key: self.signing_key.verifying_key(),
        }
    }

    /// Signs `text` (which must end in a newline and be valid note text)
    /// and returns the signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.signing_key.sign(text.as_bytes());
        let mut payload = Vec::with_capacity(68);
        payload.extend_from_slice(&self.key_id.to_be_bytes());
        payload.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(&payload)))
    }
}

/// The public half of a [`NoteSigner`]: what an auditor trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    public_key: VerifyingKey,
}

impl VerifierKey {
    /// The verifier key named `name` for this Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let public_key = VerifyingKey::from_bytes(&public_key)
            .map_err(|_| NoteError::MalformedKey("not an Ed25519 public key"))?;
        Ok(Self { name: name.to_owned(), key_id: key_id(name, &public_key), public_key })
    }

    /// Parses `<name>+<hex key ID>+<base64(0x01 || public key)>`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let KeyText { name, key_id, key: public_key } = KeyText::parse(text)?;
        let verifier_key = Self::from_public_key(name, public_key)?;
        if verifier_key.key_id != key_id {
            return Err(NoteError::MalformedKey("the key ID does not match the key and name"));
        }
        Ok(verifier_key)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key.to_bytes()
    }

    /// Opens a signed note: checks its form, ignores signatures by other
    /// keys, verifies the one by this key, and returns the note text
    /// (ending in its newline).
    pub fn open<'note>(&self, note: &'note str) -> Result<&'note str, NoteError> {
        let (text, signatures) = split_note(note)?;
        let mut signed = false;
        for line in signatures.split_terminator('\n').take(MAX_SIGNATURES + 1).enumerate() {
            let (position, line) = line;
            if position == MAX_SIGNATURES {
                return Err(NoteError::Malformed("more than 100 signatures"));
            }
            let (name, payload) = parse_signature_line(line)?;
            if name != self.name || payload[..4] != self.key_id.to_be_bytes() {
                // Another key's signature, or one that only shares a name or
                // an ID with ours: the spec says to ignore it.
                continue;
            }
            let signature = Signature::from_slice(&payload[4..])
                .map_err(|_| NoteError::BadSignature { name: self.name.clone(), key_id: self.key_id })?;
            self.public_key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| NoteError::BadSignature { name: self.name.clone(), key_id: self.key_id })?;
            signed = true;
        }
        if !signed {
            return Err(NoteError::NotSignedByTrustedKey { name: self.name.clone(), key_id: self.key_id });
        }
        Ok(text)
    }
}

impl fmt::Display for VerifierKey {
    /// `<name>+<hex key ID>+<base64(0x01 || public key)>`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(ED25519);
        key.extend_from_slice(self.public_key.as_bytes());
        write!(formatter, "{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(&key))
    }
}

/// Note text: valid UTF-8 (a `&str` already is), ending in a newline, with
/// no control characters but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text must end with a newline"));
    }
    check_characters(text)
}

fn check_characters(text: &str) -> Result<(), NoteError> {
    if text.chars().any(|character| character < '\u{20}' && character != '\n') {
        return Err(NoteError::Malformed("control characters other than newline are not allowed"));
    }
    Ok(())
}

/// Splits a note at its last blank line into the text (with its final
/// newline) and the signature lines.
fn split_note(note: &str) -> Result<(&str, &str), NoteError> {
    check_characters(note)?;
    let split = note.rfind("\n\n").ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err(NoteError::Malformed("the signatures must be lines, each ending with a newline"));
    }
    Ok((text, signatures))
}

/// `— <name> <base64(key ID || signature)>`, returning the name and the
/// decoded bytes (at least five).
fn parse_signature_line(line: &str) -> Result<(&str, Vec<u8>), NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::Malformed("a signature line starts with an em dash and a space"))?;
    let (name, payload) =
        rest.split_once(' ').ok_or(NoteError::Malformed("a signature line is `— <name> <signature>`"))?;
    if !is_valid_key_name(name) {
        return Err(NoteError::Malformed("a signature's key name is invalid"));
    }
    let payload =
        BASE64.decode(payload).map_err(|_| NoteError::Malformed("a signature is not standard base64"))?;
    if payload.len() < 5 {
        return Err(NoteError::Malformed("a signature is too short"));
    }
    Ok((name, payload))
}
