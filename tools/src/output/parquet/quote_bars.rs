//! Quote bars as Parquet rows: the quote bars CSV's columns; a value the window cannot give
//! (no bid, no two-sided quote, no two-sided time) is a null (an OPTIONAL column, definition
//! level 0), as it is an empty CSV field.

use super::{decimal, each_column, Rows};
use parquet::data_type::{ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::writer::SerializedRowGroupWriter;
use std::fs::File;
use ticklane::{Fixed, QuoteBar};

/// An optional column: its present values and every row's definition level.
#[derive(Default)]
struct Optional {
    values: Vec<FixedLenByteArray>,
    levels: Vec<i16>,
}

impl Optional {
    fn push(&mut self, v: Option<Fixed>) {
        self.levels.push(i16::from(v.is_some()));
        if let Some(v) = v {
            self.values.push(decimal(i128::from(v.raw())));
        }
    }
}

/// The columns of the row group being gathered.
#[derive(Default)]
pub(crate) struct Columns {
    instrument: Vec<ByteArray>,
    start: Vec<i64>,
    end: Vec<i64>,
    /// bid open/high/low/close, ask open/high/low/close, spread min/max/twa.
    decimals: [Optional; 11],
    quote_count: Vec<i64>,
    crossed_count: Vec<i64>,
    revision: Vec<i32>,
}

impl Rows for QuoteBar {
    const SCHEMA: &'static str = "message quote_bars {
        REQUIRED BYTE_ARRAY instrument (STRING);
        REQUIRED INT64 window_start (TIMESTAMP(NANOS, true));
        REQUIRED INT64 window_end (TIMESTAMP(NANOS, true));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) bid_open (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) bid_high (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) bid_low (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) bid_close (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) ask_open (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) ask_high (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) ask_low (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) ask_close (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) spread_min (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) spread_max (DECIMAL(38, 9));
        OPTIONAL FIXED_LEN_BYTE_ARRAY (16) spread_twa (DECIMAL(38, 9));
        REQUIRED INT64 quote_count;
        REQUIRED INT64 crossed_count;
        REQUIRED INT32 revision;
    }";
    type Columns = Columns;

    fn push(r: &mut Columns, name: &str, b: &QuoteBar) {
        r.instrument.push(ByteArray::from(name));
        r.start.push(b.window_start);
        r.end.push(b.window_end);
        let values = [
            b.bid_open,
            b.bid_high,
            b.bid_low,
            b.bid_close,
            b.ask_open,
            b.ask_high,
            b.ask_low,
            b.ask_close,
            b.spread_min,
            b.spread_max,
            b.spread_twa,
        ];
        for (col, v) in r.decimals.iter_mut().zip(values) {
            col.push(v);
        }
        r.quote_count.push(i64::try_from(b.quote_count).unwrap_or(i64::MAX));
        r.crossed_count.push(i64::try_from(b.crossed_count).unwrap_or(i64::MAX));
        r.revision.push(i32::try_from(b.revision).unwrap_or(i32::MAX));
    }

    fn len(r: &Columns) -> usize {
        r.start.len()
    }

    fn write(group: &mut SerializedRowGroupWriter<'_, File>, rows: &Columns) -> Result<(), ParquetError> {
        each_column(group, |k, col| {
            match k {
                0 => col.typed::<ByteArrayType>().write_batch(&rows.instrument, None, None)?,
                1 => col.typed::<Int64Type>().write_batch(&rows.start, None, None)?,
                2 => col.typed::<Int64Type>().write_batch(&rows.end, None, None)?,
                3..=13 => {
                    let d = &rows.decimals[k - 3];
                    col.typed::<FixedLenByteArrayType>().write_batch(&d.values, Some(&d.levels), None)?
                }
                14 => col.typed::<Int64Type>().write_batch(&rows.quote_count, None, None)?,
                15 => col.typed::<Int64Type>().write_batch(&rows.crossed_count, None, None)?,
                _ => col.typed::<Int32Type>().write_batch(&rows.revision, None, None)?,
            };
            Ok(())
        })
    }
}
