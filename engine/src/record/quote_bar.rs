//! The quote bar: one instrument's top of book over a window (design.md §3, §5).

use super::Timestamp;
use crate::decimal::Fixed;
use crate::instrument::InstrumentId;

/// Top-of-book summary of one instrument over `[window_start, window_end)`, over the window's
/// quotes in `(ts_event, ts_recv, arrival)` order (design.md §3). A value is `None` when the
/// window has nothing to compute it from: the `bid_*` values without a quote that has a bid,
/// `spread_min`/`spread_max` without a two-sided quote, `spread_twa` without two-sided time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct QuoteBar {
    /// Interned instrument.
    pub instrument: InstrumentId,
    /// Inclusive window start.
    pub window_start: Timestamp,
    /// Exclusive window end.
    pub window_end: Timestamp,
    /// First bid price.
    pub bid_open: Option<Fixed>,
    /// Highest bid price.
    pub bid_high: Option<Fixed>,
    /// Lowest bid price.
    pub bid_low: Option<Fixed>,
    /// Last bid price.
    pub bid_close: Option<Fixed>,
    /// First ask price.
    pub ask_open: Option<Fixed>,
    /// Highest ask price.
    pub ask_high: Option<Fixed>,
    /// Lowest ask price.
    pub ask_low: Option<Fixed>,
    /// Last ask price.
    pub ask_close: Option<Fixed>,
    /// Least `ask − bid` of the two-sided quotes.
    pub spread_min: Option<Fixed>,
    /// Greatest `ask − bid` of the two-sided quotes.
    pub spread_max: Option<Fixed>,
    /// Time-weighted mean spread: each two-sided quote weighs from its `ts_event` until the
    /// next quote or `window_end`; rounded half away from zero to 9 decimals.
    pub spread_twa: Option<Fixed>,
    /// Quotes in the window (one-sided and crossed ones included).
    pub quote_count: u64,
    /// Two-sided quotes with `ask ≤ bid` (kept, never dropped).
    pub crossed_count: u64,
    /// 0 for the first emission; +1 for each re-emission under the `revise` late policy.
    pub revision: u32,
    /// Σ spread · ns over the two-sided time, exact (raw units of 10⁻⁹ times ns): what
    /// resampling adds up, so a coarse bar's `spread_twa` is exact (design.md §3).
    pub spread_weighted: i128,
    /// The two-sided time in ns (the weight behind `spread_twa`).
    pub spread_time: i64,
    /// `ts_event` of the window's first quote ([`NO_TS`](super::NO_TS) without quotes): in a
    /// coarser bar, the previous window's last quote weighs until here.
    pub first_at: Timestamp,
    /// The spread of the window's last quote when it is two-sided (`None` if it is one-sided):
    /// in a coarser bar its time runs on past `window_end` until the next quote.
    pub last_spread: Option<Fixed>,
}
