//! A shard fed by several sources uses the minimum of their watermarks (design.md §2): one
//! feed racing ahead does not make another feed's trades late, and output stays identical
//! across shard counts.

mod common;

use common::feed_service::{self, SimpleBars};
use common::{seq_trade, watchdog};
use std::time::Duration;
use ticklane::{Bar, Config, DagBuilder, Engine, Kind, Trade};

const S: i64 = 1_000_000_000;

/// Feed `a` sends 100 s of trades (one per second per instrument) and finishes; only then does
/// feed `b` send its trades for the same 100 s. Returns the bars and the late count.
fn run(shards: usize) -> (Vec<(i64, u64, String)>, u64) {
    let mut g = DagBuilder::new();
    g.source("a", Kind::Trade)
        .source("b", Kind::Trade)
        .transform::<Trade, Bar, _, _>("bars", |_| SimpleBars::new(S)) // one input port, two edges
        .sink_egress("out", Kind::Bar)
        .connect("a", "bars")
        .connect("b", "bars")
        .connect("bars", "out");
    let mut engine = Engine::start(g.build().expect("valid"), Config::builder().shards(shards).build().expect("cfg"))
        .expect("start");
    let mut a = engine.ingress::<Trade>("a").expect("a");
    let mut b = engine.ingress::<Trade>("b").expect("b");
    let mut out = engine.egress::<Bar>("out").expect("egress");
    let interner = engine.interner().clone();
    let reader = std::thread::spawn(move || {
        let bars: Vec<(i64, u64, String)> = out
            .by_ref()
            .map(|x| {
                (x.rec.window_end, x.rec.trade_count, interner.name(x.rec.instrument).unwrap_or_default().to_string())
            })
            .collect();
        assert_eq!(out.order_violations(), 0);
        bars
    });
    let names = ["X", "Y", "Z"];
    let ids_a: Vec<_> = names.iter().map(|n| a.intern(n).expect("intern")).collect();
    let ids_b: Vec<_> = names.iter().map(|n| b.intern(n).expect("intern")).collect();
    for sec in 0..100i64 {
        for (k, &id) in ids_a.iter().enumerate() {
            a.push(seq_trade(id, sec * S + 1, (sec * 3 + k as i64) as u64)).expect("push a");
        }
    }
    a.finish().expect("finish a"); // a's watermark is now +inf; b's still holds the minimum
    for sec in 0..100i64 {
        for (k, &id) in ids_b.iter().enumerate() {
            b.push(seq_trade(id, sec * S + 2, 1000 + (sec * 3 + k as i64) as u64)).expect("push b");
        }
    }
    b.finish().expect("finish b");
    let report = engine.join().expect("clean run");
    let late = report.stats.counter("bars", feed_service::LATE);
    (reader.join().expect("reader"), late)
}

#[test]
fn the_slowest_source_holds_the_watermark() {
    let (bars, late) = watchdog(Duration::from_secs(60), || run(1));
    assert_eq!(late, 0, "b's trades are not late: a finishing does not advance the minimum");
    assert_eq!(bars.len(), 300, "100 one-second windows x 3 instruments");
    assert!(bars.iter().all(|(_, count, _)| *count == 2), "each window holds one trade from each feed");
    for shards in [2, 3] {
        assert_eq!(watchdog(Duration::from_secs(60), move || run(shards)), (bars.clone(), 0), "shards {shards}");
    }
}

/// Feed `a` sends 10 s of trades and flushes; feed `b` stays open and silent. Returns whether
/// a bar reached the egress while `b` was still open (within `wait`).
fn first_bar_while_b_is_silent(idle_timeout: Option<Duration>, wait: Duration) -> bool {
    let mut g = DagBuilder::new();
    g.source("a", Kind::Trade)
        .source("b", Kind::Trade)
        .transform::<Trade, Bar, _, _>("bars", |_| SimpleBars::new(S))
        .sink_egress("out", Kind::Bar)
        .connect("a", "bars")
        .connect("b", "bars")
        .connect("bars", "out");
    let mut cfg = Config::builder().shards(2);
    if let Some(t) = idle_timeout {
        cfg = cfg.idle_timeout(t);
    }
    let cfg = cfg.build().expect("cfg");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut a = engine.ingress::<Trade>("a").expect("a");
    let b = engine.ingress::<Trade>("b").expect("b");
    let mut out = engine.egress::<Bar>("out").expect("egress");
    let ids: Vec<_> = ["X", "Y", "Z"].iter().map(|n| a.intern(n).expect("intern")).collect();
    for sec in 0..10i64 {
        for (k, &id) in ids.iter().enumerate() {
            a.push(seq_trade(id, sec * S + 1, (sec * 3 + k as i64) as u64)).expect("push a");
        }
    }
    a.flush().expect("flush a");
    let early = out.recv_timeout(wait).is_some();
    drop((a, b));
    let rest = out.by_ref().count();
    engine.join().expect("clean run");
    assert!(early || rest > 0, "all bars arrive at the end either way");
    early
}

#[test]
fn an_idle_source_stops_holding_time_back_only_with_an_idle_timeout() {
    // Without a timeout the silent feed holds the minimum: nothing fires while it is open.
    assert!(!watchdog(Duration::from_secs(30), || first_bar_while_b_is_silent(None, Duration::from_millis(300))));
    // With one, windows fire once it has been idle long enough (wall time: live feeds only).
    assert!(watchdog(Duration::from_secs(30), || {
        first_bar_while_b_is_silent(Some(Duration::from_millis(50)), Duration::from_secs(10))
    }));
}
