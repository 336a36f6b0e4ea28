//! Resampling: bars of a coarse width `W` built from bars of a finer width `w` (`W` a whole
//! multiple of `w`, the same offset), equal byte for byte to the bars built at `W` directly
//! from the trades (design.md §3).
//!
//! Why that holds:
//! - A bar carries its exact notional and the `(ts_event, ts_recv)` of its open and close, so
//!   sums, the vwap and the open/close tie order compose exactly.
//! - A revised finer bar replaces its earlier revision; if the coarse bar was already emitted
//!   it is re-emitted with `revision + 1`, stamped with the finer revision's stamp (the late
//!   trade's watermark), as the direct bars would be. The chain puts a mark before each
//!   revision: the watermark moves to the late trade's first, so a coarse window that the
//!   direct bars had fired by then is fired here too before the revision reaches it.
//! - A trade too late for its finer bar can be on time for its coarse one: the finer operator
//!   passes such trades on, in order among its bars, on its chain output (as one-trade bars of
//!   zero width, `TimeBarsBuilder::chain`), and they are judged here against the coarse windows
//!   under this operator's own late policy, exactly as the direct bars would judge them. One
//!   ordered stream matters: two late trades carry the same stamp, and which came first decides
//!   what each revision holds.
//! - Bars without trades (flat bars) carry nothing and are ignored; a coarse window with no
//!   trade produces no bar.
//!
//! Input 0: the finer level's chain output. Output 0: coarse bars; output 1: late trades when
//! the policy has a side output (time, price and size only: the trade id and side do not
//! travel through the chain); then, with [`ResampleBuilder::chain`], a chain output for a
//! still coarser level. Memory: per instrument, the open and retained coarse windows, each
//! holding its finer bars (at most `W / w`) and the trades folded in directly.

mod coarse;
mod quotes;
mod windows;

use crate::chain;
use crate::time_bars::{BARS, BAR_OVERFLOW, LATE_DROPPED, LATE_EVENTS, LATE_REVISED, LATE_SIDE, OUT_OF_RANGE};
use crate::window::{Beyond, LatePolicy, Tumbling};
use coarse::Coarse;
pub use quotes::{QuoteResample, QuoteResampleExt};
use std::time::Duration;
use ticklane_engine::{
    Bar, Batch, ConfigCheck, ConfigError, ConfigViolation, Counter, DagBuilder, Kind, Operator, Outputs, Stamped,
    Timestamp, Trade,
};
use windows::Windows;

/// Configuration of [`Resample`], built by [`ResampleConfig::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResampleConfig {
    window: Tumbling,
    late: LatePolicy,
    forward: bool,
}

/// Builds a [`ResampleConfig`].
#[derive(Clone, Copy, Debug)]
pub struct ResampleBuilder {
    from: Duration,
    to: Duration,
    offset: Duration,
    late: LatePolicy,
    forward: bool,
}

impl ResampleConfig {
    /// Bars of width `to` from bars of width `from` (`to` a whole multiple of `from`), late
    /// trades dropped unless the builder says otherwise.
    pub fn builder(from: Duration, to: Duration) -> ResampleBuilder {
        ResampleBuilder { from, to, offset: Duration::ZERO, late: LatePolicy::Drop, forward: false }
    }

    /// The coarse windows.
    pub fn window(&self) -> Tumbling {
        self.window
    }

    /// The chain output's port, when there is one.
    pub fn chain_port(&self) -> Option<usize> {
        chain::port(self.late, self.forward)
    }
}

impl ResampleBuilder {
    /// The late policy for trades passed on by the finer level (and the horizon within which
    /// finer revisions revise coarse bars); the same as the finer level's for exact results.
    pub fn late(mut self, late: LatePolicy) -> Self {
        self.late = late;
        self
    }

    /// The windows' offset, the same as the finer bars' (`0 <= offset < from`).
    pub fn offset(mut self, offset: Duration) -> Self {
        self.offset = offset;
        self
    }

    /// Adds a chain output for a still coarser level: every coarse bar and revision and the
    /// trades not folded in here, in order (as `TimeBarsBuilder::chain`).
    pub fn chain(mut self, forward: bool) -> Self {
        self.forward = forward;
        self
    }

    /// Checks every parameter.
    pub fn build(self) -> Result<ResampleConfig, ConfigError> {
        let mut c = ConfigCheck::new();
        let fine = Tumbling::check(&mut c, self.from, self.offset);
        let window = Tumbling::check(&mut c, self.to, self.offset);
        let (w, big) = (fine.width(), window.width());
        c.require(w <= 0 || big <= 0 || (big >= w && big % w == 0), || ConfigViolation::NotMultiple {
            param: "coarse width",
            value: format!("{:?}", self.to),
            of_param: "fine width",
            of: format!("{:?}", self.from),
        });
        c.finish(ResampleConfig { window, late: self.late, forward: self.forward })
    }
}

/// Adds [`Resample`] to a graph.
pub trait ResampleExt {
    /// Coarse bars named `name`: input 0 the finer level's chain output; output 0 coarse bars,
    /// output 1 late trades when the policy has a side output, then the chain output if asked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ticklane_engine::{Bar, Config, DagBuilder, Engine, Fixed, Kind, Trade};
    /// use ticklane_operators::{ResampleConfig, ResampleExt, TimeBarsConfig, TimeBarsExt};
    ///
    /// let (s, m) = (Duration::from_secs(1), Duration::from_secs(60));
    /// let fine = TimeBarsConfig::builder(s).chain(true).build()?;
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .time_bars("1s", fine)
    ///     .resample("1m", ResampleConfig::builder(s, m).build()?)
    ///     .sink_egress("seconds", Kind::Bar)
    ///     .sink_egress("out", Kind::Bar)
    ///     .connect("feed", "1s")
    ///     .connect("1s", "seconds")
    ///     .connect_ports("1s", fine.chain_port().unwrap_or(1), "1m", 0)
    ///     .connect("1m", "out");
    /// let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
    /// let (mut feed, mut out) = (engine.ingress::<Trade>("feed")?, engine.egress::<Bar>("out")?);
    /// let seconds = engine.egress::<Bar>("seconds")?;
    /// let seconds = std::thread::spawn(move || seconds.count());
    /// let es = feed.intern("GLBX.MDP3:ESH4")?;
    /// for (ts, px) in [(0, "4800.25"), (1_500_000_000, "4801"), (59_000_000_000, "4799.5")] {
    ///     feed.push(Trade { ts_event: ts, instrument: es, price: Fixed::parse(px)?, size: Fixed::ONE, ..Trade::default() })?;
    /// }
    /// drop(feed);
    /// let bars: Vec<Bar> = out.by_ref().map(|b| b.rec).collect();
    /// engine.join()?;
    /// assert_eq!((bars.len(), seconds.join().unwrap()), (1, 3));
    /// assert_eq!((bars[0].open.to_string(), bars[0].close.to_string(), bars[0].trade_count), ("4800.25".into(), "4799.5".into(), 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn resample(&mut self, name: &str, cfg: ResampleConfig) -> &mut Self;
}

impl ResampleExt for DagBuilder {
    fn resample(&mut self, name: &str, cfg: ResampleConfig) -> &mut Self {
        self.operator(name, &[Kind::Bar], chain::outputs(cfg.late, cfg.forward), move |_| Box::new(Resample::new(cfg)))
    }
}

/// Counters of one [`Resample`] instance (published under the time bars' counter names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResampleCounters {
    /// Passed-on trades late here too (all policies).
    pub late: u64,
    /// Coarse revisions emitted.
    pub revised: u64,
    /// Late trades dropped here.
    pub late_dropped: u64,
    /// Late trades sent to the side output.
    pub late_side: u64,
    /// Coarse bars emitted, revisions included.
    pub bars: u64,
    /// Saturated sums.
    pub overflow: u64,
    /// Trades whose window cannot be represented.
    pub out_of_range: u64,
}

/// The resampling operator (see the module docs).
pub struct Resample {
    cfg: ResampleConfig,
    windows: Windows<Coarse>,
    late: u64,
    late_dropped: u64,
    late_side: u64,
    out_of_range: u64,
    range: (Timestamp, Timestamp),
}

/// What becomes of a passed-on trade.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Late {
    /// Folded into its coarse window (on time, or a revision within the horizon).
    Folded,
    /// Dropped (counted).
    Dropped,
    /// Sent to the side output (counted).
    Sided,
}

/// Where an operator's output goes: coarse bars, and late trades when it has that output.
struct Out<'a> {
    bars: &'a mut Vec<Stamped<Bar>>,
    side: Option<&'a mut Vec<Stamped<Trade>>>,
    /// Where this batch's bars begin in `bars`.
    base: usize,
}

impl Resample {
    /// A fresh instance (one per shard).
    pub fn new(cfg: ResampleConfig) -> Resample {
        Resample {
            cfg,
            windows: Windows::new(&cfg),
            late: 0,
            late_dropped: 0,
            late_side: 0,
            out_of_range: 0,
            range: cfg.window.valid_range(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> ResampleCounters {
        let w = &self.windows;
        ResampleCounters {
            late: self.late,
            revised: w.revised,
            late_dropped: self.late_dropped,
            late_side: self.late_side,
            bars: w.bars,
            overflow: w.overflow,
            out_of_range: self.out_of_range,
        }
    }

    /// Processes the finer level's chain output: coarse bars into `bars`, late trades of a
    /// side-output policy into `side`. With a chain output of its own, the trades passed on
    /// are kept for [`Resample::chain_into`], placed relative to the bars pushed from now.
    pub fn process(
        &mut self,
        input: &[Stamped<Bar>],
        bars: &mut Vec<Stamped<Bar>>,
        side: Option<&mut Vec<Stamped<Trade>>>,
    ) {
        self.windows.passed.clear();
        let base = bars.len();
        self.on_bars(input, &mut Out { bars, side, base });
    }

    /// Advances the watermark (fires due coarse windows).
    pub fn watermark(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<Bar>>) {
        self.windows.advance(wm, bars);
    }

    /// This level's chain output of what was just emitted: `fresh` (the bars since
    /// [`Resample::process`] began) with the passed-on trades interleaved where they came.
    pub fn chain_into(&mut self, fresh: &[Stamped<Bar>], chain: &mut Vec<Stamped<Bar>>) {
        self.windows.passed.interleave(fresh, chain);
    }

    /// The finer level's chain output: marks (the watermark moves to their stamp), bars (each
    /// replacing its earlier revision; a coarse bar already emitted is revised) and passed-on
    /// trades.
    fn on_bars(&mut self, input: &[Stamped<Bar>], out: &mut Out<'_>) {
        for b in input {
            match (b.rec.window_start == b.rec.window_end, b.rec.trade_count) {
                (true, 0) => self.windows.advance(b.wm, out.bars),
                (true, _) => self.on_trade(b, out),
                (false, 0) => {} // a flat bar: no trades to add
                (false, _) => {
                    let (inst, start) = (b.rec.instrument.0, self.cfg.window.start(b.rec.window_start));
                    self.windows.fold(inst, start).put(b.rec);
                    self.windows.changed(inst, start, b.wm, out.bars, out.base);
                }
            }
        }
    }

    /// A trade the finer level passed on (a one-trade bar): judged against the coarse windows
    /// as the direct bars would judge it.
    fn on_trade(&mut self, t: &Stamped<Bar>, out: &mut Out<'_>) {
        self.windows.advance(t.wm, out.bars);
        let (lo, hi) = self.range;
        let ts = t.rec.window_start;
        if ts < lo || ts > hi {
            self.out_of_range += 1;
            return;
        }
        let (inst, start) = (t.rec.instrument.0, self.cfg.window.start(ts));
        let end = self.cfg.window.end(start);
        let verdict = if end <= t.wm { self.late(end, t.wm) } else { Late::Folded };
        if verdict == Late::Sided {
            if let Some(side) = out.side.as_deref_mut() {
                side.push(Stamped { wm: t.wm, rec: as_trade(&t.rec) });
            }
        }
        if verdict != Late::Folded {
            if self.cfg.forward {
                self.windows.passed.push(out.bars.len() - out.base, *t);
            }
            return;
        }
        let size = i64::try_from(t.rec.volume.raw()).unwrap_or(i64::MAX);
        self.windows.fold(inst, start).trade((ts, t.rec.open_at.1), t.rec.open, size);
        self.windows.changed(inst, start, t.wm, out.bars, out.base);
    }

    /// A passed-on trade late for its coarse window (ending at `end`) at watermark `wm`:
    /// counted, and what becomes of it.
    fn late(&mut self, end: Timestamp, wm: Timestamp) -> Late {
        self.late += 1;
        let beyond = match self.cfg.late {
            LatePolicy::Drop => Beyond::Drop,
            LatePolicy::Side => Beyond::Side,
            LatePolicy::Revise { allowed_lateness, beyond } => {
                if end.saturating_add(allowed_lateness) > wm {
                    return Late::Folded;
                }
                beyond
            }
        };
        match beyond {
            Beyond::Drop => {
                self.late_dropped += 1;
                Late::Dropped
            }
            Beyond::Side => {
                self.late_side += 1;
                Late::Sided
            }
        }
    }
}

/// A passed-on trade back as a trade (its id and side did not travel).
fn as_trade(b: &Bar) -> Trade {
    Trade {
        ts_event: b.window_start,
        ts_recv: b.open_at.1,
        price: b.open,
        size: ticklane_engine::Fixed::from_raw(i64::try_from(b.volume.raw()).unwrap_or(i64::MAX)),
        instrument: b.instrument,
        ..Trade::default()
    }
}

impl Operator for Resample {
    fn on_batch(&mut self, _input: usize, batch: &Batch, out: &mut Outputs<'_>) {
        let Some(bars) = batch.as_slice::<Bar>() else { return };
        let before = out.port::<Bar>(0).len();
        self.windows.passed.clear();
        if self.cfg.late.has_side_output() {
            let (b, side) = out.pair::<Bar, Trade>(0, 1);
            self.on_bars(bars, &mut Out { bars: b, side: Some(side), base: before });
        } else {
            self.on_bars(bars, &mut Out { bars: out.port::<Bar>(0), side: None, base: before });
        }
        self.windows.passed.fill(self.cfg.chain_port(), before, out);
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Outputs<'_>) {
        let before = out.port::<Bar>(0).len();
        self.windows.passed.clear();
        self.windows.advance(wm, out.port::<Bar>(0));
        self.windows.passed.fill(self.cfg.chain_port(), before, out);
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        let c = self.counters();
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
mod tests;
