//! Whole lines into a file or stdout. Lines are gathered and written in blocks; a block that
//! fails to write is cut back out of the file (to the end of the last whole line written), so
//! a full disk leaves no half line, and the sink counts exactly how many lines are in the
//! output. After an error it keeps counting what it could not write, so the pipeline can
//! drain and report.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Lines gathered before a write (unless committed earlier).
const BLOCK: usize = 1 << 16;

/// A write that failed, and how far the output got.
#[derive(Debug)]
struct OutputError {
    /// What was being written (`--out bars.csv`, `stdout`).
    pub(crate) target: String,
    pub(crate) error: io::Error,
    /// Lines in the output (whole lines; the file was cut back to them).
    pub(crate) written: u64,
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} after {} complete lines", self.target, self.error, self.written)
    }
}

/// What a sink put out.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// Lines in the output (header excluded).
    pub(crate) lines: u64,
    /// Lines that could not be written after an error.
    pub(crate) lost: u64,
    pub(crate) error: Option<String>,
}

impl Written {
    /// One width's bars written to several outputs (a fan-out) as one account: what every
    /// output holds (the fewest lines), the lines the outputs could not write (all of them),
    /// and each error. `None` without outputs.
    pub(crate) fn merged(all: &[&Written]) -> Option<Written> {
        let lines = all.iter().map(|w| w.lines).min()?;
        let lost = all.iter().map(|w| w.lost).sum();
        let errors: Vec<&str> = all.iter().filter_map(|w| w.error.as_deref()).collect();
        Some(Written { lines, lost, error: (!errors.is_empty()).then(|| errors.join("; ")) })
    }
}

/// Where output goes: a file (which can be cut back) or stdout (lines), or a message bus (one
/// message per record: never a [`LineSink`]'s target).
pub(crate) enum Target {
    /// A file; `stale` while it may still hold an earlier run's bytes (opened without
    /// truncating): the thread that writes it cuts them away before its first write (see
    /// `run/writers.rs`, `file`).
    File {
        file: File,
        name: String,
        stale: bool,
    },
    Stdout,
    Bus(Box<super::BusSink>),
}

/// Writes whole lines in blocks.
pub(crate) struct LineSink {
    target: Target,
    block: Vec<u8>,
    /// Lines in `block`.
    pending: u64,
    /// Bytes of whole lines in the output.
    durable: u64,
    /// Lines in the output, shared with whoever reports progress (the signal handler).
    lines: Arc<AtomicU64>,
    /// Lines counted after an error, instead of written.
    lost: u64,
    error: Option<OutputError>,
    /// The header line is in `block` (it is not counted as a line).
    header_pending: bool,
    /// The largest single write: `PIPE_BUF` into a pipe, FIFO or terminal (a write that small
    /// goes in whole or not at all, so the line count stays exact while the reader lags).
    piece: usize,
}

/// Writes up to this size into a pipe are atomic (POSIX guarantees at least 512; Linux 4096).
const PIPE_BUF: usize = 4096;

impl LineSink {
    /// A sink into `target`, its line count shared through `lines`; `header` is written first
    /// (not counted).
    pub(crate) fn new(target: Target, header: Option<&str>, lines: Arc<AtomicU64>) -> LineSink {
        let mut block = Vec::with_capacity(BLOCK);
        if let Some(h) = header {
            block.extend_from_slice(h.as_bytes());
            block.push(b'\n');
        }
        let header_pending = header.is_some();
        let regular = match &target {
            Target::File { file, .. } => file.metadata().is_ok_and(|m| m.is_file()),
            Target::Stdout | Target::Bus(_) => false,
        };
        let piece = if regular { usize::MAX } else { PIPE_BUF };
        LineSink { target, block, pending: 0, durable: 0, lines, lost: 0, error: None, header_pending, piece }
    }

    /// Adds the one line `write` appends to the block (ending in `\n`; formatted in place,
    /// not copied); writes a block when one is full.
    #[inline]
    pub(crate) fn line_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if self.error.is_some() {
            self.lost += 1;
            return;
        }
        write(&mut self.block);
        self.pending += 1;
        if self.block.len() >= BLOCK {
            self.commit();
        }
    }

    /// Writes what is gathered (and flushes stdout), so a reader sees every line so far. The
    /// shared line count grows as each write call hands lines to the operating system, so it
    /// is exact even while a write is blocked.
    pub(crate) fn commit(&mut self) {
        if self.block.is_empty() || self.error.is_some() {
            return;
        }
        if let Err(error) = self.cut_stale() {
            self.lost += self.pending;
            return self.fail(error);
        }
        let block = std::mem::take(&mut self.block);
        let (lines, mut header) = (self.lines.clone(), self.header_pending);
        let mut counted = 0u64;
        let mut count = |chunk: &[u8]| {
            let mut n = memchr::memchr_iter(b'\n', chunk).count() as u64;
            if header && n > 0 {
                (header, n) = (false, n - 1);
            }
            counted += n;
            lines.store(lines.load(Relaxed) + n, Relaxed);
        };
        let (done, result) = match &mut self.target {
            Target::File { file, .. } => write_some(file, &block, self.piece, &mut count),
            Target::Stdout => {
                let mut out = io::stdout().lock();
                let (n, r) = write_some(&mut out, &block, self.piece, &mut count);
                (n, r.and_then(|()| out.flush()))
            }
            Target::Bus(_) => (0, Err(io::Error::other("a bus takes messages, not lines"))),
        };
        // Only whole lines stay: a partly written one is cut back out of a file.
        self.durable += block[..done].iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1) as u64;
        if let Err(error) = result {
            self.lost += self.pending - counted;
            self.fail(error);
        }
        self.header_pending = false;
        self.block = block;
        self.block.clear();
        self.pending = 0;
    }

    /// Cuts away what a file held before this run, once.
    fn cut_stale(&mut self) -> io::Result<()> {
        if let Target::File { file, stale: stale @ true, .. } = &mut self.target {
            file.set_len(0)?;
            *stale = false;
        }
        Ok(())
    }

    /// Cuts a file back to its last whole line and records the error.
    fn fail(&mut self, error: io::Error) {
        let name = match &self.target {
            Target::File { file, name, .. } => {
                if let Err(e) = file.set_len(self.durable) {
                    log::warn!("{name}: could not cut a partly written line back out: {e}");
                }
                name.clone()
            }
            Target::Stdout => "stdout".to_string(),
            Target::Bus(_) => "the bus".to_string(),
        };
        self.error = Some(OutputError { target: name, error, written: self.lines.load(Relaxed) });
    }

    /// Writes the rest; reports what the output holds.
    pub(crate) fn finish(mut self) -> Written {
        self.commit();
        if self.error.is_none() {
            // Nothing was written: the file still holds an earlier run's bytes.
            if let Err(error) = self.cut_stale() {
                self.fail(error);
            }
        }
        Written { lines: self.lines.load(Relaxed), lost: self.lost, error: self.error.map(|e| e.to_string()) }
    }
}

impl super::Segment for LineSink {
    fn finish(self) -> Written {
        LineSink::finish(self)
    }
}

/// Writes as much of `block` as the target takes, at most `piece` bytes a call, calling
/// `written` with each chunk that went out: how many bytes did, and the error that stopped it.
fn write_some(
    out: &mut impl Write,
    block: &[u8],
    piece: usize,
    written: &mut impl FnMut(&[u8]),
) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < block.len() {
        let mut end = block.len().min(done.saturating_add(piece));
        if end < block.len() {
            // End the piece at a line break, so a reader never gets half a line.
            end = memchr::memrchr(b'\n', &block[done..end]).map_or(end, |p| done + p + 1);
        }
        match out.write(&block[done..end]) {
            Ok(0) => return (done, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                written(&block[done..done + n]);
                done += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Err(e)),
        }
    }
    (done, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of one width as one account: the fewest lines, every loss, each error.
    #[test]
    fn a_fan_out_reports_what_every_output_holds() {
        let w = |lines, lost, error: Option<&str>| Written { lines, lost, error: error.map(String::from) };
        assert!(Written::merged(&[]).is_none());
        let three = [w(10, 0, None), w(7, 3, Some("b.csv: disk full")), w(9, 1, Some("nats: gone"))];
        let m = Written::merged(&three.iter().collect::<Vec<_>>()).expect("three outputs");
        assert_eq!((m.lines, m.lost), (7, 4));
        assert_eq!(m.error.as_deref(), Some("b.csv: disk full; nats: gone"));
        assert!(Written::merged(&[&w(5, 0, None)]).is_some_and(|m| m.lines == 5 && m.error.is_none()));
    }

    #[test]
    fn lines_are_counted_and_the_header_is_not() {
        let p = std::env::temp_dir().join(format!("ticklane-sink-{}", std::process::id()));
        let file = File::create(&p).expect("create");
        let lines = Arc::new(AtomicU64::new(0));
        let mut s =
            LineSink::new(Target::File { file, name: "--out x".into(), stale: false }, Some("h"), lines.clone());
        for i in 0..10_000 {
            s.line_with(|b| b.extend_from_slice(format!("line {i}\n").as_bytes()));
        }
        let w = s.finish();
        assert_eq!((w.lines, w.lost, w.error), (10_000, 0, None));
        let text = std::fs::read_to_string(&p).expect("read");
        assert_eq!(text.lines().count(), 10_001);
        assert!(text.starts_with("h\nline 0\n") && text.ends_with("line 9999\n"));
    }

    /// An earlier run's longer output is cut away by the writer: before its first write, or
    /// at the end when nothing was written.
    #[test]
    fn a_stale_file_holds_only_this_runs_lines() {
        let p = std::env::temp_dir().join(format!("ticklane-sink-stale-{}", std::process::id()));
        for (lines, want) in [(2, "h\nline 0\nline 1\n"), (0, "h\n")] {
            std::fs::write(&p, "an earlier run's output, longer than this one's\n".repeat(100)).expect("write");
            let file = std::fs::OpenOptions::new().write(true).open(&p).expect("open");
            let target = Target::File { file, name: "--out x".into(), stale: true };
            let mut s = LineSink::new(target, Some("h"), Arc::new(AtomicU64::new(0)));
            for i in 0..lines {
                s.line_with(|b| b.extend_from_slice(format!("line {i}\n").as_bytes()));
            }
            assert_eq!(s.finish().lines, lines);
            assert_eq!(std::fs::read_to_string(&p).expect("read"), want);
            // No header, nothing written: an empty file.
            let file = std::fs::OpenOptions::new().write(true).open(&p).expect("open");
            let target = Target::File { file, name: "--out x".into(), stale: true };
            LineSink::new(target, None, Arc::new(AtomicU64::new(0))).finish();
            assert_eq!(std::fs::read_to_string(&p).expect("read"), "");
        }
        let _ = std::fs::remove_file(&p);
    }

    /// A full device: `/dev/full` refuses every write with ENOSPC.
    #[test]
    fn a_failed_write_is_reported_with_how_far_the_output_got() {
        let Ok(file) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
        let mut s = LineSink::new(
            Target::File { file, name: "--out /dev/full".into(), stale: false },
            None,
            Arc::new(AtomicU64::new(0)),
        );
        for _ in 0..3 {
            s.line_with(|b| b.extend_from_slice(b"a\n"));
        }
        let w = s.finish();
        assert_eq!((w.lines, w.lost), (0, 3));
        let e = w.error.expect("an error");
        assert!(
            e.starts_with("--out /dev/full: No space left on device") && e.ends_with("after 0 complete lines"),
            "{e}"
        );
    }
}
