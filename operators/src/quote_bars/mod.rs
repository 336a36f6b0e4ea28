//! Quote bars over event-time tumbling windows (design.md §3): per instrument and window the
//! bid and ask OHLC, the spread's minimum, maximum and time-weighted mean, the quote count and
//! the crossed count.
//!
//! Windows, firing, stamps and late policies are the time bars' (see `time_bars`): a window
//! fires when the watermark reaches its end and its bar is stamped with `window_end`; a quote
//! is late when `window_end ≤` the watermark before it, and is dropped, sent to the side
//! output (port 1, quotes) or, under `revise`, added to the retained window, whose bar is
//! re-emitted with `revision + 1` stamped with the late quote's watermark. Every late quote
//! is counted. A quote whose window cannot be represented is dropped and counted in
//! `OUT_OF_RANGE`.
//!
//! Memory: a window holds its quotes (40 bytes each) until it fires or, under `revise`,
//! until its horizon passes; buffers are recycled.

mod points;

use crate::chain;
use crate::deadlines::Deadlines;
use crate::time_bars::{LATE_DROPPED, LATE_EVENTS, LATE_REVISED, LATE_SIDE, OUT_OF_RANGE};
use crate::window::{Beyond, LatePolicy, Tumbling};
use points::{Point, Win};
use std::time::Duration;
use ticklane_engine::{
    Batch, ConfigCheck, ConfigError, Counter, DagBuilder, Kind, Operator, Outputs, Quote, QuoteBar, Stamped, Timestamp,
};

/// Quote bars emitted, revisions included.
pub const QUOTE_BARS: Counter = Counter::new("ticklane_quote_bars_total");
/// Spreads beyond the `i64` range (saturated).
pub const SPREAD_SATURATED: Counter = Counter::new("ticklane_spread_saturated_total");

/// Configuration of [`QuoteBars`], built by [`QuoteBarsConfig::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteBarsConfig {
    window: Tumbling,
    late: LatePolicy,
    forward: bool,
}

/// Builds a [`QuoteBarsConfig`].
#[derive(Clone, Copy, Debug)]
pub struct QuoteBarsBuilder {
    width: Duration,
    offset: Duration,
    late: LatePolicy,
    forward: bool,
}

impl QuoteBarsConfig {
    /// Quote bars of `width` (positive), epoch-aligned, late quotes dropped unless the builder
    /// says otherwise.
    pub fn builder(width: Duration) -> QuoteBarsBuilder {
        QuoteBarsBuilder { width, offset: Duration::ZERO, late: LatePolicy::Drop, forward: false }
    }

    /// Window assignment.
    pub fn window(&self) -> Tumbling {
        self.window
    }

    /// The late-quote policy.
    pub fn late(&self) -> LatePolicy {
        self.late
    }

    /// The chain output's port (for a [`QuoteResample`](crate::QuoteResample), see
    /// [`QuoteBarsBuilder::chain`]), when there is one: after the quote bars (0) and the late
    /// side output when the policy has one.
    pub fn chain_port(&self) -> Option<usize> {
        chain::port(self.late, self.forward)
    }
}

impl QuoteBarsBuilder {
    /// The late-quote policy (default `Drop`).
    pub fn late(mut self, late: LatePolicy) -> Self {
        self.late = late;
        self
    }

    /// Shifts window alignment by `offset` (`0 <= offset < width`).
    pub fn offset(mut self, offset: Duration) -> Self {
        self.offset = offset;
        self
    }

    /// Adds a chain output for a coarser [`QuoteResample`](crate::QuoteResample): every quote
    /// bar and revision, each revision after a mark (a zero-width quote bar without quotes,
    /// stamped like it) that moves the coarser level's watermark first.
    pub fn chain(mut self, forward: bool) -> Self {
        self.forward = forward;
        self
    }

    /// Checks every parameter.
    pub fn build(self) -> Result<QuoteBarsConfig, ConfigError> {
        let mut c = ConfigCheck::new();
        let window = Tumbling::check(&mut c, self.width, self.offset);
        c.finish(QuoteBarsConfig { window, late: self.late, forward: self.forward })
    }
}

/// Adds [`QuoteBars`] to a graph.
pub trait QuoteBarsExt {
    /// Quote bars named `name`: input quotes; output 0 quote bars; output 1 late quotes when
    /// the late policy has a side output; then the chain output if asked.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ticklane_engine::{Config, DagBuilder, Engine, Fixed, Kind, Quote, QuoteBar};
    /// use ticklane_operators::{QuoteBarsConfig, QuoteBarsExt};
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("book", Kind::Quote)
    ///     .quote_bars("1s", QuoteBarsConfig::builder(Duration::from_secs(1)).build()?)
    ///     .sink_egress("out", Kind::QuoteBar)
    ///     .connect("book", "1s")
    ///     .connect("1s", "out");
    /// let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
    /// let (mut book, mut out) = (engine.ingress::<Quote>("book")?, engine.egress::<QuoteBar>("out")?);
    /// let btc = book.intern("binance:BTCUSDT")?;
    /// let px = |s| Fixed::parse(s);
    /// // Spread 0.01 for 0.25 s, then 0.03 for the rest of the second: twa = 0.025.
    /// book.push(Quote { ts_event: 0, instrument: btc, ..Quote::default() }
    ///     .with_bid(px("61000")?, Fixed::ONE).with_ask(px("61000.01")?, Fixed::ONE))?;
    /// book.push(Quote { ts_event: 250_000_000, instrument: btc, ..Quote::default() }
    ///     .with_bid(px("60999.99")?, Fixed::ONE).with_ask(px("61000.02")?, Fixed::ONE))?;
    /// drop(book); // the end of input fires every window
    /// let bars: Vec<QuoteBar> = out.by_ref().map(|b| b.rec).collect();
    /// engine.join()?;
    /// assert_eq!(bars[0].spread_twa, Some(px("0.025")?));
    /// assert_eq!((bars[0].bid_low, bars[0].quote_count), (Some(px("60999.99")?), 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn quote_bars(&mut self, name: &str, cfg: QuoteBarsConfig) -> &mut Self;
}

impl QuoteBarsExt for DagBuilder {
    fn quote_bars(&mut self, name: &str, cfg: QuoteBarsConfig) -> &mut Self {
        let outputs = chain::quote_outputs(cfg.late, cfg.forward);
        self.operator(name, &[Kind::Quote], outputs, move |_| Box::new(QuoteBars::new(cfg)))
    }
}

/// Counters of one [`QuoteBars`] instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuoteBarsCounters {
    /// Quotes judged late (all policies).
    pub late: u64,
    /// Late quotes that updated a retained window (a revision was emitted).
    pub revised: u64,
    /// Late quotes dropped.
    pub late_dropped: u64,
    /// Late quotes sent to the side output.
    pub late_side: u64,
    /// Quote bars emitted (including revisions).
    pub bars: u64,
    /// Spreads that saturated.
    pub saturated: u64,
    /// Quotes dropped because their window cannot be represented.
    pub out_of_range: u64,
}

/// One instrument's windows, ascending by start (a few: the open one, and those retained for
/// revisions).
struct Slot {
    windows: Vec<Win>,
    /// The deadline this slot is queued under (`i64::MAX`: not queued).
    scheduled: Timestamp,
}

const UNQUEUED: Timestamp = i64::MAX;

/// The quote-bar operator: input 0 quotes; output 0 quote bars; output 1 late quotes when the
/// policy has a side output.
pub struct QuoteBars {
    cfg: QuoteBarsConfig,
    wm: Timestamp,
    slots: Vec<Slot>,
    due: Deadlines,
    /// Emptied point buffers, for the next windows.
    spare: Vec<Vec<Point>>,
    counters: QuoteBarsCounters,
    range: (Timestamp, Timestamp),
    /// With a chain output: the marks this batch puts before its revisions.
    passed: chain::Passed<QuoteBar>,
    /// Where this batch's bars begin in the output.
    base: usize,
}

impl QuoteBars {
    /// A fresh instance (one per shard).
    pub fn new(cfg: QuoteBarsConfig) -> QuoteBars {
        QuoteBars {
            cfg,
            wm: i64::MIN,
            slots: Vec::new(),
            due: Deadlines::new(),
            spare: Vec::new(),
            counters: QuoteBarsCounters::default(),
            range: cfg.window.valid_range(),
            passed: chain::Passed::default(),
            base: 0,
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> QuoteBarsCounters {
        self.counters
    }

    fn deadline(&self, w: &Win) -> Timestamp {
        if w.fired {
            w.end.saturating_add(self.cfg.late.horizon())
        } else {
            w.end
        }
    }

    fn schedule(&mut self, inst: u32) {
        let next = self.slots[inst as usize].windows.iter().map(|w| self.deadline(w)).min();
        let slot = &mut self.slots[inst as usize];
        if let Some(d) = next.filter(|&d| d < slot.scheduled) {
            slot.scheduled = d;
            self.due.push(d, inst);
        }
    }

    /// Moves the watermark to `wm`: fires every window with `end ≤ wm`, evicts retained windows
    /// past their horizon.
    #[inline]
    fn advance(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<QuoteBar>>) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        while let Some((deadline, inst)) = self.due.pop_due(wm) {
            if self.slots[inst as usize].scheduled == deadline {
                self.fire(inst, wm, bars); // else a stale entry: the slot was rescheduled
            }
        }
    }

    fn fire(&mut self, inst: u32, wm: Timestamp, bars: &mut Vec<Stamped<QuoteBar>>) {
        let horizon = self.cfg.late.horizon();
        let slot = &mut self.slots[inst as usize];
        slot.scheduled = UNQUEUED;
        for w in slot.windows.iter_mut().filter(|w| !w.fired && w.end <= wm) {
            w.fired = true;
            bars.push(Stamped { wm: w.end, rec: w.bar(inst, &mut self.counters.saturated) });
            self.counters.bars += 1;
        }
        let spare = &mut self.spare;
        slot.windows.retain_mut(|w| {
            let keep = !(w.fired && w.end.saturating_add(horizon) <= wm);
            if !keep {
                let mut points = std::mem::take(&mut w.points);
                points.clear();
                spare.push(points);
            }
            keep
        });
        self.schedule(inst);
    }

    /// The window of `inst` starting at `start`, created (not fired) if missing.
    fn window(&mut self, inst: u32, start: Timestamp) -> &mut Win {
        let end = self.cfg.window.end(start);
        let slot = &mut self.slots[inst as usize];
        let at = slot.windows.iter().rposition(|w| w.start <= start);
        match at {
            Some(i) if slot.windows[i].start == start => &mut slot.windows[i],
            _ => {
                let points = self.spare.pop().unwrap_or_default();
                let i = at.map_or(0, |i| i + 1);
                slot.windows.insert(i, Win { start, end, points, fired: false, revision: 0 });
                &mut slot.windows[i]
            }
        }
    }

    /// A late quote: counted; under `revise` within the horizon, its window's bar is
    /// re-emitted. Whether it goes to the side output.
    fn late(&mut self, q: &Stamped<Quote>, start: Timestamp, bars: &mut Vec<Stamped<QuoteBar>>) -> bool {
        self.counters.late += 1;
        let beyond = match self.cfg.late {
            LatePolicy::Drop => Beyond::Drop,
            LatePolicy::Side => Beyond::Side,
            LatePolicy::Revise { allowed_lateness, beyond } => {
                if self.cfg.window.end(start).saturating_add(allowed_lateness) > q.wm {
                    self.revise(q, start, bars);
                    return false;
                }
                beyond
            }
        };
        match beyond {
            Beyond::Drop => self.counters.late_dropped += 1,
            Beyond::Side => self.counters.late_side += 1,
        }
        beyond == Beyond::Side
    }

    fn revise(&mut self, q: &Stamped<Quote>, start: Timestamp, bars: &mut Vec<Stamped<QuoteBar>>) {
        let inst = q.rec.instrument.0;
        let mut saturated = 0;
        let w = self.window(inst, start);
        if w.fired {
            w.revision += 1;
        }
        // A window that never had a quote is created here, already fired: revision 0.
        w.fired = true;
        w.points.push(Point::new(&q.rec, w.points.len()));
        let rec = w.bar(inst, &mut saturated);
        if self.cfg.forward {
            // On the chain, a mark before the revision: "the watermark is here now".
            self.passed.push(bars.len() - self.base, Stamped { wm: q.wm, rec: chain::quote_mark(rec.instrument) });
        }
        bars.push(Stamped { wm: q.wm, rec });
        self.counters.saturated += saturated;
        self.counters.revised += 1;
        self.counters.bars += 1;
        self.schedule(inst);
    }

    /// Processes quotes; late ones bound for the side output are pushed to `side`. With a
    /// chain output, the marks before revisions are kept for [`QuoteBars::chain_into`].
    pub fn process(
        &mut self,
        input: &[Stamped<Quote>],
        bars: &mut Vec<Stamped<QuoteBar>>,
        mut side: Option<&mut Vec<Stamped<Quote>>>,
    ) {
        self.passed.clear();
        self.base = bars.len();
        let (lo, hi) = self.range;
        for q in input {
            self.advance(q.wm, bars); // judge the quote against the watermark before it
            let ts = q.rec.ts_event;
            if ts < lo || ts > hi {
                self.counters.out_of_range += 1;
                continue;
            }
            let inst = q.rec.instrument.0;
            if self.slots.len() <= inst as usize {
                self.slots.resize_with(inst as usize + 1, || Slot { windows: Vec::new(), scheduled: UNQUEUED });
            }
            let start = self.cfg.window.start(ts);
            if self.cfg.window.end(start) <= q.wm {
                if self.late(q, start, bars) {
                    if let Some(side) = side.as_deref_mut() {
                        side.push(*q);
                    }
                }
                continue;
            }
            let w = self.window(inst, start);
            w.points.push(Point::new(&q.rec, w.points.len()));
            if w.points.len() == 1 {
                self.schedule(inst);
            }
        }
    }

    /// Advances the watermark (fires due windows).
    pub fn watermark(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<QuoteBar>>) {
        self.advance(wm, bars);
    }

    /// The chain output of what was just emitted: `fresh` (the bars since
    /// [`QuoteBars::process`] began) with a mark before each revision.
    pub fn chain_into(&mut self, fresh: &[Stamped<QuoteBar>], chain: &mut Vec<Stamped<QuoteBar>>) {
        self.passed.interleave(fresh, chain);
    }
}

impl Operator for QuoteBars {
    fn on_batch(&mut self, _input: usize, batch: &Batch, out: &mut Outputs<'_>) {
        let Some(quotes) = batch.as_slice::<Quote>() else { return };
        let before = out.port::<QuoteBar>(0).len();
        if self.cfg.late.has_side_output() {
            let (bars, side) = out.pair::<QuoteBar, Quote>(0, 1);
            self.process(quotes, bars, Some(side));
        } else {
            self.process(quotes, out.port::<QuoteBar>(0), None);
        }
        self.passed.fill(self.cfg.chain_port(), before, out);
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Outputs<'_>) {
        let before = out.port::<QuoteBar>(0).len();
        self.passed.clear();
        self.advance(wm, out.port::<QuoteBar>(0));
        self.passed.fill(self.cfg.chain_port(), before, out);
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        let c = self.counters;
        report(LATE_EVENTS, c.late);
        report(LATE_REVISED, c.revised);
        report(LATE_DROPPED, c.late_dropped);
        report(LATE_SIDE, c.late_side);
        report(QUOTE_BARS, c.bars);
        report(SPREAD_SATURATED, c.saturated);
        report(OUT_OF_RANGE, c.out_of_range);
    }
}

#[cfg(test)]
mod tests;
