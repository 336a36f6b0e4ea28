//! Coordinator tests against an in-memory store with injected stalls and failures.

use super::*;
use parking_lot::{Condvar, Mutex};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU32;
use std::time::Duration;
use ticklane_engine::{Fixed, InstrumentId, Timestamp};

/// A [`MemoryStore`] that can be stalled (writes wait for the gate) and made to fail.
#[derive(Clone, Default)]
struct Flaky {
    table: MemoryStore,
    fail_next: Arc<AtomicU32>,
    always_fail: Arc<std::sync::atomic::AtomicBool>,
    stalled: Arc<(Mutex<bool>, Condvar)>,
    calls: Arc<AtomicU32>,
}

impl Flaky {
    fn stall(&self, on: bool) {
        *self.stalled.0.lock() = on;
        self.stalled.1.notify_all();
    }
}

impl BarStore for Flaky {
    type Error = String;
    fn upsert(&mut self, rows: &[StoreRow]) -> Result<(), String> {
        self.calls.fetch_add(1, Relaxed);
        let mut s = self.stalled.0.lock();
        while *s {
            self.stalled.1.wait(&mut s);
        }
        drop(s);
        if self.always_fail.load(Relaxed) {
            return Err("down".into());
        }
        // One atomic step: with two writers, a load then a separate decrement could both
        // take the last injected failure and wrap the count to u32::MAX (endless failures).
        if self.fail_next.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1)).is_ok() {
            return Err("injected failure".into());
        }
        let mut keys: Vec<_> = rows.iter().map(|r| (r.instrument.clone(), r.bar.window_start)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), rows.len(), "a batch must not carry one key twice");
        self.table.upsert(rows).map_err(|e| match e {})
    }
}

fn bar(inst: u32, window: i64, revision: u32) -> Bar {
    Bar {
        instrument: InstrumentId(inst),
        window_start: window,
        window_end: window + 1,
        close: Fixed::from_raw(i64::from(revision)),
        trade_count: 1,
        revision,
        ..Bar::default()
    }
}

/// Fast retries and breaker, for tests.
fn fast() -> StoreBuilder {
    StoreConfig::builder()
        .retry(Duration::from_micros(100), Duration::from_millis(2))
        .breaker(3, Duration::from_millis(5))
}

fn cfg(policy: PressurePolicy, low: usize, high: usize, batch: usize) -> StoreConfig {
    fast()
        .policy(policy)
        .batch(batch, Duration::from_millis(1))
        .watermarks(low, high)
        .capacity(high * 2)
        .build()
        .expect("valid")
}

/// Newest revision per key: what the table must hold after every bar was delivered.
fn oracle(bars: &[Bar]) -> BTreeMap<(u32, i64), u32> {
    let mut m = BTreeMap::new();
    for b in bars {
        let e = m.entry((b.instrument.0, b.window_start)).or_insert(b.revision);
        *e = (*e).max(b.revision);
    }
    m
}

fn table(t: &MemoryStore) -> BTreeMap<(u32, i64), u32> {
    // Names are "#id" here: no interner was attached.
    t.rows()
        .iter()
        .map(|r| {
            ((r.instrument.trim_start_matches('#').parse().unwrap_or(u32::MAX), r.bar.window_start), r.bar.revision)
        })
        .collect()
}

fn push_all(h: &StoreHandle, bars: &[Bar], chunk: usize) {
    for c in bars.chunks(chunk.max(1)) {
        h.push(c.iter());
    }
}

fn check_identity(s: &StoreStats) {
    assert_eq!(s.accepted, s.written + s.conflated + s.shed + s.unwritten, "{s:?}");
}

#[test]
fn block_stalls_the_producer_with_hysteresis_and_loses_nothing() {
    let store = Flaky::default();
    store.stall(true);
    let coord = StoreCoordinator::start(cfg(PressurePolicy::Block, 4, 16, 8), vec![store.clone()]).expect("start");
    let h = coord.handle();
    let bars: Vec<Bar> = (0..500).map(|i| bar(i % 7, i64::from(i), 0)).collect();
    let producer = {
        let (h, bars) = (h.clone(), bars.clone());
        std::thread::spawn(move || push_all(&h, &bars, 3))
    };
    // The producer must block: the queue reaches the high watermark and stays bounded.
    let t = Instant::now();
    while !h.stats().pressured {
        assert!(t.elapsed() < Duration::from_secs(10), "pressure never came: {:?}", h.stats());
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    let s = h.stats();
    assert!(!producer.is_finished(), "block must stall the producer");
    assert!(s.depth <= 16 && s.max_depth <= 16, "{s:?}");
    store.stall(false);
    producer.join().expect("producer");
    let r = coord.finish();
    check_identity(&r);
    assert_eq!((r.accepted, r.written, r.shed, r.conflated, r.unwritten), (500, 500, 0, 0, 0));
    assert!(r.pressure_on >= 1 && r.pressure_on == r.pressure_off, "{r:?}");
    assert!(r.max_depth <= 16);
    assert_eq!(table(&store.table), oracle(&bars));
}

#[test]
fn a_high_watermark_below_the_batch_size_does_not_wait_for_full_batches() {
    // Batches of 500 or one hour, but pressure at 8 bars: a full batch can never form, so a
    // writer waiting for one would hold the blocked producer for an hour per batch.
    let store = Flaky::default();
    let cfg = fast().batch(500, Duration::from_secs(3600)).watermarks(2, 8).build().expect("valid");
    let coord = StoreCoordinator::start(cfg, vec![store.clone()]).expect("start");
    let h = coord.handle();
    let bars: Vec<Bar> = (0..200).map(|i| bar(i, 0, 0)).collect();
    let producer = std::thread::spawn(move || push_all(&h, &bars, 1));
    // A hang detector, not a speed assertion: without the fix this takes 25 hours.
    let t = Instant::now();
    while !producer.is_finished() {
        assert!(t.elapsed() < Duration::from_secs(60), "the producer is stuck behind an unformable batch");
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = coord.finish();
    check_identity(&r);
    assert_eq!((r.written, r.unwritten), (200, 0));
}

#[test]
fn shed_drops_while_pressured_and_counts_add_up() {
    let store = Flaky::default();
    store.stall(true);
    let coord = StoreCoordinator::start(cfg(PressurePolicy::Shed, 2, 10, 4), vec![store.clone()]).expect("start");
    let h = coord.handle();
    let bars: Vec<Bar> = (0..200).map(|i| bar(i, 0, 0)).collect();
    push_all(&h, &bars, 5); // never blocks
    let s = h.stats();
    assert!(s.shed >= 180, "with the store stalled almost everything is shed: {s:?}");
    store.stall(false);
    let r = coord.finish();
    check_identity(&r);
    assert_eq!(r.unwritten, 0);
    assert_eq!(r.written as usize, store.table.rows().len());
    assert!(r.max_depth <= 10);
}

#[test]
fn conflate_keeps_the_newest_revision_per_waiting_key() {
    let store = Flaky::default();
    store.stall(true);
    let coord = StoreCoordinator::start(cfg(PressurePolicy::Conflate, 1, 4, 2), vec![store.clone()]).expect("start");
    let h = coord.handle();
    // 6 keys, 20 revisions each, interleaved: once pressured, revisions replace waiting rows.
    let bars: Vec<Bar> = (0..20u32).flat_map(|r| (0..6u32).map(move |k| bar(k, 0, r))).collect();
    let producer = {
        let (h, bars) = (h.clone(), bars.clone());
        std::thread::spawn(move || push_all(&h, &bars, 1))
    };
    std::thread::sleep(Duration::from_millis(100));
    store.stall(false);
    producer.join().expect("producer");
    let r = coord.finish();
    check_identity(&r);
    assert!(r.conflated > 50, "{r:?}");
    assert_eq!(r.shed + r.unwritten, 0);
    assert_eq!(table(&store.table), oracle(&bars));
}

#[test]
fn failures_are_retried_and_open_the_breaker() {
    let store = Flaky::default();
    store.fail_next.store(7, Relaxed);
    let coord = StoreCoordinator::start(cfg(PressurePolicy::Block, 10, 100, 50), vec![store.clone()]).expect("start");
    let bars: Vec<Bar> = (0..120).map(|i| bar(i, 0, 0)).collect();
    push_all(&coord.handle(), &bars, 40);
    let r = coord.finish();
    check_identity(&r);
    assert_eq!(r.written, 120);
    assert_eq!(r.failures, 7);
    // 3 consecutive failures open the breaker; the half-open probe fails and re-opens it
    // (not counted again) until the 7 injected failures are spent.
    assert_eq!(r.breaker_opens, 1, "{r:?}");
    assert!(r.retries >= 7);
    assert_eq!(r.last_error.as_deref(), Some("injected failure"));
    assert_eq!(table(&store.table), oracle(&bars));
}

#[test]
fn a_dead_store_is_reported_exactly_at_the_deadline() {
    let store = Flaky::default();
    store.always_fail.store(true, Relaxed);
    let coord = StoreCoordinator::start(cfg(PressurePolicy::Block, 2, 8, 4), vec![store.clone()]).expect("start");
    let h = coord.handle();
    let producer = {
        let h = h.clone();
        std::thread::spawn(move || push_all(&h, &(0..100).map(|i| bar(i, 0, 0)).collect::<Vec<_>>(), 10))
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(!producer.is_finished(), "a dead store must turn into backpressure");
    // The open circuit says so on /readyz (polled: the breaker opens after its third failure).
    let store_down = || ticklane_engine::health::readiness().probes.iter().any(|(n, up)| n == "sink store" && !up);
    let t = Instant::now();
    while !store_down() {
        assert!(t.elapsed() < Duration::from_secs(10), "the open circuit never showed on /readyz");
        std::thread::sleep(Duration::from_millis(1));
    }
    h.set_deadline(Instant::now() + Duration::from_millis(50));
    producer.join().expect("the deadline releases the producer");
    let r = coord.finish();
    check_identity(&r);
    assert_eq!((r.accepted, r.written, r.unwritten), (100, 0, 100));
    assert!(r.breaker_opens >= 1 && r.last_error.as_deref() == Some("down"));
    assert!(store.calls.load(Relaxed) < 1_000, "the breaker must throttle attempts");
}

#[test]
fn a_coordinator_needs_a_writer() {
    assert!(matches!(
        StoreCoordinator::start(StoreConfig::default(), Vec::<MemoryStore>::new()),
        Err(StoreError::NoWriters)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Any policy, any stall/failure pattern: the account adds up, and without `shed` the
    /// table equals the newest revision of every key pushed.
    #[test]
    fn table_matches_the_oracle(
        seq in proptest::collection::vec((0u32..8, 0i64..6, 0u32..4), 1..300),
        policy in prop_oneof![Just(PressurePolicy::Block), Just(PressurePolicy::Conflate), Just(PressurePolicy::Shed)],
        low in 0usize..4, span in 1usize..12, batch in 1usize..10, chunk in 1usize..20,
        failures in 0u32..6, stall_ms in 0u64..20, writers in 1usize..3,
    ) {
        let bars: Vec<Bar> = seq.iter().map(|&(k, w, r)| bar(k, w, r)).collect();
        let store = Flaky::default();
        store.fail_next.store(failures, Relaxed);
        store.stall(stall_ms > 0);
        let coord = StoreCoordinator::start(cfg(policy, low, low + span, batch), vec![store.clone(); writers]).expect("start");
        let h = coord.handle();
        let producer = { let (h, bars) = (h.clone(), bars.clone()); std::thread::spawn(move || push_all(&h, &bars, chunk)) };
        std::thread::sleep(Duration::from_millis(stall_ms));
        store.stall(false);
        producer.join().expect("producer");
        let r = coord.finish();
        check_identity(&r);
        prop_assert_eq!(r.unwritten, 0);
        let bound = if policy == PressurePolicy::Conflate { (low + span) * 2 } else { low + span };
        prop_assert!(r.max_depth as usize <= bound, "max depth {} > {}", r.max_depth, bound);
        prop_assert_eq!(r.pressure_on, r.pressure_off);
        let got = table(&store.table);
        if policy == PressurePolicy::Shed {
            let want = oracle(&bars);
            prop_assert!(got.iter().all(|(k, rev)| want.get(k).is_some_and(|w| w >= rev)));
            if r.shed == 0 { prop_assert_eq!(got, want); }
        } else {
            prop_assert_eq!(got, oracle(&bars));
        }
    }
}

/// Waits (a hang guard, not a timing claim) until `f` holds.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn durable_progress_waits_for_the_write_and_for_every_sink() {
    let store = Flaky::default();
    store.stall(true);
    let coord = StoreCoordinator::start(cfg(PressurePolicy::Block, 100, 200, 4), vec![store.clone()]).expect("start");
    let (h, shared) = (coord.handle(), coord.handle.shared.clone());
    let (a, b) = (shared.register_sink(), shared.register_sink());
    assert_eq!(h.durable_progress(), Timestamp::MIN, "nothing reported yet");
    shared.mark(a, 5);
    assert_eq!(h.durable_progress(), Timestamp::MIN, "sink b has not reported");
    shared.mark(b, 7);
    assert_eq!(h.durable_progress(), 5, "nothing waits: the least of the sinks' progress");
    h.push([bar(1, 0, 0)].iter());
    shared.mark(a, 20);
    shared.mark(b, 20);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(h.durable_progress(), 5, "the bar before the marks is not written yet (store stalled)");
    store.stall(false);
    eventually("the write lands and the marks count", || h.durable_progress() == 20);
    let r = coord.finish();
    assert_eq!(r.written, 1);
}

#[test]
fn durable_progress_freezes_once_a_bar_is_shed() {
    let store = Flaky::default();
    store.stall(true);
    let coord = StoreCoordinator::start(cfg(PressurePolicy::Shed, 1, 2, 1), vec![store.clone()]).expect("start");
    let (h, shared) = (coord.handle(), coord.handle.shared.clone());
    let s = shared.register_sink();
    shared.mark(s, 3);
    assert_eq!(h.durable_progress(), 3);
    push_all(&h, &(0..20).map(|i| bar(i, 0, 0)).collect::<Vec<_>>(), 1);
    assert!(h.stats().shed > 0);
    store.stall(false);
    shared.mark(s, 50);
    let r = coord.finish();
    assert!(r.written > 0);
    assert_eq!(h.durable_progress(), 3, "a shed bar is never written: nothing after it is durable");
}

/// A store that a later claim fences off after `allowed` writes.
#[derive(Clone, Default)]
struct Fenced {
    table: MemoryStore,
    allowed: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fenced off by a later claim")
    }
}

impl BarStore for Fenced {
    type Error = Refused;
    fn upsert(&mut self, rows: &[StoreRow]) -> Result<(), Refused> {
        self.calls.fetch_add(1, Relaxed);
        self.allowed.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1)).map_err(|_| Refused)?;
        self.table.upsert(rows).map_err(|e| match e {})
    }
    fn superseded(_: &Refused) -> bool {
        true
    }
}

#[test]
fn a_store_fenced_off_writes_nothing_more_and_its_progress_stops() {
    let store = Fenced::default();
    store.allowed.store(1, Relaxed);
    let coord = StoreCoordinator::start(cfg(PressurePolicy::Block, 100, 200, 1), vec![store.clone()]).expect("start");
    let (h, shared) = (coord.handle(), coord.handle.shared.clone());
    let s = shared.register_sink();
    h.push([bar(1, 0, 0)].iter());
    shared.mark(s, 10);
    eventually("the first bar written", || h.durable_progress() == 10);
    assert!(!h.superseded());
    h.push([bar(2, 0, 0)].iter());
    shared.mark(s, 20);
    eventually("the refusal seen", || h.superseded());
    h.push([bar(3, 0, 0), bar(4, 0, 0)].iter());
    shared.mark(s, 30);
    let r = coord.finish();
    assert_eq!(store.calls.load(Relaxed), 2, "no write is tried once refused (no retry, no later batch)");
    assert_eq!((r.accepted, r.written, r.unwritten), (4, 1, 3));
    check_identity(&r);
    assert_eq!(r.retries, 0);
    assert_eq!(h.durable_progress(), 10, "nothing after the refused bar is durable");
    assert_eq!(store.table.rows().len(), 1);
    assert_eq!(r.last_error.as_deref(), Some("fenced off by a later claim"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    /// Two sinks push bars and report progress in any interleaving, with writer failures,
    /// one or two writers and any batch size. Whenever the durable progress is `d` (above
    /// `MIN`), every bar pushed before each sink's first report of at least `d` is in the table
    /// (a bar stamped below `d` came before that report); at the end,
    /// with everything written, it is the least final report.
    #[test]
    fn durable_progress_never_runs_ahead_of_the_table(
        ops in proptest::collection::vec((0usize..2, 0u8..3, 1i64..40), 1..200),
        failures in 0u32..6, writers in 1usize..3, batch in 1usize..8,
    ) {
        let store = Flaky::default();
        store.fail_next.store(failures, Relaxed);
        let coord = StoreCoordinator::start(cfg(PressurePolicy::Block, 1000, 2000, batch), vec![store.clone(); writers])
            .expect("start");
        let (h, shared) = (coord.handle(), coord.handle.shared.clone());
        let sinks = [shared.register_sink(), shared.register_sink()];
        let mut progress = [0i64, 0];
        // Per sink: (progress reported, bars pushed before the report).
        let mut reports: [Vec<(i64, usize)>; 2] = [Vec::new(), Vec::new()];
        let mut pushed: Vec<Bar> = Vec::new();
        for (sink, op, n) in ops {
            if op < 2 {
                let b = bar(sink as u32, pushed.len() as i64, 0);
                h.push([b].iter());
                pushed.push(b);
            } else {
                progress[sink] += n;
                shared.mark(sinks[sink], progress[sink]);
                reports[sink].push((progress[sink], pushed.len()));
            }
            let d = h.durable_progress();
            let got = table(&store.table);
            for r in reports.iter().filter(|_| d > Timestamp::MIN) {
                if let Some(&(_, before)) = r.iter().find(|(p, _)| *p >= d) {
                    for b in &pushed[..before] {
                        prop_assert!(got.contains_key(&(b.instrument.0, b.window_start)),
                            "durable {} but bar {:?} pushed before a report of it is not written", d, b);
                    }
                }
            }
        }
        for (i, s) in sinks.iter().enumerate() {
            progress[i] += 1;
            shared.mark(*s, progress[i]);
        }
        let r = coord.finish();
        prop_assert_eq!(r.written as usize, pushed.len());
        prop_assert_eq!(h.durable_progress(), progress[0].min(progress[1]));
    }
}
