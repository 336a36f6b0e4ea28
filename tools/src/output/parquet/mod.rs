//! Bars and quote bars as Parquet (design.md §5): the CSV's columns in its order; decimals as
//! DECIMAL(38, 9) (16-byte big-endian two's complement, the raw nano-units; a quote bar's absent
//! values are nulls), window times as INT64 TIMESTAMP(NANOS, UTC), counts INT64, `revision`
//! INT32. Rows are gathered into row groups of [`ROWS`] and written zstd-compressed; the footer
//! goes at the end, so a reader sees the file once the run is over. The row layouts are in
//! `bars.rs` and `quote_bars.rs`; this file is the file and its failures.

mod bars;
mod quote_bars;

use super::sink::Written;
use parquet::basic::Compression;
use parquet::data_type::FixedLenByteArray;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Rows per row group.
const ROWS: usize = 65_536;

/// A record as Parquet rows: its schema and its columns.
pub(crate) trait Rows: Send + 'static {
    /// The message type (design.md §5's columns).
    const SCHEMA: &'static str;
    /// The columns of the row group being gathered.
    type Columns: Default + Send;
    /// Adds a row for record `r` of instrument `name`.
    fn push(cols: &mut Self::Columns, name: &str, r: &Self);
    /// Rows gathered.
    fn len(cols: &Self::Columns) -> usize;
    /// Writes the columns, in the schema's order, into `group`.
    fn write(group: &mut SerializedRowGroupWriter<'_, File>, cols: &Self::Columns) -> Result<(), ParquetError>;
}

/// A Parquet file of `R` being written.
pub(crate) struct ParquetSink<R: Rows> {
    name: String,
    writer: Option<SerializedFileWriter<File>>,
    rows: R::Columns,
    /// Rows in closed row groups, shared with the signal handler's account.
    lines: Arc<AtomicU64>,
    lost: u64,
    error: Option<String>,
}

/// Calls `write(k, column)` for each column `k` of `group` in the schema's order, then closes it.
fn each_column(
    group: &mut SerializedRowGroupWriter<'_, File>,
    mut write: impl FnMut(usize, &mut SerializedColumnWriter<'_>) -> Result<(), ParquetError>,
) -> Result<(), ParquetError> {
    let mut k = 0;
    while let Some(mut col) = group.next_column()? {
        write(k, &mut col)?;
        col.close()?;
        k += 1;
    }
    Ok(())
}

/// A DECIMAL(38, 9) value.
fn decimal(raw: i128) -> FixedLenByteArray {
    FixedLenByteArray::from(raw.to_be_bytes().to_vec())
}

impl<R: Rows> ParquetSink<R> {
    /// A writer into `file` (`name` says which, in errors).
    pub(crate) fn create(file: File, name: String, lines: Arc<AtomicU64>) -> Result<ParquetSink<R>, ParquetError> {
        let schema = Arc::new(parse_message_type(R::SCHEMA)?);
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(Default::default())).build();
        let writer = SerializedFileWriter::new(file, schema, Arc::new(props))?;
        Ok(ParquetSink { name, writer: Some(writer), rows: R::Columns::default(), lines, lost: 0, error: None })
    }

    /// Adds record `r` of instrument `name`; writes a row group when one is full.
    pub(crate) fn push(&mut self, name: &str, r: &R) {
        R::push(&mut self.rows, name, r);
        if R::len(&self.rows) >= ROWS {
            self.flush();
        }
    }

    /// Writes the gathered rows as one row group (after an error, counts them as lost).
    fn flush(&mut self) {
        let rows = std::mem::take(&mut self.rows);
        let n = R::len(&rows) as u64;
        if n == 0 {
            return;
        }
        let Some(w) = self.writer.as_mut() else {
            self.lost += n;
            return;
        };
        let group = w.next_row_group().and_then(|mut g| R::write(&mut g, &rows).and_then(|()| g.close().map(|_| ())));
        match group {
            Ok(()) => {
                self.lines.store(self.lines.load(Relaxed) + n, Relaxed);
            }
            Err(e) => {
                self.lost += n;
                self.error = Some(format!("{}: {e} after {} rows", self.name, self.lines.load(Relaxed)));
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

impl<R: Rows> crate::output::Segment for ParquetSink<R> {
    fn finish(self) -> Written {
        ParquetSink::finish(self)
    }
}
