//! Operators, ns/event, beside a hand-written single-threaded loop doing the same job
//! (`ticklane_bench::hand`'s bars; the operator's dedupe table called directly), in the same
//! run: dedupe alone, 1 s time bars alone, and the fused dedupe → 1 s bars slice a shard runs.
//! 1M trades over 1,000 instruments, 10 µs apart (10 s of event time, ~10 bars per
//! instrument), 1% exact duplicates, in batches of 256 with one `dyn` call per batch per
//! operator as on a shard. Setup (outside the timed loop) checks that both sides produce the
//! same bars.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use ticklane::operators::{
    BarSize, CountBars, Dedupe, DedupeConfig, FnMask, Router, Throttle, ThrottleConfig, TimeBars, TimeBarsConfig,
};
use ticklane::{Bar, Stamped, Trade, Transform, WM_END};
use ticklane_bench::{hand, stamped_with_duplicates};

const N: usize = 1_000_000;
const BATCH: usize = 256;
const SECOND: i64 = 1_000_000_000;

fn engine_dedupe_bars(input: &[Stamped<Trade>], dedupe_on: bool, bars_on: bool) -> (usize, usize) {
    let mut d: Box<dyn Transform<Trade, Trade>> = Box::new(Dedupe::new(DedupeConfig::default()));
    let mut b = TimeBars::new(TimeBarsConfig::builder(Duration::from_secs(1)).build().expect("width"));
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
    // The dedupe half is the operator's own table called directly, in slices, without an
    // engine or a `dyn` call: the fastest single-threaded dedupe we have (the classic two
    // generations of hashbrown maps, `hand::Dedupe` until 2026-12-04, took ~17% longer).
    let mut d = Dedupe::new(DedupeConfig::default());
    let mut b = hand::Bars::new(SECOND);
    let mut kept = Vec::with_capacity(BATCH);
    let mut bars: Vec<Stamped<Bar>> = Vec::with_capacity(4096);
    let (mut passed, mut emitted) = (0, 0);
    for chunk in input.chunks(BATCH) {
        let slice = if dedupe_on {
            kept.clear();
            Transform::on_batch(&mut d, chunk, &mut kept);
            &kept[..]
        } else {
            chunk
        };
        passed += slice.len();
        if !bars_on {
            continue;
        }
        for t in slice {
            b.add(&t.rec, &mut bars);
        }
        if bars.len() >= 4096 {
            emitted += bars.len();
            bars.clear();
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

/// Runs `op` over `input` in batches of `BATCH`, one `dyn` call per batch as on a shard;
/// returns how many records it emitted.
fn through<O: ticklane::Record>(op: &mut dyn Transform<Trade, O>, input: &[Stamped<Trade>]) -> usize {
    let mut out = Vec::with_capacity(BATCH);
    let mut n = 0;
    for chunk in input.chunks(BATCH) {
        out.clear();
        op.on_batch(chunk, &mut out);
        n += out.len();
    }
    n
}

/// Throttle (drop, 5 per instrument per 100 ms), tick bars (every 10 trades) and a 2-way
/// router by instrument id parity, each beside the obvious hand-written loop; outputs are
/// compared before timing.
fn more_operators(c: &mut Criterion) {
    let input = stamped_with_duplicates(N, 1000, 10_000);
    let interval = 100_000_000i64;

    let engine_throttle = |input: &[Stamped<Trade>]| {
        let cfg = ThrottleConfig::builder(5, Duration::from_nanos(interval as u64)).build().expect("cfg");
        through::<Trade>(&mut Throttle::new(cfg), input)
    };
    let hand_throttle = |input: &[Stamped<Trade>]| {
        let mut slots: Vec<(i64, u32)> = vec![(i64::MIN, 0); 1000];
        let mut out = Vec::with_capacity(BATCH);
        let mut n = 0;
        for chunk in input.chunks(BATCH) {
            out.clear();
            for t in chunk {
                let s = &mut slots[t.rec.instrument.0 as usize];
                let start = t.rec.ts_event.div_euclid(interval) * interval;
                if start > s.0 {
                    *s = (start, 0);
                }
                if s.1 < 5 {
                    s.1 += 1;
                    out.push(*t);
                }
            }
            n += out.len();
        }
        n
    };
    let engine_ticks =
        |input: &[Stamped<Trade>]| through::<Bar>(&mut CountBars::new(BarSize::ticks(10).expect("n")), input);
    let hand_ticks = |input: &[Stamped<Trade>]| {
        // count, first ts, open, high, low, close, volume, notional
        type Acc = (u64, i64, i64, i64, i64, i64, i128, i128);
        let mut acc: Vec<Acc> = vec![(0, 0, 0, 0, 0, 0, 0, 0); 1000];
        let mut out: Vec<Stamped<Bar>> = Vec::with_capacity(BATCH);
        let mut n = 0;
        for chunk in input.chunks(BATCH) {
            out.clear();
            for t in chunk {
                let i = t.rec.instrument.0 as usize;
                let a = &mut acc[i];
                let (px, sz) = (t.rec.price.raw(), i128::from(t.rec.size.raw()));
                if a.0 == 0 {
                    *a = (0, t.rec.ts_event, px, px, px, px, 0, 0);
                }
                a.0 += 1;
                a.3 = a.3.max(px);
                a.4 = a.4.min(px);
                a.5 = px;
                a.6 += sz;
                a.7 += i128::from(px) * sz;
                if a.0 == 10 {
                    let rec = Bar {
                        instrument: t.rec.instrument,
                        window_start: a.1,
                        window_end: t.rec.ts_event,
                        open: ticklane::Fixed::from_raw(a.2),
                        high: ticklane::Fixed::from_raw(a.3),
                        low: ticklane::Fixed::from_raw(a.4),
                        close: ticklane::Fixed::from_raw(a.5),
                        volume: ticklane::Wide::from_raw(a.6),
                        trade_count: 10,
                        vwap: ticklane::Fixed::from_raw((a.7 / a.6.max(1)) as i64),
                        ..Bar::default()
                    };
                    out.push(Stamped { wm: t.wm, rec });
                    a.0 = 0;
                }
            }
            n += out.len();
        }
        n
    };
    let engine_router = |input: &[Stamped<Trade>]| {
        let mut r = Router::new(FnMask(|t: &Trade| 1u64 << (t.instrument.0 & 1)), 2, false).expect("router");
        let mut outs = vec![Vec::with_capacity(BATCH), Vec::with_capacity(BATCH)];
        let mut n = 0;
        for chunk in input.chunks(BATCH) {
            outs.iter_mut().for_each(Vec::clear);
            r.route(chunk, &mut outs);
            n += outs[1].len();
        }
        n
    };
    let hand_router = |input: &[Stamped<Trade>]| {
        let (mut even, mut odd) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
        let mut n = 0;
        for chunk in input.chunks(BATCH) {
            even.clear();
            odd.clear();
            for t in chunk {
                if t.rec.instrument.0 & 1 == 0 {
                    even.push(*t)
                } else {
                    odd.push(*t)
                }
            }
            n += odd.len();
        }
        n
    };
    // Volume bars of 5 (size units): the hand-written loop splits overflowing trades too.
    let vol = 5 * ticklane::SCALE;
    let engine_volume = |input: &[Stamped<Trade>]| {
        let size = BarSize::volume(ticklane::Fixed::from_raw(vol)).expect("v");
        through::<Bar>(&mut CountBars::new(size), input)
    };
    let hand_volume = |input: &[Stamped<Trade>]| {
        // Per instrument: count, first ts, open, high, low, close, volume, notional.
        type Acc = (u64, i64, i64, i64, i64, i64, i64, i128);
        let mut acc: Vec<Acc> = vec![(0, 0, 0, 0, 0, 0, 0, 0); 1000];
        let mut out: Vec<Stamped<Bar>> = Vec::with_capacity(BATCH);
        let mut n = 0;
        for chunk in input.chunks(BATCH) {
            out.clear();
            for t in chunk {
                let a = &mut acc[t.rec.instrument.0 as usize];
                let (ts, px) = (t.rec.ts_event, t.rec.price.raw());
                let mut left = t.rec.size.raw();
                loop {
                    if a.0 == 0 {
                        *a = (0, ts, px, px, px, px, 0, 0);
                    }
                    let piece = left.min(vol - a.6);
                    a.0 += 1;
                    a.3 = a.3.max(px);
                    a.4 = a.4.min(px);
                    a.5 = px;
                    a.6 += piece;
                    a.7 += i128::from(px) * i128::from(piece);
                    left -= piece;
                    if a.6 < vol {
                        break;
                    }
                    let rec = Bar {
                        instrument: t.rec.instrument,
                        window_start: a.1,
                        window_end: ts,
                        open: ticklane::Fixed::from_raw(a.2),
                        high: ticklane::Fixed::from_raw(a.3),
                        low: ticklane::Fixed::from_raw(a.4),
                        close: ticklane::Fixed::from_raw(a.5),
                        volume: ticklane::Wide::from_raw(i128::from(a.6)),
                        trade_count: a.0,
                        vwap: ticklane::Fixed::from_raw((a.7 / i128::from(a.6)) as i64),
                        ..Bar::default()
                    };
                    out.push(Stamped { wm: t.wm, rec });
                    a.0 = 0;
                    if left == 0 {
                        break;
                    }
                }
            }
            n += out.len();
        }
        n
    };
    let engine_filter = |input: &[Stamped<Trade>]| {
        through::<Trade>(&mut ticklane::operators::Filter::new(|t: &Trade| t.size.raw() >= 2 * ticklane::SCALE), input)
    };
    let hand_filter = |input: &[Stamped<Trade>]| {
        let mut out: Vec<Stamped<Trade>> = Vec::with_capacity(BATCH);
        let mut n = 0;
        for chunk in input.chunks(BATCH) {
            out.clear();
            out.extend(chunk.iter().filter(|t| t.rec.size.raw() >= 2 * ticklane::SCALE));
            n += out.len();
        }
        n
    };
    type Job<'a> = &'a dyn Fn(&[Stamped<Trade>]) -> usize;
    let jobs: [(&str, Job<'_>, Job<'_>); 5] = [
        ("throttle_5_per_100ms", &hand_throttle, &engine_throttle),
        ("tick_bars_10", &hand_ticks, &engine_ticks),
        ("volume_bars_5", &hand_volume, &engine_volume),
        ("router_2_way", &hand_router, &engine_router),
        ("filter", &hand_filter, &engine_filter),
    ];
    for (name, hand_job, engine_job) in jobs {
        assert_eq!(hand_job(&input), engine_job(&input), "{name}: outputs differ");
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(N as u64));
        g.sample_size(20);
        g.bench_function("hand_written", |b| b.iter(|| hand_job(&input)));
        g.bench_function("ticklane", |b| b.iter(|| engine_job(&input)));
        g.finish();
    }
}

criterion_group!(benches, operators, more_operators);
criterion_main!(benches);
