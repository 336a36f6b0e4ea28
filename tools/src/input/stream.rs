//! Where an input's bytes come from: a file or standard input (`-`), seen through its first
//! bytes (gzip and zstd are decompressed transparently; DBN is recognised by its magic), with
//! a counted position for progress.
//!
//! Regular files never block for long, so they are read directly. Standard input, FIFOs and
//! other non-regular files may block indefinitely, so a pump thread reads them in chunks and
//! the reader waits on it in steps of [`POLL`], giving up when the stop flag is raised: a
//! signal interrupts a read that is waiting for a writer that never comes.

use super::InputError;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Raised (by a signal handler) to make blocked reads give up.
pub type StopFlag = Arc<AtomicBool>;

/// An input's bytes, decompressed; reads come in blocks, so a `dyn` call per block is all.
pub(super) type Bytes = Box<dyn Read + Send>;

/// How long a read of a pipe waits before looking at the stop flag again.
const POLL: Duration = Duration::from_millis(50);
/// The pump's chunk size.
const CHUNK: usize = 1 << 16;
const GZIP: [u8; 2] = [0x1f, 0x8b];
const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// What an input's first bytes say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// An opened input: its decompressed bytes (the first ones still to be read), what it was
/// compressed with, and how far into the raw input reading has got.
pub(super) struct Stream {
    pub(super) bytes: Bytes,
    pub(super) compression: Compression,
    /// Up to 64 decompressed bytes from the start, for format detection.
    pub(super) head: Vec<u8>,
    /// Raw (compressed) bytes read so far.
    pub(super) position: Arc<AtomicU64>,
    /// Whether the input is a regular file (it can be read again, e.g. to check zstd frames).
    pub(super) regular: bool,
}

impl Stream {
    /// Opens `path` (`-`: standard input).
    pub(super) fn open(path: &Path, stop: Option<&StopFlag>) -> Result<Stream, InputError> {
        let unreadable = |e: io::Error| InputError::unreadable(path, e);
        let position = Arc::new(AtomicU64::new(0));
        let (raw, regular): (Bytes, bool) = if path.as_os_str() == "-" {
            (Box::new(Pump::start(io::stdin(), stop.cloned())), false)
        } else {
            let file = File::open(path).map_err(unreadable)?;
            let regular = file.metadata().map_err(unreadable)?.is_file();
            if regular {
                (Box::new(file), true)
            } else {
                (Box::new(Pump::start(file, stop.cloned())), false)
            }
        };
        let counted = Counting { inner: raw, read: position.clone() };
        // A read or decompression error here is located at the raw bytes read so far.
        let at = |e: io::Error| InputError {
            at: format!("{}: byte {}", path.display(), position.load(Relaxed)),
            reason: "unreadable",
            detail: e.to_string(),
            recoverable: false,
        };
        let (magic, raw) = peek(Box::new(counted), 4).map_err(at)?;
        let (compression, bytes): (Compression, Bytes) = if magic.starts_with(&GZIP) {
            (Compression::Gzip, Box::new(flate2::read::MultiGzDecoder::new(raw)))
        } else if magic == ZSTD {
            (Compression::Zstd, Box::new(zstd::Decoder::new(raw).map_err(at)?))
        } else {
            (Compression::None, raw)
        };
        let (head, bytes) = peek(bytes, 64).map_err(at)?;
        Ok(Stream { bytes, compression, head, position, regular })
    }
}

/// Reads up to `n` bytes from the start of `r` (fewer at its end) and gives them back in
/// front of the rest.
fn peek(mut r: Bytes, n: usize) -> io::Result<(Vec<u8>, Bytes)> {
    let mut head = Vec::with_capacity(n);
    (&mut r).take(n as u64).read_to_end(&mut head)?;
    Ok((head.clone(), Box::new(Cursor::new(head).chain(r))))
}

/// Counts the bytes a reader hands out (into a counter others read).
pub(super) struct Counting {
    pub(super) inner: Bytes,
    pub(super) read: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

/// A non-regular input read by a thread of its own, so that waiting for it can be given up.
struct Pump {
    chunks: Receiver<io::Result<Vec<u8>>>,
    current: Cursor<Vec<u8>>,
    stop: Option<StopFlag>,
    ended: bool,
}

impl Pump {
    fn start<R: Read + Send + 'static>(mut source: R, stop: Option<StopFlag>) -> Pump {
        let (tx, rx) = bounded(4);
        let spawned = std::thread::Builder::new().name("ticklane-input".into()).spawn(move || loop {
            let mut chunk = vec![0u8; CHUNK];
            match source.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        });
        // Without a thread there is nothing to read: the first read reports why.
        let ended = spawned.is_err();
        Pump { chunks: rx, current: Cursor::new(Vec::new()), stop, ended }
    }
}

impl Read for Pump {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || self.ended || buf.is_empty() {
                return Ok(n);
            }
            if self.stop.as_ref().is_some_and(|s| s.load(Relaxed)) {
                return Err(io::Error::other("reading stopped by a signal"));
            }
            match self.chunks.recv_timeout(POLL) {
                Ok(chunk) => self.current = Cursor::new(chunk?),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.ended = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("ticklane-stream-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).expect("write");
        p
    }

    fn read_all(s: Stream) -> Vec<u8> {
        let mut v = Vec::new();
        let mut b = s.bytes;
        b.read_to_end(&mut v).expect("read");
        v
    }

    #[test]
    fn plain_gzip_and_zstd_read_the_same_bytes() {
        let text = b"ts_event,instrument,price,size\n1,X,1,1\n".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zst = zstd::encode_all(&text[..], 3).expect("zstd");
        for (name, bytes, want) in [
            ("p.csv", &text, Compression::None),
            ("g.csv.gz", &gz, Compression::Gzip),
            ("z.csv.zst", &zst, Compression::Zstd),
        ] {
            let s = Stream::open(&tmp(name, bytes), None).expect("open");
            assert_eq!((s.compression, &s.head[..]), (want, &text[..64]), "{name}");
            assert_eq!(read_all(s), text, "{name}");
        }
    }

    #[test]
    fn a_short_file_has_a_short_head() {
        let s = Stream::open(&tmp("short", b"ab"), None).expect("open");
        assert_eq!(s.head, b"ab");
        assert_eq!(read_all(s), b"ab");
    }

    #[test]
    fn a_blocked_pipe_read_gives_up_when_stopped() {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let stop: StopFlag = Arc::new(AtomicBool::new(false));
        let mut p = Pump::start(reader, Some(stop.clone()));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            s2.store(true, Relaxed);
        });
        let mut buf = [0u8; 8];
        let e = p.read(&mut buf).expect_err("stopped");
        assert!(e.to_string().contains("stopped by a signal"), "{e}");
        t.join().expect("stopper");
        drop(writer);
    }
}
