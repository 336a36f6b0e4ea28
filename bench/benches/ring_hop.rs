//! One ring hop, batched: a producer thread hands trades to one consumer thread, which counts
//! them (the hop itself: the consumer does not read the records).
//!
//! - `raw_crossbeam`: the hop written by hand over a bounded crossbeam channel of `Vec`
//!   batches with buffer recycling (`ticklane_bench::RawPipeline`): a tight copy loop per batch.
//! - `engine_push_all`: `Ingress::push_all` → ring → shard → callback sink (no operator),
//!   1 shard: instruments checked, every record stamped with the watermark before it.
//! - `engine_push`: the same with one `Ingress::push` per record.
//!
//! Same batch size (256) and ring capacity (64 batches) for all. The input is 4,096 trades
//! (224 KiB, cache-resident) sent 244 times over per iteration (999,424 trades), so the
//! figures measure the hop, not the memory bus reading a large input.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ticklane_bench::{pin_producer, synthetic_trades, EnginePipeline, RawPipeline};

const INPUT: usize = 4096;
const REPS: usize = 244;
const N: u64 = (INPUT * REPS) as u64;

fn ring_hop(c: &mut Criterion) {
    let trades = synthetic_trades(INPUT, 64);
    ticklane_bench::cores(); // read the core list before pinning anything
    pin_producer();
    let mut g = c.benchmark_group("ring_hop");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    let mut raw = RawPipeline::start(64, 256, |i, _| i.len());
    g.bench_function("raw_crossbeam", |b| b.iter(|| raw.run_repeated(&trades, REPS, N)));
    drop(raw);
    let mut engine = EnginePipeline::start(1, ticklane::Config::default().ring_capacity(), 256, 64, false);
    g.bench_function("engine_push_all", |b| b.iter(|| engine.run_batched(&trades, REPS, N)));
    let all: Vec<_> = (0..REPS).flat_map(|_| trades.iter().copied()).collect();
    g.bench_function("engine_push", |b| b.iter(|| engine.run(&all, N)));
    g.finish();
}

criterion_group!(benches, ring_hop);
criterion_main!(benches);
