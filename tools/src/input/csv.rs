//! CSV captures, read line by line: the line reader and field splitter shared by the CSV
//! dialects, and ticklane CSV's columns (Tardis's are in `tardis.rs`).

use super::symbols::Symbols;
use super::time::{parse_int, parse_rfc3339};
use super::{InputError, Rec, Source};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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
fn columns(header: &[&str], missing: impl Fn(&str) -> InputError) -> Result<Columns, InputError> {
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

/// ticklane CSV or Tardis CSV, read line by line.
pub struct CsvSource {
    path: PathBuf,
    reader: BufReader<File>,
    line: Vec<u8>,
    line_no: u64,
    pos: u64,
    tardis: bool,
    cols: Columns,
    fields: Vec<(usize, usize)>,
    symbols: Symbols,
    name_buf: Vec<u8>,
}

/// The index of column `name` (surrounding spaces ignored).
pub(super) fn find(header: &[&str], name: &str) -> Option<usize> {
    header.iter().position(|h| h.trim() == name)
}

impl CsvSource {
    /// Opens `path` as Tardis CSV (`Some(true)`), ticklane CSV (`Some(false)`) or whichever
    /// the header says (`None`).
    pub(super) fn open(path: &Path, tardis: Option<bool>) -> Result<CsvSource, InputError> {
        let file = File::open(path).map_err(|e| InputError::unreadable(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut head = Vec::new();
        reader.read_until(b'\n', &mut head).map_err(|e| InputError::unreadable(path, e))?;
        let at1 = format!("{}:1", path.display());
        let text = String::from_utf8_lossy(&head);
        let header: Vec<&str> = text.trim_end_matches(['\r', '\n']).split(',').collect();
        let tardis = tardis.unwrap_or_else(|| super::tardis::looks_like(&header));
        let missing = |what: &str| InputError {
            at: at1.clone(),
            reason: "header",
            detail: format!("expected a header with a `{what}` column, found `{}`", header.join(",")),
            recoverable: false,
        };
        let cols = if tardis { super::tardis::columns(&header, missing)? } else { columns(&header, missing)? };
        Ok(CsvSource {
            path: path.to_path_buf(),
            reader,
            line: Vec::with_capacity(256),
            line_no: 1,
            pos: head.len() as u64,
            tardis,
            cols,
            fields: Vec::with_capacity(16),
            symbols: Symbols::default(),
            name_buf: Vec::new(),
        })
    }

    fn bad(&self, reason: &'static str, detail: String) -> InputError {
        InputError { at: format!("{}:{}", self.path.display(), self.line_no), reason, detail, recoverable: true }
    }

    fn field(&self, i: usize) -> &[u8] {
        self.fields.get(i).map_or(&[][..], |&(a, b)| &self.line[a..b])
    }

    fn time(&self, i: usize, what: &str) -> Result<Timestamp, InputError> {
        let f = self.field(i);
        let t = if self.tardis { super::tardis::time(f) } else { parse_int(f).or_else(|| parse_rfc3339(f)) };
        t.ok_or_else(|| {
            let unit = if self.tardis { super::tardis::TIME_UNIT } else { "integer nanoseconds or RFC 3339 time" };
            self.bad("bad_timestamp", format!("{what}: expected {unit}, found {:?}", String::from_utf8_lossy(f)))
        })
    }

    fn parse_line(&mut self) -> Result<Rec, InputError> {
        let end = self.line.iter().rposition(|&c| c != b'\n' && c != b'\r').map_or(0, |p| p + 1);
        self.fields.clear();
        let mut start = 0;
        for (i, &c) in self.line[..end].iter().enumerate() {
            if c == b',' {
                self.fields.push((start, i));
                start = i + 1;
            }
        }
        self.fields.push((start, end));
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
            return Err(self.bad(
                "missing_field",
                format!("expected at least {} fields, found {}", widest + 1, self.fields.len()),
            ));
        }
        let ts_event = self.time(self.cols.ts, "ts_event")?;
        let ts_recv = match self.cols.recv {
            Some(i) if !self.field(i).is_empty() => self.time(i, "ts_recv")?,
            _ => NO_TS,
        };
        let price = Fixed::parse_bytes(self.field(self.cols.price)).map_err(|e| {
            self.bad("bad_price", format!("price {:?}: {e}", String::from_utf8_lossy(self.field(self.cols.price))))
        })?;
        let size = Fixed::parse_bytes(self.field(self.cols.size)).map_err(|e| {
            self.bad("bad_size", format!("size {:?}: {e}", String::from_utf8_lossy(self.field(self.cols.size))))
        })?;
        let side = match self.cols.side {
            Some(i) => Side::parse(self.field(i)).ok_or_else(|| {
                self.bad(
                    "bad_side",
                    format!(
                        "side: expected buy, sell, b, s or empty, found {:?}",
                        String::from_utf8_lossy(self.field(i))
                    ),
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
                let f = self.field(i);
                if f.is_empty() {
                    return Err(self.bad("missing_field", "instrument: expected a name, found an empty field".into()));
                }
                let (a, b) = self.fields[i];
                self.symbols.get(&self.line[a..b])
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
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(n) => {
                    self.pos += n as u64;
                    self.line_no += 1;
                    if self.line.first().is_none_or(u8::is_ascii_whitespace)
                        && self.line.iter().all(u8::is_ascii_whitespace)
                    {
                        continue; // blank lines carry nothing
                    }
                    return Some(self.parse_line());
                }
                Err(e) => {
                    return Some(Err(InputError {
                        at: format!("{}:{}", self.path.display(), self.line_no + 1),
                        reason: "unreadable",
                        detail: e.to_string(),
                        recoverable: false,
                    }))
                }
            }
        }
    }

    fn symbol(&self, i: u32) -> &str {
        self.symbols.names.get(i as usize).map_or("", |n| n)
    }

    fn position(&self) -> u64 {
        self.pos
    }
}
