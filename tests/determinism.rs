//! Egress output is byte-identical at any shard count, ring capacity, batch size and pacing.

mod common;

use common::feed_service::{self, bar_csv, bundled, read_capture, Row, SimpleBars};
use common::{watchdog, Rng};
use std::collections::HashMap;
use std::time::Duration;
use ticklane::{Bar, Config, DagBuilder, Engine, Fixed, InstrumentId, Kind, Trade, TradeId};

#[derive(Clone, Copy, Debug)]
struct Setup {
    shards: usize,
    /// The rings' capacity, and the records each shard may leave in the egress (from 1, a
    /// shard that waits for the reader after every record, to 4,096).
    ring: usize,
    batch: usize,
    /// Flush and sleep a little every this many records (a stand-in for paced replay).
    pace_every: Option<usize>,
}

/// Replays `rows` into `width` bars through an egress; returns the CSV rows in egress order.
fn replay(rows: &[Row], width: i64, max_delay: Duration, s: Setup) -> (Vec<String>, u64) {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .transform::<Trade, Bar, _, _>("bars", move |_| SimpleBars::new(width))
        .sink_egress("out", Kind::Bar)
        .connect("feed", "bars")
        .connect("bars", "out");
    let cfg = Config::builder()
        .shards(s.shards)
        .ring_capacity(s.ring)
        .egress_records(s.ring)
        .batch_size(s.batch)
        .max_delay(max_delay)
        .build()
        .expect("config");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let mut out = engine.egress::<Bar>("out").expect("egress");
    let interner = engine.interner().clone();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        while let Some(b) = out.recv() {
            let name = interner.name(b.rec.instrument).unwrap_or_default();
            lines.push(bar_csv(&name, &b.rec));
        }
        assert!(out.is_complete());
        assert_eq!(out.order_violations(), 0);
        lines
    });
    let rows = rows.to_vec();
    let producer = std::thread::spawn(move || {
        let mut ids: HashMap<String, InstrumentId> = HashMap::new();
        for (i, (name, mut t)) in rows.into_iter().enumerate() {
            t.instrument = match ids.get(&name) {
                Some(&id) => id,
                None => {
                    let id = feed.intern(&name).expect("intern");
                    ids.insert(name, id);
                    id
                }
            };
            feed.push(t).expect("push");
            if s.pace_every.is_some_and(|p| i % p == 0) {
                feed.flush().expect("flush");
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });
    producer.join().expect("producer");
    let report = engine.join().expect("clean run");
    let late = report.stats.counter("bars", feed_service::LATE);
    (reader.join().expect("reader"), late)
}

fn setups() -> Vec<Setup> {
    let mut v = Vec::new();
    for shards in [1, 2, 3, 8] {
        for (ring, batch) in [(1, 1), (64, 256), (4096, 37)] {
            v.push(Setup { shards, ring, batch, pace_every: None });
        }
    }
    v.push(Setup { shards: 2, ring: 4, batch: 16, pace_every: Some(97) });
    v
}

/// Returns the reference output and its late count, after checking every setup matches it.
fn assert_same_everywhere(rows: &[Row], width: i64, delay: Duration) -> (Vec<String>, u64) {
    let reference = replay(rows, width, delay, Setup { shards: 1, ring: 64, batch: 256, pace_every: None });
    assert!(!reference.0.is_empty());
    for s in setups() {
        let got = replay(rows, width, delay, s);
        assert!(got.0 == reference.0, "output differs for {s:?}: {} vs {} rows", got.0.len(), reference.0.len());
        assert_eq!(got.1, reference.1, "late count differs for {s:?}");
    }
    reference
}

/// Egress order is `(window_end, instrument name)` by bytes (design.md §5).
fn assert_window_end_then_name_order(lines: &[String]) {
    let keys: Vec<(i64, &str)> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[2].parse().expect("window_end"), f[0])
        })
        .collect();
    if let Some(w) = keys.windows(2).find(|w| w[0] >= w[1]) {
        panic!("egress out of (window_end, name) order: {:?} then {:?}", w[0], w[1]);
    }
}

#[test]
fn real_captures_give_identical_bars_at_any_shard_count() {
    let mut rows: Vec<Row> = Vec::new();
    for f in bundled() {
        rows.extend(read_capture(&f).expect("capture"));
    }
    rows.sort_by_key(|(_, t)| t.ts_event);
    let (out, late) =
        watchdog(Duration::from_secs(300), move || assert_same_everywhere(&rows, 1_000_000_000, Duration::ZERO));
    assert_eq!(late, 0, "the captures are in time order");
    assert_window_end_then_name_order(&out);
}

#[test]
fn disordered_multi_instrument_stream_is_identical_too() {
    // 40 instruments, timestamps jittered up to 2 s backwards, max_delay 1 s: some trades are
    // late and dropped, many share timestamps, many sit on window boundaries.
    let mut rng = Rng(0x5eed);
    let mut rows = Vec::new();
    let mut clock: i64 = 1_700_000_000_000_000_000;
    for i in 0..20_000u64 {
        clock += (rng.below(3) as i64) * 100_000_000; // 0, 0.1 or 0.2 s steps: many equal times
        let jitter = rng.below(21) as i64 * 100_000_000; // up to 2 s back
                                                         // Short names, and long ones sharing their first 8 bytes: both ways the egress
                                                         // orders names (by an 8-byte prefix, then in full).
        let k = rng.below(40);
        let name = if k % 3 == 0 { format!("I{k:02}") } else { format!("INSTRUMENT.{k:02}") };
        let t = Trade {
            ts_event: clock - jitter,
            ts_recv: ticklane::NO_TS,
            price: Fixed::from_raw(1_000_000_000 * (100 + rng.below(50) as i64)),
            size: Fixed::from_raw(1_000_000 * (1 + rng.below(1000) as i64)),
            trade_id: TradeId::from_u64(i),
            instrument: InstrumentId(0),
            side: ticklane::Side::None,
        };
        rows.push((name, t));
    }
    let (out, late) = watchdog(Duration::from_secs(300), move || {
        assert_same_everywhere(&rows, 1_000_000_000, Duration::from_secs(1))
    });
    assert!(out.len() > 1000);
    assert!(late > 100, "the stream should exercise late drops, got {late}");
    assert_window_end_then_name_order(&out);
}
