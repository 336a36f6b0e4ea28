//! Quotes CSV (design.md §6), read by the CSV reader (blocks of lines parsed on the parse
//! threads) with this line parser: ticklane quotes
//! (`ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz[,ts_recv]`, integer ns or RFC 3339) and
//! Tardis `quotes` (`exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,
//! bid_amount`, µs; the instrument is `exchange:symbol`). Columns are found by name, in any
//! order. A side whose price field is empty is absent (an empty book side, never zero-filled);
//! a present side needs a size ≥ 0.

mod fast;

use super::csv::{find, first_line, header_names, trim_line_break, Bad, CsvSource, Fields, RecordParser, SUPPORTED};
use super::excerpt::excerpt;
use super::stream::Stream;
use super::symbols::Symbols;
use super::time::{parse_int, parse_rfc3339};
use super::{InputError, ReadOptions};
use std::path::Path;
use std::sync::Arc;
use ticklane::{Fixed, InstrumentId, Quote, Timestamp, NO_TS};

/// Where each field of a quote is, by column index.
#[derive(Clone)]
struct Columns {
    ts: usize,
    recv: Option<usize>,
    bid: (usize, usize),
    ask: (usize, usize),
    /// ticklane: the instrument's name; Tardis: `exchange` and `symbol`.
    name: Name,
}

#[derive(Clone)]
enum Name {
    Instrument(usize),
    Venue(usize, usize),
}

/// Whether `header` is a quotes header (ticklane's or Tardis's).
pub(super) fn looks_like(header: &[String]) -> bool {
    let has = |n| find(header, n).is_some();
    (has("bid_px") && has("ask_px")) || (has("bid_price") && has("ask_price"))
}

/// What a quotes header must hold, for messages.
const QUOTES: &str = "ticklane quotes CSV (ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz[,ts_recv]) or Tardis \
quotes CSV (exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount)";

fn columns(header: &[String], tardis: bool) -> Result<Columns, &'static str> {
    let col = |n: &'static str| find(header, n).ok_or(n);
    if tardis {
        return Ok(Columns {
            ts: col("timestamp")?,
            recv: find(header, "local_timestamp"),
            bid: (col("bid_price")?, col("bid_amount")?),
            ask: (col("ask_price")?, col("ask_amount")?),
            name: Name::Venue(col("exchange")?, col("symbol")?),
        });
    }
    Ok(Columns {
        ts: col("ts_event")?,
        recv: find(header, "ts_recv"),
        bid: (col("bid_px")?, col("bid_sz")?),
        ask: (col("ask_px")?, col("ask_sz")?),
        name: Name::Instrument(col("instrument")?),
    })
}

/// Opens `stream` as quotes CSV (the header says which dialect).
pub(super) fn open(path: &Path, stream: Stream, opt: &ReadOptions) -> Result<CsvSource<QuoteParser>, InputError> {
    let (compression, position) = (stream.compression, stream.position.clone());
    let (lines, head) = first_line(path, stream)?;
    let fatal =
        |detail| InputError { at: format!("{}:1", path.display()), reason: "header", detail, recoverable: false };
    let header = header_names(&head).map_err(fatal)?;
    let tardis = find(&header, "bid_price").is_some();
    let cols = columns(&header, tardis).map_err(|missing| {
        let first = excerpt(trim_line_break(&head));
        fatal(format!("expected a quotes header with a `{missing}` column: {QUOTES}; found {first}; {SUPPORTED}"))
    })?;
    let parser = QuoteParser::new(cols, tardis, opt.ts_range);
    Ok(CsvSource::with_parser(path, lines, compression, position, parser, opt))
}

/// One quotes CSV line to one quote (each parse thread has its own).
#[derive(Clone)]
pub(super) struct QuoteParser {
    cols: Columns,
    /// Each column's role, for the one-pass path.
    roles: Vec<fast::Role>,
    /// The widest column a line must reach.
    width: usize,
    tardis: bool,
    fields: Fields,
    symbols: Symbols,
    name_buf: Vec<u8>,
    ts_range: (Timestamp, Timestamp),
}

/// A decimal field: the short form digit by digit (as the trade reader's fast path), anything
/// else through the exact parser (which says what is wrong).
#[inline]
fn decimal(f: &[u8]) -> Result<Fixed, ticklane::DecimalError> {
    match super::digits::short_decimal(f, 0) {
        Some((raw, end)) if end == f.len() => Ok(Fixed::from_raw(raw)),
        _ => Fixed::parse_bytes(f),
    }
}

fn bad(reason: &'static str, detail: String) -> Bad {
    Bad { reason, detail }
}

impl RecordParser for QuoteParser {
    type Rec = Quote;

    #[inline]
    fn parse(&mut self, line: &[u8], quoted: bool) -> Result<Quote, Bad> {
        if !quoted {
            if let Some(s) = fast::scan(line, &self.roles, self.tardis, self.ts_range) {
                if let Some(q) = self.named(line, s) {
                    return Ok(q);
                }
            }
        }
        self.parse_line(line)
    }

    fn names(&self) -> &[Arc<str>] {
        &self.symbols.names
    }
}

impl QuoteParser {
    fn new(cols: Columns, tardis: bool, ts_range: (Timestamp, Timestamp)) -> QuoteParser {
        let name_cols = match cols.name {
            Name::Instrument(i) => [i, i],
            Name::Venue(e, s) => [e, s],
        };
        let width = [cols.ts, cols.bid.0, cols.bid.1, cols.ask.0, cols.ask.1, name_cols[0], name_cols[1]]
            .into_iter()
            .max()
            .unwrap_or(0);
        QuoteParser {
            roles: fast::roles(&cols, width),
            cols,
            width,
            tardis,
            fields: Fields::default(),
            symbols: Symbols::default(),
            name_buf: Vec::new(),
            ts_range,
        }
    }

    /// A scanned quote with its instrument interned (`None`: an empty name).
    #[inline]
    fn named(&mut self, line: &[u8], s: fast::Scanned) -> Option<Quote> {
        let mut q = s.quote;
        let sym = match self.cols.name {
            Name::Instrument(_) => {
                let name = &line[s.name.0..s.name.1];
                (!name.is_empty()).then(|| self.symbols.get(name))?
            }
            Name::Venue(..) => {
                let mut buf = std::mem::take(&mut self.name_buf);
                buf.clear();
                buf.extend_from_slice(&line[s.name.0..s.name.1]);
                buf.push(b':');
                buf.extend_from_slice(&line[s.symbol.0..s.symbol.1]);
                let sym = self.symbols.get(&buf);
                self.name_buf = buf;
                sym
            }
        };
        q.instrument = InstrumentId(sym);
        Some(q)
    }

    /// One line (without its line break) as a quote, field by field, with an exact error.
    fn parse_line(&mut self, line: &[u8]) -> Result<Quote, Bad> {
        if let Err(e) = self.fields.split(line) {
            return Err(bad("bad_quote", format!("{} at byte {} of the line", e.what, e.at)));
        }
        if self.fields.len() <= self.width {
            let n = self.fields.len();
            let detail = format!("expected at least {} fields, found {n}: {}", self.width + 1, excerpt(line));
            return Err(bad("missing_field", detail));
        }
        let c = &self.cols;
        let ts_event = self.time(line, c.ts, "ts_event")?;
        if ts_event < self.ts_range.0 || ts_event > self.ts_range.1 {
            return Err(bad("bad_timestamp", super::out_of_range(ts_event, self.ts_range)));
        }
        let ts_recv = match c.recv {
            Some(i) if !self.fields.get(line, i).is_empty() => self.time(line, i, "ts_recv")?,
            _ => NO_TS,
        };
        let mut q = Quote { ts_event, ts_recv, ..Quote::default() };
        if let Some((px, sz)) = self.side(line, c.bid, "bid")? {
            q = q.with_bid(px, sz);
        }
        if let Some((px, sz)) = self.side(line, c.ask, "ask")? {
            q = q.with_ask(px, sz);
        }
        q.instrument = InstrumentId(self.symbol(line)?);
        Ok(q)
    }

    fn time(&self, line: &[u8], i: usize, what: &str) -> Result<Timestamp, Bad> {
        let f = self.fields.get(line, i);
        let (t, unit) = if self.tardis {
            (super::tardis::time(f), super::tardis::TIME_UNIT)
        } else {
            (parse_int(f).or_else(|| parse_rfc3339(f)), "integer nanoseconds or RFC 3339 time")
        };
        t.ok_or_else(|| bad("bad_timestamp", format!("{what}: expected {unit}, found {}", excerpt(f))))
    }

    /// A book side: absent when its price field is empty.
    fn side(&self, line: &[u8], (px, sz): (usize, usize), what: &str) -> Result<Option<(Fixed, Fixed)>, Bad> {
        let (p, s) = (self.fields.get(line, px), self.fields.get(line, sz));
        if p.is_empty() {
            return Ok(None);
        }
        let price = decimal(p).map_err(|e| bad("bad_price", format!("{what} price {}: {e}", excerpt(p))))?;
        let size = decimal(s).map_err(|e| bad("bad_size", format!("{what} size {}: {e}", excerpt(s))))?;
        if size.raw() < 0 {
            return Err(bad("bad_size", format!("{what} size must not be negative, found {}", excerpt(s))));
        }
        Ok(Some((price, size)))
    }

    fn symbol(&mut self, line: &[u8]) -> Result<u32, Bad> {
        let mut buf = std::mem::take(&mut self.name_buf);
        buf.clear();
        match self.cols.name {
            Name::Instrument(i) => buf.extend_from_slice(self.fields.get(line, i)),
            Name::Venue(e, s) => {
                buf.extend_from_slice(self.fields.get(line, e));
                buf.push(b':');
                buf.extend_from_slice(self.fields.get(line, s));
            }
        }
        let sym = (!buf.is_empty()).then(|| self.symbols.get(&buf));
        self.name_buf = buf;
        sym.ok_or_else(|| bad("missing_field", "instrument: expected a name, found an empty field".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parser(header: &str) -> QuoteParser {
        let names: Vec<String> = header.split(',').map(str::to_string).collect();
        let tardis = find(&names, "bid_price").is_some();
        QuoteParser::new(columns(&names, tardis).expect("columns"), tardis, (NO_TS + 1, i64::MAX - 1))
    }

    /// A field as a capture might have it, or broken.
    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            (0u64..10_000_000_000).prop_map(|n| n.to_string()),
            (-5i64..100_000, 0u32..1_000_000).prop_map(|(a, b)| format!("{a}.{b}")),
            Just("1.0000000001".to_string()),
            Just("-1".to_string()),
            Just("2024-01-01T00:00:00Z".to_string()),
            Just("abc".to_string()),
            Just("SYM".to_string()),
            Just("99999999999999999999".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// The one-pass path gives what the field-by-field parser gives, for any line: the
        /// same quote, or (having declined) the same error.
        #[test]
        fn the_fast_path_agrees_with_the_general_parser(
            fields in proptest::collection::vec(field(), 0..9),
            tardis in any::<bool>(),
        ) {
            let header = if tardis {
                "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"
            } else {
                "ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz,ts_recv"
            };
            let line = fields.join(",");
            let (mut a, mut b) = (parser(header), parser(header));
            let fast = a.parse(line.as_bytes(), false).map(|q| (q, a.names().to_vec()));
            let slow = b.parse_line(line.as_bytes()).map(|q| (q, b.names().to_vec()));
            prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{}", line);
        }
    }
}
