//! `--instruments PATTERN[,PATTERN]` through the real binary: the bars equal those of a replay
//! of the capture with only the selected instruments' lines (cut by the test itself), at 1 and
//! 3 shards; the skipped trades are counted; bad patterns exit 2 naming the option.

mod common;

use common::{data, run, s, tmp};

#[test]
fn only_the_selected_instruments_are_replayed_as_if_alone_in_the_capture() {
    let all = tmp("venue.csv");
    let g = run(&[
        "gen",
        "--rows",
        "30000",
        "--instruments",
        "40",
        "--names",
        "venue",
        "--disorder",
        "1s",
        "--seed",
        "8",
        "--out",
        all.to_str().expect("utf8"),
    ]);
    assert_eq!(g.status.code(), Some(0), "{}", String::from_utf8_lossy(&g.stderr));
    let text = std::fs::read_to_string(&all).expect("read");
    // The test's own selection: every `bybit:` name, and two exact ones.
    let (exact, mut kept, mut skipped) = (["binance-futures:S0010USDT", "okx:S0003USDT"], String::new(), 0u64);
    for (i, line) in text.lines().enumerate() {
        let name = line.split(',').nth(2).unwrap_or("");
        if i == 0 || name.starts_with("bybit:") || exact.contains(&name) {
            kept.push_str(line);
            kept.push('\n');
        } else {
            skipped += 1;
        }
    }
    assert!(skipped > 0 && kept.lines().count() > 100, "the selection keeps some and skips some");
    let only = tmp("only.csv");
    std::fs::write(&only, kept).expect("write");
    let pattern = "bybit:*,binance-futures:S0010USDT,ok[x]:S000[3]USDT";
    for shards in ["1", "3"] {
        let base = ["replay", "--dedupe", "--max-delay", "1s", "--shards", shards];
        let want = run(&[&base[..], &[only.to_str().expect("utf8")]].concat());
        let sum = tmp("sum.json");
        let got = run(&[
            &base[..],
            &["--instruments", pattern, "--summary", sum.to_str().expect("utf8"), all.to_str().expect("utf8")],
        ]
        .concat());
        assert_eq!(got.status.code(), Some(0), "{}", String::from_utf8_lossy(&got.stderr));
        assert!(got.stdout == want.stdout, "{shards} shards: bars differ from the cut capture's");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sum).expect("sum")).expect("json");
        assert_eq!(v["trades_filtered"].as_u64(), Some(skipped));
        assert_eq!(v["records_read"].as_u64(), Some(30_000));
        assert!(String::from_utf8_lossy(&got.stderr).contains(&format!("({skipped} skipped)")));
    }
}

#[test]
fn bad_patterns_are_refused_naming_the_option() {
    for pattern in ["ES[H4", "A,,B", ""] {
        let o = run(&["replay", "--instruments", pattern, "x.csv"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{pattern:?}: {err}");
        assert!(err.contains("--instruments"), "{pattern:?}: {err}");
    }
}

/// A selection that keeps nothing says what the input's names look like: a pattern matches a
/// whole name, so `ESU4` misses `GLBX.MDP3:ESU4`.
#[test]
fn a_selection_that_keeps_nothing_shows_the_names() {
    let f = data("GLBX_ESU4_trades_2024-07-01.dbn.zst");
    let o = run(&["replay", "--instruments", "ESU4", "--bars", "1m", s(&f)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("no instrument matched; the input's names look like GLBX.MDP3:ESU4"), "{err}");
    let o = run(&["replay", "--instruments", "*ESU4", "--bars", "1m", s(&f)]);
    assert!(String::from_utf8_lossy(&o.stdout).lines().count() > 1, "the suggested pattern keeps the trades");
    // Quotes too (they said only "0 quotes").
    let q = data("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv");
    let o = run(&["replay", "--instruments", "BTCUSDT", s(&q)]);
    let err = String::from_utf8_lossy(&o.stderr);
    let want = "--instruments kept 0 of 9999 quotes read (9999 skipped): no instrument matched; \
                the input's names look like binance-futures:BTCUSDT";
    assert!(err.contains(want), "{err}");
}
