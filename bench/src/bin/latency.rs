//! Latency harness (issue 5): open-loop load through one engine hop, beside the raw crossbeam
//! floor measured in the same run between the same two pinned cores.
//!
//! Method. A producer pinned to the last core sends events on a fixed schedule (event `i` is
//! due at `t0 + i / rate`); each carries its *intended* send time from a TSC clock (`quanta`).
//! The consumer on core 0 records `now − intended` in an HdrHistogram. Measuring from the
//! intended time is the coordinated-omission correction: if the producer is held up, the
//! delay shows in the latencies instead of silently thinning the load.
//!
//! Scenarios (each `ROUNDS` times, default 9, for `SECONDS` each, default 0.5):
//! - `cache-line ping-pong`: round trip / 2 of a value bounced on one cache line (the
//!   hardware floor: no queue at all);
//! - `crossbeam ping-pong`: round trip / 2 over two bounded(1) channels;
//! - `crossbeam hop`: the same open-loop schedule over a raw bounded channel, one stamped trade
//!   (the engine's 64-byte payload) per message;
//! - `engine hop`: `Ingress::push` + `flush` per event → ring → shard → identity → sink;
//! - `engine → bar updated`: the same, with the 1 s time-bar operator applied before the
//!   latency is taken.
//!
//! at 50% and 90% of the measured maximum sustained rate with the engine's *default* `Config`
//! (batches of 256, spin-then-park shard; `push` sends each record at once; the two hops at a
//! share of the lower of their two maxima, the bars
//! pipeline of its own; maxima measured again in every round), and a burst profile (bursts of
//! 64 back to back, 50% average). Prints p50 / p99 / p99.9 (each the median over rounds) and the max over
//! all rounds, in nanoseconds, then the engine/crossbeam ratios per round (a round runs the
//! pipelines back to back, so a ratio compares runs seconds apart; this VM's latency moves
//! between runs, and its vCPU stalls land in some rounds and not others).
//!
//! `cargo run --release -p ticklane-bench --bin latency [SECONDS] [ROUNDS]`

use hdrhistogram::Histogram;
use quanta::Clock;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::Duration;
use ticklane::operators::{TimeBars, TimeBarsConfig};
use ticklane::{Bar, Config, DagBuilder, Engine, Fixed, InstrumentId, Kind, Placement, Stamped, Trade, Transform};
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

/// Runs the open-loop producer: waits for each event's due time, then `send(intended_ns)`;
/// stops early if a send fails (the consumer is gone).
fn produce(clock: &Clock, profile: Profile, dur: Duration, mut send: impl FnMut(u64) -> bool) {
    let t0 = clock.raw();
    for i in 0..profile.events(dur) {
        let due = profile.due_ns(i);
        while clock.delta_as_nanos(t0, clock.raw()) < due {
            std::hint::spin_loop();
        }
        // The intended time, as an absolute TSC-derived ns value the consumer can compare.
        if !send(clock.delta_as_nanos(0, t0) + due) {
            return;
        }
    }
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
        // Spinning, as the shards and the hop consumers do (a blocking `recv` may park).
        loop {
            match rx.try_recv() {
                Ok(v) => {
                    if btx.send(v).is_err() {
                        break;
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => std::hint::spin_loop(),
                Err(crossbeam_channel::TryRecvError::Disconnected) => break,
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

/// Events sent (and seen by the consumer) before the measured schedule starts, marked so the
/// consumer does not record them: thread start-up, first touches and cold caches stay out of
/// the figures, for every pipeline alike.
const WARM_UP: u64 = 20_000;

/// Ring capacity of both hops (messages of one event each).
const RING: usize = 256;

/// Waits until the consumer has seen the whole warm-up.
fn wait_for(seen: &ticklane_bench::Counter) {
    while seen.load(Acquire) < WARM_UP {
        std::hint::spin_loop();
    }
}

/// The crossbeam hop: its histogram and the seconds from the first scheduled send to the
/// consumer's end.
fn crossbeam_hop(clock: &Clock, profile: Profile, dur: Duration) -> (Histogram<u64>, f64) {
    // The same payload as the engine's: one stamped trade (64 bytes), its intended send time
    // in `ts_recv` (0 marks warm-up).
    let (tx, rx) = crossbeam_channel::bounded::<Stamped<Trade>>(RING);
    let c = clock.clone();
    let warm = std::sync::Arc::new(ticklane_bench::Counter::default());
    let w = warm.clone();
    let consumer = std::thread::spawn(move || crossbeam_consumer(&rx, &c, &w));
    let trade =
        |ts_recv: u64| Stamped { wm: 0, rec: Trade { ts_recv: ts_recv as i64, price: Fixed::ONE, ..Trade::default() } };
    for _ in 0..WARM_UP {
        let _ = tx.send(trade(0));
    }
    wait_for(&warm);
    let t = std::time::Instant::now();
    produce(clock, profile, dur, |t| tx.send(trade(t)).is_ok());
    drop(tx);
    let h = consumer.join().expect("consumer");
    (h, t.elapsed().as_secs_f64())
}

/// The crossbeam hop's consumer, pinned and spinning: counts the warm-up (`ts_recv == 0`),
/// records `now − ts_recv` for the rest, until the producer is gone.
fn crossbeam_consumer(
    rx: &crossbeam_channel::Receiver<Stamped<Trade>>,
    clock: &Clock,
    warm: &ticklane_bench::Counter,
) -> Histogram<u64> {
    pin_consumer();
    let mut h = hist();
    loop {
        match rx.try_recv() {
            Ok(t) if t.rec.ts_recv == 0 => {
                warm.fetch_add(1, Release);
            }
            Ok(t) => {
                let _ = h.record(now_ns(clock).saturating_sub(t.rec.ts_recv as u64).max(1));
            }
            Err(crossbeam_channel::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return h,
        }
    }
}

/// Records `now − ts_recv` (the intended send time carried in `ts_recv`) per trade, optionally
/// after applying the 1 s time-bar operator to the batch.
struct Probe {
    clock: Clock,
    /// Warm-up records seen (those with `ts_recv == 0`, not recorded).
    warm: std::sync::Arc<ticklane_bench::Counter>,
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
            if t.rec.ts_recv == 0 {
                self.warm.fetch_add(1, Release);
            } else {
                let _ = self.hist.record(now.saturating_sub(t.rec.ts_recv as u64).max(1));
            }
        }
    }

    fn on_watermark(&mut self, wm: i64, _out: &mut Vec<Stamped<Trade>>) {
        if wm == ticklane::WM_END {
            let _ = self.out.send(std::mem::replace(&mut self.hist, hist()));
        }
    }
}

/// The engine hop: its histogram and the seconds from the first scheduled
/// push to the end of the run.
fn engine_hop(clock: &Clock, profile: Profile, dur: Duration, with_bars: bool) -> (Histogram<u64>, f64) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let c = clock.clone();
    let warm = std::sync::Arc::new(ticklane_bench::Counter::default());
    let w = warm.clone();
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .transform::<Trade, Trade, _, _>("probe", move |_| Probe {
            clock: c.clone(),
            warm: w.clone(),
            bars: with_bars.then(|| {
                (TimeBars::new(TimeBarsConfig::builder(Duration::from_secs(1)).build().expect("width")), Vec::new())
            }),
            hist: hist(),
            out: tx.clone(),
        })
        .sink_shard::<Trade, _, _>("sink", |_| |_: &[Stamped<Trade>]| {})
        .connect("feed", "probe")
        .connect("probe", "sink");
    // The default configuration (batches, flush cadence, spin-then-park wait): only the
    // shard count, the ring size and the placement are set. `push` sends at once.
    let cfg = Config::builder()
        .shards(1)
        .ring_capacity(RING)
        .placement(Placement::Cores(cores().first().copied().into_iter().collect()))
        .build()
        .expect("config");
    let mut engine = Engine::start(g.build().expect("valid"), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let ids: Vec<InstrumentId> = (0..1000).map(|i| feed.intern(&format!("SYM{i}")).expect("intern")).collect();
    let (mut k, mut ts) = (0usize, 1_700_000_000_000_000_000i64);
    for _ in 0..WARM_UP {
        ts += 1_000;
        let t = Trade { ts_event: ts, ts_recv: 0, instrument: ids[0], ..Trade::default() };
        if feed.push(t).is_err() {
            break;
        }
    }
    wait_for(&warm);
    let t0 = std::time::Instant::now();
    produce(clock, profile, dur, |intended| {
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
    (rx.recv().expect("histogram"), t0.elapsed().as_secs_f64())
}

/// Closed loop: how many events/s a scenario's own pipeline sustains (500,000 events pushed as
/// fast as it takes them, from the first push to the last delivery and a clean join; after the
/// warm-up). `None`: the crossbeam hop.
fn max_rate(clock: &Clock, engine: Option<bool>) -> f64 {
    let n = 500_000;
    let secs = match engine {
        Some(with_bars) => engine_hop(clock, Profile::Flood(n), Duration::ZERO, with_bars).1,
        None => crossbeam_hop(clock, Profile::Flood(n), Duration::ZERO).1,
    };
    n as f64 / secs
}

/// Round trip / 2 of one value bounced on a single cache line between the two pinned cores:
/// the hardware floor of any hop (no queue, no slot, no index).
fn line_ping_pong(clock: &Clock, rounds: u64) -> Histogram<u64> {
    use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Release};
    let line = std::sync::Arc::new(ticklane_bench::Counter::default());
    let l2 = line.clone();
    let echo = std::thread::spawn(move || {
        pin_consumer();
        let mut expect = 1;
        while expect < 2 * rounds {
            while l2.load(Acquire) != expect {
                std::hint::spin_loop();
            }
            l2.store(expect + 1, Release);
            expect += 2;
        }
    });
    let mut h = hist();
    let a: &AtomicU64 = &line;
    for i in 0..rounds {
        let t = clock.raw();
        a.store(2 * i + 1, Release);
        while a.load(Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
        let _ = h.record((clock.delta_as_nanos(t, clock.raw()) / 2).max(1));
    }
    let _ = echo.join();
    h
}

/// What the machine takes from a spinning thread: one thread per core reads the clock in a
/// tight loop for `secs` and counts the gaps between reads (interrupts, vCPU preemption).
/// Returns per core: gaps over 10 µs per second, the share of time lost in gaps over 1 µs,
/// and the longest gap in µs. Any hop's p99 on this machine is bounded below by these.
fn hiccups(clock: &Clock, secs: f64) -> Vec<(usize, f64, f64, u64)> {
    let threads: Vec<_> = cores()
        .into_iter()
        .map(|id| {
            let c = clock.clone();
            std::thread::spawn(move || {
                core_affinity::set_for_current(core_affinity::CoreId { id });
                let t0 = c.raw();
                let (mut last, mut over10, mut lost, mut longest) = (t0, 0u64, 0u64, 0u64);
                loop {
                    let now = c.raw();
                    let gap = c.delta_as_nanos(last, now);
                    if gap > 1_000 {
                        lost += gap;
                        longest = longest.max(gap);
                        over10 += u64::from(gap > 10_000);
                    }
                    last = now;
                    if c.delta_as_nanos(t0, now) as f64 >= secs * 1e9 {
                        break;
                    }
                }
                (id, over10 as f64 / secs, lost as f64 / (secs * 1e9), longest / 1_000)
            })
        })
        .collect();
    threads.into_iter().filter_map(|t| t.join().ok()).collect()
}

/// One scenario's per-round histograms.
#[derive(Default)]
struct Rounds(Vec<Histogram<u64>>);

impl Rounds {
    /// The median over rounds of quantile `q`.
    fn median(&self, q: f64) -> u64 {
        let mut v: Vec<u64> = self.0.iter().map(|h| h.value_at_quantile(q)).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }

    fn row(&self, name: &str) {
        println!(
            "{:<36} {:>9} {:>9} {:>9} {:>10} {:>10}",
            name,
            self.median(0.5),
            self.median(0.99),
            self.median(0.999),
            self.0.iter().map(Histogram::max).max().unwrap_or(0),
            self.0.iter().map(Histogram::len).sum::<u64>()
        );
    }

    /// Per-round ratios `self / base` at quantile `q` (rounds are paired: run back to back).
    fn ratios(&self, base: &Rounds, q: f64) -> Vec<f64> {
        let mut r: Vec<f64> = self
            .0
            .iter()
            .zip(&base.0)
            .map(|(a, b)| a.value_at_quantile(q) as f64 / b.value_at_quantile(q).max(1) as f64)
            .collect();
        r.sort_by(f64::total_cmp);
        r
    }
}

/// "p50 1.21× (1.15–1.30)": the median of the per-round ratios and their range.
fn ratio_text(label: &str, r: &[f64]) -> String {
    match (r.first(), r.get(r.len() / 2), r.last()) {
        (Some(lo), Some(mid), Some(hi)) => format!("{label} {mid:.2}× ({lo:.2}–{hi:.2})"),
        _ => format!("{label} n/a"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|s| s.parse().ok()).filter(|s: &f64| *s > 0.0).unwrap_or(0.5);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).filter(|&r| r > 0).unwrap_or(9);
    let dur = Duration::from_secs_f64(secs);
    cores(); // read before pinning
    pin_producer();
    let clock = Clock::new();
    println!(
        "cores: consumer/shard {:?}, producer {:?}; default Config, push per event, 1,000 instruments; {rounds} rounds of {secs} s \
         per scenario; in each round the three pipelines' maxima are measured, then they run back to \
         back; quantiles are medians over rounds",
        cores().first(),
        cores().last(),
    );
    for (id, over10, lost, longest) in hiccups(&clock, secs.clamp(0.1, 1.0)) {
        println!(
            "machine hiccups, core {id} (a spinning thread's clock gaps): {over10:.0} gaps > 10 µs per second, \
             {:.2}% of the time lost in gaps > 1 µs, longest {longest} µs",
            lost * 100.0
        );
    }
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "scenario (latency in ns)", "p50", "p99", "p99.9", "max", "events"
    );
    let (mut line, mut pp) = (Rounds::default(), Rounds::default());
    for _ in 0..rounds {
        line.0.push(line_ping_pong(&clock, 100_000));
        pp.0.push(ping_pong(&clock, 100_000));
    }
    line.row("cache-line ping-pong (RTT/2)");
    pp.row("crossbeam ping-pong (RTT/2)");
    let mut summary = Vec::new();
    for (label, share, burst) in [("50%", 0.5, None), ("90%", 0.9, None), ("burst 64 @ 50%", 0.5, Some(64))] {
        // The hops run at a share of the lower of their two maxima (the same load for both);
        // the bars pipeline at a share of its own maximum.
        let at = |max: f64| match burst {
            Some(n) => Profile::Burst(max * share, n),
            None => Profile::Steady(max * share),
        };
        let (mut cb, mut hop, mut bars) = (Rounds::default(), Rounds::default(), Rounds::default());
        let (mut dropped, mut maxima, mut floors) = (0, Vec::new(), Vec::new());
        for _ in 0..rounds {
            // The floor before and after the round: if it moved (the VM put the vCPUs
            // elsewhere), the round compares two different machines and is not kept.
            let before = line_ping_pong(&clock, 20_000).value_at_quantile(0.5);
            // Maxima measured in the round itself (the VM's speed moves between rounds).
            let (max_cb, max_engine, max_bars) =
                (max_rate(&clock, None), max_rate(&clock, Some(false)), max_rate(&clock, Some(true)));
            // The two hops are compared under the same offered load: a share of the lower
            // of their maxima.
            let max_hop = max_cb.min(max_engine);
            let c = crossbeam_hop(&clock, at(max_hop), dur).0;
            let e = engine_hop(&clock, at(max_hop), dur, false).0;
            let b = engine_hop(&clock, at(max_bars), dur, true).0;
            let after = line_ping_pong(&clock, 20_000).value_at_quantile(0.5);
            if after.abs_diff(before) * 4 > before {
                dropped += 1;
                continue;
            }
            floors.push(e.value_at_quantile(0.5) as f64 / before.max(1) as f64);
            cb.0.push(c);
            hop.0.push(e);
            bars.0.push(b);
            maxima.push((max_cb, max_engine, max_bars));
        }
        let med = |f: fn(&(f64, f64, f64)) -> f64| {
            let mut v: Vec<f64> = maxima.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0) / 1e6
        };
        println!(
            "({label}: maxima, median over kept rounds: crossbeam hop {:.2}, engine hop {:.2}, engine + bars {:.2} \
             M events/s; {dropped} of {rounds} rounds dropped: the cache-line floor moved by more than 25% across them)",
            med(|m| m.0),
            med(|m| m.1),
            med(|m| m.2)
        );
        cb.row(&format!("crossbeam hop, {label}"));
        hop.row(&format!("engine hop, {label}"));
        bars.row(&format!("engine → bar updated, {label}"));
        summary.push(format!(
            "engine hop / crossbeam hop, {label}: {}, {}, {}",
            ratio_text("p50", &hop.ratios(&cb, 0.5)),
            ratio_text("p99", &hop.ratios(&cb, 0.99)),
            ratio_text("p99.9", &hop.ratios(&cb, 0.999))
        ));
        if burst.is_none() && share == 0.5 {
            floors.sort_by(f64::total_cmp);
            summary.push(ratio_text("engine hop p50 / the round's cache-line ping-pong p50:", &floors));
        }
    }
    println!("ratios (median of per-round ratios, range over rounds):");
    for l in summary {
        println!("  {l}");
    }
}
