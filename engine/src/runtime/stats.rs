//! Counters. Each cell has exactly one writer (a shard thread or a producer thread) that
//! updates it with plain relaxed load+store (no atomic read-modify-write, no lock, no
//! `metrics` call on the hot path); [`crate::Engine::stats`] and the publisher
//! ([`super::publisher`]) read them.

use super::padded::Padded;
use crate::counter::Counter;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

/// Adds to a single-writer counter without a locked instruction.
#[inline]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// A fixed array of single-writer counters with 128 bytes of unused slots on both sides, so
/// that no other heap allocation (another thread's data) can share a cache line with them.
pub(crate) struct Counters {
    slots: Box<[AtomicU64]>,
}

const GUARD: usize = 16;

impl Counters {
    pub(crate) fn new(n: usize) -> Counters {
        Counters { slots: (0..n + 2 * GUARD).map(|_| AtomicU64::new(0)).collect() }
    }

    #[inline]
    pub(crate) fn get(&self, k: usize) -> &AtomicU64 {
        &self.slots[GUARD + k]
    }
}

/// Operator-reported counters of one shard, registered once at shard start.
pub(crate) struct OpCounters {
    /// `(node index, counter)` per slot.
    pub(crate) names: Vec<(usize, Counter)>,
    pub(crate) values: Vec<AtomicU64>,
}

/// One shard's counters; written only by that shard's thread.
pub(crate) struct ShardCell {
    pub(crate) events_in: Counters,
    pub(crate) events_out: Counters,
    pub(crate) loop_iterations: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) busy_ns: AtomicU64,
    pub(crate) alive_ns: AtomicU64,
    pub(crate) ring_depth: AtomicU64,
    pub(crate) egress_wait_ns: AtomicU64,
    pub(crate) watermark: AtomicI64,
    pub(crate) op_counters: OnceLock<OpCounters>,
    /// Per source: records left in this shard's ring from it when the shard stopped.
    pub(crate) not_delivered: Counters,
}

impl ShardCell {
    pub(crate) fn new(nodes: usize, sources: usize) -> ShardCell {
        ShardCell {
            events_in: Counters::new(nodes),
            events_out: Counters::new(nodes),
            loop_iterations: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            alive_ns: AtomicU64::new(0),
            ring_depth: AtomicU64::new(0),
            egress_wait_ns: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
            op_counters: OnceLock::new(),
            not_delivered: Counters::new(sources),
        }
    }
}

/// One source's producer-side counters; written only by the thread holding its ingress.
pub(crate) struct SourceCell {
    pub(crate) pushed: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) rejected: AtomicU64,
    /// Records sent while their shard was closing its ring, taken back (see `ring.rs`).
    pub(crate) not_delivered: AtomicU64,
    pub(crate) watermark: AtomicI64,
    /// Per shard: nanoseconds the producer spent blocked on that shard's full ring.
    pub(crate) wait_ns: Counters,
}

impl SourceCell {
    pub(crate) fn new(shards: usize) -> SourceCell {
        SourceCell {
            pushed: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            not_delivered: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
            wait_ns: Counters::new(shards),
        }
    }
}

/// A point-in-time copy of every counter, for embedders (see [`crate::Engine::stats`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Per shard.
    pub shards: Vec<ShardStats>,
    /// Per node, in execution order.
    pub nodes: Vec<NodeStats>,
    /// Per source.
    pub sources: Vec<SourceStats>,
    /// Occupancy of the fullest ring, `0.0..=1.0` (the autoscaling signal).
    pub saturation: f64,
}

impl Stats {
    /// The counters of node `name`, if the graph has one.
    pub fn node(&self, name: &str) -> Option<&NodeStats> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Counter `c` of node `name` summed over shards (0 if there is no such node, or it
    /// never reported `c`).
    pub fn counter(&self, name: &str, c: Counter) -> u64 {
        self.node(name).map_or(0, |n| n.counter(c))
    }
}

/// Counters of one shard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardStats {
    /// Shard index.
    pub shard: usize,
    /// Polling-loop iterations.
    pub loop_iterations: u64,
    /// Ring messages processed.
    pub messages: u64,
    /// Nanoseconds spent processing messages.
    pub busy_ns: u64,
    /// Nanoseconds since the shard started (as of its last update).
    pub alive_ns: u64,
    /// Records waiting in this shard's input rings, in batches, at the last sample.
    pub ring_depth: u64,
    /// Capacity of this shard's input rings, in batches (all sources).
    pub ring_capacity: u64,
    /// Nanoseconds producers spent blocked on this shard's full rings.
    pub backpressure_wait_ns: u64,
    /// Nanoseconds this shard spent blocked on full egress channels.
    pub egress_wait_ns: u64,
    /// The shard's current watermark (ns; `i64::MIN` before any).
    pub watermark: i64,
}

impl ShardStats {
    /// `busy_ns / alive_ns` (0 when not started).
    pub fn busy_ratio(&self) -> f64 {
        if self.alive_ns == 0 {
            0.0
        } else {
            (self.busy_ns as f64 / self.alive_ns as f64).min(1.0)
        }
    }
}

/// Counters of one node, per shard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeStats {
    /// Node name.
    pub name: String,
    /// Records delivered to the node, per shard.
    pub events_in: Vec<u64>,
    /// Records the node emitted, per shard.
    pub events_out: Vec<u64>,
    /// Operator-reported counters summed over shards, in first-reported order.
    pub counters: Vec<(Counter, u64)>,
}

impl NodeStats {
    /// Records delivered to the node over all shards.
    pub fn total_in(&self) -> u64 {
        self.events_in.iter().sum()
    }
    /// Records emitted by the node over all shards.
    pub fn total_out(&self) -> u64 {
        self.events_out.iter().sum()
    }
    /// An operator counter summed over shards (0 if never reported).
    pub fn counter(&self, c: Counter) -> u64 {
        self.counters.iter().filter(|(n, _)| *n == c).map(|(_, v)| v).sum()
    }
}

/// Counters of one source (producer side).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceStats {
    /// Source name.
    pub name: String,
    /// Records accepted by `push`.
    pub pushed: u64,
    /// Batches sent to shards.
    pub batches: u64,
    /// Records refused or left unsent because the engine stopped or failed (each such
    /// `push` returned an error).
    pub rejected: u64,
    /// Records accepted (their `push` returned `Ok`) that never reached the graph: they were
    /// in the ring of a shard that stopped first (it failed, or the engine aborted). Once every
    /// shard has stopped, `pushed − rejected = delivered + not_delivered`, where delivered is
    /// the source node's `events_in` — nothing accepted goes uncounted.
    pub not_delivered: u64,
    /// The source's watermark.
    pub watermark: i64,
}

/// Everything the snapshot reads.
pub(crate) struct StatsShared {
    pub(crate) node_names: Vec<String>,
    pub(crate) source_names: Vec<String>,
    pub(crate) shards: Vec<Padded<ShardCell>>,
    pub(crate) sources: Vec<Padded<SourceCell>>,
    /// Per shard, the total capacity of its input rings (in batches).
    pub(crate) ring_capacity: Vec<u64>,
}

impl StatsShared {
    pub(crate) fn snapshot(&self) -> Stats {
        let n_shards = self.shards.len();
        let mut shards = Vec::with_capacity(n_shards);
        let mut saturation: f64 = 0.0;
        for (i, c) in self.shards.iter().enumerate() {
            let wait: u64 = self.sources.iter().map(|s| s.wait_ns.get(i).load(Relaxed)).sum();
            let s = ShardStats {
                shard: i,
                loop_iterations: c.loop_iterations.load(Relaxed),
                messages: c.messages.load(Relaxed),
                busy_ns: c.busy_ns.load(Relaxed),
                alive_ns: c.alive_ns.load(Relaxed),
                ring_depth: c.ring_depth.load(Relaxed),
                ring_capacity: self.ring_capacity[i],
                backpressure_wait_ns: wait,
                egress_wait_ns: c.egress_wait_ns.load(Relaxed),
                watermark: c.watermark.load(Relaxed),
            };
            if s.ring_capacity > 0 {
                saturation = saturation.max(s.ring_depth as f64 / s.ring_capacity as f64);
            }
            shards.push(s);
        }
        let mut nodes: Vec<NodeStats> = self
            .node_names
            .iter()
            .enumerate()
            .map(|(k, name)| NodeStats {
                name: name.clone(),
                events_in: self.shards.iter().map(|c| c.events_in.get(k).load(Relaxed)).collect(),
                events_out: self.shards.iter().map(|c| c.events_out.get(k).load(Relaxed)).collect(),
                counters: Vec::new(),
            })
            .collect();
        for c in &self.shards {
            let Some(oc) = c.op_counters.get() else { continue };
            for ((node, name), v) in oc.names.iter().zip(&oc.values) {
                let counters = &mut nodes[*node].counters;
                let v = v.load(Relaxed);
                match counters.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 += v,
                    None => counters.push((*name, v)),
                }
            }
        }
        let sources = self
            .source_names
            .iter()
            .zip(&self.sources)
            .enumerate()
            .map(|(k, (name, c))| SourceStats {
                name: name.clone(),
                pushed: c.pushed.load(Relaxed),
                batches: c.batches.load(Relaxed),
                rejected: c.rejected.load(Relaxed),
                not_delivered: c.not_delivered.load(Relaxed)
                    + self.shards.iter().map(|s| s.not_delivered.get(k).load(Relaxed)).sum::<u64>(),
                watermark: c.watermark.load(Relaxed),
            })
            .collect();
        Stats { shards, nodes, sources, saturation: saturation.min(1.0) }
    }
}
