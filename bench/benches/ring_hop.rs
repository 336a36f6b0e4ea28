//! One ring hop, batched: a producer thread hands trades to one consumer thread.
//!
//! - `engine`: `Ingress::push` → ring → shard → callback sink (no operator), 1 shard.
//! - `raw_crossbeam`: the same shape written by hand over a bounded crossbeam channel of
//!   `Vec` batches with buffer recycling (`ticklane_bench::RawPipeline`).
//!
//! Same batch size (256) and ring capacity (64 batches) for both, 1M trades per iteration.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ticklane_bench::{pin_producer, synthetic_trades, EnginePipeline, RawPipeline};

const N: usize = 1_000_000;

fn ring_hop(c: &mut Criterion) {
    let trades = synthetic_trades(N, 64);
    ticklane_bench::cores(); // read the core list before pinning anything
    pin_producer();
    let mut g = c.benchmark_group("ring_hop");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    let mut raw = RawPipeline::start(64, 256, |i, o| o.extend_from_slice(i));
    g.bench_function("raw_crossbeam", |b| b.iter(|| raw.run(&trades, N as u64)));
    drop(raw);
    let mut engine = EnginePipeline::start(1, 64, 256, 64, false);
    g.bench_function("engine", |b| b.iter(|| engine.run(&trades, N as u64)));
    g.finish();
}

criterion_group!(benches, ring_hop);
criterion_main!(benches);
