//! Tick bars (every N trades) and volume bars (every V of size), per instrument, in arrival
//! order (design.md §3, "the natural next bar kinds").
//!
//! - A bar is emitted the moment it completes, stamped with the completing trade's watermark.
//! - `window_start` / `window_end` are the `ts_event` of the bar's first and last trade (both
//!   inclusive here: these bars are not time windows).
//! - **Volume bars split trades**: a trade that overflows the current bar fills it exactly;
//!   the rest of its size goes to the next bar(s), at the same price (a very large trade can
//!   complete several bars). Each piece counts as one trade in its bar's `trade_count`, so
//!   `volume` is exactly V for every complete bar.
//! - At end of input each instrument's unfinished bar is emitted as it stands (fewer than N
//!   trades / less than V volume), stamped +∞, so no trade is left out; `trade_count` and
//!   `volume` show it is partial.

use crate::vwap::vwap;
use ticklane_engine::{
    Bar, ConfigError, ConfigViolation, DagBuilder, Fixed, InstrumentId, Stamped, Timestamp, Trade, Transform, Wide,
    NO_TS, WM_END,
};

#[derive(Clone, Copy, Default)]
struct Acc {
    first_ts: Timestamp,
    last_ts: Timestamp,
    open: Fixed,
    high: Fixed,
    low: Fixed,
    close: Fixed,
    volume: i128,
    notional: i128,
    count: u64,
}

impl Acc {
    fn add(&mut self, ts: Timestamp, px: Fixed, sz: i64) {
        if self.count == 0 {
            *self = Acc { first_ts: ts, open: px, high: px, low: px, ..Acc::default() };
        }
        self.last_ts = ts;
        self.close = px;
        self.high = self.high.max(px);
        self.low = self.low.min(px);
        self.volume = self.volume.saturating_add(i128::from(sz));
        self.notional = self.notional.saturating_add(i128::from(px.raw()) * i128::from(sz));
        self.count += 1;
    }

    fn bar(&self, inst: u32) -> Bar {
        let vwap = vwap(self.notional, self.volume, self.close);
        Bar {
            instrument: InstrumentId(inst),
            window_start: self.first_ts,
            window_end: self.last_ts,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: Wide::from_raw(self.volume),
            trade_count: self.count,
            vwap,
            revision: 0,
            notional: self.notional,
            open_at: (self.first_ts, NO_TS),
            close_at: (self.last_ts, NO_TS),
        }
    }
}

/// What closes a bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarSize {
    /// Every `n` trades.
    Ticks(u64),
    /// Every `v` of size (raw nano-units of [`Fixed`]).
    Volume(i64),
}

impl BarSize {
    /// Tick bars of `n` trades (zero is an error).
    pub fn ticks(n: u64) -> Result<BarSize, ConfigError> {
        if n == 0 {
            return Err(ConfigViolation::Zero { param: "tick bar size" }.into());
        }
        Ok(BarSize::Ticks(n))
    }

    /// Volume bars of `v` (zero or negative is an error).
    pub fn volume(v: Fixed) -> Result<BarSize, ConfigError> {
        if v.raw() <= 0 {
            return Err(ConfigViolation::Zero { param: "volume bar size" }.into());
        }
        Ok(BarSize::Volume(v.raw()))
    }
}

/// Adds [`CountBars`] to a graph.
pub trait CountBarsExt {
    /// Tick or volume bars named `name`: trades in, bars out.
    ///
    /// ```
    /// use ticklane_engine::{Bar, Config, DagBuilder, Engine, Fixed, Kind, Trade};
    /// use ticklane_operators::{BarSize, CountBarsExt};
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .count_bars("every2", BarSize::ticks(2)?)
    ///     .sink_egress("out", Kind::Bar)
    ///     .connect("feed", "every2")
    ///     .connect("every2", "out");
    /// let mut engine = Engine::start(g.build()?, Config::builder().shards(1).build()?)?;
    /// let (mut feed, mut out) = (engine.ingress::<Trade>("feed")?, engine.egress::<Bar>("out")?);
    /// let es = feed.intern("ESH4")?;
    /// for ts in 0..5 {
    ///     feed.push(Trade { ts_event: ts, instrument: es, price: Fixed::ONE, size: Fixed::ONE, ..Trade::default() })?;
    /// }
    /// drop(feed); // input ends: the shards flush, and the egress ends after their output
    /// let counts: Vec<u64> = out.by_ref().map(|b| b.rec.trade_count).collect();
    /// engine.join()?;
    /// assert_eq!(counts, [2, 2, 1]); // the last bar is partial: input ended
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn count_bars(&mut self, name: &str, size: BarSize) -> &mut Self;
}

impl CountBarsExt for DagBuilder {
    fn count_bars(&mut self, name: &str, size: BarSize) -> &mut Self {
        self.transform::<Trade, Bar, _, _>(name, move |_| CountBars::new(size))
    }
}

/// Tick or volume bars (trades in, bars out); one instance per shard.
pub struct CountBars {
    size: BarSize,
    open: Vec<(bool, Acc)>,
}

impl CountBars {
    /// A fresh instance.
    pub fn new(size: BarSize) -> CountBars {
        CountBars { size, open: Vec::new() }
    }
}

impl Transform<Trade, Bar> for CountBars {
    fn on_batch(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Bar>>) {
        for t in input {
            let i = t.rec.instrument.0 as usize;
            if self.open.len() <= i {
                self.open.resize(i + 1, (false, Acc::default()));
            }
            let (used, acc) = &mut self.open[i];
            *used = true;
            let (ts, px) = (t.rec.ts_event, t.rec.price);
            match self.size {
                BarSize::Ticks(n) => {
                    acc.add(ts, px, t.rec.size.raw());
                    if acc.count >= n {
                        out.push(Stamped { wm: t.wm, rec: acc.bar(i as u32) });
                        acc.count = 0;
                    }
                }
                BarSize::Volume(v) => {
                    let mut left = i128::from(t.rec.size.raw());
                    loop {
                        let room = i128::from(v) - if acc.count > 0 { acc.volume } else { 0 };
                        if left < room {
                            acc.add(ts, px, left as i64); // fits (a zero-size print still counts)
                            break;
                        }
                        acc.add(ts, px, room as i64); // fills the bar exactly
                        out.push(Stamped { wm: t.wm, rec: acc.bar(i as u32) });
                        acc.count = 0;
                        left -= room;
                        if left == 0 {
                            break;
                        }
                    }
                }
            }
        }
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Vec<Stamped<Bar>>) {
        if wm < WM_END {
            return;
        }
        for (i, (used, acc)) in self.open.iter_mut().enumerate() {
            if *used && acc.count > 0 {
                out.push(Stamped { wm: WM_END, rec: acc.bar(i as u32) });
                acc.count = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(ts: i64, px: i64, sz: i64) -> Stamped<Trade> {
        Stamped {
            wm: ts,
            rec: Trade { ts_event: ts, price: Fixed::from_raw(px), size: Fixed::from_raw(sz), ..Trade::default() },
        }
    }

    fn run(size: BarSize, input: &[Stamped<Trade>]) -> Vec<Bar> {
        let mut op = CountBars::new(size);
        let mut out = Vec::new();
        op.on_batch(input, &mut out);
        op.on_watermark(WM_END, &mut out);
        out.into_iter().map(|s| s.rec).collect()
    }

    #[test]
    fn tick_bars_every_n_and_a_partial_tail() {
        let bars = run(BarSize::ticks(2).expect("n"), &[st(1, 10, 1), st(2, 12, 1), st(3, 11, 1)]);
        assert_eq!(
            bars.iter().map(|b| (b.trade_count, b.open.raw(), b.close.raw())).collect::<Vec<_>>(),
            vec![(2, 10, 12), (1, 11, 11)]
        );
        assert_eq!((bars[0].window_start, bars[0].window_end), (1, 2));
    }

    #[test]
    fn volume_bars_split_an_overflowing_trade() {
        // V = 10: 4, then 25 → fills 6 (bar 1), 10 (bar 2), leaves 9; then 1 completes bar 3.
        let bars =
            run(BarSize::volume(Fixed::from_raw(10)).expect("v"), &[st(1, 100, 4), st(2, 200, 25), st(3, 300, 1)]);
        let got: Vec<_> = bars.iter().map(|b| (b.volume.raw(), b.trade_count, b.open.raw(), b.close.raw())).collect();
        assert_eq!(got, vec![(10, 2, 100, 200), (10, 1, 200, 200), (10, 2, 200, 300)]);
        // Total size is conserved: 4 + 25 + 1 = 30.
        assert_eq!(bars.iter().map(|b| b.volume.raw()).sum::<i128>(), 30);
    }

    #[test]
    fn invalid_sizes() {
        assert!(BarSize::ticks(0).is_err());
        assert!(BarSize::volume(Fixed::ZERO).is_err());
    }
}
