//! Bar and trade writers (design.md §5): CSV with the fixed header, or JSONL with the same
//! field names and decimals as strings.

use std::io::{self, Write};
use ticklane::{Bar, Trade};

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
    /// Bars written.
    pub written: u64,
}

impl<W: Write> BarWriter<W> {
    /// Starts the output (writes the CSV header).
    pub fn new(mut out: W, format: OutFormat) -> io::Result<Self> {
        if format == OutFormat::Csv {
            writeln!(out, "{BARS_HEADER}")?;
        }
        Ok(BarWriter { out, format, written: 0 })
    }

    /// Writes one bar of instrument `name`.
    pub fn bar(&mut self, name: &str, b: &Bar) -> io::Result<()> {
        self.written += 1;
        match self.format {
            OutFormat::Csv => writeln!(
                self.out,
                "{name},{},{},{},{},{},{},{},{},{},{}",
                b.window_start,
                b.window_end,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.trade_count,
                b.vwap,
                b.revision
            ),
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
