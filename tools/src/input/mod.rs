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

pub(crate) mod binance;
pub(crate) mod chunk;
mod csv;
mod cursor;
mod dbn;
pub(crate) mod digits;
mod excerpt;
mod merge;
mod quotes;
mod stream;
pub(crate) mod symbols;
mod tardis;
mod time;
pub(crate) mod word;
mod zstd_frames;

pub use binance::{BinanceSource, StreamKind, DEFAULT_VENUE};
pub use chunk::Chunk;
use csv::CsvSource;
pub use csv::MAX_LINE;
pub use dbn::{DbnQuotes, DbnSource, MAX_METADATA};
pub use excerpt::{excerpt, EXCERPT_BYTES};
pub use merge::Merge;
pub use stream::StopFlag;
pub use time::parse_rfc3339;

use std::fmt;
use std::path::Path;
use stream::{Compression, Stream};
use ticklane::{InstrumentId, Quote, Timestamp, Trade, NO_TS, WM_END};

/// The input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Decide from the file name and header.
    Auto,
    /// ticklane CSV (trades or quotes, by the header).
    Csv,
    /// Tardis CSV (trades or quotes, by the header).
    Tardis,
    /// Databento DBN (`.dbn`, `.dbn.zst`).
    Dbn,
    /// Binance stream capture (`<receive_ns> <json>` lines; trades and `bookTicker` quotes).
    BinanceStream,
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

/// What a reader produces: trades or quotes, each with its instrument field holding a symbol
/// index until the feed interns the name.
pub trait Event: ticklane::Record {
    /// Sets the instrument (a reader's symbol index, or the engine's id).
    fn set_instrument(&mut self, id: InstrumentId);
}

impl Event for Trade {
    #[inline]
    fn set_instrument(&mut self, id: InstrumentId) {
        self.instrument = id;
    }
}

impl Event for Quote {
    #[inline]
    fn set_instrument(&mut self, id: InstrumentId) {
        self.instrument = id;
    }
}

/// One record: the reader-local symbol index and the record (its instrument id unset).
pub type Rec<R = Trade> = (u32, R);

/// A source of trades (or, `R = Quote`, of quotes).
pub trait Source<R: Event = Trade>: Send {
    /// The next record, a recoverable or fatal error, or `None` at the end.
    fn next(&mut self) -> Option<Result<Rec<R>, InputError>>;
    /// The next records in one go into `chunk` (cleared first); `false` at the end. After a
    /// fatal error (the chunk's last) the source is not read again.
    fn next_chunk(&mut self, chunk: &mut Chunk<R>) -> bool {
        chunk.clear();
        while chunk.records.len() < chunk::CHUNK {
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
    /// Records of other kinds passed over so far (a Binance stream's depth updates, say).
    fn skipped(&self) -> u64 {
        0
    }
    /// Threads parsing this input besides the reader (a text input's parse pool): with none
    /// the reader is a light thread, and a run leaves its threads unpinned.
    fn parse_threads(&self) -> usize {
        0
    }
    /// A watermark the records from here on must be judged against, once, before them: a live
    /// source resuming after a checkpoint (records of windows it already saw written are late
    /// again). Files have none.
    fn take_floor(&mut self) -> Option<Timestamp> {
        None
    }
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
    /// The instrument prefix where the format has none (Binance streams: `binance`).
    pub venue: Option<String>,
}

impl ReadOptions {
    /// `format`, every representable `ts_event`, no stop flag, parsing on the reader's thread.
    pub fn new(format: Format) -> ReadOptions {
        ReadOptions { format, ts_range: (NO_TS + 1, WM_END - 1), stop: None, threads: 0, venue: None }
    }
}

/// Opens `path` (`-`: standard input) per `opt` for its trades. Gzip and zstd are
/// decompressed whatever the format; a file that is none of the supported formats says what
/// it looks like.
pub fn open(path: &Path, opt: &ReadOptions) -> Result<Box<dyn Source>, InputError> {
    let stream = Stream::open(path, opt.stop.as_ref())?;
    match opt.format {
        Format::Dbn | Format::Auto if is_dbn(path, &stream) => {
            Ok(Box::new(of_kind(DbnSource::open(path, stream, opt)?, path, false)?))
        }
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
        Format::BinanceStream => Ok(Box::new(BinanceSource::<Trade>::open(path, stream, opt))),
        Format::Auto if is_stream_capture(&stream.head) => {
            Ok(Box::new(BinanceSource::<Trade>::open(path, stream, opt)))
        }
        Format::Csv => Ok(Box::new(CsvSource::open(path, stream, Some(false), opt)?)),
        Format::Tardis => Ok(Box::new(CsvSource::open(path, stream, Some(true), opt)?)),
        Format::Auto => Ok(Box::new(CsvSource::open(path, stream, None, opt)?)),
    }
}

/// Opens `path` per `opt` for its quotes: quotes CSV (ticklane or Tardis) or a Binance stream.
pub fn open_quotes(path: &Path, opt: &ReadOptions) -> Result<Box<dyn Source<Quote>>, InputError> {
    let stream = Stream::open(path, opt.stop.as_ref())?;
    if opt.format == Format::Auto && is_dbn(path, &stream) {
        return Ok(Box::new(DbnQuotes(of_kind(DbnSource::open(path, stream, opt)?, path, true)?)));
    }
    match opt.format {
        Format::BinanceStream => Ok(Box::new(BinanceSource::<Quote>::open(path, stream, opt))),
        Format::Auto if is_stream_capture(&stream.head) => {
            Ok(Box::new(BinanceSource::<Quote>::open(path, stream, opt)))
        }
        Format::Auto | Format::Csv | Format::Tardis => Ok(Box::new(quotes::open(path, stream, opt)?)),
        Format::Dbn => Ok(Box::new(DbnQuotes(of_kind(DbnSource::open(path, stream, opt)?, path, true)?))),
    }
}

/// `d`, when its schema holds the kind read (`quotes`, else trades); else an error saying what
/// it holds (a trades file read for quotes would give nothing, silently).
fn of_kind(d: DbnSource, path: &Path, quotes: bool) -> Result<DbnSource, InputError> {
    let k = d.kinds();
    let (holds, read) = match quotes {
        true if !k.quotes => ("trades", "quotes"),
        false if !k.trades => ("quotes (BBO)", "trades"),
        _ => return Ok(d),
    };
    Err(InputError {
        at: format!("{}: byte 0", path.display()),
        reason: "header",
        detail: format!(
            "this DBN file's schema holds {holds}, no {read}: replay it with --kind {} (or auto)",
            holds.split(' ').next().unwrap_or(holds)
        ),
        recoverable: false,
    })
}

/// Whether `stream` is DBN: its magic bytes or a `.dbn` / `.dbn.zst` name (not gzip).
fn is_dbn(path: &Path, stream: &Stream) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let dbn = stream.head.starts_with(b"DBN") || name.ends_with(".dbn") || name.ends_with(".dbn.zst");
    dbn && stream.compression != Compression::Gzip
}

/// The record kinds an input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kinds {
    /// Trades.
    pub trades: bool,
    /// Quotes.
    pub quotes: bool,
}

/// What `path` holds, from its format, first bytes, header or schema: trades CSV trades,
/// quotes CSV quotes, DBN by its schema (trades; BBO quotes; MBP-1 and TBBO both), a Binance
/// stream capture both (it may hold either); an input with both is read once per kind.
/// Standard input, pipes and FIFOs cannot be looked at twice: they are taken for trades unless
/// the format says otherwise.
pub fn kinds(path: &Path, opt: &ReadOptions) -> Result<Kinds, InputError> {
    const TRADES: Kinds = Kinds { trades: true, quotes: false };
    const BOTH: Kinds = Kinds { trades: true, quotes: true };
    match opt.format {
        Format::BinanceStream => return Ok(BOTH),
        _ if path.as_os_str() == "-" || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) => return Ok(TRADES),
        _ => {}
    }
    let stream = Stream::open(path, opt.stop.as_ref())?;
    if opt.format == Format::Dbn || (opt.format == Format::Auto && is_dbn(path, &stream)) {
        return Ok(DbnSource::open(path, stream, opt).map_or(TRADES, |d| d.kinds()));
    }
    if is_stream_capture(&stream.head) {
        return Ok(if opt.format == Format::Auto { BOTH } else { TRADES });
    }
    let Ok((_, head)) = csv::first_line(path, stream) else { return Ok(TRADES) };
    let quotes = csv::header_names(&head).is_ok_and(|h| quotes::looks_like(&h));
    Ok(Kinds { trades: !quotes, quotes })
}

/// `<digits> {`: a receive time and a JSON message (a Binance stream capture's line).
pub(crate) fn is_stream_capture(line: &[u8]) -> bool {
    let digits = line.iter().take_while(|c| c.is_ascii_digit()).count();
    digits > 0 && line[digits..].starts_with(b" {")
}

/// Why `ts_event` is refused: outside `range`.
pub(crate) fn out_of_range(ts_event: Timestamp, range: (Timestamp, Timestamp)) -> String {
    format!(
        "ts_event {ts_event} is outside {}..={} ns, the times whose windows the bars can represent \
         (a window end would pass the largest time, or a start the smallest)",
        range.0, range.1
    )
}
