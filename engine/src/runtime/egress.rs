//! The consumer side of an egress sink: merges the shards' output into one deterministic
//! order (design.md §5) on the thread that reads it.
//!
//! Order: records are released in ascending `(stamp, instrument name, per-shard emission
//! order)`. A record is released once every shard has reported a watermark above its stamp, so
//! no later record can sort before it. For bars the stamp is `window_end`, which gives the
//! `(window_end, instrument name)` order of design.md §5; a revision carries the stamp of the
//! late trade that caused it, so it follows the bar it revises. None of this depends on the
//! number of shards, ring sizes or pacing.

use super::wire::EgressMsg;
use crate::instrument::{InstrumentId, Interner};
use crate::record::{Record, Stamped, Timestamp, WM_END};
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The sort key of a pending record; the record itself waits in `recs[slot]`, so sorting
/// moves 40-byte keys rather than whole records.
#[derive(Clone, Copy)]
struct Key {
    stamp: Timestamp,
    /// The name's first 8 bytes, big-endian, zero-padded: orders names like a byte
    /// comparison whenever it differs (zero is the least byte), without touching the name.
    prefix: u64,
    id: InstrumentId,
    shard: u32,
    seq: u64,
    slot: u32,
}

/// Reads one egress sink's records, merged across shards in deterministic order.
///
/// Read it from a thread other than the one pushing into the engine: a full egress blocks its
/// shard, which blocks the producer.
pub struct Egress<T: Record> {
    rx: Receiver<EgressMsg>,
    progress: Vec<Timestamp>,
    ended: Vec<bool>,
    seq: Vec<u64>,
    pending: Vec<Key>,
    recs: Vec<Stamped<T>>,
    /// Scratch for compacting `recs` after a release.
    spare: Vec<Stamped<T>>,
    ready: VecDeque<Stamped<T>>,
    released: Timestamp,
    /// Per instrument id seen: its name's order prefix and the name.
    names: Vec<Option<(u64, Arc<str>)>>,
    interner: Interner,
    disconnected: bool,
    order_violations: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T: Record> Egress<T> {
    pub(crate) fn new(rx: Receiver<EgressMsg>, shards: usize, interner: Interner) -> Egress<T> {
        Egress {
            rx,
            progress: vec![i64::MIN; shards],
            ended: vec![false; shards],
            seq: vec![0; shards],
            pending: Vec::new(),
            recs: Vec::new(),
            spare: Vec::new(),
            ready: VecDeque::new(),
            released: i64::MIN,
            names: Vec::new(),
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
        self.names.get(id.0 as usize).and_then(|n| n.as_ref()).map(|(_, n)| &**n)
    }

    /// Records that arrived with a stamp below what was already released: an operator broke
    /// the stamp contract of [`crate::Operator`]. Such records are still delivered, late.
    pub fn order_violations(&self) -> u64 {
        self.order_violations
    }

    /// The next record, blocking until it is final; `None` when the sink's input has ended.
    pub fn recv(&mut self) -> Option<Stamped<T>> {
        loop {
            if let Some(r) = self.ready.pop_front() {
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
            if let Some(r) = self.ready.pop_front() {
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
            if let Some(r) = self.ready.pop_front() {
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
        self.disconnected && self.ready.is_empty()
    }

    fn close(&mut self) {
        self.disconnected = true;
        self.release(WM_END);
    }

    fn absorb(&mut self, m: EgressMsg) {
        let s = m.shard;
        if let Some(items) = m.items.as_slice::<T>() {
            for &rec in items {
                if rec.wm < self.released {
                    self.order_violations += 1;
                }
                let id = rec.rec.instrument();
                let prefix = self.prefix(id);
                let slot = self.recs.len() as u32;
                self.recs.push(rec);
                self.pending.push(Key { stamp: rec.wm, prefix, id, shard: s as u32, seq: self.seq[s], slot });
                self.seq[s] += 1;
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
        if bound > self.released || (bound == WM_END && !self.pending.is_empty()) {
            self.release(bound);
        }
    }

    /// The name's order prefix, caching the name (looked up once per instrument).
    fn prefix(&mut self, id: InstrumentId) -> u64 {
        let i = id.0 as usize;
        if let Some(Some((p, _))) = self.names.get(i) {
            return *p;
        }
        let n = self.interner.name(id).unwrap_or_else(|| Arc::from(""));
        if self.names.len() <= i {
            self.names.resize(i + 1, None);
        }
        let mut p = [0u8; 8];
        let len = n.len().min(8);
        p[..len].copy_from_slice(&n.as_bytes()[..len]);
        let p = u64::from_be_bytes(p);
        self.names[i] = Some((p, n));
        p
    }

    /// Moves every pending record with `stamp < bound` (all of them at +∞) to `ready`, sorted.
    /// Sorting by stamp first makes the released records a prefix of `pending`.
    fn release(&mut self, bound: Timestamp) {
        let names = &self.names;
        let full = |k: &Key| names.get(k.id.0 as usize).and_then(|n| n.as_ref()).map_or("", |(_, n)| &**n);
        self.pending.sort_unstable_by(|a, b| {
            (a.stamp, a.prefix)
                .cmp(&(b.stamp, b.prefix))
                .then_with(|| if a.id == b.id { std::cmp::Ordering::Equal } else { full(a).cmp(full(b)) })
                .then((a.shard, a.seq).cmp(&(b.shard, b.seq)))
        });
        let n = if bound == WM_END { self.pending.len() } else { self.pending.partition_point(|p| p.stamp < bound) };
        let recs = &self.recs;
        self.ready.extend(self.pending[..n].iter().map(|k| recs[k.slot as usize]));
        self.pending.drain(..n);
        // Compact the records still waiting (usually few) and renumber their slots.
        self.spare.clear();
        for k in &mut self.pending {
            self.spare.push(self.recs[k.slot as usize]);
            k.slot = (self.spare.len() - 1) as u32;
        }
        std::mem::swap(&mut self.recs, &mut self.spare);
        if bound > self.released {
            self.released = bound;
        }
    }
}

impl<T: Record> Iterator for Egress<T> {
    type Item = Stamped<T>;
    fn next(&mut self) -> Option<Stamped<T>> {
        self.recv()
    }
}
