//! The metrics publisher: a thread that snapshots the counters at an interval and publishes
//! them through the `metrics` facade under design.md §8 names. The engine's only `metrics::`
//! calls are here, off every hot path.

use super::config::Config;
use super::error::EngineError;
use super::stats::{Stats, StatsShared};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Records in, per node and shard.
pub(crate) const EVENTS_IN: &str = "ticklane_events_in_total";
/// Records out, per node and shard.
pub(crate) const EVENTS_OUT: &str = "ticklane_events_out_total";
/// Batches waiting in a shard's input rings.
pub(crate) const RING_DEPTH: &str = "ticklane_ring_depth";
/// Capacity of a shard's input rings, in batches.
pub(crate) const RING_CAPACITY: &str = "ticklane_ring_capacity";
/// Seconds producers spent blocked on a shard's full rings (a gauge that only grows: the
/// facade's counters are integers).
pub(crate) const BACKPRESSURE_WAIT: &str = "ticklane_backpressure_wait_seconds_total";
/// A shard's busy time over the last interval, 0–1.
pub(crate) const SHARD_BUSY_RATIO: &str = "ticklane_shard_busy_ratio";
/// How far a shard's watermark trails the freshest source's.
pub(crate) const WATERMARK_LAG: &str = "ticklane_watermark_lag_seconds";
/// The fullest ring's occupancy, 0–1: the autoscaling signal.
pub(crate) const SATURATION: &str = "ticklane_saturation";
/// Records a source's `push` accepted.
pub(crate) const PUSHED: &str = "ticklane_source_pushed_total";
/// Records a source's `push` refused (the engine stopped or a shard was gone).
pub(crate) const REJECTED: &str = "ticklane_source_rejected_total";
/// Records accepted but never delivered to the graph (their shard stopped first).
pub(crate) const NOT_DELIVERED: &str = "ticklane_source_not_delivered_total";

/// The running publisher thread.
pub(crate) struct Publisher {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl Publisher {
    /// Starts what `config` asks for: the Prometheus endpoint (which also publishes, every
    /// second unless an interval is set) and the publisher thread; `None` when neither.
    pub(crate) fn for_config(config: &Config, stats: &Arc<StatsShared>) -> Result<Option<Publisher>, EngineError> {
        let mut interval = config.metrics_interval();
        if let Some(addr) = config.prometheus() {
            #[cfg(feature = "prometheus")]
            {
                super::prometheus::serve(addr).map_err(EngineError::Metrics)?;
                interval = interval.or(Some(Duration::from_secs(1)));
            }
            #[cfg(not(feature = "prometheus"))]
            return Err(EngineError::Metrics(format!("cannot serve {addr}: built without the `prometheus` feature")));
        }
        interval.map(|every| Publisher::start(stats.clone(), every)).transpose()
    }

    /// Publishes `stats` every `every` until [`Publisher::finish`].
    fn start(stats: Arc<StatsShared>, every: Duration) -> Result<Publisher, EngineError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_p = stop.clone();
        let handle = std::thread::Builder::new()
            .name("ticklane-metrics".into())
            .spawn(move || {
                let mut prev: Option<Stats> = None;
                while !stop_p.load(SeqCst) {
                    let now = stats.snapshot();
                    publish(&now, prev.as_ref());
                    prev = Some(now);
                    std::thread::park_timeout(every);
                }
                publish(&stats.snapshot(), prev.as_ref());
            })
            .map_err(|e| EngineError::Metrics(e.to_string()))?;
        Ok(Publisher { handle, stop })
    }

    /// Publishes once more and joins the thread.
    pub(crate) fn finish(self) {
        self.stop.store(true, SeqCst);
        self.handle.thread().unpark();
        let _ = self.handle.join();
    }
}

/// Publishes a snapshot through the `metrics` facade under design.md §8 names. `prev` is the
/// previous snapshot (for the busy ratio over the interval).
fn publish(now: &Stats, prev: Option<&Stats>) {
    for node in &now.nodes {
        for (s, (&i, &o)) in node.events_in.iter().zip(&node.events_out).enumerate() {
            let shard = s.to_string();
            metrics::counter!(EVENTS_IN, "node" => node.name.clone(), "shard" => shard.clone()).absolute(i);
            metrics::counter!(EVENTS_OUT, "node" => node.name.clone(), "shard" => shard).absolute(o);
        }
        for &(name, v) in &node.counters {
            metrics::counter!(name.name(), "node" => node.name.clone()).absolute(v);
        }
    }
    let freshest = now.sources.iter().map(|s| s.watermark).max().unwrap_or(i64::MIN);
    for s in &now.shards {
        let shard = s.shard.to_string();
        metrics::gauge!(RING_DEPTH, "shard" => shard.clone()).set(s.ring_depth as f64);
        metrics::gauge!(RING_CAPACITY, "shard" => shard.clone()).set(s.ring_capacity as f64);
        // Seconds are fractional; the facade's counters are integers, so this is a gauge that
        // only grows.
        metrics::gauge!(BACKPRESSURE_WAIT, "shard" => shard.clone()).set(s.backpressure_wait_ns as f64 / 1e9);
        let ratio = match prev.and_then(|p| p.shards.get(s.shard)) {
            Some(p) if s.alive_ns > p.alive_ns => {
                ((s.busy_ns - p.busy_ns.min(s.busy_ns)) as f64 / (s.alive_ns - p.alive_ns) as f64).min(1.0)
            }
            _ => s.busy_ratio(),
        };
        metrics::gauge!(SHARD_BUSY_RATIO, "shard" => shard.clone()).set(ratio);
        let lag = if s.watermark == i64::MIN || freshest == i64::MIN {
            0.0
        } else {
            (freshest.saturating_sub(s.watermark)).max(0) as f64 / 1e9
        };
        metrics::gauge!(WATERMARK_LAG, "shard" => shard).set(lag);
    }
    metrics::gauge!(SATURATION).set(now.saturation);
    for src in &now.sources {
        metrics::counter!(PUSHED, "source" => src.name.clone()).absolute(src.pushed);
        metrics::counter!(REJECTED, "source" => src.name.clone()).absolute(src.rejected);
        metrics::counter!(NOT_DELIVERED, "source" => src.name.clone()).absolute(src.not_delivered);
    }
}
