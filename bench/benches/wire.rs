//! Ticks off a bus, ns per message: `wire::decode` of trades as `ticklane publish` writes them
//! (JSON and MessagePack; 100k trades of a synthetic capture, venue-style names), the work a
//! live link's thread does per message beside the client's own.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use ticklane_bench::synthetic_trades;
use ticklane_tools::wire::{decode, encode_trade, Tick, WireFormat};

fn wire(c: &mut Criterion) {
    let trades = synthetic_trades(100_000, 1000);
    let mut g = c.benchmark_group("wire_decode");
    g.throughput(Throughput::Elements(trades.len() as u64));
    for (name, format) in [("json", WireFormat::Json), ("msgpack", WireFormat::Msgpack)] {
        let messages: Vec<Vec<u8>> = trades
            .iter()
            .map(|t| {
                let mut buf = Vec::new();
                encode_trade(t, &format!("binance-futures:SYM{}", t.instrument.0), format, &mut buf);
                buf
            })
            .collect();
        assert!(messages.iter().all(|m| matches!(decode(m, format), Ok(Tick::Trade(..)))), "every message a trade");
        g.bench_function(name, |b| {
            b.iter(|| {
                for m in &messages {
                    if let Ok(Tick::Trade(t, name)) = decode(black_box(m), format) {
                        black_box((t.price, name.len()));
                    }
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
