//! A 1-shard pass-through DAG: feed → identity operator → sink, against a hand-written
//! two-thread pipeline doing the same copy over raw crossbeam.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ticklane_bench::{pin_producer, synthetic_trades, EnginePipeline, RawPipeline};

const N: usize = 1_000_000;

fn passthrough(c: &mut Criterion) {
    let trades = synthetic_trades(N, 1000);
    ticklane_bench::cores(); // read the core list before pinning anything
    pin_producer();
    let mut g = c.benchmark_group("passthrough_1_shard");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    let mut raw = RawPipeline::start(64, 256, |i, o| {
        o.extend_from_slice(i);
        o.len()
    });
    g.bench_function("hand_written", |b| b.iter(|| raw.run(&trades, N as u64)));
    drop(raw);
    let mut engine = EnginePipeline::start(1, 64, 256, 1000, true);
    // Both producers hand over whole slices (the hand-written one fills each batch with one
    // `extend`), so the engine's is `push_all`.
    g.bench_function("engine", |b| b.iter(|| engine.run_batched(&trades, 1, N as u64)));
    g.finish();
}

criterion_group!(benches, passthrough);
criterion_main!(benches);
