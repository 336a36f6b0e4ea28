//! Quotes CSV (design.md §6), read line by line: ticklane quotes
//! (`ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz[,ts_recv]`, integer ns or RFC 3339) and
//! Tardis `quotes` (`exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,
//! bid_amount`, µs; the instrument is `exchange:symbol`). Columns are found by name, in any
//! order. A side whose price field is empty is absent (an empty book side, never zero-filled);
//! a present side needs a size ≥ 0.

use super::csv::{find, first_line, header_names, trim_line_break, Fields, Line, Lines, MAX_LINE, SUPPORTED};
use super::excerpt::excerpt;
use super::stream::{Bytes, Compression, Stream};
use super::symbols::Symbols;
use super::time::{parse_int, parse_rfc3339};
use super::{InputError, ReadOptions, Rec, Source};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use ticklane::{Fixed, InstrumentId, Quote, Timestamp, NO_TS};

/// Where each field of a quote is, by column index.
struct Columns {
    ts: usize,
    recv: Option<usize>,
    bid: (usize, usize),
    ask: (usize, usize),
    /// ticklane: the instrument's name; Tardis: `exchange` and `symbol`.
    name: Name,
}

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

/// Quotes CSV, one line at a time.
pub struct QuoteCsvSource {
    path: PathBuf,
    lines: Lines<BufReader<Bytes>>,
    line: Vec<u8>,
    line_no: u64,
    cols: Columns,
    /// The widest column a line must reach.
    width: usize,
    tardis: bool,
    fields: Fields,
    symbols: Symbols,
    name_buf: Vec<u8>,
    ts_range: (Timestamp, Timestamp),
    /// Raw bytes read of a compressed input (else the lines consumed are the position).
    position: Option<Arc<AtomicU64>>,
}

/// What is wrong with a line: its reason and what was expected.
type Bad = (&'static str, String);

impl QuoteCsvSource {
    pub(super) fn open(path: &Path, stream: Stream, opt: &ReadOptions) -> Result<QuoteCsvSource, InputError> {
        let compressed = stream.compression != Compression::None;
        let position = compressed.then(|| stream.position.clone());
        let (lines, head) = first_line(path, stream)?;
        let fatal =
            |detail| InputError { at: format!("{}:1", path.display()), reason: "header", detail, recoverable: false };
        let header = header_names(&head).map_err(fatal)?;
        let tardis = find(&header, "bid_price").is_some();
        let cols = columns(&header, tardis).map_err(|missing| {
            let first = excerpt(trim_line_break(&head));
            fatal(format!("expected a quotes header with a `{missing}` column: {QUOTES}; found {first}; {SUPPORTED}"))
        })?;
        let name_cols = match cols.name {
            Name::Instrument(i) => [i, i],
            Name::Venue(e, s) => [e, s],
        };
        let width = [cols.ts, cols.bid.0, cols.bid.1, cols.ask.0, cols.ask.1, name_cols[0], name_cols[1]]
            .into_iter()
            .max()
            .unwrap_or(0);
        Ok(QuoteCsvSource {
            path: path.to_path_buf(),
            lines,
            line: Vec::new(),
            line_no: 1,
            cols,
            width,
            tardis,
            fields: Fields::default(),
            symbols: Symbols::default(),
            name_buf: Vec::new(),
            ts_range: opt.ts_range,
            position,
        })
    }

    /// The line read as a quote whose instrument is a local symbol index.
    fn parse(&mut self) -> Result<Quote, Bad> {
        let buf = std::mem::take(&mut self.line);
        let q = self.parse_line(trim_line_break(&buf));
        self.line = buf;
        q
    }

    /// One line (without its line break) as a quote.
    fn parse_line(&mut self, line: &[u8]) -> Result<Quote, Bad> {
        if let Err(e) = self.fields.split(line) {
            return Err(("bad_quote", format!("{} at byte {} of the line", e.what, e.at)));
        }
        if self.fields.len() <= self.width {
            let n = self.fields.len();
            return Err((
                "missing_field",
                format!("expected at least {} fields, found {n}: {}", self.width + 1, excerpt(line)),
            ));
        }
        let c = &self.cols;
        let ts_event = self.time(line, c.ts, "ts_event")?;
        if ts_event < self.ts_range.0 || ts_event > self.ts_range.1 {
            return Err(("bad_timestamp", super::out_of_range(ts_event, self.ts_range)));
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
        t.ok_or_else(|| ("bad_timestamp", format!("{what}: expected {unit}, found {}", excerpt(f))))
    }

    /// A book side: absent when its price field is empty.
    fn side(&self, line: &[u8], (px, sz): (usize, usize), what: &str) -> Result<Option<(Fixed, Fixed)>, Bad> {
        let (p, s) = (self.fields.get(line, px), self.fields.get(line, sz));
        if p.is_empty() {
            return Ok(None);
        }
        let price = Fixed::parse_bytes(p).map_err(|e| ("bad_price", format!("{what} price {}: {e}", excerpt(p))))?;
        let size = Fixed::parse_bytes(s).map_err(|e| ("bad_size", format!("{what} size {}: {e}", excerpt(s))))?;
        if size.raw() < 0 {
            return Err(("bad_size", format!("{what} size must not be negative, found {}", excerpt(s))));
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
        sym.ok_or_else(|| ("missing_field", "instrument: expected a name, found an empty field".into()))
    }
}

impl Source<Quote> for QuoteCsvSource {
    fn next(&mut self) -> Option<Result<Rec<Quote>, InputError>> {
        loop {
            let mut line = std::mem::take(&mut self.line);
            let got = self.lines.next(&mut line);
            self.line = line;
            self.line_no += 1;
            let at = |s: &Self| format!("{}:{}", s.path.display(), s.line_no);
            match got {
                Ok(Line::End) => return None,
                Err(e) => {
                    let detail = e.to_string();
                    return Some(Err(InputError { at: at(self), reason: "unreadable", detail, recoverable: false }));
                }
                Ok(Line::TooLong) => {
                    let detail =
                        format!("a line longer than {MAX_LINE} bytes (a binary file?): {}", excerpt(&self.line));
                    return Some(Err(InputError { at: at(self), reason: "line_too_long", detail, recoverable: true }));
                }
                Ok(Line::Whole) if self.line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Line::Whole) => {
                    return Some(match self.parse() {
                        Ok(q) => Ok((q.instrument.0, q)),
                        Err((reason, detail)) => Err(InputError { at: at(self), reason, detail, recoverable: true }),
                    })
                }
            }
        }
    }

    fn symbol(&self, i: u32) -> &str {
        self.symbols.names.get(i as usize).map_or("", |n| n)
    }

    fn position(&self) -> u64 {
        self.position.as_ref().map_or(self.lines.consumed, |p| p.load(Relaxed))
    }
}
