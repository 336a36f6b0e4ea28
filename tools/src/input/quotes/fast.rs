//! The one-pass path for a well-formed unquoted quotes line: each field parsed as the scan
//! reaches it (no field table, no second pass), short decimals and integer times only. Any
//! line it does not take whole goes to the general parser, which says what is wrong.

use super::super::cursor::{at_end, comma, time};
use super::super::digits::short_decimal;
use super::{Columns, Name};
use ticklane::{Fixed, Quote, Timestamp, NO_TS};

/// What a column holds, for the scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Skip,
    Ts,
    Recv,
    BidPx,
    BidSz,
    AskPx,
    AskSz,
    Instrument,
    Exchange,
    Symbol,
}

/// The role of every column up to the widest one used (`ts_recv` included: a line without
/// it goes the general way).
pub(super) fn roles(c: &Columns, width: usize) -> Vec<Role> {
    let mut r = vec![Role::Skip; width.max(c.recv.unwrap_or(0)) + 1];
    let mut set = |i: usize, role| r[i] = role;
    set(c.ts, Role::Ts);
    if let Some(i) = c.recv {
        set(i, Role::Recv);
    }
    set(c.bid.0, Role::BidPx);
    set(c.bid.1, Role::BidSz);
    set(c.ask.0, Role::AskPx);
    set(c.ask.1, Role::AskSz);
    match c.name {
        Name::Instrument(i) => set(i, Role::Instrument),
        Name::Venue(e, s) => {
            set(e, Role::Exchange);
            set(s, Role::Symbol);
        }
    }
    r
}

/// A line read in one pass: the quote (instrument unset) and where the name parts are, or
/// `None` for anything unusual.
pub(super) struct Scanned {
    pub(super) quote: Quote,
    /// `(start, end)` of the instrument name, or of the exchange and the symbol.
    pub(super) name: (usize, usize),
    pub(super) symbol: (usize, usize),
}

/// Reads `line` (no `"`, no line break) by `roles`; `tardis` times are µs. Numbers are read
/// in place as the cursor reaches them; text fields and sizes are found by their commas (a
/// size is read only when its price is there).
#[inline]
pub(super) fn scan(line: &[u8], roles: &[Role], tardis: bool, range: (Timestamp, Timestamp)) -> Option<Scanned> {
    let mut q = Quote { ts_recv: NO_TS, ..Quote::default() };
    let (mut bid, mut ask) = ((None, (0, 0)), (None, (0, 0)));
    let (mut name, mut symbol) = ((0, 0), (0, 0));
    let mut i = 0;
    for (j, role) in roles.iter().enumerate() {
        if j > 0 {
            if line.get(i) != Some(&b',') {
                return None; // fewer fields than the header promises
            }
            i += 1;
        }
        let start = i;
        i = match role {
            Role::Ts => time(line, i, tardis, &mut q.ts_event)?,
            Role::Recv if at_end(line, i) => i,
            Role::Recv => time(line, i, tardis, &mut q.ts_recv)?,
            Role::BidPx => price(line, i, &mut bid.0)?,
            Role::AskPx => price(line, i, &mut ask.0)?,
            _ => comma(line, i),
        };
        match role {
            Role::BidSz => bid.1 = (start, i),
            Role::AskSz => ask.1 = (start, i),
            Role::Instrument | Role::Exchange => name = (start, i),
            Role::Symbol => symbol = (start, i),
            _ => {}
        }
    }
    if q.ts_event < range.0 || q.ts_event > range.1 {
        return None;
    }
    if let Some(px) = bid.0 {
        q = q.with_bid(px, size(&line[bid.1 .0..bid.1 .1])?);
    }
    if let Some(px) = ask.0 {
        q = q.with_ask(px, size(&line[ask.1 .0..ask.1 .1])?);
    }
    Some(Scanned { quote: q, name, symbol })
}

/// A price at `i` into `out` (`None` for an empty field: an absent side); the index after it.
#[inline]
fn price(line: &[u8], i: usize, out: &mut Option<Fixed>) -> Option<usize> {
    if at_end(line, i) {
        return Some(i);
    }
    let (raw, end) = short_decimal(line, i)?;
    *out = Some(Fixed::from_raw(raw));
    Some(end)
}

/// A size of a present side: not negative.
#[inline]
fn size(f: &[u8]) -> Option<Fixed> {
    decimal(f).filter(|s| s.raw() >= 0)
}

#[inline]
fn decimal(f: &[u8]) -> Option<Fixed> {
    match short_decimal(f, 0) {
        Some((raw, end)) if end == f.len() => Some(Fixed::from_raw(raw)),
        _ => None,
    }
}
