//! A fast hasher for the integer keys of the index and the evaluator.
//!
//! The keys are dense numbers this crate assigns itself (object, relation and
//! item numbers), never raw input, so there is nothing for an attacker to
//! collide on and std's SipHash would only cost time on every probe. Maps
//! keyed by strings from the outside keep std's default hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Mixes each written integer with the splitmix64 finalizer, so that keys
/// differing only in their high half (object numbers packed above relation
/// numbers) still spread over the table's low bits.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        let mut mixed = (self.0 ^ value).wrapping_add(0x9E37_79B9_7F4A_7C15);
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = mixed ^ (mixed >> 31);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by this crate's own integers.
pub(crate) type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;
