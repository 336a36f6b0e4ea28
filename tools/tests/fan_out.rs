//! Several outputs in one run (`--out` repeated, `WIDTHS=OUT` for the widths one takes) through
//! the real binary: each output holds exactly what a run writing only it holds — byte for byte,
//! revisions included, at 1 and 2 shards — whatever the others are (another format, files cut
//! by time); one failing costs only its own bars; the ways to ask for it wrongly are named.

mod common;

use common::{data, refused, replay, run, s, tmp};
use std::path::{Path, PathBuf};

/// A disordered synthetic capture with repeated ids: bars get revised under `--late revise`.
/// Each test makes its own (`name`): tests run in parallel.
fn disordered(name: &str) -> PathBuf {
    let path = tmp(&format!("fan-disordered-{name}.csv"));
    let args = ["gen", "--rows", "30000", "--instruments", "5", "--dup-fraction", "0.02", "--disorder", "3s"];
    let o = run(&[&args[..], &["--out", s(&path)]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    path
}

fn ok(args: &[&str]) {
    let o = replay(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A directory of its own under the scratch directory.
fn dir(name: &str) -> PathBuf {
    let d = tmp(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

#[test]
fn each_output_holds_what_a_run_writing_only_it_holds() {
    let gen = disordered("each");
    let policy = ["--dedupe", "--max-delay", "500ms", "--late", "revise", "--allowed-lateness", "5s"];
    let widths = ["1s", "10s", "1m"];
    let alone = dir("fan-alone");
    let one = |format: &str, ext: &str| {
        let out = alone.join(format!("{{bars}}.{ext}"));
        ok(&[&policy[..], &["--bars", "1s,10s,1m", "--format", format, "--out", s(&out), s(&gen)]].concat());
    };
    one("csv", "csv");
    one("jsonl", "jsonl");
    let revised = String::from_utf8_lossy(&read(&alone.join("1s.csv"))).lines().any(|l| !l.ends_with(",0"));
    assert!(revised, "the capture makes revisions (else this checks less)");
    for shards in ["1", "2"] {
        let d = dir(&format!("fan-{shards}"));
        let all = d.join("all_{bars}.csv");
        let ten = format!("10s={}", s(&d.join("ten.jsonl")));
        let ends = format!("1s,1m={}", s(&d.join("ends_{bars}.csv")));
        let fan = [
            "--out",
            s(&all),
            "--out",
            &ten,
            "--out",
            &ends,
            "--format",
            "csv",
            "--format",
            "jsonl",
            "--format",
            "csv",
        ];
        ok(&[&policy[..], &["--bars", "1s,10s,1m", "--shards", shards], &fan[..], &[s(&gen)]].concat());
        for w in widths {
            let want = read(&alone.join(format!("{w}.csv")));
            assert!(read(&d.join(format!("all_{w}.csv"))) == want, "{shards} shard(s): all_{w}.csv differs");
        }
        assert!(read(&d.join("ten.jsonl")) == read(&alone.join("10s.jsonl")), "{shards} shard(s): ten.jsonl differs");
        for w in ["1s", "1m"] {
            let want = read(&alone.join(format!("{w}.csv")));
            assert!(read(&d.join(format!("ends_{w}.csv"))) == want, "{shards} shard(s): ends_{w}.csv differs");
        }
        assert!(!d.join("ends_10s.csv").exists(), "an output takes only the widths it names");
    }
}

/// Files cut by time beside one whole file: together the cut files hold the whole file's lines.
#[test]
fn a_rotated_output_beside_a_whole_one_holds_the_same_bars() {
    let capture = data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv");
    let d = dir("fan-rotate");
    let (cut, whole) = (d.join("cut_{period}.csv"), d.join("whole.csv"));
    ok(&["--rotate", "1h", "--out", s(&cut), "--out", s(&whole), s(&capture)]);
    let whole = String::from_utf8_lossy(&read(&whole)).into_owned();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("cut_")))
        .collect();
    files.sort();
    assert!(files.len() > 1, "the capture spans several hours: {files:?}");
    let lines: Vec<String> = files
        .iter()
        .flat_map(|f| String::from_utf8_lossy(&read(f)).lines().skip(1).map(String::from).collect::<Vec<_>>())
        .collect();
    let want: Vec<String> = whole.lines().skip(1).map(String::from).collect();
    assert!(!want.is_empty() && lines == want, "the cut files' bars differ from the whole file's");
}

/// A width no output takes is made for the coarser widths it feeds, and dropped: the coarsest
/// output holds what it holds when every width is written, revisions included.
#[test]
fn a_width_no_output_takes_still_feeds_the_coarser_ones() {
    let gen = disordered("feeds");
    let policy = ["--dedupe", "--max-delay", "500ms", "--late", "revise", "--allowed-lateness", "5s"];
    let all = dir("fan-feeds-all");
    ok(&[&policy[..], &["--bars", "1s,10s,1m", "--out", s(&all.join("{bars}.csv")), s(&gen)]].concat());
    for shards in ["1", "2"] {
        let d = dir(&format!("fan-feeds-{shards}"));
        let only = format!("1m={}", s(&d.join("1m.csv")));
        let args = [&policy[..], &["--bars", "1s,10s,1m", "--shards", shards, "--out", &only, s(&gen)]].concat();
        let o = replay(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(read(&d.join("1m.csv")) == read(&all.join("1m.csv")), "{shards} shard(s): 1m.csv differs");
        assert_eq!(std::fs::read_dir(&d).expect("dir").count(), 1, "only the 1m output is written");
        assert!(err.contains("the finest width's bars not written"), "{err}");
    }
}

#[test]
fn fan_out_usage_errors_are_named() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    for (args, needle) in [
        (vec!["--bars", "1s,1m", "--out", "1h=x.csv"], "--out 1h=x.csv: 1h is not one of --bars 1s,1m"),
        (vec!["--bars", "1s,1m", "--out", "1s=x.csv"], "--bars 1s,1m: no --out takes 1m"),
        (
            vec!["--bars", "1s,1m", "--out", "b_{bars}.csv", "--out", "1m=b_1m.csv"],
            "b_1m.csv is written by another --out",
        ),
        (vec!["--out", "-", "--out", "-"], "--out -: standard output takes one output"),
        (
            vec!["--out", "a.csv", "--out", "b.csv", "--format", "csv", "--format", "csv", "--format", "jsonl"],
            "--format: given 3 times for 2 --out",
        ),
        (vec!["--bars", "1s,1m", "--out", "1s,1m=x.csv"], "--out needs a {bars} placeholder"),
        (vec!["--out", "1s="], "--out 1s=: expected WIDTHS=OUT"),
        (
            vec!["--out", "a.csv", "--out", "b_{period}.csv"],
            "--out b_{period}.csv: {period} is filled only with --rotate",
        ),
        (
            vec!["--out", "a.csv", "--out", "nats://127.0.0.1:4222/b", "--format", "csv", "--format", "parquet"],
            "--format parquet: a bus",
        ),
    ] {
        refused(&args, &f, needle);
    }
}

/// A file whose name reads like a width selection is written when given as a path.
#[test]
fn a_file_named_like_a_selection_is_a_file_with_a_path() {
    let d = dir("fan-named");
    let odd = d.join("1s=odd.csv");
    ok(&["--out", s(&odd), s(&data("GLBX_ESH4_trades_2023-12-25.csv"))]);
    assert!(read(&odd).len() > 1000, "the file named 1s=odd.csv holds the bars");
}

/// One output failing (a full disk) costs only its own bars: the others are whole, the run
/// exits 1, and the summary names the failed output and counts what it could not write.
#[test]
fn a_failed_output_loses_only_its_own_bars() {
    let capture = data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv");
    let d = dir("fan-full");
    let (good, alone, summary) = (d.join("good.csv"), d.join("alone.csv"), d.join("run.json"));
    ok(&["--out", s(&alone), s(&capture)]);
    let o = replay(&["--out", "/dev/full", "--out", s(&good), "--summary", s(&summary), s(&capture)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--out /dev/full: No space left on device"), "{err}");
    assert!(read(&good) == read(&alone), "the other output is whole");
    let bars = String::from_utf8_lossy(&read(&alone)).lines().count() as u64 - 1;
    let json: serde_json::Value = serde_json::from_slice(&read(&summary)).expect("summary");
    assert_eq!(json["bars_not_written"].as_u64(), Some(bars), "{json}");
    assert!(json["output_errors"].to_string().contains("/dev/full"), "{json}");
    let each: Vec<(String, u64, u64)> = json["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            (
                o["out"].as_str().unwrap_or_default().to_string(),
                o["lines"].as_u64().unwrap_or(9),
                o["not_written"].as_u64().unwrap_or(9),
            )
        })
        .collect();
    assert_eq!(each, [("/dev/full".to_string(), 0, bars), (s(&good).to_string(), bars, 0)], "each output's account");
}
