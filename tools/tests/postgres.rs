//! `ticklane replay --sink-postgres` against a real PostgreSQL server started by the test
//! itself (a throwaway cluster on 127.0.0.1; see tests/common/pg.rs): the table equals the CSV
//! output, SIGKILL at random points and a rerun converge to the same table, and a stalled or
//! stopped database turns into pressure and back without losing a bar (or, under `shed`,
//! with every bar accounted for).

mod common;

use common::{data, run, BIN};

#[path = "../../tests/common/pg.rs"]
mod pg;

use pg::PgCluster;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ticklane-pgtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "stderr:\n{}", String::from_utf8_lossy(&o.stderr));
}

fn gen(name: &str, extra: &[&str]) -> PathBuf {
    let path = tmp(name);
    let mut args = vec!["gen", "--out", path.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    ok(&run(&args));
    path
}

/// The newest revision of each `(instrument, window_start)` in a bars CSV, in the table's
/// `(window_end, instrument)` order.
fn newest_per_key(csv: &str) -> String {
    let mut keyed: BTreeMap<(i64, String), (u32, String)> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let key = (f[2].parse::<i64>().expect("window_end"), f[0].to_string());
        let rev: u32 = f[10].parse().expect("revision");
        if keyed.get(&key).is_none_or(|(old, _)| *old <= rev) {
            keyed.insert(key, (rev, line.to_string()));
        }
    }
    keyed.into_values().map(|(_, l)| l + "\n").collect()
}

/// Compares two multi-line texts, reporting line counts and the first difference (not the
/// whole text: tables run to thousands of lines).
#[track_caller]
fn assert_same(got: &str, want: &str, what: &str) {
    if got != want {
        let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
        let at = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(g.len().min(w.len()));
        panic!(
            "{what}: {} lines vs {} expected; first difference at line {}:\n  got:      {:?}\n  expected: {:?}",
            g.len(),
            w.len(),
            at + 1,
            g.get(at),
            w.get(at)
        );
    }
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary")).expect("summary JSON")
}

fn n(v: &serde_json::Value, k: &str) -> u64 {
    v["store"][k].as_u64().unwrap_or_else(|| panic!("store.{k} missing in {v}"))
}

fn scrape(addr: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(text)
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))?.rsplit(' ').next()?.parse().ok()
}

/// Waits for `child`, returning its exit status and everything it wrote to stderr.
fn wait_with_stderr(child: &mut std::process::Child) -> (std::process::ExitStatus, String) {
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (child.wait().expect("wait"), err)
}

fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    format!("127.0.0.1:{port}")
}

#[test]
fn the_table_equals_the_csv_output_of_the_same_replay() {
    let db = PgCluster::start();
    let url = db.url();
    let files = [
        data("GLBX_ESH4_trades_2023-12-25.csv"),
        data("GLBX_ESU4_trades_2024-07-01.dbn.zst"),
        data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv"),
    ];
    for (i, (bars, shards, batch, writers)) in [("1s", "2", "7", "2"), ("60s", "1", "500", "1")].into_iter().enumerate()
    {
        let table = format!("bars_{i}");
        let out = tmp(&format!("equal-{i}.csv"));
        let mut args =
            vec!["replay", "--bars", bars, "--shards", shards, "--pg-writers", writers, "--sink-postgres", &url];
        args.extend(["--pg-table", &table, "--pg-batch-rows", batch, "--out", out.to_str().expect("path")]);
        args.extend(files.iter().map(|f| f.to_str().expect("path")));
        ok(&run(&args));
        let csv = std::fs::read_to_string(&out).expect("csv");
        assert!(csv.lines().count() > 100, "{bars}: too few bars to compare");
        assert_same(&db.bars_csv(&table), csv.split_once('\n').expect("header").1, bars);
    }
    // Without --out the store replaces stdout; a bad table name is bad usage.
    let o = run(&[
        "replay",
        "--sink-postgres",
        &url,
        "--pg-table",
        "bars_0",
        data("GLBX_ESH4_trades_2023-12-25.csv").to_str().expect("p"),
    ]);
    ok(&o);
    assert!(o.stdout.is_empty(), "no CSV on stdout when the store replaces --out");
    let o = run(&[
        "replay",
        "--sink-postgres",
        &url,
        "--pg-table",
        "x; DROP TABLE bars_0",
        data("GLBX_ESH4_trades_2023-12-25.csv").to_str().expect("p"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid table name"));
}

#[test]
fn sigkill_at_random_points_then_rerun_converges_to_the_expected_table() {
    let db = PgCluster::start();
    let url = db.url();
    // Disorder plus `revise` makes revisions, so reruns rewrite keys with several versions.
    let capture = gen("kill.csv", &["--rows", "80000", "--instruments", "100", "--seed", "5", "--disorder", "2s"]);
    let capture = capture.to_str().expect("path");
    let base = ["replay", "--shards", "2", "--late", "revise", "--allowed-lateness", "3s", "--pg-batch-rows", "20"];
    let expected_csv = tmp("kill-expected.csv");
    let started = Instant::now();
    let mut args = base.to_vec();
    args.extend([
        "--sink-postgres",
        &url,
        "--pg-table",
        "kill_ref",
        "--out",
        expected_csv.to_str().expect("p"),
        capture,
    ]);
    ok(&run(&args));
    let full = started.elapsed();
    let csv = std::fs::read_to_string(&expected_csv).expect("csv");
    let expected = newest_per_key(&csv);
    assert!(csv.lines().count() - 1 > expected.lines().count(), "the capture must produce revisions");
    assert_same(&db.bars_csv("kill_ref"), &expected, "an uninterrupted run");

    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut partial = 0;
    for i in 0..20 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let table = format!("kill_{i}");
        let cmd = |t: &str| {
            let mut c = Command::new(BIN);
            c.args(base).args(["--sink-postgres", &url, "--pg-table", t, capture]).stderr(Stdio::null());
            c
        };
        let at = full.mul_f64((rng % 1000) as f64 / 1000.0 * 0.9);
        let mut child = cmd(&table).spawn().expect("spawn");
        std::thread::sleep(at);
        let was_running = child.try_wait().expect("try_wait").is_none();
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        let _ = child.wait();
        let exists = db.psql(&format!("SELECT to_regclass('{table}') IS NOT NULL")).trim() == "t";
        let rows_at_kill: usize =
            if exists { db.psql(&format!("SELECT count(*) FROM {table}")).trim().parse().expect("count") } else { 0 };
        if was_running && rows_at_kill < expected.lines().count() {
            partial += 1;
        }
        let status = cmd(&table).status().expect("rerun");
        assert!(status.success(), "rerun {i}");
        assert_same(&db.bars_csv(&table), &expected, &format!("kill {i} after {at:?} ({rows_at_kill} rows at kill)"));
        let dup = db.psql(&format!("SELECT count(*) - count(DISTINCT (instrument, window_start)) FROM {table}"));
        assert_eq!(dup.trim(), "0", "duplicate keys after kill {i}");
    }
    eprintln!("{partial} of 20 kills hit a running replay with a partial table (full run {full:?})");
    assert!(partial >= 10, "only {partial} of 20 kills hit a running replay with a partial table");
}

/// A paced replay (about 4 s) with a small store queue, so that a stall shows as pressure.
struct Paced {
    capture: PathBuf,
}

impl Paced {
    fn new(name: &str) -> Paced {
        // 200,000 trades 100 µs apart: 20 s of event time, 200 instruments.
        Paced { capture: gen(name, &["--rows", "200000", "--instruments", "200", "--seed", "11"]) }
    }

    fn spawn(
        &self,
        url: &str,
        table: &str,
        pressure: &str,
        metrics: &str,
        summary: &Path,
        out: &Path,
    ) -> std::process::Child {
        Command::new(BIN)
            .args(["replay", "--speed", "5", "--shards", "2", "--sink-postgres", url, "--pg-table", table])
            .args(["--pressure", pressure, "--pg-batch-rows", "10", "--pg-batch-interval", "5ms"])
            .args(["--pg-queue-high", "50", "--pg-queue-low", "10", "--metrics-addr", metrics])
            .arg("--summary")
            .arg(summary)
            .arg("--out")
            .arg(out)
            .arg(&self.capture)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    }
}

/// Scrapes `ticklane_store_pressure` every 20 ms until the child exits; returns the values
/// seen (consecutive repeats folded) and the last page scraped.
fn watch_pressure(child: &mut std::process::Child, addr: &str, during: impl FnOnce()) -> (Vec<u8>, String) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let addr2 = addr.to_string();
    let watcher = std::thread::spawn(move || {
        let (mut seen, mut last) = (Vec::new(), String::new());
        while rx.try_recv().is_err() {
            if let Some(page) = scrape(&addr2) {
                if let Some(v) = metric(&page, "ticklane_store_pressure") {
                    if seen.last() != Some(&(v as u8)) {
                        seen.push(v as u8);
                    }
                    // Keep the last complete page: a scrape racing the process's exit can
                    // come back empty.
                    last = page;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (seen, last)
    });
    during();
    let (status, err) = wait_with_stderr(child);
    let _ = tx.send(());
    let (seen, last) = watcher.join().expect("watcher");
    assert_eq!(status.code(), Some(0), "{err}");
    (seen, last)
}

fn wait_for_rows(db: &PgCluster, table: &str) {
    let t = Instant::now();
    loop {
        let exists = db.psql(&format!("SELECT to_regclass('{table}') IS NOT NULL")).trim() == "t";
        if exists && db.psql(&format!("SELECT count(*) > 0 FROM {table}")).trim() == "t" {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no rows ever reached {table}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_locked_table_flips_pressure_and_back_and_block_loses_nothing() {
    let db = PgCluster::start();
    let paced = Paced::new("stall.csv");
    let (addr, summary_path, out) = (free_addr(), tmp("stall.json"), tmp("stall-bars.csv"));
    let mut child = paced.spawn(&db.url(), "stall", "block", &addr, &summary_path, &out);
    let (seen, page) = watch_pressure(&mut child, &addr, || {
        wait_for_rows(&db, "stall");
        // Hold an exclusive lock for 2 s: every write waits, the queue fills, the shards block.
        db.psql("BEGIN; LOCK TABLE stall IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;");
    });
    let s = summary(&summary_path);
    assert!(seen.windows(3).any(|w| w == [0, 1, 0]), "pressure must go 0 -> 1 -> 0, saw {seen:?}");
    for name in [
        "ticklane_store_queue_depth ",
        "ticklane_store_write_seconds_bucket",
        "ticklane_store_retries_total ",
        "ticklane_store_rows_written_total ",
        "ticklane_store_pressure_transitions_total ",
        "ticklane_saturation ",
    ] {
        assert!(page.contains(name), "{name} missing from the metrics page:\n{page}");
    }
    assert!(n(&s, "pressure_entered") >= 1 && n(&s, "pressure_entered") == n(&s, "pressure_left"), "{s}");
    assert!(n(&s, "max_queue_depth") <= 50, "the queue is bounded by the high watermark: {s}");
    assert!(s["peak_rss_bytes"].as_u64().is_some_and(|b| b < 256 << 20), "{s}");
    assert_eq!((n(&s, "shed"), n(&s, "not_written"), n(&s, "conflated")), (0, 0, 0));
    assert_eq!(n(&s, "bars_in"), n(&s, "rows_written"));
    let csv = std::fs::read_to_string(&out).expect("csv");
    assert_same(&db.bars_csv("stall"), csv.split_once('\n').expect("header").1, "no bar lost under block");
}

#[test]
fn under_shed_a_stall_drops_bars_and_the_counts_add_up() {
    let db = PgCluster::start();
    let paced = Paced::new("shed.csv");
    let (addr, summary_path, out) = (free_addr(), tmp("shed.json"), tmp("shed-bars.csv"));
    let mut child = paced.spawn(&db.url(), "shed", "shed", &addr, &summary_path, &out);
    let (seen, _) = watch_pressure(&mut child, &addr, || {
        wait_for_rows(&db, "shed");
        db.psql("BEGIN; LOCK TABLE shed IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;");
    });
    let s = summary(&summary_path);
    assert!(seen.contains(&1), "pressure never showed: {seen:?}");
    let (bars_in, written, shed) = (n(&s, "bars_in"), n(&s, "rows_written"), n(&s, "shed"));
    assert!(shed > 0, "{s}");
    assert_eq!(bars_in, written + shed, "bars in = written + shed: {s}");
    let rows: u64 = db.psql("SELECT count(*) FROM shed").trim().parse().expect("count");
    assert_eq!(rows, written, "every written row is in the table, once");
    let csv_bars = std::fs::read_to_string(&out).expect("csv").lines().count() as u64 - 1;
    assert_eq!(csv_bars, bars_in, "the store saw every bar the CSV got");
}

#[test]
fn a_stopped_server_opens_the_breaker_and_the_rerun_of_writes_loses_nothing() {
    let db = PgCluster::start();
    let paced = Paced::new("outage.csv");
    let (addr, summary_path, out) = (free_addr(), tmp("outage.json"), tmp("outage-bars.csv"));
    let mut child = paced.spawn(&db.url(), "outage", "block", &addr, &summary_path, &out);
    watch_pressure(&mut child, &addr, || {
        wait_for_rows(&db, "outage");
        db.halt();
        std::thread::sleep(Duration::from_secs(2));
        db.resume();
    });
    let s = summary(&summary_path);
    assert!(n(&s, "breaker_openings") >= 1 && n(&s, "retries") >= 1, "{s}");
    assert_eq!((n(&s, "not_written"), n(&s, "shed")), (0, 0));
    let csv = std::fs::read_to_string(&out).expect("csv");
    assert_same(&db.bars_csv("outage"), csv.split_once('\n').expect("header").1, "after an outage");
}

#[test]
fn a_dead_server_at_the_end_is_reported_exactly_and_exits_1() {
    let db = PgCluster::start();
    let capture = gen("dead.csv", &["--rows", "100000", "--instruments", "100", "--seed", "3"]);
    let summary_path = tmp("dead.json");
    // The queue can hold every bar, so input ends while the server is down; the final flush
    // gives up after 1 s.
    let mut child = Command::new(BIN)
        .args(["replay", "--speed", "10", "--sink-postgres", &db.url(), "--pg-table", "dead"])
        .args(["--pg-queue-high", "100000", "--pg-queue-low", "10", "--pg-flush-timeout", "1s", "--summary"])
        .arg(&summary_path)
        .arg(&capture)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for_rows(&db, "dead");
    db.halt();
    let (status, err) = wait_with_stderr(&mut child);
    assert_eq!(status.code(), Some(1), "{err}");
    let s = summary(&summary_path);
    let (bars_in, written, lost) = (n(&s, "bars_in"), n(&s, "rows_written"), n(&s, "not_written"));
    assert!(lost > 0 && written > 0, "{s}");
    assert_eq!(bars_in, written + lost, "{s}");
    assert!(err.contains(&format!("{lost} of {bars_in} bars could not be written")), "{err}");
}

#[test]
fn sigterm_stops_gracefully_and_flushes_every_accepted_bar() {
    let db = PgCluster::start();
    let paced = Paced::new("term.csv");
    let (addr, summary_path, out) = (free_addr(), tmp("term.json"), tmp("term-bars.csv"));
    let mut child = paced.spawn(&db.url(), "term", "block", &addr, &summary_path, &out);
    wait_for_rows(&db, "term");
    std::thread::sleep(Duration::from_millis(300));
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    assert!(kill.success());
    let (status, err) = wait_with_stderr(&mut child);
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.contains("stopped by signal 15"), "{err}");
    let s = summary(&summary_path);
    assert_eq!(s["interrupted_by_signal"].as_u64(), Some(15));
    let accepted = s["trades_accepted"].as_u64().expect("trades_accepted");
    assert!(accepted > 0 && accepted < 200_000, "stopped part-way: {accepted}");
    assert_eq!(n(&s, "bars_in"), n(&s, "rows_written"), "{s}");
    assert_eq!(n(&s, "not_written"), 0);
    let csv = std::fs::read_to_string(&out).expect("csv");
    assert_same(&db.bars_csv("term"), csv.split_once('\n').expect("header").1, "after SIGTERM");
}

#[test]
fn conflate_with_a_tiny_queue_keeps_the_newest_revision_of_every_bar() {
    let db = PgCluster::start();
    // Disorder plus `revise`: most trades revise a bar, so many revisions of one key wait at
    // once and conflate replaces them in the queue.
    let capture = gen("conflate.csv", &["--rows", "40000", "--instruments", "50", "--seed", "8", "--disorder", "2s"]);
    let (out, summary_path) = (tmp("conflate.csv.out"), tmp("conflate.json"));
    let o = Command::new(BIN)
        .args(["replay", "--late", "revise", "--allowed-lateness", "3s", "--pressure", "conflate"])
        .args(["--pg-queue-high", "20", "--pg-queue-low", "5", "--sink-postgres", &db.url(), "--pg-table", "conf"])
        .arg("--summary")
        .arg(&summary_path)
        .arg("--out")
        .arg(&out)
        .arg(&capture)
        .output()
        .expect("run");
    ok(&o);
    let s = summary(&summary_path);
    assert!(n(&s, "conflated") > 0 && n(&s, "pressure_entered") > 0, "{s}");
    assert_eq!(n(&s, "bars_in"), n(&s, "rows_written") + n(&s, "conflated"), "{s}");
    assert_eq!((n(&s, "shed"), n(&s, "not_written")), (0, 0));
    let csv = std::fs::read_to_string(&out).expect("csv");
    assert_same(&db.bars_csv("conf"), &newest_per_key(&csv), "conflate");
}

/// Fencing (design.md §10): once a later claim on the same work has written, an earlier
/// claim's writes are refused for good, even through a new connection; a claim on other work
/// is not touched; a fenced store writes nothing before its run has claimed.
#[test]
fn a_later_claim_fences_off_the_earlier_claims_writes() {
    use ticklane::operators::store::{BarStore, Claim, Fence, PgError, PgStore, StoreRow};
    let db = PgCluster::start();
    let row = |close: i64| StoreRow {
        instrument: "ESH4".into(),
        bar: ticklane::Bar {
            window_start: 0,
            window_end: 1_000_000_000,
            close: ticklane::Fixed::from_raw(close),
            trade_count: 1,
            ..ticklane::Bar::default()
        },
    };
    let claim = |name: &str, epoch| Claim { name: name.into(), epoch };
    let (a, b, other) = (Fence::default(), Fence::default(), Fence::default());
    let mut first = PgStore::connect_fenced(&db.url(), "fenced", a.clone()).expect("connect");
    let e = first.upsert(&[row(1)]).expect_err("no claim yet");
    assert!(matches!(e, PgError::Unclaimed { .. }) && !PgStore::superseded(&e), "{e}");
    a.set(claim("TICKS/ticklane-p2", 5)).expect("claim");
    first.upsert(&[row(1)]).expect("the only claim writes");
    first.upsert(&[row(2)]).expect("and writes again");

    let mut second = PgStore::connect_fenced(&db.url(), "fenced", b.clone()).expect("connect");
    b.set(claim("TICKS/ticklane-p2", 7)).expect("claim");
    second.upsert(&[row(3)]).expect("the later claim writes");
    for attempt in ["on its connection", "on a new connection (a write error reconnects)"] {
        let e = first.upsert(&[row(4)]).expect_err("refused");
        assert!(PgStore::superseded(&e), "{attempt}: {e}");
        assert!(matches!(e, PgError::Superseded { held: 7, .. }), "{attempt}: {e}");
    }
    let late = Fence::default();
    late.set(claim("TICKS/ticklane-p2", 6)).expect("claim");
    let mut stale = PgStore::connect_fenced(&db.url(), "fenced", late).expect("connect");
    let e = stale.upsert(&[row(5)]).expect_err("an older claim never writes once a newer one has");
    assert!(matches!(e, PgError::Superseded { held: 7, .. }), "{e}");
    second.upsert(&[row(6)]).expect("the later claim still writes");

    other.set(claim("TICKS/ticklane-p3", 1)).expect("claim");
    let mut elsewhere = PgStore::connect_fenced(&db.url(), "fenced", other).expect("connect");
    let mut r = row(7);
    r.instrument = "NQH4".into();
    elsewhere.upsert(&[r]).expect("other work is fenced apart");
    let close = db.psql("SELECT instrument, close FROM fenced ORDER BY instrument");
    let want = [format!("ESH4|{}", ticklane::Fixed::from_raw(6)), format!("NQH4|{}", ticklane::Fixed::from_raw(7))];
    assert_eq!(close.split_whitespace().collect::<Vec<_>>(), want, "the later claim's last write holds");
    let fences = db.psql("SELECT name, epoch FROM ticklane_fences ORDER BY name");
    assert_eq!(
        fences.split_whitespace().collect::<Vec<_>>(),
        ["TICKS/ticklane-p2|7", "TICKS/ticklane-p3|1"],
        "{fences}"
    );
}
