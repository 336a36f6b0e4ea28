//! Lines of a CSV input in bounded memory: a line longer than [`MAX_LINE`] is cut there and
//! reported, and the rest of it is skipped (without keeping it) only if reading goes on.

use std::io::{self, BufRead};

/// The longest line kept (a trade line is about 100 bytes).
pub const MAX_LINE: usize = 1 << 20;

/// What one read gave.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// The input ended.
    End,
    /// A whole line (with its `\n`, if any) is in the buffer.
    Whole,
    /// The line is longer than [`MAX_LINE`]; its first `MAX_LINE` bytes are in the buffer.
    TooLong,
}

/// Reads lines into a reused buffer.
pub(super) struct Lines<R> {
    reader: R,
    /// The previous line was cut: skip to its end first.
    skipping: bool,
    /// Whether the last line read holds a `"` (found in the same scan as its end).
    pub(super) quoted: bool,
    /// Bytes consumed, for error offsets.
    pub(super) consumed: u64,
}

impl<R: BufRead> Lines<R> {
    pub(super) fn new(reader: R) -> Lines<R> {
        Lines { reader, skipping: false, quoted: false, consumed: 0 }
    }

    /// The next line into `line` (cleared first).
    pub(super) fn next(&mut self, line: &mut Vec<u8>) -> io::Result<Line> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
