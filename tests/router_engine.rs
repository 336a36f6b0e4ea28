//! The router in a running DAG: instrument-set routes plus a default output, each to its own
//! egress; every trade lands in exactly the outputs whose set holds its instrument, at any
//! shard count.

mod common;

use common::{seq_trade, watchdog};
use std::time::Duration;
use ticklane::operators::{counters, RouteExt};
use ticklane::{Config, DagBuilder, Engine, Kind, Trade};

fn run(shards: usize) -> Vec<Vec<String>> {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    g.route_instruments::<Trade>("router", &[&["CME:ES", "CME:NQ"], &["CME:NQ", "BIN:BTC"]], true).expect("router");
    for (port, sink) in ["futures", "nq_and_crypto", "rest"].iter().enumerate() {
        g.sink_egress(sink, Kind::Trade).connect_ports("router", port, sink, 0);
    }
    g.connect("feed", "router");
    let mut engine = Engine::start(g.build().expect("valid"), Config::builder().shards(shards).build().expect("cfg"))
        .expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let readers: Vec<_> = ["futures", "nq_and_crypto", "rest"]
        .iter()
        .map(|s| {
            let mut e = engine.egress::<Trade>(s).expect("egress");
            let interner = engine.interner().clone();
            std::thread::spawn(move || {
                e.by_ref()
                    .map(|t| format!("{}:{}", interner.name(t.rec.instrument).unwrap_or_default(), t.rec.size.raw()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let names = ["CME:ES", "CME:NQ", "BIN:BTC", "BIN:ETH"];
    let ids: Vec<_> = names.iter().map(|n| feed.intern(n).expect("intern")).collect();
    for seq in 0..400u64 {
        feed.push(seq_trade(ids[(seq % 4) as usize], seq as i64, seq)).expect("push");
    }
    drop(feed);
    let report = engine.join().expect("clean run");
    let unrouted = report.stats.counter("router", counters::UNROUTED);
    assert_eq!(unrouted, 0, "a default output catches the rest");
    readers.into_iter().map(|r| r.join().expect("reader")).collect()
}

#[test]
fn routes_by_instrument_set_with_fan_out_and_default() {
    let out = watchdog(Duration::from_secs(60), || run(1));
    let count = |v: &Vec<String>, prefix: &str| v.iter().filter(|s| s.starts_with(prefix)).count();
    assert_eq!((out[0].len(), count(&out[0], "CME:ES:"), count(&out[0], "CME:NQ:")), (200, 100, 100));
    assert_eq!((out[1].len(), count(&out[1], "CME:NQ:"), count(&out[1], "BIN:BTC:")), (200, 100, 100));
    assert_eq!((out[2].len(), count(&out[2], "BIN:ETH:")), (100, 100));
    for shards in [2, 3] {
        assert_eq!(watchdog(Duration::from_secs(60), move || run(shards)), out, "shards {shards}");
    }
}
