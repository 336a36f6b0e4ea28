//! The one-pass path for a well-formed unquoted quotes line: each field parsed as the scan
//! reaches it (no field table, no second pass), short decimals and integer times only. Any
//! line it does not take whole goes to the general parser, which says what is wrong.

use super::super::digits::short_decimal;
use super::super::time::parse_int;
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

/// Reads `line` (no `"`, no line break) by `roles`; `tardis` times are µs.
#[inline]
pub(super) fn scan(line: &[u8], roles: &[Role], tardis: bool, range: (Timestamp, Timestamp)) -> Option<Scanned> {
    let mut q = Quote { ts_recv: NO_TS, ..Quote::default() };
    let (mut bid, mut ask) = ((None, None), (None, None));
    let (mut name, mut symbol) = ((0, 0), (0, 0));
    let mut start = 0;
    for (j, role) in roles.iter().enumerate() {
        let end = match memchr::memchr(b',', &line[start..]) {
            Some(i) => start + i,
            None if j + 1 == roles.len() => line.len(),
            None => return None, // fewer fields than the header promises
        };
        let f = &line[start..end];
        match role {
            Role::Skip => {}
            Role::Ts => q.ts_event = time(f, tardis)?,
            Role::Recv if f.is_empty() => {}
            Role::Recv => q.ts_recv = time(f, tardis)?,
            Role::BidPx => bid.0 = price(f)?,
            Role::BidSz => bid.1 = Some(f),
            Role::AskPx => ask.0 = price(f)?,
            Role::AskSz => ask.1 = Some(f),
            Role::Instrument | Role::Exchange => name = (start, end),
            Role::Symbol => symbol = (start, end),
        }
        start = end + 1;
    }
    if q.ts_event < range.0 || q.ts_event > range.1 {
        return None;
    }
    if let Some(px) = bid.0 {
        q = q.with_bid(px, size(bid.1?)?);
    }
    if let Some(px) = ask.0 {
        q = q.with_ask(px, size(ask.1?)?);
    }
    Some(Scanned { quote: q, name, symbol })
}

/// An integer time (ns, or µs for Tardis).
#[inline]
fn time(f: &[u8], tardis: bool) -> Option<Timestamp> {
    let t = parse_int(f)?;
    if tardis {
        t.checked_mul(1_000)
    } else {
        Some(t)
    }
}

/// A price: `Some(None)` for an empty field (an absent side).
#[inline]
fn price(f: &[u8]) -> Option<Option<Fixed>> {
    if f.is_empty() {
        return Some(None);
    }
    decimal(f).map(Some)
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
