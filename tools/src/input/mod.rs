//! Streaming readers for capture files (design.md §6), in bounded memory, and the k-way
//! merge that replays several files as one stream ordered by `ts_event` (ties: file order).
//!
//! | file | what |
//! |---|---|
//! | `stream.rs` | a file or stdin, gzip/zstd decompressed, pipes read interruptibly |
//! | `chunk.rs` | records handed out a few thousand at a time |
//! | `csv/` | blocks of lines parsed on several threads in order, RFC 4180 fields, the header, ticklane CSV's columns |
//! | `tardis.rs` | Tardis CSV: detection from the header, its columns |
//! | `dbn/`, `zstd_frames.rs` | Databento DBN (plain or zstd): metadata by the `dbn` crate, records walked in place; the check that a `.zst` is whole |
//! | `time.rs` | integer and RFC 3339 timestamps |
//! | `symbols.rs` | instrument names interned per reader |
//! | `excerpt.rs` | bounded, escaped quotes of bad input for messages |
//! | `merge.rs` | several sources as one stream |
//!
//! Errors quote at most [`EXCERPT_BYTES`] bytes of input, escaped; lines are kept up to
//! [`MAX_LINE`] bytes; nothing read is ever held whole in memory.

mod chunk;
mod csv;
mod dbn;
mod digits;
mod excerpt;
mod merge;
mod stream;
mod symbols;
mod tardis;
mod time;
mod zstd_frames;

pub use chunk::Chunk;
pub use csv::{CsvSource, MAX_LINE};
pub use dbn::{DbnSource, MAX_METADATA};
pub use excerpt::{excerpt, EXCERPT_BYTES};
pub use merge::Merge;
pub use stream::StopFlag;
pub use time::parse_rfc3339;

use std::fmt;
use std::path::Path;
use stream::{Compression, Stream};
use ticklane::{Timestamp, Trade, NO_TS, WM_END};

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
    /// The next records in one go into `chunk` (cleared first); `false` at the end. After a
    /// fatal error (the chunk's last) the source is not read again.
    fn next_chunk(&mut self, chunk: &mut Chunk) -> bool {
        chunk.clear();
        while chunk.trades.len() < chunk::CHUNK {
            let Some(item) = self.next() else { break };
            if !chunk.push(item) {
                break;
            }
        }
        !chunk.is_empty()
    }
    /// The instrument name of local symbol `i`.
    fn symbol(&self, i: u32) -> &str;
    /// Bytes consumed so far (for progress), if known.
    fn position(&self) -> u64;
}

/// How to read an input.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The format (`Auto`: DBN by its magic bytes or a `.dbn`/`.dbn.zst` name, Tardis by its
    /// header, else ticklane CSV).
    pub format: Format,
    /// The `ts_event`s accepted, inclusive; others are malformed (`bad_timestamp`). The
    /// default excludes the two values the engine reserves (`NO_TS`, `WM_END`); a replay
    /// narrows it to what its windows can represent.
    pub ts_range: (Timestamp, Timestamp),
    /// Raised to make a read blocked on a pipe or FIFO give up (the signal handler does).
    pub stop: Option<StopFlag>,
    /// Threads parsing CSV blocks besides the reader (0: the reader parses). Records keep
    /// their input order whatever the count.
    pub threads: usize,
}

impl ReadOptions {
    /// `format`, every representable `ts_event`, no stop flag, parsing on the reader's thread.
    pub fn new(format: Format) -> ReadOptions {
        ReadOptions { format, ts_range: (NO_TS + 1, WM_END - 1), stop: None, threads: 0 }
    }
}

/// Opens `path` (`-`: standard input) per `opt`. Gzip and zstd are decompressed whatever the
/// format; a file that is none of the supported formats says what it looks like.
pub fn open(path: &Path, opt: &ReadOptions) -> Result<Box<dyn Source>, InputError> {
    let stream = Stream::open(path, opt.stop.as_ref())?;
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let dbn = stream.head.starts_with(b"DBN") || name.ends_with(".dbn") || name.ends_with(".dbn.zst");
    let dbn_allowed = stream.compression != Compression::Gzip;
    match opt.format {
        Format::Dbn | Format::Auto if dbn && dbn_allowed => Ok(Box::new(DbnSource::open(path, stream, opt)?)),
        Format::Dbn => Err(InputError {
            at: format!("{}: byte 0", path.display()),
            reason: "bad_dbn_header",
            detail: format!(
                "expected a DBN file (plain or zstd-compressed), found {}; {}",
                excerpt(&stream.head),
                csv::SUPPORTED
            ),
            recoverable: false,
        }),
        Format::Csv => Ok(Box::new(CsvSource::open(path, stream, Some(false), opt)?)),
        Format::Tardis => Ok(Box::new(CsvSource::open(path, stream, Some(true), opt)?)),
        Format::Auto => Ok(Box::new(CsvSource::open(path, stream, None, opt)?)),
    }
}

/// Why `ts_event` is refused: outside `range`.
fn out_of_range(ts_event: Timestamp, range: (Timestamp, Timestamp)) -> String {
    format!(
        "ts_event {ts_event} is outside {}..={} ns, the times whose windows the bars can represent \
         (a window end would pass the largest time, or a start the smallest)",
        range.0, range.1
    )
}
