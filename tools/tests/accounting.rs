//! The replay's account balances (issue 16): every trade the engine accepted is in a bar that
//! was written (its final revision's `trade_count`), a dropped duplicate, a late trade dropped or
//! written to the side output, or not delivered — read from `--summary` and checked against
//! the bars file itself, at any shard count, under each late policy, and when a signal stops
//! the run part-way:
//!
//! `trades_accepted = Σ trade_count(final revisions) + duplicates + late.dropped + late.side
//! + trades_not_delivered`, and `records_read + malformed_total` = the data lines of the input.
//! The matrix reads the same law from the run's final `/metrics` page too (kept served after the
//! run by `--metrics-linger`): `pushed − rejected` = `Σ trade_count + duplicates + throttled`
//! `+ late dropped + late to side + not delivered`, its malformed counts equal the summary's.

mod common;

use common::{s, tmp, BIN};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A capture with duplicates, 3 s of disorder and `bad` malformed lines among its rows.
fn capture(name: &str, rows: u32, bad: usize) -> (PathBuf, usize) {
    let path = tmp(name);
    let g = Command::new(BIN)
        .args(["gen", "--rows", &rows.to_string(), "--instruments", "25", "--dup-fraction", "0.05"])
        .args(["--disorder", "3s", "--seed", "21", "--out", s(&path)])
        .output()
        .expect("gen");
    assert_eq!(g.status.code(), Some(0), "{}", String::from_utf8_lossy(&g.stderr));
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    for k in 0..bad {
        let at = 1 + (k * 7919) % (lines.len() - 1);
        lines.insert(at, "1,,X,not-a-price,1,,");
    }
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    (path, lines.len() - 1)
}

/// Σ trade_count over the final revision of each bar in a bars CSV.
fn trades_in_bars(bars: &Path) -> u64 {
    let text = std::fs::read_to_string(bars).expect("bars");
    let mut last: HashMap<(String, String), (u32, u64)> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (count, revision): (u64, u32) = (f[8].parse().expect("trade_count"), f[10].parse().expect("revision"));
        let e = last.entry((f[0].to_string(), f[1].to_string())).or_insert((revision, count));
        if revision >= e.0 {
            *e = (revision, count);
        }
    }
    last.values().map(|(_, c)| c).sum()
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary")).expect("json")
}

/// Checks both laws; returns the summary.
fn balanced(sum: &Path, bars: &Path, data_lines: usize, what: &str) -> serde_json::Value {
    let v = summary(sum);
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{what}: {k} missing"));
    let late = |k: &str| v["late"][k].as_u64().unwrap_or(0);
    let in_bars = trades_in_bars(bars);
    let out = in_bars + n("duplicates") + n("throttled") + late("dropped") + late("side") + n("trades_not_delivered");
    assert_eq!(
        n("trades_accepted"),
        out,
        "{what}: {in_bars} in bars + {} duplicates + {} late dropped + {} late to side + {} not delivered",
        n("duplicates"),
        late("dropped"),
        late("side"),
        n("trades_not_delivered")
    );
    if v["interrupted_by_signal"].is_null() {
        assert_eq!(n("records_read") + n("malformed_total"), data_lines as u64, "{what}: every line accounted for");
        assert_eq!(n("records_read"), n("trades_accepted") + n("trades_filtered"), "{what}");
    }
    v
}

/// Runs `cmd` (a replay writing its summary to `sum`) serving its metrics, stopped by SIGTERM
/// after `stop_after` if given, and reads `/metrics` once the run has ended (the summary
/// written, the final counts lingering); then ends the wait with another SIGTERM.
fn run_and_scrape(cmd: &mut Command, sum: &Path, stop_after: Option<Duration>) -> (std::process::Output, String) {
    let port = common::free_port();
    let _ = std::fs::remove_file(sum);
    cmd.args(["--metrics-addr", &format!("127.0.0.1:{port}"), "--metrics-linger", "5m"]);
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("replay");
    if let Some(d) = stop_after {
        std::thread::sleep(d);
        assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    }
    let written = || std::fs::read_to_string(sum).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    common::wait_until("the run's summary", || written().is_some());
    let page = common::http_get(("127.0.0.1", port), "/metrics");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    (child.wait_with_output().expect("wait"), page)
}

/// The law on the final `/metrics` page: what the feed's `push` accepted is in the bars
/// (`in_bars` trades) or counted by a node; the page agrees with the summary `v`.
fn metrics_balanced(page: &str, in_bars: u64, v: &serde_json::Value, what: &str) {
    let m = |name: &str| common::sample(page, name) as u64;
    let accepted = m("ticklane_source_pushed_total") - m("ticklane_source_rejected_total");
    let (dup, throttled) = (m("ticklane_duplicates_total"), m("ticklane_throttled_total"));
    let (dropped, side) = (m("ticklane_late_dropped_total"), m("ticklane_late_side_total"));
    let lost = m("ticklane_source_not_delivered_total");
    assert_eq!(
        accepted,
        in_bars + dup + throttled + dropped + side + lost,
        "{what}, /metrics: {in_bars} in bars + {dup} duplicates + {throttled} throttled + {dropped} late dropped \
         + {side} late to side + {lost} not delivered"
    );
    assert_eq!(Some(accepted), v["trades_accepted"].as_u64(), "{what}: /metrics and the summary");
    assert_eq!(Some(m("ticklane_malformed_total")), v["malformed_total"].as_u64(), "{what}: malformed");
    assert_eq!(Some(dup), v["duplicates"].as_u64(), "{what}: duplicates");
}

#[test]
fn every_accepted_trade_is_in_a_bar_or_counted_under_each_late_policy_and_shard_count() {
    let (input, lines) = capture("acc.csv", 30_000, 5);
    for late in ["drop", "revise", "side"] {
        for shards in ["1", "3"] {
            let (bars, sum, side) = (tmp("bars.csv"), tmp("sum.json"), tmp("side.csv"));
            let mut cmd = Command::new(BIN);
            cmd.args(["replay", "--dedupe", "--bars", "1s", "--max-delay", "1s", "--late", late]);
            cmd.args(["--shards", shards, "--on-error", "skip", "--summary", s(&sum), "--out", s(&bars)]);
            if late == "side" {
                cmd.args(["--late-out", s(&side)]);
            }
            if late == "revise" {
                cmd.args(["--allowed-lateness", "1s"]); // later than that: dropped
            }
            let (o, page) = run_and_scrape(cmd.arg(&input), &sum, None);
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            let what = format!("--late {late} --shards {shards}");
            let v = balanced(&sum, &bars, lines, &what);
            metrics_balanced(&page, trades_in_bars(&bars), &v, &what);
            assert_eq!(v["malformed_total"], 5);
            assert!(v["late"]["total"].as_u64().unwrap_or(0) > 0, "the capture has late trades");
            if late == "revise" {
                assert!(v["late"]["revised"].as_u64().unwrap_or(0) > 0, "bars were revised: {}", v["late"]);
            }
            if late == "side" {
                let written = std::fs::read_to_string(&side).expect("side").lines().count() as u64 - 1;
                assert_eq!(v["late"]["side"].as_u64(), Some(written), "late trades in the side file");
            }
        }
    }
}

#[test]
fn a_signal_part_way_leaves_a_balanced_account() {
    let (input, lines) = capture("paced.csv", 60_000, 0);
    for shards in ["1", "2"] {
        let (bars, sum) = (tmp("paced-bars.csv"), tmp("paced-sum.json"));
        // 60,000 trades over ~6 s of event time at 2x: about 3 s; stopped after 1 s.
        let mut cmd = Command::new(BIN);
        cmd.args(["replay", "--dedupe", "--bars", "1s", "--max-delay", "1s", "--speed", "2"]);
        cmd.args(["--shards", shards, "--summary", s(&sum), "--out", s(&bars), s(&input)]);
        let (o, page) = run_and_scrape(&mut cmd, &sum, Some(Duration::from_millis(1000)));
        assert_eq!(o.status.code(), Some(143), "{}", String::from_utf8_lossy(&o.stderr));
        let what = format!("SIGTERM, {shards} shards");
        let v = balanced(&sum, &bars, lines, &what);
        metrics_balanced(&page, trades_in_bars(&bars), &v, &what);
        let accepted = v["trades_accepted"].as_u64().unwrap_or(0);
        assert!(accepted > 0 && accepted < 60_000, "stopped part-way: {accepted} accepted");
    }
}

/// The counts of a summary that do not depend on how far the output got.
fn counts(v: &serde_json::Value) -> Vec<u64> {
    let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    let late = |k: &str| v["late"][k].as_u64().unwrap_or(u64::MAX);
    vec![n("records_read"), n("trades_accepted"), n("duplicates"), n("throttled"), late("dropped"), late("revised")]
}

/// Fault cell "sink error": the bar output fails (a full device). The run ends with exit 1, and
/// every bar it made is either written or counted as not written; every trade is accounted for
/// exactly as in a run whose output did not fail.
#[test]
fn a_failing_output_counts_every_bar_it_could_not_write() {
    let (input, lines) = capture("sinkerr.csv", 20_000, 0);
    let args =
        ["replay", "--dedupe", "--bars", "1s", "--max-delay", "1s", "--late", "revise", "--allowed-lateness", "1s"];
    let (bars, sum) = (tmp("clean-bars.csv"), tmp("clean-sum.json"));
    let o = Command::new(BIN)
        .args(args)
        .args(["--summary", s(&sum), "--out", s(&bars), s(&input)])
        .output()
        .expect("clean");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let clean = balanced(&sum, &bars, lines, "clean run");
    let made = std::fs::read_to_string(&bars).expect("bars").lines().count() as u64 - 1;
    let full = tmp("full-sum.json");
    let mut cmd = Command::new(BIN);
    cmd.args(args).args(["--summary", s(&full), "--out", "/dev/full", s(&input)]);
    let (o, page) = run_and_scrape(&mut cmd, &full, None);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed output is a runtime failure: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("/dev/full"), "{}", String::from_utf8_lossy(&o.stderr));
    let v = summary(&full);
    let (written, lost) = (v["bars"].as_u64().unwrap_or(0), v["bars_not_written"].as_u64().unwrap_or(0));
    assert_eq!(written + lost, made, "every bar written or counted as not written");
    assert!(lost > 0, "the device was full");
    assert_eq!(counts(&v), counts(&clean), "the trades are accounted for as in the clean run");
    // The bars made hold the clean run's trades, whether written or not.
    metrics_balanced(&page, trades_in_bars(&bars), &v, "a failing output");
}

/// Fault cell "SIGKILL + rerun": a run killed outright leaves nothing that changes the next
/// one; the rerun's bars and account equal an undisturbed run's.
#[test]
fn a_killed_run_rerun_gives_the_undisturbed_result() {
    let (input, lines) = capture("killed.csv", 40_000, 0);
    let args = ["replay", "--dedupe", "--bars", "1s", "--max-delay", "1s"];
    let (bars, sum) = (tmp("kill-bars.csv"), tmp("kill-sum.json"));
    let run = || {
        let o = Command::new(BIN)
            .args(args)
            .args(["--summary", s(&sum), "--out", s(&bars), s(&input)])
            .output()
            .expect("run");
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        (std::fs::read(&bars).expect("bars"), counts(&balanced(&sum, &bars, lines, "run")))
    };
    let undisturbed = run();
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--speed", "2", "--summary", s(&sum), "--out", s(&bars), s(&input)])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(700));
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "killed, not finished");
    assert!(run() == undisturbed, "the rerun equals the undisturbed run");
}
