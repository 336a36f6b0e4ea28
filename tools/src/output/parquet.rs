//! Bars as Parquet (design.md §5): the CSV's columns in its order; prices, volume and vwap as
//! DECIMAL(38, 9) (16-byte big-endian two's complement, the raw nano-units), window times as
//! INT64 TIMESTAMP(NANOS, UTC), `trade_count` INT64, `revision` INT32. Rows are gathered into
//! row groups of [`ROWS`] and written zstd-compressed; the footer goes at the end, so a reader
//! sees the file once the run is over.

use super::sink::Written;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use ticklane::Bar;

/// Bars per row group.
const ROWS: usize = 65_536;

const SCHEMA: &str = "message bars {
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

/// The columns of the row group being gathered.
#[derive(Default)]
struct Columns {
    instrument: Vec<ByteArray>,
    start: Vec<i64>,
    end: Vec<i64>,
    /// open, high, low, close, volume, vwap.
    decimals: [Vec<FixedLenByteArray>; 6],
    trade_count: Vec<i64>,
    revision: Vec<i32>,
}

/// A Parquet file of bars being written.
pub(crate) struct ParquetBars {
    name: String,
    writer: Option<SerializedFileWriter<File>>,
    rows: Columns,
    /// Bars in closed row groups, shared with the signal handler's account.
    lines: Arc<AtomicU64>,
    lost: u64,
    error: Option<String>,
}

fn decimal(raw: i128) -> FixedLenByteArray {
    FixedLenByteArray::from(raw.to_be_bytes().to_vec())
}

impl ParquetBars {
    /// A writer into `file` (`name` says which, in errors).
    pub(crate) fn create(file: File, name: String, lines: Arc<AtomicU64>) -> Result<ParquetBars, ParquetError> {
        let schema = Arc::new(parse_message_type(SCHEMA)?);
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(Default::default())).build();
        let writer = SerializedFileWriter::new(file, schema, Arc::new(props))?;
        Ok(ParquetBars { name, writer: Some(writer), rows: Columns::default(), lines, lost: 0, error: None })
    }

    /// Adds bar `b` of instrument `name`; writes a row group when one is full.
    pub(crate) fn push(&mut self, name: &str, b: &Bar) {
        let r = &mut self.rows;
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
        if r.start.len() >= ROWS {
            self.flush();
        }
    }

    /// Writes the gathered rows as one row group (after an error, counts them as lost).
    fn flush(&mut self) {
        let rows = std::mem::take(&mut self.rows);
        let n = rows.start.len() as u64;
        if n == 0 {
            return;
        }
        let Some(w) = self.writer.as_mut() else {
            self.lost += n;
            return;
        };
        match write_group(w, &rows) {
            Ok(()) => {
                self.lines.store(self.lines.load(Relaxed) + n, Relaxed);
            }
            Err(e) => {
                self.lost += n;
                self.error = Some(format!("{}: {e} after {} bars", self.name, self.lines.load(Relaxed)));
                self.writer = None;
            }
        }
    }

    /// Writes the rest and the footer; reports what the file holds.
    pub(crate) fn finish(mut self) -> Written {
        self.flush();
        if let Some(w) = self.writer.take() {
            if let Err(e) = w.close() {
                self.error = Some(format!("{}: {e} (the file has no footer: unreadable)", self.name));
            }
        }
        Written { lines: self.lines.load(Relaxed), lost: self.lost, error: self.error }
    }
}

/// One row group of `rows`, column by column in the schema's order.
fn write_group(w: &mut SerializedFileWriter<File>, rows: &Columns) -> Result<(), ParquetError> {
    let mut group = w.next_row_group()?;
    let mut k = 0;
    while let Some(mut col) = group.next_column()? {
        match k {
            0 => col.typed::<ByteArrayType>().write_batch(&rows.instrument, None, None)?,
            1 => col.typed::<Int64Type>().write_batch(&rows.start, None, None)?,
            2 => col.typed::<Int64Type>().write_batch(&rows.end, None, None)?,
            3..=7 => col.typed::<FixedLenByteArrayType>().write_batch(&rows.decimals[k - 3], None, None)?,
            8 => col.typed::<Int64Type>().write_batch(&rows.trade_count, None, None)?,
            9 => col.typed::<FixedLenByteArrayType>().write_batch(&rows.decimals[5], None, None)?,
            _ => col.typed::<Int32Type>().write_batch(&rows.revision, None, None)?,
        };
        col.close()?;
        k += 1;
    }
    group.close()?;
    Ok(())
}
