//! Latency first (issue 12): with the default `Config`, one pushed record reaches the sink of
//! an idle engine without a `flush()` and without more records behind it; so does a
//! `push_all` of a few, and a record pushed after the shards have gone to sleep.

mod common;

use common::{seq_trade, watchdog};
use crossbeam_channel::{unbounded, Receiver};
use std::time::Duration;
use ticklane::{Config, DagBuilder, Engine, Ingress, InstrumentId, Kind, Stamped, Trade};

/// An engine with the default configuration (two shards) whose sink forwards every record's
/// size (its sequence number) to the returned channel.
fn engine() -> (Engine, Ingress<Trade>, Receiver<i64>) {
    let (tx, rx) = unbounded();
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .sink_shard::<Trade, _, _>("out", move |_ctx| {
            let tx = tx.clone();
            move |b: &[Stamped<Trade>]| {
                for t in b {
                    let _ = tx.send(t.rec.size.raw());
                }
            }
        })
        .connect("feed", "out");
    let cfg = Config::builder().shards(2).build().expect("config");
    let mut engine = Engine::start(g.build().expect("graph"), cfg).expect("start");
    let feed = engine.ingress::<Trade>("feed").expect("ingress");
    (engine, feed, rx)
}

/// The next sequence number the sink saw; `None` if none came within a minute (a hang
/// guard: it normally takes microseconds).
fn next(rx: &Receiver<i64>) -> Option<i64> {
    rx.recv_timeout(Duration::from_secs(60)).ok()
}

#[test]
fn one_push_reaches_the_sink_without_a_flush() {
    watchdog(Duration::from_secs(300), || {
        let (engine, mut feed, rx) = engine();
        let ids: Vec<InstrumentId> = (0..4).map(|i| feed.intern(&format!("I{i}")).expect("intern")).collect();
        feed.push(seq_trade(ids[0], 1_000, 1)).expect("push");
        assert_eq!(next(&rx), Some(1), "the first record alone");
        assert_eq!(feed.buffered(), 0, "nothing held back");

        // Let both shards go idle and park (the default wait parks after spinning briefly).
        std::thread::sleep(Duration::from_millis(200));
        feed.push(seq_trade(ids[1], 2_000, 2)).expect("push");
        assert_eq!(next(&rx), Some(2), "a record pushed into a sleeping engine");

        let few: Vec<Trade> = (3..6).map(|k| seq_trade(ids[k as usize % 4], 3_000 + k, k as u64)).collect();
        feed.push_all(&few).expect("push_all");
        let mut got: Vec<i64> = (0..3).filter_map(|_| next(&rx)).collect();
        got.sort_unstable();
        assert_eq!(got, [3, 4, 5], "push_all sends what it was given");
        assert_eq!(feed.buffered(), 0);

        feed.finish().expect("finish");
        engine.join().expect("clean run");
    });
}

#[test]
fn a_burst_into_a_lagging_shard_all_arrives_without_a_flush() {
    // A request/response producer: push a burst larger than the ring while the shard is slow,
    // then wait for every result. Nothing may stay behind in the ingress (gathering records
    // while the ring was full once hung exactly this producer).
    watchdog(Duration::from_secs(300), || {
        let (tx, rx) = unbounded();
        let mut g = DagBuilder::new();
        g.source("feed", Kind::Trade)
            .sink_shard::<Trade, _, _>("slow", move |_ctx| {
                let tx = tx.clone();
                move |b: &[Stamped<Trade>]| {
                    std::thread::sleep(Duration::from_micros(200));
                    for t in b {
                        let _ = tx.send(t.rec.size.raw());
                    }
                }
            })
            .connect("feed", "slow");
        let cfg = Config::builder().shards(1).ring_capacity(2).build().expect("config");
        let mut engine = Engine::start(g.build().expect("graph"), cfg).expect("start");
        let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
        let id = feed.intern("X").expect("intern");
        for k in 1..=100u64 {
            feed.push(seq_trade(id, 1_000 + k as i64, k)).expect("push");
        }
        assert_eq!(feed.buffered(), 0, "nothing held back");
        let got: Vec<i64> = (0..100).filter_map(|_| next(&rx)).collect();
        assert_eq!(got, (1..=100).collect::<Vec<i64>>(), "every record, in order, without a flush");
        feed.finish().expect("finish");
        engine.join().expect("clean run");
    });
}

/// `try_push` never waits: into a stalled shard it accepts until the ring is full, then hands
/// records back unaccepted (not counted, watermark unmoved); once the shard resumes, exactly
/// the accepted records arrive, in order.
#[test]
fn try_push_hands_records_back_instead_of_waiting() {
    watchdog(Duration::from_secs(300), || {
        let (tx, rx) = unbounded();
        let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
        let (open_tx, open_rx) = crossbeam_channel::bounded::<()>(0);
        let mut g = DagBuilder::new();
        g.source("feed", Kind::Trade)
            .sink_shard::<Trade, _, _>("gated", move |_ctx| {
                let (tx, entered_tx, open_rx) = (tx.clone(), entered_tx.clone(), open_rx.clone());
                let mut opened = false;
                move |b: &[Stamped<Trade>]| {
                    if !opened && !b.is_empty() {
                        // Stalls on its first records until the test opens the gate.
                        let _ = entered_tx.send(());
                        opened = open_rx.recv().is_ok();
                    }
                    for t in b {
                        let _ = tx.send(t.rec.size.raw());
                    }
                }
            })
            .connect("feed", "gated");
        let ring = 8;
        let cfg = Config::builder().shards(1).ring_capacity(ring).flush_every(3).build().expect("config");
        let mut engine = Engine::start(g.build().expect("graph"), cfg).expect("start");
        // Declared after the engine, so dropped before it: a failed assertion below unwinds
        // through an open gate instead of joining a shard stalled for ever.
        let open_tx = open_tx;
        let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
        let id = feed.intern("X").expect("intern");

        // The first record stalls the shard inside its sink with its ring empty: from here
        // on, whatever the scheduling, only the ring's slots can take records.
        feed.push(seq_trade(id, 1_000, 1)).expect("push");
        entered_rx.recv().expect("the shard reached its sink");
        let (mut accepted, mut refused) = (vec![1i64], 0);
        for k in 2..=200i64 {
            match feed.try_push(seq_trade(id, 1_000 + k, k as u64)) {
                Ok(()) => accepted.push(k),
                Err(ticklane::TryPushError::Full(t)) => {
                    assert_eq!(t.size.raw(), k, "the refused record comes back");
                    refused += 1;
                }
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        // Each accepted record took a slot (watermark flushes may take others).
        let queued = accepted.len() - 1;
        assert!((1..=ring).contains(&queued), "at most a ring's worth while stalled: {accepted:?}");
        assert_eq!(accepted, (1..=accepted.len() as i64).collect::<Vec<_>>(), "accepted until full, then none");
        assert_eq!(refused, 199 - queued, "the rest were handed back, not waited on");
        let wm_before = feed.watermark();
        assert!(matches!(feed.try_push(seq_trade(id, 9_999_999, 999)), Err(ticklane::TryPushError::Full(_))));
        assert_eq!(feed.watermark(), wm_before, "a refused record does not move the watermark");

        open_tx.send(()).expect("open the gate");
        feed.finish().expect("finish");
        let report = engine.join().expect("clean run");
        let got: Vec<i64> = rx.try_iter().collect();
        assert_eq!(got, accepted, "exactly the accepted records, in order");
        assert_eq!(report.stats.sources[0].pushed, accepted.len() as u64, "only accepted records are counted");
    });
}
