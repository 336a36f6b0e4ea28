//! One CSV line to one trade: the one-pass fast path for well-formed lines, the general
//! field-by-field parser (with an exact message) for everything else.

use super::super::excerpt::excerpt;
use super::super::symbols::Symbols;
use super::super::time::{parse_int, parse_rfc3339};
use super::fast::{Fast, Parsed, Span};
use super::fields::Fields;
use super::Columns;
use ticklane::{Fixed, InstrumentId, Side, Timestamp, Trade, TradeId, NO_TS};

/// What is wrong with a line (the caller adds where it is).
#[derive(Debug)]
pub(in crate::input) struct Bad {
    pub(in crate::input) reason: &'static str,
    pub(in crate::input) detail: String,
}

fn bad(reason: &'static str, detail: String) -> Bad {
    Bad { reason, detail }
}

impl super::block::RecordParser for LineParser {
    type Rec = Trade;

    #[inline]
    fn parse(&mut self, line: &[u8], quoted: bool) -> Result<Trade, Bad> {
        LineParser::parse(self, line, quoted)
    }

    fn names(&self) -> &[std::sync::Arc<str>] {
        &self.symbols.names
    }
}

/// Parses lines of one CSV dialect and interns their instrument names (per parser: each
/// parse thread has its own).
#[derive(Clone)]
pub(in crate::input) struct LineParser {
    tardis: bool,
    cols: Columns,
    fast: Fast,
    fields: Fields,
    ts_range: (Timestamp, Timestamp),
    pub(super) symbols: Symbols,
    name_buf: Vec<u8>,
}

impl LineParser {
    pub(super) fn new(cols: Columns, width: usize, tardis: bool, ts_range: (Timestamp, Timestamp)) -> LineParser {
        let fast = Fast::new(&cols, width, tardis);
        LineParser {
            tardis,
            cols,
            fast,
            fields: Fields::default(),
            ts_range,
            symbols: Symbols::default(),
            name_buf: Vec::new(),
        }
    }

    /// `line` (without its line break) as a trade whose `instrument` is this parser's symbol
    /// index; `quoted` if it holds a `"`.
    #[inline]
    pub(super) fn parse(&mut self, line: &[u8], quoted: bool) -> Result<Trade, Bad> {
        if !quoted {
            if let Some(t) = self.fast.parse(line).and_then(|p| self.accept(line, p)) {
                return Ok(t);
            }
        }
        self.parse_general(line)
    }

    /// A line the fast path read, if every check passes (else the general parser reads it
    /// again to say what is wrong).
    #[inline]
    fn accept(&mut self, line: &[u8], p: Parsed) -> Option<Trade> {
        let (lo, hi) = self.ts_range;
        if p.ts < lo || p.ts > hi || p.size.raw() <= 0 {
            return None;
        }
        let span = |(a, b): Span| &line[a..b];
        let side = match self.cols.side {
            Some(_) => Side::parse(span(p.side))?,
            None => Side::None,
        };
        let trade_id = self.cols.id.map_or(TradeId::NONE, |_| TradeId::from_text(span(p.id)));
        let sym = if self.cols.instrument.is_some() {
            let name = span(p.instrument);
            if name.is_empty() {
                return None;
            }
            self.symbols.get(name)
        } else {
            self.venue_symbol(span(p.exchange), span(p.symbol))
        };
        let instrument = InstrumentId(sym);
        Some(Trade { ts_event: p.ts, ts_recv: p.recv, price: p.price, size: p.size, trade_id, instrument, side })
    }

    /// Tardis's instrument: `exchange:symbol`.
    fn venue_symbol(&mut self, exchange: &[u8], symbol: &[u8]) -> u32 {
        let mut buf = std::mem::take(&mut self.name_buf);
        buf.clear();
        buf.extend_from_slice(exchange);
        buf.push(b':');
        buf.extend_from_slice(symbol);
        let i = self.symbols.get(&buf);
        self.name_buf = buf;
        i
    }

    /// Any line, field by field, with an exact error for whatever is wrong.
    fn parse_general(&mut self, line: &[u8]) -> Result<Trade, Bad> {
        if let Err(e) = self.fields.split(line) {
            return Err(bad("bad_quote", format!("{} at byte {} of the line", e.what, e.at)));
        }
        let c = &self.cols;
        let need = [Some(c.ts), Some(c.price), Some(c.size), c.instrument, c.exchange, c.symbol];
        let widest = need.iter().flatten().max().copied().unwrap_or(0);
        if self.fields.len() <= widest {
            let n = self.fields.len();
            let detail = format!("expected at least {} fields, found {n}: {}", widest + 1, excerpt(line));
            return Err(bad("missing_field", detail));
        }
        let ts_event = self.time(line, c.ts, "ts_event")?;
        if ts_event < self.ts_range.0 || ts_event > self.ts_range.1 {
            return Err(bad("bad_timestamp", super::super::out_of_range(ts_event, self.ts_range)));
        }
        let ts_recv = match c.recv {
            Some(i) if !self.fields.get(line, i).is_empty() => self.time(line, i, "ts_recv")?,
            _ => NO_TS,
        };
        let price = self.decimal(line, c.price, "price", "bad_price")?;
        let size = self.decimal(line, c.size, "size", "bad_size")?;
        if size.raw() <= 0 {
            let found = excerpt(self.fields.get(line, c.size));
            return Err(bad("bad_size", format!("size must be positive, found {found}")));
        }
        let side = self.side(line)?;
        let trade_id = c.id.map_or(TradeId::NONE, |i| TradeId::from_text(self.fields.get(line, i)));
        let instrument = InstrumentId(self.symbol_index(line)?);
        Ok(Trade { ts_event, ts_recv, price, size, trade_id, instrument, side })
    }

    fn time(&self, line: &[u8], i: usize, what: &str) -> Result<Timestamp, Bad> {
        let f = self.fields.get(line, i);
        let t = if self.tardis { super::super::tardis::time(f) } else { parse_int(f).or_else(|| parse_rfc3339(f)) };
        t.ok_or_else(|| {
            let unit =
                if self.tardis { super::super::tardis::TIME_UNIT } else { "integer nanoseconds or RFC 3339 time" };
            bad("bad_timestamp", format!("{what}: expected {unit}, found {}", excerpt(f)))
        })
    }

    fn decimal(&self, line: &[u8], i: usize, what: &str, reason: &'static str) -> Result<Fixed, Bad> {
        let f = self.fields.get(line, i);
        Fixed::parse_bytes(f).map_err(|e| bad(reason, format!("{what} {}: {e}", excerpt(f))))
    }

    fn side(&self, line: &[u8]) -> Result<Side, Bad> {
        let Some(i) = self.cols.side else { return Ok(Side::None) };
        let f = self.fields.get(line, i);
        Side::parse(f)
            .ok_or_else(|| bad("bad_side", format!("side: expected buy, sell, b, s or empty, found {}", excerpt(f))))
    }

    /// The parser's index of this line's instrument (ticklane: its name; Tardis:
    /// `exchange:symbol`).
    fn symbol_index(&mut self, line: &[u8]) -> Result<u32, Bad> {
        match (self.cols.instrument, self.cols.exchange, self.cols.symbol) {
            (Some(i), _, _) => {
                let name = self.fields.get(line, i);
                if name.is_empty() {
                    return Err(bad("missing_field", "instrument: expected a name, found an empty field".into()));
                }
                Ok(self.symbols.get(name))
            }
            (None, Some(e), Some(s)) => {
                let (e, s) = (self.fields.get(line, e).to_vec(), self.fields.get(line, s).to_vec());
                Ok(self.venue_symbol(&e, &s))
            }
            _ => Err(bad("missing_field", "no instrument column".into())),
        }
    }
}
