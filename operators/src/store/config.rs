//! The write coordinator's settings: [`StoreConfig::default`] or [`StoreConfig::builder`],
//! whose `build()` reports every invalid setting.

use std::time::Duration;
use ticklane_engine::{ConfigCheck, ConfigError, ConfigViolation};

/// What the sinks do while the queue is pressured (between the high and low watermarks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PressurePolicy {
    /// Stall the shard sinks: backpressure through the rings to the sources. Nothing is lost.
    #[default]
    Block,
    /// Replace a waiting bar of the same key with the newer revision (counted as conflated);
    /// queue new keys up to `capacity`, then block.
    Conflate,
    /// Drop incoming bars (counted as shed).
    Shed,
}

/// Write-coordinator settings. Defaults: batches of 500 rows or 50 ms, watermarks 2,500 /
/// 10,000 bars, capacity 20,000, `Block`, backoff 10 ms doubling to 1 s, breaker after 5
/// consecutive failures with a 1 s cool-down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    pub(crate) batch_rows: usize,
    pub(crate) batch_interval: Duration,
    pub(crate) low: usize,
    pub(crate) high: usize,
    pub(crate) capacity: usize,
    pub(crate) policy: PressurePolicy,
    pub(crate) retry_initial: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) breaker_failures: u32,
    pub(crate) breaker_cool_down: Duration,
}

/// Builds a [`StoreConfig`]; every setter takes the values as given, and
/// [`StoreBuilder::build`] checks them together.
#[derive(Clone, Debug)]
pub struct StoreBuilder {
    cfg: StoreConfig,
    /// Set explicitly (else the default, raised to `high` if below it).
    capacity: Option<usize>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            batch_rows: 500,
            batch_interval: Duration::from_millis(50),
            low: 2_500,
            high: 10_000,
            capacity: 20_000,
            policy: PressurePolicy::Block,
            retry_initial: Duration::from_millis(10),
            retry_max: Duration::from_secs(1),
            breaker_failures: 5,
            breaker_cool_down: Duration::from_secs(1),
        }
    }
}

impl StoreConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> StoreBuilder {
        StoreBuilder { cfg: StoreConfig::default(), capacity: None }
    }
}

impl StoreBuilder {
    /// A batch is written when `rows` (≥ 1) bars wait or the oldest has waited `interval`.
    pub fn batch(mut self, rows: usize, interval: Duration) -> Self {
        (self.cfg.batch_rows, self.cfg.batch_interval) = (rows, interval);
        self
    }

    /// Pressure starts at `high` (≥ 1) waiting bars and ends at `low` (< `high`).
    pub fn watermarks(mut self, low: usize, high: usize) -> Self {
        (self.cfg.low, self.cfg.high) = (low, high);
        self
    }

    /// The most bars that wait under `Conflate` (new keys block beyond it; at least `high`).
    /// Unset, it is the default 20,000, raised to `high` if below it.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// The pressure policy.
    pub fn policy(mut self, policy: PressurePolicy) -> Self {
        self.cfg.policy = policy;
        self
    }

    /// Backoff after a failed write: `initial` (> 0), doubling, capped at `max` (≥ `initial`).
    pub fn retry(mut self, initial: Duration, max: Duration) -> Self {
        (self.cfg.retry_initial, self.cfg.retry_max) = (initial, max);
        self
    }

    /// The circuit opens after `failures` (≥ 1) consecutive failures and probes after
    /// `cool_down`.
    pub fn breaker(mut self, failures: u32, cool_down: Duration) -> Self {
        (self.cfg.breaker_failures, self.cfg.breaker_cool_down) = (failures, cool_down);
        self
    }

    /// Checks every setting.
    pub fn build(self) -> Result<StoreConfig, ConfigError> {
        let mut cfg = self.cfg;
        let mut c = ConfigCheck::new();
        c.require(cfg.batch_rows > 0, || ConfigViolation::Zero { param: "batch rows" });
        c.require(cfg.high > 0, || ConfigViolation::Zero { param: "the high watermark" });
        c.require(cfg.low < cfg.high || cfg.high == 0, || {
            order("the low watermark", cfg.low, "the high watermark", cfg.high, true)
        });
        cfg.capacity = self.capacity.unwrap_or(cfg.capacity.max(cfg.high));
        c.require(cfg.capacity >= cfg.high, || order("the high watermark", cfg.high, "capacity", cfg.capacity, false));
        c.require(!cfg.retry_initial.is_zero(), || ConfigViolation::Zero { param: "retry initial backoff" });
        c.require(cfg.retry_initial <= cfg.retry_max, || {
            order(
                "retry initial backoff",
                format!("{:?}", cfg.retry_initial),
                "retry max backoff",
                format!("{:?}", cfg.retry_max),
                false,
            )
        });
        c.require(cfg.breaker_failures > 0, || ConfigViolation::Zero { param: "breaker failures" });
        c.finish(cfg)
    }
}

fn order(
    low_param: &'static str,
    low: impl ToString,
    high_param: &'static str,
    high: impl ToString,
    strict: bool,
) -> ConfigViolation {
    ConfigViolation::OutOfOrder { low_param, low: low.to_string(), high_param, high: high.to_string(), strict }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_reports_every_violation() {
        let e = StoreConfig::builder()
            .batch(0, Duration::ZERO)
            .watermarks(5, 5)
            .capacity(1)
            .retry(Duration::ZERO, Duration::ZERO)
            .breaker(0, Duration::ZERO)
            .build()
            .expect_err("invalid");
        let params: Vec<String> = e.violations.iter().map(ToString::to_string).collect();
        assert_eq!(
            params,
            [
                "batch rows must be greater than zero",
                "the low watermark (5) must be below the high watermark (5)",
                "the high watermark (5) must be at most capacity (1)",
                "retry initial backoff must be greater than zero",
                "breaker failures must be greater than zero",
            ]
        );
    }

    #[test]
    fn capacity_follows_a_raised_high_watermark_unless_set() {
        let c = StoreConfig::builder().watermarks(10, 30_000).build().expect("valid");
        assert_eq!(c.capacity, 30_000);
        assert_eq!(StoreConfig::builder().build(), Ok(StoreConfig::default()));
    }
}
