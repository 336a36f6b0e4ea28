//! The chain output between a bar operator and a coarser [`Resample`](crate::Resample): one
//! ordered stream of every bar and revision, the trades the operator did not fold in (as
//! one-trade bars of zero width) and a mark before each revision (a zero-width bar without
//! trades, stamped like the revision). One stream, because two late trades carry the same stamp
//! and which came first decides what each revision holds.
//!
//! A quote-bar chain (to a [`QuoteResample`](crate::QuoteResample)) carries every quote bar and
//! revision and a mark before each revision; no quotes travel on it (see the resampler's docs).

use crate::window::LatePolicy;
use ticklane_engine::{Bar, InstrumentId, Kind, Outputs, QuoteBar, Record, Stamped, Trade, Wide, NO_TS};

/// A trade as a one-trade bar of zero width (`window_start == window_end == ts_event`).
pub(crate) fn one_trade_bar(t: &Trade) -> Bar {
    let size = i128::from(t.size.raw());
    Bar {
        instrument: t.instrument,
        window_start: t.ts_event,
        window_end: t.ts_event,
        open: t.price,
        high: t.price,
        low: t.price,
        close: t.price,
        volume: Wide::from_raw(size),
        trade_count: 1,
        vwap: t.price,
        revision: 0,
        notional: i128::from(t.price.raw()) * size,
        open_at: (t.ts_event, t.ts_recv),
        close_at: (t.ts_event, t.ts_recv),
    }
}

/// A mark: a zero-width bar without trades.
pub(crate) fn mark(instrument: InstrumentId) -> Bar {
    Bar { instrument, open_at: (NO_TS, NO_TS), close_at: (NO_TS, NO_TS), ..Bar::default() }
}

/// A mark on a quote-bar chain: a zero-width quote bar without quotes.
pub(crate) fn quote_mark(instrument: InstrumentId) -> QuoteBar {
    QuoteBar { instrument, first_at: NO_TS, ..QuoteBar::default() }
}

/// A bar operator's output ports: bars (0), late trades when `late` has a side output, then the
/// chain output when `chain`.
pub(crate) fn outputs(late: LatePolicy, chain: bool) -> &'static [Kind] {
    match (late.has_side_output(), chain) {
        (false, false) => &[Kind::Bar],
        (true, false) => &[Kind::Bar, Kind::Trade],
        (false, true) => &[Kind::Bar, Kind::Bar],
        (true, true) => &[Kind::Bar, Kind::Trade, Kind::Bar],
    }
}

/// A quote-bar operator's output ports: quote bars (0), late quotes when `late` has a side
/// output, then the chain output when `chain`.
pub(crate) fn quote_outputs(late: LatePolicy, chain: bool) -> &'static [Kind] {
    match (late.has_side_output(), chain) {
        (false, false) => &[Kind::QuoteBar],
        (true, false) => &[Kind::QuoteBar, Kind::Quote],
        (false, true) => &[Kind::QuoteBar, Kind::QuoteBar],
        (true, true) => &[Kind::QuoteBar, Kind::Quote, Kind::QuoteBar],
    }
}

/// The chain output's port (see [`outputs`] and [`quote_outputs`]).
pub(crate) fn port(late: LatePolicy, chain: bool) -> Option<usize> {
    chain.then_some(1 + usize::from(late.has_side_output()))
}

/// What an operator passes on during one batch, placed among the bars (`B`: trade or quote
/// bars) it emits.
pub(crate) struct Passed<B = Bar> {
    /// Each passed-on record with the number of this batch's bars emitted before it.
    items: Vec<(usize, Stamped<B>)>,
    /// Scratch for the chain port.
    buf: Vec<Stamped<B>>,
}

impl<B> Default for Passed<B> {
    fn default() -> Self {
        Passed { items: Vec::new(), buf: Vec::new() }
    }
}

impl<B: Record> Passed<B> {
    /// Forgets what a previous batch passed on.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    /// Passes `rec` on after this batch's first `at` bars.
    pub(crate) fn push(&mut self, at: usize, rec: Stamped<B>) {
        self.items.push((at, rec));
    }

    /// `fresh` (this batch's bars) with the passed-on records interleaved where they came, into
    /// `chain`; forgets them.
    pub(crate) fn interleave(&mut self, fresh: &[Stamped<B>], chain: &mut Vec<Stamped<B>>) {
        let mut p = self.items.drain(..).peekable();
        for (i, b) in fresh.iter().enumerate() {
            while let Some((_, t)) = p.next_if(|(at, _)| *at <= i) {
                chain.push(t);
            }
            chain.push(*b);
        }
        chain.extend(p.map(|(_, t)| t));
    }

    /// Copies what output 0 got since `before`, with the passed-on records, to `port`.
    pub(crate) fn fill(&mut self, port: Option<usize>, before: usize, out: &mut Outputs<'_>) {
        let Some(port) = port else { return };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let fresh = out.port::<B>(0);
        self.interleave(&fresh[before.min(fresh.len())..], &mut buf);
        out.port::<B>(port).extend_from_slice(&buf);
        self.buf = buf;
    }
}
