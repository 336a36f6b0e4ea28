//! The real `ticklane` binary: golden bars on every bundled capture, byte-identical output
//! across shard counts and pacing, dedupe on a generated capture, and bad input that always
//! ends in exit 2 with a location (or counted under `--on-error skip`), never a panic.

mod common;

use common::{data, replay, s, tmp, BIN, HEADER};

#[path = "../../tests/common/golden.rs"]
mod golden;

use std::path::Path;
use std::process::{Command, Output};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn csv_captures_match_the_independent_bars_at_any_shard_count_and_pacing() {
    for file in ["tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv", "GLBX_ESH4_trades_2023-12-25.csv"] {
        let path = data(file);
        for secs in [1i64, 60] {
            let want = format!("{HEADER}\n{}\n", golden::oracle(std::slice::from_ref(&path), secs).join("\n"));
            let bars = format!("{secs}s");
            for shards in ["1", "2", "4"] {
                let o = replay(&["--bars", &bars, "--shards", shards, path.to_str().expect("utf8 path")]);
                assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
                assert!(stdout(&o) == want, "{file} {secs}s shards {shards}: output differs from the independent bars");
            }
            // A paced run (200,000× recorded speed: tens of ms) writes the same bytes.
            let o = replay(&["--bars", &bars, "--speed", "200000", path.to_str().expect("utf8 path")]);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            assert!(stdout(&o) == want, "{file} {secs}s paced: output differs");
            assert!(stderr(&o).contains("pacing fell behind by up to"), "{}", stderr(&o));
        }
    }
}

/// Bars of the DBN capture computed from records decoded with the `dbn` crate directly
/// (independent of ticklane's reader and operators).
fn dbn_oracle(path: &Path, secs: i64) -> String {
    use dbn::decode::{DbnMetadata, DecodeRecordRef, DynDecoder};
    let mut d = DynDecoder::from_file(path, dbn::VersionUpgradePolicy::UpgradeToV3).expect("decode");
    let dataset = d.metadata().dataset.clone();
    let raw = d.metadata().mappings[0].raw_symbol.clone();
    let mut trades = Vec::new();
    while let Some(r) = d.decode_record_ref().expect("record") {
        if let Some(t) = r.get::<dbn::TradeMsg>() {
            trades.push((t.hd.ts_event as i64, t.price, i64::from(t.size)));
        }
    }
    let w = secs * 1_000_000_000;
    let mut rows: Vec<String> = Vec::new();
    let fmt = |n: i128| {
        let s = format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000);
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    let mut i = 0;
    while i < trades.len() {
        let start = trades[i].0 - trades[i].0.rem_euclid(w);
        let j = trades[i..].iter().position(|t| t.0 >= start + w).map_or(trades.len(), |k| i + k);
        let g = &trades[i..j];
        let vol: i128 = g.iter().map(|t| i128::from(t.2) * 1_000_000_000).sum();
        let notional: i128 = g.iter().map(|t| i128::from(t.1) * i128::from(t.2) * 1_000_000_000).sum();
        rows.push(format!(
            "{dataset}:{raw},{start},{},{},{},{},{},{},{},{},0",
            start + w,
            fmt(i128::from(g[0].1)),
            fmt(i128::from(g.iter().map(|t| t.1).max().unwrap_or(0))),
            fmt(i128::from(g.iter().map(|t| t.1).min().unwrap_or(0))),
            fmt(i128::from(g[g.len() - 1].1)),
            fmt(vol),
            g.len(),
            fmt((2 * notional + vol) / (2 * vol)),
        ));
        i = j;
    }
    format!("{HEADER}\n{}\n", rows.join("\n"))
}

#[test]
fn dbn_capture_matches_bars_from_the_dbn_crate() {
    let path = data("GLBX_ESU4_trades_2024-07-01.dbn.zst");
    for secs in [1, 60] {
        let want = dbn_oracle(&path, secs);
        for shards in ["1", "2", "4"] {
            let o = replay(&["--bars", &format!("{secs}s"), "--shards", shards, path.to_str().expect("utf8")]);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            assert_eq!(stdout(&o), want, "{secs}s shards {shards}");
        }
    }
}

#[test]
fn dedupe_on_a_generated_capture_equals_the_capture_without_duplicates() {
    let dirty = tmp("dirty.csv");
    let g = Command::new(BIN)
        .args(["gen", "--rows", "30000", "--instruments", "40", "--seed", "7", "--dup-fraction", "0.01"])
        .args(["--disorder", "2s", "--spacing", "1ms", "--out", dirty.to_str().expect("utf8")])
        .output()
        .expect("gen");
    assert_eq!(g.status.code(), Some(0), "{}", stderr(&g));
    // The clean twin: keep the first line of each trade_id (the last column).
    let text = std::fs::read_to_string(&dirty).expect("read");
    let mut seen = std::collections::HashSet::new();
    let clean_text: String = text
        .lines()
        .filter(|l| seen.insert(l.rsplit(',').next().unwrap_or("").to_string()))
        .map(|l| format!("{l}\n"))
        .collect();
    let removed = text.lines().count() - clean_text.lines().count();
    assert!(removed > 200, "the generator should write ~1% duplicates, wrote {removed}");
    let clean = tmp("clean.csv");
    std::fs::write(&clean, clean_text).expect("write");
    let summary = tmp("dedupe-summary.json");
    let a = replay(&[
        "--dedupe",
        "--max-delay",
        "3s",
        "--bars",
        "1s",
        "--summary",
        summary.to_str().expect("utf8"),
        dirty.to_str().expect("utf8"),
    ]);
    let b = replay(&["--max-delay", "3s", "--bars", "1s", clean.to_str().expect("utf8")]);
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)), "{} {}", stderr(&a), stderr(&b));
    assert!(stdout(&a) == stdout(&b), "dedupe output differs from the clean capture's");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    assert_eq!(s["duplicates"].as_u64(), Some(removed as u64));
    assert_eq!(s["late"]["total"].as_u64(), Some(0), "2 s disorder within a 3 s max delay is never late");
}

#[test]
fn truncated_dbn_at_every_offset_exits_cleanly_with_a_location() {
    let bytes = std::fs::read(data("GLBX_ESU4_trades_2024-07-01.dbn.zst")).expect("read");
    let path = tmp("cut.dbn.zst");
    let (mut ok, mut bad) = (0, 0);
    for cut in 0..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).expect("write");
        let o = replay(&["--bars", "60s", "--shards", "2", path.to_str().expect("utf8")]);
        match o.status.code() {
            Some(2) => {
                bad += 1;
                let e = stderr(&o);
                assert!(e.contains("cut.dbn.zst") && e.contains("byte"), "cut {cut}: no location in {e:?}");
            }
            Some(0) => ok += 1, // a cut on a zstd frame boundary is a valid, shorter file
            other => panic!("cut at {cut}: exit {other:?}\n{}", stderr(&o)),
        }
    }
    assert!(ok <= 4, "only cuts on frame boundaries may pass: {ok} of {} passed", bytes.len());
    println!("{} cuts: {ok} valid prefixes, {bad} reported with exit 2", bytes.len());
    // Under skip, a cut file replays what could be decoded and counts one malformed record
    // (the cut zstd block is lost whole: the count says so instead of silence).
    std::fs::write(&path, &bytes[..bytes.len() - 7]).expect("write");
    let summary = tmp("cut-summary.json");
    let o = replay(&["--on-error", "skip", "--summary", summary.to_str().expect("utf8"), path.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    assert_eq!(s["malformed_total"].as_u64(), Some(1));
    assert!(s["trades_accepted"].as_u64().unwrap_or(u64::MAX) < 120, "the capture holds 120 trades");
}

#[test]
fn garbage_lines_fail_with_file_and_line_or_are_counted_under_skip() {
    let clean = std::fs::read_to_string(data("GLBX_ESH4_trades_2023-12-25.csv")).expect("read");
    let lines: Vec<&str> = clean.lines().collect();
    let mut x: u64 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let junk = |n: &mut dyn FnMut() -> u64| -> String {
        let alphabet = "g,,.-:xyz0123456789\"'é\t ";
        let chars: Vec<char> = alphabet.chars().collect();
        let len = (n() % 60) as usize;
        std::iter::once('g').chain((0..len).map(|_| chars[(n() % chars.len() as u64) as usize])).collect()
    };
    let mut out = vec![lines[0].to_string()];
    let mut garbage_at = Vec::new();
    for l in &lines[1..] {
        if next() % 97 == 0 {
            out.push(junk(&mut next));
            garbage_at.push(out.len()); // 1-based line number
        }
        out.push(l.to_string());
    }
    let path = tmp("garbage.csv");
    std::fs::write(&path, out.join("\n") + "\n").expect("write");
    assert!(garbage_at.len() > 10);

    let o = replay(&["--bars", "60s", path.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let first = format!("garbage.csv:{}: ", garbage_at[0]);
    assert!(stderr(&o).contains(&first), "expected {first:?} in {:?}", stderr(&o));

    let summary = tmp("garbage-summary.json");
    let o = replay(&[
        "--bars",
        "60s",
        "--on-error",
        "skip",
        "--summary",
        summary.to_str().expect("utf8"),
        path.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want = replay(&["--bars", "60s", data("GLBX_ESH4_trades_2023-12-25.csv").to_str().expect("utf8")]);
    assert!(stdout(&o) == stdout(&want), "skipping garbage must leave the clean bars");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    assert_eq!(s["malformed_total"].as_u64(), Some(garbage_at.len() as u64));
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 42;
    for round in 0..60 {
        let len = 1 + (round * 37) % 700;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        for (name, prefix) in
            [("r.csv", &b"ts_event,instrument,price,size\n"[..]), ("r.dbn", &b"DBN\x03"[..]), ("r.csv", &b""[..])]
        {
            let path = tmp(name);
            std::fs::write(&path, [prefix, &bytes[..]].concat()).expect("write");
            for mode in ["fail", "skip"] {
                let o = replay(&["--on-error", mode, path.to_str().expect("utf8")]);
                assert!(
                    matches!(o.status.code(), Some(0 | 2)),
                    "round {round} {name} {mode}: exit {:?}\n{}",
                    o.status.code(),
                    stderr(&o)
                );
            }
        }
    }
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    let f = f.to_str().expect("utf8");
    for (args, needle) in [
        (vec!["/no/such/file.csv"], "No such file"),
        (vec!["--shards", "0", f], "--shards"),
        (vec!["--bars", "1y", f], "unit"),
        (vec!["--input-format", "parquet", f], "parquet"),
        (vec!["--late", "side", f], "--late-out"),
        (vec!["--speed", "0", f], "factor"),
        (vec!["--empty-bars", "flat", "--late", "revise", "--allowed-lateness", "1s", f], "not supported"),
        (vec!["--input-format", "dbn", f], "DBN"),
    ] {
        let o = replay(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {:?}", stderr(&o));
    }
}

#[test]
fn every_usage_problem_is_reported_at_once_each_naming_its_flag() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    let o = replay(&["--shards", "0", "--late", "side", "--dedupe", "--dedupe-ttl", "0s", f.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    for needle in
        ["--shards: shards must be greater than zero", "--late side needs --late-out", "--dedupe-ttl: dedupe ttl"]
    {
        assert!(e.contains(needle), "{needle:?} missing from {e:?}");
    }
    assert!(stdout(&o).is_empty(), "nothing runs when the plan is invalid");
}

#[test]
fn gen_usage_errors_exit_2_naming_the_flag() {
    for (args, needle) in [
        (&["--instruments", "0"][..], "--instruments"),
        (&["--dup-fraction", "1.5"], "--dup-fraction"),
        (&["--names", "long"], "--names"),
        (&["--names", "venue", "--format", "dbn"], "--names"),
    ] {
        let o = Command::new(BIN)
            .arg("gen")
            .args(args)
            .arg("--out")
            .arg(tmp("never-written.csv"))
            .output()
            .expect("run ticklane gen");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {:?}", stderr(&o));
    }
    assert!(!tmp("never-written.csv").exists(), "a rejected gen writes nothing");
    // An output that cannot be written is named (the message was only "Is a directory").
    let dir = std::env::temp_dir();
    let o = Command::new(BIN).args(["gen", "--rows", "10", "--out"]).arg(&dir).output().expect("gen");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).starts_with(&format!("ticklane: --out {}: ", dir.display())), "{}", stderr(&o));
}

#[test]
fn gen_venue_names_are_15_to_25_bytes_and_replay_across_shards() {
    let input = tmp("venue.csv");
    let o = Command::new(BIN)
        .args(["gen", "--rows", "20000", "--instruments", "30", "--names", "venue", "--disorder", "2s", "--out"])
        .arg(&input)
        .output()
        .expect("gen");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&input).expect("read");
    let names: std::collections::BTreeSet<&str> = text.lines().skip(1).filter_map(|l| l.split(',').nth(2)).collect();
    assert_eq!(names.len(), 30);
    assert!(names.iter().all(|n| (15..=25).contains(&n.len()) && n.contains(':')), "{names:?}");
    assert!(names.contains("binance-futures:S0000USDT") && names.contains("bybit:S0001USDT"), "{names:?}");
    let run = |shards: &str| {
        let o = replay(&[
            "--bars",
            "1s",
            "--dedupe",
            "--max-delay",
            "2s",
            "--shards",
            shards,
            input.to_str().expect("utf-8"),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let one = run("1");
    assert!(one.lines().count() > 100 && one.contains("kraken:S0004USDT,"), "bars of every venue");
    assert_eq!(run("3"), one, "the same bytes at 3 shards");
}

#[test]
fn generated_dbn_replays_identically_across_shards_and_compression() {
    let (plain, packed) = (tmp("g.dbn"), tmp("g.dbn.zst"));
    for p in [&plain, &packed] {
        let g = Command::new(BIN)
            .args([
                "gen",
                "--rows",
                "20000",
                "--instruments",
                "30",
                "--seed",
                "5",
                "--spacing",
                "10ms",
                "--format",
                "dbn",
                "--out",
            ])
            .arg(p)
            .output()
            .expect("gen");
        assert_eq!(g.status.code(), Some(0), "{}", stderr(&g));
    }
    let reference = replay(&["--bars", "1s", "--shards", "1", plain.to_str().expect("utf8")]);
    assert_eq!(reference.status.code(), Some(0), "{}", stderr(&reference));
    assert!(stdout(&reference).lines().count() > 100);
    assert!(stdout(&reference).contains("SYNTH:1,"), "instruments are named dataset:instrument_id");
    for (file, shards) in [(&plain, "2"), (&packed, "1"), (&packed, "3")] {
        let o = replay(&["--bars", "1s", "--shards", shards, file.to_str().expect("utf8")]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o) == stdout(&reference), "{} at {shards} shards differs", file.display());
    }
}

#[test]
fn metrics_addr_serves_prometheus_text_while_the_run_lasts() {
    use std::io::{Read, Write};
    let capture = tmp("paced.csv");
    let g = Command::new(BIN)
        .args(["gen", "--rows", "200000", "--instruments", "50", "--seed", "9", "--out"])
        .arg(&capture)
        .output()
        .expect("gen");
    assert_eq!(g.status.code(), Some(0), "{}", stderr(&g));
    // One malformed line right after the header (skipped, counted by reason).
    let text = std::fs::read_to_string(&capture).expect("read");
    let (header, rest) = text.split_once('\n').expect("header");
    std::fs::write(&capture, format!("{header}\n1,,X,not-a-price,1,,\n{rest}")).expect("write");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let addr = format!("127.0.0.1:{port}");
    // 20 s of event time at 5x: about 4 s of wall time to look at the endpoint.
    let mut child = Command::new(BIN)
        .args(["replay", "--dedupe", "--speed", "5", "--on-error", "skip", "--metrics-addr", &addr, "--out"])
        .arg(tmp("paced-bars.csv"))
        .arg(&capture)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Operator counters appear from the first publication after the shards registered them
    // (published every second), the pacing gauge after 65,536 trades: poll until all are there.
    let names = [
        "ticklane_events_in_total",
        "ticklane_duplicates_total",
        "ticklane_saturation",
        "ticklane_pacing_lag_seconds",
        "ticklane_malformed_total{reason=\"bad_price\"} 1",
        "ticklane_source_pushed_total{source=",
    ];
    let mut seen = String::new();
    for _ in 0..160 {
        std::thread::sleep(std::time::Duration::from_millis(25));
        let Ok(mut s) = std::net::TcpStream::connect(&addr) else { continue };
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        seen.clear();
        let _ = s.read_to_string(&mut seen);
        if names.iter().all(|n| seen.contains(n)) {
            break;
        }
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(seen.starts_with("HTTP/1.0 200 OK"), "{seen}");
    for name in names {
        assert!(seen.contains(name), "{name} missing from:\n{seen}");
    }
}

#[test]
fn flat_empty_bars_fill_every_window_between_first_and_last_trade() {
    let file = data("GLBX_ESH4_trades_2023-12-25.csv");
    let path = file.to_str().expect("utf8");
    let skip = replay(&["--bars", "1s", path]);
    let flat = replay(&["--bars", "1s", "--empty-bars", "flat", "--shards", "2", path]);
    assert_eq!((skip.status.code(), flat.status.code()), (Some(0), Some(0)), "{}", stderr(&flat));
    let rows = |o: &Output| -> Vec<Vec<String>> {
        stdout(o).lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
    };
    let (skip, flat) = (rows(&skip), rows(&flat));
    let start = |r: &Vec<String>| r[1].parse::<i64>().expect("window_start");
    // One bar per second from the first trade's window to the last trade's, in order.
    let span = (start(&skip[skip.len() - 1]) - start(&skip[0])) / 1_000_000_000 + 1;
    assert_eq!(flat.len() as i64, span);
    assert!(flat.len() > skip.len(), "the capture has quiet seconds");
    assert!(flat.windows(2).all(|w| start(&w[1]) - start(&w[0]) == 1_000_000_000));
    // The non-empty bars are the skip-mode bars, unchanged; every other bar is flat at the
    // previous close with no volume.
    let real: Vec<&Vec<String>> = flat.iter().filter(|r| r[8] != "0").collect();
    assert_eq!(real.len(), skip.len());
    assert!(real.iter().zip(&skip).all(|(a, b)| *a == b));
    for pair in flat.windows(2) {
        if pair[1][8] == "0" {
            let close = &pair[0][6];
            assert!(
                pair[1][3..7].iter().all(|p| p == close) && pair[1][7] == "0" && &pair[1][9] == close,
                "{:?}",
                pair[1]
            );
        }
    }
}

#[test]
fn late_trades_go_to_the_side_output_or_revise_their_bar() {
    // 1 s bars, no delay: the trade at 0.5 s arrives after the one at 2.1 s, so its window
    // [0,1) has fired: it is late.
    let csv = "ts_event,instrument,price,size,trade_id\n\
               100000000,X,10,1,1\n\
               2100000000,X,11,1,2\n\
               500000000,X,12,3,3\n\
               3000000000,X,13,1,4\n";
    let input = tmp("late.csv");
    std::fs::write(&input, csv).expect("write");
    let late_out = tmp("late-side.csv");
    let summary = tmp("late-summary.json");
    let o = replay(&[
        "--late",
        "side",
        "--late-out",
        late_out.to_str().expect("utf8"),
        "--summary",
        summary.to_str().expect("utf8"),
        input.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let side = std::fs::read_to_string(&late_out).expect("late file");
    assert_eq!(side, "ts_event,ts_recv,instrument,price,size,side,trade_id\n500000000,,X,12,3,,3\n");
    assert_eq!(stdout(&o).lines().filter(|l| l.starts_with("X,0,")).count(), 1, "the [0,1) bar is not changed");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary")).expect("json");
    assert_eq!((s["late"]["total"].as_u64(), s["late"]["side"].as_u64()), (Some(1), Some(1)));

    // Revise with a 5 s horizon: the [0,1) bar is re-emitted as revision 1 with the late trade.
    let o = replay(&["--late", "revise", "--allowed-lateness", "5s", input.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let first: Vec<&str> = text.lines().filter(|l| l.starts_with("X,0,")).collect();
    assert_eq!(
        first,
        vec!["X,0,1000000000,10,10,10,10,1,1,10,0", "X,0,1000000000,10,12,10,12,4,2,11.5,1"],
        "revision 1 follows the bar it revises"
    );
}

/// An output file a longer earlier run left behind holds only this run's output, in every
/// format (the writer threads cut it, not the start-up: `run/writers.rs`, `file`).
#[test]
fn outputs_overwrite_longer_earlier_files() {
    let file = data("GLBX_ESH4_trades_2023-12-25.csv");
    let path = s(&file);
    for format in ["csv", "jsonl", "parquet"] {
        let (fresh, old) = (tmp(&format!("fresh.{format}")), tmp(&format!("old.{format}")));
        let (fresh_late, old_late) = (tmp(&format!("fresh-late.{format}")), tmp(&format!("old-late.{format}")));
        let _ = std::fs::remove_file(&fresh);
        let _ = std::fs::remove_file(&fresh_late);
        let junk = vec![b'x'; 1 << 20];
        std::fs::write(&old, &junk).expect("write");
        std::fs::write(&old_late, &junk).expect("write");
        let args = |out: &Path, late: &Path| {
            replay(&[
                "--bars",
                "1s",
                "--late",
                "side",
                "--late-out",
                s(late),
                "--format",
                format,
                "--out",
                s(out),
                path,
            ])
        };
        for o in [args(&fresh, &fresh_late), args(&old, &old_late)] {
            assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        }
        let read = |p: &Path| std::fs::read(p).expect("read");
        assert!(!read(&fresh).is_empty(), "{format}: bars written");
        assert!(read(&old) == read(&fresh), "{format}: the old file holds exactly the fresh output");
        assert!(read(&old_late) == read(&fresh_late), "{format}: the late trades' file too");
    }
}
