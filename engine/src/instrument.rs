//! Instrument names, their dense `u32` ids, and the portable name → shard assignment.
//!
//! Instruments arrive as strings (`binance-futures:BTCUSDT`, `GLBX.MDP3:ESH4`) and are
//! interned once to an [`InstrumentId`]. The shard of an instrument is [`shard_of`]: a pure
//! function of the *name* and the shard count, built from FNV-1a (64-bit) and the SplitMix64
//! finaliser, both fully specified and independent of CPU features or crate versions, so
//! every process and host agrees on it (design.md §1). `ahash` is used only for in-process maps.

use ahash::RandomState;
use hashbrown::HashMap;
use parking_lot::RwLock;
use std::fmt;
use std::sync::Arc;

/// Dense id of an interned instrument name (`0, 1, 2, …` in first-seen order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InstrumentId(pub u32);

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// 64-bit FNV-1a of `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// 128-bit FNV-1a of `bytes` (the standard 128-bit offset basis and prime).
pub fn fnv1a128(bytes: &[u8]) -> u128 {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for &b in bytes {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    h
}

/// SplitMix64's finaliser: spreads FNV's weak low bits over the whole word (used by
/// [`shard_of`], and by the scale-out's rendezvous weights in the CLI's library).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The shard (in `0..shards`) that owns instrument `name`.
///
/// Deterministic and total: `((mix64(fnv1a64(name)) as u128 * shards) >> 64)`. The same name
/// lands on the same shard in every run, process and host. `shards` must be at least 1
/// (`0` is treated as 1).
pub fn shard_of(name: &str, shards: usize) -> usize {
    let n = shards.max(1) as u128;
    ((u128::from(mix64(fnv1a64(name.as_bytes()))) * n) >> 64) as usize
}

/// Errors from interning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InternError {
    /// More than `u32::MAX` distinct instruments.
    #[error("too many instruments: the id space of {max} is exhausted")]
    Exhausted {
        /// The limit.
        max: u64,
    },
}

/// A shared, append-only instrument table. Cloning shares it.
///
/// Interning takes a write lock only the first time a name is seen; [`crate::Ingress`] keeps
/// its own lock-free cache in front, so the hot path never locks.
#[derive(Clone, Default)]
pub struct Interner {
    inner: Arc<RwLock<Table>>,
}

#[derive(Default)]
struct Table {
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, InstrumentId, RandomState>,
}

impl Interner {
    /// An empty table.
    pub fn new() -> Interner {
        Interner::default()
    }

    /// The id of `name`, assigning the next dense id if it is new.
    pub fn intern(&self, name: &str) -> Result<InstrumentId, InternError> {
        if let Some(&id) = self.inner.read().ids.get(name) {
            return Ok(id);
        }
        let mut t = self.inner.write();
        if let Some(&id) = t.ids.get(name) {
            return Ok(id);
        }
        let id = u32::try_from(t.names.len()).map_err(|_| InternError::Exhausted { max: u64::from(u32::MAX) })?;
        let name: Arc<str> = Arc::from(name);
        t.names.push(name.clone());
        t.ids.insert(name, InstrumentId(id));
        Ok(InstrumentId(id))
    }

    /// The id of `name` if it was interned.
    pub fn get(&self, name: &str) -> Option<InstrumentId> {
        self.inner.read().ids.get(name).copied()
    }

    /// The name of `id`, if assigned.
    pub fn name(&self, id: InstrumentId) -> Option<Arc<str>> {
        self.inner.read().names.get(id.0 as usize).cloned()
    }

    /// Number of interned instruments.
    pub fn len(&self) -> usize {
        self.inner.read().names.len()
    }

    /// Whether nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Interner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interner").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_reference_values() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        assert_eq!(fnv1a128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }

    #[test]
    fn shard_assignment_is_pinned() {
        // Pinned values: changing the function breaks cross-process agreement.
        let got: Vec<usize> = ["binance-futures:BTCUSDT", "GLBX.MDP3:ESH4", "GLBX.MDP3:ESU4", "X"]
            .iter()
            .map(|n| shard_of(n, 8))
            .collect();
        // Computed independently (Python, from the formula in `shard_of`'s docs).
        assert_eq!(got, [5, 5, 7, 7]);
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0);
    }

    #[test]
    fn shards_spread_evenly() {
        let n = 4;
        let mut counts = vec![0usize; n];
        for i in 0..4000 {
            counts[shard_of(&format!("SYM{i}"), n)] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "uneven spread: {c}");
        }
    }

    #[test]
    fn interner_is_dense_and_shared() {
        let a = Interner::new();
        let b = a.clone();
        assert_eq!(a.intern("X"), Ok(InstrumentId(0)));
        assert_eq!(b.intern("Y"), Ok(InstrumentId(1)));
        assert_eq!(a.intern("X"), Ok(InstrumentId(0)));
        assert_eq!(b.name(InstrumentId(1)).as_deref(), Some("Y"));
        assert_eq!(a.get("Z"), None);
        assert_eq!(a.len(), 2);
    }
}
