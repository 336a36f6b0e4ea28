//! An egress whose reader stops reading holds at most `Config::egress_records` of each shard's
//! records, not `egress_capacity` messages of any size: past the budget the shard waits, its
//! ring fills, and the producer is held back (issue 12: with the bar writer starved of CPU, the
//! 10M-trade replay peaked at 160 MB of bars waiting in the egress). Nothing is lost: once the
//! reader reads, every accepted record comes, in order.

mod common;

use common::{seq_trade, watchdog};
use std::time::Duration;
use ticklane::{Config, DagBuilder, Engine, Kind, Trade, TryPushError};

/// Records the shard may leave waiting in the egress.
const BUDGET: usize = 16;
/// Ring slots from the producer to the shard.
const RING: usize = 4;

#[test]
fn a_reader_that_stops_holds_back_the_producer_after_the_budget() {
    watchdog(Duration::from_secs(300), || {
        let mut g = DagBuilder::new();
        g.source("feed", Kind::Trade).sink_egress("out", Kind::Trade).connect("feed", "out");
        let cfg = Config::builder()
            .shards(1)
            .ring_capacity(RING)
            .egress_capacity(1024)
            .egress_records(BUDGET)
            .build()
            .expect("config");
        let mut engine = Engine::start(g.build().expect("graph"), cfg).expect("start");
        let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
        let mut out = engine.egress::<Trade>("out").expect("egress");
        let id = feed.intern("X").expect("intern");

        // Each `try_push` sends its record at once; a refused one is offered again, giving the
        // shard a second to take it, before the producer counts itself held back.
        let mut accepted = 0u64;
        'feed: for k in 1..=5_000u64 {
            let mut t = seq_trade(id, k as i64 * 1_000, k);
            for _ in 0..1_000 {
                match feed.try_push(t) {
                    Ok(()) => {
                        accepted += 1;
                        continue 'feed;
                    }
                    Err(TryPushError::Full(back)) => t = back,
                    Err(e) => panic!("unexpected: {e}"),
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            break;
        }
        // The budget in the egress, the ring's slots, and what the shard holds while it waits
        // for room: one pass's records (a pass takes every message waiting in the ring) and a
        // message taken behind them. Without the budget: a thousand messages' worth.
        let bound = (BUDGET + 2 * RING + 1) as u64;
        assert!(accepted >= BUDGET as u64, "the budget's records went through: {accepted}");
        assert!(accepted <= bound, "held back after the budget: {accepted} accepted, at most {bound}");

        // The reader reads again (on its own thread: the shard it frees is what takes the end).
        let reader = std::thread::spawn(move || std::iter::from_fn(|| out.recv()).map(|t| t.rec.size.raw()).collect());
        feed.finish().expect("finish");
        let got: Vec<i64> = reader.join().expect("reader");
        assert_eq!(got, (1..=accepted as i64).collect::<Vec<_>>(), "every accepted record, in order");
        engine.join().expect("clean run");
    });
}

/// An egress sink nobody reads (its reader never taken) does not hang the run's end once
/// more than its budget went to it: `join` closes it.
#[test]
fn an_egress_never_taken_does_not_hang_join() {
    watchdog(Duration::from_secs(300), || {
        let mut g = DagBuilder::new();
        g.source("feed", Kind::Trade).sink_egress("out", Kind::Trade).connect("feed", "out");
        let cfg = Config::builder().shards(1).egress_records(BUDGET).build().expect("config");
        let mut engine = Engine::start(g.build().expect("graph"), cfg).expect("start");
        let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
        let id = feed.intern("X").expect("intern");
        // A hundred times the budget: the shard waits for the egress long before the end.
        let trades: Vec<Trade> = (1..=1_600u64).map(|k| seq_trade(id, k as i64, k)).collect();
        let pusher = std::thread::spawn(move || {
            feed.push_all(&trades).expect("push_all");
            feed.finish().expect("finish");
        });
        let report = engine.join().expect("clean run");
        pusher.join().expect("pusher");
        assert_eq!(report.stats.sources[0].pushed, 1_600, "every record was accepted");
    });
}
