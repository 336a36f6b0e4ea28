//! Capture readers, records per second: the CLI's ticklane-CSV reader (`input::open`, typed
//! errors with file:line, any column order, RFC 3339 or integer times, interned symbols) beside
//! a plain hand-written CSV loop that knows the column order and reports nothing; and its DBN
//! reader (symbology, trades and MBP-1, conversion to `Trade`) beside a bare `dbn` decode loop
//! over `TradeMsg`. 500,000 trades over 1,000 instruments from `ticklane gen`; the files are
//! written once, outside the timed loop, and read from the page cache.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;
use ticklane_tools::gen::{self, GenArgs, GenFormat, GenNames};
use ticklane_tools::input::{self, Format};

const ROWS: u64 = 500_000;

fn capture(format: GenFormat, ext: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!("ticklane-bench-readers-{}.{ext}", std::process::id()));
    let args = GenArgs {
        out: out.clone(),
        rows: ROWS,
        instruments: 1000,
        seed: 7,
        dup_fraction: 0.0,
        disorder: Duration::ZERO,
        spacing: Duration::from_micros(100),
        format,
        names: GenNames::Short,
    };
    gen::run(&args).expect("generate the capture");
    out
}

/// The ticklane reader: every record, summing prices so nothing is optimized away.
fn ticklane_reader(path: &Path, format: Format) -> (u64, i64) {
    let mut src = input::open(path, &input::ReadOptions::new(format)).expect("open");
    let (mut n, mut sum) = (0u64, 0i64);
    while let Some(r) = src.next() {
        let (_, t) = r.expect("valid capture");
        n += 1;
        sum = sum.wrapping_add(t.price.raw());
    }
    (n, sum)
}

/// Digits with an optional point, into 1e-9 units (no error reporting beyond `None`).
fn dec(b: &[u8]) -> i64 {
    let (mut v, mut frac, mut seen) = (0i64, 0u32, false);
    for &c in b {
        if c == b'.' {
            seen = true;
        } else {
            v = v * 10 + i64::from(c - b'0');
            frac += u32::from(seen);
        }
    }
    v * 10i64.pow(9 - frac.min(9))
}

/// The plain CSV loop: fixed column order `ts_event,ts_recv,instrument,price,size,side,trade_id`.
fn hand_csv(path: &Path) -> (u64, i64) {
    let f = std::fs::File::open(path).expect("open");
    let mut r = std::io::BufReader::with_capacity(1 << 16, f);
    let mut line = Vec::with_capacity(256);
    let mut ids: hashbrown::HashMap<Vec<u8>, u32, ahash::RandomState> = hashbrown::HashMap::default();
    let (mut n, mut sum) = (0u64, 0i64);
    r.read_until(b'\n', &mut line).expect("header");
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).expect("read") == 0 {
            break;
        }
        let mut f = line.trim_ascii_end().split(|&c| c == b',');
        let ts: i64 = std::str::from_utf8(f.next().unwrap_or_default()).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        let _recv = f.next();
        let sym = f.next().unwrap_or_default();
        let next = ids.len() as u32;
        let id = match ids.get(sym) {
            Some(&i) => i,
            None => *ids.entry(sym.to_vec()).or_insert(next),
        };
        let price = dec(f.next().unwrap_or_default());
        let size = dec(f.next().unwrap_or_default());
        n += 1;
        std::hint::black_box((ts, size, id));
        sum = sum.wrapping_add(price);
    }
    (n, sum)
}

/// The bare `dbn` loop over trade messages.
fn hand_dbn(path: &Path) -> (u64, i64) {
    use dbn::decode::{DbnDecoder, DecodeRecord};
    let mut d = DbnDecoder::from_file(path).expect("open");
    let (mut n, mut sum) = (0u64, 0i64);
    while let Some(t) = d.decode_record::<dbn::TradeMsg>().expect("valid capture") {
        n += 1;
        sum = sum.wrapping_add(t.price);
    }
    (n, sum)
}

fn readers(c: &mut Criterion) {
    let csv = capture(GenFormat::Csv, "csv");
    let dbn = capture(GenFormat::Dbn, "dbn");
    // Same records and prices from both readers of each format: checked before timing.
    assert_eq!(ticklane_reader(&csv, Format::Csv), hand_csv(&csv));
    assert_eq!(ticklane_reader(&dbn, Format::Dbn), hand_dbn(&dbn));

    let mut g = c.benchmark_group("read_csv");
    g.throughput(Throughput::Elements(ROWS));
    g.sample_size(10);
    g.bench_function("hand_written", |b| b.iter(|| hand_csv(&csv)));
    g.bench_function("ticklane", |b| b.iter(|| ticklane_reader(&csv, Format::Csv)));
    g.finish();

    let mut g = c.benchmark_group("read_dbn");
    g.throughput(Throughput::Elements(ROWS));
    g.sample_size(10);
    g.bench_function("dbn_crate_loop", |b| b.iter(|| hand_dbn(&dbn)));
    g.bench_function("ticklane", |b| b.iter(|| ticklane_reader(&dbn, Format::Dbn)));
    g.finish();
    let _ = std::fs::remove_file(csv);
    let _ = std::fs::remove_file(dbn);
}

criterion_group!(benches, readers);
criterion_main!(benches);
