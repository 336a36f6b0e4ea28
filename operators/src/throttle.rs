//! Per-instrument rate limit on event time (design.md §4): at most `limit` records per
//! instrument per `interval` (epoch-aligned tumbling intervals of `ts_event`). Trades by
//! default; any record kind (quotes, your own) through [`ThrottleExt::throttle_records`].
//! **BBO conflation** (design.md: the latest quote per instrument per interval, emitted at the
//! interval's end) is [`ThrottleConfig::latest`] on quotes: limit 0, conflate.
//!
//! - `Drop`: trades beyond the limit are dropped and counted ([`THROTTLED`]).
//! - `Conflate`: beyond the limit, only the latest trade of the interval is kept and emitted
//!   when the interval ends (watermark ≥ interval end), stamped with the last instant of the
//!   interval (`end − 1`: it is applied downstream as if it came as the interval closed, so a
//!   bar window ending with the interval still takes it); the ones it replaced are counted as
//!   throttled. Until then the throttle holds its shard's progress at that stamp
//!   ([`Transform::hold`]), so ordered output waits for it. When its instrument moves on to a
//!   later interval first, it is emitted then, with the current watermark. A conflated trade
//!   whose interval had already ended when it arrived is emitted at once (late downstream).
//! - Intervals follow each instrument's newest trade: a trade older than its instrument's
//!   current interval counts against the current one.
//!
//! Conservation: trades in = trades out + throttled.

use std::time::Duration;
use ticklane_engine::{
    ConfigCheck, ConfigError, ConfigViolation, Counter, DagBuilder, Record, Stamped, Timestamp, Trade, Transform,
    WM_END,
};

/// Trades a [`Throttle`] dropped or replaced.
pub const THROTTLED: Counter = Counter::new("ticklane_throttled_total");

/// What happens beyond the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ThrottlePolicy {
    /// Drop the excess.
    #[default]
    Drop,
    /// Keep the latest excess trade per instrument, emit it when the interval ends.
    Conflate,
}

/// Configuration of [`Throttle`], built by [`ThrottleConfig::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Records passed per interval (0: none; only the latest, conflated).
    limit: u32,
    /// Interval width, ns (positive).
    interval: i64,
    policy: ThrottlePolicy,
}

/// Builds a [`ThrottleConfig`].
#[derive(Clone, Copy, Debug)]
pub struct ThrottleBuilder {
    limit: u32,
    interval: Duration,
    policy: ThrottlePolicy,
}

impl ThrottleConfig {
    /// At most `limit` trades per instrument per `interval` (both must be positive), the
    /// excess dropped unless [`ThrottleBuilder::policy`] says otherwise.
    pub fn builder(limit: u32, interval: Duration) -> ThrottleBuilder {
        ThrottleBuilder { limit, interval, policy: ThrottlePolicy::Drop }
    }

    /// Records allowed per instrument per interval.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Only the latest record per instrument per `interval` (positive), emitted when the
    /// interval ends: BBO conflation on quotes.
    pub fn latest(interval: Duration) -> Result<ThrottleConfig, ConfigError> {
        let mut c = ConfigCheck::new();
        let interval = c.positive_nanos("throttle interval", interval);
        c.finish(ThrottleConfig { limit: 0, interval, policy: ThrottlePolicy::Conflate })
    }

    /// The excess policy.
    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }
}

impl ThrottleBuilder {
    /// The excess policy.
    pub fn policy(mut self, policy: ThrottlePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Checks every parameter.
    pub fn build(self) -> Result<ThrottleConfig, ConfigError> {
        let mut c = ConfigCheck::new();
        c.require(self.limit > 0, || ConfigViolation::Zero { param: "throttle limit" });
        let limit = self.limit;
        let interval = c.positive_nanos("throttle interval", self.interval);
        c.finish(ThrottleConfig { limit, interval, policy: self.policy })
    }
}

/// Adds a [`Throttle`] to a graph.
pub trait ThrottleExt {
    /// Per-instrument rate limit named `name`: trades in, trades out.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ticklane_engine::{DagBuilder, Kind};
    /// use ticklane_operators::{ThrottleConfig, ThrottleExt, ThrottlePolicy};
    ///
    /// let cfg = ThrottleConfig::builder(5, Duration::from_millis(100)).policy(ThrottlePolicy::Conflate).build()?;
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .throttle("5_per_100ms", cfg)
    ///     .sink_egress("out", Kind::Trade)
    ///     .connect("feed", "5_per_100ms")
    ///     .connect("5_per_100ms", "out");
    /// assert!(g.build().is_ok());
    /// # Ok::<(), ticklane_engine::ConfigError>(())
    /// ```
    fn throttle(&mut self, name: &str, cfg: ThrottleConfig) -> &mut Self;

    /// The same for records of kind `R` (quotes: BBO conflation with
    /// [`ThrottleConfig::latest`]; or a type of your own).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ticklane_engine::{DagBuilder, Kind, Quote};
    /// use ticklane_operators::{ThrottleConfig, ThrottleExt};
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("book", Kind::Quote)
    ///     .throttle_records::<Quote>("bbo_100ms", ThrottleConfig::latest(Duration::from_millis(100))?)
    ///     .sink_egress("out", Kind::Quote)
    ///     .connect("book", "bbo_100ms")
    ///     .connect("bbo_100ms", "out");
    /// assert!(g.build().is_ok());
    /// # Ok::<(), ticklane_engine::ConfigError>(())
    /// ```
    fn throttle_records<R: Record>(&mut self, name: &str, cfg: ThrottleConfig) -> &mut Self;
}

impl ThrottleExt for DagBuilder {
    fn throttle(&mut self, name: &str, cfg: ThrottleConfig) -> &mut Self {
        self.throttle_records::<Trade>(name, cfg)
    }

    fn throttle_records<R: Record>(&mut self, name: &str, cfg: ThrottleConfig) -> &mut Self {
        self.transform::<R, R, _, _>(name, move |_| Throttle::<R>::new(cfg))
    }
}

#[derive(Clone, Copy)]
struct Slot<R> {
    start: Timestamp,
    count: u32,
    pending: Option<Stamped<R>>,
}

/// The throttle operator (records of one kind in and out, trades by default); one instance per
/// shard.
pub struct Throttle<R: Record = Trade> {
    cfg: ThrottleConfig,
    wm: Timestamp,
    slots: Vec<Slot<R>>,
    /// Instruments holding a conflated trade.
    pending: Vec<u32>,
    /// The least stamp a waiting conflated trade will be emitted with (`WM_END`: none waits).
    hold: Timestamp,
    throttled: u64,
}

impl<R: Record> Throttle<R> {
    /// A fresh instance.
    pub fn new(cfg: ThrottleConfig) -> Throttle<R> {
        Throttle { cfg, wm: i64::MIN, slots: Vec::new(), pending: Vec::new(), hold: WM_END, throttled: 0 }
    }

    /// Trades dropped or replaced so far.
    pub fn throttled(&self) -> u64 {
        self.throttled
    }

    fn end(&self, start: Timestamp) -> Timestamp {
        start.saturating_add(self.cfg.interval)
    }

    /// Moves the watermark to `wm` and emits conflated trades whose interval ended by then.
    /// Called per trade: with nothing conflated waiting it is an inline store.
    #[inline]
    fn flush(&mut self, wm: Timestamp, out: &mut Vec<Stamped<R>>) {
        self.wm = wm;
        if !self.pending.is_empty() {
            self.flush_pending(wm, out);
        }
    }

    /// Emits the waiting conflated trades due by `wm`, in instrument-id order.
    fn flush_pending(&mut self, wm: Timestamp, out: &mut Vec<Stamped<R>>) {
        self.pending.sort_unstable();
        let mut keep = 0;
        for k in 0..self.pending.len() {
            let i = self.pending[k] as usize;
            let end = self.end(self.slots[i].start);
            if end <= wm {
                if let Some(p) = self.slots[i].pending.take() {
                    out.push(Stamped { wm: end - 1, rec: p.rec });
                }
            } else {
                self.pending[keep] = self.pending[k];
                keep += 1;
            }
        }
        self.pending.truncate(keep);
        self.rehold();
    }

    /// Recomputes the least stamp a waiting conflated trade will get.
    fn rehold(&mut self) {
        let ends = self.pending.iter().map(|&i| self.end(self.slots[i as usize].start) - 1);
        self.hold = ends.min().unwrap_or(WM_END);
    }

    fn emit_pending_now(&mut self, i: usize, out: &mut Vec<Stamped<R>>) {
        if let Some(p) = self.slots[i].pending.take() {
            // Not below the watermark (the stamps of this output stay in order), and not past
            // the interval's last instant.
            let end = self.end(self.slots[i].start);
            out.push(Stamped { wm: (end - 1).min(self.wm), rec: p.rec });
            if let Some(k) = self.pending.iter().position(|&x| x as usize == i) {
                self.pending.swap_remove(k);
                self.rehold();
            }
        }
    }
}

impl<R: Record> Transform<R, R> for Throttle<R> {
    fn on_batch(&mut self, input: &[Stamped<R>], out: &mut Vec<Stamped<R>>) {
        for t in input {
            if t.wm > self.wm {
                self.flush(t.wm, out);
            }
            let i = t.rec.instrument().0 as usize;
            if self.slots.len() <= i {
                self.slots.resize(i + 1, Slot { start: i64::MIN, count: 0, pending: None });
            }
            let start = t.rec.ts_event().div_euclid(self.cfg.interval).saturating_mul(self.cfg.interval);
            if start > self.slots[i].start {
                self.emit_pending_now(i, out); // the older interval is over for this instrument
                self.slots[i].start = start;
                self.slots[i].count = 0;
            }
            let slot = &mut self.slots[i];
            if slot.count < self.cfg.limit {
                slot.count += 1;
                out.push(*t);
                continue;
            }
            match self.cfg.policy {
                ThrottlePolicy::Drop => self.throttled += 1,
                ThrottlePolicy::Conflate => {
                    if slot.pending.replace(*t).is_some() {
                        self.throttled += 1;
                    } else {
                        self.pending.push(i as u32);
                        self.hold = self.hold.min(self.end(self.slots[i].start) - 1);
                    }
                    if self.end(self.slots[i].start) <= t.wm {
                        self.emit_pending_now(i, out);
                        if let Some(last) = out.last_mut() {
                            last.wm = t.wm;
                        }
                    }
                }
            }
        }
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Vec<Stamped<R>>) {
        self.flush(wm, out);
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        report(THROTTLED, self.throttled);
    }

    fn hold(&self) -> Timestamp {
        self.hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticklane_engine::{Fixed, InstrumentId, WM_END};

    fn st(wm: i64, inst: u32, ts: i64, px: i64) -> Stamped<Trade> {
        Stamped {
            wm,
            rec: Trade { ts_event: ts, instrument: InstrumentId(inst), price: Fixed::from_raw(px), ..Trade::default() },
        }
    }

    fn run(policy: ThrottlePolicy, input: &[Stamped<Trade>]) -> (Vec<(i64, i64)>, u64) {
        let mut th =
            Throttle::new(ThrottleConfig::builder(2, Duration::from_nanos(100)).policy(policy).build().expect("cfg"));
        let mut out = Vec::new();
        th.on_batch(input, &mut out);
        th.on_watermark(WM_END, &mut out);
        (out.iter().map(|s| (s.wm, s.rec.price.raw())).collect(), th.throttled())
    }

    #[test]
    fn drop_and_conflate() {
        let input = [
            st(0, 0, 10, 1),
            st(10, 0, 20, 2),
            st(20, 0, 30, 3),
            st(30, 0, 40, 4),
            st(40, 1, 50, 9),
            st(50, 0, 120, 5),
        ];
        let (out, thr) = run(ThrottlePolicy::Drop, &input);
        assert_eq!(out.iter().map(|o| o.1).collect::<Vec<_>>(), vec![1, 2, 9, 5]);
        assert_eq!(thr, 2);
        let (out, thr) = run(ThrottlePolicy::Conflate, &input);
        // 3 is replaced by 4; 4 is emitted when instrument 0 moves on, with the watermark then
        // (50: the stamps stay in order).
        assert_eq!(out, vec![(0, 1), (10, 2), (40, 9), (50, 4), (50, 5)]);
        assert_eq!(thr, 1);
        assert_eq!(out.len() as u64 + thr, input.len() as u64, "conservation");
    }

    /// A conflated trade waits with the interval's last instant as its stamp, and the
    /// throttle holds its shard's progress there until it is out.
    #[test]
    fn a_waiting_conflated_trade_holds_progress_at_its_stamp() {
        let mut th = Throttle::new(
            ThrottleConfig::builder(1, Duration::from_nanos(100))
                .policy(ThrottlePolicy::Conflate)
                .build()
                .expect("cfg"),
        );
        let mut out = Vec::new();
        th.on_batch(&[st(0, 0, 10, 1), st(10, 0, 20, 2), st(20, 0, 30, 3)], &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(th.hold(), 99, "3 waits, to be stamped 99");
        th.on_watermark(100, &mut out);
        assert_eq!(out.iter().map(|s| (s.wm, s.rec.price.raw())).collect::<Vec<_>>(), vec![(0, 1), (99, 3)]);
        assert_eq!(th.hold(), WM_END);
    }

    /// BBO conflation: only the latest quote per instrument per interval, at the interval's
    /// last instant; every other counted.
    #[test]
    fn latest_keeps_one_quote_per_interval() {
        use ticklane_engine::Quote;
        let mut th = Throttle::<Quote>::new(ThrottleConfig::latest(Duration::from_nanos(100)).expect("cfg"));
        let q = |wm, ts, px| Stamped {
            wm,
            rec: Quote { ts_event: ts, instrument: InstrumentId(0), ..Quote::default() }
                .with_bid(Fixed::from_raw(px), Fixed::ONE),
        };
        let mut out = Vec::new();
        th.on_batch(&[q(0, 10, 1), q(10, 20, 2), q(20, 99, 3), q(99, 100, 4), q(100, 150, 5)], &mut out);
        assert_eq!(out.iter().map(|s| (s.wm, s.rec.bid_px.raw())).collect::<Vec<_>>(), vec![(99, 3)]);
        th.on_watermark(WM_END, &mut out);
        assert_eq!(out.iter().map(|s| (s.wm, s.rec.bid_px.raw())).collect::<Vec<_>>(), vec![(99, 3), (199, 5)]);
        assert_eq!(th.throttled(), 3, "1, 2 and 4 were replaced");
    }

    #[test]
    fn zero_limits_are_errors() {
        let e = ThrottleConfig::builder(0, Duration::ZERO).build().expect_err("both zero");
        assert_eq!(
            e.violations,
            [ConfigViolation::Zero { param: "throttle limit" }, ConfigViolation::Zero { param: "throttle interval" }]
        );
    }
}
