//! What the benchmarks that drive the real `ticklane` binary share (`nats_throughput`,
//! `worker_throughput`): finding it, running a command that must succeed, medians, a plain
//! HTTP GET for metrics and monitoring pages, and a scratch directory removed afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory `ticklane-{name}-{PID}` in the temporary directory, removed when dropped,
/// also after a panic (a run leaves a million-tick capture and a server's storage otherwise).
/// Declare it before the servers that keep their files in it, so that they stop first.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates `ticklane-{name}-{PID}` (and its parents).
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ticklane-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `target/release/ticklane` beside the running benchmark binary.
pub fn ticklane() -> PathBuf {
    let bin = std::env::current_exe().expect("current exe").with_file_name("ticklane");
    assert!(bin.exists(), "{} missing: cargo build --release -p ticklane-tools", bin.display());
    bin
}

/// Runs `c`, which must succeed (its stderr in the failure).
pub fn ok(c: &mut Command) {
    let o = c.output().expect("run");
    assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// The median (the upper one of an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The whole HTTP/1.0 answer to `GET path` (empty when nothing listens).
pub fn http_get(addr: impl std::net::ToSocketAddrs, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return String::new() };
    let _ = write!(s, "GET {path} HTTP/1.0\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}
