//! Quote bars of a coarse width `W` built from quote bars of a finer width `w` (`W` a whole
//! multiple of `w`, the same offset): equal, byte for byte, to the quote bars built at `W`
//! directly from the quotes the finer level took in (design.md §3).
//!
//! Why that holds:
//! - The bid and ask OHLC, the spread's extremes and the counts compose like a trade bar's.
//! - The time-weighted spread composes because a quote bar carries its exact weighted sum and
//!   two-sided time, when its first quote came (`first_at`) and the spread of its last quote
//!   if that one is two-sided (`last_spread`). In the coarse bar that last quote weighs on
//!   past its fine window's end until the next fine bar's first quote, or the coarse window's
//!   end; a one-sided last quote stops the clock, as it does inside a window.
//! - Revisions and stamps work as for trade bars ([`Resample`](crate::Resample)): a revised
//!   finer bar replaces its earlier revision and re-emits an emitted coarse bar with
//!   `revision + 1`, after the chain's mark has moved the watermark to the revision's stamp.
//!
//! What does not travel: a quote too late for its finer bar (beyond that level's horizon) is
//! counted late there and is absent from the coarse bars too, even if the coarse window was
//! still open when it came. Unlike a trade it cannot be folded in afterwards: where it falls
//! among the finer window's quotes changes the weights of its neighbours, which the finer bar
//! no longer holds. Built directly, the coarse bar would include it. With no quote later than
//! the finer level's horizon, the two are identical.
//!
//! Input 0: the finer level's chain output ([`QuoteBarsBuilder::chain`](crate::QuoteBarsBuilder::chain)
//! or a coarser resampler's). Output 0: coarse quote bars; output 1, with
//! [`ResampleBuilder::chain`](super::ResampleBuilder::chain), a chain output for a still
//! coarser level. Memory: per instrument, the open and retained coarse windows, each holding
//! its finer bars (at most `W / w`).

use super::windows::{Fold, Span, Windows};
use super::{ResampleConfig, ResampleCounters};
use crate::chain;
use crate::quote_bars::QUOTE_BARS;
use crate::time_bars::{BAR_OVERFLOW, LATE_REVISED};
use crate::vwap::round_div;
use ticklane_engine::{
    Batch, Counter, DagBuilder, Fixed, InstrumentId, Kind, Operator, Outputs, QuoteBar, Stamped, Timestamp, NO_TS,
};

/// Adds [`QuoteResample`] to a graph.
pub trait QuoteResampleExt {
    /// Coarse quote bars named `name`: input 0 the finer level's chain output; output 0 coarse
    /// quote bars, output 1 the chain output if asked (the config's late policy sets only the
    /// horizon within which finer revisions revise coarse bars: late quotes never reach it).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ticklane_engine::{Config, DagBuilder, Engine, Fixed, Kind, Quote, QuoteBar};
    /// use ticklane_operators::{QuoteBarsConfig, QuoteBarsExt, QuoteResampleExt, ResampleConfig};
    ///
    /// let (s, m) = (Duration::from_secs(1), Duration::from_secs(60));
    /// let fine = QuoteBarsConfig::builder(s).chain(true).build()?;
    /// let mut g = DagBuilder::new();
    /// g.source("book", Kind::Quote)
    ///     .quote_bars("1s", fine)
    ///     .quote_resample("1m", ResampleConfig::builder(s, m).build()?)
    ///     .sink_egress("seconds", Kind::QuoteBar)
    ///     .sink_egress("out", Kind::QuoteBar)
    ///     .connect("book", "1s")
    ///     .connect("1s", "seconds")
    ///     .connect_ports("1s", fine.chain_port().unwrap_or(1), "1m", 0)
    ///     .connect("1m", "out");
    /// let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
    /// let (mut book, mut out) = (engine.ingress::<Quote>("book")?, engine.egress::<QuoteBar>("out")?);
    /// let seconds = engine.egress::<QuoteBar>("seconds")?;
    /// let seconds = std::thread::spawn(move || seconds.count());
    /// let btc = book.intern("binance:BTCUSDT")?;
    /// let px = |s| Fixed::parse(s);
    /// // Spread 0.01 for 15 s (across two 1 s bars), then 0.03 for the minute's last 45 s.
    /// book.push(Quote { ts_event: 0, instrument: btc, ..Quote::default() }
    ///     .with_bid(px("61000")?, Fixed::ONE).with_ask(px("61000.01")?, Fixed::ONE))?;
    /// book.push(Quote { ts_event: 15_000_000_000, instrument: btc, ..Quote::default() }
    ///     .with_bid(px("60999.99")?, Fixed::ONE).with_ask(px("61000.02")?, Fixed::ONE))?;
    /// drop(book); // the end of input fires every window
    /// let bars: Vec<QuoteBar> = out.by_ref().map(|b| b.rec).collect();
    /// engine.join()?;
    /// assert_eq!((bars.len(), seconds.join().unwrap()), (1, 2));
    /// assert_eq!((bars[0].spread_twa, bars[0].quote_count), (Some(px("0.025")?), 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn quote_resample(&mut self, name: &str, cfg: ResampleConfig) -> &mut Self;
}

impl QuoteResampleExt for DagBuilder {
    fn quote_resample(&mut self, name: &str, cfg: ResampleConfig) -> &mut Self {
        let outputs: &[Kind] = if cfg.forward { &[Kind::QuoteBar, Kind::QuoteBar] } else { &[Kind::QuoteBar] };
        self.operator(name, &[Kind::QuoteBar], outputs, move |_| Box::new(QuoteResample::new(cfg)))
    }
}

/// The quote-bar resampling operator (see the module docs).
pub struct QuoteResample {
    cfg: ResampleConfig,
    windows: Windows<QuoteFold>,
}

impl QuoteResample {
    /// A fresh instance (one per shard).
    pub fn new(cfg: ResampleConfig) -> QuoteResample {
        QuoteResample { cfg, windows: Windows::new(&cfg) }
    }

    /// The counters so far (no late quote reaches a resampler: only the bars, revisions and
    /// saturated sums count here).
    pub fn counters(&self) -> ResampleCounters {
        let w = &self.windows;
        ResampleCounters { bars: w.bars, revised: w.revised, overflow: w.overflow, ..ResampleCounters::default() }
    }

    /// The chain output's port, when there is one.
    pub fn chain_port(cfg: &ResampleConfig) -> Option<usize> {
        cfg.forward.then_some(1)
    }

    /// Processes the finer level's chain output into coarse quote bars. With a chain output,
    /// the marks before revisions are kept for [`QuoteResample::chain_into`].
    pub fn process(&mut self, input: &[Stamped<QuoteBar>], bars: &mut Vec<Stamped<QuoteBar>>) {
        self.windows.passed.clear();
        let base = bars.len();
        for b in input {
            if b.rec.quote_count == 0 {
                self.windows.advance(b.wm, bars); // a mark: the watermark is here now
                continue;
            }
            let (inst, start) = (b.rec.instrument.0, self.cfg.window.start(b.rec.window_start));
            self.windows.fold(inst, start).put(b.rec);
            self.windows.changed(inst, start, b.wm, bars, base);
        }
    }

    /// Advances the watermark (fires due coarse windows).
    pub fn watermark(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<QuoteBar>>) {
        self.windows.advance(wm, bars);
    }

    /// This level's chain output of what was just emitted: `fresh` (the bars since
    /// [`QuoteResample::process`] began) with a mark before each revision.
    pub fn chain_into(&mut self, fresh: &[Stamped<QuoteBar>], chain: &mut Vec<Stamped<QuoteBar>>) {
        self.windows.passed.interleave(fresh, chain);
    }
}

impl Operator for QuoteResample {
    fn on_batch(&mut self, _input: usize, batch: &Batch, out: &mut Outputs<'_>) {
        let Some(bars) = batch.as_slice::<QuoteBar>() else { return };
        let before = out.port::<QuoteBar>(0).len();
        self.process(bars, out.port::<QuoteBar>(0));
        self.windows.passed.fill(QuoteResample::chain_port(&self.cfg), before, out);
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Outputs<'_>) {
        let before = out.port::<QuoteBar>(0).len();
        self.windows.passed.clear();
        self.windows.advance(wm, out.port::<QuoteBar>(0));
        self.windows.passed.fill(QuoteResample::chain_port(&self.cfg), before, out);
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        let c = self.counters();
        report(LATE_REVISED, c.revised);
        report(QUOTE_BARS, c.bars);
        report(BAR_OVERFLOW, c.overflow);
    }
}

/// What one coarse quote window holds: the latest revision of each finer quote bar in it.
#[derive(Debug, Default)]
pub(super) struct QuoteFold {
    /// Ascending by `window_start`.
    fine: Vec<QuoteBar>,
}

impl QuoteFold {
    /// Puts finer bar `b` in, replacing an earlier revision of it.
    fn put(&mut self, b: QuoteBar) {
        match self.fine.binary_search_by_key(&b.window_start, |f| f.window_start) {
            Ok(i) => self.fine[i] = b,
            Err(i) => self.fine.insert(i, b),
        }
    }
}

/// One book side's OHLC over finer bars.
#[derive(Default)]
struct Side {
    open: Option<Fixed>,
    high: Option<Fixed>,
    low: Option<Fixed>,
    close: Option<Fixed>,
}

impl Side {
    fn add(&mut self, [open, high, low, close]: [Option<Fixed>; 4]) {
        self.open = self.open.or(open);
        self.high = self.high.max(high); // None < Some
        self.low = match (self.low, low) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.close = close.or(self.close);
    }
}

/// The time-weighted spread's sums, with the last two-sided quote's spread and where its time
/// has been counted up to.
#[derive(Default)]
struct Clock {
    weighted: i128,
    time: i128,
    running: Option<(Fixed, Timestamp)>,
}

impl Clock {
    /// The running spread weighs until `t`.
    fn until(&mut self, t: Timestamp) {
        if let Some((s, from)) = self.running.take() {
            let dt = i128::from(t) - i128::from(from);
            self.weighted += i128::from(s.raw()) * dt;
            self.time += dt;
        }
    }
}

impl Fold for QuoteFold {
    type Bar = QuoteBar;

    fn mark(inst: InstrumentId) -> QuoteBar {
        chain::quote_mark(inst)
    }

    fn bar(&self, inst: u32, span: &Span, _overflow: &mut u64) -> QuoteBar {
        let (mut bid, mut ask, mut clock) = (Side::default(), Side::default(), Clock::default());
        let (mut min, mut max, mut quotes, mut crossed): (Option<Fixed>, Option<Fixed>, u64, u64) = (None, None, 0, 0);
        for f in &self.fine {
            clock.until(f.first_at);
            bid.add([f.bid_open, f.bid_high, f.bid_low, f.bid_close]);
            ask.add([f.ask_open, f.ask_high, f.ask_low, f.ask_close]);
            min = match (min, f.spread_min) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            max = max.max(f.spread_max);
            (quotes, crossed) = (quotes + f.quote_count, crossed + f.crossed_count);
            clock.weighted += f.spread_weighted;
            clock.time += i128::from(f.spread_time);
            clock.running = f.last_spread.map(|s| (s, f.window_end));
        }
        clock.until(span.end);
        QuoteBar {
            instrument: InstrumentId(inst),
            window_start: span.start,
            window_end: span.end,
            bid_open: bid.open,
            bid_high: bid.high,
            bid_low: bid.low,
            bid_close: bid.close,
            ask_open: ask.open,
            ask_high: ask.high,
            ask_low: ask.low,
            ask_close: ask.close,
            spread_min: min,
            spread_max: max,
            spread_twa: (clock.time > 0).then(|| Fixed::from_raw(round_div(clock.weighted, clock.time))),
            quote_count: quotes,
            crossed_count: crossed,
            revision: span.revision,
            spread_weighted: clock.weighted,
            spread_time: i64::try_from(clock.time).unwrap_or(i64::MAX),
            first_at: self.fine.first().map_or(NO_TS, |f| f.first_at),
            last_spread: self.fine.last().and_then(|f| f.last_spread),
        }
    }
}

#[cfg(test)]
#[path = "quote_tests.rs"]
mod tests;
