//! Late quotes to a side output through the real binary (design.md §2, §3): `--late side
//! --late-out FILE` writes every late quote as ticklane quotes CSV (which the replay reads
//! again) and the quote bars hold exactly the others; under `--late revise` the file takes
//! those beyond the horizon. Checked against the lateness rule applied here to the raw lines,
//! at 1 and 2 shards; an input with trades and quotes needs `{kind}` in `--late-out`.

mod common;

use common::quote_oracle::{dec, quote_bars, text, Q, SECOND};
use common::{data, replay, run, s, tmp};

const HEADER: &str = "ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz,ts_recv";

/// A disordered one-instrument quote capture (trades of `ticklane gen` up to 3 s out of order
/// made into quotes: bid at the price, ask 0.05 above, every fifth quote ask only; numbers
/// written as ticklane writes them, without trailing zeros): its lines
/// and the quotes they hold (`tag` names its files: tests run side by side).
fn capture(tag: &str) -> (std::path::PathBuf, Vec<(String, Q)>) {
    let trades = tmp(&format!("{tag}_trades.csv"));
    let args = ["gen", "--rows", "20000", "--instruments", "1", "--disorder", "3s", "--out", s(&trades)];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let body = std::fs::read_to_string(&trades).expect("trades");
    let mut lines = Vec::new();
    for (k, l) in body.lines().skip(1).enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        let (ts, recv) = (f[0].parse::<i64>().expect("ts"), f[1].parse::<i64>().expect("recv"));
        let (bid, ask, size) = ((k % 5 != 0).then(|| dec(f[3])), dec(f[3]) + 50_000_000, text(dec(f[4])));
        let (bid_text, bid_size) = bid.map_or((String::new(), ""), |b| (text(b), size.as_str()));
        let line = format!("{ts},{},{bid_text},{bid_size},{},{size},{recv}", f[2], text(ask));
        lines.push((line, (ts, recv, bid, Some(ask))));
    }
    let path = tmp(&format!("{tag}_quotes.csv"));
    let file: Vec<&str> = std::iter::once(HEADER).chain(lines.iter().map(|l| l.0.as_str())).collect();
    std::fs::write(&path, file.join("\n") + "\n").expect("write");
    (path, lines)
}

/// Per quote, in file order: `(late, beyond the horizon)` for 1 s windows, judged against the
/// watermark before it (the largest `ts_event` so far less `delay`).
fn lateness(lines: &[(String, Q)], delay: i64, allowed: i64) -> Vec<(bool, bool)> {
    let mut max = i64::MIN;
    lines
        .iter()
        .map(|(_, q)| {
            let wm = max.saturating_sub(delay);
            max = max.max(q.0);
            let end = q.0.div_euclid(SECOND) * SECOND + SECOND;
            (end <= wm, end + allowed <= wm)
        })
        .collect()
}

/// The file a run should write: the header, then the lines picked, in file order.
fn file_of<'a>(lines: impl Iterator<Item = &'a (String, Q)>) -> String {
    std::iter::once(HEADER.to_string()).chain(lines.map(|l| l.0.clone())).map(|l| l + "\n").collect()
}

fn summary(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary")).expect("json")
}

#[test]
fn late_quotes_go_to_the_side_file_and_the_bars_hold_the_rest() {
    let (file, lines) = capture("side");
    let judged = lateness(&lines, SECOND, 0);
    let late: Vec<&(String, Q)> = lines.iter().zip(&judged).filter(|(_, j)| j.0).map(|(l, _)| l).collect();
    let on_time: Vec<Q> = lines.iter().zip(&judged).filter(|(_, j)| !j.0).map(|(l, _)| l.1).collect();
    assert!(late.len() > 100 && on_time.len() > 10_000, "{} late: the capture makes late quotes", late.len());
    let instrument = lines[0].0.split(',').nth(1).expect("instrument");
    for shards in ["1", "2"] {
        let (side, bars, sum) = (tmp(&format!("late{shards}.csv")), tmp("bars.csv"), tmp("late.json"));
        let args = ["--late", "side", "--late-out", s(&side), "--max-delay", "1s", "--shards", shards];
        let o = replay(&[&args[..], &["--out", s(&bars), "--summary", s(&sum), s(&file)]].concat());
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(std::fs::read_to_string(&side).expect("side") == file_of(late.iter().copied()), "{shards}: side file");
        assert!(std::fs::read_to_string(&bars).expect("bars") == quote_bars(instrument, &on_time), "{shards}: bars");
        let q = &summary(&sum)["quotes"]["late"];
        let n = Some(late.len() as u64);
        assert_eq!((q["total"].as_u64(), q["side"].as_u64(), q["written_to_side_output"].as_u64()), (n, n, n));
        // The side file is a capture of its own: the replay reads it back, every quote.
        let o = replay(&["--summary", s(&sum), "--out", s(&bars), s(&side)]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(summary(&sum)["quotes"]["quotes_accepted"].as_u64(), n);
    }
}

#[test]
fn under_revise_the_side_file_takes_the_quotes_beyond_the_horizon() {
    let (file, lines) = capture("revise");
    let judged = lateness(&lines, 0, SECOND);
    let beyond: Vec<&(String, Q)> = lines.iter().zip(&judged).filter(|(_, j)| j.1).map(|(l, _)| l).collect();
    let late = judged.iter().filter(|j| j.0).count();
    assert!(!beyond.is_empty() && late > beyond.len(), "some quotes revise, some are beyond the horizon");
    let (side, sum) = (tmp("beyond.csv"), tmp("beyond.json"));
    let args = ["--late", "revise", "--allowed-lateness", "1s", "--late-out", s(&side), "--summary", s(&sum)];
    let o = replay(&[&args[..], &["--out", s(&tmp("revised.csv")), s(&file)]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&side).expect("side") == file_of(beyond.iter().copied()), "side file");
    let q = &summary(&sum)["quotes"]["late"];
    let counts = [q["total"].as_u64(), q["revised"].as_u64(), q["side"].as_u64()];
    assert_eq!(counts, [Some(late as u64), Some((late - beyond.len()) as u64), Some(beyond.len() as u64)]);
}

#[test]
fn trades_and_quotes_are_late_apart() {
    let cap = data("binance_spot_btcusdt_20240808.stream.gz");
    let out = tmp("bn_{kind}.csv");
    let o = replay(&["--late", "side", "--late-out", s(&tmp("late.csv")), "--out", s(&out), s(&cap)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--late-out: the input holds trades and quotes"));
    let late = tmp("late_{kind}.csv");
    let o = replay(&["--bars", "10ms", "--late", "side", "--late-out", s(&late), "--out", s(&out), s(&cap)]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |kind: &str| std::fs::read_to_string(s(&late).replace("{kind}", kind)).expect("late file");
    assert!(read("trades").starts_with("ts_event,ts_recv,instrument,price,size,side,trade_id\n"));
    assert!(read("quotes").starts_with(HEADER));
}
