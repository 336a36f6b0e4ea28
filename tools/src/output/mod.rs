//! What a replay writes: bar and trade lines (design.md §5: CSV with the fixed header, or
//! JSONL with the same field names and decimals as strings), and the sink that puts whole
//! lines into a file or stdout.

mod format;
mod sink;

pub(crate) use format::{bar_line, trade_line, OutFormat, BARS_HEADER, TRADES_HEADER};
pub(crate) use sink::{LineSink, Target, Written};
