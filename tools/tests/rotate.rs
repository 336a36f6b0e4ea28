//! `--rotate DURATION` (and a file sink's `rotate` key) through the real binary: the files of
//! a rotated run, in period order, hold exactly the lines of one unrotated file, in the same
//! order (revisions included); each line sits in the file of the newest window start seen
//! up to it (checked here from the lines themselves); the file names carry their period's
//! UTC start; bad uses are refused naming the option.

mod common;

use common::{run, s, tmp, BIN};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const MINUTE: i64 = 60_000_000_000;

/// A generated capture with disorder, and the replay flags that make revisions of it. Written
/// once per test process: the tests run in parallel, and a second `gen` onto the same path would
/// truncate the file under another test's replay.
fn revising_capture() -> (PathBuf, [&'static str; 6]) {
    static TICKS: OnceLock<PathBuf> = OnceLock::new();
    let ticks = TICKS.get_or_init(|| {
        let ticks = tmp("ticks.csv");
        let args = ["gen", "--rows", "120000", "--instruments", "20", "--disorder", "3s", "--spacing", "2ms"];
        let g = run(&[&args[..], &["--out", s(&ticks)]].concat());
        assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
        ticks
    });
    (ticks.clone(), ["--late", "revise", "--allowed-lateness", "5s", "--max-delay", "1s"])
}

/// The rotated files in `dir` named `prefix…`, sorted (UTC stamps sort in time order).
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
        .collect();
    v.sort();
    v
}

/// `20231114T221300Z` for a period start, by date(1): not ticklane's formatter.
fn stamp(ns: i64) -> String {
    let out = Command::new("date").args(["-u", "-d", &format!("@{}", ns / 1_000_000_000), "+%Y%m%dT%H%M%SZ"]).output();
    String::from_utf8_lossy(&out.expect("date").stdout).trim().to_string()
}

#[test]
fn rotated_csv_and_jsonl_files_hold_what_one_file_would_cut_by_event_time() {
    let (ticks, flags) = revising_capture();
    let dir = tmp("csv");
    std::fs::create_dir_all(&dir).expect("dir");
    let one = dir.join("one.csv");
    let o = run(&[&["replay", "--kind", "trades", "--out", s(&one)][..], &flags, &[s(&ticks)]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let one = std::fs::read_to_string(&one).expect("one file");
    let (header, want) = one.split_once('\n').expect("header");
    assert!(want.lines().any(|l| !l.ends_with(",0")), "the run revises bars");

    let template = dir.join("bars_{period}.csv");
    let o =
        run(&[&["replay", "--kind", "trades", "--rotate", "1m", "--out", s(&template)][..], &flags, &[s(&ticks)]]
            .concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let parts = files(&dir, "bars_");
    assert!(parts.len() >= 3, "120,000 trades 2 ms apart span minutes: {parts:?}");
    let (mut all, mut newest) = (String::new(), i64::MIN);
    let mut names = std::collections::HashMap::new();
    for p in &parts {
        let text = std::fs::read_to_string(p).expect("part");
        let (h, body) = text.split_once('\n').expect("each file has the header");
        assert_eq!(h, header);
        for line in body.lines() {
            let start: i64 = line.split(',').nth(1).expect("window_start").parse().expect("ns");
            newest = newest.max(start);
            let period = newest.div_euclid(MINUTE) * MINUTE;
            let name = names.entry(period).or_insert_with(|| format!("bars_{}.csv", stamp(period)));
            assert_eq!(p.file_name().and_then(|n| n.to_str()), Some(name.as_str()), "{line}");
        }
        all += body;
    }
    assert!(all == want, "the rotated files together differ from one file");

    // JSONL: one object per line, no header, cut the same way.
    let template = dir.join("j_{period}.jsonl");
    let o = run(&[
        &["replay", "--kind", "trades", "--format", "jsonl", "--rotate", "1m", "--out", s(&template)][..],
        &flags,
        &[s(&ticks)],
    ]
    .concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let jsonl = files(&dir, "j_");
    assert_eq!(jsonl.len(), parts.len());
    let lines: usize = jsonl.iter().map(|p| std::fs::read_to_string(p).expect("part").lines().count()).sum();
    assert_eq!(lines, want.lines().count());
}

#[test]
fn rotate_usage_errors_exit_2_naming_the_option() {
    let (ticks, _) = revising_capture();
    let missing = tmp("no-such-dir").join("b_{period}.csv");
    for (args, needle) in [
        (vec!["--rotate", "1h", "--out", "bars.csv"], "--out bars.csv must contain {period}"),
        (vec!["--rotate", "1h"], "--rotate cuts files"),
        (vec!["--rotate", "1h", "--out", "-"], "--rotate cuts files"),
        (vec!["--rotate", "0s", "--out", "b_{period}.csv"], "--rotate: expected a positive duration"),
        (vec!["--rotate", "soon", "--out", "b_{period}.csv"], "--rotate"),
        (vec!["--out", "b_{period}.csv"], "{period} is filled only with --rotate"),
        (vec!["--rotate", "1h", "--out", s(&missing)], "no such directory"),
    ] {
        let o = Command::new(BIN).args(["replay", "--kind", "trades"]).args(&args).arg(&ticks).output().expect("run");
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
    }
}

#[test]
fn a_pipeline_file_sink_rotates_too_and_late_trades_do_not() {
    let dir = tmp("pipeline");
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("p.toml");
    let base =
        "[sources.t]\npaths = [\"x.csv\"]\n[operators.bars]\ntype = \"time_bars\"\ninput = \"t\"\nwidth = \"1s\"\n";
    std::fs::write(
        &file,
        format!("{base}[sinks.out]\ntype = \"file\"\ninput = \"bars\"\npath = \"b_{{period}}.csv\"\nrotate = \"1h\"\n"),
    )
    .expect("write");
    let o = run(&["check", s(&file)]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("--rotate 1h") && out.contains("b_{period}.csv"), "{out}");

    let late =
        "late = \"side\"\n[sinks.late]\ntype = \"file\"\ninput = \"bars.late\"\npath = \"late.csv\"\nrotate = \"1h\"\n";
    std::fs::write(&file, format!("{base}{late}")).expect("write");
    let o = run(&["check", s(&file)]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("p.toml:") && e.contains("rotate") && e.contains("late records go to one file"), "{e}");
}
