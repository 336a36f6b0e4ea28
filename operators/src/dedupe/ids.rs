//! The id key's generations: narrow keys (ids of up to eight bytes, 24-byte entries) and wide
//! ones apart, so the common case keeps a quarter less memory in the cache's way.

use super::keys::IdShape;
use super::keys::{IdKey, NarrowKey};
use super::seen::{Admit, Seen};
use super::{DedupeConfig, DedupeCounters};
use ticklane_engine::Timestamp;

pub(super) struct IdSets {
    narrow: Seen<NarrowKey>,
    wide: Seen<IdKey>,
}

impl IdSets {
    pub(super) fn new(seed: u64) -> IdSets {
        IdSets { narrow: Seen::new(seed), wide: Seen::new(seed) }
    }

    /// The key's hash (computed once and passed to the other calls).
    #[inline]
    pub(super) fn hash(&self, k: &IdShape) -> u64 {
        match k {
            IdShape::Narrow(n) => self.narrow.cur.hash(n),
            IdShape::Wide(w) => self.wide.cur.hash(w),
        }
    }

    /// Prefetches what inserting `k` (hash `h`) will probe.
    #[inline]
    pub(super) fn prefetch(&self, k: &IdShape, h: u64) {
        match k {
            IdShape::Narrow(_) => self.narrow.prefetch(h),
            IdShape::Wide(_) => self.wide.prefetch(h),
        }
    }

    /// True if `k` (hash `h`) of a trade at `ts` with stamp `wm` is new; remembers it.
    #[inline]
    pub(super) fn insert(
        &mut self,
        (k, h): (IdShape, u64),
        at: (Timestamp, Timestamp),
        cfg: &DedupeConfig,
        c: &mut DedupeCounters,
    ) -> bool {
        let admit = match k {
            IdShape::Narrow(n) => {
                self.wide.expire(at.1, cfg.ttl, c);
                self.narrow.insert((n, h), at, self.wide.len(), cfg, c)
            }
            IdShape::Wide(w) => {
                self.narrow.expire(at.1, cfg.ttl, c);
                self.wide.insert((w, h), at, self.narrow.len(), cfg, c)
            }
        };
        match admit {
            Admit::Duplicate => false,
            Admit::New => true,
            Admit::Full => {
                // Room from the shape holding the most keys: when ids grow past eight bytes,
                // the narrow keys are the old ones (evicting the small wide generation
                // instead, at every insert, lost the new keys and cleared a table each time).
                if self.narrow.len() >= self.wide.len() {
                    self.narrow.make_room(at.1, cfg.ttl, c);
                } else {
                    self.wide.make_room(at.1, cfg.ttl, c);
                }
                match k {
                    IdShape::Narrow(n) => self.narrow.put_new(n, h, at.0),
                    IdShape::Wide(w) => self.wide.put_new(w, h, at.0),
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticklane_engine::TradeId;

    /// A shape that holds no keys is left alone while the other takes them: it has nothing to
    /// drop, and rotating it anyway (its `rotate_at` is stale) cost a call and two table swaps
    /// per trade. The narrow shape still rotates on its own schedule.
    #[test]
    fn an_empty_shape_does_not_rotate() {
        let cfg = DedupeConfig::default();
        let mut c = DedupeCounters::default();
        let mut sets = IdSets::new(7);
        let idle_since = sets.wide.rotate_at();
        for i in 0..10_000u64 {
            let ts = i as i64 * 10_000_000; // 10 ms apart: the 10 s ttl passes ten times
            let k = IdShape::new(1, TradeId::from_u64(i));
            assert!(sets.insert((k, sets.hash(&k)), (ts, ts), &cfg, &mut c));
        }
        assert_eq!(sets.wide.rotate_at(), idle_since, "the empty wide shape rotated");
        assert!(c.expired > 0, "the narrow shape's old generations were dropped");
        assert!(sets.narrow.rotate_at() > idle_since);
    }
}
