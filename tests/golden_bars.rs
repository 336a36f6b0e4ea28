//! The production operators (dedupe → time bars) on the bundled real captures: 1 s and 60 s
//! bars equal the independent computation in `common::golden`, byte for byte, at 1, 2 and 4
//! shards.

mod common;

use common::feed_service::{bar_csv, read_capture, Row};
use common::golden::oracle;
use common::watchdog;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use ticklane::operators::prelude::*;
use ticklane::operators::{counters, DedupeConfig, TimeBarsConfig};
use ticklane::{Bar, Config, DagBuilder, Engine, InstrumentId, Kind, Trade};

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(name)
}

/// Replays `rows` through feed → dedupe → bars → egress; returns CSV rows and the duplicate
/// and late counts.
fn replay(rows: &[Row], width: Duration, shards: usize) -> (Vec<String>, u64, u64) {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .dedupe("dedupe", DedupeConfig::default())
        .time_bars("bars", TimeBarsConfig::builder(width).build().expect("width"))
        .sink_egress("out", Kind::Bar)
        .connect("feed", "dedupe")
        .connect("dedupe", "bars")
        .connect("bars", "out");
    let mut engine = Engine::start(g.build().expect("valid"), Config::builder().shards(shards).build().expect("cfg"))
        .expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let mut out = engine.egress::<Bar>("out").expect("egress");
    let interner = engine.interner().clone();
    let reader = std::thread::spawn(move || {
        out.by_ref().map(|b| bar_csv(&interner.name(b.rec.instrument).unwrap_or_default(), &b.rec)).collect::<Vec<_>>()
    });
    let mut ids: HashMap<&str, InstrumentId> = HashMap::new();
    for (name, t) in rows {
        let id = match ids.get(name.as_str()) {
            Some(&id) => id,
            None => *ids.entry(name).or_insert(feed.intern(name).expect("intern")),
        };
        feed.push(Trade { instrument: id, ..*t }).expect("push");
    }
    drop(feed);
    let report = engine.join().expect("clean run");
    let stat = |node: &str, c| report.stats.counter(node, c);
    (reader.join().expect("reader"), stat("dedupe", counters::DUPLICATES), stat("bars", counters::LATE_EVENTS))
}

fn check(file: &str) {
    let path = capture(file);
    let rows = read_capture(&path).expect("capture parses");
    for secs in [1u64, 60] {
        let want = oracle(std::slice::from_ref(&path), secs as i64);
        assert!(!want.is_empty());
        for shards in [1, 2, 4] {
            let rows = rows.clone();
            let (got, dups, late) =
                watchdog(Duration::from_secs(120), move || replay(&rows, Duration::from_secs(secs), shards));
            // Real ids are unique in both captures and they are in time order.
            assert_eq!((dups, late), (0, 0), "{file} {secs}s shards {shards}");
            assert_eq!(got.len(), want.len(), "{file} {secs}s shards {shards}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{file} {secs}s shards {shards}");
            }
        }
    }
}

#[test]
fn binance_btcusdt_bars_match_the_independent_computation() {
    check("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv");
}

#[test]
fn cme_esh4_bars_match_the_independent_computation() {
    check("GLBX_ESH4_trades_2023-12-25.csv");
}

#[test]
fn content_dedupe_would_drop_real_cme_trades() {
    // design.md §4: 15 groups of ESH4 trades are identical in every column but trade_id.
    let rows = read_capture(&capture("GLBX_ESH4_trades_2023-12-25.csv")).expect("capture parses");
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .dedupe("dedupe", DedupeConfig::builder().key(ticklane::operators::DedupeKey::Content).build().expect("cfg"))
        .sink_shard::<Trade, _, _>("sink", |_| |_: &[ticklane::Stamped<Trade>]| {})
        .connect("feed", "dedupe")
        .connect("dedupe", "sink");
    let mut engine =
        Engine::start(g.build().expect("valid"), Config::builder().shards(2).build().expect("cfg")).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let id = feed.intern("GLBX.MDP3:ESH4").expect("intern");
    for (_, t) in &rows {
        feed.push(Trade { instrument: id, ..*t }).expect("push");
    }
    drop(feed);
    let report = engine.join().expect("clean run");
    let dups = report.stats.counter("dedupe", counters::DUPLICATES);
    // 15, counted independently (Python over the CSV): every repeat of an earlier row's
    // (ts_event, ts_recv, instrument, price, size, side).
    assert_eq!(dups, 15, "content dedupe should drop exactly the 15 look-alike real trades");
}
