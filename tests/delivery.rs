//! Exactly-once delivery through drain, and backpressure that blocks instead of dropping.

mod common;

use common::{seq_trade, watchdog};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use ticklane::{Config, DagBuilder, Engine, InstrumentId, Kind, PushError, Stamped, Trade};

/// feed → identity operator → callback sink that reports `(instrument, seq)` per record.
fn passthrough(tx: crossbeam_channel::Sender<(u32, u64)>) -> ticklane::Dag {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .transform::<Trade, Trade, _, _>("identity", |_| {
            |i: &[Stamped<Trade>], o: &mut Vec<Stamped<Trade>>| o.extend_from_slice(i)
        })
        .sink_shard::<Trade, _, _>("collect", move |_| {
            let tx = tx.clone();
            move |b: &[Stamped<Trade>]| {
                for t in b {
                    let _ = tx.send((t.rec.instrument.0, t.rec.size.raw() as u64));
                }
            }
        })
        .connect("feed", "identity")
        .connect("identity", "collect");
    g.build().expect("valid graph")
}

fn exactly_once(shards: usize, ring: usize) {
    const INSTRUMENTS: u32 = 13;
    const PER: u64 = 300;
    let (tx, rx) = crossbeam_channel::unbounded();
    let cfg =
        Config::builder().shards(shards).ring_capacity(ring).batch_size(7).flush_every(50).build().expect("config");
    let mut engine = Engine::start(passthrough(tx), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let ids: Vec<InstrumentId> = (0..INSTRUMENTS).map(|i| feed.intern(&format!("SYM{i}")).expect("intern")).collect();
    let producer = std::thread::spawn(move || {
        let mut ts = 0;
        for seq in 0..PER {
            for &id in &ids {
                ts += 1;
                feed.push(seq_trade(id, ts, seq)).expect("push");
            }
        }
        feed.finish().expect("finish");
    });
    producer.join().expect("producer");
    let report = engine.join().expect("clean run");

    let mut seen: HashMap<u32, Vec<u64>> = HashMap::new();
    for (inst, seq) in rx.try_iter() {
        seen.entry(inst).or_default().push(seq);
    }
    assert_eq!(seen.len(), INSTRUMENTS as usize, "shards={shards} ring={ring}");
    let want: Vec<u64> = (0..PER).collect();
    for (inst, seqs) in &seen {
        // Complete, no repeats, and in ingress order per instrument.
        assert_eq!(seqs, &want, "instrument {inst}, shards={shards} ring={ring}");
    }
    let total = u64::from(INSTRUMENTS) * PER;
    let src = &report.stats.sources[0];
    assert_eq!((src.pushed, src.rejected), (total, 0));
    for node in &report.stats.nodes {
        assert_eq!(node.total_in(), total, "node {} shards={shards} ring={ring}", node.name);
    }
}

#[test]
fn every_event_is_delivered_exactly_once_across_shards_and_ring_sizes() {
    watchdog(Duration::from_secs(120), || {
        for shards in [1, 2, 3, 8] {
            for ring in [1, 64, 4096] {
                exactly_once(shards, ring);
            }
        }
    });
}

#[test]
fn a_slow_sink_blocks_the_producer_and_nothing_is_dropped() {
    const N: u64 = 600;
    const SHARDS: u64 = 2;
    const RING: u64 = 1;
    const BATCH: u64 = 8;
    // Records that can be anywhere between `push` returning and the sink: per shard the
    // ingress buffer, a full ring, the batch being processed, plus one blocked send.
    const BOUND: u64 = SHARDS * BATCH * (RING + 2) + BATCH;

    let pushed = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let worst = Arc::new(AtomicU64::new(0));
    let mut g = DagBuilder::new();
    let (p, d, w) = (pushed.clone(), delivered.clone(), worst.clone());
    g.source("feed", Kind::Trade)
        .sink_shard::<Trade, _, _>("slow", move |_| {
            let (p, d, w) = (p.clone(), d.clone(), w.clone());
            move |b: &[Stamped<Trade>]| {
                std::thread::sleep(Duration::from_millis(3));
                let before = d.load(SeqCst);
                w.fetch_max(p.load(SeqCst).saturating_sub(before), SeqCst);
                d.fetch_add(b.len() as u64, SeqCst);
            }
        })
        .connect("feed", "slow");
    let cfg = Config::builder()
        .shards(SHARDS as usize)
        .ring_capacity(RING as usize)
        .batch_size(BATCH as usize)
        .flush_every(BATCH as usize)
        .build()
        .expect("config");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let ids: Vec<InstrumentId> = (0..8).map(|i| feed.intern(&format!("S{i}")).expect("intern")).collect();
    let report = watchdog(Duration::from_secs(60), move || {
        for seq in 0..N {
            feed.push(seq_trade(ids[(seq % 8) as usize], seq as i64, seq)).expect("push");
            pushed.fetch_add(1, SeqCst);
        }
        feed.finish().expect("finish");
        engine.join().expect("clean run")
    });
    assert_eq!(delivered.load(SeqCst), N, "every record delivered");
    let worst = worst.load(SeqCst);
    assert!(worst <= BOUND, "in flight reached {worst} > bound {BOUND}: memory not bounded by the rings");
    let waited: u64 = report.stats.shards.iter().map(|s| s.backpressure_wait_ns).sum();
    assert!(waited > 0, "the producer never blocked on a full ring");
    assert_eq!(report.stats.sources[0].rejected, 0);
}

#[test]
fn graceful_stop_drains_what_was_sent_and_refuses_the_rest() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let cfg = Config::builder().shards(2).batch_size(4).build().expect("config");
    let mut engine = Engine::start(passthrough(tx), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let id = feed.intern("X").expect("intern");
    for seq in 0..10 {
        feed.push(seq_trade(id, seq as i64, seq)).expect("push");
    }
    feed.flush().expect("flush");
    let report = watchdog(Duration::from_secs(30), move || engine.stop().expect("stop"));
    assert!(!report.aborted);
    assert_eq!(rx.try_iter().count(), 10, "everything flushed before stop is delivered");
    // Latency first: a push sends at once, so after the stop it is refused at once.
    let e = feed.push(seq_trade(id, 11, 11)).expect_err("push after stop must be refused");
    assert_eq!(e, PushError::Stopped { unsent: 1 });
    let e = feed.push_all(&[seq_trade(id, 12, 12), seq_trade(id, 13, 13)]).expect_err("and push_all");
    assert_eq!(e, PushError::Stopped { unsent: 2 });
    assert_eq!(feed.finish(), Err(PushError::Stopped { unsent: 0 }), "finishing loses nothing more");
}

#[test]
fn abort_returns_promptly_and_unblocks_producers() {
    let (tx, _rx) = crossbeam_channel::unbounded();
    let cfg = Config::builder().shards(2).ring_capacity(1).batch_size(1).build().expect("config");
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .sink_shard::<Trade, _, _>("stuck", move |_| {
            let tx = tx.clone();
            move |_: &[Stamped<Trade>]| {
                std::thread::sleep(Duration::from_millis(20));
                let _ = tx.send(());
            }
        })
        .connect("feed", "stuck");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let id = feed.intern("X").expect("intern");
    let producer = std::thread::spawn(move || {
        for seq in 0..100_000u64 {
            if let Err(e) = feed.push(seq_trade(id, seq as i64, seq)) {
                return Some(e);
            }
        }
        None
    });
    std::thread::sleep(Duration::from_millis(50));
    let report = watchdog(Duration::from_secs(30), move || engine.abort().expect("abort is not an error"));
    assert!(report.aborted);
    let err = watchdog(Duration::from_secs(30), move || producer.join().expect("producer"));
    assert!(matches!(err, Some(PushError::ShardGone { .. })), "{err:?}");
}
