//! Streaming readers for capture files (design.md §6), in bounded memory, and the k-way
//! merge that replays several files as one stream ordered by `ts_event` (ties: file order).
//!
//! | file | what |
//! |---|---|
//! | `csv.rs` | the line reader shared by the CSV dialects, and ticklane CSV's columns |
//! | `tardis.rs` | Tardis CSV: detection from the header, its columns |
//! | `dbn.rs`, `zstd_frames.rs` | Databento DBN (plain or zstd), and the check that a `.zst` is whole |
//! | `time.rs` | integer and RFC 3339 timestamps |
//! | `symbols.rs` | instrument names interned per reader |
//! | `merge.rs` | several sources as one stream |

mod csv;
mod dbn;
mod merge;
mod symbols;
mod tardis;
mod time;
mod zstd_frames;

pub use csv::CsvSource;
pub use dbn::DbnSource;
pub use merge::Merge;
pub use time::parse_rfc3339;

use std::fmt;
use std::path::Path;
use ticklane::Trade;

/// The input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Decide from the file name and header.
    Auto,
    /// ticklane CSV.
    Csv,
    /// Tardis CSV.
    Tardis,
    /// Databento DBN (`.dbn`, `.dbn.zst`).
    Dbn,
}

/// A malformed record or unreadable input, located as `FILE:LINE` (CSV) or
/// `FILE: byte OFFSET` (DBN).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{at}: {detail}")]
pub struct InputError {
    /// Where.
    pub at: String,
    /// A short stable reason (the key of the per-reason counts).
    pub reason: &'static str,
    /// What was expected and found.
    pub detail: String,
    /// Whether reading can go on after it (a bad line: yes; a truncated DBN file: no).
    pub recoverable: bool,
}

impl InputError {
    /// A file that cannot be read at all.
    fn unreadable(path: &Path, e: impl fmt::Display) -> InputError {
        InputError { at: path.display().to_string(), reason: "unreadable", detail: e.to_string(), recoverable: false }
    }
}

/// One record: the reader-local symbol index and the trade (its instrument id unset).
pub type Rec = (u32, Trade);

/// A source of trades.
pub trait Source: Send {
    /// The next record, a recoverable or fatal error, or `None` at the end.
    fn next(&mut self) -> Option<Result<Rec, InputError>>;
    /// The instrument name of local symbol `i`.
    fn symbol(&self, i: u32) -> &str;
    /// Bytes consumed so far (for progress), if known.
    fn position(&self) -> u64;
}

/// Opens `path` as `format` (`Auto`: `.dbn`/`.dbn.zst` by name, Tardis by its header, else
/// ticklane CSV).
pub fn open(path: &Path, format: Format) -> Result<Box<dyn Source>, InputError> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let is_dbn = name.ends_with(".dbn") || name.ends_with(".dbn.zst");
    match format {
        Format::Dbn => Ok(Box::new(DbnSource::open(path)?)),
        Format::Auto if is_dbn => Ok(Box::new(DbnSource::open(path)?)),
        Format::Csv => Ok(Box::new(CsvSource::open(path, Some(false))?)),
        Format::Tardis => Ok(Box::new(CsvSource::open(path, Some(true))?)),
        Format::Auto => Ok(Box::new(CsvSource::open(path, None)?)),
    }
}
