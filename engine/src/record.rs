//! Hot records (trade, quote, bar, quote bar), the [`Stamped`] envelope they travel in, the
//! record [`Kind`]s that DAG ports are typed with, and [`CustomRecord`]: a service's own record
//! types, routed through shards, rings, watermarks and egresses like the built-in ones.

use crate::decimal::{Fixed, Wide};
use crate::instrument::InstrumentId;
use std::fmt;
use std::num::NonZeroU64;

mod custom;
mod quote_bar;

pub use custom::{CustomBatch, CustomKind, CustomRecord, MAX_STAMPED_SIZE};
pub use quote_bar::QuoteBar;

/// Nanoseconds since the Unix epoch, UTC (design.md §1).
pub type Timestamp = i64;

/// "No timestamp" (an absent `ts_recv`). Sorts before every real time.
pub const NO_TS: Timestamp = i64::MIN;

/// The watermark at end of input: every window fires (design.md §2).
pub const WM_END: Timestamp = i64::MAX;

/// Aggressor side of a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Side {
    /// Unknown or not reported.
    #[default]
    None = 0,
    /// Buyer was the aggressor.
    Buy = 1,
    /// Seller was the aggressor.
    Sell = 2,
}

impl Side {
    /// Parses `buy`/`sell`/`b`/`s` (any case) or empty (design.md §6); `None` for other text.
    pub fn parse(b: &[u8]) -> Option<Side> {
        match b {
            b"" => Some(Side::None),
            _ if b.eq_ignore_ascii_case(b"buy") || b.eq_ignore_ascii_case(b"b") => Some(Side::Buy),
            _ if b.eq_ignore_ascii_case(b"sell") || b.eq_ignore_ascii_case(b"s") => Some(Side::Sell),
            _ => None,
        }
    }

    /// `buy`, `sell` or the empty string.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::None => "",
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// An optional, opaque venue trade id (a number or a string such as a UUID), stored inline
/// in 17 bytes so that a [`Trade`] stays `Copy` and allocation-free.
///
/// Encoding, chosen so that equal texts give equal ids and the common cases stay exact:
/// text of at most 16 bytes is kept verbatim; a 36-character hyphenated UUID is kept as its
/// 16 bytes; a longer all-digit text that fits `u128` is kept as the number; anything else is
/// kept as its 128-bit FNV-1a hash (a collision needs ~2^64 distinct long ids).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TradeId {
    bytes: [u8; 16],
    /// 0 none; 1..=16 inline text of that length; 17 UUID; 18 number; 19 hash.
    tag: u8,
}

const TAG_UUID: u8 = 17;
const TAG_NUM: u8 = 18;
const TAG_HASH: u8 = 19;

impl TradeId {
    /// No trade id.
    pub const NONE: TradeId = TradeId { bytes: [0; 16], tag: 0 };

    /// Whether an id is present.
    pub fn is_some(&self) -> bool {
        self.tag != 0
    }

    /// The id as two integers (its 16 bytes and its encoding tag) for compact hashing: equal
    /// ids give equal pairs and different ids different pairs.
    #[inline]
    pub fn key(&self) -> (u128, u8) {
        (u128::from_le_bytes(self.bytes), self.tag)
    }

    /// An id from its text (empty text is [`TradeId::NONE`]).
    pub fn from_text(t: &[u8]) -> TradeId {
        let mut bytes = [0u8; 16];
        if t.is_empty() {
            return TradeId::NONE;
        }
        if t.len() <= 16 {
            bytes[..t.len()].copy_from_slice(t);
            return TradeId { bytes, tag: t.len() as u8 };
        }
        if let Some(u) = parse_uuid(t) {
            return TradeId { bytes: u.to_be_bytes(), tag: TAG_UUID };
        }
        if t.len() <= 39 && t[0] != b'0' && t.iter().all(u8::is_ascii_digit) {
            let mut n: u128 = 0;
            let fits = t.iter().all(|&c| match n.checked_mul(10).and_then(|m| m.checked_add(u128::from(c - b'0'))) {
                Some(m) => {
                    n = m;
                    true
                }
                None => false,
            });
            if fits {
                return TradeId { bytes: n.to_be_bytes(), tag: TAG_NUM };
            }
        }
        TradeId { bytes: crate::instrument::fnv1a128(t).to_be_bytes(), tag: TAG_HASH }
    }

    /// An id from a number (shown as its decimal digits).
    pub fn from_u64(n: u64) -> TradeId {
        let mut buf = [0u8; 20];
        let mut pos = buf.len();
        let mut v = n;
        loop {
            pos -= 1;
            buf[pos] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        TradeId::from_text(&buf[pos..])
    }
}

fn parse_uuid(t: &[u8]) -> Option<u128> {
    if t.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in t.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let d = (c as char).to_digit(16)?;
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

impl fmt::Display for TradeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tag {
            0 => Ok(()),
            1..=16 => f.write_str(&String::from_utf8_lossy(&self.bytes[..self.tag as usize])),
            TAG_UUID => {
                let h = u128::from_be_bytes(self.bytes);
                let s = format!("{h:032x}");
                write!(f, "{}-{}-{}-{}-{}", &s[..8], &s[8..12], &s[12..16], &s[16..20], &s[20..])
            }
            TAG_NUM => write!(f, "{}", u128::from_be_bytes(self.bytes)),
            _ => write!(f, "#{:032x}", u128::from_be_bytes(self.bytes)),
        }
    }
}

impl fmt::Debug for TradeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TradeId({self})")
    }
}

/// One trade print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Trade {
    /// Venue event time (the clock windows use).
    pub ts_event: Timestamp,
    /// Capture receive time, or [`NO_TS`].
    pub ts_recv: Timestamp,
    /// Trade price.
    pub price: Fixed,
    /// Trade size.
    pub size: Fixed,
    /// Venue trade id, possibly [`TradeId::NONE`].
    pub trade_id: TradeId,
    /// Interned instrument.
    pub instrument: InstrumentId,
    /// Aggressor side.
    pub side: Side,
}

/// One top-of-book quote. Either side may be absent (an empty book side, design.md §1): a
/// side is present only when its flag is set (`has_bid`, `has_ask`), never inferred from a zero
/// price. The default quote has no side; [`Quote::with_bid`] and [`Quote::with_ask`] set one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Quote {
    /// Venue event time (a venue that sends none, such as Binance spot `bookTicker`: the
    /// receive time).
    pub ts_event: Timestamp,
    /// Capture receive time, or [`NO_TS`].
    pub ts_recv: Timestamp,
    /// Best bid price (meaningful when `has_bid`).
    pub bid_px: Fixed,
    /// Size at the best bid (meaningful when `has_bid`).
    pub bid_sz: Fixed,
    /// Best ask price (meaningful when `has_ask`).
    pub ask_px: Fixed,
    /// Size at the best ask (meaningful when `has_ask`).
    pub ask_sz: Fixed,
    /// Interned instrument.
    pub instrument: InstrumentId,
    /// The bid side is present.
    pub has_bid: bool,
    /// The ask side is present.
    pub has_ask: bool,
    /// The venue's id of this book update where it sends one (Binance `bookTicker`'s `u`, which
    /// orders a symbol's updates): with it, dedupe keys the quote by `(instrument, update_id)`
    /// rather than by its content, so a resend after a reconnect (a new receive time) is
    /// still a repeat.
    pub update_id: Option<NonZeroU64>,
}

impl Quote {
    /// This quote with a bid of `sz` at `px`.
    pub fn with_bid(self, px: Fixed, sz: Fixed) -> Quote {
        Quote { bid_px: px, bid_sz: sz, has_bid: true, ..self }
    }

    /// This quote with an ask of `sz` at `px`.
    pub fn with_ask(self, px: Fixed, sz: Fixed) -> Quote {
        Quote { ask_px: px, ask_sz: sz, has_ask: true, ..self }
    }

    /// The bid price and size, if the side is present.
    pub fn bid(&self) -> Option<(Fixed, Fixed)> {
        self.has_bid.then_some((self.bid_px, self.bid_sz))
    }

    /// The ask price and size, if the side is present.
    pub fn ask(&self) -> Option<(Fixed, Fixed)> {
        self.has_ask.then_some((self.ask_px, self.ask_sz))
    }
}

/// An OHLCV bar of one instrument over `[window_start, window_end)` (design.md §3, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bar {
    /// Interned instrument.
    pub instrument: InstrumentId,
    /// Inclusive window start.
    pub window_start: Timestamp,
    /// Exclusive window end.
    pub window_end: Timestamp,
    /// First trade's price in `(ts_event, ts_recv, arrival)` order.
    pub open: Fixed,
    /// Highest price.
    pub high: Fixed,
    /// Lowest price.
    pub low: Fixed,
    /// Last trade's price in `(ts_event, ts_recv, arrival)` order.
    pub close: Fixed,
    /// Sum of sizes (wide, checked).
    pub volume: Wide,
    /// Number of trades.
    pub trade_count: u64,
    /// Volume-weighted average price, rounded to 9 decimals.
    pub vwap: Fixed,
    /// 0 for the first emission; +1 for each re-emission under the `revise` late policy.
    pub revision: u32,
    /// Σ price·size over the bar's trades, exact (raw units of 10⁻¹⁸; saturated like
    /// `volume`): what resampling adds up, so a coarse bar's vwap is exact (design.md §3).
    pub notional: i128,
    /// `(ts_event, ts_recv)` of the trade that set `open` ([`NO_TS`] for a bar without trades).
    pub open_at: (Timestamp, Timestamp),
    /// `(ts_event, ts_recv)` of the trade that set `close`.
    pub close_at: (Timestamp, Timestamp),
}

/// A record as it travels between nodes: the record plus its watermark stamp.
///
/// `wm` is the watermark that held *before* the record was applied. The ingress stamps each
/// event with its source's watermark as it was just before that event (design.md §2:
/// "judged against the watermark before it is applied"), so lateness is decided per event and
/// never depends on batching, ring size, shard count or pacing. Operators give their outputs a
/// stamp that is a deterministic lower bound of the watermark at which they were produced
/// (a fired window's bar carries its `window_end`); see [`crate::Operator`] for the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stamped<T> {
    /// Watermark stamp (ns).
    pub wm: Timestamp,
    /// The record.
    pub rec: T,
}

/// The record kinds a DAG port can carry. Edges must join ports of the same kind.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// [`Trade`] records.
    Trade,
    /// [`Quote`] records.
    Quote,
    /// [`Bar`] records.
    Bar,
    /// [`QuoteBar`] records.
    QuoteBar,
    /// A service's own records ([`CustomRecord`]), told apart by their kind's name.
    Custom(&'static CustomKind),
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        match (self, other) {
            (Kind::Custom(a), Kind::Custom(b)) => a.name == b.name,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for Kind {}

impl std::hash::Hash for Kind {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        if let Kind::Custom(k) = self {
            k.name.hash(h);
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Trade => "trade",
            Kind::Quote => "quote",
            Kind::Bar => "bar",
            Kind::QuoteBar => "quote bar",
            Kind::Custom(k) => k.name,
        })
    }
}

/// A batch of stamped records of one kind: the unit that moves through rings and between
/// fused operators (one `dyn` call per batch, a plain loop per record).
#[derive(Debug)]
pub enum Batch {
    /// Trades.
    Trade(Vec<Stamped<Trade>>),
    /// Quotes.
    Quote(Vec<Stamped<Quote>>),
    /// Bars.
    Bar(Vec<Stamped<Bar>>),
    /// Quote bars.
    QuoteBar(Vec<Stamped<QuoteBar>>),
    /// A service's own records (a `Vec<Stamped<T>>` behind one `dyn` per batch).
    Custom(Box<dyn CustomBatch>),
}

impl Batch {
    /// An empty batch of `kind` (no allocation).
    pub fn empty(kind: Kind) -> Batch {
        Batch::with_capacity(kind, 0)
    }

    /// An empty batch of `kind` with room for `cap` records.
    pub fn with_capacity(kind: Kind, cap: usize) -> Batch {
        match kind {
            Kind::Trade => Batch::Trade(Vec::with_capacity(cap)),
            Kind::Quote => Batch::Quote(Vec::with_capacity(cap)),
            Kind::Bar => Batch::Bar(Vec::with_capacity(cap)),
            Kind::QuoteBar => Batch::QuoteBar(Vec::with_capacity(cap)),
            Kind::Custom(k) => (k.new_batch)(cap),
        }
    }

    /// The kind of records held.
    pub fn kind(&self) -> Kind {
        match self {
            Batch::Trade(_) => Kind::Trade,
            Batch::Quote(_) => Kind::Quote,
            Batch::Bar(_) => Kind::Bar,
            Batch::QuoteBar(_) => Kind::QuoteBar,
            Batch::Custom(b) => b.kind(),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        match self {
            Batch::Trade(v) => v.len(),
            Batch::Quote(v) => v.len(),
            Batch::Bar(v) => v.len(),
            Batch::QuoteBar(v) => v.len(),
            Batch::Custom(b) => b.len(),
        }
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes all records, keeping the allocation.
    pub fn clear(&mut self) {
        match self {
            Batch::Trade(v) => v.clear(),
            Batch::Quote(v) => v.clear(),
            Batch::Bar(v) => v.clear(),
            Batch::QuoteBar(v) => v.clear(),
            Batch::Custom(b) => b.clear(),
        }
    }

    /// The records as `T`, or `None` if the batch holds another kind.
    pub fn as_slice<T: Record>(&self) -> Option<&[Stamped<T>]> {
        T::from_batch(self).map(Vec::as_slice)
    }

    /// The greatest stamp held (`None` when empty); a service's own records answer
    /// `Timestamp::MAX`, an upper bound that never needs their stamps.
    pub(crate) fn max_stamp(&self) -> Option<Timestamp> {
        fn max<T>(v: &[Stamped<T>]) -> Option<Timestamp> {
            v.iter().map(|r| r.wm).max()
        }
        match self {
            Batch::Trade(v) => max(v),
            Batch::Quote(v) => max(v),
            Batch::Bar(v) => max(v),
            Batch::QuoteBar(v) => max(v),
            Batch::Custom(b) => (!b.is_empty()).then_some(Timestamp::MAX),
        }
    }

    /// Lowers every record's stamp to at most `bound`.
    pub(crate) fn clamp_stamps(&mut self, bound: Timestamp) {
        match self {
            Batch::Trade(v) => v.iter_mut().for_each(|r| r.wm = r.wm.min(bound)),
            Batch::Quote(v) => v.iter_mut().for_each(|r| r.wm = r.wm.min(bound)),
            Batch::Bar(v) => v.iter_mut().for_each(|r| r.wm = r.wm.min(bound)),
            Batch::QuoteBar(v) => v.iter_mut().for_each(|r| r.wm = r.wm.min(bound)),
            Batch::Custom(b) => b.clamp_stamps(bound),
        }
    }
}

/// One stamped record carried inside a ring message, with no buffer behind it: what the
/// ingress sends when a batch holds a single record (a latency-tuned feed with batch size 1,
/// or a flush of one record), so the shard reads one ring slot instead of following a pointer
/// to a buffer the producer's core just wrote, and hands nothing back. Only the kinds that fit
/// a cache line have a variant; bars always travel in batches. Not exported.
#[derive(Debug, Clone, Copy)]
pub enum Inline {
    /// A trade.
    Trade(Stamped<Trade>),
    /// A quote.
    Quote(Stamped<Quote>),
}

impl Inline {
    /// Appends the record to `b` if `b` holds its kind; returns whether it did.
    pub(crate) fn push_into(self, b: &mut Batch) -> bool {
        match (self, b) {
            (Inline::Trade(r), Batch::Trade(v)) => v.push(r),
            (Inline::Quote(r), Batch::Quote(v)) => v.push(r),
            _ => return false,
        }
        true
    }

    /// The record's kind.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Inline::Trade(_) => Kind::Trade,
            Inline::Quote(_) => Kind::Quote,
        }
    }
}

pub(crate) mod sealed {
    use super::{Inline, Stamped};

    pub trait Sealed: Sized {
        /// The record as an inline ring message, for kinds that have one.
        fn inline(s: Stamped<Self>) -> Option<Inline>;
    }
    impl Sealed for super::Trade {
        #[inline]
        fn inline(s: Stamped<Self>) -> Option<Inline> {
            Some(Inline::Trade(s))
        }
    }
    impl Sealed for super::Quote {
        #[inline]
        fn inline(s: Stamped<Self>) -> Option<Inline> {
            Some(Inline::Quote(s))
        }
    }
    impl Sealed for super::Bar {
        #[inline]
        fn inline(_: Stamped<Self>) -> Option<Inline> {
            None
        }
    }
    impl Sealed for super::QuoteBar {
        #[inline]
        fn inline(_: Stamped<Self>) -> Option<Inline> {
            None
        }
    }
}

/// A record type that DAG ports can carry: the built-in ones (each with a batch variant of its
/// own, and trades and quotes travelling inside a ring slot when sent one at a time) and every
/// [`CustomRecord`]. Implement [`CustomRecord`] for a type of your own; this trait is sealed.
pub trait Record: sealed::Sealed + Copy + Default + Send + Sync + fmt::Debug + 'static {
    /// The port kind of this record type.
    const KIND: Kind;
    /// The instrument the record belongs to (the shard key).
    fn instrument(&self) -> InstrumentId;
    /// The event time used for ingress watermarks.
    fn ts_event(&self) -> Timestamp;
    /// The batch's records if it holds this kind.
    fn from_batch(b: &Batch) -> Option<&Vec<Stamped<Self>>>;
    /// The batch's records, mutably, if it holds this kind.
    fn from_batch_mut(b: &mut Batch) -> Option<&mut Vec<Stamped<Self>>>;
    /// Wraps records into a batch.
    fn into_batch(v: Vec<Stamped<Self>>) -> Batch;
}

macro_rules! impl_record {
    ($t:ident, $ts:ident) => {
        impl Record for $t {
            const KIND: Kind = Kind::$t;
            #[inline]
            fn instrument(&self) -> InstrumentId {
                self.instrument
            }
            #[inline]
            fn ts_event(&self) -> Timestamp {
                self.$ts
            }
            #[inline]
            fn from_batch(b: &Batch) -> Option<&Vec<Stamped<Self>>> {
                match b {
                    Batch::$t(v) => Some(v),
                    _ => None,
                }
            }
            #[inline]
            fn from_batch_mut(b: &mut Batch) -> Option<&mut Vec<Stamped<Self>>> {
                match b {
                    Batch::$t(v) => Some(v),
                    _ => None,
                }
            }
            fn into_batch(v: Vec<Stamped<Self>>) -> Batch {
                Batch::$t(v)
            }
        }
    };
}

/// Appends `src` to `dst` when both hold the same kind (the shard's fan-in of node outputs).
pub(crate) fn append(dst: &mut Batch, src: &Batch) {
    match (dst, src) {
        (Batch::Trade(d), Batch::Trade(s)) => d.extend_from_slice(s),
        (Batch::Quote(d), Batch::Quote(s)) => d.extend_from_slice(s),
        (Batch::Bar(d), Batch::Bar(s)) => d.extend_from_slice(s),
        (Batch::QuoteBar(d), Batch::QuoteBar(s)) => d.extend_from_slice(s),
        (Batch::Custom(d), Batch::Custom(s)) => d.append(&**s),
        // Unreachable for a validated graph: edges join ports of one kind.
        _ => {}
    }
}

impl_record!(Trade, ts_event);
impl_record!(Quote, ts_event);
impl_record!(Bar, window_start);
impl_record!(QuoteBar, window_start);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_ids_keep_exact_text() {
        for t in ["", "1", "1234567890123456", "5081.2", "abc"] {
            assert_eq!(TradeId::from_text(t.as_bytes()).to_string(), t);
        }
        let u = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(TradeId::from_text(u.as_bytes()).to_string(), u);
        let n = "123456789012345678901234567890";
        assert_eq!(TradeId::from_text(n.as_bytes()).to_string(), n);
        let long = "an-id-that-is-rather-long-and-not-a-uuid-or-number";
        assert_eq!(TradeId::from_text(long.as_bytes()), TradeId::from_text(long.as_bytes()));
        assert_ne!(TradeId::from_text(long.as_bytes()), TradeId::from_text(&long.as_bytes()[1..]));
        assert_eq!(TradeId::from_u64(987654321).to_string(), "987654321");
        assert_eq!(TradeId::from_u64(0).to_string(), "0");
        assert!(!TradeId::NONE.is_some());
    }

    #[test]
    fn side_parse() {
        assert_eq!(Side::parse(b"BUY"), Some(Side::Buy));
        assert_eq!(Side::parse(b"s"), Some(Side::Sell));
        assert_eq!(Side::parse(b""), Some(Side::None));
        assert_eq!(Side::parse(b"x"), None);
    }

    #[test]
    fn batch_typed_access() {
        let mut b = Batch::with_capacity(Kind::Trade, 4);
        if let Some(v) = Trade::from_batch_mut(&mut b) {
            v.push(Stamped::default());
        }
        assert_eq!(b.len(), 1);
        assert!(b.as_slice::<Bar>().is_none());
        b.clear();
        assert!(b.is_empty());
    }
}
