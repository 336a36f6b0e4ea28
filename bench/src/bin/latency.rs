//! Latency harness (issue 5): open-loop load through one engine hop, beside the raw crossbeam
//! floor measured in the same run between the same two pinned cores.
//!
//! Method. A producer pinned to the last core sends events on a fixed schedule (event `i` is
//! due at `t0 + i / rate`); each carries its *intended* send time from a TSC clock (`quanta`).
//! The consumer on core 0 records `now − intended` in an HdrHistogram. Measuring from the
//! intended time is the coordinated-omission correction: if the producer is held up, the
//! delay shows in the latencies instead of silently thinning the load.
//!
//! Scenarios (each `DURATION` seconds, default 2):
//! - `crossbeam ping-pong`: round trip / 2 over two bounded(1) channels (the floor of a hop);
//! - `crossbeam hop`: the same open-loop schedule over a raw bounded channel, one event per
//!   message;
//! - `engine hop`: `Ingress::push` + `flush` per event → ring → shard → identity → sink;
//! - `engine → bar updated`: the same, with the 1 s time-bar operator applied before the
//!   latency is taken.
//!
//! at 50% and 90% of the engine's measured maximum sustained rate in this latency
//! configuration (batch of 1, busy-spinning shard), and a burst profile (bursts of 64 back to
//! back, 50% average). Prints p50 / p99 / p99.9 / max in nanoseconds.
//!
//! `cargo run --release -p ticklane-bench --bin latency [DURATION_SECS]`

use hdrhistogram::Histogram;
use quanta::Clock;
use std::time::Duration;
use ticklane::operators::{TimeBars, TimeBarsConfig};
use ticklane::{
    Bar, Config, DagBuilder, Engine, Fixed, InstrumentId, Kind, Placement, Stamped, Trade, Transform, WaitStrategy,
};
use ticklane_bench::{cores, pin_producer};

#[derive(Clone, Copy)]
enum Profile {
    Steady(f64),
    /// Bursts of `n` back to back at this average rate.
    Burst(f64, u64),
    /// Closed loop: `n` events as fast as the pipeline takes them (to measure its maximum).
    Flood(u64),
}

impl Profile {
    /// Events to send in `dur`.
    fn events(&self, dur: Duration) -> u64 {
        match *self {
            Profile::Steady(r) | Profile::Burst(r, _) => (r * dur.as_secs_f64()) as u64,
            Profile::Flood(n) => n,
        }
    }

    /// Intended send time of event `i`, in clock ticks converted to ns from `t0`.
    fn due_ns(&self, i: u64) -> u64 {
        match *self {
            Profile::Steady(r) => (i as f64 * 1e9 / r) as u64,
            Profile::Burst(r, n) => ((i / n) * n) as f64 as u64 * (1e9 / r) as u64,
            Profile::Flood(_) => 0,
        }
    }
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds")
}

fn row(name: &str, h: &Histogram<u64>) {
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>10} {:>10}",
        name,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.len()
    );
}

/// Runs the open-loop producer: waits for each event's due time, then `send(intended_ns)`.
fn produce(clock: &Clock, profile: Profile, dur: Duration, mut send: impl FnMut(u64) -> bool) -> u64 {
    let n = profile.events(dur);
    let t0 = clock.raw();
    for i in 0..n {
        let due = profile.due_ns(i);
        while clock.delta_as_nanos(t0, clock.raw()) < due {
            std::hint::spin_loop();
        }
        // The intended time, as an absolute TSC-derived ns value the consumer can compare.
        if !send(clock.delta_as_nanos(0, t0) + due) {
            return i;
        }
    }
    n
}

fn now_ns(clock: &Clock) -> u64 {
    clock.delta_as_nanos(0, clock.raw())
}

fn pin_consumer() {
    if let Some(&id) = cores().first() {
        core_affinity::set_for_current(core_affinity::CoreId { id });
    }
}

fn ping_pong(clock: &Clock, rounds: u64) -> Histogram<u64> {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1);
    let (btx, brx) = crossbeam_channel::bounded::<u64>(1);
    let echo = std::thread::spawn(move || {
        pin_consumer();
        while let Ok(v) = rx.recv() {
            if btx.send(v).is_err() {
                break;
            }
        }
    });
    let mut h = hist();
    for _ in 0..rounds {
        let t = clock.raw();
        let _ = tx.send(1);
        while brx.try_recv().is_err() {
            std::hint::spin_loop();
        }
        let _ = h.record((clock.delta_as_nanos(t, clock.raw()) / 2).max(1));
    }
    drop(tx);
    let _ = echo.join();
    h
}

fn crossbeam_hop(clock: &Clock, profile: Profile, dur: Duration) -> Histogram<u64> {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(4096);
    let c = clock.clone();
    let consumer = std::thread::spawn(move || {
        pin_consumer();
        let mut h = hist();
        loop {
            match rx.try_recv() {
                Ok(intended) => {
                    let _ = h.record(now_ns(&c).saturating_sub(intended).max(1));
                }
                Err(crossbeam_channel::TryRecvError::Empty) => std::hint::spin_loop(),
                Err(crossbeam_channel::TryRecvError::Disconnected) => break,
            }
        }
        h
    });
    produce(clock, profile, dur, |t| tx.send(t).is_ok());
    drop(tx);
    consumer.join().expect("consumer")
}

/// Records `now − ts_recv` (the intended send time carried in `ts_recv`) per trade, optionally
/// after applying the 1 s time-bar operator to the batch.
struct Probe {
    clock: Clock,
    bars: Option<(TimeBars, Vec<Stamped<Bar>>)>,
    hist: Histogram<u64>,
    out: crossbeam_channel::Sender<Histogram<u64>>,
}

impl Transform<Trade, Trade> for Probe {
    fn on_batch(&mut self, input: &[Stamped<Trade>], _out: &mut Vec<Stamped<Trade>>) {
        if let Some((bars, buf)) = &mut self.bars {
            bars.process(input, buf, None);
            buf.clear();
        }
        let now = now_ns(&self.clock);
        for t in input {
            let _ = self.hist.record(now.saturating_sub(t.rec.ts_recv as u64).max(1));
        }
    }

    fn on_watermark(&mut self, wm: i64, _out: &mut Vec<Stamped<Trade>>) {
        if wm == ticklane::WM_END {
            let _ = self.out.send(std::mem::replace(&mut self.hist, hist()));
        }
    }
}

fn engine_hop(clock: &Clock, profile: Profile, dur: Duration, with_bars: bool) -> (Histogram<u64>, u64) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let c = clock.clone();
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .transform::<Trade, Trade, _, _>("probe", move |_| Probe {
            clock: c.clone(),
            bars: with_bars
                .then(|| (TimeBars::new(TimeBarsConfig::new(Duration::from_secs(1)).expect("width")), Vec::new())),
            hist: hist(),
            out: tx.clone(),
        })
        .sink_callback::<Trade, _, _>("sink", |_| |_: &[Stamped<Trade>]| {})
        .connect("feed", "probe")
        .connect("probe", "sink");
    let cfg = Config::new()
        .with_shards(1)
        .and_then(|c| c.with_batch_size(1))
        .and_then(|c| c.with_ring_capacity(4096))
        .and_then(|c| c.with_flush_every(1 << 30))
        .expect("config")
        .with_wait(WaitStrategy::BusySpin)
        .with_placement(Placement::Cores(cores().first().copied().into_iter().collect()));
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let ids: Vec<InstrumentId> = (0..1000).map(|i| feed.intern(&format!("SYM{i}")).expect("intern")).collect();
    let (mut k, mut ts) = (0usize, 1_700_000_000_000_000_000i64);
    let sent = produce(clock, profile, dur, |intended| {
        // Cheap next-record construction (no division): the baseline pays nothing here.
        k += 1;
        if k == ids.len() {
            k = 0;
        }
        ts += 1_000;
        let t = Trade {
            ts_event: ts,
            ts_recv: intended as i64,
            price: Fixed::ONE,
            size: Fixed::ONE,
            instrument: ids[k],
            ..Trade::default()
        };
        feed.push(t).is_ok()
    });
    drop(feed);
    engine.join().expect("clean run");
    (rx.recv().expect("histogram"), sent)
}

/// Closed loop: how many events/s a scenario's own pipeline sustains (2M events pushed as fast
/// as it takes them, from the first push to the last delivery and a clean join).
fn max_rate(clock: &Clock, with_bars: bool) -> f64 {
    let n = 2_000_000;
    let t = std::time::Instant::now();
    let (_, sent) = engine_hop(clock, Profile::Flood(n), Duration::ZERO, with_bars);
    sent as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).filter(|s: &f64| *s > 0.0).unwrap_or(2.0);
    let dur = Duration::from_secs_f64(secs);
    cores(); // read before pinning
    pin_producer();
    let clock = Clock::new();
    let max_hop = max_rate(&clock, false);
    let max_bars = max_rate(&clock, true);
    println!(
        "cores: consumer/shard {:?}, producer {:?}; max sustained rate (batch 1, 1,000 instruments): \
         hop {:.2} M events/s, hop + 1 s bars {:.2} M events/s",
        cores().first(),
        cores().last(),
        max_hop / 1e6,
        max_bars / 1e6
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "scenario (latency in ns)", "p50", "p99", "p99.9", "max", "events"
    );
    row("crossbeam ping-pong (RTT/2)", &ping_pong(&clock, 200_000));
    for (label, share, burst) in [("50%", 0.5, None), ("90%", 0.9, None), ("burst 64 @ 50%", 0.5, Some(64))] {
        // Each pipeline runs at its own share of its own maximum; the crossbeam floor runs
        // at the engine hop's rate.
        let at = |max: f64| match burst {
            Some(n) => Profile::Burst(max * share, n),
            None => Profile::Steady(max * share),
        };
        row(&format!("crossbeam hop, {label}"), &crossbeam_hop(&clock, at(max_hop), dur));
        let (h, _) = engine_hop(&clock, at(max_hop), dur, false);
        row(&format!("engine hop, {label}"), &h);
        let (h, _) = engine_hop(&clock, at(max_bars), dur, true);
        row(&format!("engine → bar updated, {label}"), &h);
    }
}
