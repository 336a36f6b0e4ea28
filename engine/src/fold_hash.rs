//! A fast hasher for small fixed-size keys (instrument names packed into words, trade ids,
//! dedupe keys) in shard-local and reader-local tables: each word is folded in by one
//! 64×64→128-bit multiply, which mixes every input bit into both the low bits (the bucket)
//! and the high bits (the tag hashbrown compares). Seeded per process, so crafted input cannot
//! aim at collisions. Not for anything that must agree across processes: that is
//! [`crate::shard_of`]'s portable hash.
//!
//! ```
//! use std::collections::HashMap;
//! use ticklane_engine::FoldState;
//!
//! let mut m: HashMap<(u64, u32), u8, FoldState> = HashMap::with_hasher(FoldState::new());
//! m.insert((7, 1), 1);
//! assert_eq!(m.get(&(7, 1)), Some(&1));
//! ```

use std::hash::{BuildHasher, Hasher};

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// Builds [`FoldHasher`]s with one random seed per instance.
#[derive(Clone, Copy, Debug)]
pub struct FoldState(u64);

impl FoldState {
    /// A state with a fresh random seed.
    pub fn new() -> FoldState {
        use std::hash::{BuildHasher as _, RandomState};
        FoldState(RandomState::new().hash_one(MIX) | 1)
    }
}

impl Default for FoldState {
    fn default() -> FoldState {
        FoldState::new()
    }
}

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;
    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

/// See the module docs.
#[derive(Clone, Copy, Debug)]
pub struct FoldHasher(u64);

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = fold(self.0 ^ v, MIX);
    }

    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    #[inline]
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sequential keys into 4,096 buckets, for 32 fixed seeds (the test used one random seed
    /// and failed now and then: some seeds spread sequential keys worse — the worst of 2,000
    /// random seeds filled 2,042 buckets — so it checks the typical seed and the worst one apart).
    #[test]
    fn spreads_small_keys_over_buckets_and_tags() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut fills = Vec::new();
        for _ in 0..32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s = FoldState(x | 1);
            let mut low = std::collections::HashSet::new();
            let mut high = std::collections::HashSet::new();
            for i in 0u64..4096 {
                let h = s.hash_one(i);
                low.insert(h & 4095);
                high.insert(h >> 57);
            }
            assert_eq!(high.len(), 128, "every 7-bit tag appears (seed {x:#x})");
            fills.push(low.len());
        }
        fills.sort_unstable();
        assert!(fills[16] > 2500, "median {} of 4096 buckets; random would fill ~63%", fills[16]);
        assert!(fills[0] > 2000, "worst seed fills {} of 4096 buckets", fills[0]);
        assert_ne!(FoldState::new().hash_one(1u64), FoldState::new().hash_one(1u64), "seeded");
    }
}
