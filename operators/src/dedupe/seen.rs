//! Two generations of one key shape (see the module docs of `dedupe`).

use super::table::{Probe, Table, TableKey};
use super::{DedupeConfig, DedupeCounters};
use ticklane_engine::Timestamp;

/// What [`Seen::insert`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Seen within the horizon.
    Duplicate,
    /// New, and remembered.
    New,
    /// New, but the capacity is reached: not remembered yet.
    Full,
}

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

    /// Prefetches what a key of hash `h` will touch: its control bytes and slot in the
    /// current generation (see [`Table::prefetch`]), and the older one's control bytes (its
    /// slots are read only where a control byte matches, which is rare).
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        self.cur.prefetch(h);
        self.prev.prefetch_ctrl(h);
    }

    /// Whether `k` (hash `h`) of a trade at `ts` with watermark stamp `wm` is new, remembering
    /// it if there is room: one probe of each generation (the older one's slots are read
    /// only where a control byte matches). `others`: keys held in other shapes'
    /// generations (the capacity counts them all). [`Admit::Full`]: new, but not remembered —
    /// the caller makes room ([`Seen::make_room`], in whichever shape holds the most) and then
    /// [`Seen::put_new`]s it.
    #[inline]
    pub(super) fn insert(
        &mut self,
        (k, h): (K, u64),
        (ts, wm): (Timestamp, Timestamp),
        others: usize,
        cfg: &DedupeConfig,
        c: &mut DedupeCounters,
    ) -> Admit {
        let cutoff = wm.saturating_sub(cfg.ttl);
        self.max_ts = self.max_ts.max(ts);
        if wm > self.rotate_at {
            self.rotate(cfg.ttl, c); // even when empty: a first key sets the next rotation
        }
        match self.cur.probe(&k, h) {
            Probe::Found(slot, first) => {
                if first >= cutoff {
                    return Admit::Duplicate;
                }
                self.cur.set(slot, ts); // the remembered one is past the horizon: a new first occurrence
            }
            Probe::Free(slot) => {
                if self.prev.get(&k, h).is_some_and(|t| t >= cutoff) {
                    return Admit::Duplicate;
                }
                if self.len() + others >= cfg.capacity.get() {
                    return Admit::Full;
                }
                self.cur.put(slot, k, h, ts);
            }
        }
        Admit::New
    }

    /// Remembers `k` (hash `h`, first seen at `ts`), known to be new, after room was made.
    pub(super) fn put_new(&mut self, k: K, h: u64, ts: Timestamp) {
        match self.cur.probe(&k, h) {
            Probe::Free(slot) => self.cur.put(slot, k, h, ts),
            Probe::Found(slot, _) => self.cur.set(slot, ts),
        }
    }

    /// Drops the older generation once the watermark passed the newest of its keys plus the
    /// ttl (a comparison when nothing is due): called for the other shapes at every insert, so
    /// a shape that gets no keys any more (a feed whose ids grew past eight bytes) still lets
    /// its old keys go. A shape holding no keys has nothing to drop and is left alone: its
    /// `rotate_at` is stale, so it would otherwise rotate at every insert of the other shape
    /// (a call and two table swaps per trade: 13% of a CSV replay's samples, 2026-12-05).
    #[inline]
    pub(super) fn expire(&mut self, wm: Timestamp, ttl: i64, c: &mut DedupeCounters) {
        if wm > self.rotate_at && self.len() > 0 {
            self.rotate(ttl, c);
        }
    }

    /// When the older generation is next dropped (tests).
    #[cfg(test)]
    pub(super) fn rotate_at(&self) -> Timestamp {
        self.rotate_at
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

    /// At capacity: drops the older generation now (the current one, if the older is empty),
    /// counting its keys still within the horizon as evicted (the rest had expired).
    #[cold]
    pub(super) fn make_room(&mut self, wm: Timestamp, ttl: i64, c: &mut DedupeCounters) {
        let cutoff = wm.saturating_sub(ttl);
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
