//! The producer side of a source: routes records to shards in batches, stamps each record with
//! the source watermark, and carries watermarks and end-of-stream in-band.

use super::doorbell::Doorbell;
use super::gate::Gate;
use super::ring::{Producer, TrySend};
use super::stats::{bump, SourceCell, StatsShared};
use super::wire::ToShard;
use crate::instrument::{shard_of, InstrumentId, InternError, Interner};
use crate::record::{Batch, Inline, Record, Stamped, Timestamp};
use crossbeam_channel::Receiver;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

/// Why a push or flush was not accepted. Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The engine is stopping or stopped; the records not yet sent were not accepted
    /// (counted in [`crate::SourceStats::rejected`]).
    #[error("engine stopped: {unsent} record(s) were not accepted")]
    Stopped {
        /// Records refused, including those buffered in this ingress.
        unsent: usize,
    },
    /// A shard is gone (it failed or the engine aborted); `Engine::join` says why.
    #[error("shard {shard} is no longer running: {unsent} record(s) were not accepted")]
    ShardGone {
        /// The shard.
        shard: usize,
        /// Records refused.
        unsent: usize,
    },
    /// The record's instrument id was never interned by this engine.
    #[error("instrument id {0} was not interned (use Ingress::intern)")]
    UnknownInstrument(InstrumentId),
    /// The instrument table is full.
    #[error(transparent)]
    Intern(#[from] InternError),
}

/// Why [`Ingress::try_push`] did not accept a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryPushError<T> {
    /// The record's shard has no room in its ring right now: the record is handed back, not
    /// accepted, not stamped and not counted.
    #[error("the shard's ring is full: the record was not accepted")]
    Full(T),
    /// As [`Ingress::push`] would have failed.
    #[error(transparent)]
    Push(#[from] PushError),
}

const UNKNOWN: u16 = u16::MAX;

/// Feeds one source of the DAG. `Send`, not `Clone`: one producer thread per source (declare
/// several sources for several feed threads; a shard uses the minimum of their watermarks).
///
/// Latency first: nothing waits in here for more records to come. [`Ingress::push`] sends its
/// record to the shard owning its instrument ([`crate::shard_of`]) at once, and
/// [`Ingress::push_all`] sends each shard its share of the records it was given (in batches of
/// at most `batch_size`) before it returns: batching only gathers what is already at hand,
/// and the shard takes every message waiting in its ring in one go (single records
/// included: they go through the graph together). Every shard is also sent
/// the current watermark every `flush_every` records or on [`Ingress::flush`], so that windows
/// on shards that get no records still fire; call `flush` when your feed goes quiet.
///
/// Each record is stamped with the watermark *before* it (`max_ts − max_delay` over the
/// records pushed earlier), so lateness never depends on batching. A full ring blocks `push`
/// (backpressure); nothing is dropped. Dropping the ingress (or [`Ingress::finish`]) ends the
/// source: its watermark becomes +∞.
pub struct Ingress<T: Record> {
    source: usize,
    txs: Vec<Producer<ToShard>>,
    recycle: Vec<Receiver<Batch>>,
    /// Per shard, returned buffers reused last-in first-out: the most recently returned one
    /// is still in cache, whereas the channel alone would rotate through every buffer ever
    /// made (a megabyte of cold lines at default sizes).
    stash: Vec<Vec<Vec<Stamped<T>>>>,
    bufs: Vec<Vec<Stamped<T>>>,
    sent_wm: Vec<Timestamp>,
    max_ts: Timestamp,
    wm: Timestamp,
    max_delay: i64,
    /// Records accepted; published to the shared cell per batch, not per record.
    pushed: u64,
    batch_size: usize,
    flush_every: usize,
    since_flush: usize,
    shard_table: Vec<u16>,
    /// Entries of `shard_table` still `UNKNOWN`: with none, an id is known iff it is below
    /// the table's length (one comparison per batch on `push_all`'s fast path).
    holes: usize,
    interner: Interner,
    /// The shards' doorbells, when shards may park (rung after each send, or after every
    /// `wake_after` sends of records: [`Ingress::defer_wakeups`]).
    doorbells: Option<Vec<Arc<Doorbell>>>,
    wake_after: u32,
    /// Per shard, sends of records since its doorbell was last rung.
    unrung: Vec<u32>,
    gate: Arc<Gate>,
    stats: Arc<StatsShared>,
    finished: bool,
}

/// Everything one source's ingress needs, built in one place ([`super::wiring`]) and handed
/// out by [`crate::Engine::ingress`].
pub(crate) struct IngressWiring {
    /// The source's index among the graph's sources.
    pub(crate) source: usize,
    /// One ring per shard.
    pub(crate) txs: Vec<Producer<ToShard>>,
    /// Per shard, the buffers the shard hands back.
    pub(crate) recycle: Vec<Receiver<Batch>>,
    pub(crate) gate: Arc<Gate>,
    /// Present when shards may park.
    pub(crate) doorbells: Option<Vec<Arc<Doorbell>>>,
    pub(crate) stats: Arc<StatsShared>,
    pub(crate) interner: Interner,
    pub(crate) batch_size: usize,
    pub(crate) flush_every: usize,
    pub(crate) max_delay: i64,
}

impl<T: Record> Ingress<T> {
    pub(crate) fn new(w: IngressWiring) -> Ingress<T> {
        let shards = w.txs.len();
        Ingress {
            source: w.source,
            bufs: (0..shards).map(|_| Vec::with_capacity(w.batch_size)).collect(),
            sent_wm: vec![i64::MIN; shards],
            stash: (0..shards).map(|_| Vec::new()).collect(),
            txs: w.txs,
            recycle: w.recycle,
            max_ts: i64::MIN,
            wm: i64::MIN,
            max_delay: w.max_delay,
            pushed: 0,
            batch_size: w.batch_size,
            flush_every: w.flush_every,
            since_flush: 0,
            shard_table: Vec::new(),
            holes: 0,
            interner: w.interner,
            doorbells: w.doorbells,
            wake_after: 1,
            unrung: vec![0; shards],
            gate: w.gate,
            stats: w.stats,
            finished: false,
        }
    }

    fn cell(&self) -> &SourceCell {
        &self.stats.sources[self.source]
    }

    /// Interns `name` and learns its shard; returns the id to put in records.
    pub fn intern(&mut self, name: &str) -> Result<InstrumentId, PushError> {
        let id = self.interner.intern(name)?;
        self.learn(id, name);
        Ok(id)
    }

    fn learn(&mut self, id: InstrumentId, name: &str) {
        let i = id.0 as usize;
        if self.shard_table.len() <= i {
            self.holes += i - self.shard_table.len();
            self.shard_table.resize(i + 1, UNKNOWN);
        } else if self.shard_table[i] == UNKNOWN {
            self.holes -= 1;
        }
        self.shard_table[i] = shard_of(name, self.txs.len()) as u16;
    }

    #[inline]
    fn shard_for(&mut self, id: InstrumentId) -> Result<usize, PushError> {
        match self.shard_table.get(id.0 as usize) {
            Some(&s) if s != UNKNOWN => Ok(usize::from(s)),
            _ => {
                // Cold: an id interned elsewhere (another source, or the engine's interner).
                let name = self.interner.name(id).ok_or(PushError::UnknownInstrument(id))?;
                self.learn(id, &name);
                Ok(shard_of(&name, self.txs.len()))
            }
        }
    }

    /// The source's current watermark (`i64::MIN` before the first record).
    pub fn watermark(&self) -> Timestamp {
        self.wm
    }

    /// Raises the source's watermark to at least `wm` without a record, and tells every shard
    /// at once. For a source that knows no event below `wm` still matters: one resuming after
    /// a checkpoint says so before its first record, so that records whose windows were
    /// already written before the restart are judged late again, as they were then. Later
    /// records move it only past `wm + max_delay`. The watermark never goes back.
    pub fn advance_watermark(&mut self, wm: Timestamp) -> Result<(), PushError> {
        let wm = wm.min(crate::WM_END - 1);
        if wm > self.wm {
            self.wm = wm;
            self.max_ts = self.max_ts.max(wm.saturating_add(self.max_delay));
        }
        self.flush()
    }

    /// Records buffered here and not yet sent to shards.
    pub fn buffered(&self) -> usize {
        self.bufs.iter().map(Vec::len).sum()
    }

    /// Accepts one record and sends it to its shard at once; blocks while that shard's ring
    /// is full (backpressure). Nothing is ever left waiting in the ingress for a later push
    /// or flush: a producer may push a burst and then wait for its results. (Gathering
    /// records while the ring is full was tried and hung exactly such a producer.)
    #[inline]
    pub fn push(&mut self, rec: T) -> Result<(), PushError> {
        let (s, st) = self.stamp(rec)?;
        self.bufs[s].push(st);
        self.send(s)?;
        self.count_towards_flush(1)
    }

    /// [`Ingress::push`] that never waits: when the record's shard has no room in its ring,
    /// the record is handed back ([`TryPushError::Full`]) unaccepted and unstamped (the
    /// watermark does not move), for a feed handler that must never block to drop, conflate
    /// or retry. The periodic watermark flush skips full rings too and stays due.
    #[inline]
    pub fn try_push(&mut self, rec: T) -> Result<(), TryPushError<T>> {
        let s = self.shard_for(rec.instrument())?;
        if !self.txs[s].has_room() {
            return Err(TryPushError::Full(rec));
        }
        let (s, st) = self.stamp(rec)?;
        self.bufs[s].push(st);
        self.send(s)?;
        self.since_flush += 1;
        if self.since_flush >= self.flush_every {
            self.flush_shards(true)?;
        }
        Ok(())
    }

    /// Accepts every record of `recs` in order, with the stamps that as many
    /// [`Ingress::push`] calls would give, and sends each shard its share before returning
    /// (in batches of at most `batch_size`; each batch is routed, stamped and copied
    /// in one tight loop). On an error, the records before the failing one were accepted and
    /// the rest were not.
    pub fn push_all(&mut self, recs: &[T]) -> Result<(), PushError> {
        let mut rest = recs;
        while !rest.is_empty() {
            // Up to the next periodic flush, so flushes land where `push` would put them.
            let take = rest.len().min(self.flush_every.saturating_sub(self.since_flush).max(1));
            let (chunk, tail) = rest.split_at(take);
            if self.txs.len() == 1 && self.batch_size > 1 {
                self.extend_single(chunk)?;
            } else if self.batch_size > 1 {
                self.extend_multi(chunk)?;
            } else {
                for &r in chunk {
                    self.route(r)?;
                }
            }
            rest = tail;
            if rest.is_empty() {
                self.send_buffered()?;
            }
            self.count_towards_flush(take)?;
        }
        Ok(())
    }

    /// Counts `n` records towards the periodic flush, flushing when it is due.
    #[inline]
    fn count_towards_flush(&mut self, n: usize) -> Result<(), PushError> {
        self.since_flush += n;
        if self.since_flush >= self.flush_every {
            self.flush_shards(false)?; // no wake-up owed is rung here (`defer_wakeups`)
        }
        Ok(())
    }

    /// Sends every shard whatever is buffered for it (records only; no watermark-only sends).
    fn send_buffered(&mut self) -> Result<(), PushError> {
        for s in 0..self.txs.len() {
            if !self.bufs[s].is_empty() {
                self.send(s)?;
            }
        }
        Ok(())
    }

    /// The record's shard and the record stamped with the watermark before it (which it
    /// then advances).
    #[inline]
    fn stamp(&mut self, rec: T) -> Result<(usize, Stamped<T>), PushError> {
        let s = self.shard_for(rec.instrument())?;
        let stamp = self.wm;
        let ts = rec.ts_event();
        if ts > self.max_ts {
            self.max_ts = ts;
            self.wm = ts.saturating_sub(self.max_delay);
        }
        self.pushed += 1;
        Ok((s, Stamped { wm: stamp, rec }))
    }

    /// Stamps and buffers one record, sending its shard's batch when it fills.
    #[inline]
    fn route(&mut self, rec: T) -> Result<(), PushError> {
        let (s, st) = self.stamp(rec)?;
        self.bufs[s].push(st);
        if self.bufs[s].len() >= self.batch_size {
            self.send(s)?;
        }
        Ok(())
    }

    /// `push_all` with one shard: per batch, stamp and copy in one tight loop (no per-record
    /// routing, capacity check or flush check), then check the instruments once.
    fn extend_single(&mut self, recs: &[T]) -> Result<(), PushError> {
        let mut rest = recs;
        while !rest.is_empty() {
            let room = self.batch_size.saturating_sub(self.bufs[0].len()).max(1);
            let (part, tail) = rest.split_at(room.min(rest.len()));
            let (mut max_ts, mut wm) = (self.max_ts, self.wm);
            let before = self.bufs[0].len();
            // One pass: stamp, copy, and note the largest instrument id; checked after.
            let max_id = stamp_into(&mut self.bufs[0], part, &mut max_ts, &mut wm, self.max_delay);
            if self.holes > 0 || max_id as usize >= self.shard_table.len() {
                // Cold: some id may be unknown here. Undo the copy and go record by record as
                // `push` does (learning ids interned elsewhere, stopping at an unknown one).
                self.bufs[0].truncate(before);
                for &r in part {
                    self.route(r)?;
                }
            } else {
                (self.max_ts, self.wm) = (max_ts, wm);
                self.pushed += part.len() as u64;
                if self.bufs[0].len() >= self.batch_size {
                    self.send(0)?;
                }
            }
            rest = tail;
        }
        Ok(())
    }

    /// `push_all` with several shards: per part (at most the room left in the fullest shard
    /// buffer, so batches end where `route` would end them), route, stamp and copy in one
    /// tight loop; an id not known here goes the cold way, through `route`.
    fn extend_multi(&mut self, recs: &[T]) -> Result<(), PushError> {
        let mut rest = recs;
        while !rest.is_empty() {
            let fullest = self.bufs.iter().map(Vec::len).max().unwrap_or(0);
            let room = self.batch_size.saturating_sub(fullest).max(1);
            let part = &rest[..room.min(rest.len())];
            let done = self.route_known(part);
            if let Some(&cold) = part.get(done) {
                self.route(cold)?;
                rest = &rest[done + 1..];
            } else {
                rest = &rest[done..];
            }
            for s in 0..self.bufs.len() {
                if self.bufs[s].len() >= self.batch_size {
                    self.send(s)?;
                }
            }
        }
        Ok(())
    }

    /// Routes, stamps and buffers the records of `part` whose shard is known here, stopping
    /// at the first that is not; how many it took. The caller leaves room for all of them.
    fn route_known(&mut self, part: &[T]) -> usize {
        let (mut max_ts, mut wm, delay) = (self.max_ts, self.wm, self.max_delay);
        let (table, bufs) = (&self.shard_table, &mut self.bufs);
        let mut n = 0;
        for &rec in part {
            let s = match table.get(rec.instrument().0 as usize) {
                Some(&s) if s != UNKNOWN => usize::from(s),
                _ => break,
            };
            let stamp = wm;
            let ts = rec.ts_event();
            if ts > max_ts {
                max_ts = ts;
                wm = ts.saturating_sub(delay);
            }
            bufs[s].push(Stamped { wm: stamp, rec });
            n += 1;
        }
        (self.max_ts, self.wm) = (max_ts, wm);
        self.pushed += n as u64;
        n
    }

    /// Sends every shard its buffered records and the current watermark (and wakes the
    /// shards that have records waiting: [`Ingress::defer_wakeups`]).
    pub fn flush(&mut self) -> Result<(), PushError> {
        let flushed = self.flush_shards(false).map(drop);
        self.ring_deferred();
        flushed
    }

    /// For a bulk load (a replay from files), not for live pushes: a parked shard is woken
    /// once `sends` messages of records wait for it (or at [`Ingress::flush`], at the end,
    /// or when its ring fills), rather than at every send. A shard that runs dry while
    /// records keep coming then parks once per `sends` messages instead of once per few:
    /// with more threads than cores every park and wake-up costs both sides a system call
    /// and a context switch (bench/README.md). Records sent meanwhile wait for the next
    /// wake-up, or at most the park timeout ([`crate::WaitStrategy::Park`]). `1` (the
    /// default): every send wakes.
    pub fn defer_wakeups(&mut self, sends: std::num::NonZeroU32) {
        self.wake_after = sends.get();
    }

    /// Rings every doorbell a deferred wake-up is owed on.
    fn ring_deferred(&mut self) {
        if let Some(d) = &self.doorbells {
            for (s, n) in self.unrung.iter_mut().enumerate() {
                if *n > 0 {
                    *n = 0;
                    d[s].ring_after_send();
                }
            }
        }
    }

    /// [`Ingress::flush`], skipping the shards whose ring is full when `only_with_room`;
    /// whether every shard was sent what it was due (else the flush stays due).
    fn flush_shards(&mut self, only_with_room: bool) -> Result<bool, PushError> {
        self.cell().watermark.store(self.wm, Relaxed);
        let mut all = true;
        for s in 0..self.txs.len() {
            if !self.bufs[s].is_empty() || self.sent_wm[s] < self.wm {
                if only_with_room && !self.txs[s].has_room() {
                    all = false;
                } else {
                    self.send(s)?;
                }
            }
        }
        if all {
            self.since_flush = 0;
        }
        Ok(all)
    }

    /// Flushes, then ends the source (its watermark becomes +∞ on every shard).
    pub fn finish(mut self) -> Result<(), PushError> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<(), PushError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let flushed = self.flush();
        for s in 0..self.txs.len() {
            // An End that cannot be delivered means the shard is gone or stopping: nothing
            // of ours is lost by it (all data was flushed above or already reported).
            let _ = self.gated_send(s, ToShard::End);
        }
        flushed
    }

    /// A cleared buffer for shard `s`: a recycled one if the shard has handed any back.
    fn fresh_buffer(&mut self, s: usize) -> Vec<Stamped<T>> {
        // Drain the recycling channel only when the stash is empty, and then completely: its
        // lines were last written by the shard, so touching it on every send would put a
        // cross-core transfer on every small batch. (Buffers in circulation never exceed the
        // channel's room, so the shard's hand-back does not overflow meanwhile.)
        if self.stash[s].is_empty() {
            while let Ok(mut b) = self.recycle[s].try_recv() {
                if let Some(v) = T::from_batch_mut(&mut b) {
                    self.stash[s].push(std::mem::take(v));
                }
            }
        }
        let mut fresh = self.stash[s].pop().unwrap_or_default();
        fresh.reserve(self.batch_size);
        fresh
    }

    fn send_inline(&mut self, s: usize, one: Inline) -> Result<(), PushError> {
        let wm = self.wm;
        let sent = self.gated_send(s, ToShard::One { rec: one, wm });
        self.sent(s, 1, wm, sent)
    }

    /// Sends shard `s` its buffered records (possibly none) and the current watermark.
    fn send(&mut self, s: usize) -> Result<(), PushError> {
        let n = self.bufs[s].len();
        if let [rec] = self.bufs[s][..] {
            if let Some(one) = T::inline(rec) {
                self.bufs[s].clear();
                return self.send_inline(s, one);
            }
        }
        let wm = self.wm;
        let batch = T::into_batch(std::mem::take(&mut self.bufs[s]));
        let sent = self.gated_send(s, ToShard::Data { batch, wm });
        // The next buffer is prepared after the send: recycling reads lines the shard wrote
        // and the claiming pass writes lines it read, and done first, those transfers would
        // add to this batch's latency.
        self.bufs[s] = self.fresh_buffer(s);
        self.sent(s, n, wm, sent)
    }

    /// Accounts for a send of `n` records with watermark `wm` to shard `s`; on failure,
    /// drops (and counts as rejected) everything still buffered.
    fn sent(&mut self, s: usize, n: usize, wm: Timestamp, sent: Result<(), PushError>) -> Result<(), PushError> {
        match sent {
            Ok(()) => {
                self.sent_wm[s] = wm;
                bump(&self.cell().batches, 1);
                self.cell().pushed.store(self.pushed, Relaxed);
                Ok(())
            }
            Err(e) => {
                let unsent = n + self.buffered();
                for b in &mut self.bufs {
                    b.clear();
                }
                bump(&self.cell().rejected, unsent as u64);
                self.cell().pushed.store(self.pushed, Relaxed);
                Err(match e {
                    PushError::Stopped { .. } => PushError::Stopped { unsent },
                    PushError::ShardGone { shard, .. } => PushError::ShardGone { shard, unsent },
                    other => other,
                })
            }
        }
    }

    /// Sends through the stop gate ([`Gate::pass`]): a stopping engine waits for sends in
    /// flight, and sends that start after the stop are refused.
    fn gated_send(&mut self, s: usize, msg: ToShard) -> Result<(), PushError> {
        let (tx, doorbells, cell) = (&mut self.txs[s], &self.doorbells, &self.stats.sources[self.source]);
        let owed = &mut self.unrung[s];
        // Only records may wait for a deferred wake-up; the end of the source never does.
        let defer = if matches!(msg, ToShard::End) { 1 } else { self.wake_after };
        let sent = self.gate.pass(|| {
            let r = match tx.try_send(msg) {
                Ok(()) => Ok(()),
                Err(TrySend::Full(msg)) => {
                    if let Some(d) = doorbells {
                        d[s].ring_after_send(); // a full ring is drained at once
                    }
                    let t0 = Instant::now();
                    let r = tx.send(msg);
                    bump(cell.wait_ns.get(s), t0.elapsed().as_nanos() as u64);
                    r.map_err(|_| PushError::ShardGone { shard: s, unsent: 0 })
                }
                Err(TrySend::Disconnected(_)) => Err(PushError::ShardGone { shard: s, unsent: 0 }),
            };
            if let Some(d) = doorbells {
                *owed += 1;
                if *owed >= defer {
                    *owed = 0;
                    d[s].ring_after_send();
                }
            }
            r
        });
        let r = sent.unwrap_or(Err(PushError::Stopped { unsent: 0 }));
        if let Err(PushError::ShardGone { .. }) = r {
            self.reclaim(s);
        }
        r
    }

    /// Counts as not delivered what shard `s`'s ring took from us while the shard was closing
    /// it (sent `Ok`, never taken: see [`super::ring`]); nothing if the shard is running.
    fn reclaim(&mut self, s: usize) {
        let mut n = 0u64;
        self.txs[s].reclaim(|m| n += m.records() as u64);
        if n > 0 {
            bump(&self.cell().not_delivered, n);
        }
    }
}

/// Appends `recs` to `buf`, each stamped with the watermark before it (`wm`, advanced to
/// `ts − delay` by every record past `max_ts`); returns the largest instrument id seen.
///
/// A plain loop over locals: as a closure capturing them by reference (`extend(map(…))`),
/// the compiler kept the running maximum, watermark and delay in memory, a load and a store
/// of each per record (perf: the reader's hottest loop).
#[inline]
fn stamp_into<T: Record>(
    buf: &mut Vec<Stamped<T>>,
    recs: &[T],
    max_ts: &mut Timestamp,
    wm: &mut Timestamp,
    delay: i64,
) -> u32 {
    let (mut m, mut w, mut max_id) = (*max_ts, *wm, 0u32);
    buf.reserve(recs.len());
    for &rec in recs {
        let stamp = w;
        let ts = rec.ts_event();
        if ts > m {
            m = ts;
            w = ts.saturating_sub(delay);
        }
        max_id = max_id.max(rec.instrument().0);
        buf.push(Stamped { wm: stamp, rec });
    }
    (*max_ts, *wm) = (m, w);
    max_id
}

impl<T: Record> Drop for Ingress<T> {
    fn drop(&mut self) {
        if let Err(e) = self.finish_inner() {
            log::warn!("ingress dropped: {e}");
        }
        for s in 0..self.txs.len() {
            self.reclaim(s);
        }
    }
}
