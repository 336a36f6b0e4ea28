//! One generation of dedupe keys: an open-addressing table (linear probing, at most half
//! full) of fixed-size keys, each with the event time of its first occurrence. Keys are never
//! removed one by one (a generation is dropped whole), so there are no tombstones.
//!
//! Beside the slots, one control byte per slot: zero for a free slot, else seven bits of the
//! key's hash (with the top bit set). A probe reads control bytes and compares a slot's key
//! only where the byte matches, so a new key — almost every key dedupe sees — is answered
//! from the control bytes alone: a table of a quarter million slots has 256 KiB of them,
//! which stay in the core's L2 cache, while its slots (6 MiB) do not. The slot a new key goes
//! into is only written. [`Table::prefetch`] fetches a key's control bytes and home slot
//! ahead of time, so that a batch's cache misses overlap instead of coming one after another;
//! clearing a generation clears its control bytes only.

use ticklane_engine::Timestamp;

/// A key a [`Table`] can hold.
pub(super) trait TableKey: Copy + Eq {
    /// What an unused slot holds (any value: the slot's control byte says it is free).
    const FILL: Self;
    /// The key's hash under `seed`; the table uses its low bits for the slot and its top
    /// seven for the control byte.
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
    /// One byte per slot: 0 free, else [`tag`] of the key's hash.
    ctrl: Vec<u8>,
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

/// The control byte of a key with hash `h`: its top seven bits, never zero.
#[inline]
fn tag(h: u64) -> u8 {
    0x80 | (h >> 57) as u8
}

impl<K: TableKey> Table<K> {
    pub(super) fn new(seed: u64) -> Table<K> {
        Table { slots: vec![Slot { key: K::FILL, ts: 0 }; START], ctrl: vec![0; START], len: 0, seed }
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

    /// Asks the CPU to fetch the control bytes and the home slot of a key with hash `h` into
    /// the cache, without waiting for them: issued some keys ahead of their probes, so that
    /// cache misses overlap (the slot is where a new key will be written).
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        let i = h as usize & (self.slots.len() - 1);
        prefetch(std::ptr::from_ref(&self.slots[i]).cast());
        prefetch(std::ptr::from_ref(&self.ctrl[i]).cast());
    }

    /// Asks the CPU to fetch only the control bytes of a key with hash `h` (for a lookup
    /// that will almost always find the key absent).
    #[inline]
    pub(super) fn prefetch_ctrl(&self, h: u64) {
        let i = h as usize & (self.slots.len() - 1);
        prefetch(std::ptr::from_ref(&self.ctrl[i]).cast());
    }

    /// Looks `k` (hash `h`) up.
    #[inline]
    pub(super) fn probe(&self, k: &K, h: u64) -> Probe {
        let mask = self.slots.len() - 1;
        let t = tag(h);
        let mut i = h as usize & mask;
        loop {
            let c = self.ctrl[i];
            if c == t && self.slots[i].key == *k {
                return Probe::Found(i, self.slots[i].ts);
            }
            if c == 0 {
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
        self.ctrl[slot] = tag(h);
        self.len += 1;
        if 2 * self.len > self.slots.len() {
            self.grow();
        }
    }

    /// Doubles the slots, placing every key again.
    #[cold]
    fn grow(&mut self) {
        let n = 2 * self.slots.len();
        let old = std::mem::replace(&mut self.slots, vec![Slot { key: K::FILL, ts: 0 }; n]);
        let old_ctrl = std::mem::replace(&mut self.ctrl, vec![0; n]);
        let mask = n - 1;
        for (s, _) in old.into_iter().zip(old_ctrl).filter(|(_, c)| *c != 0) {
            let h = s.key.hash(self.seed);
            let mut i = h as usize & mask;
            while self.ctrl[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
            self.ctrl[i] = tag(h);
        }
    }

    /// Keys held whose time is at least `cutoff`.
    pub(super) fn count_from(&self, cutoff: Timestamp) -> usize {
        self.slots.iter().zip(&self.ctrl).filter(|(s, c)| **c != 0 && s.ts >= cutoff).count()
    }

    /// Drops every key, keeping the slots (a slot whose control byte is zero is free, whatever
    /// it holds).
    pub(super) fn clear(&mut self) {
        if self.len > 0 {
            self.ctrl.fill(0);
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
        const FILL: K = K(0);
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
                prop_assert_eq!(t.count_from(50), m.values().filter(|&&v| v >= 50).count());
            }
        }
    }
}
