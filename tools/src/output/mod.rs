//! What a replay writes: bar and trade lines (design.md §5: CSV with the fixed header, or
//! JSONL with the same field names and decimals as strings), and the sink that puts whole
//! lines into a file or stdout. The line formats are in the library (`ticklane_tools::format`),
//! so that `bench/`'s yardstick writes with the same code.

mod bus;
mod layout;
mod parquet;
mod rotate;
mod sink;

pub(crate) use bus::{BusSink, IDLE as BUS_IDLE};
pub(crate) use layout::stream_layout;
pub(crate) use parquet::{ParquetSink, Rows};
pub(crate) use rotate::{Rotation, Segment, Segments, PERIOD};

pub(crate) use sink::{LineSink, Target, Written};
pub(crate) use ticklane_tools::format::{
    bar_line, bar_message, quote_bar_line, quote_bar_message, quote_line, trade_line, OutFormat, BARS_HEADER,
    QUOTES_HEADER, QUOTE_BARS_HEADER, TRADES_HEADER,
};
