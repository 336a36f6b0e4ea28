//! The consumer side of an egress sink: merges the shards' output into one deterministic
//! order (design.md §5) on the thread that reads it.
//!
//! Order: records are released in ascending `(stamp, instrument name, per-shard emission
//! order)`. A record is released once every shard has reported a watermark above its stamp, so
//! no later record can sort before it. For bars the stamp is `window_end`, which gives the
//! `(window_end, instrument name)` order of design.md §5; a revision carries the stamp of the
//! late trade that caused it, so it follows the bar it revises. None of this depends on the
//! number of shards, ring sizes or pacing.

use super::wire::{Budget, EgressEnd, EgressMsg};
use crate::instrument::{InstrumentId, Interner};
use crate::record::{Record, Stamped, Timestamp, WM_END};
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The sort key of a pending record; the record itself waits in `recs[slot]`, so sorting
/// moves small keys rather than whole records. Records of one instrument come from one
/// shard, in order, so `(stamp, name, arrival)` is the per-shard emission order the module
/// docs promise. The name is its rank among the names seen; the arrival is the slot: slots
/// grow with arrival, and compacting renumbers the waiting records in their sorted order. So
/// every key is distinct (the order does not rest on the sort's stability) and one integer
/// compare, with no lookup, orders two keys; ranks are kept in the keys, set anew when a new
/// name comes.
#[derive(Clone, Copy)]
struct Key {
    stamp: Timestamp,
    rank: u32,
    slot: u32,
}

impl Key {
    /// `(stamp, rank, slot)` as one integer.
    #[inline(always)]
    fn order(&self) -> u128 {
        u128::from((self.stamp as u64) ^ (1 << 63)) << 64 | u128::from(self.rank) << 32 | u128::from(self.slot)
    }
}

/// Reads one egress sink's records, merged across shards in deterministic order.
///
/// Read it from a thread other than the one pushing into the engine: a full egress blocks its
/// shard, which blocks the producer.
pub struct Egress<T: Record> {
    rx: Receiver<EgressMsg>,
    /// Per shard, the credits its records took ([`Budget`]), taken back as they are read.
    credits: Vec<Receiver<()>>,
    budget: Budget,
    progress: Vec<Timestamp>,
    ended: Vec<bool>,
    /// The keys of the records held: `pending[..released_to]` released, in order (of which
    /// `pending[..taken]` handed out), the rest waiting (see [`Egress::release`]).
    pending: Vec<Key>,
    taken: usize,
    released_to: usize,
    recs: Vec<Stamped<T>>,
    /// Scratch for compacting `recs` once the released records are handed out.
    spare: Vec<Stamped<T>>,
    released: Timestamp,
    /// The least stamp pending (`WM_END` when none): a release with a bound at or below it
    /// would release nothing, so it is skipped (shards report progress far more often than
    /// records fall due).
    pending_min: Timestamp,
    /// Per instrument id seen: its name.
    names: Vec<Option<Arc<str>>>,
    /// Per instrument id seen: its name's place among the names seen (sorting by it sorts
    /// by name without comparing names); recomputed at a release after new names came.
    ranks: Vec<u32>,
    ranks_stale: bool,
    interner: Interner,
    disconnected: bool,
    order_violations: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T: Record> Egress<T> {
    pub(crate) fn new(end: EgressEnd, shards: usize, interner: Interner) -> Egress<T> {
        Egress {
            rx: end.rx,
            credits: end.credits,
            budget: end.budget,
            progress: vec![i64::MIN; shards],
            ended: vec![false; shards],
            pending: Vec::new(),
            taken: 0,
            released_to: 0,
            recs: Vec::new(),
            spare: Vec::new(),
            released: i64::MIN,
            pending_min: WM_END,
            names: Vec::new(),
            ranks: Vec::new(),
            ranks_stale: false,
            interner,
            disconnected: false,
            order_violations: 0,
            _t: PhantomData,
        }
    }

    /// Whether every shard delivered all of its output (true after `recv` returned `None`
    /// on a clean run; false if a shard failed or the engine aborted).
    pub fn is_complete(&self) -> bool {
        self.ended.iter().all(|&e| e)
    }

    /// The name of an instrument whose records this egress has delivered, from the egress's
    /// own cache (no lock, no reference count): what a writer needs per record.
    pub fn name(&self, id: InstrumentId) -> Option<&str> {
        self.names.get(id.0 as usize).and_then(|n| n.as_deref())
    }

    /// Records that arrived with a stamp below what was already released: an operator broke
    /// the stamp contract of [`crate::Operator`]. Such records are still delivered, late.
    pub fn order_violations(&self) -> u64 {
        self.order_violations
    }

    /// The next record, blocking until it is final; `None` when the sink's input has ended.
    pub fn recv(&mut self) -> Option<Stamped<T>> {
        loop {
            if let Some(r) = self.take_released() {
                return Some(r);
            }
            if self.disconnected {
                return None;
            }
            match self.rx.recv() {
                Ok(m) => self.absorb(m),
                Err(_) => self.close(),
            }
        }
    }

    /// The next record if one is final now, without blocking.
    pub fn try_recv(&mut self) -> Option<Stamped<T>> {
        loop {
            if let Some(r) = self.take_released() {
                return Some(r);
            }
            if self.disconnected {
                return None;
            }
            match self.rx.try_recv() {
                Ok(m) => self.absorb(m),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => self.close(),
            }
        }
    }

    /// The next record, waiting at most `timeout`; `None` on timeout or end (see
    /// [`Egress::is_finished`] to tell them apart).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Stamped<T>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.take_released() {
                return Some(r);
            }
            if self.disconnected {
                return None;
            }
            match self.rx.recv_deadline(deadline) {
                Ok(m) => self.absorb(m),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => self.close(),
            }
        }
    }

    /// Whether the input ended and everything was read.
    pub fn is_finished(&self) -> bool {
        self.disconnected && self.taken == self.released_to
    }

    /// The next released record not yet handed out. Records are read from where they arrived,
    /// through their sorted keys: a record is copied out once, not into a queue first.
    #[inline]
    fn take_released(&mut self) -> Option<Stamped<T>> {
        let k = self.pending[..self.released_to].get(self.taken)?;
        self.taken += 1;
        Some(self.recs[k.slot as usize])
    }

    /// Drops the keys and records handed out (all that were released: called only when the
    /// last was taken) and compacts the records still waiting (usually few), renumbering
    /// their slots.
    fn settle(&mut self) {
        debug_assert_eq!(self.taken, self.released_to, "settled before every released record was taken");
        if self.released_to == 0 {
            return;
        }
        self.pending.drain(..self.released_to);
        (self.taken, self.released_to) = (0, 0);
        self.spare.clear();
        for k in &mut self.pending {
            self.spare.push(self.recs[k.slot as usize]);
            k.slot = (self.spare.len() - 1) as u32;
        }
        std::mem::swap(&mut self.recs, &mut self.spare);
    }

    fn close(&mut self) {
        self.settle();
        self.disconnected = true;
        self.release(WM_END);
    }

    fn absorb(&mut self, m: EgressMsg) {
        self.settle();
        let s = m.shard;
        if let Some(credits) = self.credits.get(s) {
            // Sent before the message: they are there.
            for _ in 0..self.budget.tokens_for(m.items.len()) {
                let _ = credits.try_recv();
            }
        }
        if let Some(items) = m.items.as_slice::<T>() {
            for &rec in items {
                if rec.wm < self.released {
                    self.order_violations += 1;
                }
                let id = rec.rec.instrument();
                self.learn(id);
                let slot = self.recs.len() as u32;
                self.pending_min = self.pending_min.min(rec.wm);
                self.recs.push(rec);
                let rank = self.ranks.get(id.0 as usize).copied().unwrap_or(u32::MAX);
                self.pending.push(Key { stamp: rec.wm, rank, slot });
            }
        }
        if m.progress > self.progress[s] {
            self.progress[s] = m.progress;
        }
        if m.end {
            self.ended[s] = true;
            self.progress[s] = WM_END;
        }
        let bound = self.progress.iter().copied().min().unwrap_or(WM_END);
        if bound > self.pending_min || (bound == WM_END && !self.pending.is_empty()) {
            self.release(bound);
        } else if bound > self.released {
            self.released = bound; // nothing pending is due yet: no sort
        }
    }

    /// Caches the name of `id` (looked up once per instrument).
    #[inline]
    fn learn(&mut self, id: InstrumentId) {
        let i = id.0 as usize;
        if let Some(Some(_)) = self.names.get(i) {
            return;
        }
        let n = self.interner.name(id).unwrap_or_else(|| Arc::from(""));
        if self.names.len() <= i {
            self.names.resize(i + 1, None);
        }
        self.names[i] = Some(n);
        self.ranks_stale = true;
    }

    /// Each known instrument's place in name order, and the waiting keys' ranks anew.
    #[cold]
    fn rerank(&mut self) {
        let names = &self.names;
        let mut ids: Vec<usize> = (0..names.len()).filter(|&i| names[i].is_some()).collect();
        ids.sort_unstable_by(|&a, &b| names[a].cmp(&names[b]));
        self.ranks.clear();
        self.ranks.resize(names.len(), u32::MAX);
        for (rank, id) in ids.into_iter().enumerate() {
            self.ranks[id] = rank as u32;
        }
        for k in &mut self.pending {
            k.rank = self.ranks[self.recs[k.slot as usize].rec.instrument().0 as usize];
        }
        self.ranks_stale = false;
    }

    /// Releases every pending record with `stamp < bound` (all of them at +∞), sorted: the
    /// keys are sorted by stamp first, so the released ones are a prefix of `pending`. Called
    /// only when every record released before was handed out and settled.
    fn release(&mut self, bound: Timestamp) {
        if self.ranks_stale {
            self.rerank();
        }
        // `pending` is the sorted rest of the last release followed by the arrivals since: a
        // stable sort (driftsort) takes the sorted part as one run.
        self.pending.sort_by_key(Key::order);
        let n = if bound == WM_END { self.pending.len() } else { self.pending.partition_point(|p| p.stamp < bound) };
        (self.taken, self.released_to) = (0, n);
        if bound > self.released {
            self.released = bound;
        }
        // Still sorted by stamp: the first waiting is the least.
        self.pending_min = self.pending.get(n).map_or(WM_END, |k| k.stamp);
    }
}

impl<T: Record> Iterator for Egress<T> {
    type Item = Stamped<T>;
    fn next(&mut self) -> Option<Stamped<T>> {
        self.recv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Trade;
    use crate::Fixed;
    use crossbeam_channel::unbounded;

    /// One instrument's records at one stamp leave in arrival order, across releases (the rest
    /// of one release sorted again with later arrivals) and a re-ranking (a new name): more
    /// than a small-sort's worth of equal keys, so an unstable sort would reorder them.
    #[test]
    fn equal_keys_leave_in_arrival_order() {
        let interner = Interner::new();
        let ids: Vec<InstrumentId> = ["B", "A", "Z", "0"].iter().map(|n| interner.intern(n).expect("intern")).collect();
        let (tx, rx) = unbounded();
        let end = EgressEnd { rx, credits: Vec::new(), budget: Budget::new(1) };
        let mut eg = Egress::<Trade>::new(end, 2, interner);
        let mut sent: Vec<(Timestamp, &str, i64)> = Vec::new();
        let mut arrival = 0;
        let mut msg = |shard: usize, recs: &[(Timestamp, usize)], progress: Timestamp, end: bool| {
            let names = ["B", "A", "Z", "0"];
            let items: Vec<Stamped<Trade>> = recs
                .iter()
                .map(|&(stamp, who)| {
                    arrival += 1;
                    sent.push((stamp, names[who], arrival));
                    let rec = Trade { instrument: ids[who], price: Fixed::from_raw(arrival), ..Trade::default() };
                    Stamped { wm: stamp, rec }
                })
                .collect();
            tx.send(EgressMsg { shard, items: Trade::into_batch(items), progress, end }).expect("send");
        };
        let many = |stamp, n: usize| (0..n).map(move |i| (stamp, usize::from(i % 3 == 0))).collect::<Vec<_>>();
        msg(0, &[many(10, 40), many(20, 40)].concat(), 15, false);
        msg(1, &many(20, 30), 25, false); // releases stamp 10; stamp 20's keys stay
        msg(0, &[many(20, 50), vec![(30, 2), (30, 1)]].concat(), 35, false);
        msg(1, &[(30, 3), (30, 1), (40, 0)], 45, false); // a new name: re-ranked
        msg(0, &[], i64::MAX, true);
        msg(1, &[], i64::MAX, true);
        drop(tx);
        let got: Vec<i64> = std::iter::from_fn(|| eg.recv()).map(|r| r.rec.price.raw()).collect();
        sent.sort_by_key(|&(stamp, name, arrival)| (stamp, name, arrival));
        let want: Vec<i64> = sent.iter().map(|s| s.2).collect();
        assert_eq!(got, want);
        assert_eq!(eg.order_violations(), 0);
    }
}
