//! One generation of dedupe keys: an open-addressing table (linear probing, at most half
//! full) of fixed-size keys, each with the event time of its first occurrence. Keys are never
//! removed one by one (a generation is dropped whole), so there are no tombstones; and since
//! a slot is the key and its time side by side (32 bytes for `(instrument, trade_id)`), one
//! probe is usually one cache line. [`Table::prefetch`] fetches a key's home slot and filter
//! word ahead of time, so that a batch's cache misses overlap instead of coming one after another.
//!
//! Beside the slots, a blocked Bloom filter (one 64-bit word per 16 slots, three bits per key,
//! about 8 bits per key) answers "certainly absent" for almost every new key without touching
//! the slots ([`Table::may_hold`]): the older generation's slots are probed only for the few
//! keys it may hold. A large table's filter outgrows the core's L2, so the filter words are
//! prefetched too ([`Table::prefetch_filter`]).

use ticklane_engine::Timestamp;

/// A key a [`Table`] can hold.
pub(super) trait TableKey: Copy + Eq {
    /// A value no real key takes: marks a free slot.
    const FREE: Self;
    /// The key's hash under `seed`; the table uses its low bits.
    fn hash(&self, seed: u64) -> u64;
}

#[derive(Clone, Copy)]
struct Slot<K> {
    key: K,
    ts: Timestamp,
}

/// One generation: keys with the event time of their first occurrence.
pub(super) struct Table<K> {
    slots: Vec<Slot<K>>,
    /// The Bloom filter: `slots.len() / 16` words (at least one), a power of two.
    bloom: Vec<u64>,
    len: usize,
    seed: u64,
}

/// Where a key is, or where it would go.
pub(super) enum Probe {
    /// At this slot, with this first-occurrence time.
    Found(usize, Timestamp),
    /// Not present; it would go at this slot.
    Free(usize),
}

/// Slots of a fresh table (a power of two).
const START: usize = 1024;

impl<K: TableKey> Table<K> {
    pub(super) fn new(seed: u64) -> Table<K> {
        Table { slots: vec![Slot { key: K::FREE, ts: 0 }; START], bloom: vec![0; START / 16], len: 0, seed }
    }

    /// Whether a key of hash `h` may be held (false: it certainly is not).
    #[inline]
    pub(super) fn may_hold(&self, h: u64) -> bool {
        let (w, bits) = self.bloom_bits(h);
        self.bloom[w] & bits == bits
    }

    /// The filter word and bits of hash `h`: the word from the high bits (the slot index uses
    /// the low ones), three bits from the low 18.
    #[inline]
    fn bloom_bits(&self, h: u64) -> (usize, u64) {
        let w = (h >> 40) as usize & (self.bloom.len() - 1);
        (w, 1 << (h & 63) | 1 << ((h >> 6) & 63) | 1 << ((h >> 12) & 63))
    }

    /// Notes a key of hash `h` in the filter.
    #[inline]
    fn remember(&mut self, h: u64) {
        let (w, bits) = self.bloom_bits(h);
        self.bloom[w] |= bits;
    }

    /// Keys held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The key's hash (computed once per key and passed to the other calls).
    #[inline]
    pub(super) fn hash(&self, k: &K) -> u64 {
        k.hash(self.seed)
    }

    /// Asks the CPU to fetch the home slot of a key with hash `h` and its filter word into
    /// the cache, without waiting for them: issued some keys ahead of their probes, so that
    /// cache misses overlap.
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        let slot = &self.slots[h as usize & (self.slots.len() - 1)];
        prefetch(std::ptr::from_ref(slot).cast());
        self.prefetch_filter(h);
    }

    /// Asks the CPU to fetch the filter word of a key with hash `h` (a table of a million
    /// slots has a filter of 512 KiB: more than a core's L2 beside everything else).
    #[inline]
    pub(super) fn prefetch_filter(&self, h: u64) {
        let (w, _) = self.bloom_bits(h);
        prefetch(std::ptr::from_ref(&self.bloom[w]).cast());
    }

    /// Looks `k` (hash `h`) up.
    #[inline]
    pub(super) fn probe(&self, k: &K, h: u64) -> Probe {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = &self.slots[i];
            if s.key == *k {
                return Probe::Found(i, s.ts);
            }
            if s.key == K::FREE {
                return Probe::Free(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The first-occurrence time of `k`, if held.
    #[inline]
    pub(super) fn get(&self, k: &K, h: u64) -> Option<Timestamp> {
        match self.probe(k, h) {
            Probe::Found(_, ts) => Some(ts),
            Probe::Free(_) => None,
        }
    }

    /// Sets the time of the key found at `slot`.
    #[inline]
    pub(super) fn set(&mut self, slot: usize, ts: Timestamp) {
        self.slots[slot].ts = ts;
    }

    /// Puts `k` (hash `h`) with time `ts` into free slot `slot` (from [`Table::probe`], with
    /// no change to the table since).
    #[inline]
    pub(super) fn put(&mut self, slot: usize, k: K, h: u64, ts: Timestamp) {
        self.slots[slot] = Slot { key: k, ts };
        self.remember(h);
        self.len += 1;
        if 2 * self.len > self.slots.len() {
            self.grow();
        }
    }

    /// Doubles the slots, placing every key again.
    #[cold]
    fn grow(&mut self) {
        let bigger = vec![Slot { key: K::FREE, ts: 0 }; 2 * self.slots.len()];
        let old = std::mem::replace(&mut self.slots, bigger);
        self.bloom = vec![0; (self.slots.len() / 16).max(1)];
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.key != K::FREE) {
            let h = s.key.hash(self.seed);
            let mut i = h as usize & mask;
            while self.slots[i].key != K::FREE {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
            self.remember(h);
        }
    }

    /// Keys held whose time is at least `cutoff`.
    pub(super) fn count_from(&self, cutoff: Timestamp) -> usize {
        self.slots.iter().filter(|s| s.key != K::FREE && s.ts >= cutoff).count()
    }

    /// Drops every key, keeping the slots.
    pub(super) fn clear(&mut self) {
        if self.len > 0 {
            self.slots.fill(Slot { key: K::FREE, ts: 0 });
            self.bloom.fill(0);
            self.len = 0;
        }
    }
}

/// A prefetch hint for the line at `p` (a hint only: it never faults and changes nothing).
/// Not a plain load: a load must complete before it retires, so one issued ahead still holds
/// up the loop when its turn comes (perf showed the stall move onto the early load).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch(p: *const i8) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    // SAFETY: `_mm_prefetch` requires only the `sse` target feature, which this build has
    // (the cfg above), and a prefetch never faults or writes, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p)
    };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = p;
}

/// Two words folded by a full multiply (the high and low halves xored).
#[inline]
pub(super) fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    struct K(u64);

    impl TableKey for K {
        const FREE: K = K(0);
        fn hash(&self, seed: u64) -> u64 {
            // A poor hash on purpose (many collisions), to exercise probing and growth.
            (self.0 ^ seed) % 7
        }
    }

    proptest! {
        #[test]
        fn table_matches_a_map(ops in proptest::collection::vec((1u64..60, 0i64..100, any::<bool>()), 0..600)) {
            let mut t = Table::<K>::new(3);
            let mut m: HashMap<u64, i64> = HashMap::new();
            for (k, ts, clear) in ops {
                if clear && ts % 17 == 0 {
                    t.clear();
                    m.clear();
                }
                let h = t.hash(&K(k));
                match t.probe(&K(k), h) {
                    Probe::Found(slot, old) => {
                        prop_assert_eq!(m.get(&k).copied(), Some(old));
                        t.set(slot, ts);
                    }
                    Probe::Free(slot) => {
                        prop_assert!(!m.contains_key(&k));
                        t.put(slot, K(k), h, ts);
                    }
                }
                m.insert(k, ts);
                prop_assert_eq!(t.len(), m.len());
                prop_assert_eq!(t.get(&K(k), h), Some(ts));
                prop_assert!(t.may_hold(h), "the filter never forgets a held key");
                prop_assert_eq!(t.count_from(50), m.values().filter(|&&v| v >= 50).count());
            }
        }
    }
}
