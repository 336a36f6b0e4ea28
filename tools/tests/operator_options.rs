//! `--bar-offset` and `--throttle` through the real binary, each against an oracle that does
//! not use the option: shifted windows equal the bars of a capture shifted the other way; a
//! throttled replay equals the replay of the capture cut by the test itself (first N trades per
//! instrument per interval, plus, with `:conflate`, the latest of the rest); `--dedupe-key
//! content` drops the same print under another id. Bad values exit 2 naming the option.

mod common;

use common::{data, s, tmp, BIN};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn run(args: &[&str]) -> Output {
    let o = Command::new(BIN).args(args).output().expect("run ticklane");
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// A generated capture in event-time order (no disorder), several instruments. Written once per
/// test process: the tests run in parallel, and a second `gen` onto the same path would truncate
/// the file under another test's replay.
fn in_order_capture() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = tmp("ordered.csv");
        run(&["gen", "--rows", "20000", "--instruments", "7", "--seed", "12", "--out", s(&path)]);
        path
    })
    .clone()
}

/// `path` with every timestamp moved by `by` ns, written to `to`.
fn shifted(path: &Path, by: i64, to: &Path) {
    let text = std::fs::read_to_string(path).expect("read");
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            let mut f: Vec<String> = line.split(',').map(String::from).collect();
            for k in [0, 1] {
                if let Ok(ts) = f[k].parse::<i64>() {
                    f[k] = (ts + by).to_string();
                }
            }
            out.push_str(&f.join(","));
        }
        out.push('\n');
    }
    std::fs::write(to, out).expect("write");
}

#[test]
fn an_offset_shifts_the_windows_exactly() {
    let generated = in_order_capture();
    for path in [data("GLBX_ESH4_trades_2023-12-25.csv"), generated] {
        for (bars, offset, ns) in [("1m", "30s", 30_000_000_000i64), ("1s", "250ms", 250_000_000)] {
            let moved = tmp("moved.csv");
            shifted(&path, -ns, &moved);
            let plain = run(&["replay", "--bars", bars, s(&moved)]);
            // The plain bars of the capture moved back by the offset, moved forward again.
            let want: String = String::from_utf8_lossy(&plain.stdout)
                .lines()
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 {
                        return format!("{l}\n");
                    }
                    let mut f: Vec<String> = l.split(',').map(String::from).collect();
                    for k in [1, 2] {
                        f[k] = (f[k].parse::<i64>().expect("window") + ns).to_string();
                    }
                    format!("{}\n", f.join(","))
                })
                .collect();
            for shards in ["1", "2"] {
                let got = run(&["replay", "--bars", bars, "--bar-offset", offset, "--shards", shards, s(&path)]);
                assert!(String::from_utf8_lossy(&got.stdout) == want, "{} {bars} offset {offset}", path.display());
            }
        }
    }
}

/// The capture cut as `--throttle limit/interval[:conflate]` would: per instrument and
/// epoch-aligned interval, the first `limit` trades in file order, plus (conflate) the last of
/// the rest. Returns the cut file and how many trades were throttled.
fn throttle_oracle(path: &Path, limit: usize, interval: i64, conflate: bool) -> (PathBuf, u64) {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines = text.lines();
    let header = lines.next().expect("header").to_string();
    let mut groups: Vec<((String, i64), Vec<String>)> = Vec::new();
    let mut at: HashMap<(String, i64), usize> = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let key = (f[2].to_string(), f[0].parse::<i64>().expect("ts").div_euclid(interval));
        let k = *at.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[k].1.push(line.to_string());
    }
    let (mut kept, mut throttled) = (Vec::new(), 0u64);
    for (_, g) in &groups {
        kept.extend(g.iter().take(limit).cloned());
        let rest = g.len().saturating_sub(limit);
        match (conflate, g.last()) {
            (true, Some(last)) if rest > 0 => {
                kept.push(last.clone());
                throttled += rest as u64 - 1;
            }
            _ => throttled += rest as u64,
        }
    }
    // Back into event-time order (a stable sort keeps the file order of equal times).
    kept.sort_by_key(|l| l.split(',').next().and_then(|t| t.parse::<i64>().ok()).unwrap_or(0));
    let out = tmp(&format!("cut-{limit}-{interval}-{conflate}.csv"));
    std::fs::write(&out, format!("{header}\n{}\n", kept.join("\n"))).expect("write");
    (out, throttled)
}

#[test]
fn a_throttled_replay_equals_the_replay_of_the_cut_capture() {
    let generated = in_order_capture();
    for path in [data("GLBX_ESH4_trades_2023-12-25.csv"), generated] {
        for (spec, limit, interval, conflate) in [
            ("3/1s", 3, 1_000_000_000i64, false),
            ("1/200ms", 1, 200_000_000, false),
            ("2/1s:conflate", 2, 1_000_000_000, true),
        ] {
            let (cut, throttled) = throttle_oracle(&path, limit, interval, conflate);
            let want = run(&["replay", "--bars", "5s", s(&cut)]);
            for shards in ["1", "3"] {
                let sum = tmp("throttle.json");
                let got = run(&[
                    "replay",
                    "--bars",
                    "5s",
                    "--throttle",
                    spec,
                    "--shards",
                    shards,
                    "--summary",
                    s(&sum),
                    s(&path),
                ]);
                assert!(got.stdout == want.stdout, "{} --throttle {spec} at {shards} shards", path.display());
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&sum).expect("summary")).expect("json");
                assert_eq!(v["throttled"].as_u64(), Some(throttled), "{} --throttle {spec}", path.display());
                assert!(throttled > 0, "the capture is throttled at {spec}");
            }
        }
    }
}

/// `--dedupe-key content`: a capture merged with a copy whose trades carry other ids (the same
/// prints re-sent under new ids) makes the capture's bars alone, each copy a duplicate; keyed by
/// id (the default) the copies count.
#[test]
fn a_content_key_drops_the_same_print_under_another_id() {
    let capture = in_order_capture();
    let text = std::fs::read_to_string(&capture).expect("read");
    let mut copy = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut f: Vec<String> = line.split(',').map(String::from).collect();
        if i > 0 {
            f[6] = format!("{}x", f[6]);
        }
        copy += &(f.join(",") + "\n");
    }
    let other = tmp("other_ids.csv");
    std::fs::write(&other, copy).expect("write");
    let alone = run(&["replay", s(&capture)]).stdout;
    let sum = tmp("content.json");
    let content = run(&["replay", "--dedupe", "--dedupe-key", "content", "--summary", s(&sum), s(&capture), s(&other)]);
    assert!(content.stdout == alone, "keyed by content, the copies are dropped");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sum).expect("summary")).expect("json");
    assert_eq!(v["duplicates"].as_u64(), Some(20_000), "{v}");
    let by_id = run(&["replay", "--dedupe", s(&capture), s(&other)]).stdout;
    assert!(by_id != alone, "keyed by id, the copies count");
}

#[test]
fn bad_values_are_refused_naming_the_option() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    for (args, flag) in [
        (vec!["--bars", "1m", "--bar-offset", "1m"], "--bar-offset"),
        (vec!["--bar-offset", "soon"], "--bar-offset"),
        (vec!["--throttle", "0/1s"], "--throttle"),
        (vec!["--throttle", "5"], "--throttle"),
        (vec!["--throttle", "5/0s"], "--throttle"),
        (vec!["--throttle", "5/1s:keep"], "--throttle"),
        (vec!["--tick-bars", "5", "--bar-offset", "1s"], "--bar-offset"),
        (vec!["--dedupe", "--dedupe-key", "trade_id"], "--dedupe-key"),
    ] {
        let o = Command::new(BIN).arg("replay").args(&args).arg(&f).output().expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: the message does not name {flag}: {err}");
    }
}
