//! `--tick-bars N` and `--volume-bars V` through the real binary: the bars equal ones computed
//! here from the capture's own lines (each instrument's trades in file order, cut every N
//! trades or every V of size — a trade that overflows a volume bar split at the same price),
//! byte-identical at 1, 2 and 4 shards; bad values and time-bar options beside them are
//! refused with exit 2 and a message that names the option.

mod common;

use common::{data, replay, tmp, BIN};

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use ticklane::Fixed;

/// One open bar of the oracle.
#[derive(Default)]
struct Acc {
    first: i64,
    last: i64,
    open: i64,
    high: i64,
    low: i64,
    close: i64,
    volume: i128,
    notional: i128,
    count: u64,
}

impl Acc {
    fn add(&mut self, ts: i64, px: i64, q: i64) {
        if self.count == 0 {
            *self = Acc { first: ts, open: px, high: px, low: px, ..Acc::default() };
        }
        (self.last, self.close) = (ts, px);
        self.high = self.high.max(px);
        self.low = self.low.min(px);
        self.volume += i128::from(q);
        self.notional += i128::from(px) * i128::from(q);
        self.count += 1;
    }

    fn line(&self, name: &str) -> String {
        let (n, d) = (self.notional, self.volume);
        let (q, r) = (n / d, n % d);
        let vwap = if 2 * r.abs() >= d.abs() { q + n.signum() * d.signum() } else { q };
        let f = |raw: i64| Fixed::from_raw(raw).to_string();
        format!(
            "{name},{},{},{},{},{},{},{},{},{},0",
            self.first,
            self.last,
            f(self.open),
            f(self.high),
            f(self.low),
            f(self.close),
            ticklane::Wide::from_raw(self.volume),
            self.count,
            f(vwap as i64)
        )
    }
}

/// How the oracle cuts bars.
#[derive(Clone, Copy)]
enum Cut {
    Ticks(u64),
    Volume(i64),
}

/// The bars of a ticklane-CSV capture (`ts_event,ts_recv,instrument,price,size,…`), sorted.
fn oracle(path: &Path, cut: Cut) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("capture");
    let mut open: HashMap<String, Acc> = HashMap::new();
    let mut bars = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (ts, name) = (f[0].parse::<i64>().expect("ts"), f[2].to_string());
        let px = Fixed::parse(f[3]).expect("price").raw();
        let mut q = Fixed::parse(f[4]).expect("size").raw();
        let acc = open.entry(name.clone()).or_default();
        match cut {
            Cut::Ticks(n) => {
                acc.add(ts, px, q);
                if acc.count == n {
                    bars.push(acc.line(&name));
                    *acc = Acc::default();
                }
            }
            Cut::Volume(v) => {
                while q > 0 {
                    let take = q.min(v - acc.volume as i64);
                    acc.add(ts, px, take);
                    q -= take;
                    if acc.volume == i128::from(v) {
                        bars.push(acc.line(&name));
                        *acc = Acc::default();
                    }
                }
            }
        }
    }
    bars.extend(open.iter().filter(|(_, a)| a.count > 0).map(|(n, a)| a.line(n)));
    bars.sort();
    bars
}

fn sorted_lines(o: &Output) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().skip(1).map(String::from).collect();
    v.sort();
    v
}

#[test]
fn tick_and_volume_bars_equal_an_independent_cut_at_any_shard_count() {
    let generated = tmp("gen.csv");
    let g = Command::new(BIN)
        .args(["gen", "--rows", "20000", "--instruments", "12", "--seed", "4", "--out"])
        .arg(&generated)
        .output()
        .expect("gen");
    assert_eq!(g.status.code(), Some(0), "{}", String::from_utf8_lossy(&g.stderr));
    for path in [data("GLBX_ESH4_trades_2023-12-25.csv"), generated] {
        for (flag, value, cut) in [
            ("--tick-bars", "37", Cut::Ticks(37)),
            ("--tick-bars", "1", Cut::Ticks(1)),
            ("--volume-bars", "50", Cut::Volume(50_000_000_000)),
            ("--volume-bars", "7.5", Cut::Volume(7_500_000_000)),
        ] {
            let p = path.to_str().expect("utf8");
            let want = oracle(&path, cut);
            let first = replay(&[flag, value, "--shards", "1", p]);
            assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
            assert_eq!(sorted_lines(&first), want, "{} {flag} {value}", path.display());
            for shards in ["2", "4"] {
                let o = replay(&[flag, value, "--shards", shards, p]);
                assert!(o.stdout == first.stdout, "{} {flag} {value}: {shards} shards differ", path.display());
            }
        }
    }
}

#[test]
fn bad_values_and_time_bar_options_are_refused_naming_the_option() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    let p = f.to_str().expect("utf8");
    for (args, names) in [
        (vec!["--tick-bars", "0"], "--tick-bars"),
        (vec!["--tick-bars", "x"], "--tick-bars"),
        (vec!["--volume-bars", "0"], "--volume-bars"),
        (vec!["--volume-bars", "-1"], "--volume-bars"),
        (vec!["--volume-bars", "1e3"], "--volume-bars"),
        (vec!["--tick-bars", "5", "--volume-bars", "5"], "--volume-bars"),
        (vec!["--tick-bars", "5", "--bars", "1m"], "--bars"),
        (vec!["--volume-bars", "5", "--late", "side"], "--late"),
        (vec!["--tick-bars", "5", "--empty-bars", "flat"], "--empty-bars"),
    ] {
        let mut all = args.clone();
        all.push(p);
        let o = replay(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: the message does not name {names}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: wrote output");
    }
}
