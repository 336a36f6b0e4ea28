//! Bar and trade writers (design.md §5): CSV with the fixed header, or JSONL with the same
//! field names and decimals as strings.

use std::io::{self, Write};
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

/// Writes bars in one format.
pub struct BarWriter<W: Write> {
    out: W,
    format: OutFormat,
    line: Vec<u8>,
    /// Bars written.
    pub written: u64,
}

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

impl<W: Write> BarWriter<W> {
    /// Starts the output (writes the CSV header).
    pub fn new(mut out: W, format: OutFormat) -> io::Result<Self> {
        if format == OutFormat::Csv {
            writeln!(out, "{BARS_HEADER}")?;
        }
        Ok(BarWriter { out, format, line: Vec::with_capacity(256), written: 0 })
    }

    /// Writes one bar of instrument `name`.
    pub fn bar(&mut self, name: &str, b: &Bar) -> io::Result<()> {
        self.written += 1;
        match self.format {
            OutFormat::Csv => {
                let l = &mut self.line;
                l.clear();
                l.extend_from_slice(name.as_bytes());
                push_int(l, b.window_start < 0, b.window_start.unsigned_abs());
                push_int(l, b.window_end < 0, b.window_end.unsigned_abs());
                for d in [b.open, b.high, b.low, b.close] {
                    push_dec(l, i128::from(d.raw()));
                }
                push_dec(l, b.volume.raw());
                push_int(l, false, b.trade_count);
                push_dec(l, i128::from(b.vwap.raw()));
                push_int(l, false, u64::from(b.revision));
                l.push(b'\n');
                self.out.write_all(l)
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
                writeln!(self.out, "{v}")
            }
        }
    }

    /// Flushes and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The ticklane CSV header for trades (the late side output).
pub const TRADES_HEADER: &str = "ts_event,ts_recv,instrument,price,size,side,trade_id";

/// Writes one trade as ticklane CSV.
pub fn trade_csv<W: Write>(out: &mut W, name: &str, t: &Trade) -> io::Result<()> {
    let recv = if t.ts_recv == ticklane::NO_TS { String::new() } else { t.ts_recv.to_string() };
    writeln!(out, "{},{recv},{name},{},{},{},{}", t.ts_event, t.price, t.size, t.side.as_str(), t.trade_id)
}
