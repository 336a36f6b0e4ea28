//! The consumer side of an egress sink: merges the shards' output into one deterministic
//! order (design.md §5) on the thread that reads it.
//!
//! Order: records are released in ascending `(stamp, instrument name, per-shard emission
//! order)`. A record is released once every shard has reported a watermark above its stamp, so
//! no later record can sort before it. For bars the stamp is `window_end`, which gives the
//! `(window_end, instrument name)` order of design.md §5; a revision carries the stamp of the
//! late trade that caused it, so it follows the bar it revises. None of this depends on the
//! number of shards, ring sizes or pacing.

use super::EgressMsg;
use crate::instrument::{InstrumentId, Interner};
use crate::record::{Record, Stamped, Timestamp, WM_END};
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Pending<T> {
    stamp: Timestamp,
    name: Arc<str>,
    shard: u32,
    seq: u64,
    rec: Stamped<T>,
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
    pending: Vec<Pending<T>>,
    ready: VecDeque<Stamped<T>>,
    released: Timestamp,
    names: Vec<Option<Arc<str>>>,
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
                let name = self.name(rec.rec.instrument());
                self.pending.push(Pending { stamp: rec.wm, name, shard: s as u32, seq: self.seq[s], rec });
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

    fn name(&mut self, id: InstrumentId) -> Arc<str> {
        let i = id.0 as usize;
        if let Some(Some(n)) = self.names.get(i) {
            return n.clone();
        }
        let n = self.interner.name(id).unwrap_or_else(|| Arc::from(""));
        if self.names.len() <= i {
            self.names.resize(i + 1, None);
        }
        self.names[i] = Some(n.clone());
        n
    }

    /// Moves every pending record with `stamp < bound` (all of them at +∞) to `ready`, sorted.
    /// Sorting by stamp first makes the released records a prefix of `pending`.
    fn release(&mut self, bound: Timestamp) {
        self.pending
            .sort_unstable_by(|a, b| (a.stamp, &a.name, a.shard, a.seq).cmp(&(b.stamp, &b.name, b.shard, b.seq)));
        let n = if bound == WM_END { self.pending.len() } else { self.pending.partition_point(|p| p.stamp < bound) };
        self.ready.extend(self.pending.drain(..n).map(|p| p.rec));
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
