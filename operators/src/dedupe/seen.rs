//! Two generations of one key shape (see the module docs of `dedupe`).

use super::table::{Probe, Table, TableKey};
use super::{DedupeConfig, DedupeCounters};
use ticklane_engine::Timestamp;

/// The keys seen within the horizon, with the event time of their first occurrence, in two
/// generations: `cur` takes new keys; `prev` is the generation before. Invariant: every key
/// that `prev` lost was older than the horizon when it was dropped, so the horizon is exact.
pub(super) struct Seen<K> {
    pub(super) cur: Table<K>,
    prev: Table<K>,
    /// The largest event time of any key inserted so far.
    max_ts: Timestamp,
    /// Once the watermark passes this, every key of `prev` is past the horizon: it is dropped
    /// and `cur` becomes `prev` (set to `max_ts + ttl` at each rotation).
    rotate_at: Timestamp,
}

impl<K: TableKey> Seen<K> {
    pub(super) fn new(seed: u64) -> Self {
        Seen { cur: Table::new(seed), prev: Table::new(seed), max_ts: i64::MIN, rotate_at: i64::MIN }
    }

    /// Prefetches the slot that a key of hash `h` will probe in the current generation (see
    /// [`Table::prefetch`]; the older one is probed only when its filter says it may hold
    /// the key, which is rare).
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        self.cur.prefetch(h);
    }

    /// True if `k` (hash `h`) of a trade at `ts` with watermark stamp `wm` is new (and
    /// remembers it): one probe of the current generation, and of the older one only when its
    /// filter says it may hold the key. `others`: keys held in other shapes'
    /// generations (the capacity counts them all).
    #[inline]
    pub(super) fn insert(
        &mut self,
        (k, h): (K, u64),
        (ts, wm): (Timestamp, Timestamp),
        others: usize,
        cfg: &DedupeConfig,
        c: &mut DedupeCounters,
    ) -> bool {
        let cutoff = wm.saturating_sub(cfg.ttl);
        self.max_ts = self.max_ts.max(ts);
        if wm > self.rotate_at {
            self.rotate(cfg.ttl, c);
        }
        match self.cur.probe(&k, h) {
            Probe::Found(slot, first) => {
                if first >= cutoff {
                    return false;
                }
                self.cur.set(slot, ts); // the remembered one is past the horizon: a new first occurrence
            }
            Probe::Free(slot) => {
                if self.prev.may_hold(h) && self.prev.get(&k, h).is_some_and(|t| t >= cutoff) {
                    return false;
                }
                if self.len() + others < cfg.capacity.get() {
                    self.cur.put(slot, k, h, ts);
                    return true;
                }
                self.evict(cutoff, cfg.ttl, c);
                match self.cur.probe(&k, h) {
                    Probe::Free(slot) => self.cur.put(slot, k, h, ts),
                    Probe::Found(slot, _) => self.cur.set(slot, ts),
                }
            }
        }
        true
    }

    /// Keys held in both generations.
    pub(super) fn len(&self) -> usize {
        self.cur.len() + self.prev.len()
    }

    /// Drops `prev` (every key in it is past the horizon: the watermark passed the newest of
    /// them plus the ttl) and starts a new generation.
    #[cold]
    fn rotate(&mut self, ttl: i64, c: &mut DedupeCounters) {
        c.expired += self.prev.len() as u64;
        self.prev.clear();
        std::mem::swap(&mut self.cur, &mut self.prev);
        self.rotate_at = self.max_ts.saturating_add(ttl);
    }

    /// At capacity: drops the older generation now, counting its keys still within the horizon
    /// as evicted (the rest had expired).
    #[cold]
    fn evict(&mut self, cutoff: Timestamp, ttl: i64, c: &mut DedupeCounters) {
        if self.prev.len() == 0 {
            std::mem::swap(&mut self.cur, &mut self.prev);
        }
        let live = self.prev.count_from(cutoff) as u64;
        c.evicted += live;
        c.expired += self.prev.len() as u64 - live;
        self.prev.clear();
        std::mem::swap(&mut self.cur, &mut self.prev);
        self.rotate_at = self.max_ts.saturating_add(ttl);
    }
}
