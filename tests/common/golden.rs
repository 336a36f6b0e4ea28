//! An independent computation of OHLCV bars straight from capture text: its own parsing,
//! integer arithmetic and formatting, no ticklane code. The golden reference for the
//! example, operator and (later) CLI tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Decimal text → nano-units, by string surgery.
fn nanos(s: &str) -> i128 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<9}");
    int.parse::<i128>().expect("int") * 1_000_000_000 + frac[..9].parse::<i128>().expect("frac")
}

fn text(n: i128) -> String {
    let s = format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

struct Acc {
    end: i64,
    open: i128,
    high: i128,
    low: i128,
    close: i128,
    volume: i128,
    count: u64,
    notional: i128,
}

/// design.md §5 CSV rows (no header) of `width_s` bars over `files`, merged by `ts_event`
/// (ties in file order), in `(window_end, instrument)` order.
pub fn oracle(files: &[PathBuf], width_s: i64) -> Vec<String> {
    // (ts_event ns, file index, row index, instrument, price, size)
    let mut trades = Vec::new();
    for (fi, path) in files.iter().enumerate() {
        let body = std::fs::read_to_string(path).expect("read");
        let mut lines = body.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let at = |n: &str| header.iter().position(|h| *h == n).expect("column");
        for (ri, line) in lines.enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            let (ts, inst, px, sz) = if header.contains(&"local_timestamp") {
                let ts = f[at("timestamp")].parse::<i64>().expect("ts") * 1000;
                (ts, format!("{}:{}", f[at("exchange")], f[at("symbol")]), f[at("price")], f[at("amount")])
            } else {
                (
                    f[at("ts_event")].parse::<i64>().expect("ts"),
                    f[at("instrument")].to_string(),
                    f[at("price")],
                    f[at("size")],
                )
            };
            trades.push((ts, fi, ri, inst, nanos(px), nanos(sz)));
        }
    }
    trades.sort_by_key(|t| (t.0, t.1, t.2));
    let w = width_s * 1_000_000_000;
    let mut bars: BTreeMap<(i64, String), Acc> = BTreeMap::new();
    for (ts, _, _, inst, px, sz) in trades {
        let start = ts - ts.rem_euclid(w);
        let a = bars.entry((start, inst)).or_insert(Acc {
            end: start + w,
            open: px,
            high: px,
            low: px,
            close: px,
            volume: 0,
            count: 0,
            notional: 0,
        });
        a.high = a.high.max(px);
        a.low = a.low.min(px);
        a.close = px;
        a.volume += sz;
        a.count += 1;
        a.notional += px * sz;
    }
    let mut rows: Vec<(i64, String, String)> = bars
        .into_iter()
        .map(|((start, inst), a)| {
            let vwap = (2 * a.notional + a.volume) / (2 * a.volume); // round half up (positive)
            let row = format!(
                "{inst},{start},{},{},{},{},{},{},{},{},0",
                a.end,
                text(a.open),
                text(a.high),
                text(a.low),
                text(a.close),
                text(a.volume),
                a.count,
                text(vwap)
            );
            (a.end, inst, row)
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|r| r.2).collect()
}
