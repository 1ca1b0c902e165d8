//! The Merkle tree against the RFC's definitions, an independent verifier
//! and published test vectors.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tenantry_audit::{
    ConsistencyProof, Frontier, Hash, InclusionProof, NodeId, ProofVerifyError, RangeError,
    consistency_proof, consistency_proof_node_ids, empty_root, inclusion_proof, inclusion_proof_node_ids,
    leaf_hash, node_hash, root, root_node_ids,
};

/// RFC 9162 §2.1.1 `MTH`, `PATH` and `PROOF`, written from the RFC's
/// recursive definitions over the whole list of leaves, memoized by range.
struct Reference {
    leaves: Vec<Hash>,
    memo: RefCell<HashMap<(usize, usize), [u8; 32]>>,
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The largest power of two smaller than n (n > 1).
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

impl Reference {
    fn new(count: usize) -> Self {
        let leaves = (0..count)
            .map(|index| Hash::from_bytes(sha256(&[&[0x00], format!("leaf {index}").as_bytes()])))
            .collect();
        Self { leaves, memo: RefCell::new(HashMap::new()) }
    }

    /// `MTH(D[begin:end])`.
    fn mth(&self, begin: usize, end: usize) -> [u8; 32] {
        if let Some(hash) = self.memo.borrow().get(&(begin, end)) {
            return *hash;
        }
        let n = end - begin;
        let hash = match n {
            0 => sha256(&[]),
            1 => *self.leaves[begin].as_bytes(),
            _ => {
                let k = k_of(n);
                sha256(&[&[0x01], &self.mth(begin, begin + k), &self.mth(begin + k, end)])
            }
        };
        self.memo.borrow_mut().insert((begin, end), hash);
        hash
    }

    /// `PATH(m, D[begin:end])`, m relative to begin.
    fn path(&self, m: usize, begin: usize, end: usize) -> Vec<[u8; 32]> {
        let n = end - begin;
        if n == 1 {
            return Vec::new();
        }
        let k = k_of(n);
        if m < k {
            let mut path = self.path(m, begin, begin + k);
            path.push(self.mth(begin + k, end));
            path
        } else {
            let mut path = self.path(m - k, begin + k, end);
            path.push(self.mth(begin, begin + k));
            path
        }
    }

    /// `SUBPROOF(m, D[begin:end], b)`, m relative to begin.
    fn subproof(&self, m: usize, begin: usize, end: usize, b: bool) -> Vec<[u8; 32]> {
        let n = end - begin;
        if m == n {
            return if b { Vec::new() } else { vec![self.mth(begin, end)] };
        }
        let k = k_of(n);
        if m <= k {
            let mut proof = self.subproof(m, begin, begin + k, b);
            proof.push(self.mth(begin + k, end));
            proof
        } else {
            let mut proof = self.subproof(m - k, begin + k, end, false);
            proof.push(self.mth(begin, begin + k));
            proof
        }
    }
}

/// RFC 9162 §2.1.3.2, transcribed step by step, independent of the crate's
/// verifier.
fn rfc_verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    hash: [u8; 32],
    inclusion_path: &[[u8; 32]],
    root_hash: [u8; 32],
) -> bool {
    if leaf_index >= tree_size {
        return false;
    }
    let (mut f_n, mut s_n) = (leaf_index, tree_size - 1);
    let mut r = hash;
    for p in inclusion_path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = sha256(&[&[0x01], p, &r]);
            if f_n & 1 == 0 {
                while !(f_n & 1 == 1 || f_n == 0) {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = sha256(&[&[0x01], &r, p]);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == root_hash
}

/// RFC 9162 §2.1.4.2, transcribed step by step, for 0 < first < second.
fn rfc_verify_consistency(
    first: u64,
    second: u64,
    first_hash: [u8; 32],
    second_hash: [u8; 32],
    consistency_path: &[[u8; 32]],
) -> bool {
    if consistency_path.is_empty() {
        return false;
    }
    let mut path = consistency_path.to_vec();
    if first.is_power_of_two() {
        path.insert(0, first_hash);
    }
    let (mut f_n, mut s_n) = (first - 1, second - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (path[0], path[0]);
    for c in &path[1..] {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = sha256(&[&[0x01], c, &f_r]);
            s_r = sha256(&[&[0x01], c, &s_r]);
            if f_n & 1 == 0 {
                while !(f_n & 1 == 1 || f_n == 0) {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = sha256(&[&[0x01], &s_r, c]);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    f_r == first_hash && s_r == second_hash && s_n == 0
}

fn bytes_of(hashes: &[Hash]) -> Vec<[u8; 32]> {
    hashes.iter().map(|hash| *hash.as_bytes()).collect()
}

/// Appends `count` leaves one by one, checking each append persists only
/// complete subtrees (right hash, never written twice) and the frontier's
/// root against the reference; returns the stored nodes.
fn append_all(reference: &Reference, count: usize) -> HashMap<NodeId, Hash> {
    let mut frontier = Frontier::empty();
    let mut stored = HashMap::new();
    for size in 1..=count {
        // A store appends without reading the log: it fetches only the
        // frontier's nodes, loads the frontier from them, and appends.
        let frontier_ids = Frontier::node_ids(size as u64 - 1);
        assert!(frontier_ids.len() <= 64);
        let fetched: HashMap<NodeId, Hash> = frontier_ids.iter().map(|id| (*id, stored[id])).collect();
        assert_eq!(Frontier::load(size as u64 - 1, &fetched).unwrap(), frontier);
        let created = frontier.append(reference.leaves[size - 1]).unwrap();
        assert_eq!(created[0].0, NodeId::leaf(size as u64 - 1));
        assert_eq!(created.len(), 1 + (size - 1).trailing_ones() as usize);
        for (id, hash) in created {
            let first = usize::try_from(id.first_leaf()).unwrap();
            let last = first + usize::try_from(id.leaf_count()).unwrap();
            assert!(last <= size, "{id:?} is not complete at size {size}");
            assert_eq!(*hash.as_bytes(), reference.mth(first, last), "{id:?}");
            assert!(stored.insert(id, hash).is_none(), "{id:?} persisted twice");
        }
        assert_eq!(*frontier.root().as_bytes(), reference.mth(0, size), "size {size}");
    }
    stored
}

#[test]
fn appending_persists_only_complete_subtrees_and_the_frontier_root_is_the_tree_root_up_to_1000() {
    let reference = Reference::new(1000);
    let stored = append_all(&reference, 1000);
    // Every complete subtree of the 1000-leaf tree, and nothing else.
    let expected: usize = (0..10).map(|level| 1000 >> level).sum();
    assert_eq!(stored.len(), expected);
    for size in 0..=1000u64 {
        let ids = root_node_ids(size);
        assert_eq!(ids.len(), size.count_ones() as usize);
        let from_store = root(size, &stored).unwrap();
        assert_eq!(*from_store.as_bytes(), reference.mth(0, size as usize), "size {size}");
        let frontier = Frontier::load(size, &stored).unwrap();
        assert_eq!(frontier.root(), from_store);
    }
}

#[test]
fn inclusion_proofs_match_the_rfc_path_and_verify_independently_for_every_leaf_of_sizes_1_to_300() {
    let reference = Reference::new(300);
    let stored = append_all(&reference, 300);
    for size in 1..=300u64 {
        let root_hash = reference.mth(0, size as usize);
        let root = Hash::from_bytes(root_hash);
        for leaf in 0..size {
            let ids = inclusion_proof_node_ids(leaf, size).unwrap();
            assert!(ids.len() <= 2 * 64);
            // Fetch exactly the listed ids, as a store would in one query.
            let fetched: HashMap<NodeId, Hash> = ids.iter().map(|id| (*id, stored[id])).collect();
            let proof = inclusion_proof(leaf, size, &fetched).unwrap();
            let path = bytes_of(proof.hashes());
            assert_eq!(path, reference.path(leaf as usize, 0, size as usize), "{leaf} of {size}");
            let leaf_bytes = *reference.leaves[leaf as usize].as_bytes();
            assert!(rfc_verify_inclusion(leaf, size, leaf_bytes, &path, root_hash));
            proof.verify(&reference.leaves[leaf as usize], &root).unwrap();
            // The wrong leaf does not verify, by either verifier.
            let other = *reference.leaves[((leaf + 1) % 300) as usize].as_bytes();
            assert!(!rfc_verify_inclusion(leaf, size, other, &path, root_hash));
            assert!(proof.verify(&Hash::from_bytes(other), &root).is_err());
        }
    }
}

fn check_consistency(reference: &Reference, stored: &HashMap<NodeId, Hash>, old: u64, new: u64) {
    let ids = consistency_proof_node_ids(old, new).unwrap();
    assert!(ids.len() <= 2 * 64);
    let fetched: HashMap<NodeId, Hash> = ids.iter().map(|id| (*id, stored[id])).collect();
    let proof = consistency_proof(old, new, &fetched).unwrap();
    let old_root = reference.mth(0, old as usize);
    let new_root = reference.mth(0, new as usize);
    let path = bytes_of(proof.hashes());
    if old == 0 || old == new {
        assert!(path.is_empty());
    } else {
        assert_eq!(path, reference.subproof(old as usize, 0, new as usize, true), "{old}..{new}");
        assert!(rfc_verify_consistency(old, new, old_root, new_root, &path), "{old}..{new}");
    }
    proof.verify(&Hash::from_bytes(old_root), &Hash::from_bytes(new_root)).unwrap();
    // Another tree's root does not verify.
    if old > 0 && old < new {
        let wrong = reference.mth(0, old as usize - 1);
        assert!(!rfc_verify_consistency(old, new, wrong, new_root, &path));
        assert!(proof.verify(&Hash::from_bytes(wrong), &Hash::from_bytes(new_root)).is_err());
        assert!(proof.verify(&Hash::from_bytes(old_root), &Hash::from_bytes(wrong)).is_err());
    }
}

#[test]
fn consistency_proofs_match_the_rfc_and_verify_independently_for_every_pair_of_sizes_up_to_300() {
    let reference = Reference::new(300);
    let stored = append_all(&reference, 300);
    for new in 1..=300u64 {
        for old in 0..=new {
            check_consistency(&reference, &stored, old, new);
        }
    }
}

#[test]
fn sizes_that_do_not_fit_are_refused() {
    assert_eq!(
        inclusion_proof_node_ids(5, 5),
        Err(RangeError::LeafOutOfRange { leaf_index: 5, tree_size: 5 })
    );
    assert_eq!(
        consistency_proof_node_ids(6, 5),
        Err(RangeError::SizesOutOfOrder { old_size: 6, new_size: 5 })
    );
    let missing = inclusion_proof(0, 2, &HashMap::new()).unwrap_err();
    assert_eq!(missing.to_string(), "reading a stored node: the stored node at level 0 index 1 is missing");
}

#[test]
fn altered_proofs_do_not_verify() {
    let reference = Reference::new(20);
    let stored = append_all(&reference, 20);
    let root = Hash::from_bytes(reference.mth(0, 13));
    let proof = inclusion_proof(5, 13, &stored).unwrap();
    for position in 0..proof.hashes().len() {
        let mut hashes = proof.hashes().to_vec();
        let mut bytes = *hashes[position].as_bytes();
        bytes[0] ^= 1;
        hashes[position] = Hash::from_bytes(bytes);
        let altered = InclusionProof::new(5, 13, hashes);
        assert_eq!(altered.verify(&reference.leaves[5], &root), Err(ProofVerifyError::RootMismatch));
    }
    let truncated = InclusionProof::new(5, 13, proof.hashes()[1..].to_vec());
    assert!(matches!(
        truncated.verify(&reference.leaves[5], &root),
        Err(ProofVerifyError::WrongLength { .. })
    ));
    let wrong_index = InclusionProof::new(4, 13, proof.hashes().to_vec());
    assert!(wrong_index.verify(&reference.leaves[5], &root).is_err());

    let consistency = consistency_proof(7, 13, &stored).unwrap();
    let (old_root, new_root) = (Hash::from_bytes(reference.mth(0, 7)), root);
    for position in 0..consistency.hashes().len() {
        let mut hashes = consistency.hashes().to_vec();
        let mut bytes = *hashes[position].as_bytes();
        bytes[31] ^= 0x80;
        hashes[position] = Hash::from_bytes(bytes);
        assert!(ConsistencyProof::new(7, 13, hashes).verify(&old_root, &new_root).is_err());
    }
    // Other sizes, as transparency-dev's `size1-plus`, `size1-sub`,
    // `size2-mul` and `size2-div` cases. (A neighbouring second size can
    // share a proof's shape: the RFC's check relies on the sizes being
    // signed, as a checkpoint's are.)
    for (old, new) in [(8, 13), (6, 13), (7, 26), (7, 6)] {
        assert!(
            ConsistencyProof::new(old, new, consistency.hashes().to_vec())
                .verify(&old_root, &new_root)
                .is_err(),
            "{old} to {new}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random leaf contents: the root from the stored nodes of any size up
    /// to 1000 is the RFC root of all the leaves, and the frontier loaded
    /// back from the store is the one appended to.
    #[test]
    fn stored_roots_match_recomputed_roots_for_random_leaves(
        leaves in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..=1000),
    ) {
        let mut frontier = Frontier::empty();
        let mut stored = HashMap::new();
        let mut seen = HashSet::new();
        for leaf in &leaves {
            for (id, hash) in frontier.append(leaf_hash(leaf)).unwrap() {
                prop_assert!(seen.insert(id));
                stored.insert(id, hash);
            }
        }
        let leaf_hashes: Vec<Hash> = leaves.iter().map(|leaf| leaf_hash(leaf)).collect();
        let reference = Reference { leaves: leaf_hashes, memo: RefCell::new(HashMap::new()) };
        let size = leaves.len() as u64;
        prop_assert_eq!(*root(size, &stored).unwrap().as_bytes(), reference.mth(0, leaves.len()));
        prop_assert_eq!(Frontier::load(size, &stored).unwrap(), frontier);
    }
}

// The vectors below are transparency-dev/merkle's (Apache-2.0), commit
// 417fb0c314750d94e53942e9f92e79b6d35915db: the eight leaves, every
// complete subtree and the roots of sizes 0 to 8 from
// `testonly/constants.go` (the RFC 6962 reference data also used by
// Trillian and Go's CT code), and the happy-path proofs of
// `testdata/inclusion/*/happy-path.json` and
// `testdata/consistency/*/happy-path.json`.

fn hex(text: &str) -> Hash {
    Hash::from_hex(text).unwrap()
}

fn b64(text: &str) -> Hash {
    Hash::from_base64(text).unwrap()
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|position| u8::from_str_radix(&text[position..position + 2], 16).unwrap())
        .collect()
}

const LEAF_INPUTS: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

const NODE_HASHES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

const ROOT_HASHES: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn vector_tree() -> (Frontier, HashMap<NodeId, Hash>, Vec<Hash>) {
    let mut frontier = Frontier::empty();
    let mut stored = HashMap::new();
    let mut roots = vec![frontier.root()];
    for input in LEAF_INPUTS {
        stored.extend(frontier.append(leaf_hash(&decode_hex(input))).unwrap());
        roots.push(frontier.root());
    }
    (frontier, stored, roots)
}

#[test]
fn the_transparency_dev_vectors_roots_and_stored_nodes() {
    let (_, stored, roots) = vector_tree();
    assert_eq!(empty_root(), hex(ROOT_HASHES[0]));
    for (size, expected) in ROOT_HASHES.iter().enumerate() {
        assert_eq!(roots[size], hex(expected), "size {size}");
    }
    let mut count = 0;
    for (level, hashes) in NODE_HASHES.iter().enumerate() {
        for (index, expected) in hashes.iter().enumerate() {
            let id = NodeId::new(level as u8, index as u64).unwrap();
            assert_eq!(stored[&id], hex(expected), "{id:?}");
            count += 1;
        }
    }
    assert_eq!(stored.len(), count, "only the complete subtrees are stored");
    assert_eq!(node_hash(&stored[&NodeId::leaf(0)], &stored[&NodeId::leaf(1)]), hex(NODE_HASHES[1][0]));
}

#[test]
fn the_transparency_dev_vectors_inclusion_proofs() {
    let (_, stored, _) = vector_tree();
    let cases: [(u64, u64, &str, &str, &[&str]); 5] = [
        (
            0,
            1,
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            &[],
        ),
        (
            0,
            8,
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            &[
                "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
                "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
            ],
        ),
        (
            5,
            8,
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
            "QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=",
            &[
                "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
                "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
                "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
            ],
        ),
        (
            2,
            3,
            "rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=",
            "ApjRIpBtz8EIkstTpzmS/FufST6kybrbJ7eRtBJ6f+c=",
            &["+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="],
        ),
        (
            1,
            5,
            "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            &[
                "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
                "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            ],
        ),
    ];
    for (leaf, size, root_text, leaf_text, expected) in cases {
        let proof = inclusion_proof(leaf, size, &stored).unwrap();
        let expected: Vec<Hash> = expected.iter().map(|text| b64(text)).collect();
        assert_eq!(proof.hashes(), expected.as_slice(), "leaf {leaf} of {size}");
        assert_eq!(stored[&NodeId::leaf(leaf)], b64(leaf_text));
        proof.verify(&b64(leaf_text), &b64(root_text)).unwrap();
    }
}

#[test]
fn the_transparency_dev_vectors_consistency_proofs() {
    let (_, stored, _) = vector_tree();
    let cases: [(u64, u64, &str, &str, &[&str]); 5] = [
        (
            1,
            1,
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            &[],
        ),
        (
            1,
            8,
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
            &[
                "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
                "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
            ],
        ),
        (
            6,
            8,
            "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=",
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
            &[
                "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
                "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
                "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
            ],
        ),
        (
            2,
            5,
            "+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU=",
            "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
            &["Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=", "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms="],
        ),
        (
            6,
            7,
            "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=",
            "3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=",
            &[
                "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
                "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
                "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
            ],
        ),
    ];
    for (old, new, old_root, new_root, expected) in cases {
        let proof = consistency_proof(old, new, &stored).unwrap();
        let expected: Vec<Hash> = expected.iter().map(|text| b64(text)).collect();
        assert_eq!(proof.hashes(), expected.as_slice(), "{old} to {new}");
        proof.verify(&b64(old_root), &b64(new_root)).unwrap();
        // Swapped roots do not verify (transparency-dev's `swapped-roots`).
        if old != new {
            assert!(proof.verify(&b64(new_root), &b64(old_root)).is_err());
        }
    }
}
