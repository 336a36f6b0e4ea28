//! Stats are published through the `metrics` facade under design.md §8 names and served as
//! Prometheus text on the configured loopback address. (Own test binary: the recorder is
//! process-global.)

mod common;

use common::{seq_trade, watchdog};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use ticklane::{Config, DagBuilder, Engine, Kind, Stamped, Trade};

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").expect("write");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    body
}

/// The value of the sample line `name{labels}` (labels in any order), summed over lines
/// whose labels contain every given `key="value"`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|kv| l.contains(kv)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn prometheus_text_carries_the_engine_counters() {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .sink_shard::<Trade, _, _>("out", |_| |_: &[Stamped<Trade>]| {})
        .connect("feed", "out");
    let cfg = Config::builder()
        .shards(2)
        .prometheus(addr)
        .metrics_interval(Duration::from_millis(20))
        .build()
        .expect("config");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let ids: Vec<_> = (0..16).map(|i| feed.intern(&format!("S{i}")).expect("intern")).collect();
    for seq in 0..5_000u64 {
        feed.push(seq_trade(ids[(seq % 16) as usize], seq as i64, seq)).expect("push");
    }
    drop(feed);
    let report = watchdog(Duration::from_secs(30), move || engine.join().expect("clean run"));
    let stats_total: u64 = report.stats.nodes.iter().find(|n| n.name == "out").map_or(0, |n| n.total_in());
    assert_eq!(stats_total, 5_000);

    let text = get(addr, "/metrics");
    assert!(text.starts_with("HTTP/1.0 200 OK"), "{text}");
    assert_eq!(sample(&text, "ticklane_events_in_total", &["node=\"out\""]), 5_000.0, "{text}");
    assert_eq!(sample(&text, "ticklane_events_out_total", &["node=\"feed\""]), 5_000.0, "{text}");
    for (shard, _) in report.stats.shards.iter().enumerate() {
        let l = format!("shard=\"{shard}\"");
        let ring = Config::default().ring_capacity() as f64;
        assert_eq!(sample(&text, "ticklane_ring_capacity", &[&l]), ring, "{text}");
        assert!(text.contains(&format!("ticklane_shard_busy_ratio{{{l}}}")), "{text}");
        assert!(text.contains(&format!("ticklane_watermark_lag_seconds{{{l}}}")), "{text}");
        assert!(text.contains(&format!("ticklane_backpressure_wait_seconds_total{{{l}}}")), "{text}");
        assert!(text.contains(&format!("ticklane_ring_depth{{{l}}}")), "{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("ticklane_saturation ")), "{text}");
    let src = ["source=\"feed\""];
    assert_eq!(sample(&text, "ticklane_source_pushed_total", &src), 5_000.0, "{text}");
    assert_eq!(sample(&text, "ticklane_source_rejected_total", &src), 0.0, "{text}");
    assert_eq!(sample(&text, "ticklane_source_not_delivered_total", &src), 0.0, "{text}");
    assert!(get(addr, "/other").starts_with("HTTP/1.0 404"));

    // Health: alive always; ready only while every probe is up and not draining.
    assert!(get(addr, "/healthz").starts_with("HTTP/1.0 200 OK"));
    assert!(get(addr, "/readyz").starts_with("HTTP/1.0 200 OK"), "no probes: ready");
    let link = ticklane::health::probe("source ws://test");
    let down = get(addr, "/readyz");
    assert!(down.starts_with("HTTP/1.0 503") && down.contains("down source ws://test"), "{down}");
    link.set(true);
    let up = get(addr, "/readyz");
    assert!(up.starts_with("HTTP/1.0 200 OK") && up.contains("up source ws://test"), "{up}");
    ticklane::health::set_draining(true);
    let draining = get(addr, "/readyz");
    assert!(draining.starts_with("HTTP/1.0 503") && draining.contains("draining"), "{draining}");
    ticklane::health::set_draining(false);
    drop(link);
    assert!(!get(addr, "/readyz").contains("ws://test"), "a dropped probe leaves the registry");
}
