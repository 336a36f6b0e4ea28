//! `ShardSink::on_progress`: a shard sink learns how far its input is complete. Through the
//! real engine (random shards, rings, batches), with disorder, late revisions and flat bars
//! (an operator holding output back): progress never goes back, ends at `WM_END`, and no record
//! reaches a sink after a progress above its stamp. That is what lets a durable sink say "every
//! bar stamped below P is written" (the store's durable progress).

mod common;

use common::watchdog;
use proptest::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ticklane::operators::prelude::*;
use ticklane::operators::{Beyond, EmptyBars, LatePolicy, TimeBarsConfig};
use ticklane::{
    Bar, Config, DagBuilder, Engine, Fixed, InstrumentId, Kind, ShardSink, Stamped, Timestamp, Trade, WM_END,
};

const W: i64 = 1_000;

/// What one shard's sink saw, in order.
#[derive(Debug, Clone, Copy)]
enum Seen {
    Bar { stamp: Timestamp, end: Timestamp },
    Progress(Timestamp),
    End,
}

/// One shard's log.
type Log = Arc<Mutex<Vec<Seen>>>;

struct Recorder(Log);

impl ShardSink<Bar> for Recorder {
    fn on_batch(&mut self, batch: &[Stamped<Bar>]) {
        let mut log = self.0.lock().expect("log");
        log.extend(batch.iter().map(|b| Seen::Bar { stamp: b.wm, end: b.rec.window_end }));
    }
    fn on_progress(&mut self, progress: Timestamp) {
        self.0.lock().expect("log").push(Seen::Progress(progress));
    }
    fn on_end(&mut self) {
        self.0.lock().expect("log").push(Seen::End);
    }
}

/// (instrument, ts) in arrival order; max delay; revise horizon; flat bars; shards; ring; batch.
type Case = (Vec<(u8, i64)>, i64, Option<i64>, bool, usize, usize, usize);

fn case() -> impl Strategy<Value = Case> {
    let trades = prop::collection::vec((0u8..5, 0i64..=4, 0i64..=3), 1..300).prop_map(|raw| {
        let mut clock = 10_000;
        raw.into_iter()
            .map(|(inst, step, jitter)| {
                clock += step * 100;
                (inst, clock - jitter * 500)
            })
            .collect::<Vec<_>>()
    });
    let horizon = prop::option::of(0i64..3_000);
    (trades, 0i64..=1_500, horizon, any::<bool>(), 1usize..=3, 1usize..=8, 1usize..=8)
}

fn run((trades, delay, horizon, flat, shards, ring, batch): Case) -> Vec<Vec<Seen>> {
    let mut bars = TimeBarsConfig::builder(Duration::from_nanos(W as u64));
    if let Some(h) = horizon {
        bars = bars.late(LatePolicy::revise(Duration::from_nanos(h as u64), Beyond::Drop).expect("policy"));
    }
    if flat && horizon.is_none() {
        // (flat bars and the revise policy do not combine)
        bars = bars.empty_bars(EmptyBars::Flat);
    }
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let made = logs.clone();
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .time_bars("bars", bars.build().expect("cfg"))
        .sink_shard::<Bar, _, _>("durable", move |_| {
            let log = Arc::new(Mutex::new(Vec::new()));
            made.lock().expect("logs").push(log.clone());
            Recorder(log)
        })
        .connect("feed", "bars")
        .connect("bars", "durable");
    let cfg = Config::builder()
        .shards(shards)
        .ring_capacity(ring)
        .batch_size(batch)
        .max_delay(Duration::from_nanos(delay as u64))
        .build()
        .expect("config");
    watchdog(Duration::from_secs(60), move || {
        let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
        let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
        let ids: Vec<InstrumentId> = (0..5).map(|i| feed.intern(&format!("X:{i}")).expect("intern")).collect();
        for (inst, ts) in trades {
            let t = Trade {
                ts_event: ts,
                instrument: ids[inst as usize],
                price: Fixed::ONE,
                size: Fixed::ONE,
                ..Trade::default()
            };
            feed.push(t).expect("push");
        }
        drop(feed);
        engine.join().expect("clean run");
    });
    let logs = logs.lock().expect("logs");
    logs.iter().map(|l| l.lock().expect("log").clone()).collect()
}

/// The property on one shard's log; an error says which step broke it.
fn check(log: &[Seen], horizon: i64) -> Result<(), String> {
    let mut progress = Timestamp::MIN;
    let mut ended = false;
    for (i, s) in log.iter().enumerate() {
        match *s {
            Seen::Bar { stamp, end } => {
                if stamp < progress {
                    return Err(format!("step {i}: a bar stamped {stamp} after progress {progress}"));
                }
                if end + horizon < progress {
                    return Err(format!("step {i}: a bar ending {end} (+{horizon}) after progress {progress}"));
                }
            }
            Seen::Progress(p) if p <= progress => return Err(format!("step {i}: progress {p} after {progress}")),
            Seen::Progress(p) => progress = p,
            Seen::End => ended = true,
        }
    }
    if progress != WM_END || !ended {
        return Err(format!("ended at progress {progress}, on_end called: {ended}"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn no_record_reaches_a_sink_below_the_progress_it_was_given(c in case()) {
        let horizon = c.2.unwrap_or(0);
        let shards = c.4;
        let logs = run(c);
        prop_assert_eq!(logs.len(), shards, "one sink per shard");
        for log in &logs {
            if let Err(e) = check(log, horizon) {
                prop_assert!(false, "{}\n{:?}", e, log);
            }
        }
    }
}

/// Progress reaches a sink while input is still coming (not only at the end).
#[test]
fn progress_arrives_before_the_end() {
    let trades: Vec<(u8, i64)> = (0..2_000).map(|i| ((i % 5) as u8, 10_000 + i * 100)).collect();
    let logs = run((trades, 0, None, false, 2, 4, 4));
    for log in &logs {
        let first_end = log.iter().position(|s| matches!(s, Seen::Progress(WM_END))).expect("final progress");
        let before = log[..first_end].iter().filter(|s| matches!(s, Seen::Progress(_))).count();
        assert!(before > 10, "only {before} progress calls before the end: {log:?}");
        check(log, 0).expect("property");
    }
}
