//! Bars and trades as lines: CSV with the fixed headers, or one JSON object per line (design.md
//! §5). In the library so that `bench/`'s hand-written yardstick writes bars with the same
//! code as `ticklane replay`: the fastest formatting we have.

use crate::wire::WireFormat;
use std::io::Write;
use ticklane::{format_scaled, Bar, Fixed, Quote, QuoteBar, Trade, SCALE};

/// Output format for bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Parquet (needs `--out FILE`): the same columns, decimals as DECIMAL(38, 9), times as
    /// INT64 nanosecond timestamps (UTC).
    Parquet,
    /// One MessagePack map per bar, the JSONL object's keys and values (only with
    /// `--out nats://…` or `jetstream://…`; there csv and jsonl mean one JSON object per bar).
    Msgpack,
}

/// The bars CSV header (design.md §5).
pub const BARS_HEADER: &str = "instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision";

/// The quote bars CSV header (design.md §5).
pub const QUOTE_BARS_HEADER: &str = "instrument,window_start,window_end,bid_open,bid_high,bid_low,bid_close,\
ask_open,ask_high,ask_low,ask_close,spread_min,spread_max,spread_twa,quote_count,crossed_count,revision";

/// The ticklane CSV header for trades (the late side output).
pub const TRADES_HEADER: &str = "ts_event,ts_recv,instrument,price,size,side,trade_id";

/// The header of late quotes written back (ticklane quotes CSV, design.md §6: the replay reads
/// it again).
pub const QUOTES_HEADER: &str = "ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz,ts_recv";

/// Powers of ten up to 10¹⁹.
const POW10: [u64; 20] = {
    let mut p = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// Decimal digits in `m` (1 for zero).
#[inline]
fn digit_count(m: u64) -> usize {
    // floor(log10(2^bits)) from the bit length, then one comparison settles it.
    let t = (((64 - (m | 1).leading_zeros()) * 1233) >> 12) as usize;
    t + usize::from((m | 1) >= POW10[t])
}

/// `m` (below 10⁸) as eight ASCII digits in one word, the first digit in the lowest byte (so
/// that a little-endian store writes them in reading order): split into halves of four digits,
/// quarters of two and single digits by multiplying every lane at once (SWAR), with no chain of
/// divisions from one digit to the next and no branch.
#[inline]
fn eight_digits(m: u32) -> u64 {
    let v = u64::from(m / 10_000) | u64::from(m % 10_000) << 32; // two lanes of 4 digits
    let hi = ((v * 5243) >> 19) & 0x0000_007f_0000_007f; // each lane / 100 (exact below 43,699)
    let v = hi | (v - hi * 100) << 16; // four lanes of 2 digits
    let hi = ((v * 103) >> 10) & 0x000f_000f_000f_000f; // each lane / 10 (exact below 179)
    (hi | (v - hi * 10) << 8) | 0x3030_3030_3030_3030
}

/// A line's numeric fields, built in place: digits stored eight at a time straight into a
/// fixed buffer at their final place (the digit count comes first), and the whole run appended
/// to the line in one copy. Copying each field out of a scratch buffer cost a `memcpy` call per field,
/// more than its digits (perf over the hand-written replay: a tenth of its time on 1M bars).
///
/// `CAP` is room for the widest line with a margin: a field takes at most 49 bytes (`,` and
/// `format_scaled`'s 48), and a store of eight digits may write up to eight bytes past the
/// end. A bar has 10 fields (490 bytes: [`BAR_CAP`]); a quote bar 16 (784: [`QUOTE_BAR_CAP`]).
/// The buffer is zeroed for each line, so it is no larger than it needs to be.
struct Fields<const CAP: usize> {
    buf: [u8; CAP],
    len: usize,
}

/// [`Fields`]' room for a bar line.
const BAR_CAP: usize = 512;
/// [`Fields`]' room for a quote bar line.
const QUOTE_BAR_CAP: usize = 1024;

impl<const CAP: usize> Fields<CAP> {
    fn new() -> Self {
        Fields { buf: [0; CAP], len: 0 }
    }

    #[inline(always)]
    fn byte(&mut self, c: u8) {
        self.buf[self.len] = c;
        self.len += 1;
    }

    /// Stores the word `w` at `at` (little-endian; the buffer has room for a whole word past
    /// any field).
    #[inline(always)]
    fn word(&mut self, at: usize, w: u64) {
        self.buf[at..at + 8].copy_from_slice(&w.to_le_bytes());
    }

    /// The decimal digits of `m`, eight at a time: the leading group shifted so that its
    /// leading zeros drop out (what a store writes past the number, the next field
    /// overwrites).
    #[inline(always)]
    fn digits(&mut self, m: u64) {
        let n = digit_count(m);
        let at = self.len;
        self.len += n;
        if n <= 8 {
            return self.word(at, eight_digits(m as u32) >> (8 * (8 - n)));
        }
        let (high, low) = (m / 100_000_000, (m % 100_000_000) as u32);
        if n <= 16 {
            self.word(at, eight_digits(high as u32) >> (8 * (16 - n)));
        } else {
            let (top, mid) = ((high / 100_000_000) as u32, (high % 100_000_000) as u32);
            self.word(at, eight_digits(top) >> (8 * (24 - n)));
            self.word(self.len - 16, eight_digits(mid));
        }
        self.word(self.len - 8, eight_digits(low));
    }

    /// `,` and a decimal integer of magnitude `m`.
    #[inline(always)]
    fn int(&mut self, neg: bool, m: u64) {
        self.byte(b',');
        if neg {
            self.byte(b'-');
        }
        self.digits(m);
    }

    /// `,` and a scaled decimal, trimmed per design.md §5: values that fit 64 bits (all
    /// prices, nearly all volumes) here, the rest through `format_scaled`.
    #[inline(always)]
    fn dec(&mut self, raw: i128) {
        let Ok(raw) = i64::try_from(raw) else {
            return self.wide(raw);
        };
        let m = raw.unsigned_abs();
        let (int, frac) = (m / SCALE as u64, m % SCALE as u64);
        self.int(raw < 0, int);
        if frac != 0 {
            // `.`, the first of nine digits, then the other eight in one word with their
            // trailing zeros cut: each zero digit is the byte `0`, so they are the word's
            // leading zero bytes once `0`s are xored away (at most eight: `frac` is not 0).
            let last = eight_digits((frac % 100_000_000) as u32);
            let zeros = (last ^ 0x3030_3030_3030_3030).leading_zeros() as usize / 8;
            self.byte(b'.');
            self.byte(b'0' + (frac / 100_000_000) as u8);
            let at = self.len;
            self.word(at, last);
            self.len += 8 - zeros;
        }
    }

    /// `,` and a scaled decimal past 64 bits (a huge volume), through `format_scaled`.
    #[cold]
    fn wide(&mut self, raw: i128) {
        let mut buf = [0u8; 48];
        let text = format_scaled(raw, &mut buf).as_bytes();
        self.byte(b',');
        self.buf[self.len..self.len + text.len()].copy_from_slice(text);
        self.len += text.len();
    }

    /// Appends the fields to `line`.
    fn end(&self, line: &mut Vec<u8>) {
        line.extend_from_slice(&self.buf[..self.len]);
    }
}

/// Appends `name` as a CSV field: as is, or quoted (RFC 4180) when it holds a `,`, a `"` or
/// a line break.
fn push_name(line: &mut Vec<u8>, name: &str) {
    let b = name.as_bytes();
    // One pass over the name's bytes (names are short: two `memchr` calls cost more to set up
    // than the scan; perf over the bar writer put 1.9% of a DBN replay's samples in them).
    if !b.iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        line.extend_from_slice(b);
        return;
    }
    line.push(b'"');
    for &c in b {
        if c == b'"' {
            line.push(b'"');
        }
        line.push(c);
    }
    line.push(b'"');
}

/// Appends bar `b` of instrument `name` to `out` as a CSV line ending in `\n`.
pub fn push_bar_csv(out: &mut Vec<u8>, name: &str, b: &Bar) {
    push_name(out, name);
    let mut f = Fields::<BAR_CAP>::new();
    f.int(b.window_start < 0, b.window_start.unsigned_abs());
    f.int(b.window_end < 0, b.window_end.unsigned_abs());
    for d in [b.open, b.high, b.low, b.close] {
        f.dec(i128::from(d.raw()));
    }
    f.dec(b.volume.raw());
    f.int(false, b.trade_count);
    f.dec(i128::from(b.vwap.raw()));
    f.int(false, u64::from(b.revision));
    f.byte(b'\n');
    f.end(out);
}

/// Appends bar `b` of instrument `name` in `format` to `line`, ending in `\n` (a writer
/// formats straight into its output block).
pub fn bar_line(format: OutFormat, name: &str, b: &Bar, line: &mut Vec<u8>) {
    match format {
        // Parquet is written column by column (`output/parquet.rs`), never as lines; MessagePack
        // only as bus messages ([`bar_message`]).
        OutFormat::Csv | OutFormat::Parquet | OutFormat::Msgpack => push_bar_csv(line, name, b),
        OutFormat::Jsonl => push_json(line, name, &bar_fields(b)),
    }
}

/// A bar's fields after `instrument`, in design.md §5's column order.
fn bar_fields(b: &Bar) -> Vec<(&'static str, Json)> {
    let head = [("window_start", Json::Int(b.window_start.into())), ("window_end", Json::Int(b.window_end.into()))];
    let prices = [("open", b.open), ("high", b.high), ("low", b.low), ("close", b.close)];
    let mut fields: Vec<(&str, Json)> = head.into_iter().collect();
    fields.extend(prices.map(|(k, v)| (k, Json::Dec(v.to_string()))));
    fields.push(("volume", Json::Dec(b.volume.to_string())));
    fields.push(("trade_count", Json::Int(b.trade_count.into())));
    fields.push(("vwap", Json::Dec(b.vwap.to_string())));
    fields.push(("revision", Json::Int(b.revision.into())));
    fields
}

/// Replaces `msg` with bar `b` of instrument `name` as one bus message (design.md §9): the JSONL
/// object without its newline, or a MessagePack map with the same keys and values.
pub fn bar_message(format: WireFormat, name: &str, b: &Bar, msg: &mut Vec<u8>) {
    push_message(format, name, &bar_fields(b), msg);
}

/// Replaces `msg` with quote bar `b` of instrument `name` as one bus message.
pub fn quote_bar_message(format: WireFormat, name: &str, b: &QuoteBar, msg: &mut Vec<u8>) {
    push_message(format, name, &quote_bar_fields(b), msg);
}

fn push_message(format: WireFormat, name: &str, fields: &[(&str, Json)], msg: &mut Vec<u8>) {
    msg.clear();
    match format {
        WireFormat::Json => {
            push_json(msg, name, fields);
            msg.pop(); // the newline
        }
        WireFormat::Msgpack => push_msgpack(msg, name, fields),
    }
}

/// `{"instrument": name, …fields}` as a MessagePack map, in the order given.
fn push_msgpack(msg: &mut Vec<u8>, name: &str, fields: &[(&str, Json)]) {
    use rmp::encode as mp;
    // Writing into a Vec cannot fail.
    let _ = mp::write_map_len(msg, 1 + fields.len() as u32);
    let _ = mp::write_str(msg, "instrument");
    let _ = mp::write_str(msg, name);
    for (k, v) in fields {
        let _ = mp::write_str(msg, k);
        let _ = match v {
            Json::Int(n) => match i64::try_from(*n) {
                Ok(n) => mp::write_sint(msg, n).map(drop).map_err(|e| e.to_string()),
                Err(_) => mp::write_str(msg, &n.to_string()).map_err(|e| e.to_string()),
            },
            Json::Dec(d) => mp::write_str(msg, d).map_err(|e| e.to_string()),
            Json::Null => mp::write_nil(msg).map_err(|e| e.to_string()),
        };
    }
}

/// One JSONL value: an integer, a decimal (written as a string, exactly), or null.
enum Json {
    Int(i128),
    Dec(String),
    Null,
}

/// Appends `{"instrument": name, …fields}` and `\n`, fields in the order given (design.md §5's
/// column order; a JSON map would sort the keys).
fn push_json(line: &mut Vec<u8>, name: &str, fields: &[(&str, Json)]) {
    let _ = write!(line, "{{\"instrument\":{}", serde_json::Value::from(name));
    for (k, v) in fields {
        let _ = match v {
            Json::Int(n) => write!(line, ",\"{k}\":{n}"),
            Json::Dec(d) => write!(line, ",\"{k}\":\"{d}\""),
            Json::Null => write!(line, ",\"{k}\":null"),
        };
    }
    line.extend_from_slice(b"}\n");
}

/// A quote bar's optional decimals in CSV column order, with their names.
fn quote_values(b: &QuoteBar) -> [(&'static str, Option<Fixed>); 11] {
    [
        ("bid_open", b.bid_open),
        ("bid_high", b.bid_high),
        ("bid_low", b.bid_low),
        ("bid_close", b.bid_close),
        ("ask_open", b.ask_open),
        ("ask_high", b.ask_high),
        ("ask_low", b.ask_low),
        ("ask_close", b.ask_close),
        ("spread_min", b.spread_min),
        ("spread_max", b.spread_max),
        ("spread_twa", b.spread_twa),
    ]
}

/// A quote bar's fields after `instrument`, in design.md §5's column order.
fn quote_bar_fields(b: &QuoteBar) -> Vec<(&'static str, Json)> {
    let mut fields =
        vec![("window_start", Json::Int(b.window_start.into())), ("window_end", Json::Int(b.window_end.into()))];
    fields.extend(quote_values(b).map(|(k, v)| (k, v.map_or(Json::Null, |v| Json::Dec(v.to_string())))));
    fields.push(("quote_count", Json::Int(b.quote_count.into())));
    fields.push(("crossed_count", Json::Int(b.crossed_count.into())));
    fields.push(("revision", Json::Int(b.revision.into())));
    fields
}

/// Appends quote bar `b` of instrument `name` in `format` to `line` (CSV: an absent value is
/// an empty field; JSONL: `null`), ending in `\n`.
pub fn quote_bar_line(format: OutFormat, name: &str, b: &QuoteBar, line: &mut Vec<u8>) {
    if format == OutFormat::Jsonl {
        push_json(line, name, &quote_bar_fields(b));
        return;
    }
    push_name(line, name);
    let mut f = Fields::<QUOTE_BAR_CAP>::new();
    f.int(b.window_start < 0, b.window_start.unsigned_abs());
    f.int(b.window_end < 0, b.window_end.unsigned_abs());
    for (_, x) in quote_values(b) {
        match x {
            Some(x) => f.dec(i128::from(x.raw())),
            None => f.byte(b','),
        }
    }
    f.int(false, b.quote_count);
    f.int(false, b.crossed_count);
    f.int(false, u64::from(b.revision));
    f.byte(b'\n');
    f.end(line);
}

/// Appends trade `t` of instrument `name` as ticklane CSV to `line`, ending in `\n`.
pub fn trade_line(name: &str, t: &Trade, line: &mut Vec<u8>) {
    let recv = if t.ts_recv == ticklane::NO_TS { String::new() } else { t.ts_recv.to_string() };
    let _ = write!(line, "{},{recv},", t.ts_event);
    push_name(line, name);
    let mut id = Vec::new();
    let _ = write!(id, "{}", t.trade_id);
    let _ = write!(line, ",{},{},{},", t.price, t.size, t.side.as_str());
    push_name(line, &String::from_utf8_lossy(&id));
    line.push(b'\n');
}

/// Appends quote `q` of instrument `name` as ticklane quotes CSV to `line` ([`QUOTES_HEADER`];
/// an absent side and an absent `ts_recv` are empty fields), ending in `\n`.
pub fn quote_line(name: &str, q: &Quote, line: &mut Vec<u8>) {
    let _ = write!(line, "{},", q.ts_event);
    push_name(line, name);
    for side in [q.bid(), q.ask()] {
        match side {
            Some((px, sz)) => {
                let _ = write!(line, ",{px},{sz}");
            }
            None => line.extend_from_slice(b",,"),
        }
    }
    line.push(b',');
    if q.ts_recv != ticklane::NO_TS {
        let _ = write!(line, "{}", q.ts_recv);
    }
    line.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quote_line_leaves_an_absent_side_and_receive_time_empty() {
        let mut l = Vec::new();
        let q = Quote { ts_event: 5, ts_recv: ticklane::NO_TS, ..Quote::default() };
        let q = q.with_ask(Fixed::parse("10.5").expect("px"), Fixed::parse("2").expect("sz"));
        quote_line("a,b", &q, &mut l);
        assert_eq!(String::from_utf8_lossy(&l), "5,\"a,b\",,,10.5,2,\n");
        let q = Quote { ts_recv: 7, ..q.with_bid(Fixed::parse("-1").expect("px"), Fixed::ONE) };
        quote_line("X", &q, &mut l);
        assert_eq!(String::from_utf8_lossy(&l), "5,\"a,b\",,,10.5,2,\n5,X,-1,1,10.5,2,7\n", "appended");
    }

    #[test]
    fn jsonl_keeps_the_csv_column_order() {
        let mut l = Vec::new();
        bar_line(OutFormat::Jsonl, "X:\"q\"", &Bar { trade_count: 2, ..Bar::default() }, &mut l);
        // The keys in the order they are written.
        let keys = |t: &str| {
            let at = t.match_indices("\":").map(|(i, _)| &t[..i]);
            at.map(|s| s.rsplit('"').next().unwrap_or_default().to_string()).collect::<Vec<_>>().join(",")
        };
        let text = String::from_utf8_lossy(&l).into_owned();
        let v: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
        assert_eq!(v["instrument"], "X:\"q\"");
        assert_eq!(keys(&text), BARS_HEADER);
        l.clear();
        quote_bar_line(OutFormat::Jsonl, "Y", &QuoteBar { quote_count: 1, ..QuoteBar::default() }, &mut l);
        let text = String::from_utf8_lossy(&l).into_owned();
        assert_eq!(keys(&text), QUOTE_BARS_HEADER);
        assert!(text.contains("\"spread_twa\":null"), "{text}");
    }

    #[test]
    fn numbers_are_written_as_format_scaled_and_display_write_them() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut values: Vec<i128> = vec![0, 1, -1, 9, 10, 99, 100, 1_000_000_000, -1_000_000_000, 1_500_000_000];
        values.extend([i128::from(i64::MAX), i128::from(i64::MIN), i128::from(i64::MAX) + 1, i128::MIN, i128::MAX]);
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let shift = x % 64;
            // Every count of trailing zeros, in the fraction and past it.
            let p = 10i64.pow((x >> 8) as u32 % 13);
            values.push(i128::from((x >> shift) as i64 / p * p) * if x & 1 == 0 { 1 } else { 10 });
        }
        let mut line = Vec::new();
        for v in values {
            line.clear();
            let mut f = Fields::<BAR_CAP>::new();
            f.dec(v);
            f.end(&mut line);
            let mut buf = [0u8; 48];
            assert_eq!(&line[1..], format_scaled(v, &mut buf).as_bytes(), "{v}");
            if let Ok(i) = u64::try_from(v.unsigned_abs()) {
                line.clear();
                let mut f = Fields::<BAR_CAP>::new();
                f.int(v < 0, i);
                f.end(&mut line);
                assert_eq!(String::from_utf8_lossy(&line[1..]), v.to_string(), "{v}");
            }
        }
    }

    #[test]
    fn names_with_commas_or_quotes_are_quoted() {
        let mut l = Vec::new();
        bar_line(OutFormat::Csv, "X:A,B", &Bar::default(), &mut l);
        assert!(l.starts_with(b"\"X:A,B\",0,0,"), "{}", String::from_utf8_lossy(&l));
        let t = Trade { trade_id: ticklane::TradeId::from_text(b"a\"b"), ts_recv: ticklane::NO_TS, ..Trade::default() };
        l.clear();
        trade_line("plain", &t, &mut l);
        assert_eq!(String::from_utf8_lossy(&l), "0,,plain,0,0,,\"a\"\"b\"\n");
    }
}
