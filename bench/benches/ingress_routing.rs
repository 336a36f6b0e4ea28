//! Ingress routing: one producer routing trades over 1,000 instruments into 2 shards (hash
//! partition, the default rings of 1,024 messages, counting sinks), against a hand-written router doing the same over
//! raw crossbeam (`RawRouter`: a precomputed instrument → shard table, per-shard batches of
//! 256, buffer recycling). `engine_push_all` hands the engine the same trades 256 at a time
//! (like for like with the router's batching); `engine_push` pushes them one by one, and since
//! `push` is latency first (each record sent at once unless its shard is behind) it pays a
//! ring message per record where the router batches. Three busy threads on this 2-core
//! machine (producer + two consumers): a ratio under the same oversubscription.
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
    let mut engine = EnginePipeline::start(2, ticklane::Config::default().ring_capacity(), 256, 1000, false);
    g.bench_function("engine_push_all", |b| b.iter(|| engine.run_chunks(&trades, 256)));
    g.bench_function("engine_push", |b| b.iter(|| engine.run(&trades, N as u64)));
    g.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
