//! A block of whole lines parsed in one go (on a parse thread or the reader's own): trades,
//! the malformed lines between them, and the instrument names first seen.

use super::super::excerpt::excerpt;
use super::header::trim_line_break;
use super::parser::{Bad, LineParser};
use super::MAX_LINE;
use std::sync::Arc;
use ticklane::Trade;

/// A malformed line of a block.
#[derive(Debug)]
pub(super) struct LineError {
    /// Index of the trade it came before.
    pub(super) before: usize,
    /// Its line number within the block, from 1.
    pub(super) line: u64,
    pub(super) bad: Bad,
}

/// What parsing a block gave.
#[derive(Default)]
pub(super) struct ParsedBlock {
    /// Trades; `instrument` is the parser's symbol index.
    pub(super) trades: Vec<Trade>,
    pub(super) errors: Vec<LineError>,
    /// Lines in the block (blank ones included).
    pub(super) lines: u64,
    /// Names the parser first saw in this block, in order: they hold the parser's indexes
    /// from `names_from` on.
    pub(super) names: Vec<Arc<str>>,
    pub(super) names_from: u32,
}

/// Parses `block` (whole lines; the last may lack its `\n`, and when `cut`, it is the start
/// of a line longer than [`MAX_LINE`]) into `out` (cleared first).
pub(super) fn parse_block(parser: &mut LineParser, block: &[u8], cut: bool, out: &mut ParsedBlock) {
    out.trades.clear();
    out.errors.clear();
    out.names.clear();
    out.names_from = parser.symbols.names.len() as u32;
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
            out.errors.push(LineError { before: out.trades.len(), line: n, bad });
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue; // blank lines carry nothing
        }
        let quoted = quotes && memchr::memchr(b'"', line).is_some();
        match parser.parse(trim_line_break(line), quoted) {
            Ok(t) => out.trades.push(t),
            Err(bad) => out.errors.push(LineError { before: out.trades.len(), line: n, bad }),
        }
    }
    out.lines = n;
    out.names.extend_from_slice(&parser.symbols.names[out.names_from as usize..]);
}
