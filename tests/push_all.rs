//! `Ingress::push_all` (the batched fast path) against one `push` per record, and both against
//! a model of the stamps: the same records in the same order on every shard, with the same
//! watermark stamp on each, at any shard count, batch size and flush cadence; an unknown
//! instrument stops both at the same record, and one interned elsewhere is learned on the way. (That `push` and `push_all` send at once is
//! `tests/latency_first.rs`.)

mod common;

use common::Rng;
use proptest::prelude::*;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use ticklane::{Config, DagBuilder, Engine, Fixed, InstrumentId, Kind, PushError, Stamped, Trade};

/// Per shard, the batches its sink saw: `(instrument, ts_event, stamp, index)` per record.
type Seen = Vec<Vec<Vec<(u32, i64, i64, i64)>>>;

struct Case {
    shards: usize,
    batch: usize,
    flush_every: usize,
    max_delay: u64,
    trades: Vec<Trade>,
    /// `push_all` call boundaries (lengths).
    chunks: Vec<usize>,
}

fn case(seed: u64) -> Case {
    let mut r = Rng(seed | 1);
    let n = 1 + r.below(400) as usize;
    let mut ts = 1_000i64;
    let trades = (0..n)
        .map(|i| {
            // Bounded disorder, repeats of a timestamp, and now and then an id never interned.
            ts += r.below(5) as i64;
            let jitter = r.below(4) as i64;
            let instrument = if r.below(300) == 0 { 999 } else { r.below(9) as u32 };
            Trade {
                ts_event: ts - jitter,
                price: Fixed::from_raw(i as i64),
                instrument: InstrumentId(instrument),
                ..Trade::default()
            }
        })
        .collect();
    let mut chunks = Vec::new();
    let mut left = n;
    while left > 0 {
        let c = (1 + r.below(60) as usize).min(left);
        chunks.push(c);
        left -= c;
    }
    Case {
        shards: 1 + r.below(3) as usize,
        batch: [1, 2, 3, 7, 64][r.below(5) as usize],
        flush_every: 1 + r.below(40) as usize,
        max_delay: r.below(3),
        trades,
        chunks,
    }
}

/// Runs the case through a fresh engine; `batched` uses `push_all` per chunk, otherwise one
/// `push` per record. Returns what the sinks saw and the first error.
fn run(c: &Case, batched: bool) -> (Seen, Option<PushError>) {
    let seen: Arc<Mutex<Seen>> = Arc::new(Mutex::new(vec![Vec::new(); c.shards]));
    let s2 = seen.clone();
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .sink_shard::<Trade, _, _>("collect", move |ctx| {
            let seen = s2.clone();
            let shard = ctx.shard;
            move |b: &[Stamped<Trade>]| {
                let batch = b.iter().map(|t| (t.rec.instrument.0, t.rec.ts_event, t.wm, t.rec.price.raw())).collect();
                seen.lock().expect("lock")[shard].push(batch);
            }
        })
        .connect("feed", "collect");
    let cfg = Config::builder()
        .shards(c.shards)
        .batch_size(c.batch)
        .flush_every(c.flush_every)
        .ring_capacity(4)
        .max_delay(Duration::from_nanos(c.max_delay))
        .build()
        .expect("config");
    let mut engine = Engine::start(g.build().expect("graph"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    // S6..S8 are interned by the engine, not by this ingress: it learns their shards on the
    // way (the cold path of push and push_all).
    for i in 0..9 {
        let name = format!("S{i}");
        let id =
            if i < 6 { feed.intern(&name).expect("intern") } else { engine.interner().intern(&name).expect("intern") };
        assert_eq!(id, InstrumentId(i));
    }
    let mut err = None;
    let mut at = 0;
    for &len in &c.chunks {
        let part = &c.trades[at..at + len];
        at += len;
        let r = if batched { feed.push_all(part) } else { part.iter().try_for_each(|&t| feed.push(t)) };
        if let Err(e) = r {
            err = Some(e);
            break;
        }
    }
    feed.finish().expect("finish");
    engine.join().expect("clean run");
    let out = seen.lock().expect("lock").clone();
    (out, err)
}

/// The model: each record's stamp is the watermark before it, `max(ts) − max_delay` over the
/// records accepted earlier (`i64::MIN` for the first); records stop at the first unknown id.
fn check_stamps(c: &Case, seen: &Seen) {
    let mut expect: Vec<(u32, i64, i64)> = Vec::new();
    let mut max_ts = i64::MIN;
    let mut wm = i64::MIN;
    for t in &c.trades {
        if t.instrument.0 >= 9 {
            break;
        }
        expect.push((t.instrument.0, t.ts_event, wm));
        if t.ts_event > max_ts {
            max_ts = t.ts_event;
            wm = max_ts - c.max_delay as i64;
        }
    }
    // Shards split by instrument; within an instrument the order is kept.
    let mut got: Vec<(u32, i64, i64)> = seen.iter().flatten().flatten().map(|r| (r.0, r.1, r.2)).collect();
    let key = |r: &(u32, i64, i64)| r.0;
    let mut exp_by = expect.clone();
    exp_by.sort_by_key(key); // stable: keeps each instrument's order
    got.sort_by_key(key);
    assert_eq!(got, exp_by, "records and stamps differ from the model");
    // A shard passes single records waiting in its ring through the graph together (up to
    // 256), so a sink's batch may exceed the producer's batch size.
    for batches in seen {
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= c.batch.max(256)), "batch sizes");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn push_all_equals_one_push_per_record(seed in any::<u64>()) {
        let c = case(seed);
        let (one_by_one, e1) = run(&c, false);
        let (batched, e2) = run(&c, true);
        prop_assert_eq!(e1, e2);
        if c.trades.iter().any(|t| t.instrument.0 >= 9) {
            prop_assert!(matches!(e2, Some(PushError::UnknownInstrument(InstrumentId(999)))));
        }
        let flat = |seen: &Seen| seen.iter().map(|b| b.concat()).collect::<Vec<_>>();
        prop_assert_eq!(flat(&one_by_one), flat(&batched), "same records and stamps on every shard");
        check_stamps(&c, &batched);
    }
}
