//! A panicking user node is caught at the shard boundary; `join` names shard and node; the
//! other shards stop; nothing hangs.

mod common;

use common::{seq_trade, watchdog, PanicsOnKth};
use std::time::Duration;
use ticklane::{Config, DagBuilder, Engine, EngineError, Kind, PushError, RunFailed, Stamped, Trade};

fn run(shards: usize, ring: usize) -> (RunFailed, Option<PushError>) {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .transform::<Trade, Trade, _, _>("fragile", |_| PanicsOnKth { k: 500, seen: 0 })
        .sink_shard::<Trade, _, _>("out", |_| |_: &[Stamped<Trade>]| {})
        .connect("feed", "fragile")
        .connect("fragile", "out");
    let cfg = Config::builder().shards(shards).ring_capacity(ring).batch_size(16).build().expect("config");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let ids: Vec<_> = (0..10).map(|i| feed.intern(&format!("S{i}")).expect("intern")).collect();
    watchdog(Duration::from_secs(60), move || {
        let mut push_err = None;
        for seq in 0..200_000u64 {
            if let Err(e) = feed.push(seq_trade(ids[(seq % 10) as usize], seq as i64, seq)) {
                push_err = Some(e);
                break;
            }
        }
        drop(feed);
        let err = engine.join().expect_err("join must report the panic");
        (err, push_err)
    })
}

#[test]
fn operator_panic_surfaces_from_join_naming_shard_and_node() {
    for (shards, ring) in [(1, 1), (3, 4), (8, 64)] {
        let (failed, push_err) = run(shards, ring);
        let err = &failed.error;
        match err {
            EngineError::NodePanicked { shard, node, message } => {
                assert!(*shard < shards);
                assert_eq!(node, "fragile");
                assert!(message.contains("injected failure at event 500"), "{message}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("node 'fragile' panicked"), "{text}");
        // The producer learned that a shard is gone instead of blocking forever.
        assert!(matches!(push_err, Some(PushError::ShardGone { .. })), "{push_err:?}");
    }
}

#[test]
fn sink_panic_is_reported_too() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .sink_shard::<Trade, _, _>("explodes", |_| |_: &[Stamped<Trade>]| panic!("sink bug"))
        .connect("feed", "explodes");
    let mut engine =
        Engine::start(g.build().expect("valid"), Config::builder().shards(2).build().expect("cfg")).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let id = feed.intern("X").expect("intern");
    let err = watchdog(Duration::from_secs(30), move || {
        let _ = feed.push(seq_trade(id, 1, 1));
        drop(feed);
        engine.join().expect_err("panic reported")
    });
    assert!(matches!(&err.error, EngineError::NodePanicked { node, .. } if node == "explodes"), "{err}");
}
