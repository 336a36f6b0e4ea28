//! What the tests of the real `ticklane` binary share: where it is, the bundled captures, a
//! scratch directory per test binary and process, and running it.
#![allow(dead_code)] // each test file uses a part

pub mod nats;
pub mod once;
pub mod quote_oracle;
pub mod workers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ticklane");

/// The bars CSV header (design.md §5).
pub const HEADER: &str = "instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision";

/// A bundled capture in `data/`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("data").join(name)
}

/// `name` in a scratch directory of this test binary and process. The first call also removes
/// the scratch directories that earlier runs of this test binary left (no test harness hook
/// runs at exit, and a run of the whole suite leaves over a gigabyte).
pub fn tmp(name: &str) -> PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(Path::file_stem).and_then(|s| s.to_str()).unwrap_or("test");
    let prefix = format!("ticklane-{stem}-");
    SWEPT.call_once(|| sweep(&prefix));
    let dir = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

/// Removes the directories `{prefix}{PID}` in the temporary directory whose process is gone
/// (no `/proc/PID`; nothing is removed where there is no `/proc`).
fn sweep(prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A path as the `&str` an argument list wants.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `ticklane ARGS`, waited for.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run ticklane")
}

/// `ticklane replay ARGS`, waited for.
pub fn replay(args: &[&str]) -> Output {
    Command::new(BIN).arg("replay").args(args).output().expect("run ticklane")
}

/// Asserts that `ticklane replay ARGS FILE` is refused as bad usage (exit 2), saying `needle`.
pub fn refused(args: &[&str], file: &Path, needle: &str) {
    let o = Command::new(BIN).arg("replay").args(args).arg(file).output().expect("run ticklane");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {needle:?} missing from {err}");
}

/// `GET path` over HTTP/1.0; the whole response (empty if nothing answers).
pub fn http_get(addr: impl std::net::ToSocketAddrs, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return String::new() };
    let _ = write!(s, "GET {path} HTTP/1.0\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// The sum of the samples of `name` on a Prometheus page.
pub fn sample(text: &str, name: &str) -> f64 {
    let lines = text.lines().filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")));
    lines.filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// Polls `f` every 20 ms until it holds (a hang guard of two minutes, not a timing claim).
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(120), "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// A `ticklane` child process, killed if the test fails before stopping it.
pub struct Running(pub Option<std::process::Child>);

impl Running {
    /// SIGTERM, then waits: asserts exit code 0 (a drained live run); returns stderr.
    pub fn terminate(mut self) -> String {
        let child = self.0.take().expect("running");
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "a drained live run exits 0: {stderr}");
        stderr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
