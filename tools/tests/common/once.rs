//! What the effectively-once tests share (tools/tests/durable_acks.rs, cluster.rs): a capture
//! with repeats and disorder, `ticklane run` into PostgreSQL from a JetStream stream, the
//! consumer's positions, and the replay the table must equal.

use super::nats::NatsServer;
use super::{free_port, http_get, replay, run, s, sample, tmp, Running, BIN};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Trades in the capture (1% repeated ids, up to 300 ms of disorder, 1 ms apart: 200 s).
pub const TICKS: u64 = 200_000;
/// The run's and the replay's flags.
pub const FLAGS: [&str; 5] = ["--dedupe", "--max-delay", "500ms", "--bars", "1s"];

/// The generated capture.
pub fn capture() -> PathBuf {
    capture_as("ticks.csv")
}

/// The generated capture, written as `name` (tests running at once each write their own).
pub fn capture_as(name: &str) -> PathBuf {
    let f = tmp(name);
    let rows = TICKS.to_string();
    let o = run(&[
        "gen",
        "--rows",
        &rows,
        "--instruments",
        "100",
        "--dup-fraction",
        "0.01",
        "--disorder",
        "300ms",
        "--spacing",
        "1ms",
        "--out",
        s(&f),
    ]);
    assert!(o.status.success(), "gen: {}", String::from_utf8_lossy(&o.stderr));
    f
}

/// `ticklane run` of `url` into the table `bars` of the database at `db_url`; its metrics address.
pub fn start(url: &str, db_url: &str) -> (Running, SocketAddr) {
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let child = Command::new(BIN)
        .arg("run")
        .args(FLAGS)
        .args(["--metrics-addr", &metrics.to_string(), "--sink-postgres", db_url, "--pg-table", "bars"])
        .args(["--out", "/dev/null", url])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane run");
    (Running(Some(child)), metrics)
}

/// Ticks the run has read so far.
pub fn read(m: SocketAddr) -> f64 {
    sample(&http_get(m, "/metrics"), "ticklane_link_messages_total")
}

/// The consumer's (delivered, acknowledged) stream positions as `server` sees them.
pub fn positions(server: &NatsServer, stream: &str) -> (u64, u64) {
    let c = server.consumer(stream, "ticklane");
    (c["delivered"]["stream_seq"].as_u64().unwrap_or(0), c["ack_floor"]["stream_seq"].as_u64().unwrap_or(0))
}

/// SIGKILL, no goodbye; what the run had logged goes to the test's output.
pub fn kill_9(mut r: Running) {
    let mut p = r.0.take().expect("running");
    p.kill().expect("kill -9");
    let out = p.wait_with_output().expect("wait");
    eprintln!("the killed run had said:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The replay's bars of `ticks` (without the header): what the table must hold.
pub fn replay_rows(ticks: &std::path::Path) -> String {
    let o = replay(&[&FLAGS[..], &[s(ticks)]].concat());
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let rows = text.split_once('\n').expect("header").1.to_string();
    assert!(rows.lines().count() > 10_000);
    rows
}

/// SplitMix64: reproducible fault schedules.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The schedule's seed: `TICKLANE_FAULT_SEED`, else 0.
pub fn seed() -> u64 {
    std::env::var("TICKLANE_FAULT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// [`super::wait_until`] for a condition on a running `ticklane run`: on the hang guard's
/// timeout the run is stopped and its log goes into the failure message.
pub fn wait_for_run(what: &str, run: &mut Running, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        if t0.elapsed() > std::time::Duration::from_secs(120) {
            let mut child = run.0.take().expect("running");
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            std::thread::sleep(std::time::Duration::from_secs(2));
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!("timed out waiting for {what}; the run said:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
