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
//! - Volume and notional accumulate in `i128`; an overflow (beyond 1.7·10^20 currency units
//!   in one bar) saturates and is counted in `ticklane_bar_overflow_total`, never wrapped.
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
//! min-heap of deadlines. After warm-up it allocates nothing per trade.

use crate::window::{Beyond, ConfigError, LatePolicy, Tumbling};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;
use ticklane_engine::{Bar, Batch, Fixed, InstrumentId, Operator, Outputs, Stamped, Timestamp, Trade, Wide, WM_END};

/// What empty windows produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EmptyBars {
    /// Nothing (the default).
    #[default]
    Skip,
    /// Flat bars between an instrument's first and last trade (see the module docs).
    Flat,
}

/// Configuration of [`TimeBars`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBarsConfig {
    /// Window assignment.
    pub window: Tumbling,
    /// Late-trade policy.
    pub late: LatePolicy,
    /// Empty-window policy.
    pub empty: EmptyBars,
}

impl TimeBarsConfig {
    /// Bars of `width`, epoch-aligned, late trades dropped. Zero width is an error.
    pub fn new(width: Duration) -> Result<TimeBarsConfig, ConfigError> {
        Ok(TimeBarsConfig { window: Tumbling::new(width)?, late: LatePolicy::Drop, empty: EmptyBars::Skip })
    }

    /// Sets the late policy.
    pub fn with_late(self, late: LatePolicy) -> TimeBarsConfig {
        TimeBarsConfig { late, ..self }
    }

    /// Sets the empty-window policy; `Flat` with a `Revise` late policy is an error.
    pub fn with_empty_bars(self, empty: EmptyBars) -> Result<TimeBarsConfig, ConfigError> {
        if empty == EmptyBars::Flat && matches!(self.late, LatePolicy::Revise { .. }) {
            return Err(ConfigError::Unsupported { what: "flat empty bars together with the revise late policy" });
        }
        Ok(TimeBarsConfig { empty, ..self })
    }

    /// Sets the window alignment offset.
    pub fn with_offset(self, offset: Duration) -> Result<TimeBarsConfig, ConfigError> {
        Ok(TimeBarsConfig { window: self.window.with_offset(offset)?, ..self })
    }
}

type Key = (Timestamp, Timestamp, u64);

#[derive(Clone, Copy, Debug)]
struct Acc {
    start: Timestamp,
    end: Timestamp,
    open: Fixed,
    high: Fixed,
    low: Fixed,
    close: Fixed,
    first: Key,
    last: Key,
    volume: i128,
    notional: i128,
    count: u64,
    revision: u32,
    fired: bool,
}

/// One instrument's windows. The newest window lives inline (most trades land in it, and
/// this saves a pointer chase per trade); older open or retained windows, all starting before
/// it, sit in `older` in ascending order.
struct Slot {
    newest: Option<Acc>,
    older: VecDeque<Acc>,
    /// End and close of the instrument's last fired non-empty window (for flat bars).
    last: Option<(Timestamp, Fixed)>,
    arrivals: u64,
    /// The deadline this slot is queued under in the heap (`i64::MAX`: not queued).
    scheduled: Timestamp,
}

impl Slot {
    fn new() -> Slot {
        Slot { newest: None, older: VecDeque::new(), last: None, arrivals: 0, scheduled: UNQUEUED }
    }

    fn find_mut(&mut self, start: Timestamp) -> Option<&mut Acc> {
        match &mut self.newest {
            Some(n) if n.start == start => Some(n),
            _ => self.older.iter_mut().find(|a| a.start == start),
        }
    }

    fn insert(&mut self, a: Acc) {
        match &mut self.newest {
            None => self.newest = Some(a),
            Some(n) if a.start > n.start => {
                let old = std::mem::replace(n, a);
                self.older.push_back(old);
            }
            Some(_) => {
                let k = self.older.iter().rposition(|x| x.start < a.start).map_or(0, |k| k + 1);
                self.older.insert(k, a);
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Acc> {
        self.older.iter().chain(self.newest.iter())
    }

    fn retain(&mut self, keep: impl Fn(&Acc) -> bool) {
        self.older.retain(|a| keep(a));
        if self.newest.as_ref().is_some_and(|n| !keep(n)) {
            self.newest = self.older.pop_back();
        }
    }
}

/// Counters reported by [`TimeBars`] (also as `ticklane_*` metrics).
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
}

/// The time-bar operator: input 0 trades; output 0 bars; output 1 late trades when the policy
/// has a side output.
pub struct TimeBars {
    cfg: TimeBarsConfig,
    wm: Timestamp,
    slots: Vec<Slot>,
    heap: BinaryHeap<Reverse<(Timestamp, u32)>>,
    /// Under `Flat`: per instrument, the end of the earliest flat bar it may still emit
    /// (lazily invalidated entries).
    holds: BinaryHeap<Reverse<(Timestamp, u32)>>,
    /// The minimum over `holds` (`WM_END` when none).
    hold: Timestamp,
    counters: TimeBarsCounters,
}

const UNQUEUED: Timestamp = i64::MAX;

impl TimeBars {
    /// A fresh instance (one per shard).
    pub fn new(cfg: TimeBarsConfig) -> TimeBars {
        TimeBars {
            cfg,
            wm: i64::MIN,
            slots: Vec::new(),
            heap: BinaryHeap::new(),
            holds: BinaryHeap::new(),
            hold: WM_END,
            counters: TimeBarsCounters::default(),
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
                self.heap.push(Reverse((d, inst)));
            }
            _ => {}
        }
    }

    /// Moves the watermark to `wm`; fires every window with `end ≤ wm` and evicts retained
    /// windows past their horizon. Called per trade, so the common case — nothing due — is an
    /// inline compare against the heap's top.
    #[inline]
    fn advance(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<Bar>>) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        if matches!(self.heap.peek(), Some(&Reverse((due, _))) if due <= wm) {
            self.fire_due(wm, bars);
        }
    }

    fn fire_due(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<Bar>>) {
        let horizon = self.cfg.late.horizon();
        while let Some(&Reverse((deadline, inst))) = self.heap.peek() {
            if deadline > wm {
                break;
            }
            self.heap.pop();
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

    fn late(&mut self, t: &Stamped<Trade>, start: Timestamp, key: Key, bars: &mut Vec<Stamped<Bar>>) -> bool {
        self.counters.late += 1;
        let (horizon, beyond) = match self.cfg.late {
            LatePolicy::Drop => {
                self.counters.late_dropped += 1;
                return false;
            }
            LatePolicy::Side => {
                self.counters.late_side += 1;
                return true;
            }
            LatePolicy::Revise { allowed_lateness, beyond } => (allowed_lateness, beyond),
        };
        let end = self.cfg.window.end(start);
        if end.saturating_add(horizon) > t.wm {
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
            bars.push(Stamped { wm: t.wm, rec: bar(inst, &a) });
            self.counters.revised += 1;
            self.counters.bars += 1;
            self.schedule(inst);
            return false;
        }
        match beyond {
            Beyond::Drop => {
                self.counters.late_dropped += 1;
                false
            }
            Beyond::Side => {
                self.counters.late_side += 1;
                true
            }
        }
    }

    /// Processes trades; late ones bound for the side output are pushed to `side`.
    pub fn process(
        &mut self,
        input: &[Stamped<Trade>],
        bars: &mut Vec<Stamped<Bar>>,
        mut side: Option<&mut Vec<Stamped<Trade>>>,
    ) {
        for t in input {
            self.advance(t.wm, bars); // judge the trade against the watermark before it
            let tr = &t.rec;
            let inst = tr.instrument.0 as usize;
            if self.slots.len() <= inst {
                self.slots.resize_with(inst + 1, Slot::new);
            }
            let slot = &mut self.slots[inst];
            slot.arrivals += 1;
            let key = (tr.ts_event, tr.ts_recv, slot.arrivals);
            let start = self.cfg.window.start(tr.ts_event);
            let end = self.cfg.window.end(start);
            if end <= t.wm {
                if self.late(t, start, key, bars) {
                    if let Some(side) = side.as_deref_mut() {
                        side.push(*t);
                    }
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

/// The flat bar of the empty window `[start, start + width)` after a bar that closed at `close`.
fn flat_bar(inst: u32, start: Timestamp, width: i64, close: Fixed) -> Bar {
    Bar {
        instrument: InstrumentId(inst),
        window_start: start,
        window_end: start.saturating_add(width),
        open: close,
        high: close,
        low: close,
        close,
        volume: Wide::ZERO,
        trade_count: 0,
        vwap: close,
        revision: 0,
    }
}

/// The bar of window `a` of instrument `inst`.
fn bar(inst: u32, a: &Acc) -> Bar {
    let vwap = if a.volume == 0 { a.close } else { Fixed::from_raw(round_div(a.notional, a.volume)) };
    Bar {
        instrument: InstrumentId(inst),
        window_start: a.start,
        window_end: a.end,
        open: a.open,
        high: a.high,
        low: a.low,
        close: a.close,
        volume: Wide::from_raw(a.volume),
        trade_count: a.count,
        vwap,
        revision: a.revision,
    }
}

fn deadline(a: &Acc, horizon: i64) -> Timestamp {
    if a.fired {
        a.end.saturating_add(horizon)
    } else {
        a.end
    }
}

fn fresh(start: Timestamp, end: Timestamp, t: &Trade, key: Key) -> Acc {
    let mut a = Acc {
        start,
        end,
        open: t.price,
        high: t.price,
        low: t.price,
        close: t.price,
        first: key,
        last: key,
        volume: 0,
        notional: 0,
        count: 0,
        revision: 0,
        fired: false,
    };
    let mut ignore = 0;
    add(&mut a, t, key, &mut ignore);
    a
}

#[inline]
fn add(a: &mut Acc, t: &Trade, key: Key, overflow: &mut u64) {
    if key < a.first {
        a.first = key;
        a.open = t.price;
    }
    if key >= a.last {
        a.last = key;
        a.close = t.price;
    }
    a.high = a.high.max(t.price);
    a.low = a.low.min(t.price);
    let size = i128::from(t.size.raw());
    let notional = i128::from(t.price.raw()) * size;
    match (a.volume.checked_add(size), a.notional.checked_add(notional)) {
        (Some(v), Some(n)) => {
            a.volume = v;
            a.notional = n;
        }
        _ => {
            *overflow += 1;
            a.volume = a.volume.saturating_add(size);
            a.notional = a.notional.saturating_add(notional);
        }
    }
    a.count += 1;
}

/// `n / d` rounded half away from zero, saturated to `i64` (`d != 0`).
pub(crate) fn round_div(n: i128, d: i128) -> i64 {
    let q = n / d;
    let r = n % d;
    let q = if 2 * r.unsigned_abs() >= d.unsigned_abs() { q + n.signum() * d.signum() } else { q };
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

impl Operator for TimeBars {
    fn on_batch(&mut self, _input: usize, batch: &Batch, out: &mut Outputs<'_>) {
        let Some(trades) = batch.as_slice::<Trade>() else { return };
        if self.cfg.late.has_side_output() {
            let (bars, side) = out.pair::<Bar, Trade>(0, 1);
            self.process(trades, bars, Some(side));
        } else {
            self.process(trades, out.port::<Bar>(0), None);
        }
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Outputs<'_>) {
        self.advance(wm, out.port::<Bar>(0));
    }

    fn hold(&self) -> Timestamp {
        TimeBars::hold(self)
    }

    fn counters(&self, report: &mut dyn FnMut(&'static str, u64)) {
        let c = self.counters;
        report("ticklane_flat_bars_total", c.flat);
        report("ticklane_late_events_total", c.late);
        report("ticklane_late_revised_total", c.revised);
        report("ticklane_late_dropped_total", c.late_dropped);
        report("ticklane_late_side_total", c.late_side);
        report("ticklane_bars_total", c.bars);
        report("ticklane_bar_overflow_total", c.overflow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let cfg = TimeBarsConfig::new(Duration::from_secs(1)).expect("cfg");
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
        let base = TimeBarsConfig::new(Duration::from_secs(1)).expect("cfg");
        let (bars, side, c) = run(base, &input);
        assert_eq!((bars.len(), side.len(), c.late, c.late_dropped), (2, 0, 1, 1));
        let (_, side, c) = run(base.with_late(LatePolicy::Side), &input);
        assert_eq!((side.len(), c.late_side), (1, 1));
        let revise = base.with_late(LatePolicy::revise(Duration::from_secs(1), Beyond::Drop).expect("policy"));
        let (bars, _, c) = run(revise, &input);
        assert_eq!((c.late, c.revised), (1, 1));
        let revs: Vec<_> = bars
            .iter()
            .filter(|b| b.rec.window_start == S)
            .map(|b| (b.rec.revision, b.rec.trade_count, b.wm))
            .collect();
        assert_eq!(revs, vec![(0, 1, 2 * S), (1, 2, 5 * S / 2)]);
        // Beyond the horizon (0.4 s): dropped.
        let tight = base.with_late(LatePolicy::revise(Duration::from_millis(400), Beyond::Side).expect("policy"));
        let (_, side, c) = run(tight, &input);
        assert_eq!((c.revised, c.late_side, side.len()), (0, 1, 1));
    }

    #[test]
    fn flat_bars_fill_gaps_between_trades_and_hold_output() {
        let cfg =
            TimeBarsConfig::new(Duration::from_secs(1)).expect("cfg").with_empty_bars(EmptyBars::Flat).expect("flat");
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
        assert!(TimeBarsConfig::new(Duration::from_secs(1))
            .expect("cfg")
            .with_late(LatePolicy::revise(Duration::from_secs(1), Beyond::Drop).expect("policy"))
            .with_empty_bars(EmptyBars::Flat)
            .is_err());
    }

    #[test]
    fn round_half_away_from_zero() {
        assert_eq!(round_div(5, 2), 3);
        assert_eq!(round_div(-5, 2), -3);
        assert_eq!(round_div(4, 3), 1);
        assert_eq!(round_div(i128::MAX, 1), i64::MAX);
    }
}
