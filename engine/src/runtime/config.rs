//! Engine configuration: validated data, built by [`ConfigBuilder`] whose
//! [`build`](ConfigBuilder::build) reports every invalid parameter at once.

use super::placement::Placement;
use crate::config_error::{ConfigCheck, ConfigError, ConfigViolation};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

/// How an idle shard waits for input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Spin on the rings forever: lowest latency, burns a core per shard even when idle.
    /// Use only with dedicated, pinned cores.
    BusySpin,
    /// Spin `spins` empty polls, then `yield_now` between polls. Low latency, polite when
    /// oversubscribed, still uses CPU while idle.
    SpinThenYield {
        /// Empty polls before yielding.
        spins: u32,
    },
    /// Spin `spins` empty polls, then block on the rings for up to `timeout` (woken at once
    /// by new data). Near-zero CPU when idle; wake-up costs a few microseconds.
    Park {
        /// Empty polls before blocking.
        spins: u32,
        /// Longest single block (bounds how late an abort is noticed).
        timeout: Duration,
    },
}

impl Default for WaitStrategy {
    /// `Park { spins: 2048, timeout: 10ms }`: fast under load, quiet when idle, safe when
    /// shards outnumber cores.
    fn default() -> Self {
        WaitStrategy::Park { spins: 2048, timeout: Duration::from_millis(10) }
    }
}

/// The most shards one engine runs (shard ids are stored in `u16`).
pub const MAX_SHARDS: usize = 4096;

/// A validated engine configuration. Start from [`Config::default`] (one shard per core,
/// rings of 1,024 messages — single records or batches of up to 256 — pin if possible) or
/// [`Config::builder`]:
///
/// ```
/// use std::time::Duration;
/// use ticklane_engine::Config;
///
/// let cfg = Config::builder().shards(2).max_delay(Duration::from_millis(5)).build()?;
/// assert_eq!((cfg.shards(), cfg.batch_size()), (2, 256));
/// # Ok::<(), ticklane_engine::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    shards: NonZeroUsize,
    ring_capacity: NonZeroUsize,
    batch_size: NonZeroUsize,
    flush_every: NonZeroUsize,
    egress_capacity: NonZeroUsize,
    egress_records: NonZeroUsize,
    max_delay: Duration,
    max_delay_ns: i64,
    idle_timeout: Option<Duration>,
    wait: WaitStrategy,
    placement: Placement,
    batch_threads: bool,
    metrics_interval: Option<Duration>,
    prometheus: Option<SocketAddr>,
}

/// Builds a [`Config`]; every setter takes the value as given, and [`ConfigBuilder::build`]
/// checks them all together.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    shards: usize,
    ring_capacity: usize,
    batch_size: usize,
    flush_every: usize,
    egress_capacity: usize,
    egress_records: usize,
    max_delay: Duration,
    idle_timeout: Option<Duration>,
    wait: WaitStrategy,
    placement: Placement,
    batch_threads: bool,
    metrics_interval: Option<Duration>,
    prometheus: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        let n = |v: usize| NonZeroUsize::new(v).unwrap_or(NonZeroUsize::MIN);
        Config {
            shards: n(std::thread::available_parallelism().map_or(1, |c| c.get().min(MAX_SHARDS))),
            // Room for a burst of single records: `push` sends each record as its own message
            // (latency first), and a ring of 64 made a producer sharing a core with its shard
            // block every 64 records (measured, 1M pushes into 2 shards on 2 cores: 6.75 s at
            // 64 messages, 0.28 s at 1,024). 1,024 slots of 128 bytes = 128 KiB per ring.
            ring_capacity: n(1024),
            batch_size: n(256),
            flush_every: n(4096),
            egress_capacity: n(1024),
            // A slow reader (a writer off its core, a stalled sink) held up to 1,024 messages
            // of any size: 160 MB of bars on the 10M-trade capture with the bar writer starved
            // (bench/README.md). 65,536 bars are about 7 MiB per shard.
            egress_records: n(65_536),
            max_delay: Duration::ZERO,
            max_delay_ns: 0,
            idle_timeout: None,
            wait: WaitStrategy::default(),
            placement: Placement::default(),
            batch_threads: false,
            metrics_interval: None,
            prometheus: None,
        }
    }
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Config::default().to_builder()
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A builder starting from this configuration.
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            shards: self.shards.get(),
            ring_capacity: self.ring_capacity.get(),
            batch_size: self.batch_size.get(),
            flush_every: self.flush_every.get(),
            egress_capacity: self.egress_capacity.get(),
            egress_records: self.egress_records.get(),
            max_delay: self.max_delay,
            idle_timeout: self.idle_timeout,
            wait: self.wait,
            placement: self.placement.clone(),
            batch_threads: self.batch_threads,
            metrics_interval: self.metrics_interval,
            prometheus: self.prometheus,
        }
    }

    /// Number of shard threads (each owns a hash partition of instruments).
    pub fn shards(&self) -> usize {
        self.shards.get()
    }

    /// Capacity of each ingress → shard ring, in batches.
    pub fn ring_capacity(&self) -> usize {
        self.ring_capacity.get()
    }

    /// Records per batch sent through a ring.
    pub fn batch_size(&self) -> usize {
        self.batch_size.get()
    }

    /// Pushes after which the ingress sends every shard its batch and the watermark.
    pub fn flush_every(&self) -> usize {
        self.flush_every.get()
    }

    /// Capacity of each egress channel, in shard messages.
    pub fn egress_capacity(&self) -> usize {
        self.egress_capacity.get()
    }

    /// Records each shard may have waiting in each egress channel.
    pub fn egress_records(&self) -> usize {
        self.egress_records.get()
    }

    /// Bounded out-of-orderness (design.md §2).
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The idle timeout of live sources, if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// How idle shards wait.
    pub fn wait(&self) -> WaitStrategy {
        self.wait
    }

    /// Thread placement.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Whether the shard threads run as batch threads ([`ConfigBuilder::batch_threads`]).
    pub fn batch_threads(&self) -> bool {
        self.batch_threads
    }

    /// The stats publishing interval, if any.
    pub fn metrics_interval(&self) -> Option<Duration> {
        self.metrics_interval
    }

    /// The Prometheus address, if any.
    pub fn prometheus(&self) -> Option<SocketAddr> {
        self.prometheus
    }

    pub(crate) fn max_delay_ns(&self) -> i64 {
        self.max_delay_ns
    }
}

impl ConfigBuilder {
    /// Number of shard threads, `1..=MAX_SHARDS`.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    /// Capacity of each ingress → shard ring, in batches (≥ 1). A full ring blocks the
    /// producer.
    pub fn ring_capacity(mut self, n: usize) -> Self {
        self.ring_capacity = n;
        self
    }

    /// Most records per message through a ring (≥ 1). Nothing waits for a batch to fill:
    /// `push` sends its record at once and `push_all` sends what it was given, in batches of
    /// at most this many.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// The ingress sends every shard the current watermark after this many records (≥ 1),
    /// so that shards that get no records still see time advance.
    pub fn flush_every(mut self, n: usize) -> Self {
        self.flush_every = n;
        self
    }

    /// Capacity of each egress channel, in shard messages (≥ 1). A full egress blocks its
    /// shard.
    pub fn egress_capacity(mut self, n: usize) -> Self {
        self.egress_capacity = n;
        self
    }

    /// Records each shard may have waiting in each egress channel, not yet taken by its
    /// reader (≥ 1; default 65,536): past them the shard waits, so memory stays bounded
    /// however slow the reader is. A message of more records than this goes alone.
    pub fn egress_records(mut self, n: usize) -> Self {
        self.egress_records = n;
        self
    }

    /// Bounded out-of-orderness: a source's watermark is `max_ts − max_delay` (design.md §2;
    /// at most `i64::MAX` ns).
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Live feeds only: a source that sent nothing for `timeout` of wall time stops holding a
    /// shard's minimum watermark back until it sends again (design.md §2). Unset (the
    /// default), wall time never decides event time, which is what keeps replay
    /// deterministic. Detection is coarse: the shard reads the clock every 64 messages and
    /// while idle, not per message.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// How idle shards wait.
    pub fn wait(mut self, w: WaitStrategy) -> Self {
        self.wait = w;
        self
    }

    /// Where shard threads run.
    pub fn placement(mut self, p: Placement) -> Self {
        self.placement = p;
        self
    }

    /// Runs the shard threads as batch threads (Linux `SCHED_BATCH`, see
    /// [`crate::run_as_batch_thread`]; default `false`): woken by a hand-over, a shard waits
    /// for an idle core or for the running thread to block or use up its slice, instead of
    /// preempting it. For runs whose threads outnumber the cores, where each preemption costs
    /// two context switches and cuts the sender's batch short; it may add up to a slice
    /// (a few milliseconds) to a record's latency when no core is idle.
    pub fn batch_threads(mut self, on: bool) -> Self {
        self.batch_threads = on;
        self
    }

    /// Publishes stats through the `metrics` facade every `every`.
    pub fn metrics_interval(mut self, every: Duration) -> Self {
        self.metrics_interval = Some(every);
        self
    }

    /// Serves Prometheus text at `http://ADDR/metrics` while the engine runs (give
    /// `127.0.0.1:PORT` unless you mean otherwise). Installs the global `metrics` recorder;
    /// also turns on publishing (default every second).
    pub fn prometheus(mut self, addr: SocketAddr) -> Self {
        self.prometheus = Some(addr);
        self
    }

    /// Checks every parameter; returns the configuration or every violation.
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut c = ConfigCheck::new();
        let shards = c.nonzero("shards", self.shards);
        c.require(self.shards <= MAX_SHARDS, || ConfigViolation::TooMany {
            param: "shards",
            count: self.shards,
            max: MAX_SHARDS,
        });
        let config = Config {
            shards,
            ring_capacity: c.nonzero("ring_capacity", self.ring_capacity),
            batch_size: c.nonzero("batch_size", self.batch_size),
            flush_every: c.nonzero("flush_every", self.flush_every),
            egress_capacity: c.nonzero("egress_capacity", self.egress_capacity),
            egress_records: c.nonzero("egress_records", self.egress_records),
            max_delay_ns: c.nanos("max_delay", self.max_delay),
            max_delay: self.max_delay,
            idle_timeout: self.idle_timeout,
            wait: self.wait,
            placement: self.placement,
            batch_threads: self.batch_threads,
            metrics_interval: self.metrics_interval,
            prometheus: self.prometheus,
        };
        c.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_reports_every_violation() {
        let e = Config::builder()
            .shards(MAX_SHARDS + 1)
            .batch_size(0)
            .egress_capacity(0)
            .max_delay(Duration::MAX)
            .build()
            .expect_err("invalid");
        assert_eq!(
            e.violations,
            vec![
                ConfigViolation::TooMany { param: "shards", count: MAX_SHARDS + 1, max: MAX_SHARDS },
                ConfigViolation::Zero { param: "batch_size" },
                ConfigViolation::Zero { param: "egress_capacity" },
                ConfigViolation::TooLarge { param: "max_delay", value: Duration::MAX },
            ]
        );
    }

    #[test]
    fn a_built_config_round_trips_through_its_builder() {
        let c = Config::builder().shards(3).max_delay(Duration::from_nanos(9)).build().expect("valid");
        let again = c.to_builder().build().expect("valid");
        assert_eq!((again.shards(), again.max_delay_ns()), (3, 9));
        assert_eq!(Config::builder().build().map(|c| c.ring_capacity()), Ok(1024));
    }
}
