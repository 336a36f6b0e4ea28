//! A block of whole lines parsed in one go (on a parse thread or the reader's own): records,
//! the malformed lines between them, and the instrument names first seen.

use super::super::excerpt::excerpt;
use super::header::trim_line_break;
use super::parser::Bad;
use super::MAX_LINE;
use crate::input::Event;
use std::sync::Arc;

/// One CSV dialect's line parser (trades: `LineParser`; quotes: `QuoteParser`): a parse
/// thread owns a clone.
pub(in crate::input) trait RecordParser: Clone + Send + 'static {
    /// What a line becomes.
    type Rec: Event;
    /// `line` (without its line break) as a record whose instrument is this parser's symbol
    /// index; `quoted` if it holds a `"`.
    fn parse(&mut self, line: &[u8], quoted: bool) -> Result<Self::Rec, Bad>;
    /// The names this parser interned, by index.
    fn names(&self) -> &[Arc<str>];
}

/// A malformed line of a block.
#[derive(Debug)]
pub(super) struct LineError {
    /// Index of the record it came before.
    pub(super) before: usize,
    /// Its line number within the block, from 1.
    pub(super) line: u64,
    pub(super) bad: Bad,
}

/// What parsing a block gave.
pub(super) struct ParsedBlock<R> {
    /// Records; `instrument` is the parser's symbol index.
    pub(super) records: Vec<R>,
    pub(super) errors: Vec<LineError>,
    /// Lines in the block (blank ones included).
    pub(super) lines: u64,
    /// Names the parser first saw in this block, in order: they hold the parser's indexes
    /// from `names_from` on.
    pub(super) names: Vec<Arc<str>>,
    pub(super) names_from: u32,
}

impl<R> Default for ParsedBlock<R> {
    fn default() -> Self {
        ParsedBlock { records: Vec::new(), errors: Vec::new(), lines: 0, names: Vec::new(), names_from: 0 }
    }
}

/// Parses `block` (whole lines; the last may lack its `\n`, and when `cut`, it is the start
/// of a line longer than [`MAX_LINE`]) into `out` (cleared first).
pub(super) fn parse_block<P: RecordParser>(parser: &mut P, block: &[u8], cut: bool, out: &mut ParsedBlock<P::Rec>) {
    out.records.clear();
    out.errors.clear();
    out.names.clear();
    out.names_from = parser.names().len() as u32;
    // A quote is rare: if the block has none, no line needs looking at for one.
    let quotes = memchr::memchr(b'"', block).is_some();
    let (mut rest, mut n) = (block, 0u64);
    while !rest.is_empty() {
        let (line, next, whole) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..], true),
            None => (rest, &[][..], false),
        };
        rest = next;
        n += 1;
        if line.len() >= MAX_LINE || (cut && !whole) {
            let detail = format!("a line longer than {MAX_LINE} bytes (a binary file?): {}", excerpt(line));
            let bad = Bad { reason: "line_too_long", detail };
            out.errors.push(LineError { before: out.records.len(), line: n, bad });
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue; // blank lines carry nothing
        }
        let quoted = quotes && memchr::memchr(b'"', line).is_some();
        match parser.parse(trim_line_break(line), quoted) {
            Ok(t) => out.records.push(t),
            Err(bad) => out.errors.push(LineError { before: out.records.len(), line: n, bad }),
        }
    }
    out.lines = n;
    out.names.extend_from_slice(&parser.names()[out.names_from as usize..]);
}
