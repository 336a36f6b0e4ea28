//! Bars and trades as lines: CSV with the fixed headers, or one JSON object per line.

use std::io::Write;
use ticklane::{format_scaled, Bar, Trade};

/// Output format for bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// The bars CSV header (design.md §5).
pub const BARS_HEADER: &str = "instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision";

/// The ticklane CSV header for trades (the late side output).
pub const TRADES_HEADER: &str = "ts_event,ts_recv,instrument,price,size,side,trade_id";

/// Appends `,` and a decimal integer of magnitude `m` (no `fmt` machinery: this runs for
/// several fields of every bar).
fn push_int(line: &mut Vec<u8>, neg: bool, mut m: u64) {
    let mut buf = [0u8; 21];
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if neg {
        pos -= 1;
        buf[pos] = b'-';
    }
    line.push(b',');
    line.extend_from_slice(&buf[pos..]);
}

/// Appends `,` and a scaled decimal, trimmed per design.md §5.
fn push_dec(line: &mut Vec<u8>, raw: i128) {
    let mut buf = [0u8; 48];
    line.push(b',');
    line.extend_from_slice(format_scaled(raw, &mut buf).as_bytes());
}

/// Appends `name` as a CSV field: as is, or quoted (RFC 4180) when it holds a `,`, a `"` or
/// a line break.
fn push_name(line: &mut Vec<u8>, name: &str) {
    let b = name.as_bytes();
    if memchr::memchr3(b',', b'"', b'\n', b).is_none() && memchr::memchr(b'\r', b).is_none() {
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

/// Replaces `line` with bar `b` of instrument `name` in `format`, ending in `\n`.
pub fn bar_line(format: OutFormat, name: &str, b: &Bar, line: &mut Vec<u8>) {
    line.clear();
    match format {
        OutFormat::Csv => {
            push_name(line, name);
            push_int(line, b.window_start < 0, b.window_start.unsigned_abs());
            push_int(line, b.window_end < 0, b.window_end.unsigned_abs());
            for d in [b.open, b.high, b.low, b.close] {
                push_dec(line, i128::from(d.raw()));
            }
            push_dec(line, b.volume.raw());
            push_int(line, false, b.trade_count);
            push_dec(line, i128::from(b.vwap.raw()));
            push_int(line, false, u64::from(b.revision));
            line.push(b'\n');
        }
        OutFormat::Jsonl => {
            let v = serde_json::json!({
                "instrument": name,
                "window_start": b.window_start,
                "window_end": b.window_end,
                "open": b.open.to_string(),
                "high": b.high.to_string(),
                "low": b.low.to_string(),
                "close": b.close.to_string(),
                "volume": b.volume.to_string(),
                "trade_count": b.trade_count,
                "vwap": b.vwap.to_string(),
                "revision": b.revision,
            });
            let _ = writeln!(line, "{v}");
        }
    }
}

/// Replaces `line` with trade `t` of instrument `name` as ticklane CSV, ending in `\n`.
pub fn trade_line(name: &str, t: &Trade, line: &mut Vec<u8>) {
    line.clear();
    let recv = if t.ts_recv == ticklane::NO_TS { String::new() } else { t.ts_recv.to_string() };
    let _ = write!(line, "{},{recv},", t.ts_event);
    push_name(line, name);
    let mut id = Vec::new();
    let _ = write!(id, "{}", t.trade_id);
    let _ = write!(line, ",{},{},{},", t.price, t.size, t.side.as_str());
    push_name(line, &String::from_utf8_lossy(&id));
    line.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_commas_or_quotes_are_quoted() {
        let mut l = Vec::new();
        bar_line(OutFormat::Csv, "X:A,B", &Bar::default(), &mut l);
        assert!(l.starts_with(b"\"X:A,B\",0,0,"), "{}", String::from_utf8_lossy(&l));
        let t = Trade { trade_id: ticklane::TradeId::from_text(b"a\"b"), ts_recv: ticklane::NO_TS, ..Trade::default() };
        trade_line("plain", &t, &mut l);
        assert_eq!(String::from_utf8_lossy(&l), "0,,plain,0,0,,\"a\"\"b\"\n");
    }
}
