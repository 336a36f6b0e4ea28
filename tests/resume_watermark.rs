//! `Ingress::advance_watermark`: a source resuming after a checkpoint raises its watermark
//! before its first record; records of windows that ended by then are late (as they were
//! before the restart), later ones make the same bars as an uninterrupted run.

use std::time::Duration;
use ticklane::operators::prelude::*;
use ticklane::operators::{counters, TimeBarsConfig};
use ticklane::{Bar, Config, DagBuilder, Engine, Fixed, Kind, Trade};

const W: i64 = 1_000;

/// Bars of `trades` (ts, price) after raising the watermark to `floor`, and the late count.
fn bars(floor: Option<i64>, trades: &[(i64, i64)], delay: i64) -> (Vec<(i64, u64, i64)>, u64) {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .time_bars("bars", TimeBarsConfig::builder(Duration::from_nanos(W as u64)).build().expect("cfg"))
        .sink_egress("out", Kind::Bar)
        .connect("feed", "bars")
        .connect("bars", "out");
    let cfg = Config::builder().shards(2).max_delay(Duration::from_nanos(delay as u64)).build().expect("config");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let out = engine.egress::<Bar>("out").expect("egress");
    let id = feed.intern("X").expect("intern");
    if let Some(f) = floor {
        feed.advance_watermark(f).expect("advance");
        assert_eq!(feed.watermark(), f);
    }
    for &(ts, px) in trades {
        let t =
            Trade { ts_event: ts, instrument: id, price: Fixed::from_raw(px), size: Fixed::ONE, ..Trade::default() };
        feed.push(t).expect("push");
    }
    drop(feed);
    let reader =
        std::thread::spawn(move || out.map(|b| (b.rec.window_start, b.rec.trade_count, b.rec.close.raw())).collect());
    let report = engine.join().expect("run");
    (reader.join().expect("reader"), report.stats.counter("bars", counters::LATE_EVENTS))
}

#[test]
fn records_of_windows_ended_by_the_floor_are_late_and_the_rest_unchanged() {
    // Windows [0,1000) [1000,2000) [2000,3000) [3000,4000); a restart replays from 1500 on.
    let all: Vec<(i64, i64)> = (0..40).map(|i| (i * 100, i)).collect();
    let (whole, late) = bars(None, &all, 0);
    assert_eq!(late, 0);
    let replayed = &all[15..];
    let (resumed, late) = bars(Some(2_000), replayed, 0);
    assert_eq!(late, 5, "1500..1900 belong to [1000,2000), which ended by the floor 2000 (window_end ≤ wm)");
    assert_eq!(resumed, whole[2..].to_vec(), "the windows after the floor are the uninterrupted run's");
    // The floor does not hold back later windows, and max_delay applies on top of it.
    let (resumed, late) = bars(Some(2_000), replayed, 500);
    assert_eq!((resumed, late), (whole[2..].to_vec(), 5));
}
