//! CSV captures, read line by line in bounded memory: ticklane CSV's columns here, Tardis's
//! in `tardis.rs`; lines (`lines.rs`), fields with RFC 4180 quoting (`fields.rs`) and the
//! header (`header.rs`) shared by both dialects.

mod block;
mod fast;
mod fields;
mod header;
mod lines;
mod names;
mod parser;
mod pool;

pub(super) use fields::Fields;
pub(super) use header::{names as header_names, trim_line_break, SUPPORTED};
pub use lines::MAX_LINE;
pub(super) use lines::{Line, Lines};

use super::chunk::{Chunk, Cursor};
use super::excerpt::excerpt;
use super::stream::{Bytes, Stream};
use super::{Event, InputError, ReadOptions, Rec, Source};

pub(super) use block::RecordParser;
use names::Names;
pub(super) use parser::Bad;
use parser::LineParser;
use pool::{Job, Pool};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use ticklane::InstrumentId;
use ticklane::Record;

/// Where each field of a trade is, by column index.
#[derive(Clone)]
pub(super) struct Columns {
    pub(super) ts: usize,
    pub(super) recv: Option<usize>,
    pub(super) price: usize,
    pub(super) size: usize,
    pub(super) side: Option<usize>,
    pub(super) id: Option<usize>,
    /// ticklane CSV: the instrument's name.
    pub(super) instrument: Option<usize>,
    /// Tardis: the instrument is `exchange:symbol`.
    pub(super) exchange: Option<usize>,
    pub(super) symbol: Option<usize>,
}

/// ticklane CSV's columns (design.md §6): `ts_event`, `instrument`, `price`, `size` required;
/// `ts_recv`, `side`, `trade_id` optional; any order, unknown ones ignored.
fn columns(header: &[String], missing: impl Fn(&str) -> InputError) -> Result<Columns, InputError> {
    Ok(Columns {
        ts: find(header, "ts_event").ok_or_else(|| missing("ts_event"))?,
        recv: find(header, "ts_recv"),
        price: find(header, "price").ok_or_else(|| missing("price"))?,
        size: find(header, "size").ok_or_else(|| missing("size"))?,
        side: find(header, "side"),
        id: find(header, "trade_id"),
        instrument: Some(find(header, "instrument").ok_or_else(|| missing("instrument"))?),
        exchange: None,
        symbol: None,
    })
}

/// The index of column `name`.
pub(super) fn find(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| h == name)
}

/// The first line of a text input (for its header, or to tell what it is), and the lines
/// after it. Binary data, an empty input and an overlong first line are fatal errors at line 1.
pub(super) fn first_line(path: &Path, stream: Stream) -> Result<(Lines<BufReader<Bytes>>, Vec<u8>), InputError> {
    let fatal = |reason, detail| InputError { at: format!("{}:1", path.display()), reason, detail, recoverable: false };
    // Only the first line's bytes: a NUL further on is a bad line, reported with its number.
    let first = stream.head.split(|&c| c == b'\n').next().unwrap_or_default();
    if let Some(at) = memchr::memchr(0, first) {
        return Err(fatal(
            "not_csv",
            format!("does not look like text (a NUL byte at offset {at}); {}", header::SUPPORTED),
        ));
    }
    let mut lines = Lines::new(BufReader::with_capacity(1 << 16, stream.bytes));
    let mut head = Vec::new();
    match lines.next(&mut head) {
        Ok(Line::Whole) => Ok((lines, head)),
        Ok(Line::End) => Err(fatal("header", "the file is empty: expected a header line".into())),
        Ok(Line::TooLong) => {
            Err(fatal("header", format!("the first line is longer than {MAX_LINE} bytes: {}", excerpt(&head))))
        }
        Err(e) => Err(InputError::unreadable(path, e)),
    }
}

/// Bytes of input per block handed to a parser: a few thousand lines, whose trades (about
/// 64 bytes each) stay in the cache on their way to the engine. (Tiny in unit tests, so that
/// small files span many blocks.)
const BLOCK: usize = if cfg!(test) { 64 } else { 1 << 18 };

/// A CSV input read in blocks of whole lines parsed by `P` (ticklane or Tardis trades, or
/// quotes) on [`ReadOptions::threads`] threads (in input order, whatever the thread count).
pub(in crate::input) struct CsvSource<P: RecordParser = LineParser> {
    path: PathBuf,
    lines: Lines<BufReader<Bytes>>,
    /// Raw bytes read, for progress through a compressed file (else the lines consumed are).
    position: Option<Arc<AtomicU64>>,
    /// Input bytes consumed up to the end of the last block handed out.
    delivered: u64,
    /// Lines handed out so far, the header included.
    line_no: u64,
    pool: Pool<P>,
    names: Names,
    /// No more blocks to read.
    ended: bool,
    /// A read error, reported after every line before it.
    io_error: Option<io::Error>,
    /// For the record-at-a-time [`Source::next`].
    cursor: Cursor<P::Rec>,
}

impl CsvSource {
    /// Reads `stream` as Tardis CSV (`Some(true)`), ticklane CSV (`Some(false)`) or whichever
    /// the header says (`None`).
    pub(super) fn open(
        path: &Path,
        stream: Stream,
        tardis: Option<bool>,
        opt: &ReadOptions,
    ) -> Result<CsvSource, InputError> {
        let at1 = format!("{}:1", path.display());
        let fatal = |reason, detail| InputError { at: at1.clone(), reason, detail, recoverable: false };
        let compression = stream.compression;
        let position = stream.position.clone();
        let (lines, head) = first_line(path, stream)?;
        let header = header::names(&head).map_err(|d| fatal("not_csv", d))?;
        let tardis = tardis.unwrap_or_else(|| super::tardis::looks_like(&header));
        let missing = |what: &str| fatal("header", header::not_a_trades_header(&head, &header, what));
        let cols = if tardis { super::tardis::columns(&header, missing)? } else { columns(&header, missing)? };
        let parser = LineParser::new(cols, header.len(), tardis, opt.ts_range);
        Ok(CsvSource::with_parser(path, lines, compression, position, parser, opt))
    }
}

impl<P: RecordParser> CsvSource<P> {
    /// The lines after the header, parsed by `parser`.
    pub(super) fn with_parser(
        path: &Path,
        lines: Lines<BufReader<Bytes>>,
        compression: super::stream::Compression,
        position: Arc<AtomicU64>,
        parser: P,
        opt: &ReadOptions,
    ) -> CsvSource<P> {
        CsvSource {
            path: path.to_path_buf(),
            delivered: lines.consumed,
            lines,
            position: (compression != super::stream::Compression::None).then_some(position),
            line_no: 1,
            pool: Pool::new(parser, opt.threads),
            names: Names::default(),
            ended: false,
            io_error: None,
            cursor: Cursor::default(),
        }
    }

    /// Keeps the parsers busy: reads blocks while they have room.
    fn read_ahead(&mut self) {
        while !self.ended && self.pool.has_room() {
            let mut job = self.pool.spare();
            match self.lines.next_block(&mut job.block, BLOCK) {
                Ok(Some(cut)) => {
                    (job.cut, job.position) = (cut, self.lines.consumed);
                    self.pool.submit(job);
                }
                Ok(None) => {
                    self.ended = true;
                    self.pool.recycle(job);
                }
                Err(e) => {
                    (self.ended, self.io_error) = (true, Some(e));
                    self.pool.recycle(job);
                }
            }
        }
    }

    /// Moves a parsed block into `chunk`: symbol indexes made the source's, errors located.
    fn deliver(&mut self, mut job: Job<P::Rec>, chunk: &mut Chunk<P::Rec>) {
        let map = self.names.learn(job.parser, &job.out.names, job.out.names_from);
        for t in &mut job.out.records {
            t.set_instrument(InstrumentId(map[t.instrument().0 as usize]));
        }
        std::mem::swap(&mut chunk.records, &mut job.out.records);
        for e in job.out.errors.drain(..) {
            let at = format!("{}:{}", self.path.display(), self.line_no + e.line);
            let err = InputError { at, reason: e.bad.reason, detail: e.bad.detail, recoverable: true };
            chunk.errors.push((e.before, err));
        }
        self.line_no += job.out.lines;
        self.delivered = job.position;
        self.pool.recycle(job);
    }

    /// The read error that ended the input, located after the last line read.
    fn read_failure(&mut self, e: io::Error) -> InputError {
        let e = InputError::unreadable(&self.path, e);
        InputError { at: format!("{}:{}", self.path.display(), self.line_no + 1), ..e }
    }
}

impl<P: RecordParser> Source<P::Rec> for CsvSource<P> {
    fn next_chunk(&mut self, chunk: &mut Chunk<P::Rec>) -> bool {
        chunk.clear();
        self.read_ahead();
        match self.pool.next_done() {
            Ok(Some(job)) => {
                self.deliver(job, chunk);
                self.read_ahead();
                return true;
            }
            Ok(None) => {}
            Err(_) => {
                self.ended = true;
                let detail = "a parse thread stopped unexpectedly (a bug in ticklane; please report it)".into();
                let at = format!("{}:{}", self.path.display(), self.line_no + 1);
                chunk.errors.push((0, InputError { at, reason: "unreadable", detail, recoverable: false }));
                return true;
            }
        }
        match self.io_error.take() {
            Some(e) => {
                let e = self.read_failure(e);
                chunk.errors.push((0, e));
                true
            }
            None => false,
        }
    }

    fn next(&mut self) -> Option<Result<Rec<P::Rec>, InputError>> {
        loop {
            if let Some(item) = self.cursor.next() {
                return Some(item);
            }
            let mut chunk = std::mem::take(&mut self.cursor.chunk);
            let more = self.next_chunk(&mut chunk);
            self.cursor.chunk = chunk;
            self.cursor.rewind();
            if !more {
                return None;
            }
        }
    }

    fn symbol(&self, i: u32) -> &str {
        self.names.name(i)
    }

    fn parse_threads(&self) -> usize {
        self.pool.threads()
    }

    fn position(&self) -> u64 {
        self.position.as_ref().map_or(self.delivered, |p| p.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{open, Format, InputError, ReadOptions};
    use super::*;

    /// A record as `(name, ts, price, size)` or an error as `(at, reason, detail)`.
    type Item = Result<(String, i64, i64, i64), (String, &'static str, String)>;

    /// Every item of `path` read with `threads` parse threads: records as
    /// `(name, ts, price, size)`, errors as `(at, reason, detail)`.
    fn items(path: &Path, threads: usize) -> Vec<Item> {
        let opt = ReadOptions { threads, ..ReadOptions::new(Format::Csv) };
        let mut src = open(path, &opt).expect("open");
        let mut out = Vec::new();
        while let Some(item) = src.next() {
            out.push(match item {
                Ok((sym, t)) => Ok((src.symbol(sym).to_string(), t.ts_event, t.price.raw(), t.size.raw())),
                Err(InputError { at, reason, detail, .. }) => Err((at, reason, detail)),
            });
        }
        out
    }

    /// The same file line by line with one parser: the oracle for blocks and threads.
    fn oracle(path: &Path, text: &[u8]) -> Vec<Item> {
        let mut lines = text.split(|&c| c == b'\n').collect::<Vec<_>>();
        if lines.last() == Some(&&b""[..]) {
            lines.pop();
        }
        let header = header::names(lines[0]).expect("header");
        let cols = columns(&header, |_| unreachable!()).expect("columns");
        let mut p = LineParser::new(cols, header.len(), false, ReadOptions::new(Format::Csv).ts_range);
        let mut out = Vec::new();
        for (n, line) in lines.iter().enumerate().skip(1) {
            let at = format!("{}:{}", path.display(), n + 1);
            if line.len() >= MAX_LINE {
                let detail = format!("a line longer than {MAX_LINE} bytes (a binary file?): {}", excerpt(line));
                out.push(Err((at, "line_too_long", detail)));
            } else if !line.iter().all(u8::is_ascii_whitespace) {
                let quoted = line.contains(&b'"');
                out.push(match p.parse(header::trim_line_break(line), quoted) {
                    Ok(t) => Ok((
                        p.symbols.names[t.instrument.0 as usize].to_string(),
                        t.ts_event,
                        t.price.raw(),
                        t.size.raw(),
                    )),
                    Err(b) => Err((at, b.reason, b.detail)),
                });
            }
        }
        out
    }

    #[test]
    fn blocks_on_any_number_of_threads_read_as_line_by_line() {
        let mut text = b"ts_event,instrument,price,size,side,trade_id\n".to_vec();
        for i in 0..400u32 {
            let line = match i % 13 {
                0 => format!("{i},\"X:{},Y\",1.5,2,buy,{i}\r\n", i % 7),
                1 => "\n".into(),
                2 => format!("{i},S{},abc,1,,\n", i % 5),
                3 => format!("{i},S{},1,0,,\n", i % 5),
                4 if i % 100 == 4 => format!("{i},S1,{},1,,\n", "9".repeat(MAX_LINE + 7)),
                5 => "   \t\n".into(),
                _ => format!("{i},SYM{:03},{}.{},0.{},sell,{i}\n", i % 17, 1000 + i, i % 100, i % 9 + 1),
            };
            text.extend_from_slice(line.as_bytes());
        }
        text.extend_from_slice(b"401,LAST,1,1,,"); // no final line break
        let path = std::env::temp_dir().join(format!("ticklane-blocks-{}.csv", std::process::id()));
        std::fs::write(&path, &text).expect("write");
        let want = oracle(&path, &text);
        assert!(want.iter().filter(|r| r.is_err()).count() > 50 && want.len() > 300, "the file has both");
        for threads in [0, 1, 3] {
            assert!(items(&path, threads) == want, "{threads} parse threads");
            let opt = ReadOptions { threads, ..ReadOptions::new(Format::Csv) };
            assert_eq!(open(&path, &opt).expect("open").parse_threads(), threads, "what the run's placement sees");
        }
        std::fs::remove_file(&path).expect("remove");
    }
}
