//! Engine configuration: data with named constructors and a validating check.

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

/// Where shard threads run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// Pin shard `i` to the `i`-th core available to the thread that calls
    /// [`crate::Engine::start`] when there are at least as many such cores as shards;
    /// otherwise run unpinned and log one line saying why. Never an error. (If the calling
    /// thread is itself pinned, that is one core: start the engine before pinning it, or use
    /// [`Placement::Cores`].)
    #[default]
    PinIfPossible,
    /// Never pin.
    Unpinned,
    /// Pin shard `i` to core id `cores[i % cores.len()]`; if the OS refuses, run unpinned and
    /// log one line.
    Cores(Vec<usize>),
}

/// Engine configuration. Build with [`Config::new`] (or `Default`) and the `with_*` setters;
/// [`crate::Engine::start`] validates it.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of shard threads (each owns a hash partition of instruments).
    pub shards: NonZeroUsize,
    /// Capacity of each ingress → shard ring, in batches. A full ring blocks the producer.
    pub ring_capacity: NonZeroUsize,
    /// Records per batch sent through a ring (the producer sends a shard's batch when full).
    pub batch_size: NonZeroUsize,
    /// The ingress sends every shard its pending batch (and the current watermark) after this
    /// many pushes, so quiet shards still see time advance.
    pub flush_every: NonZeroUsize,
    /// Capacity of each egress channel, in shard messages. A full egress blocks its shard.
    pub egress_capacity: NonZeroUsize,
    /// Bounded out-of-orderness: a source's watermark is `max_ts − max_delay` (design.md §2).
    pub max_delay: Duration,
    /// Live feeds only: a source that sent nothing for this long (wall time) stops holding a
    /// shard's minimum watermark back until it sends again (design.md §2). `None` (the
    /// default) never uses wall time for event time, which is what keeps replay
    /// deterministic. Detection is coarse: the shard reads the clock every 64 messages and
    /// while idle, not per message.
    pub idle_timeout: Option<Duration>,
    /// How idle shards wait.
    pub wait: WaitStrategy,
    /// Thread placement.
    pub placement: Placement,
    /// Publish stats through the `metrics` facade at this interval (`None`: never).
    pub metrics_interval: Option<Duration>,
    /// Serve Prometheus text at `http://ADDR/metrics` while the engine runs (`None`: off).
    /// Installs the global `metrics` recorder; also turns on publishing (default 1 s).
    pub prometheus: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        let one = NonZeroUsize::MIN;
        Config {
            shards: std::thread::available_parallelism().unwrap_or(one),
            ring_capacity: NonZeroUsize::new(64).unwrap_or(one),
            batch_size: NonZeroUsize::new(256).unwrap_or(one),
            flush_every: NonZeroUsize::new(4096).unwrap_or(one),
            egress_capacity: NonZeroUsize::new(1024).unwrap_or(one),
            max_delay: Duration::ZERO,
            idle_timeout: None,
            wait: WaitStrategy::default(),
            placement: Placement::default(),
            metrics_interval: None,
            prometheus: None,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A count that must be at least one was zero.
    #[error("config: {field} must be at least 1")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// `max_delay` beyond `i64` nanoseconds.
    #[error("config: max_delay {0:?} is too large (limit ~292 years)")]
    DelayTooLarge(Duration),
    /// More shards than the engine supports.
    #[error("config: {shards} shards requested, at most {max} supported")]
    TooManyShards {
        /// Requested.
        shards: usize,
        /// Limit.
        max: usize,
    },
}

/// The most shards one engine runs (shard ids are stored in `u16`).
pub const MAX_SHARDS: usize = 4096;

fn nz(field: &'static str, v: usize) -> Result<NonZeroUsize, ConfigError> {
    NonZeroUsize::new(v).ok_or(ConfigError::Zero { field })
}

impl Config {
    /// The defaults: one shard per core, 64-batch rings of 256 records, pin if possible.
    pub fn new() -> Config {
        Config::default()
    }

    /// Sets the shard count (`0` is an error).
    pub fn with_shards(mut self, n: usize) -> Result<Config, ConfigError> {
        if n > MAX_SHARDS {
            return Err(ConfigError::TooManyShards { shards: n, max: MAX_SHARDS });
        }
        self.shards = nz("shards", n)?;
        Ok(self)
    }

    /// Sets the ring capacity in batches (`0` is an error).
    pub fn with_ring_capacity(mut self, n: usize) -> Result<Config, ConfigError> {
        self.ring_capacity = nz("ring_capacity", n)?;
        Ok(self)
    }

    /// Sets the batch size in records (`0` is an error).
    pub fn with_batch_size(mut self, n: usize) -> Result<Config, ConfigError> {
        self.batch_size = nz("batch_size", n)?;
        Ok(self)
    }

    /// Sets the broadcast interval in pushes (`0` is an error).
    pub fn with_flush_every(mut self, n: usize) -> Result<Config, ConfigError> {
        self.flush_every = nz("flush_every", n)?;
        Ok(self)
    }

    /// Sets the egress channel capacity in messages (`0` is an error).
    pub fn with_egress_capacity(mut self, n: usize) -> Result<Config, ConfigError> {
        self.egress_capacity = nz("egress_capacity", n)?;
        Ok(self)
    }

    /// Sets the bounded out-of-orderness.
    pub fn with_max_delay(mut self, d: Duration) -> Result<Config, ConfigError> {
        i64::try_from(d.as_nanos()).map_err(|_| ConfigError::DelayTooLarge(d))?;
        self.max_delay = d;
        Ok(self)
    }

    /// Lets a source idle for `timeout` of wall time stop holding the minimum watermark back
    /// (live feeds; see [`Config::idle_timeout`]).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Config {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Sets the wait strategy.
    pub fn with_wait(mut self, w: WaitStrategy) -> Config {
        self.wait = w;
        self
    }

    /// Sets thread placement.
    pub fn with_placement(mut self, p: Placement) -> Config {
        self.placement = p;
        self
    }

    /// Publishes stats through the `metrics` facade every `every`.
    pub fn with_metrics_interval(mut self, every: Duration) -> Config {
        self.metrics_interval = Some(every);
        self
    }

    /// Serves Prometheus text on `addr` (give `127.0.0.1:PORT` unless you mean otherwise).
    pub fn with_prometheus(mut self, addr: SocketAddr) -> Config {
        self.prometheus = Some(addr);
        self
    }

    pub(crate) fn max_delay_ns(&self) -> i64 {
        i64::try_from(self.max_delay.as_nanos()).unwrap_or(i64::MAX)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.shards.get() > MAX_SHARDS {
            return Err(ConfigError::TooManyShards { shards: self.shards.get(), max: MAX_SHARDS });
        }
        i64::try_from(self.max_delay.as_nanos()).map_err(|_| ConfigError::DelayTooLarge(self.max_delay))?;
        Ok(())
    }
}
