//! One generation of dedupe keys: an open-addressing index (linear probing, at most half
//! full) over a dense array of fixed-size keys, each with the event time of its first
//! occurrence. Keys are never removed one by one (a generation is dropped whole), so there are
//! no tombstones.
//!
//! The index has two arrays with one entry per slot: a control byte (zero for a free slot,
//! else seven bits of the key's hash with the top bit set) and the 32-bit place of the key in
//! the dense array. A probe reads control bytes and compares a key only where the byte
//! matches, so a new key — almost every key dedupe sees — is answered from the control bytes
//! alone, and inserting it writes a control byte, an index entry and the key at the end of
//! the dense array. A generation of 64 Ki keys thus touches 640 KiB of index at random (which
//! stays in the core's L2 cache) and writes its keys in order, where slots holding the keys
//! themselves (24 bytes for a narrow id) would spread the writes over 3 MiB. [`Table::prefetch`]
//! fetches a key's index entries ahead of time, so that a batch's cache misses overlap instead
//! of coming one after another; clearing a generation clears its control bytes and empties the
//! dense array (its memory is kept).

use ticklane_engine::Timestamp;

/// The most keys one generation can hold (places in the dense array are 32-bit); the dedupe
/// capacity is checked against it.
pub(super) const MAX_KEYS: usize = u32::MAX as usize;

/// A key a [`Table`] can hold.
pub(super) trait TableKey: Copy + Eq {
    /// The key's hash under `seed`; the table uses its low bits for the slot and its top
    /// seven for the control byte.
    fn hash(&self, seed: u64) -> u64;
}

#[derive(Clone, Copy)]
struct Entry<K> {
    key: K,
    ts: Timestamp,
}

/// One generation: keys with the event time of their first occurrence.
pub(super) struct Table<K> {
    /// The keys in the order they came.
    keys: Vec<Entry<K>>,
    /// One byte per slot: 0 free, else [`tag`] of the key's hash.
    ctrl: Vec<u8>,
    /// Per slot: the place of its key in `keys` (meaningless where the control byte is 0).
    place: Vec<u32>,
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
        Table { keys: Vec::with_capacity(START / 2 + 1), ctrl: vec![0; START], place: vec![0; START], seed }
    }

    /// Keys held.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key's hash (computed once per key and passed to the other calls).
    #[inline]
    pub(super) fn hash(&self, k: &K) -> u64 {
        k.hash(self.seed)
    }

    /// Asks the CPU to fetch the control byte and the index entry of a key with hash `h`
    /// into the cache, without waiting for them: issued some keys ahead of their probes, so
    /// that cache misses overlap (the entry is written when the key is new).
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        let i = h as usize & (self.ctrl.len() - 1);
        prefetch(std::ptr::from_ref(&self.place[i]).cast());
        prefetch(std::ptr::from_ref(&self.ctrl[i]).cast());
    }

    /// Asks the CPU to fetch only the control bytes of a key with hash `h` (for a lookup
    /// that will almost always find the key absent).
    #[inline]
    pub(super) fn prefetch_ctrl(&self, h: u64) {
        let i = h as usize & (self.ctrl.len() - 1);
        prefetch(std::ptr::from_ref(&self.ctrl[i]).cast());
    }

    /// Looks `k` (hash `h`) up.
    #[inline]
    pub(super) fn probe(&self, k: &K, h: u64) -> Probe {
        let mask = self.ctrl.len() - 1;
        let t = tag(h);
        let mut i = h as usize & mask;
        loop {
            let c = self.ctrl[i];
            if c == t {
                let e = &self.keys[self.place[i] as usize];
                if e.key == *k {
                    return Probe::Found(i, e.ts);
                }
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
        let at = self.place[slot] as usize;
        self.keys[at].ts = ts;
    }

    /// Puts `k` (hash `h`) with time `ts` into free slot `slot` (from [`Table::probe`], with
    /// no change to the table since). The dense array has room for it (it is reserved as the
    /// index grows), so this never allocates unless the index doubles.
    #[inline]
    pub(super) fn put(&mut self, slot: usize, k: K, h: u64, ts: Timestamp) {
        // At most half the slots hold keys, and a generation holds fewer than the dedupe
        // capacity, itself at most MAX_KEYS (checked when configured): the place fits.
        self.place[slot] = self.keys.len() as u32;
        self.ctrl[slot] = tag(h);
        self.keys.push(Entry { key: k, ts });
        if 2 * self.keys.len() > self.ctrl.len() {
            self.grow();
        }
    }

    /// Doubles the slots, indexing every key again (in the order they came).
    #[cold]
    fn grow(&mut self) {
        let n = 2 * self.ctrl.len();
        self.ctrl = vec![0; n];
        self.place = vec![0; n];
        self.keys.reserve_exact((n / 2 + 1).saturating_sub(self.keys.len()));
        let mask = n - 1;
        for (at, e) in self.keys.iter().enumerate() {
            let h = e.key.hash(self.seed);
            let mut i = h as usize & mask;
            while self.ctrl[i] != 0 {
                i = (i + 1) & mask;
            }
            self.ctrl[i] = tag(h);
            self.place[i] = at as u32;
        }
    }

    /// Keys held whose time is at least `cutoff`.
    pub(super) fn count_from(&self, cutoff: Timestamp) -> usize {
        self.keys.iter().filter(|e| e.ts >= cutoff).count()
    }

    /// Drops every key, keeping the memory (a slot whose control byte is zero is free,
    /// whatever its index entry holds).
    pub(super) fn clear(&mut self) {
        if !self.keys.is_empty() {
            self.ctrl.fill(0);
            self.keys.clear();
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
        fn hash(&self, seed: u64) -> u64 {
            // A poor hash on purpose (many collisions, the same tag), to exercise probing;
            // homes on both sides of the table's end, to exercise the wrap-around.
            ((self.0 ^ seed) % 7).wrapping_sub(3)
        }
    }

    /// Keys with a well-spread hash, to fill a table past its first sizes.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    struct Spread(u64);

    impl TableKey for Spread {
        fn hash(&self, seed: u64) -> u64 {
            fold(self.0 ^ seed, 0x9e37_79b9_7f4a_7c15)
        }
    }

    /// Growth re-indexes every key where a probe finds it, with its time; a cleared table
    /// finds none of them and takes them again.
    #[test]
    fn growth_and_clearing_keep_the_index_true() {
        let mut t = Table::<Spread>::new(11);
        for round in 0..2 {
            for k in 0..20_000u64 {
                let h = t.hash(&Spread(k));
                let Probe::Free(slot) = t.probe(&Spread(k), h) else { panic!("{k} present before insert") };
                t.put(slot, Spread(k), h, k as i64 * 10 + round);
            }
            assert_eq!(t.len(), 20_000);
            assert!(t.ctrl.len() >= 2 * t.len(), "at most half full");
            for k in (0..20_000u64).step_by(7) {
                assert_eq!(t.get(&Spread(k), t.hash(&Spread(k))), Some(k as i64 * 10 + round), "key {k}");
            }
            assert_eq!(t.get(&Spread(20_000), t.hash(&Spread(20_000))), None);
            assert_eq!(t.count_from(100_000), 10_000);
            t.clear();
            assert_eq!((t.len(), t.get(&Spread(5), t.hash(&Spread(5)))), (0, None));
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
