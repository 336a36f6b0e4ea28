//! A writer thread: batches from the queue, upserts with retries, capped exponential backoff
//! and a circuit breaker, and publishes the store's metrics.

use super::queue::{key, Shared, Take};
use super::{BarStore, StoreRow};
use hashbrown::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticklane_engine::Bar;

/// How often an idle or waiting writer publishes the queue gauges.
const TICK: Duration = Duration::from_millis(100);

/// Consecutive failures and, when open, when the breaker lets one probe through; `/readyz`
/// says the store is not writable while the circuit is open.
struct Breaker {
    consecutive: u32,
    open_until: Option<Instant>,
    ready: ticklane_engine::health::Probe,
}

pub(crate) fn run<S: BarStore>(shared: Arc<Shared>, mut store: S) {
    let ready = ticklane_engine::health::probe("sink store");
    ready.set(true);
    let mut breaker = Breaker { consecutive: 0, open_until: None, ready };
    let mut published = Instant::now();
    publish(&shared);
    loop {
        if published.elapsed() >= TICK {
            publish(&shared);
            published = Instant::now();
        }
        match shared.take(TICK) {
            Take::Done => break,
            Take::Idle => {}
            Take::Rows(bars, start) => {
                let rows = rows(&shared, bars);
                let written = write(&shared, &mut store, &mut breaker, &rows);
                shared.settled(start, written);
                if !written {
                    // The flush deadline passed with the store still failing: nothing more
                    // will be written, so count what waits and keep draining late pushes.
                    shared.abandon_waiting();
                }
            }
        }
    }
    publish(&shared);
}

/// Names the bars and keeps the newest revision per key (one upsert statement cannot touch a
/// row twice); the superseded ones are counted as conflated.
fn rows(shared: &Shared, bars: Vec<Bar>) -> Vec<StoreRow> {
    let names = shared.names.get();
    let mut at: HashMap<_, usize, ahash::RandomState> = HashMap::default();
    let mut out: Vec<StoreRow> = Vec::with_capacity(bars.len());
    for bar in bars {
        match at.get(&key(&bar)) {
            Some(&i) => {
                if bar.revision >= out[i].bar.revision {
                    out[i].bar = bar;
                }
                shared.counters.conflated.fetch_add(1, Relaxed);
            }
            None => {
                at.insert(key(&bar), out.len());
                let instrument = names
                    .and_then(|n| n.name(bar.instrument))
                    .unwrap_or_else(|| format!("#{}", bar.instrument.0).into());
                out.push(StoreRow { instrument, bar });
            }
        }
    }
    out
}

/// Writes one batch until it succeeds (true) or the deadline passes (false; the rows are
/// counted as unwritten).
fn write<S: BarStore>(shared: &Shared, store: &mut S, breaker: &mut Breaker, rows: &[StoreRow]) -> bool {
    let cfg = &shared.cfg;
    let c = &shared.counters;
    let mut backoff = cfg.retry_initial;
    let mut attempt = 0u64;
    loop {
        if shared.superseded.load(Relaxed) {
            c.unwritten.fetch_add(rows.len() as u64, Relaxed);
            return false;
        }
        if let Some(until) = breaker.open_until {
            if !nap(shared, until) {
                c.unwritten.fetch_add(rows.len() as u64, Relaxed);
                return false;
            }
            log::info!("store: circuit half-open, probing with a batch of {} rows", rows.len());
        }
        if attempt > 0 {
            c.retries.fetch_add(1, Relaxed);
        }
        attempt += 1;
        let t = Instant::now();
        let result = match catch_unwind(AssertUnwindSafe(|| store.upsert(rows))) {
            Ok(Err(e)) if S::superseded(&e) => {
                c.failures.fetch_add(1, Relaxed);
                fenced_off(shared, e.to_string());
                continue;
            }
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("the store panicked".to_string()),
        };
        metrics::histogram!("ticklane_store_write_seconds").record(t.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                c.written.fetch_add(rows.len() as u64, Relaxed);
                c.batches.fetch_add(1, Relaxed);
                if breaker.open_until.take().is_some() {
                    breaker.ready.set(true);
                    log::info!("store: circuit closed, writes succeed again");
                } else if breaker.consecutive > 0 {
                    log::info!("store: write succeeded after {} failure(s)", breaker.consecutive);
                }
                breaker.consecutive = 0;
                return true;
            }
            Err(e) => {
                c.failures.fetch_add(1, Relaxed);
                breaker.consecutive += 1;
                if breaker.consecutive == 1 {
                    log::warn!("store: write of {} rows failed, retrying: {e}", rows.len());
                } else {
                    log::debug!("store: write failed ({} in a row): {e}", breaker.consecutive);
                }
                *shared.last_error.lock() = Some(e);
                let probe_failed = breaker.open_until.is_some();
                if probe_failed || breaker.consecutive >= cfg.breaker_failures {
                    if !probe_failed {
                        breaker.ready.set(false);
                        c.breaker_opens.fetch_add(1, Relaxed);
                        log::warn!(
                            "store: circuit open after {} consecutive failures; probing every {:?}",
                            breaker.consecutive,
                            cfg.breaker_cool_down
                        );
                    }
                    breaker.open_until = Some(Instant::now() + cfg.breaker_cool_down);
                } else {
                    if !nap(shared, Instant::now() + backoff) {
                        c.unwritten.fetch_add(rows.len() as u64, Relaxed);
                        return false;
                    }
                    backoff = (backoff * 2).min(cfg.retry_max);
                }
            }
        }
    }
}

/// A later claim fenced the store off: said once; no writer writes again.
fn fenced_off(shared: &Shared, e: String) {
    if !shared.superseded.swap(true, Relaxed) {
        log::error!("store: {e}: writing nothing more (another run has taken this run's work over)");
    }
    *shared.last_error.lock() = Some(e);
}

/// Sleeps until `until` in slices, publishing gauges; false if the flush deadline comes first.
fn nap(shared: &Shared, until: Instant) -> bool {
    loop {
        let now = Instant::now();
        if shared.deadline().is_some_and(|d| now >= d) {
            return false;
        }
        if now >= until {
            return true;
        }
        publish(shared);
        std::thread::sleep((until - now).min(TICK));
    }
}

/// Publishes the store's gauges and counters (writer thread; never per bar).
pub(crate) fn publish(shared: &Shared) {
    let s = super::stats_of(shared);
    metrics::gauge!("ticklane_store_queue_depth").set(s.depth as f64);
    metrics::gauge!("ticklane_store_pressure").set(if s.pressured { 1.0 } else { 0.0 });
    metrics::counter!("ticklane_store_bars_total").absolute(s.accepted);
    metrics::counter!("ticklane_store_rows_written_total").absolute(s.written);
    metrics::counter!("ticklane_store_batches_total").absolute(s.batches);
    metrics::counter!("ticklane_store_retries_total").absolute(s.retries);
    metrics::counter!("ticklane_store_write_failures_total").absolute(s.failures);
    metrics::counter!("ticklane_store_shed_total").absolute(s.shed);
    metrics::counter!("ticklane_store_conflated_total").absolute(s.conflated);
    metrics::counter!("ticklane_store_pressure_transitions_total").absolute(s.pressure_on + s.pressure_off);
    metrics::counter!("ticklane_store_breaker_open_total").absolute(s.breaker_opens);
}
