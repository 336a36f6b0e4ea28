//! What the benchmarks that drive the real `ticklane` binary share (`nats_throughput`,
//! `worker_throughput`): finding it, running a command that must succeed, medians, and a plain
//! HTTP GET for metrics and monitoring pages.

use std::path::PathBuf;
use std::process::Command;

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
