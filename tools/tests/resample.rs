//! `--bars 1s,1m,5m` through the real binary: every resolution, resampled inside the DAG from
//! the one before, equals the bars of a run at that width alone — byte for byte, revisions
//! included — under disorder and every late policy, at 1, 2 and 4 shards; bad widths named.

mod common;

use common::{data, refused, replay, run, s, tmp};

/// A disordered synthetic capture (trades up to 3 s out of order, repeated ids).
fn disordered() -> std::path::PathBuf {
    let path = tmp("disordered.csv");
    let args = ["gen", "--rows", "40000", "--instruments", "7", "--dup-fraction", "0.02", "--disorder", "3s"];
    let o = run(&[&args[..], &["--out", s(&path)]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    path
}

fn ok(args: &[&str]) -> std::process::Output {
    let o = replay(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

#[test]
fn every_resolution_equals_a_run_at_that_width_alone() {
    let gen = disordered();
    let real = data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv");
    let policies: [&[&str]; 3] = [
        &["--max-delay", "1s"],
        &["--max-delay", "500ms", "--late", "revise", "--allowed-lateness", "2s"],
        &["--max-delay", "0s", "--late", "revise", "--allowed-lateness", "40s", "--dedupe"],
    ];
    for (file, widths) in [(&gen, ["1s", "10s", "1m"]), (&real, ["100ms", "1s", "1m"])] {
        for policy in policies {
            let alone: Vec<Vec<u8>> = widths
                .iter()
                .map(|w| ok(&[policy, &["--bars", w, "--shards", "1", s(file)]].concat()).stdout)
                .collect();
            let revised = alone.iter().any(|b| String::from_utf8_lossy(b).lines().any(|l| !l.ends_with(",0")));
            if policy.contains(&"revise") && file == &gen {
                assert!(revised, "{policy:?}: the capture makes revisions (else this checks less)");
            }
            for shards in ["1", "2", "4"] {
                let out = tmp(&format!("r{shards}_{{bars}}.csv"));
                let all = widths.join(",");
                ok(&[policy, &["--bars", &all, "--shards", shards, "--out", s(&out), s(file)]].concat());
                for (w, want) in widths.iter().zip(&alone) {
                    let got = std::fs::read(s(&out).replace("{bars}", w)).expect("output");
                    assert!(
                        &got == want,
                        "{}: --bars {all} {policy:?} at {shards} shard(s): the {w} bars differ",
                        file.display()
                    );
                }
            }
        }
    }
}

#[test]
fn bad_widths_and_combinations_are_named() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    for (args, needle) in [
        (vec!["--bars", "1s,1m", "--out", "x.csv"], "--bars 1s,1m: --out needs a {bars} placeholder"),
        (
            vec!["--bars", "2s,3s", "--out", "{bars}.csv"],
            "--bars 2s,3s: 3s after 2s: coarse width (3s) must be a whole multiple of fine width (2s)",
        ),
        (vec!["--bars", "1m,1s", "--out", "{bars}.csv"], "1s after 1m: each width must be coarser than the one before"),
        (vec!["--bars", "1s,1s", "--out", "{bars}.csv"], "--bars 1s,1s: 1s after 1s: each width must be coarser"),
        (vec!["--bars", "1s,1000ms", "--out", "{bars}.csv"], "1000ms after 1s: each width must be coarser"),
        (
            vec!["--bars", "1s,1m", "--out", "{bars}.csv", "--empty-bars", "flat"],
            "--empty-bars flat is for one width only",
        ),
        (vec!["--bars", "1s,x"], "invalid value 'x' for '--bars <DUR[,DUR]>'"),
    ] {
        refused(&args, &f, needle);
    }
}
