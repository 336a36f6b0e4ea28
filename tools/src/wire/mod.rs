//! Ticks on a message bus (design.md §9): one message per trade or quote, JSON or MessagePack,
//! the same map either way — field names as in the CSV formats (§6), decimals as strings (exact),
//! times as integer nanoseconds. A trade has `price` and `size`; a quote `bid_px`/`bid_sz`
//! and/or `ask_px`/`ask_sz` (a side absent, or empty, is absent). The subject carries nothing
//! the payload lacks.
//!
//! ```
//! use ticklane_tools::wire::{decode, encode_trade, Tick, WireFormat};
//! let (price, size) = ("61837.63".parse().unwrap(), "0.02".parse().unwrap());
//! let t = ticklane::Trade { ts_event: 5, ts_recv: 6, price, size, ..Default::default() };
//! let mut buf = Vec::new();
//! encode_trade(&t, "binance:BTCUSDT", WireFormat::Json, &mut buf);
//! assert_eq!(std::str::from_utf8(&buf).unwrap(),
//!            r#"{"ts_event":5,"instrument":"binance:BTCUSDT","price":"61837.63","size":"0.02","ts_recv":6}"#);
//! let Ok(Tick::Trade(back, name)) = decode(&buf, WireFormat::Json) else { panic!() };
//! assert_eq!((back.price, &*name), (t.price, "binance:BTCUSDT"));
//! ```

mod json;
mod keys;
mod msgpack;
mod scan;

use crate::input::excerpt;
use scan::Fields;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use ticklane::{Fixed, Quote, Side, Timestamp, Trade, TradeId, NO_TS};

/// The encodings of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WireFormat {
    /// A JSON object.
    Json,
    /// A MessagePack map with the same keys.
    Msgpack,
}

/// A trade id as a producer may send it: text, or a JSON/MessagePack integer.
#[derive(Serialize, Debug, PartialEq)]
#[serde(untagged)]
enum Id<'a> {
    Num(u64),
    Text(Cow<'a, str>),
}

/// By hand rather than `untagged`: the derive buffers every id into an intermediate value
/// before trying each variant, a cost paid on every message.
impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Id<'a>, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

/// Reads an [`Id`]: a string (borrowed when it can be) or a non-negative integer.
struct IdVisitor;

impl<'de> serde::de::Visitor<'de> for IdVisitor {
    type Value = Id<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a trade id: text or a non-negative integer")
    }
    fn visit_u64<E>(self, n: u64) -> Result<Id<'de>, E> {
        Ok(Id::Num(n))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Id<'de>, E> {
        u64::try_from(n).map(Id::Num).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
    }
    fn visit_borrowed_str<E>(self, t: &'de str) -> Result<Id<'de>, E> {
        Ok(Id::Text(Cow::Borrowed(t)))
    }
    fn visit_str<E>(self, t: &str) -> Result<Id<'de>, E> {
        Ok(Id::Text(Cow::Owned(t.to_owned())))
    }
}

/// The map on the wire (keys in the CSV formats' order).
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Msg<'a> {
    ts_event: Timestamp,
    #[serde(borrow)]
    instrument: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    price: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    size: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    bid_px: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    bid_sz: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    ask_px: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    ask_sz: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts_recv: Option<Timestamp>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    side: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    trade_id: Option<Id<'a>>,
    /// A quote's venue update id (Binance `u`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    update_id: Option<u64>,
}

/// A decoded message: the record (its instrument unset) and the instrument name.
pub enum Tick<'a> {
    /// A trade.
    Trade(Trade, Cow<'a, str>),
    /// A quote.
    Quote(Quote, Cow<'a, str>),
}

/// What is wrong with a message: a short stable reason and what was expected.
pub type Bad = (&'static str, String);

/// Decodes one message. A plain map (keys and strings without escapes, integers, no unknown
/// keys: what [`encode_trade`] writes, and what most producers send) is read by a scanner of
/// its own format, about three times as fast as serde on a live link's thread; anything else
/// goes to serde, which reads it the same way or says what is wrong.
pub fn decode(bytes: &[u8], format: WireFormat) -> Result<Tick<'_>, Bad> {
    // The map is read in place (returned, its few hundred bytes were copied twice a message).
    let mut f = Fields::default();
    let scanned = match format {
        WireFormat::Json => json::read(bytes, &mut f),
        WireFormat::Msgpack => msgpack::read(bytes, &mut f),
    };
    let mut read_by_serde;
    let m = match scanned.and_then(|()| f.done()) {
        Some(m) => m,
        None => {
            read_by_serde = by_serde(bytes, format)?;
            &mut read_by_serde
        }
    };
    if m.instrument.is_empty() {
        return Err(("bad_instrument", "instrument must not be empty".into()));
    }
    if m.price.is_some() {
        trade_of(m)
    } else {
        quote_of(m)
    }
}

/// The trade in `m` (it has a price).
fn trade_of<'a>(m: &mut Msg<'a>) -> Result<Tick<'a>, Bad> {
    let size = decimal(m.size.as_deref().unwrap_or(""), "size", "bad_size")?;
    if size.raw() <= 0 {
        return Err(("bad_size", format!("size must be positive, found {size}")));
    }
    let side = m.side.as_deref().unwrap_or("");
    let side = Side::parse(side.as_bytes()).ok_or_else(|| {
        ("bad_side", format!("side: expected buy, sell, b, s or empty, found {}", excerpt(side.as_bytes())))
    })?;
    let trade_id = match &m.trade_id {
        None => TradeId::NONE,
        Some(Id::Num(n)) => TradeId::from_u64(*n),
        Some(Id::Text(t)) => TradeId::from_text(t.as_bytes()),
    };
    let price = decimal(m.price.as_deref().unwrap_or(""), "price", "bad_price")?;
    let ts_recv = m.ts_recv.unwrap_or(NO_TS);
    let t = Trade { ts_event: m.ts_event, ts_recv, price, size, trade_id, side, ..Trade::default() };
    Ok(Tick::Trade(t, std::mem::take(&mut m.instrument)))
}

/// The quote in `m` (it has no price).
fn quote_of<'a>(m: &mut Msg<'a>) -> Result<Tick<'a>, Bad> {
    let update_id = m.update_id.and_then(std::num::NonZeroU64::new);
    let ts_recv = m.ts_recv.unwrap_or(NO_TS);
    let mut q = Quote { ts_event: m.ts_event, ts_recv, update_id, ..Quote::default() };
    if let Some((px, sz)) = side_of(&m.bid_px, &m.bid_sz, "bid")? {
        q = q.with_bid(px, sz);
    }
    if let Some((px, sz)) = side_of(&m.ask_px, &m.ask_sz, "ask")? {
        q = q.with_ask(px, sz);
    }
    if !q.has_bid && !q.has_ask && m.bid_px.is_none() && m.ask_px.is_none() {
        return Err(("bad_message", "expected a trade (price, size) or a quote (bid_px/bid_sz, ask_px/ask_sz)".into()));
    }
    Ok(Tick::Quote(q, std::mem::take(&mut m.instrument)))
}

/// The map read by serde: anything the scanners pass over (escapes, floats, unknown keys, a
/// struct as an array), and every error with its message.
fn by_serde(bytes: &[u8], format: WireFormat) -> Result<Msg<'_>, Bad> {
    match format {
        WireFormat::Json => serde_json::from_slice(bytes).map_err(|e| format!("{e}")),
        WireFormat::Msgpack => rmp_serde::from_slice(bytes).map_err(|e| format!("{e}")),
    }
    .map_err(|e| ("bad_message", format!("expected a tick ({format:?}): {e}: {}", excerpt(bytes))))
}

/// A decimal string: the CSV readers' short form when it fits (up to 15 digits, 9 of them
/// fractional), else [`Fixed::parse`], which also words the error.
fn decimal(text: &str, what: &str, reason: &'static str) -> Result<Fixed, Bad> {
    if let Some((raw, end)) = crate::input::digits::short_decimal(text.as_bytes(), 0) {
        if end == text.len() {
            return Ok(Fixed::from_raw(raw));
        }
    }
    Fixed::parse(text)
        .map_err(|e| (reason, format!("{what}: expected a decimal string, found {}: {e}", excerpt(text.as_bytes()))))
}

/// One quote side: absent when its price is missing or empty.
fn side_of(px: &Option<Cow<'_, str>>, sz: &Option<Cow<'_, str>>, what: &str) -> Result<Option<(Fixed, Fixed)>, Bad> {
    let Some(px) = px.as_deref().filter(|p| !p.is_empty()) else { return Ok(None) };
    let px = decimal(px, &format!("{what}_px"), "bad_price")?;
    let sz = decimal(sz.as_deref().unwrap_or(""), &format!("{what}_sz"), "bad_size")?;
    if sz.raw() < 0 {
        return Err(("bad_size", format!("{what}_sz must not be negative, found {sz}")));
    }
    Ok(Some((px, sz)))
}

/// Appends `t` (of instrument `name`) to `out` as one message.
pub fn encode_trade(t: &Trade, name: &str, format: WireFormat, out: &mut Vec<u8>) {
    let m = Msg {
        ts_event: t.ts_event,
        instrument: Cow::Borrowed(name),
        price: Some(Cow::Owned(t.price.to_string())),
        size: Some(Cow::Owned(t.size.to_string())),
        ts_recv: (t.ts_recv != NO_TS).then_some(t.ts_recv),
        side: (t.side != Side::None).then_some(Cow::Borrowed(t.side.as_str())),
        trade_id: t.trade_id.is_some().then(|| Id::Text(Cow::Owned(t.trade_id.to_string()))),
        ..Msg::default()
    };
    encode(&m, format, out);
}

/// Appends `q` (of instrument `name`) to `out` as one message.
pub fn encode_quote(q: &Quote, name: &str, format: WireFormat, out: &mut Vec<u8>) {
    let text = |on: bool, v: Fixed| on.then(|| Cow::Owned(v.to_string()));
    let m = Msg {
        ts_event: q.ts_event,
        instrument: Cow::Borrowed(name),
        // An empty book (no side) still says it is a quote: an empty `bid_px` (read as absent).
        bid_px: text(q.has_bid, q.bid_px).or_else(|| (!q.has_ask).then_some(Cow::Borrowed(""))),
        bid_sz: text(q.has_bid, q.bid_sz),
        ask_px: text(q.has_ask, q.ask_px),
        ask_sz: text(q.has_ask, q.ask_sz),
        ts_recv: (q.ts_recv != NO_TS).then_some(q.ts_recv),
        update_id: q.update_id.map(std::num::NonZeroU64::get),
        ..Msg::default()
    };
    encode(&m, format, out);
}

fn encode(m: &Msg<'_>, format: WireFormat, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and every field serializes.
    let _ = match format {
        WireFormat::Json => serde_json::to_writer(&mut *out, m).map_err(|e| e.to_string()),
        WireFormat::Msgpack => rmp_serde::encode::write_named(out, m).map_err(|e| e.to_string()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixed(raw: i64) -> Fixed {
        Fixed::from_raw(raw)
    }

    proptest! {
        /// decode ∘ encode = id for trades and quotes, in both formats. (Trade ids kept as
        /// given: up to 16 bytes of text, or numbers; longer text ids are held as a hash and
        /// travel as `#HEX`, stable but not the original text.)
        #[test]
        fn round_trip(ts in 1i64..i64::MAX / 2, recv in proptest::option::of(1i64..i64::MAX / 2), px in 1i64..i64::MAX,
                      sz in 1i64..i64::MAX, side in 0u8..3, id in proptest::option::of("[0-9a-z-]{1,16}|[1-9][0-9]{16,37}"),
                      bid in any::<bool>(), ask in any::<bool>(), msgpack in any::<bool>(),
                      uid in proptest::option::of(1u64..=u64::MAX)) {
            let format = if msgpack { WireFormat::Msgpack } else { WireFormat::Json };
            let side = [Side::None, Side::Buy, Side::Sell][side as usize];
            let trade_id = id.as_deref().map_or(TradeId::NONE, |t| TradeId::from_text(t.as_bytes()));
            let t = Trade { ts_event: ts, ts_recv: recv.unwrap_or(NO_TS), price: fixed(px), size: fixed(sz), side, trade_id, ..Trade::default() };
            let mut buf = Vec::new();
            encode_trade(&t, "venue:SYM-1", format, &mut buf);
            match decode(&buf, format) {
                Ok(Tick::Trade(back, name)) => { prop_assert_eq!(back, t); prop_assert_eq!(&*name, "venue:SYM-1"); }
                _ => prop_assert!(false, "not a trade"),
            }
            let update_id = uid.and_then(std::num::NonZeroU64::new);
            let mut q = Quote { ts_event: ts, ts_recv: recv.unwrap_or(NO_TS), update_id, ..Quote::default() };
            if bid { q = q.with_bid(fixed(px), fixed(sz)); }
            if ask { q = q.with_ask(fixed(px / 2), fixed(0)); }
            buf.clear();
            encode_quote(&q, "v:Q", format, &mut buf);
            match decode(&buf, format) {
                Ok(Tick::Quote(back, name)) => { prop_assert_eq!(back, q); prop_assert_eq!(&*name, "v:Q"); }
                _ => prop_assert!(false, "not a quote"),
            }
        }

        /// The short form reads a decimal exactly as `Fixed::parse` does, and leaves the rest
        /// (and every error) to it.
        #[test]
        fn decimals_read_as_fixed_parses_them(text in "[-+]?[0-9]{0,20}(\\.[0-9]{0,12})?|[-+0-9.,e ]{0,8}") {
            let short = decimal(&text, "price", "bad_price").map_err(|(r, _)| r);
            prop_assert_eq!(short, Fixed::parse(&text).map_err(|_| "bad_price"), "{}", text);
        }

        /// Any bytes: an error or a tick, never a panic.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), msgpack in any::<bool>()) {
            let _ = decode(&bytes, if msgpack { WireFormat::Msgpack } else { WireFormat::Json });
        }
    }

    /// Found by the `wire` fuzz target: a quote whose only side was sent empty (an empty book)
    /// was read, but written back without any side, which reads as no tick at all.
    #[test]
    fn an_empty_book_goes_round_trip() {
        let msg = br#"{"ts_event":3,"instrument":"X","ask_px":"","bask_sz":""}"#;
        let Ok(Tick::Quote(q, _)) = decode(msg, WireFormat::Json) else { panic!("a quote") };
        assert!(!q.has_bid && !q.has_ask);
        for format in [WireFormat::Json, WireFormat::Msgpack] {
            let mut buf = Vec::new();
            encode_quote(&q, "X", format, &mut buf);
            assert!(matches!(decode(&buf, format), Ok(Tick::Quote(back, _)) if back == q), "{format:?}");
        }
    }

    #[test]
    fn bad_messages_say_what_was_expected() {
        let e = |s: &str| decode(s.as_bytes(), WireFormat::Json).err().map(|(r, d)| format!("{r}: {d}"));
        let cases = [
            (r#"{"ts_event":1,"instrument":"X","price":61837.63,"size":"1"}"#, "bad_message"),
            (r#"{"ts_event":1,"instrument":"X","price":"6x","size":"1"}"#, "bad_price"),
            (r#"{"ts_event":1,"instrument":"X","price":"1","size":"0"}"#, "bad_size"),
            (r#"{"ts_event":1,"instrument":"X","price":"1","size":"1","side":"up"}"#, "bad_side"),
            (r#"{"ts_event":1,"instrument":"","price":"1","size":"1"}"#, "bad_instrument"),
            (r#"{"ts_event":1,"instrument":"X"}"#, "expected a trade"),
            (r#"{"ts_event":1,"instrument":"X","price":"1","size":"1","trade_id":-3}"#, "a trade id"),
            (r#"{"ts_event":1,"instrument":"X","price":"1","size":"1","trade_id":[1]}"#, "a trade id"),
            ("{", "bad_message"),
        ];
        for (msg, want) in cases {
            let got = e(msg).unwrap_or_default();
            assert!(got.contains(want), "{msg}: {got}");
        }
        let Ok(Tick::Trade(t, _)) =
            decode(br#"{"ts_event":1,"instrument":"X","price":"1","size":"1","trade_id":42}"#, WireFormat::Json)
        else {
            panic!("an integer trade id")
        };
        assert_eq!(t.trade_id, TradeId::from_u64(42));
        let json = br#"{"ts_event":1,"instrument":"X","price":"1","size":"1","trade_id":"a\"b"}"#;
        let Ok(Tick::Trade(t, _)) = decode(json, WireFormat::Json) else { panic!("an escaped text id") };
        assert_eq!(t.trade_id, TradeId::from_text(b"a\"b"));
    }
}
