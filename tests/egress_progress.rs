//! An egress's reader is woken only by progress that can release something (issue 14: one
//! wake per shard batch cost a live feed's bar writer as much as its work). With one shard, a
//! record its shard sent stamped at its progress still leaves as soon as the watermark moves
//! on, with no record behind it and no `finish`; with two, a shard's progress releases the
//! other shard's records.

mod common;

use common::watchdog;
use std::time::Duration;
use ticklane::operators::prelude::*;
use ticklane::operators::TimeBarsConfig;
use ticklane::{Bar, Config, DagBuilder, Egress, Engine, Fixed, Ingress, Kind, Trade};

/// 1 µs bars of every trade, read from an egress, on `shards` shards.
fn engine(shards: usize) -> (Engine, Ingress<Trade>, Egress<Bar>) {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .time_bars("bars", TimeBarsConfig::builder(Duration::from_nanos(1_000)).build().expect("cfg"))
        .sink_egress("out", Kind::Bar)
        .connect("feed", "bars")
        .connect("bars", "out");
    let cfg = Config::builder().shards(shards).build().expect("config");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let feed = engine.ingress::<Trade>("feed").expect("ingress");
    let out = engine.egress::<Bar>("out").expect("egress");
    (engine, feed, out)
}

fn trade(feed: &mut Ingress<Trade>, name: &str, ts: i64) -> Trade {
    let id = feed.intern(name).expect("intern");
    Trade { ts_event: ts, instrument: id, price: Fixed::ONE, size: Fixed::ONE, ..Trade::default() }
}

/// The next bar's window start, waiting up to a minute (a hang guard: it takes microseconds).
fn next(out: &mut Egress<Bar>) -> Option<i64> {
    out.recv_timeout(Duration::from_secs(60)).map(|b| b.rec.window_start)
}

#[test]
fn a_bar_held_at_its_own_shards_progress_leaves_when_the_watermark_moves_on() {
    for shards in [1, 2] {
        watchdog(Duration::from_secs(300), move || {
            let (engine, mut feed, mut out) = engine(shards);
            let t = trade(&mut feed, "X", 500);
            feed.push(t).expect("push");
            // The window [0, 1000) closes at watermark 1000: its bar, stamped 1000, waits for
            // progress above 1000 (a later bar could still be stamped 1000).
            feed.advance_watermark(1_000).expect("advance");
            feed.advance_watermark(2_000).expect("advance");
            assert_eq!(next(&mut out), Some(0), "{shards} shard(s): released by the watermark alone");
            // Again, after a stretch in which nothing was waiting (no progress was sent then).
            for wm in (3..50).map(|k| k * 1_000) {
                feed.advance_watermark(wm).expect("advance");
            }
            let t = trade(&mut feed, "X", 50_500);
            feed.push(t).expect("push");
            feed.advance_watermark(51_000).expect("advance");
            feed.advance_watermark(52_000).expect("advance");
            assert_eq!(next(&mut out), Some(50_000), "{shards} shard(s): the second bar");
            feed.finish().expect("finish");
            assert_eq!(out.recv(), None);
            engine.join().expect("clean run");
        });
    }
}

#[test]
fn one_shards_progress_releases_the_other_shards_bar() {
    watchdog(Duration::from_secs(300), || {
        let (engine, mut feed, mut out) = engine(2);
        // Names on both shards: some instrument routes to each.
        let trades: Vec<Trade> = (0..16).map(|i| trade(&mut feed, &format!("I{i}"), 500)).collect();
        feed.push_all(&trades).expect("push_all");
        feed.advance_watermark(1_000).expect("advance");
        feed.advance_watermark(2_000).expect("advance");
        let got: Vec<i64> = (0..16).filter_map(|_| next(&mut out)).collect();
        assert_eq!(got, vec![0; 16], "every instrument's bar, before the input ends");
        feed.finish().expect("finish");
        engine.join().expect("clean run");
    });
}
