//! Ingress routing: one producer pushing trades over 1,000 instruments one by one into 2
//! shards (hash partition, per-shard batches of 256, rings of 64, counting sinks), against a
//! hand-written router doing the same over raw crossbeam (`RawRouter`: a precomputed
//! instrument → shard table, per-shard batches, buffer recycling). Both run three busy
//! threads on this 2-core machine (producer + two consumers), so the figures are a ratio
//! measured under the same oversubscription, not an absolute ceiling.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ticklane_bench::{synthetic_trades, EnginePipeline, RawRouter};

const N: usize = 1_000_000;

fn routing(c: &mut Criterion) {
    let trades = synthetic_trades(N, 1000);
    ticklane_bench::cores(); // read the core list before anything is pinned
    let mut g = c.benchmark_group("ingress_routing_2_shards");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    let mut raw = RawRouter::start(2, 64, 256, 1000);
    g.bench_function("hand_written", |b| b.iter(|| raw.run(&trades)));
    drop(raw);
    let mut engine = EnginePipeline::start(2, 64, 256, 1000, false);
    g.bench_function("engine", |b| b.iter(|| engine.run(&trades, N as u64)));
    g.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
