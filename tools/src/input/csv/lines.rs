//! Lines of a CSV input in bounded memory: a line longer than [`MAX_LINE`] is cut there and
//! reported, and the rest of it is skipped (without keeping it) only if reading goes on.

use std::io::{self, BufRead};

/// The longest line kept (a trade line is about 100 bytes).
pub const MAX_LINE: usize = 1 << 20;

/// What one read gave.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::input) enum Line {
    /// The input ended.
    End,
    /// A whole line (with its `\n`, if any) is in the buffer.
    Whole,
    /// The line is longer than [`MAX_LINE`]; its first `MAX_LINE` bytes are in the buffer.
    TooLong,
}

/// Reads lines into a reused buffer.
pub(in crate::input) struct Lines<R> {
    reader: R,
    /// The previous line was cut: skip to its end first.
    skipping: bool,
    /// Whether the last line read holds a `"` (found in the same scan as its end).
    pub(super) quoted: bool,
    /// Bytes consumed, for error offsets.
    pub(in crate::input) consumed: u64,
    /// A read error met after some lines of a block, returned by the next call.
    pending: Option<io::Error>,
}

impl<R: BufRead> Lines<R> {
    pub(in crate::input) fn new(reader: R) -> Lines<R> {
        Lines { reader, skipping: false, quoted: false, consumed: 0, pending: None }
    }

    /// The next line into `line` (cleared first).
    pub(in crate::input) fn next(&mut self, line: &mut Vec<u8>) -> io::Result<Line> {
        line.clear();
        self.quoted = false;
        if self.skipping {
            self.skip_rest()?;
        }
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(if line.is_empty() { Line::End } else { Line::Whole });
            }
            // Line ends and quotes in one scan (a quote is rare: noted, then on to the end).
            let (take, whole) = match memchr::memchr2(b'\n', b'"', buf) {
                Some(i) if buf[i] == b'\n' => (i + 1, true),
                Some(i) => {
                    self.quoted = true;
                    match memchr::memchr(b'\n', &buf[i..]) {
                        Some(j) => (i + j + 1, true),
                        None => (buf.len(), false),
                    }
                }
                None => (buf.len(), false),
            };
            let room = MAX_LINE - line.len();
            if take > room {
                line.extend_from_slice(&buf[..room]);
                self.consume(room);
                self.skipping = true;
                return Ok(Line::TooLong);
            }
            line.extend_from_slice(&buf[..take]);
            self.consume(take);
            if whole {
                return Ok(Line::Whole);
            }
        }
    }

    /// Whole lines into `block` (cleared first) until it holds at least `target` bytes or the
    /// input ends: `Ok(None)` at the end, else whether the block's last line was cut (it is
    /// longer than [`MAX_LINE`]: the block ends with more than `MAX_LINE` bytes of it, and the
    /// rest is skipped before the next block). An error after some lines were read is
    /// returned by the next call; the block then holds those lines.
    pub(super) fn next_block(&mut self, block: &mut Vec<u8>, target: usize) -> io::Result<Option<bool>> {
        block.clear();
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        if self.skipping {
            self.skip_rest()?;
        }
        let mut line_start = 0; // where the block's last (maybe partial) line starts
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if block.is_empty() => return Err(e),
                Err(e) => {
                    self.pending = Some(e);
                    block.truncate(line_start);
                    return Ok(Some(false));
                }
            };
            if buf.is_empty() {
                return Ok((!block.is_empty()).then_some(false));
            }
            let (take, done) = block_cut(buf, target.saturating_sub(block.len()));
            let at = block.len();
            block.extend_from_slice(&buf[..take]);
            self.consume(take);
            if let Some(j) = memchr::memrchr(b'\n', &block[at..]) {
                line_start = at + j + 1;
            }
            if block.len() - line_start > MAX_LINE {
                block.truncate(line_start + MAX_LINE + 1);
                self.skipping = true;
                return Ok(Some(true));
            }
            if done {
                return Ok(Some(false));
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.consumed += n as u64;
    }

    /// Discards up to and including the next `\n`.
    fn skip_rest(&mut self) -> io::Result<()> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    self.consume(i + 1);
                    break;
                }
                None => {
                    let n = buf.len();
                    self.consume(n);
                }
            }
        }
        self.skipping = false;
        Ok(())
    }
}

/// How much of `buf` a block with `room` bytes left takes, and whether the block is then
/// done: up to the last line break within `room`; past `room` only to finish a line.
fn block_cut(buf: &[u8], room: usize) -> (usize, bool) {
    if buf.len() < room {
        return (buf.len(), false);
    }
    let window = &buf[..room];
    if let Some(j) = memchr::memrchr(b'\n', window) {
        return (j + 1, true);
    }
    match memchr::memchr(b'\n', &buf[room..]) {
        Some(j) => (room + j + 1, true),
        None => (buf.len(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    #[test]
    fn lines_end_and_an_overlong_line_is_cut_then_skipped() {
        let mut input = b"a,b\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\nlast");
        let mut lines = Lines::new(std::io::BufReader::with_capacity(4096, &input[..]));
        let mut buf = Vec::new();
        assert_eq!(lines.next(&mut buf).expect("read"), Line::Whole);
        assert_eq!(buf, b"a,b\n");
        assert_eq!(lines.next(&mut buf).expect("read"), Line::TooLong);
        assert_eq!(buf.len(), MAX_LINE);
        assert_eq!(lines.next(&mut buf).expect("read"), Line::Whole);
        assert_eq!(buf, b"last");
        assert_eq!(lines.next(&mut buf).expect("read"), Line::End);
        assert_eq!(lines.consumed, input.len() as u64);
    }

    /// Gives `data` `piece` bytes per read, then fails once, then ends.
    struct Trickle {
        data: &'static [u8],
        piece: usize,
        failed: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() && !self.failed {
                self.failed = true;
                return Err(io::Error::other("boom"));
            }
            let n = self.piece.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// A read failing mid-block: the whole lines read before it come as a block, the error
    /// at the next call (once: the reader then ends); the partial line before it is dropped.
    #[test]
    fn a_read_error_keeps_the_whole_lines_before_it() {
        for piece in [1, 3, 4096] {
            let mut lines =
                Lines::new(BufReader::with_capacity(8, Trickle { data: b"a\nbb\nccc\ndd", piece, failed: false }));
            let mut block = Vec::new();
            assert_eq!(lines.next_block(&mut block, 1 << 10).expect("the lines"), Some(false), "piece {piece}");
            assert_eq!(block, b"a\nbb\nccc\n", "piece {piece}");
            assert!(lines.next_block(&mut block, 1 << 10).is_err(), "piece {piece}: the error next");
            assert_eq!(lines.next_block(&mut block, 1 << 10).expect("the end"), None, "piece {piece}");
            let mut lines = Lines::new(BufReader::with_capacity(8, Trickle { data: b"abc", piece, failed: false }));
            // No partial line is delivered; the error comes (after an empty block, at most).
            let failed = match lines.next_block(&mut block, 1 << 10) {
                Err(_) => true,
                Ok(_) => block.is_empty() && lines.next_block(&mut block, 1 << 10).is_err(),
            };
            assert!(failed, "piece {piece}: no whole line, then the error");
        }
    }

    #[test]
    fn blocks_hold_whole_lines_and_cut_an_overlong_one() {
        let mut input = b"a,b\nccc\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\nd\nlast");
        for cap in [3, 4096, 1 << 21] {
            let mut lines = Lines::new(std::io::BufReader::with_capacity(cap, &input[..]));
            let mut block = Vec::new();
            let mut next = |target| lines.next_block(&mut block, target).expect("read").map(|cut| (block.clone(), cut));
            assert_eq!(next(5), Some((b"a,b\n".to_vec(), false)), "capacity {cap}: up to a line break in reach");
            assert_eq!(next(1), Some((b"ccc\n".to_vec(), false)), "capacity {cap}: one line past the target");
            let (long, cut) = next(5).expect("the long line");
            assert!(long.len() > MAX_LINE && long.len() <= MAX_LINE + 11, "capacity {cap}: memory bounded");
            assert!(long[..MAX_LINE].iter().all(|&c| c == b'x'));
            assert_eq!(cut, long.last() != Some(&b'\n'), "capacity {cap}: cut unless whole");
            assert_eq!(next(1 << 20), Some((b"d\nlast".to_vec(), false)), "capacity {cap}: the rest skipped");
            assert_eq!(next(5), None);
            assert_eq!(lines.consumed, input.len() as u64);
        }
    }
}
