//! The RFC 9162 §2.1 Merkle tree of a log, kept as its complete subtrees.
//!
//! A leaf is `SHA-256(0x00 || bytes)`, an interior node `SHA-256(0x01 ||
//! left || right)`, and the root of a tree of `n` leaves splits at the
//! largest power of two smaller than `n` (the empty tree's root is the
//! SHA-256 of nothing).
//!
//! # What is stored: complete subtrees only
//!
//! A node is addressed by a [`NodeId`] `(level, index)`: the complete
//! (perfect) subtree of `2^level` leaves that starts at leaf `index *
//! 2^level`. Level 0 is the leaves. A complete subtree never changes once
//! its last leaf is appended, so a store writes it once, in the transaction
//! that appends that leaf, and never updates it. The nodes on a tree's
//! right edge that are not complete (the "ephemeral" nodes of a size that is
//! not a power of two) are never stored: every hash a root or a proof needs
//! is either a complete subtree or the hash of a run of them, folded here
//! from the complete subtrees that cover it (the "compact range" of
//! transparency-dev's `docs/compact_ranges.md`).
//!
//! - Appending leaf `n` needs the tree's [`Frontier`]: the at most 64
//!   complete subtrees that cover leaves `0..n` ([`Frontier::node_ids`]). It
//!   yields the leaf and every subtree the leaf completes (at most
//!   `1 + trailing ones of n`), which is what a store persists.
//! - A root, an inclusion proof and a consistency proof each list the
//!   stored nodes they need first ([`root_node_ids`],
//!   [`inclusion_proof_node_ids`], [`consistency_proof_node_ids`]: O(log n)
//!   ids, so a store fetches them in one batched query), then are computed
//!   from any [`NodeSource`], for example the `HashMap` of what was fetched.
//!
//! Verification ([`InclusionProof::verify`], [`ConsistencyProof::verify`])
//! follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, a node or a root of the tree.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The hash with these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        crate::encoding::hex_encode(&self.0)
    }

    /// Parses 64 lowercase hex characters; anything else is refused, so one
    /// hash has one spelling.
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        crate::encoding::hex_decode_32(text).map(Self).ok_or(HashParseError)
    }

    /// Standard base64 with padding, as checkpoints and proofs carry it.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Parses the standard base64 of 32 bytes (with padding, no stray
    /// bits), so one hash has one spelling.
    pub fn from_base64(text: &str) -> Result<Self, HashParseError> {
        let bytes = BASE64.decode(text).map_err(|_| HashParseError)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| HashParseError)?;
        Ok(Self(bytes))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_hex())
    }
}

/// A text that is not the spelling of a 32-byte hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 hash (64 lowercase hex characters, or 44 characters of standard base64)")]
pub struct HashParseError;

/// The hash of a leaf: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

/// The root of the empty tree: the SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// A complete subtree: `2^level` leaves starting at leaf `index * 2^level`.
/// Level 0 is the leaves themselves.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NodeId {
    level: u8,
    index: u64,
}

impl NodeId {
    /// The subtree at `(level, index)`, or `None` when it would reach past
    /// leaf `2^64 - 1` (no tree of `u64` size has it).
    pub const fn new(level: u8, index: u64) -> Option<Self> {
        if level >= 64 || index > (u64::MAX >> level) {
            return None;
        }
        Some(Self { level, index })
    }

    /// The leaf at `index`.
    pub const fn leaf(index: u64) -> Self {
        Self { level: 0, index }
    }

    /// The subtree's height: 0 for a leaf.
    pub const fn level(&self) -> u8 {
        self.level
    }

    /// The subtree's position among the subtrees of its level.
    pub const fn index(&self) -> u64 {
        self.index
    }

    /// The first leaf the subtree covers.
    pub const fn first_leaf(&self) -> u64 {
        self.index << self.level
    }

    /// The leaves `first_leaf()..first_leaf() + leaf_count()` the subtree
    /// covers, as a count (`2^level`).
    pub const fn leaf_count(&self) -> u64 {
        1 << self.level
    }

    /// The two halves of a subtree above the leaves.
    pub const fn children(&self) -> Option<(NodeId, NodeId)> {
        if self.level == 0 {
            return None;
        }
        let level = self.level - 1;
        Some((NodeId { level, index: self.index * 2 }, NodeId { level, index: self.index * 2 + 1 }))
    }
}

/// Where the stored complete subtrees are read from. A store implements it
/// over its node table, or fetches [`inclusion_proof_node_ids`] (or the
/// other id lists) in one query into a `HashMap`, which implements it.
pub trait NodeSource {
    /// Why a node could not be read.
    type Error;

    /// The hash of the complete subtree `id`.
    fn node(&self, id: NodeId) -> Result<Hash, Self::Error>;
}

/// A node that a proof or root needs was not among those fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored node at level {} index {} is missing", .0.level, .0.index)]
pub struct MissingNode(pub NodeId);

impl<T: NodeSource + ?Sized> NodeSource for &T {
    type Error = T::Error;

    fn node(&self, id: NodeId) -> Result<Hash, T::Error> {
        (**self).node(id)
    }
}

impl<S: BuildHasher> NodeSource for HashMap<NodeId, Hash, S> {
    type Error = MissingNode;

    fn node(&self, id: NodeId) -> Result<Hash, MissingNode> {
        self.get(&id).copied().ok_or(MissingNode(id))
    }
}

impl NodeSource for BTreeMap<NodeId, Hash> {
    type Error = MissingNode;

    fn node(&self, id: NodeId) -> Result<Hash, MissingNode> {
        self.get(&id).copied().ok_or(MissingNode(id))
    }
}

/// A proof or root asked for sizes that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// An inclusion proof for a leaf the tree does not have.
    #[error("leaf {leaf_index} is not in a tree of size {tree_size}")]
    LeafOutOfRange {
        /// The leaf asked for (0-based).
        leaf_index: u64,
        /// The tree's size.
        tree_size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("a tree of size {old_size} cannot be a prefix of a tree of size {new_size}")]
    SizesOutOfOrder {
        /// The earlier tree's size.
        old_size: u64,
        /// The later tree's size.
        new_size: u64,
    },
}

/// Computing a proof or a root from stored nodes failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    /// The sizes asked for do not fit together.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// The node source could not give a node.
    #[error("reading a stored node: {0}")]
    Source(E),
}

/// A run of leaves `begin..end` whose hash (the RFC's `MTH(D[begin:end])`)
/// is one element of a proof or a root. Every range built here starts at a
/// multiple of the largest power of two not above its length, so its
/// covering complete subtrees shrink from left to right and the RFC's
/// split-at-the-largest-power-of-two hash is their right fold.
#[derive(Clone, Copy, Debug)]
struct LeafRange {
    begin: u64,
    end: u64,
}

impl LeafRange {
    /// The complete subtrees that cover exactly `begin..end`, left to right.
    fn push_node_ids(self, out: &mut Vec<NodeId>) {
        let mut begin = self.begin;
        while begin < self.end {
            let largest_fitting = 63 - (self.end - begin).leading_zeros();
            let alignment = if begin == 0 { 63 } else { begin.trailing_zeros() };
            let level = largest_fitting.min(alignment) as u8;
            out.push(NodeId { level, index: begin >> level });
            begin += 1 << level;
        }
    }

    fn hash<S: NodeSource>(self, source: &S, scratch: &mut Vec<NodeId>) -> Result<Hash, S::Error> {
        scratch.clear();
        self.push_node_ids(scratch);
        fold_right(scratch.iter().map(|id| source.node(*id)))
    }
}

/// The hash of a run of complete subtrees of shrinking size, left to right:
/// `node(first, node(second, ... node(second_to_last, last)))`.
fn fold_right<E>(hashes: impl DoubleEndedIterator<Item = Result<Hash, E>>) -> Result<Hash, E> {
    let mut hashes = hashes.rev();
    let Some(last) = hashes.next() else {
        return Ok(empty_root());
    };
    let mut folded = last?;
    for left in hashes {
        folded = node_hash(&left?, &folded);
    }
    Ok(folded)
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `PATH(leaf_index, D[begin:end])` of RFC 9162 §2.1.3.1 as the ranges its
/// elements hash, bottom up.
fn inclusion_ranges(leaf_index: u64, begin: u64, end: u64, out: &mut Vec<LeafRange>) {
    if end - begin <= 1 {
        return;
    }
    let middle = begin + split_point(end - begin);
    if leaf_index < middle {
        inclusion_ranges(leaf_index, begin, middle, out);
        out.push(LeafRange { begin: middle, end });
    } else {
        inclusion_ranges(leaf_index, middle, end, out);
        out.push(LeafRange { begin, end: middle });
    }
}

/// `SUBPROOF(old_size, D[begin:end], complete)` of RFC 9162 §2.1.4.1 as the
/// ranges its elements hash, bottom up.
fn consistency_ranges(old_size: u64, begin: u64, end: u64, complete: bool, out: &mut Vec<LeafRange>) {
    if old_size == end {
        if !complete {
            out.push(LeafRange { begin, end });
        }
        return;
    }
    let middle = begin + split_point(end - begin);
    if old_size <= middle {
        consistency_ranges(old_size, begin, middle, complete, out);
        out.push(LeafRange { begin: middle, end });
    } else {
        consistency_ranges(old_size, middle, end, false, out);
        out.push(LeafRange { begin, end: middle });
    }
}

fn check_leaf(leaf_index: u64, tree_size: u64) -> Result<(), RangeError> {
    if leaf_index >= tree_size {
        return Err(RangeError::LeafOutOfRange { leaf_index, tree_size });
    }
    Ok(())
}

fn check_sizes(old_size: u64, new_size: u64) -> Result<(), RangeError> {
    if old_size > new_size {
        return Err(RangeError::SizesOutOfOrder { old_size, new_size });
    }
    Ok(())
}

fn inclusion_plan(leaf_index: u64, tree_size: u64) -> Result<Vec<LeafRange>, RangeError> {
    check_leaf(leaf_index, tree_size)?;
    let mut ranges = Vec::with_capacity(64);
    inclusion_ranges(leaf_index, 0, tree_size, &mut ranges);
    Ok(ranges)
}

fn consistency_plan(old_size: u64, new_size: u64) -> Result<Vec<LeafRange>, RangeError> {
    check_sizes(old_size, new_size)?;
    let mut ranges = Vec::with_capacity(64);
    // Every tree extends the empty tree and itself: both proofs are empty.
    if old_size != 0 && old_size != new_size {
        consistency_ranges(old_size, 0, new_size, true, &mut ranges);
    }
    Ok(ranges)
}

fn node_ids_of(ranges: &[LeafRange]) -> Vec<NodeId> {
    let mut ids = Vec::with_capacity(ranges.len() * 2);
    for range in ranges {
        range.push_node_ids(&mut ids);
    }
    ids
}

fn hashes_of<S: NodeSource>(ranges: &[LeafRange], source: &S) -> Result<Vec<Hash>, S::Error> {
    let mut scratch = Vec::with_capacity(64);
    ranges.iter().map(|range| range.hash(source, &mut scratch)).collect()
}

/// The stored nodes the root of a tree of `tree_size` leaves is computed
/// from: its frontier, at most 64 ids.
pub fn root_node_ids(tree_size: u64) -> Vec<NodeId> {
    Frontier::node_ids(tree_size)
}

/// The root of a tree of `tree_size` leaves, from its stored nodes.
pub fn root<S: NodeSource>(tree_size: u64, source: &S) -> Result<Hash, S::Error> {
    LeafRange { begin: 0, end: tree_size }.hash(source, &mut Vec::new())
}

/// The stored nodes an inclusion proof of leaf `leaf_index` (0-based) in a
/// tree of `tree_size` leaves is computed from, for one batched read.
pub fn inclusion_proof_node_ids(leaf_index: u64, tree_size: u64) -> Result<Vec<NodeId>, RangeError> {
    Ok(node_ids_of(&inclusion_plan(leaf_index, tree_size)?))
}

/// The inclusion proof of leaf `leaf_index` (0-based) in a tree of
/// `tree_size` leaves (RFC 9162 §2.1.3.1), from stored nodes.
pub fn inclusion_proof<S: NodeSource>(
    leaf_index: u64,
    tree_size: u64,
    source: &S,
) -> Result<InclusionProof, ProofError<S::Error>> {
    let plan = inclusion_plan(leaf_index, tree_size)?;
    let hashes = hashes_of(&plan, source).map_err(ProofError::Source)?;
    Ok(InclusionProof { leaf_index, tree_size, hashes })
}

/// The stored nodes a consistency proof from `old_size` to `new_size` is
/// computed from, for one batched read.
pub fn consistency_proof_node_ids(old_size: u64, new_size: u64) -> Result<Vec<NodeId>, RangeError> {
    Ok(node_ids_of(&consistency_plan(old_size, new_size)?))
}

/// The consistency proof that the tree of `old_size` leaves is a prefix of
/// the tree of `new_size` leaves (RFC 9162 §2.1.4.1), from stored nodes.
/// It is empty when `old_size` is 0 or equals `new_size`.
pub fn consistency_proof<S: NodeSource>(
    old_size: u64,
    new_size: u64,
    source: &S,
) -> Result<ConsistencyProof, ProofError<S::Error>> {
    let plan = consistency_plan(old_size, new_size)?;
    let hashes = hashes_of(&plan, source).map_err(ProofError::Source)?;
    Ok(ConsistencyProof { old_size, new_size, hashes })
}

/// A proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofVerifyError {
    /// The sizes in the proof do not fit together.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// The proof has more or fewer hashes than its sizes call for.
    #[error("the proof has {actual} hashes where its sizes call for {expected}")]
    WrongLength {
        /// How many the sizes call for.
        expected: usize,
        /// How many the proof has.
        actual: usize,
    },
    /// The proof leads to another root than the one given.
    #[error("the proof does not lead to the given root")]
    RootMismatch,
    /// A consistency proof does not lead to the given earlier root.
    #[error("the proof does not lead to the given earlier root")]
    OldRootMismatch,
}

/// An inclusion proof: the RFC's `inclusion_path` for one leaf and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    leaf_index: u64,
    tree_size: u64,
    hashes: Vec<Hash>,
}

impl InclusionProof {
    /// A proof received from elsewhere, to verify.
    pub fn new(leaf_index: u64, tree_size: u64, hashes: Vec<Hash>) -> Self {
        Self { leaf_index, tree_size, hashes }
    }

    /// The leaf proved (0-based: an event's `seq - 1`).
    pub fn leaf_index(&self) -> u64 {
        self.leaf_index
    }

    /// The size of the tree the proof is against.
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The proof's hashes, bottom up.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Verifies that `leaf_hash` is leaf `leaf_index` of the tree of
    /// `tree_size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> Result<(), ProofVerifyError> {
        check_leaf(self.leaf_index, self.tree_size)?;
        let expected = inclusion_plan(self.leaf_index, self.tree_size)?.len();
        if self.hashes.len() != expected {
            return Err(ProofVerifyError::WrongLength { expected, actual: self.hashes.len() });
        }
        // Step 2: fn is the leaf's index, sn the last leaf's.
        let mut index = self.leaf_index;
        let mut last = self.tree_size - 1;
        let mut computed = *leaf_hash;
        for sibling in &self.hashes {
            if last == 0 {
                return Err(ProofVerifyError::RootMismatch);
            }
            if index & 1 == 1 || index == last {
                computed = node_hash(sibling, &computed);
                skip_right_edge(&mut index, &mut last);
            } else {
                computed = node_hash(&computed, sibling);
            }
            index >>= 1;
            last >>= 1;
        }
        if last != 0 || computed != *root {
            return Err(ProofVerifyError::RootMismatch);
        }
        Ok(())
    }
}

/// RFC 9162's "if LSB(fn) is not set, right-shift fn and sn equally until
/// either LSB(fn) is set or fn is 0": the node is the last of its level
/// with no sibling to its right, so it climbs to where it is a right child.
fn skip_right_edge(index: &mut u64, last: &mut u64) {
    while *index & 1 == 0 && *index != 0 {
        *index >>= 1;
        *last >>= 1;
    }
}

/// A consistency proof: the RFC's `consistency_path` between two sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    old_size: u64,
    new_size: u64,
    hashes: Vec<Hash>,
}

impl ConsistencyProof {
    /// A proof received from elsewhere, to verify.
    pub fn new(old_size: u64, new_size: u64, hashes: Vec<Hash>) -> Self {
        Self { old_size, new_size, hashes }
    }

    /// The earlier tree's size.
    pub fn old_size(&self) -> u64 {
        self.old_size
    }

    /// The later tree's size.
    pub fn new_size(&self) -> u64 {
        self.new_size
    }

    /// The proof's hashes, bottom up.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Verifies that the tree of `old_size` leaves with root `old_root` is a
    /// prefix of the tree of `new_size` leaves with root `new_root` (RFC 9162
    /// §2.1.4.2; an empty proof between equal sizes, or from the empty tree).
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), ProofVerifyError> {
        check_sizes(self.old_size, self.new_size)?;
        let expected = consistency_plan(self.old_size, self.new_size)?.len();
        if self.hashes.len() != expected {
            return Err(ProofVerifyError::WrongLength { expected, actual: self.hashes.len() });
        }
        if self.old_size == 0 {
            if *old_root != empty_root() {
                return Err(ProofVerifyError::OldRootMismatch);
            }
            return Ok(());
        }
        if self.old_size == self.new_size {
            if old_root != new_root {
                return Err(ProofVerifyError::RootMismatch);
            }
            return Ok(());
        }
        // Step 2: when the old tree is a complete subtree, the proof leaves
        // out its root, which the verifier holds.
        let mut path = self.hashes.iter();
        let first = if self.old_size.is_power_of_two() {
            *old_root
        } else {
            match path.next() {
                Some(first) => *first,
                None => return Err(ProofVerifyError::RootMismatch),
            }
        };
        let mut old_index = self.old_size - 1;
        let mut new_index = self.new_size - 1;
        while old_index & 1 == 1 {
            old_index >>= 1;
            new_index >>= 1;
        }
        let mut old_computed = first;
        let mut new_computed = first;
        for hash in path {
            if new_index == 0 {
                return Err(ProofVerifyError::RootMismatch);
            }
            if old_index & 1 == 1 || old_index == new_index {
                old_computed = node_hash(hash, &old_computed);
                new_computed = node_hash(hash, &new_computed);
                skip_right_edge(&mut old_index, &mut new_index);
            } else {
                new_computed = node_hash(&new_computed, hash);
            }
            old_index >>= 1;
            new_index >>= 1;
        }
        if old_computed != *old_root {
            return Err(ProofVerifyError::OldRootMismatch);
        }
        if new_index != 0 || new_computed != *new_root {
            return Err(ProofVerifyError::RootMismatch);
        }
        Ok(())
    }
}

/// The complete subtrees that cover leaves `0..size`, left to right, with
/// their hashes: all a writer needs to append without reading the log, and
/// all a verifier holds while it streams a log of any length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

/// The tree already has `2^64 - 1` leaves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tree is full: it cannot grow past 2^64 - 1 leaves")]
pub struct TreeFull;

impl Frontier {
    /// The frontier of the empty tree.
    pub fn empty() -> Self {
        Self { size: 0, hashes: Vec::new() }
    }

    /// The ids of the complete subtrees that make up the frontier of a tree
    /// of `size` leaves, left to right: one per set bit of `size`.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        let mut ids = Vec::with_capacity(size.count_ones() as usize);
        LeafRange { begin: 0, end: size }.push_node_ids(&mut ids);
        ids
    }

    /// The frontier of a tree of `size` leaves, read from stored nodes.
    pub fn load<S: NodeSource>(size: u64, source: &S) -> Result<Self, S::Error> {
        let hashes = Self::node_ids(size).into_iter().map(|id| source.node(id)).collect::<Result<_, _>>()?;
        Ok(Self { size, hashes })
    }

    /// The frontier of a tree of `size` leaves from its hashes, left to
    /// right, as [`Frontier::hashes`] gave them; `None` when there are not
    /// exactly as many as `size` has set bits.
    pub fn from_hashes(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Self { size, hashes })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hashes of the frontier's complete subtrees, left to right.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The frontier's complete subtrees with their hashes, left to right.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, Hash)> + '_ {
        Self::node_ids(self.size).into_iter().zip(self.hashes.iter().copied())
    }

    /// The root of the tree (RFC 9162 `MTH`), in O(log n).
    pub fn root(&self) -> Hash {
        fold_right(self.hashes.iter().map(|hash| Ok::<_, std::convert::Infallible>(*hash)))
            .unwrap_or_else(|never| match never {})
    }

    /// Appends a leaf and returns the complete subtrees it creates, lowest
    /// first: the leaf itself, then each subtree it completes. These, and
    /// nothing else, are what a store persists for the append.
    pub fn append(&mut self, leaf_hash: Hash) -> Result<Vec<(NodeId, Hash)>, TreeFull> {
        let mut created = Vec::with_capacity(1 + self.size.trailing_ones() as usize);
        self.append_with(leaf_hash, |id, hash| created.push((id, hash)))?;
        Ok(created)
    }

    /// [`Frontier::append`], handing each created subtree to `created`
    /// instead of collecting them.
    pub fn append_with(
        &mut self,
        leaf_hash: Hash,
        mut created: impl FnMut(NodeId, Hash),
    ) -> Result<(), TreeFull> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(TreeFull)?;
        created(NodeId::leaf(index), leaf_hash);
        self.hashes.push(leaf_hash);
        // Each trailing one bit of the old size is a complete subtree of
        // that height that the new leaf's subtree now pairs with.
        let mut level = 0u8;
        let mut position = index;
        while position & 1 == 1 {
            // The frontier holds one hash per set bit of the size, so with
            // the new leaf there are at least two here.
            let pair = self.hashes.split_off(self.hashes.len() - 2);
            let parent = node_hash(&pair[0], &pair[1]);
            level += 1;
            position >>= 1;
            created(NodeId { level, index: position }, parent);
            self.hashes.push(parent);
        }
        self.size = new_size;
        Ok(())
    }
}

impl Default for Frontier {
    fn default() -> Self {
        Self::empty()
    }
}
