//! A shard's inputs: one ring per source, each with the source's watermark, end and
//! idleness. The shard's watermark is the minimum over the sources that hold it back.

use super::super::ring::Consumer;
use super::super::wire::ToShard;
use crate::record::{Batch, Timestamp, WM_END};
use crossbeam_channel::Sender;
use std::time::{Duration, Instant};

/// One source's ring into this shard.
pub(crate) struct SourceIn {
    /// The source's node index.
    pub(crate) node: usize,
    pub(crate) rx: Consumer<ToShard>,
    /// Where emptied batch buffers go back to the producer.
    pub(crate) recycle: Sender<Batch>,
    pub(crate) wm: Timestamp,
    pub(crate) ended: bool,
    /// The shard's coarse clock when this source last sent something.
    pub(crate) last_seen: Instant,
    /// Idle past `idle_timeout`: not holding the minimum back until it sends again.
    pub(crate) idle: bool,
}

impl SourceIn {
    /// A source that has sent nothing yet.
    pub(crate) fn new(node: usize, rx: Consumer<ToShard>, recycle: Sender<Batch>) -> SourceIn {
        SourceIn { node, rx, recycle, wm: i64::MIN, ended: false, last_seen: Instant::now(), idle: false }
    }

    /// The watermark this source holds the others' records to: `+∞` once ended or idle.
    fn bound(&self) -> Timestamp {
        if self.ended || self.idle {
            WM_END
        } else {
            self.wm
        }
    }
}

/// The sources of one shard, in node order.
pub(crate) struct Inputs(pub(crate) Vec<SourceIn>);

impl std::ops::Deref for Inputs {
    type Target = [SourceIn];
    fn deref(&self) -> &[SourceIn] {
        &self.0
    }
}

impl std::ops::DerefMut for Inputs {
    fn deref_mut(&mut self) -> &mut [SourceIn] {
        &mut self.0
    }
}

impl Inputs {
    /// The minimum watermark over the sources that hold it back: ended ones do not (+∞), and
    /// under `idle_timeout` idle ones do not either — unless every open source is idle, when
    /// the furthest of them is used (never +∞ while a source is open).
    pub(crate) fn effective_wm(&self) -> Timestamp {
        let active = self.iter().filter(|s| !s.ended && !s.idle).map(|s| s.wm).min();
        match active {
            Some(wm) => wm,
            None => self.iter().filter(|s| !s.ended).map(|s| s.wm).max().unwrap_or(WM_END),
        }
    }

    /// The minimum watermark over every source but `k` (a record from `k` may not be stamped
    /// above it).
    pub(crate) fn others_bound(&self, k: usize) -> Timestamp {
        self.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, s)| s.bound()).min().unwrap_or(WM_END)
    }

    /// Marks sources idle past `timeout` as of `now`; returns whether any changed.
    pub(crate) fn mark_idle(&mut self, now: Instant, timeout: Duration) -> bool {
        let mut changed = false;
        for s in self.iter_mut() {
            if !s.ended && !s.idle && now.duration_since(s.last_seen) >= timeout {
                s.idle = true;
                changed = true;
            }
        }
        changed
    }

    /// Whether every source ended.
    pub(crate) fn all_ended(&self) -> bool {
        self.iter().all(|s| s.ended)
    }

    /// Whether an open source has a message waiting.
    pub(crate) fn any_ready(&self) -> bool {
        self.iter().any(|s| !s.ended && s.rx.ready())
    }

    /// Messages waiting over all rings.
    pub(crate) fn depth(&self) -> usize {
        self.iter().map(|s| s.rx.len()).sum()
    }
}
