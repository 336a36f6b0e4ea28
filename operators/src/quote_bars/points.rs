//! One quote-bar window: the quotes it holds (as [`Point`]s) and the bar they make.
//!
//! A window keeps its quotes until it fires (and, under `revise`, until its horizon passes):
//! the time-weighted spread needs each quote's successor in tie order, and quotes may arrive
//! in any order before the window fires. 40 bytes per quote (each quote's point is written to
//! memory the window alone touches, so its size is most of the operator's cost); the buffers
//! are recycled, so after warm-up nothing is allocated per quote.

use ticklane_engine::{Fixed, InstrumentId, Quote, QuoteBar, Timestamp, NO_TS};

/// The tie-break order of a quote within its window: `(ts_event, ts_recv, arrival)`, the
/// arrival being the quote's place among the window's pushes (which come in arrival order).
pub(super) type Key = (Timestamp, Timestamp, u32);

/// What a window needs of one quote: its times, arrival, and the prices of the sides it has.
#[derive(Clone, Copy, Debug)]
pub(super) struct Point {
    ts: Timestamp,
    recv: Timestamp,
    bid: i64,
    ask: i64,
    arrival: u32,
    /// Bit 0: a bid; bit 1: an ask.
    sides: u8,
}

impl Point {
    /// `q`, the `arrival`-th quote pushed into its window (saturating: a window of 2³² quotes
    /// keeps the later ones' ties in sort order rather than arrival order).
    pub(super) fn new(q: &Quote, arrival: usize) -> Point {
        let (bid, ask) = (q.bid().map_or(0, |b| b.0.raw()), q.ask().map_or(0, |a| a.0.raw()));
        let sides = u8::from(q.has_bid) | u8::from(q.has_ask) << 1;
        let arrival = u32::try_from(arrival).unwrap_or(u32::MAX);
        Point { ts: q.ts_event, recv: q.ts_recv, bid, ask, arrival, sides }
    }

    #[inline]
    pub(super) fn key(&self) -> Key {
        (self.ts, self.recv, self.arrival)
    }

    #[inline]
    fn bid(&self) -> Option<Fixed> {
        (self.sides & 1 != 0).then(|| Fixed::from_raw(self.bid))
    }

    #[inline]
    fn ask(&self) -> Option<Fixed> {
        (self.sides & 2 != 0).then(|| Fixed::from_raw(self.ask))
    }
}

/// One window of one instrument.
#[derive(Debug)]
pub(super) struct Win {
    pub(super) start: Timestamp,
    pub(super) end: Timestamp,
    pub(super) points: Vec<Point>,
    pub(super) fired: bool,
    pub(super) revision: u32,
}

/// Running OHLC of one book side.
#[derive(Default)]
struct SideOhlc {
    open: Option<Fixed>,
    high: Option<Fixed>,
    low: Option<Fixed>,
    close: Option<Fixed>,
}

impl SideOhlc {
    fn add(&mut self, px: Fixed) {
        self.open.get_or_insert(px);
        self.high = Some(self.high.map_or(px, |h| h.max(px)));
        self.low = Some(self.low.map_or(px, |l| l.min(px)));
        self.close = Some(px);
    }
}

/// Spread statistics over a window's two-sided quotes.
#[derive(Default)]
struct Spread {
    min: Option<i64>,
    max: Option<i64>,
    /// Σ spread · weight (ns): at most |spread| · width < 2^127, never overflows.
    weighted: i128,
    /// Σ weight (ns).
    time: i128,
    crossed: u64,
    saturated: u64,
}

impl Spread {
    /// Adds a two-sided quote weighing `weight` ns; its spread (saturated).
    fn add(&mut self, bid: Fixed, ask: Fixed, weight: i64) -> Fixed {
        let exact = i128::from(ask.raw()) - i128::from(bid.raw());
        let s = i64::try_from(exact).unwrap_or_else(|_| {
            self.saturated += 1;
            if exact < 0 {
                i64::MIN
            } else {
                i64::MAX
            }
        });
        self.crossed += u64::from(ask <= bid);
        self.min = Some(self.min.map_or(s, |m| m.min(s)));
        self.max = Some(self.max.map_or(s, |m| m.max(s)));
        self.weighted += i128::from(s) * i128::from(weight);
        self.time += i128::from(weight);
        Fixed::from_raw(s)
    }
}

impl Win {
    /// Sorts the window's quotes into tie order (they mostly arrive in it) and makes its bar;
    /// the count of spreads that saturated `i64` goes to `saturated`.
    pub(super) fn bar(&mut self, inst: u32, saturated: &mut u64) -> QuoteBar {
        if !self.points.is_sorted_by_key(Point::key) {
            self.points.sort_unstable_by_key(Point::key);
        }
        let (mut bid, mut ask, mut spread) = (SideOhlc::default(), SideOhlc::default(), Spread::default());
        let mut last_spread = None;
        for (i, p) in self.points.iter().enumerate() {
            if let Some(b) = p.bid() {
                bid.add(b);
            }
            if let Some(a) = p.ask() {
                ask.add(a);
            }
            if let (Some(b), Some(a)) = (p.bid(), p.ask()) {
                let next = self.points.get(i + 1).map_or(self.end, |n| n.ts);
                last_spread = Some(spread.add(b, a, next - p.ts));
            } else {
                last_spread = None;
            }
        }
        *saturated += spread.saturated;
        let twa = (spread.time > 0).then(|| Fixed::from_raw(crate::vwap::round_div(spread.weighted, spread.time)));
        QuoteBar {
            instrument: InstrumentId(inst),
            window_start: self.start,
            window_end: self.end,
            bid_open: bid.open,
            bid_high: bid.high,
            bid_low: bid.low,
            bid_close: bid.close,
            ask_open: ask.open,
            ask_high: ask.high,
            ask_low: ask.low,
            ask_close: ask.close,
            spread_min: spread.min.map(Fixed::from_raw),
            spread_max: spread.max.map(Fixed::from_raw),
            spread_twa: twa,
            quote_count: self.points.len() as u64,
            crossed_count: spread.crossed,
            revision: self.revision,
            spread_weighted: spread.weighted,
            // At most the window's width.
            spread_time: i64::try_from(spread.time).unwrap_or(i64::MAX),
            first_at: self.points.first().map_or(NO_TS, |p| p.ts),
            last_spread,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(v: i64) -> Fixed {
        Fixed::from_raw(v)
    }

    fn quote(ts: i64, bid: Option<i64>, ask: Option<i64>) -> Quote {
        let mut q = Quote { ts_event: ts, ..Quote::default() };
        if let Some(b) = bid {
            q = q.with_bid(px(b), Fixed::ONE);
        }
        if let Some(a) = ask {
            q = q.with_ask(px(a), Fixed::ONE);
        }
        q
    }

    fn bar(quotes: &[Quote], end: i64) -> QuoteBar {
        let points = quotes.iter().enumerate().map(|(i, q)| Point::new(q, i)).collect();
        let mut w = Win { start: 0, end, points, fired: false, revision: 0 };
        w.bar(0, &mut 0)
    }

    #[test]
    fn spread_weighs_until_the_next_quote_or_the_window_end() {
        // Spread 2 for 10 ns, then a one-sided quote stops the clock for 20 ns, then spread 4
        // for 70 ns: (2·10 + 4·70) / 80 = 3.75 → 4 (raw units, half away from zero).
        let b = bar(&[quote(0, Some(10), Some(12)), quote(10, Some(11), None), quote(30, Some(9), Some(13))], 100);
        assert_eq!((b.spread_min, b.spread_max, b.spread_twa), (Some(px(2)), Some(px(4)), Some(px(4))));
        assert_eq!(
            (b.bid_open, b.bid_high, b.bid_low, b.bid_close),
            (Some(px(10)), Some(px(11)), Some(px(9)), Some(px(9)))
        );
        assert_eq!((b.ask_open, b.ask_close, b.quote_count, b.crossed_count), (Some(px(12)), Some(px(13)), 3, 0));
    }

    #[test]
    fn empty_values_stay_empty_and_crossed_quotes_count() {
        let b = bar(&[quote(5, None, Some(7))], 10);
        assert_eq!((b.bid_open, b.spread_min, b.spread_twa, b.ask_low), (None, None, None, Some(px(7))));
        // Two two-sided quotes at one time and nothing after until the end: the first weighs 0.
        let b = bar(&[quote(3, Some(5), Some(5)), quote(3, Some(6), Some(4))], 3 + 4);
        assert_eq!(
            (b.crossed_count, b.spread_min, b.spread_max, b.spread_twa),
            (2, Some(px(-2)), Some(px(0)), Some(px(-2)))
        );
        // A two-sided quote followed at once by a one-sided one: no two-sided time.
        let b = bar(&[quote(3, Some(5), Some(6)), quote(3, Some(5), None)], 9);
        assert_eq!((b.spread_min, b.spread_twa), (Some(px(1)), None));
    }

    #[test]
    fn a_point_is_forty_bytes() {
        assert_eq!(std::mem::size_of::<Point>(), 40);
    }

    #[test]
    fn arrival_order_does_not_matter() {
        let qs = [quote(4, Some(1), Some(3)), quote(1, Some(2), Some(3)), quote(4, Some(2), Some(9))];
        let mut points: Vec<Point> = qs.iter().enumerate().map(|(i, q)| Point::new(q, i)).collect();
        let mut w = Win { start: 0, end: 10, points: points.clone(), fired: false, revision: 0 };
        let a = w.bar(0, &mut 0);
        points.reverse();
        let mut w = Win { start: 0, end: 10, points, fired: false, revision: 0 };
        assert_eq!(w.bar(0, &mut 0), a);
        assert_eq!((a.bid_open, a.bid_close, a.ask_close), (Some(px(2)), Some(px(2)), Some(px(9))));
    }
}
