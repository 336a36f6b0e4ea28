//! OHLCV time bars over event-time tumbling windows (design.md §3).
//!
//! - `open`/`close` are the first/last trade in `(ts_event, ts_recv, arrival)` order, so equal
//!   timestamps (83% of one Binance capture) resolve the same way at any shard count.
//! - A window fires when the watermark reaches its end; the bar is stamped with `window_end`.
//! - Late trades (`window_end ≤ watermark before the trade`) follow the [`LatePolicy`] and are
//!   always counted. Under `Revise`, a late trade inside the horizon updates its window and
//!   re-emits the bar with `revision + 1`, stamped with the late trade's watermark so it follows
//!   the bar it revises; a late trade for a window that never had a trade creates that bar,
//!   emitted once with revision 0.
//! - `vwap` = Σ(price·size) / Σ size, rounded half away from zero to 9 decimals; with zero
//!   total size (only zero-size prints) it is the close.
//! - A trade whose window cannot be represented (its end would reach `i64::MAX`, which the
//!   engine reserves for the end of input) is dropped and counted in [`OUT_OF_RANGE`]; the
//!   CLI's readers refuse such trades first, as malformed.
//! - Volume and notional accumulate in `i128`; an overflow (beyond 1.7·10^20 currency units
//!   in one bar) saturates and is counted in [`BAR_OVERFLOW`], never wrapped.
//! - Empty windows: `Skip` (default) produces bars only for windows with trades. `Flat` also
//!   produces a bar for every empty window between an instrument's first and last trade:
//!   O=H=L=C=vwap=the previous close, volume 0, trade_count 0, stamped with its own
//!   `window_end`. Such a bar is known only when the instrument trades again, so the operator
//!   *holds* ordered output back (see `Operator::hold`) to the earliest flat bar it may still
//!   emit: an instrument that goes quiet delays egress output until it trades again or input
//!   ends (and the egress buffers that output meanwhile). Trailing empty windows after an
//!   instrument's last trade produce nothing. `Flat` does not combine with `Revise` yet.
//!
//! State is shard-local: one slot per instrument id (a small deque of open windows) and a
//! bucket of deadlines per window end ([`Deadlines`]). After warm-up it allocates nothing per
//! trade.

mod acc;

use crate::chain;
use crate::deadlines::Deadlines;
use crate::window::{Beyond, LatePolicy, Tumbling};
use acc::{add, bar, deadline, flat_bar, fresh, Acc, Key, Slot, UNQUEUED};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;
use ticklane_engine::{
    Bar, Batch, ConfigCheck, ConfigError, ConfigViolation, Counter, DagBuilder, Kind, Operator, Outputs, Stamped,
    Timestamp, Trade, WM_END,
};

/// Flat bars emitted for empty windows.
pub const FLAT_BARS: Counter = Counter::new("ticklane_flat_bars_total");
/// Trades judged late, under every policy.
pub const LATE_EVENTS: Counter = Counter::new("ticklane_late_events_total");
/// Late trades that updated a retained window (a revision was emitted).
pub const LATE_REVISED: Counter = Counter::new("ticklane_late_revised_total");
/// Late trades dropped.
pub const LATE_DROPPED: Counter = Counter::new("ticklane_late_dropped_total");
/// Late trades sent to the side output.
pub const LATE_SIDE: Counter = Counter::new("ticklane_late_side_total");
/// Bars emitted, revisions included.
pub const BARS: Counter = Counter::new("ticklane_bars_total");
/// Bars whose volume or notional saturated.
pub const BAR_OVERFLOW: Counter = Counter::new("ticklane_bar_overflow_total");
/// Trades dropped because their window cannot be represented (see
/// [`Tumbling::valid_range`]).
pub const OUT_OF_RANGE: Counter = Counter::new("ticklane_bar_out_of_range_total");

/// What empty windows produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EmptyBars {
    /// Nothing (the default).
    #[default]
    Skip,
    /// Flat bars between an instrument's first and last trade (see the module docs).
    Flat,
}

/// What became of a late trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Late {
    /// Added to its window (a revision).
    Folded,
    /// Dropped (counted).
    Dropped,
    /// Sent to the side output (counted).
    Sided,
}

/// Configuration of [`TimeBars`], built by [`TimeBarsConfig::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBarsConfig {
    window: Tumbling,
    late: LatePolicy,
    empty: EmptyBars,
    forward: bool,
}

/// Builds a [`TimeBarsConfig`].
#[derive(Clone, Copy, Debug)]
pub struct TimeBarsBuilder {
    width: Duration,
    offset: Duration,
    late: LatePolicy,
    empty: EmptyBars,
    forward: bool,
}

impl TimeBarsConfig {
    /// Bars of `width` (positive), epoch-aligned, late trades dropped, empty windows skipped
    /// unless the builder says otherwise.
    pub fn builder(width: Duration) -> TimeBarsBuilder {
        TimeBarsBuilder {
            width,
            offset: Duration::ZERO,
            late: LatePolicy::Drop,
            empty: EmptyBars::Skip,
            forward: false,
        }
    }

    /// Window assignment.
    pub fn window(&self) -> Tumbling {
        self.window
    }

    /// The late-trade policy.
    pub fn late(&self) -> LatePolicy {
        self.late
    }

    /// The empty-window policy.
    pub fn empty_bars(&self) -> EmptyBars {
        self.empty
    }

    /// The output port a coarser [`Resample`](crate::Resample) reads (see
    /// [`TimeBarsBuilder::chain`]), when there is one: after the bars (0) and the late side
    /// output (1, when the policy has one).
    pub fn chain_port(&self) -> Option<usize> {
        chain::port(self.late, self.forward)
    }
}

impl TimeBarsBuilder {
    /// The late-trade policy (default `Drop`).
    pub fn late(mut self, late: LatePolicy) -> Self {
        self.late = late;
        self
    }

    /// The empty-window policy (default `Skip`; `Flat` does not combine with `Revise`).
    pub fn empty_bars(mut self, empty: EmptyBars) -> Self {
        self.empty = empty;
        self
    }

    /// Shifts window alignment by `offset` (`0 <= offset < width`).
    pub fn offset(mut self, offset: Duration) -> Self {
        self.offset = offset;
        self
    }

    /// Adds an output for a coarser [`Resample`](crate::Resample) (its port:
    /// [`TimeBarsConfig::chain_port`]): every bar and revision, and, in the order they came,
    /// the trades this operator did not fold in (too late: dropped or sent to the side output,
    /// counted so here), each as a one-trade bar of zero width (`window_start == window_end
    /// == ts_event`), so that the coarser level can judge them against its own windows — a
    /// trade too late for its 1 s bar may be on time for its 1 m bar. Before each revision it
    /// puts a mark (a zero-width bar without trades) stamped like the revision.
    pub fn chain(mut self, forward: bool) -> Self {
        self.forward = forward;
        self
    }

    /// Checks every parameter.
    pub fn build(self) -> Result<TimeBarsConfig, ConfigError> {
        let mut c = ConfigCheck::new();
        let window = Tumbling::check(&mut c, self.width, self.offset);
        c.require(!(self.empty == EmptyBars::Flat && matches!(self.late, LatePolicy::Revise { .. })), || {
            ConfigViolation::Unsupported { what: "flat empty bars together with the revise late policy" }
        });
        c.finish(TimeBarsConfig { window, late: self.late, empty: self.empty, forward: self.forward })
    }
}

/// Adds [`TimeBars`] to a graph.
pub trait TimeBarsExt {
    /// OHLCV time bars named `name`: input trades; output 0 bars; output 1 late trades when
    /// the late policy has a side output.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ticklane_engine::{Bar, Config, DagBuilder, Engine, Fixed, Kind, Trade};
    /// use ticklane_operators::{TimeBarsConfig, TimeBarsExt};
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .time_bars("1s", TimeBarsConfig::builder(Duration::from_secs(1)).build()?)
    ///     .sink_egress("out", Kind::Bar)
    ///     .connect("feed", "1s")
    ///     .connect("1s", "out");
    /// let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
    /// let (mut feed, mut out) = (engine.ingress::<Trade>("feed")?, engine.egress::<Bar>("out")?);
    /// let es = feed.intern("GLBX.MDP3:ESH4")?;
    /// for (ts, px) in [(0, "4800.25"), (400_000_000, "4801"), (1_200_000_000, "4799.5")] {
    ///     feed.push(Trade { ts_event: ts, instrument: es, price: Fixed::parse(px)?, size: Fixed::ONE, ..Trade::default() })?;
    /// }
    /// drop(feed); // the end of input fires every window
    /// let bars: Vec<Bar> = out.by_ref().map(|b| b.rec).collect();
    /// engine.join()?;
    /// assert_eq!(bars.len(), 2);
    /// assert_eq!((bars[0].open.to_string(), bars[0].close.to_string(), bars[0].trade_count), ("4800.25".into(), "4801".into(), 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn time_bars(&mut self, name: &str, cfg: TimeBarsConfig) -> &mut Self;
}

impl TimeBarsExt for DagBuilder {
    fn time_bars(&mut self, name: &str, cfg: TimeBarsConfig) -> &mut Self {
        self.operator(name, &[Kind::Trade], chain::outputs(cfg.late, cfg.forward), move |_| {
            Box::new(TimeBars::new(cfg))
        })
    }
}

/// Counters of one [`TimeBars`] instance (published as [`LATE_EVENTS`], [`BARS`], …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeBarsCounters {
    /// Trades judged late (all policies).
    pub late: u64,
    /// Late trades that updated a retained window (a revision was emitted).
    pub revised: u64,
    /// Late trades dropped.
    pub late_dropped: u64,
    /// Late trades sent to the side output.
    pub late_side: u64,
    /// Bars emitted (including revisions).
    pub bars: u64,
    /// Accumulator overflows (saturated).
    pub overflow: u64,
    /// Flat bars emitted for empty windows.
    pub flat: u64,
    /// Trades dropped because their window cannot be represented.
    pub out_of_range: u64,
}

/// The time-bar operator: input 0 trades; output 0 bars; output 1 late trades when the policy
/// has a side output.
pub struct TimeBars {
    cfg: TimeBarsConfig,
    wm: Timestamp,
    slots: Vec<Slot>,
    due: Deadlines,
    /// Under `Flat`: per instrument, the end of the earliest flat bar it may still emit
    /// (lazily invalidated entries).
    holds: BinaryHeap<Reverse<(Timestamp, u32)>>,
    /// The minimum over `holds` (`WM_END` when none).
    hold: Timestamp,
    counters: TimeBarsCounters,
    /// The `ts_event`s whose windows are representable ([`Tumbling::valid_range`]).
    range: (Timestamp, Timestamp),
    /// With a chain output: what this batch passes on (trades not folded in, marks).
    passed: chain::Passed,
    /// Where this batch's bars begin in the output vector.
    base: usize,
}

impl TimeBars {
    /// A fresh instance (one per shard).
    pub fn new(cfg: TimeBarsConfig) -> TimeBars {
        TimeBars {
            cfg,
            wm: i64::MIN,
            slots: Vec::new(),
            due: Deadlines::new(),
            holds: BinaryHeap::new(),
            hold: WM_END,
            counters: TimeBarsCounters::default(),
            range: cfg.window.valid_range(),
            passed: chain::Passed::default(),
            base: 0,
        }
    }

    /// The earliest stamp this instance may still emit (see `Operator::hold`).
    pub fn hold(&self) -> Timestamp {
        self.hold
    }

    /// The counters so far.
    pub fn counters(&self) -> TimeBarsCounters {
        self.counters
    }

    fn deadline(&self, a: &Acc) -> Timestamp {
        deadline(a, self.cfg.late.horizon())
    }

    fn schedule(&mut self, inst: u32) {
        let next = self.slots[inst as usize].iter().map(|a| self.deadline(a)).min();
        let slot = &mut self.slots[inst as usize];
        match next {
            Some(d) if d < slot.scheduled => {
                slot.scheduled = d;
                self.due.push(d, inst);
            }
            _ => {}
        }
    }

    /// Moves the watermark to `wm`; fires every window with `end ≤ wm` and evicts retained
    /// windows past their horizon. Called per trade, so the common case — nothing due — is an
    /// inline compare against the earliest deadline (forced: left to the compiler it stayed a
    /// call per trade, 5% of a 1-shard DBN replay's CPU, 2026-12-05).
    #[inline(always)]
    fn advance(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<Bar>>) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        if self.due.next() <= wm {
            self.fire_due(wm, bars);
        }
    }

    fn fire_due(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<Bar>>) {
        let horizon = self.cfg.late.horizon();
        while let Some((deadline, inst)) = self.due.pop_due(wm) {
            let i = inst as usize;
            if self.slots[i].scheduled != deadline {
                continue; // stale entry: the slot was rescheduled earlier
            }
            let flat = self.cfg.empty == EmptyBars::Flat;
            let width = self.cfg.window.width();
            let slot = &mut self.slots[i];
            slot.scheduled = UNQUEUED;
            for a in slot.older.iter_mut().chain(slot.newest.iter_mut()) {
                if !a.fired && a.end <= wm {
                    a.fired = true;
                    if flat {
                        if let Some((mut end, close)) = slot.last {
                            // The empty windows since this instrument's previous bar.
                            while end < a.start {
                                let rec = flat_bar(inst, end, width, close);
                                bars.push(Stamped { wm: rec.window_end, rec });
                                self.counters.flat += 1;
                                end = end.saturating_add(width);
                            }
                        }
                        slot.last = Some((a.end, a.close));
                        self.holds.push(Reverse((a.end.saturating_add(width), inst)));
                    }
                    bars.push(Stamped { wm: a.end, rec: bar(inst, a) });
                    self.counters.bars += 1;
                }
            }
            slot.retain(|a| !(a.fired && a.end.saturating_add(horizon) <= wm));
            self.schedule(inst);
        }
        if self.cfg.empty == EmptyBars::Flat {
            self.refresh_hold();
        }
    }

    /// Recomputes the flat-bar hold: the smallest still-valid entry of `holds`.
    fn refresh_hold(&mut self) {
        let width = self.cfg.window.width();
        self.hold = WM_END;
        while let Some(&Reverse((h, inst))) = self.holds.peek() {
            let current = self.slots[inst as usize].last.map(|(end, _)| end.saturating_add(width));
            if current == Some(h) {
                self.hold = h;
                break;
            }
            self.holds.pop(); // superseded by a later bar of that instrument
        }
    }

    fn late(&mut self, t: &Stamped<Trade>, start: Timestamp, key: Key, bars: &mut Vec<Stamped<Bar>>) -> Late {
        self.counters.late += 1;
        let (horizon, beyond) = match self.cfg.late {
            LatePolicy::Drop => (None, Beyond::Drop),
            LatePolicy::Side => (None, Beyond::Side),
            LatePolicy::Revise { allowed_lateness, beyond } => (Some(allowed_lateness), beyond),
        };
        let end = self.cfg.window.end(start);
        if horizon.is_some_and(|h| end.saturating_add(h) > t.wm) {
            self.revise(t, start, end, key, bars);
            return Late::Folded;
        }
        match beyond {
            Beyond::Drop => {
                self.counters.late_dropped += 1;
                Late::Dropped
            }
            Beyond::Side => {
                self.counters.late_side += 1;
                Late::Sided
            }
        }
    }

    /// A late trade inside the horizon: its window updated (created if it never had a trade)
    /// and its bar re-emitted, stamped with the trade's watermark.
    fn revise(&mut self, t: &Stamped<Trade>, start: Timestamp, end: Timestamp, key: Key, bars: &mut Vec<Stamped<Bar>>) {
        let inst = t.rec.instrument.0;
        let slot = &mut self.slots[inst as usize];
        let a = match slot.find_mut(start) {
            Some(a) => {
                add(a, &t.rec, key, &mut self.counters.overflow);
                a.revision += 1;
                *a
            }
            None => {
                // No bar was ever emitted for this window: create it, already fired.
                let mut a = fresh(start, end, &t.rec, key);
                a.fired = true;
                slot.insert(a);
                a
            }
        };
        if self.cfg.forward {
            // On the chain, a mark before the revision: "the watermark is here now".
            self.passed.push(bars.len() - self.base, Stamped { wm: t.wm, rec: chain::mark(t.rec.instrument) });
        }
        bars.push(Stamped { wm: t.wm, rec: bar(inst, &a) });
        self.counters.revised += 1;
        self.counters.bars += 1;
        self.schedule(inst);
    }

    /// Processes trades; late ones bound for the side output are pushed to `side`. With a
    /// chain output, the trades passed on are kept for [`TimeBars::chain_into`], placed
    /// relative to the bars pushed onto `bars` from its current length.
    pub fn process(
        &mut self,
        input: &[Stamped<Trade>],
        bars: &mut Vec<Stamped<Bar>>,
        side: Option<&mut Vec<Stamped<Trade>>>,
    ) {
        self.process_from(bars.len(), input, bars, side);
    }

    fn process_from(
        &mut self,
        base: usize,
        input: &[Stamped<Trade>],
        bars: &mut Vec<Stamped<Bar>>,
        mut side: Option<&mut Vec<Stamped<Trade>>>,
    ) {
        self.passed.clear();
        self.base = base;
        let (lo, hi) = self.range;
        for t in input {
            self.advance(t.wm, bars); // judge the trade against the watermark before it
            let tr = &t.rec;
            if tr.ts_event < lo || tr.ts_event > hi {
                self.counters.out_of_range += 1;
                continue;
            }
            let inst = tr.instrument.0 as usize;
            if self.slots.len() <= inst {
                self.slots.resize_with(inst + 1, Slot::new);
            }
            let slot = &mut self.slots[inst];
            slot.arrivals += 1;
            let key = (tr.ts_event, tr.ts_recv, slot.arrivals);
            // Most trades fall in their instrument's newest window, still open: no division
            // to find the window (what the general path below does for them, exactly).
            if let Some(a) = slot.newest.as_mut().filter(|a| (a.start..a.end).contains(&tr.ts_event) && a.end > t.wm) {
                add(a, tr, key, &mut self.counters.overflow);
                continue;
            }
            let start = self.cfg.window.start(tr.ts_event);
            let end = self.cfg.window.end(start);
            if end <= t.wm {
                let verdict = self.late(t, start, key, bars);
                if verdict == Late::Sided {
                    if let Some(side) = side.as_deref_mut() {
                        side.push(*t);
                    }
                }
                if verdict != Late::Folded && self.cfg.forward {
                    self.passed.push(bars.len() - self.base, Stamped { wm: t.wm, rec: chain::one_trade_bar(tr) });
                }
                continue;
            }
            match slot.find_mut(start) {
                Some(a) => add(a, tr, key, &mut self.counters.overflow),
                None => {
                    slot.insert(fresh(start, end, tr, key));
                    self.schedule(inst as u32);
                }
            }
        }
    }

    /// Advances the watermark (fires due windows).
    pub fn watermark(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<Bar>>) {
        self.advance(wm, bars);
    }
}

impl TimeBars {
    /// The chain output of what was just emitted: `fresh` (the bars since the batch began)
    /// with the passed-on trades interleaved where they came.
    pub fn chain_into(&mut self, fresh: &[Stamped<Bar>], chain: &mut Vec<Stamped<Bar>>) {
        self.passed.interleave(fresh, chain);
    }
}

impl Operator for TimeBars {
    fn on_batch(&mut self, _input: usize, batch: &Batch, out: &mut Outputs<'_>) {
        let Some(trades) = batch.as_slice::<Trade>() else { return };
        let before = out.port::<Bar>(0).len();
        if self.cfg.late.has_side_output() {
            let (bars, side) = out.pair::<Bar, Trade>(0, 1);
            self.process_from(before, trades, bars, Some(side));
        } else {
            let bars = out.port::<Bar>(0);
            self.process_from(before, trades, bars, None);
        }
        self.passed.fill(self.cfg.chain_port(), before, out);
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Outputs<'_>) {
        let before = out.port::<Bar>(0).len();
        self.advance(wm, out.port::<Bar>(0));
        self.passed.fill(self.cfg.chain_port(), before, out);
    }

    fn hold(&self) -> Timestamp {
        TimeBars::hold(self)
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        let c = self.counters;
        report(FLAT_BARS, c.flat);
        report(LATE_EVENTS, c.late);
        report(LATE_REVISED, c.revised);
        report(LATE_DROPPED, c.late_dropped);
        report(LATE_SIDE, c.late_side);
        report(BARS, c.bars);
        report(BAR_OVERFLOW, c.overflow);
        report(OUT_OF_RANGE, c.out_of_range);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticklane_engine::{Fixed, InstrumentId};

    fn secs(s: u64) -> TimeBarsBuilder {
        TimeBarsConfig::builder(Duration::from_secs(s))
    }

    fn trade(inst: u32, ts: i64, px: i64, sz: i64) -> Trade {
        Trade {
            ts_event: ts,
            ts_recv: ticklane_engine::NO_TS,
            price: Fixed::from_raw(px),
            size: Fixed::from_raw(sz),
            instrument: InstrumentId(inst),
            ..Trade::default()
        }
    }

    fn run(
        cfg: TimeBarsConfig,
        input: &[Stamped<Trade>],
    ) -> (Vec<Stamped<Bar>>, Vec<Stamped<Trade>>, TimeBarsCounters) {
        let mut op = TimeBars::new(cfg);
        let (mut bars, mut side) = (Vec::new(), Vec::new());
        op.process(input, &mut bars, Some(&mut side));
        op.watermark(i64::MAX, &mut bars);
        (bars, side, op.counters())
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn ohlcv_with_ties_and_boundaries() {
        let cfg = secs(1).build().expect("cfg");
        let st = |wm, t| Stamped { wm, rec: t };
        let input = [
            st(i64::MIN, trade(0, 0, 10, 1)), // on the boundary: window [0,1)
            st(0, trade(0, 5, 12, 2)),
            st(5, trade(0, 5, 9, 3)),  // equal ts: arrival decides close
            st(5, trade(0, S, 11, 4)), // boundary: next window
        ];
        let (bars, _, c) = run(cfg, &input);
        assert_eq!(bars.len(), 2);
        let b = bars[0].rec;
        assert_eq!((b.open.raw(), b.high.raw(), b.low.raw(), b.close.raw()), (10, 12, 9, 9));
        assert_eq!((b.volume.raw(), b.trade_count, b.window_start, b.window_end), (6, 3, 0, S));
        // vwap = (10·1 + 12·2 + 9·3) / 6 = 61/6 = 10.1666… → 10 (raw units, half away from zero)
        assert_eq!(b.vwap.raw(), 10);
        assert_eq!(bars[0].wm, S);
        assert_eq!(bars[1].rec.window_start, S);
        assert_eq!(c.late, 0);
    }

    #[test]
    fn late_policies() {
        let st = |wm, t| Stamped { wm, rec: t };
        // wm before the 3rd trade is 2.5 s: window [1,2) fired; the trade at 1.5 s is late.
        let input = [
            st(i64::MIN, trade(0, S + 1, 10, 1)),
            st(S + 1, trade(0, 5 * S / 2, 10, 1)),
            st(5 * S / 2, trade(0, 3 * S / 2, 20, 1)),
        ];
        let base = secs(1);
        let (bars, side, c) = run(base.build().expect("cfg"), &input);
        assert_eq!((bars.len(), side.len(), c.late, c.late_dropped), (2, 0, 1, 1));
        let (_, side, c) = run(base.late(LatePolicy::Side).build().expect("cfg"), &input);
        assert_eq!((side.len(), c.late_side), (1, 1));
        let revise =
            base.late(LatePolicy::revise(Duration::from_secs(1), Beyond::Drop).expect("policy")).build().expect("cfg");
        let (bars, _, c) = run(revise, &input);
        assert_eq!((c.late, c.revised), (1, 1));
        let revs: Vec<_> = bars
            .iter()
            .filter(|b| b.rec.window_start == S)
            .map(|b| (b.rec.revision, b.rec.trade_count, b.wm))
            .collect();
        assert_eq!(revs, vec![(0, 1, 2 * S), (1, 2, 5 * S / 2)]);
        // Beyond the horizon (0.4 s): dropped.
        let tight = base
            .late(LatePolicy::revise(Duration::from_millis(400), Beyond::Side).expect("policy"))
            .build()
            .expect("cfg");
        let (_, side, c) = run(tight, &input);
        assert_eq!((c.revised, c.late_side, side.len()), (0, 1, 1));
    }

    #[test]
    fn flat_bars_fill_gaps_between_trades_and_hold_output() {
        let cfg = secs(1).empty_bars(EmptyBars::Flat).build().expect("flat");
        let st = |wm, t| Stamped { wm, rec: t };
        let mut op = TimeBars::new(cfg);
        let mut bars = Vec::new();
        op.process(&[st(i64::MIN, trade(0, 0, 10, 1))], &mut bars, None);
        op.watermark(S, &mut bars); // window [0,1) fires
        assert_eq!(bars.len(), 1);
        assert_eq!(op.hold(), 2 * S, "a flat bar ending at 2 s may still come");
        op.watermark(5 * S, &mut bars); // nothing traded: no flat bar yet, hold stays
        assert_eq!((bars.len(), op.hold()), (1, 2 * S));
        op.process(&[st(5 * S, trade(0, 5 * S, 12, 1))], &mut bars, None);
        op.watermark(i64::MAX, &mut bars);
        let got: Vec<_> =
            bars.iter().map(|b| (b.wm, b.rec.window_start / S, b.rec.trade_count, b.rec.close.raw())).collect();
        // Flat [1,2) … [4,5) at the previous close 10, then the real bar [5,6).
        assert_eq!(
            got,
            vec![
                (S, 0, 1, 10),
                (2 * S, 1, 0, 10),
                (3 * S, 2, 0, 10),
                (4 * S, 3, 0, 10),
                (5 * S, 4, 0, 10),
                (6 * S, 5, 1, 12)
            ]
        );
        assert_eq!(op.counters().flat, 4);
    }

    #[test]
    fn build_reports_every_violation() {
        let revise = LatePolicy::revise(Duration::from_secs(1), Beyond::Drop).expect("policy");
        let e = TimeBarsConfig::builder(Duration::ZERO)
            .offset(Duration::MAX)
            .late(revise)
            .empty_bars(EmptyBars::Flat)
            .build()
            .expect_err("invalid");
        assert!(
            matches!(
                e.violations[..],
                [
                    ConfigViolation::Zero { param: "window width" },
                    ConfigViolation::TooLarge { param: "window offset", .. },
                    ConfigViolation::Unsupported { .. }
                ]
            ),
            "{e}"
        );
    }
}
