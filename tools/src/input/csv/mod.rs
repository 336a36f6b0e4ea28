//! CSV captures, read line by line in bounded memory: ticklane CSV's columns here, Tardis's
//! in `tardis.rs`; lines (`lines.rs`), fields with RFC 4180 quoting (`fields.rs`) and the
//! header (`header.rs`) shared by both dialects.

mod fast;
mod fields;
mod header;
mod lines;

pub(super) use header::SUPPORTED;
pub use lines::MAX_LINE;

use super::excerpt::excerpt;
use super::stream::{Bytes, Stream};
use super::symbols::Symbols;
use super::time::{parse_int, parse_rfc3339};
use super::{InputError, ReadOptions, Rec, Source};
use fast::{Fast, Parsed};
use fields::Fields;
use lines::{Line, Lines};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use ticklane::{Fixed, InstrumentId, Side, Timestamp, Trade, TradeId, NO_TS};

/// Where each field of a trade is, by column index.
pub(super) struct Columns {
    pub(super) ts: usize,
    pub(super) recv: Option<usize>,
    pub(super) price: usize,
    pub(super) size: usize,
    pub(super) side: Option<usize>,
    pub(super) id: Option<usize>,
    /// ticklane CSV: the instrument's name.
    pub(super) instrument: Option<usize>,
    /// Tardis: the instrument is `exchange:symbol`.
    pub(super) exchange: Option<usize>,
    pub(super) symbol: Option<usize>,
}

/// ticklane CSV's columns (design.md §6): `ts_event`, `instrument`, `price`, `size` required;
/// `ts_recv`, `side`, `trade_id` optional; any order, unknown ones ignored.
fn columns(header: &[String], missing: impl Fn(&str) -> InputError) -> Result<Columns, InputError> {
    Ok(Columns {
        ts: find(header, "ts_event").ok_or_else(|| missing("ts_event"))?,
        recv: find(header, "ts_recv"),
        price: find(header, "price").ok_or_else(|| missing("price"))?,
        size: find(header, "size").ok_or_else(|| missing("size"))?,
        side: find(header, "side"),
        id: find(header, "trade_id"),
        instrument: Some(find(header, "instrument").ok_or_else(|| missing("instrument"))?),
        exchange: None,
        symbol: None,
    })
}

/// The index of column `name`.
pub(super) fn find(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| h == name)
}

/// ticklane CSV or Tardis CSV, read line by line.
pub struct CsvSource {
    path: PathBuf,
    lines: Lines<BufReader<Bytes>>,
    /// Raw bytes read, for progress through a compressed file (else the lines consumed are).
    position: Option<Arc<AtomicU64>>,
    line: Vec<u8>,
    line_no: u64,
    tardis: bool,
    cols: Columns,
    /// The one-pass parser for well-formed lines.
    fast: Fast,
    fields: Fields,
    ts_range: (Timestamp, Timestamp),
    symbols: Symbols,
    name_buf: Vec<u8>,
}

impl CsvSource {
    /// Reads `stream` as Tardis CSV (`Some(true)`), ticklane CSV (`Some(false)`) or whichever
    /// the header says (`None`).
    pub(super) fn open(
        path: &Path,
        stream: Stream,
        tardis: Option<bool>,
        opt: &ReadOptions,
    ) -> Result<CsvSource, InputError> {
        let at1 = format!("{}:1", path.display());
        let fatal = |reason, detail| InputError { at: at1.clone(), reason, detail, recoverable: false };
        if let Some(at) = memchr::memchr(0, &stream.head) {
            return Err(fatal(
                "not_csv",
                format!("does not look like text (a NUL byte at offset {at}); {}", header::SUPPORTED),
            ));
        }
        let mut lines = Lines::new(BufReader::with_capacity(1 << 16, stream.bytes));
        let mut head = Vec::new();
        match lines.next(&mut head) {
            Ok(Line::Whole) => {}
            Ok(Line::End) => return Err(fatal("header", "the file is empty: expected a header line".into())),
            Ok(Line::TooLong) => {
                return Err(fatal(
                    "header",
                    format!("the first line is longer than {MAX_LINE} bytes: {}", excerpt(&head)),
                ))
            }
            Err(e) => return Err(InputError::unreadable(path, e)),
        }
        let header = header::names(&head).map_err(|d| fatal("not_csv", d))?;
        let tardis = tardis.unwrap_or_else(|| super::tardis::looks_like(&header));
        let missing = |what: &str| fatal("header", header::not_a_trades_header(&head, &header, what));
        let cols = if tardis { super::tardis::columns(&header, missing)? } else { columns(&header, missing)? };
        let fast = Fast::new(&cols, header.len(), tardis);
        Ok(CsvSource {
            path: path.to_path_buf(),
            lines,
            position: (stream.compression != super::stream::Compression::None).then_some(stream.position),
            line: Vec::with_capacity(256),
            line_no: 1,
            tardis,
            cols,
            fast,
            fields: Fields::default(),
            ts_range: opt.ts_range,
            symbols: Symbols::default(),
            name_buf: Vec::new(),
        })
    }

    fn bad(&self, reason: &'static str, detail: String) -> InputError {
        InputError { at: format!("{}:{}", self.path.display(), self.line_no), reason, detail, recoverable: true }
    }

    #[inline]
    fn field(&self, i: usize) -> &[u8] {
        self.fields.get(&self.line, i)
    }

    fn time(&self, i: usize, what: &str) -> Result<Timestamp, InputError> {
        let f = self.field(i);
        let t = if self.tardis { super::tardis::time(f) } else { parse_int(f).or_else(|| parse_rfc3339(f)) };
        t.ok_or_else(|| {
            let unit = if self.tardis { super::tardis::TIME_UNIT } else { "integer nanoseconds or RFC 3339 time" };
            self.bad("bad_timestamp", format!("{what}: expected {unit}, found {}", excerpt(f)))
        })
    }

    fn decimal(&self, i: usize, what: &str, reason: &'static str) -> Result<Fixed, InputError> {
        let f = self.field(i);
        Fixed::parse_bytes(f).map_err(|e| self.bad(reason, format!("{what} {}: {e}", excerpt(f))))
    }

    fn parse_line(&mut self) -> Result<Rec, InputError> {
        let end = header::trim_line_break(&self.line).len();
        if !self.lines.quoted {
            if let Some(rec) = self.fast.parse(&self.line[..end]).and_then(|p| self.accept(p)) {
                return Ok(rec);
            }
        }
        self.parse_general(end)
    }

    /// A line the fast path read, if every check passes (else the general parser reads it
    /// again to say what is wrong).
    #[inline]
    fn accept(&mut self, p: Parsed) -> Option<Rec> {
        let (lo, hi) = self.ts_range;
        if p.ts < lo || p.ts > hi || p.size.raw() <= 0 {
            return None;
        }
        let span = |(a, b): fast::Span| a..b;
        let side = match self.cols.side {
            Some(_) => Side::parse(&self.line[span(p.side)])?,
            None => Side::None,
        };
        let trade_id = self.cols.id.map_or(TradeId::NONE, |_| TradeId::from_text(&self.line[span(p.id)]));
        let sym = if self.cols.instrument.is_some() {
            let name = &self.line[span(p.instrument)];
            if name.is_empty() {
                return None;
            }
            self.symbols.get(name)
        } else {
            let mut buf = std::mem::take(&mut self.name_buf);
            buf.clear();
            buf.extend_from_slice(&self.line[span(p.exchange)]);
            buf.push(b':');
            buf.extend_from_slice(&self.line[span(p.symbol)]);
            let i = self.symbols.get(&buf);
            self.name_buf = buf;
            i
        };
        let trade = Trade {
            ts_event: p.ts,
            ts_recv: p.recv,
            price: p.price,
            size: p.size,
            trade_id,
            instrument: InstrumentId(0),
            side,
        };
        Some((sym, trade))
    }

    /// Any line, field by field, with an exact error for whatever is wrong.
    fn parse_general(&mut self, end: usize) -> Result<Rec, InputError> {
        if let Err(e) = self.fields.split(&self.line[..end]) {
            return Err(self.bad("bad_quote", format!("{} at byte {} of the line", e.what, e.at)));
        }
        let need = [
            Some(self.cols.ts),
            Some(self.cols.price),
            Some(self.cols.size),
            self.cols.instrument,
            self.cols.exchange,
            self.cols.symbol,
        ];
        let widest = need.iter().flatten().max().copied().unwrap_or(0);
        if self.fields.len() <= widest {
            let detail = format!(
                "expected at least {} fields, found {}: {}",
                widest + 1,
                self.fields.len(),
                excerpt(&self.line[..end])
            );
            return Err(self.bad("missing_field", detail));
        }
        let ts_event = self.time(self.cols.ts, "ts_event")?;
        if ts_event < self.ts_range.0 || ts_event > self.ts_range.1 {
            return Err(self.bad("bad_timestamp", super::out_of_range(ts_event, self.ts_range)));
        }
        let ts_recv = match self.cols.recv {
            Some(i) if !self.field(i).is_empty() => self.time(i, "ts_recv")?,
            _ => NO_TS,
        };
        let price = self.decimal(self.cols.price, "price", "bad_price")?;
        let size = self.decimal(self.cols.size, "size", "bad_size")?;
        if size.raw() <= 0 {
            return Err(
                self.bad("bad_size", format!("size must be positive, found {}", excerpt(self.field(self.cols.size))))
            );
        }
        let side = match self.cols.side {
            Some(i) => Side::parse(self.field(i)).ok_or_else(|| {
                self.bad(
                    "bad_side",
                    format!("side: expected buy, sell, b, s or empty, found {}", excerpt(self.field(i))),
                )
            })?,
            None => Side::None,
        };
        let trade_id = self.cols.id.map_or(TradeId::NONE, |i| TradeId::from_text(self.field(i)));
        let sym = self.symbol_index()?;
        Ok((sym, Trade { ts_event, ts_recv, price, size, trade_id, instrument: InstrumentId(0), side }))
    }

    /// The local index of this line's instrument (ticklane: its name; Tardis:
    /// `exchange:symbol`).
    #[inline]
    fn symbol_index(&mut self) -> Result<u32, InputError> {
        Ok(match (self.cols.instrument, self.cols.exchange, self.cols.symbol) {
            (Some(i), _, _) => {
                if self.field(i).is_empty() {
                    return Err(self.bad("missing_field", "instrument: expected a name, found an empty field".into()));
                }
                self.symbols.get(self.fields.get(&self.line, i))
            }
            (None, Some(e), Some(s)) => {
                let mut buf = std::mem::take(&mut self.name_buf);
                buf.clear();
                buf.extend_from_slice(self.field(e));
                buf.push(b':');
                buf.extend_from_slice(self.field(s));
                let i = self.symbols.get(&buf);
                self.name_buf = buf;
                i
            }
            _ => return Err(self.bad("missing_field", "no instrument column".into())),
        })
    }
}

impl Source for CsvSource {
    fn next(&mut self) -> Option<Result<Rec, InputError>> {
        loop {
            let read = self.lines.next(&mut self.line);
            self.line_no += 1;
            match read {
                Ok(Line::End) => return None,
                Ok(Line::Whole) => {
                    if self.line.iter().all(u8::is_ascii_whitespace) {
                        continue; // blank lines carry nothing
                    }
                    return Some(self.parse_line());
                }
                Ok(Line::TooLong) => {
                    let detail =
                        format!("a line longer than {MAX_LINE} bytes (a binary file?): {}", excerpt(&self.line));
                    return Some(Err(self.bad("line_too_long", detail)));
                }
                Err(e) => {
                    let e = InputError::unreadable(&self.path, e);
                    return Some(Err(InputError { at: format!("{}:{}", self.path.display(), self.line_no), ..e }));
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
