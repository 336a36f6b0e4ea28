//! Binance stream captures (design.md §6): lines of `<receive_ns> <json>`, the JSON a
//! combined-stream message `{"stream": …, "data": {…}}`. A source reads one kind: `trade`
//! messages as trades, `bookTicker` messages as quotes; every other line (depth updates, REST
//! snapshots without a `stream` key, and the other kind) is skipped and counted
//! ([`Source::skipped`]).
//!
//! - The instrument is `<venue>:<s>` (venue `binance` unless `--venue` says otherwise).
//! - `ts_event` is the message's `T` (ms) or, where it has none (Binance spot `bookTicker`),
//!   the line's receive time; `ts_recv` is the receive time.
//! - Trades: `trade_id` is `t`, the side `sell` when `m` (buyer is maker) is true, else `buy`.
//! - Quotes: `b`/`B` bid price/size, `a`/`A` ask; a side missing, or zero-filled (price and
//!   size both zero, Binance's empty book side), is absent; `u`, the book update id, is the
//!   quote's `update_id` (dedupe keys by it).

use super::csv::{Line, Lines, MAX_LINE};
use super::excerpt::excerpt;
use super::stream::{Bytes, Stream};
use super::symbols::Symbols;
use super::time::parse_int;
use super::{Event, InputError, ReadOptions, Rec, Source};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use ticklane::{Fixed, Quote, Side, Timestamp, Trade, TradeId};

/// The venue prefix when none is given.
pub const DEFAULT_VENUE: &str = "binance";

/// One line's message: which stream, and its payload (parsed later, per kind).
#[derive(Deserialize)]
pub(crate) struct Message<'a> {
    #[serde(borrow)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// A combined-stream message, its payload not yet parsed.
pub(crate) fn message(json: &str) -> Result<Message<'_>, Bad> {
    serde_json::from_str(json).map_err(|e| ("bad_json", format!("{e}: {}", excerpt(json.as_bytes()))))
}

impl<'a> Message<'a> {
    /// The stream kind (the stream name after its last `@`: `trade`, `bookTicker`, …) and
    /// the payload; `None` for a message that is not a stream message (a REST snapshot, a
    /// subscription reply).
    pub(crate) fn parts(&self) -> Option<(&str, &'a RawValue)> {
        let (Some(stream), Some(data)) = (&self.stream, self.data) else { return None };
        Some((stream.rsplit('@').next().unwrap_or(""), data))
    }
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct TradeData<'a> {
    #[serde(borrow)]
    s: Cow<'a, str>,
    t: Option<u64>,
    #[serde(borrow)]
    p: Cow<'a, str>,
    #[serde(borrow)]
    q: Cow<'a, str>,
    T: Option<i64>,
    m: Option<bool>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BookData<'a> {
    #[serde(borrow)]
    s: Cow<'a, str>,
    #[serde(borrow)]
    b: Option<Cow<'a, str>>,
    #[serde(borrow)]
    B: Option<Cow<'a, str>>,
    #[serde(borrow)]
    a: Option<Cow<'a, str>>,
    #[serde(borrow)]
    A: Option<Cow<'a, str>>,
    T: Option<i64>,
    u: Option<u64>,
}

/// What is wrong with a line: its reason and what was expected.
pub(crate) type Bad = (&'static str, String);

/// A record kind a Binance stream carries.
pub trait StreamKind: Event {
    /// The stream name's suffix (after its `@`) of messages of this kind.
    const STREAM: &'static str;
    /// The record of one message (`recv`: the line's receive time), its symbol `s` in `symbol`.
    fn parse(data: &RawValue, recv: Timestamp, symbol: &mut Vec<u8>) -> Result<Self, Bad>;
}

fn decimal(text: &str, what: &str, reason: &'static str) -> Result<Fixed, Bad> {
    Fixed::parse(text).map_err(|e| (reason, format!("{what} {}: {e}", excerpt(text.as_bytes()))))
}

fn json_error(e: serde_json::Error, kind: &str) -> Bad {
    ("bad_json", format!("expected a `{kind}` message: {e}"))
}

/// A message time in ms as ns.
fn millis(t: i64, what: &str) -> Result<Timestamp, Bad> {
    t.checked_mul(1_000_000).ok_or_else(|| ("bad_timestamp", format!("{what} {t} ms is out of range")))
}

impl StreamKind for Trade {
    const STREAM: &'static str = "trade";

    fn parse(data: &RawValue, recv: Timestamp, symbol: &mut Vec<u8>) -> Result<Trade, Bad> {
        let d: TradeData<'_> = serde_json::from_str(data.get()).map_err(|e| json_error(e, "trade"))?;
        let size = decimal(&d.q, "q (quantity)", "bad_size")?;
        if size.raw() <= 0 {
            return Err(("bad_size", format!("q (quantity) must be positive, found {}", excerpt(d.q.as_bytes()))));
        }
        symbol.extend_from_slice(d.s.as_bytes());
        Ok(Trade {
            ts_event: d.T.map_or(Ok(recv), |t| millis(t, "T"))?,
            ts_recv: recv,
            price: decimal(&d.p, "p (price)", "bad_price")?,
            size,
            trade_id: d.t.map_or(TradeId::NONE, TradeId::from_u64),
            side: match d.m {
                Some(true) => Side::Sell,
                Some(false) => Side::Buy,
                None => Side::None,
            },
            ..Trade::default()
        })
    }
}

impl StreamKind for Quote {
    const STREAM: &'static str = "bookTicker";

    fn parse(data: &RawValue, recv: Timestamp, symbol: &mut Vec<u8>) -> Result<Quote, Bad> {
        let d: BookData<'_> = serde_json::from_str(data.get()).map_err(|e| json_error(e, "bookTicker"))?;
        let side = |px: &Option<Cow<'_, str>>, sz: &Option<Cow<'_, str>>, what: &str| -> Result<_, Bad> {
            let (Some(px), Some(sz)) = (px, sz) else { return Ok(None) };
            let px = decimal(px, &format!("{what} price"), "bad_price")?;
            let sz = decimal(sz, &format!("{what} size"), "bad_size")?;
            if sz.raw() < 0 {
                return Err(("bad_size", format!("{what} size must not be negative, found {sz}")));
            }
            Ok((px.raw() != 0 || sz.raw() != 0).then_some((px, sz)))
        };
        let ts_event = d.T.map_or(Ok(recv), |t| millis(t, "T"))?;
        let update_id = d.u.and_then(std::num::NonZeroU64::new);
        let mut q = Quote { ts_event, ts_recv: recv, update_id, ..Quote::default() };
        if let Some((px, sz)) = side(&d.b, &d.B, "b (bid)")? {
            q = q.with_bid(px, sz);
        }
        if let Some((px, sz)) = side(&d.a, &d.A, "a (ask)")? {
            q = q.with_ask(px, sz);
        }
        symbol.extend_from_slice(d.s.as_bytes());
        Ok(q)
    }
}

/// A Binance stream capture read for one record kind.
pub struct BinanceSource<R> {
    path: PathBuf,
    lines: Lines<BufReader<Bytes>>,
    line: Vec<u8>,
    line_no: u64,
    /// `<venue>:`, the instrument prefix; a name is built after it.
    name: Vec<u8>,
    prefix: usize,
    symbols: Symbols,
    ts_range: (Timestamp, Timestamp),
    skipped: u64,
    position: Arc<AtomicU64>,
    /// A read failed: nothing more comes (the error was the last item).
    done: bool,
    kind: std::marker::PhantomData<R>,
}

impl<R: StreamKind> BinanceSource<R> {
    pub(super) fn open(path: &Path, stream: Stream, opt: &ReadOptions) -> BinanceSource<R> {
        let mut name = opt.venue.as_deref().unwrap_or(DEFAULT_VENUE).as_bytes().to_vec();
        name.push(b':');
        BinanceSource {
            path: path.to_path_buf(),
            lines: Lines::new(BufReader::with_capacity(1 << 16, stream.bytes)),
            line: Vec::new(),
            line_no: 0,
            prefix: name.len(),
            name,
            symbols: Symbols::default(),
            ts_range: opt.ts_range,
            skipped: 0,
            position: stream.position,
            done: false,
            kind: std::marker::PhantomData,
        }
    }

    /// One line: its record, `None` for a message of another kind, or what is wrong.
    fn parse(&mut self) -> Result<Option<R>, Bad> {
        let line = super::csv::trim_line_break(&self.line);
        let Some(space) = memchr::memchr(b' ', line) else {
            return Err(("bad_line", format!("expected `<receive_ns> <json>`, found {}", excerpt(line))));
        };
        let recv = parse_int(&line[..space]).ok_or_else(|| {
            ("bad_timestamp", format!("receive time: expected integer nanoseconds, found {}", excerpt(&line[..space])))
        })?;
        let json = std::str::from_utf8(&line[space + 1..]).map_err(|e| ("bad_json", format!("not UTF-8: {e}")))?;
        let m = message(json)?;
        let Some((stream, data)) = m.parts() else { return Ok(None) };
        if stream != R::STREAM {
            return Ok(None);
        }
        self.name.truncate(self.prefix);
        let mut rec = R::parse(data, recv, &mut self.name)?;
        let ts = rec.ts_event();
        if ts < self.ts_range.0 || ts > self.ts_range.1 {
            return Err(("bad_timestamp", super::out_of_range(ts, self.ts_range)));
        }
        rec.set_instrument(ticklane::InstrumentId(self.symbols.get(&self.name)));
        Ok(Some(rec))
    }
}

impl<R: StreamKind> Source<R> for BinanceSource<R> {
    fn next(&mut self) -> Option<Result<Rec<R>, InputError>> {
        while !self.done {
            let mut line = std::mem::take(&mut self.line);
            let got = self.lines.next(&mut line);
            self.line = line;
            self.line_no += 1;
            let err = |s: &Self, reason, detail, recoverable| {
                Some(Err(InputError { at: format!("{}:{}", s.path.display(), s.line_no), reason, detail, recoverable }))
            };
            match got {
                Ok(Line::End) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return err(self, "unreadable", e.to_string(), false);
                }
                Ok(Line::TooLong) => {
                    let detail = format!("a line longer than {MAX_LINE} bytes: {}", excerpt(&self.line));
                    return err(self, "line_too_long", detail, true);
                }
                Ok(Line::Whole) if self.line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Line::Whole) => match self.parse() {
                    Ok(Some(r)) => return Some(Ok((r.instrument().0, r))),
                    Ok(None) => self.skipped += 1,
                    Err((reason, detail)) => return err(self, reason, detail, true),
                },
            }
        }
        None
    }

    fn symbol(&self, i: u32) -> &str {
        self.symbols.names.get(i as usize).map_or("", |n| n)
    }

    fn position(&self) -> u64 {
        self.position.load(Relaxed)
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::super::{open, open_quotes, Format, ReadOptions};
    use std::io::Write;

    fn file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("ticklane-binance-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).expect("write");
        p
    }

    const LINES: &str = concat!(
        "1723161254087896568 {\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"s\":\"BTCUSDT\",\"t\":7,\"p\":\"61837.63000000\",\"q\":\"0.02000000\",\"T\":1723161255342,\"m\":true}}\n",
        "1723161254116723068 {\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"61837.63\",\"B\":\"3.7\",\"a\":\"0.00000000\",\"A\":\"0.00000000\"}}\n",
        "1723161254137307667 {\"stream\":\"btcusdt@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"b\":[[\"1\",\"2\"]]}}\n",
        "1723161254206652067 {\"lastUpdateId\":50093239218,\"bids\":[]}\n",
        "not-a-line\n",
        "1723161254206652068 {\"stream\":\"btcusdt@trade\",\"data\":{\"s\":\"BTCUSDT\",\"p\":\"1\",\"q\":\"0\"}}\n",
    );

    #[test]
    fn each_kind_reads_its_messages_and_counts_the_rest() {
        let opt = ReadOptions { venue: Some("binance-us".into()), ..ReadOptions::new(Format::BinanceStream) };
        let path = file("kinds.stream", LINES.as_bytes());
        let mut trades = open(&path, &opt).expect("open");
        let t = trades.next().expect("a trade").expect("ok").1;
        assert_eq!(
            (t.ts_event, t.ts_recv, t.side, t.trade_id.to_string()),
            (1723161255342000000, 1723161254087896568, ticklane::Side::Sell, "7".into())
        );
        assert_eq!(trades.symbol(t.instrument.0), "binance-us:BTCUSDT");
        let e = trades.next().expect("an error").expect_err("bad line");
        assert_eq!((e.reason, e.at.ends_with(":5")), ("bad_line", true), "{e}");
        let e = trades.next().expect("an error").expect_err("zero size");
        assert_eq!(e.reason, "bad_size", "{e}");
        assert!(trades.next().is_none());
        assert_eq!(trades.skipped(), 3, "the quote, the depth update, the snapshot");
        let mut quotes = open_quotes(&path, &opt).expect("open");
        let q = quotes.next().expect("a quote").expect("ok").1;
        assert_eq!(
            (q.ts_event, q.has_bid, q.has_ask),
            (1723161254116723068, true, false),
            "a zero-filled ask is absent"
        );
    }

    /// A failed read (a corrupt gzip stream) is the last item: the source is not read again.
    #[test]
    fn a_failed_read_ends_the_source() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(LINES.repeat(50).as_bytes()).expect("gzip");
        let mut bytes = gz.finish().expect("gzip");
        let n = bytes.len();
        bytes[n / 2..n - 8].iter_mut().for_each(|b| *b ^= 0x5a);
        let path = file("corrupt.stream.gz", &bytes);
        let mut src = open(&path, &ReadOptions::new(Format::BinanceStream)).expect("open");
        let mut fatal = 0;
        for _ in 0..10_000 {
            match src.next() {
                Some(Err(e)) if !e.recoverable => fatal += 1,
                Some(_) => {}
                None => break,
            }
        }
        assert_eq!(fatal, 1, "one fatal error, then the end");
        assert!(src.next().is_none());
    }
}
