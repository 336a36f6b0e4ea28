//! One coarse window of one instrument: the latest revision of each finer bar inside it, the
//! trades the finer level passed on (too late for it, perhaps on time here), and the bar they
//! make.

use super::windows::{Fold, Span};
use crate::chain;
use crate::vwap::vwap;
use ticklane_engine::{Bar, Fixed, InstrumentId, Timestamp, Wide};

/// A trade folded in directly: its tie key `(ts_event, ts_recv, rank)` (rank ≥ 1, its arrival
/// in this window), price and raw size.
#[derive(Clone, Copy, Debug)]
pub(super) struct Loose {
    pub(super) key: (Timestamp, Timestamp, u64),
    pub(super) price: Fixed,
    pub(super) size: i64,
}

/// What one coarse window holds.
#[derive(Debug, Default)]
pub(super) struct Coarse {
    /// The finer bars, ascending by `window_start`, each at its latest revision.
    fine: Vec<Bar>,
    loose: Vec<Loose>,
}

impl Coarse {
    /// Folds in a trade at `(ts_event, ts_recv)`, ranked after those folded in before it.
    pub(super) fn trade(&mut self, at: (Timestamp, Timestamp), price: Fixed, size: i64) {
        let key = (at.0, at.1, self.loose.len() as u64 + 1);
        self.loose.push(Loose { key, price, size });
    }

    /// Puts finer bar `b` in, replacing an earlier revision of it.
    pub(super) fn put(&mut self, b: Bar) {
        match self.fine.binary_search_by_key(&b.window_start, |f| f.window_start) {
            Ok(i) => self.fine[i] = b,
            Err(i) => self.fine.insert(i, b),
        }
    }
}

impl Fold for Coarse {
    type Bar = Bar;

    fn mark(inst: InstrumentId) -> Bar {
        chain::mark(inst)
    }

    /// The coarse bar of instrument `inst`; `overflow` counts saturated sums.
    ///
    /// A finer bar's open and close keys are `(ts_event, ts_recv, 0)`: a trade folded in
    /// directly that ties with one of them arrived after that bar was final (it was too late
    /// for it), so it sorts after (rank ≥ 1), as it would in bars built from the trades.
    fn bar(&self, inst: u32, span: &Span, overflow: &mut u64) -> Bar {
        let mut a = Agg::default();
        for f in self.fine.iter().filter(|f| f.trade_count > 0) {
            a.point((f.open_at.0, f.open_at.1, 0), f.open, (f.close_at.0, f.close_at.1, 0), f.close);
            a.high = a.high.max(f.high);
            a.low = a.low.min(f.low);
            a.sum(f.volume.raw(), f.notional, f.trade_count, overflow);
        }
        for t in &self.loose {
            a.point(t.key, t.price, t.key, t.price);
            a.high = a.high.max(t.price);
            a.low = a.low.min(t.price);
            let size = i128::from(t.size);
            a.sum(size, i128::from(t.price.raw()) * size, 1, overflow);
        }
        Bar {
            instrument: InstrumentId(inst),
            window_start: span.start,
            window_end: span.end,
            open: a.open.1,
            high: a.high,
            low: a.low,
            close: a.close.1,
            volume: Wide::from_raw(a.volume),
            trade_count: a.count,
            vwap: vwap(a.notional, a.volume, a.close.1),
            revision: span.revision,
            notional: a.notional,
            open_at: (a.open.0 .0, a.open.0 .1),
            close_at: (a.close.0 .0, a.close.0 .1),
        }
    }
}

type Key = (Timestamp, Timestamp, u64);

/// The running sums of a coarse bar.
struct Agg {
    open: (Key, Fixed),
    close: (Key, Fixed),
    high: Fixed,
    low: Fixed,
    volume: i128,
    notional: i128,
    count: u64,
}

impl Default for Agg {
    fn default() -> Agg {
        let none = ((i64::MAX, i64::MAX, u64::MAX), Fixed::ZERO);
        Agg {
            open: none,
            close: ((i64::MIN, i64::MIN, 0), Fixed::ZERO),
            high: Fixed::from_raw(i64::MIN),
            low: Fixed::from_raw(i64::MAX),
            volume: 0,
            notional: 0,
            count: 0,
        }
    }
}

impl Agg {
    fn point(&mut self, first: Key, open: Fixed, last: Key, close: Fixed) {
        if first < self.open.0 {
            self.open = (first, open);
        }
        if last >= self.close.0 {
            self.close = (last, close);
        }
    }

    fn sum(&mut self, volume: i128, notional: i128, count: u64, overflow: &mut u64) {
        match (self.volume.checked_add(volume), self.notional.checked_add(notional)) {
            (Some(v), Some(n)) => (self.volume, self.notional) = (v, n),
            _ => {
                *overflow += 1;
                self.volume = self.volume.saturating_add(volume);
                self.notional = self.notional.saturating_add(notional);
            }
        }
        self.count += count;
    }
}
