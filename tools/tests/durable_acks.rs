//! Effectively once on one machine (design.md §10): with a PostgreSQL store, `ticklane run`
//! acknowledges a JetStream tick only once every bar it contributes to is durably written, and
//! a run resuming after `kill -9` raises its watermark to the checkpoint saved with the
//! acknowledgement. Whatever the crash points, the table ends equal to the replay's CSV.

mod common;

#[path = "../../tests/common/pg.rs"]
mod pg;

use common::nats::NatsServer;
use common::{free_port, http_get, replay, run, s, sample, tmp, wait_until, Running, BIN};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// Trades in the capture (1% repeated ids, up to 300 ms of disorder, 1 ms apart: 200 s).
const TICKS: u64 = 200_000;
/// The run's and the replay's flags.
const FLAGS: [&str; 5] = ["--dedupe", "--max-delay", "500ms", "--bars", "1s"];

fn capture() -> std::path::PathBuf {
    let f = tmp("ticks.csv");
    let o = run(&["gen", "--rows", &TICKS.to_string(), "--instruments", "100", "--dup-fraction", "0.01"]
        .into_iter()
        .chain(["--disorder", "300ms", "--spacing", "1ms", "--out", s(&f)])
        .collect::<Vec<_>>());
    assert!(o.status.success(), "gen: {}", String::from_utf8_lossy(&o.stderr));
    f
}

fn start(url: &str, db: &pg::PgCluster) -> (Running, SocketAddr) {
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let child = Command::new(BIN)
        .arg("run")
        .args(FLAGS)
        .args(["--metrics-addr", &metrics.to_string(), "--sink-postgres", &db.url(), "--pg-table", "bars"])
        .args(["--out", "/dev/null", url])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane run");
    (Running(Some(child)), metrics)
}

fn metric(m: SocketAddr, name: &str) -> f64 {
    sample(&http_get(m, "/metrics"), name)
}

/// The consumer's (delivered, acknowledged) stream positions.
fn positions(server: &NatsServer) -> (u64, u64) {
    let c = server.consumer("TICKS", "ticklane");
    (c["delivered"]["stream_seq"].as_u64().unwrap_or(0), c["ack_floor"]["stream_seq"].as_u64().unwrap_or(0))
}

/// SplitMix64: reproducible crash points.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn kill_9_at_any_point_and_the_table_still_equals_the_replay() {
    let server = NatsServer::start(tmp("nats"));
    let db = pg::PgCluster::start();
    let ticks = capture();
    let url = format!("jetstream://{}/TICKS", server.addr());
    let o = run(&["publish", "--format", "msgpack", "--to", &url, s(&ticks)]);
    assert!(o.status.success(), "publish: {}", String::from_utf8_lossy(&o.stderr));

    // Three runs killed with SIGKILL after reading a random share of what is left
    // (TICKLANE_FAULT_SEED picks another schedule).
    let seed: u64 = std::env::var("TICKLANE_FAULT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    for round in 0..3u64 {
        let (child, m) = start(&url, &db);
        let (delivered0, _) = positions(&server);
        let want = (TICKS - delivered0) * (20 + mix(seed * 3 + round) % 60) / 100;
        let mut c = child;
        let t0 = std::time::Instant::now();
        while metric(m, "ticklane_link_messages_total") < want as f64 {
            if t0.elapsed() > std::time::Duration::from_secs(30) {
                let page = http_get(m, "/metrics");
                let mut p = c.0.take().expect("running");
                let _ = p.kill();
                let out = p.wait_with_output().expect("wait");
                panic!(
                    "round {round}: {:?}\n{}\n{}",
                    positions(&server),
                    page.lines().filter(|l| l.contains("link") || l.contains("store")).collect::<Vec<_>>().join("\n"),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut process = c.0.take().expect("running");
        process.kill().expect("kill -9");
        let _ = process.wait();
        let (delivered, acked) = positions(&server);
        eprintln!("round {round}: killed after {want} ticks; consumer delivered {delivered}, acknowledged {acked}");
        assert!(acked < delivered, "a tick is acknowledged only once its bars are written: {acked} of {delivered}");
    }
    assert!(positions(&server).1 > 0, "durable bars were acknowledged along the way");

    // The last run reads the rest and drains.
    let (_, acked) = positions(&server);
    let (child, m) = start(&url, &db);
    let rest = (TICKS - acked) as f64;
    wait_until("the rest read", || metric(m, "ticklane_link_messages_total") >= rest);
    let stderr = child.terminate();
    assert_eq!(positions(&server).1, TICKS, "after the drain every tick is acknowledged:\n{stderr}");

    let want = replay(&[&FLAGS[..], &[s(&ticks)]].concat());
    assert!(want.status.success());
    let want = String::from_utf8_lossy(&want.stdout);
    let want = want.split_once('\n').expect("header").1;
    let table = db.bars_csv("bars");
    assert!(want.lines().count() > 10_000);
    let (got_n, want_n) = (table.lines().count(), want.lines().count());
    assert!(table == want, "the table differs from the replay ({got_n} vs {want_n} rows):\n{stderr}");
}
