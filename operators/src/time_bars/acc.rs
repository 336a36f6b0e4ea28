//! One time-bar window's accumulator ([`Acc`]) and one instrument's open and retained
//! windows ([`Slot`]), with the bars they produce.

use crate::vwap::vwap;
use std::collections::VecDeque;
use ticklane_engine::{Bar, Fixed, InstrumentId, Timestamp, Trade, Wide, NO_TS};

/// The tie-break order of a trade within its window: `(ts_event, ts_recv, arrival)`.
pub(super) type Key = (Timestamp, Timestamp, u64);

/// One window's running bar.
#[derive(Clone, Copy, Debug)]
pub(super) struct Acc {
    pub(super) start: Timestamp,
    pub(super) end: Timestamp,
    pub(super) open: Fixed,
    pub(super) high: Fixed,
    pub(super) low: Fixed,
    pub(super) close: Fixed,
    pub(super) first: Key,
    pub(super) last: Key,
    pub(super) volume: i128,
    pub(super) notional: i128,
    pub(super) count: u64,
    pub(super) revision: u32,
    pub(super) fired: bool,
}

/// One instrument's windows. The newest window lives inline (most trades land in it, and
/// this saves a pointer chase per trade); older open or retained windows, all starting before
/// it, sit in `older` in ascending order.
pub(super) struct Slot {
    pub(super) newest: Option<Acc>,
    pub(super) older: VecDeque<Acc>,
    /// End and close of the instrument's last fired non-empty window (for flat bars).
    pub(super) last: Option<(Timestamp, Fixed)>,
    pub(super) arrivals: u64,
    /// The deadline this slot is queued under in the heap (`i64::MAX`: not queued).
    pub(super) scheduled: Timestamp,
}

impl Slot {
    pub(super) fn new() -> Slot {
        Slot { newest: None, older: VecDeque::new(), last: None, arrivals: 0, scheduled: UNQUEUED }
    }

    pub(super) fn find_mut(&mut self, start: Timestamp) -> Option<&mut Acc> {
        match &mut self.newest {
            Some(n) if n.start == start => Some(n),
            _ => self.older.iter_mut().find(|a| a.start == start),
        }
    }

    pub(super) fn insert(&mut self, a: Acc) {
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

    pub(super) fn iter(&self) -> impl Iterator<Item = &Acc> {
        self.older.iter().chain(self.newest.iter())
    }

    pub(super) fn retain(&mut self, keep: impl Fn(&Acc) -> bool) {
        self.older.retain(|a| keep(a));
        if self.newest.as_ref().is_some_and(|n| !keep(n)) {
            self.newest = self.older.pop_back();
        }
    }
}

/// Marks a slot not queued in the deadline heap.
pub(super) const UNQUEUED: Timestamp = i64::MAX;

/// The flat bar of the empty window `[start, start + width)` after a bar that closed at `close`.
pub(super) fn flat_bar(inst: u32, start: Timestamp, width: i64, close: Fixed) -> Bar {
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
        notional: 0,
        open_at: (NO_TS, NO_TS),
        close_at: (NO_TS, NO_TS),
    }
}

/// The bar of window `a` of instrument `inst`.
pub(super) fn bar(inst: u32, a: &Acc) -> Bar {
    let vwap = vwap(a.notional, a.volume, a.close);
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
        notional: a.notional,
        open_at: (a.first.0, a.first.1),
        close_at: (a.last.0, a.last.1),
    }
}

pub(super) fn deadline(a: &Acc, horizon: i64) -> Timestamp {
    if a.fired {
        a.end.saturating_add(horizon)
    } else {
        a.end
    }
}

pub(super) fn fresh(start: Timestamp, end: Timestamp, t: &Trade, key: Key) -> Acc {
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
pub(super) fn add(a: &mut Acc, t: &Trade, key: Key, overflow: &mut u64) {
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
