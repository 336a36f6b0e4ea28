//! Bars as Parquet rows: the bars CSV's columns, every value present.

use super::{decimal, each_column, Rows};
use parquet::data_type::{ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::writer::SerializedRowGroupWriter;
use std::fs::File;
use ticklane::Bar;

/// The columns of the row group being gathered.
#[derive(Default)]
pub(crate) struct Columns {
    instrument: Vec<ByteArray>,
    start: Vec<i64>,
    end: Vec<i64>,
    /// open, high, low, close, volume, vwap.
    decimals: [Vec<FixedLenByteArray>; 6],
    trade_count: Vec<i64>,
    revision: Vec<i32>,
}

impl Rows for Bar {
    const SCHEMA: &'static str = "message bars {
        REQUIRED BYTE_ARRAY instrument (STRING);
        REQUIRED INT64 window_start (TIMESTAMP(NANOS, true));
        REQUIRED INT64 window_end (TIMESTAMP(NANOS, true));
        REQUIRED FIXED_LEN_BYTE_ARRAY (16) open (DECIMAL(38, 9));
        REQUIRED FIXED_LEN_BYTE_ARRAY (16) high (DECIMAL(38, 9));
        REQUIRED FIXED_LEN_BYTE_ARRAY (16) low (DECIMAL(38, 9));
        REQUIRED FIXED_LEN_BYTE_ARRAY (16) close (DECIMAL(38, 9));
        REQUIRED FIXED_LEN_BYTE_ARRAY (16) volume (DECIMAL(38, 9));
        REQUIRED INT64 trade_count;
        REQUIRED FIXED_LEN_BYTE_ARRAY (16) vwap (DECIMAL(38, 9));
        REQUIRED INT32 revision;
    }";
    type Columns = Columns;

    fn push(r: &mut Columns, name: &str, b: &Bar) {
        r.instrument.push(ByteArray::from(name));
        r.start.push(b.window_start);
        r.end.push(b.window_end);
        let values = [b.open.raw(), b.high.raw(), b.low.raw(), b.close.raw()].map(i128::from);
        for (col, v) in r.decimals.iter_mut().zip(values.into_iter().chain([b.volume.raw(), i128::from(b.vwap.raw())]))
        {
            col.push(decimal(v));
        }
        r.trade_count.push(i64::try_from(b.trade_count).unwrap_or(i64::MAX));
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
                3..=7 => col.typed::<FixedLenByteArrayType>().write_batch(&rows.decimals[k - 3], None, None)?,
                8 => col.typed::<Int64Type>().write_batch(&rows.trade_count, None, None)?,
                9 => col.typed::<FixedLenByteArrayType>().write_batch(&rows.decimals[5], None, None)?,
                _ => col.typed::<Int32Type>().write_batch(&rows.revision, None, None)?,
            };
            Ok(())
        })
    }
}
