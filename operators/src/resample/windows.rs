//! A resampler's coarse windows, per instrument: created on demand, fired when the watermark
//! reaches their end, re-emitted as revisions when a finer revision changes them, evicted once
//! their late horizon has passed. What a window holds, and the bar it makes, is the
//! resampler's [`Fold`] (trade bars: `coarse::Coarse`; quote bars: `quotes::QuoteFold`).

use super::ResampleConfig;
use crate::chain::Passed;
use crate::deadlines::Deadlines;
use crate::window::Tumbling;
use ticklane_engine::{InstrumentId, Record, Stamped, Timestamp};

/// What one coarse window holds, and the bar it makes.
pub(super) trait Fold: Default {
    /// The bars built (and read: the finer level's bars are of the same kind).
    type Bar: Record;
    /// The bar of instrument `inst` over window `span`; `overflow` counts saturated sums.
    fn bar(&self, inst: u32, span: &Span, overflow: &mut u64) -> Self::Bar;
    /// A mark on the chain: a zero-width bar with nothing in it.
    fn mark(inst: InstrumentId) -> Self::Bar;
}

/// A coarse window's bounds and how often it was emitted.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) start: Timestamp,
    pub(super) end: Timestamp,
    pub(super) revision: u32,
}

/// One coarse window of one instrument.
struct Held<F> {
    span: Span,
    fired: bool,
    fold: F,
}

/// One instrument's coarse windows, ascending by start.
struct Slot<F> {
    windows: Vec<Held<F>>,
    /// The deadline this slot is queued under ([`UNQUEUED`]: not queued).
    scheduled: Timestamp,
}

const UNQUEUED: Timestamp = i64::MAX;

/// Every instrument's coarse windows of one resampler instance.
pub(super) struct Windows<F: Fold> {
    window: Tumbling,
    horizon: i64,
    forward: bool,
    pub(super) wm: Timestamp,
    slots: Vec<Slot<F>>,
    due: Deadlines,
    /// Coarse bars emitted, revisions included.
    pub(super) bars: u64,
    /// Coarse revisions (and late-created bars) emitted.
    pub(super) revised: u64,
    /// Saturated sums.
    pub(super) overflow: u64,
    /// What this batch passes on to a coarser level (marks; the trade resampler's late trades).
    pub(super) passed: Passed<F::Bar>,
}

impl<F: Fold> Windows<F> {
    pub(super) fn new(cfg: &ResampleConfig) -> Windows<F> {
        Windows {
            window: cfg.window,
            horizon: cfg.late.horizon(),
            forward: cfg.forward,
            wm: i64::MIN,
            slots: Vec::new(),
            due: Deadlines::new(),
            bars: 0,
            revised: 0,
            overflow: 0,
            passed: Passed::default(),
        }
    }

    fn schedule(&mut self, inst: u32) {
        let h = self.horizon;
        let slot = &mut self.slots[inst as usize];
        let deadline = |w: &Held<F>| if w.fired { w.span.end.saturating_add(h) } else { w.span.end };
        let next = slot.windows.iter().map(deadline).min();
        if let Some(d) = next.filter(|&d| d < slot.scheduled) {
            slot.scheduled = d;
            self.due.push(d, inst);
        }
    }

    /// Moves the watermark to `wm`: fires coarse windows with `end ≤ wm` into `bars`, evicts
    /// retained ones past their horizon.
    pub(super) fn advance(&mut self, wm: Timestamp, bars: &mut Vec<Stamped<F::Bar>>) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        let h = self.horizon;
        while let Some((deadline, inst)) = self.due.pop_due(wm) {
            let slot = &mut self.slots[inst as usize];
            if slot.scheduled != deadline {
                continue; // stale: rescheduled earlier
            }
            slot.scheduled = UNQUEUED;
            for w in slot.windows.iter_mut().filter(|w| !w.fired && w.span.end <= wm) {
                w.fired = true;
                bars.push(Stamped { wm: w.span.end, rec: w.fold.bar(inst, &w.span, &mut self.overflow) });
                self.bars += 1;
            }
            slot.windows.retain(|w| !(w.fired && w.span.end.saturating_add(h) <= wm));
            self.schedule(inst);
        }
    }

    /// What coarse window `start` of `inst` holds, the window created if missing (to be
    /// emitted by [`Windows::changed`] if its end is at or below the watermark).
    pub(super) fn fold(&mut self, inst: u32, start: Timestamp) -> &mut F {
        if self.slots.len() <= inst as usize {
            self.slots.resize_with(inst as usize + 1, || Slot { windows: Vec::new(), scheduled: UNQUEUED });
        }
        let end = self.window.end(start);
        let slot = &mut self.slots[inst as usize];
        let at = slot.windows.iter().rposition(|w| w.span.start <= start);
        let i = match at {
            Some(i) if slot.windows[i].span.start == start => i,
            _ => {
                let i = at.map_or(0, |i| i + 1);
                let span = Span { start, end, revision: 0 };
                slot.windows.insert(i, Held { span, fired: false, fold: F::default() });
                i
            }
        };
        &mut slot.windows[i].fold
    }

    /// Emits coarse window `start` of `inst` after a change into `bars` (of which this batch's
    /// begin at `base`): a revision (stamped `stamp`, after a mark on the chain) if it had
    /// fired, or its first bar if it was created late; nothing while it is open.
    pub(super) fn changed(
        &mut self,
        inst: u32,
        start: Timestamp,
        stamp: Timestamp,
        bars: &mut Vec<Stamped<F::Bar>>,
        base: usize,
    ) {
        let wm = self.wm;
        let slot = &mut self.slots[inst as usize];
        let Some(w) = slot.windows.iter_mut().find(|w| w.span.start == start) else { return };
        if w.fired {
            w.span.revision += 1;
        } else if w.span.end <= wm {
            w.fired = true; // created late: emitted once, revision 0
        } else {
            self.schedule(inst);
            return;
        }
        let rec = w.fold.bar(inst, &w.span, &mut self.overflow);
        if self.forward {
            self.passed.push(bars.len() - base, Stamped { wm: stamp, rec: F::mark(InstrumentId(inst)) });
        }
        bars.push(Stamped { wm: stamp, rec });
        self.bars += 1;
        self.revised += 1;
        self.schedule(inst);
    }
}
