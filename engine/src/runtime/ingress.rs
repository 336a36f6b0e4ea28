//! The producer side of a source: routes records to shards in batches, stamps each record with
//! the source watermark, and carries watermarks and end-of-stream in-band.

use super::stats::{bump, SourceCell, StatsShared};
use super::{Gate, ToShard};
use crate::instrument::{shard_of, InstrumentId, InternError, Interner};
use crate::record::{Batch, Record, Stamped, Timestamp};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
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

const UNKNOWN: u16 = u16::MAX;

/// Feeds one source of the DAG. `Send`, not `Clone`: one producer thread per source (declare
/// several sources for several feed threads; a shard uses the minimum of their watermarks).
///
/// Records are routed to the shard owning their instrument ([`crate::shard_of`]) and buffered
/// per shard; a shard's batch is sent when it reaches `batch_size`, and every shard is sent
/// its batch and the current watermark every `flush_every` pushes or on [`Ingress::flush`].
/// Call `flush` when your feed goes quiet so that windows on quiet shards fire.
///
/// Each record is stamped with the watermark *before* it (`max_ts − max_delay` over the
/// records pushed earlier), so lateness never depends on batching. A full ring blocks `push`
/// (backpressure); nothing is dropped. Dropping the ingress (or [`Ingress::finish`]) sends
/// everything buffered and ends the source: its watermark becomes +∞.
pub struct Ingress<T: Record> {
    pub(crate) source: usize,
    pub(crate) txs: Vec<Sender<ToShard>>,
    pub(crate) recycle: Vec<Receiver<Batch>>,
    /// Per shard, returned buffers reused last-in first-out: the most recently returned one
    /// is still in cache, whereas the channel alone would rotate through every buffer ever
    /// made (a megabyte of cold lines at default sizes).
    pub(crate) stash: Vec<Vec<Vec<Stamped<T>>>>,
    pub(crate) bufs: Vec<Vec<Stamped<T>>>,
    pub(crate) sent_wm: Vec<Timestamp>,
    pub(crate) max_ts: Timestamp,
    pub(crate) wm: Timestamp,
    pub(crate) max_delay: i64,
    /// Records accepted; published to the shared cell per batch, not per record.
    pub(crate) pushed: u64,
    pub(crate) batch_size: usize,
    pub(crate) flush_every: usize,
    pub(crate) since_flush: usize,
    pub(crate) shard_table: Vec<u16>,
    pub(crate) interner: Interner,
    pub(crate) gate: Arc<Gate>,
    pub(crate) stats: Arc<StatsShared>,
    pub(crate) finished: bool,
}

impl<T: Record> Ingress<T> {
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
            self.shard_table.resize(i + 1, UNKNOWN);
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

    /// Records buffered here and not yet sent to shards.
    pub fn buffered(&self) -> usize {
        self.bufs.iter().map(Vec::len).sum()
    }

    /// Accepts one record. Blocks while the target shard's ring is full.
    #[inline]
    pub fn push(&mut self, rec: T) -> Result<(), PushError> {
        let s = self.shard_for(rec.instrument())?;
        let stamp = self.wm;
        let ts = rec.ts_event();
        if ts > self.max_ts {
            self.max_ts = ts;
            self.wm = ts.saturating_sub(self.max_delay);
        }
        self.bufs[s].push(Stamped { wm: stamp, rec });
        self.pushed += 1;
        if self.bufs[s].len() >= self.batch_size {
            self.send(s)?;
        }
        self.since_flush += 1;
        if self.since_flush >= self.flush_every {
            self.flush()?;
        }
        Ok(())
    }

    /// Accepts every record of `recs` in order (see [`Ingress::push`]).
    pub fn push_all(&mut self, recs: &[T]) -> Result<(), PushError> {
        recs.iter().try_for_each(|&r| self.push(r))
    }

    /// Sends every shard its buffered records and the current watermark.
    pub fn flush(&mut self) -> Result<(), PushError> {
        self.since_flush = 0;
        self.cell().watermark.store(self.wm, Relaxed);
        for s in 0..self.txs.len() {
            if !self.bufs[s].is_empty() || self.sent_wm[s] < self.wm {
                self.send(s)?;
            }
        }
        Ok(())
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
        // Claim the buffer's cache lines for writing in one streaming pass: the shard last
        // read them, so record-by-record pushes would each stall on a line transfer.
        fresh.resize(self.batch_size, Stamped::default());
        fresh.clear();
        fresh
    }

    fn send(&mut self, s: usize) -> Result<(), PushError> {
        let n = self.bufs[s].len();
        let batch = T::into_batch(std::mem::take(&mut self.bufs[s]));
        let wm = self.wm;
        let sent = self.gated_send(s, ToShard::Data { batch, wm });
        // The next buffer is prepared after the send: recycling reads lines the shard wrote
        // and the claiming pass writes lines it read, and done first, those transfers would
        // add to this batch's latency.
        self.bufs[s] = self.fresh_buffer(s);
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

    /// Sends through the stop gate: a stopping engine waits for sends in flight, and sends
    /// that start after the stop are refused, so a stop never races a half-delivered batch.
    fn gated_send(&self, s: usize, msg: ToShard) -> Result<(), PushError> {
        // One ingress per source, so one writer per gate: entering is a SeqCst swap (ordered
        // before the `stopped` load, against `Engine::stop`'s store-then-load), leaving a
        // plain release store — one locked instruction per send instead of two.
        self.gate.in_send.swap(1, SeqCst);
        if self.gate.stopped.load(SeqCst) {
            self.gate.in_send.store(0, Release);
            return Err(PushError::Stopped { unsent: 0 });
        }
        let r = match self.txs[s].try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(msg)) => {
                let t0 = Instant::now();
                let r = self.txs[s].send(msg);
                bump(self.cell().wait_ns.get(s), t0.elapsed().as_nanos() as u64);
                r.map_err(|_| PushError::ShardGone { shard: s, unsent: 0 })
            }
            Err(TrySendError::Disconnected(_)) => Err(PushError::ShardGone { shard: s, unsent: 0 }),
        };
        self.gate.in_send.store(0, Release);
        r
    }
}

impl<T: Record> Drop for Ingress<T> {
    fn drop(&mut self) {
        if let Err(e) = self.finish_inner() {
            log::warn!("ingress dropped: {e}");
        }
    }
}
