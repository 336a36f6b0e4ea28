//! Operators, ns/event, beside a hand-written single-threaded loop doing the same job
//! (`ticklane_bench::hand`), in the same run: dedupe alone, 1 s time bars alone, and the fused
//! dedupe → 1 s bars slice a shard runs. 1M trades over 1,000 instruments, 10 µs apart (10 s of
//! event time, ~10 bars per instrument), 1% exact duplicates, in batches of 256 with one `dyn`
//! call per batch per operator as on a shard. Setup (outside the timed loop) checks that both
//! sides produce the same bars.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use ticklane::operators::{Dedupe, DedupeConfig, TimeBars, TimeBarsConfig};
use ticklane::{Bar, Stamped, Trade, Transform, WM_END};
use ticklane_bench::{hand, stamped_with_duplicates};

const N: usize = 1_000_000;
const BATCH: usize = 256;
const SECOND: i64 = 1_000_000_000;
const TTL: i64 = 10 * SECOND;

fn engine_dedupe_bars(input: &[Stamped<Trade>], dedupe_on: bool, bars_on: bool) -> (usize, usize) {
    let mut d: Box<dyn Transform<Trade, Trade>> = Box::new(Dedupe::new(DedupeConfig::default()));
    let mut b = TimeBars::new(TimeBarsConfig::new(Duration::from_secs(1)).expect("width"));
    let mut mid = Vec::with_capacity(BATCH);
    let mut bars = Vec::with_capacity(4096);
    let (mut passed, mut emitted) = (0, 0);
    for chunk in input.chunks(BATCH) {
        mid.clear();
        let slice = if dedupe_on {
            d.on_batch(chunk, &mut mid);
            &mid[..]
        } else {
            chunk
        };
        passed += slice.len();
        if bars_on {
            b.process(slice, &mut bars, None);
            emitted += bars.len();
            bars.clear();
        }
    }
    if bars_on {
        b.watermark(WM_END, &mut bars);
        emitted += bars.len();
    }
    (passed, emitted)
}

fn hand_dedupe_bars(input: &[Stamped<Trade>], dedupe_on: bool, bars_on: bool) -> (usize, usize) {
    let mut d = hand::Dedupe::new(TTL);
    let mut b = hand::Bars::new(SECOND);
    let mut bars: Vec<Stamped<Bar>> = Vec::with_capacity(4096);
    let (mut passed, mut emitted) = (0, 0);
    for t in input {
        if dedupe_on && !d.admit(&t.rec, t.wm) {
            continue;
        }
        passed += 1;
        if bars_on {
            b.add(&t.rec, &mut bars);
            if bars.len() >= 4096 {
                emitted += bars.len();
                bars.clear();
            }
        }
    }
    if bars_on {
        b.flush(&mut bars);
        emitted += bars.len();
    }
    (passed, emitted)
}

fn operators(c: &mut Criterion) {
    let input = stamped_with_duplicates(N, 1000, 10_000);
    for (name, dd, bb) in [("dedupe", true, false), ("time_bars_1s", false, true), ("dedupe_bars_1s", true, true)] {
        // Same job, same answer: checked before timing.
        assert_eq!(engine_dedupe_bars(&input, dd, bb), hand_dedupe_bars(&input, dd, bb), "{name}: outputs differ");
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(N as u64));
        g.sample_size(20);
        g.bench_function("hand_written", |b| b.iter(|| hand_dedupe_bars(&input, dd, bb)));
        g.bench_function("ticklane", |b| b.iter(|| engine_dedupe_bars(&input, dd, bb)));
        g.finish();
    }
}

criterion_group!(benches, operators);
criterion_main!(benches);
