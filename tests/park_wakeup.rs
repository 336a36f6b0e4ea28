//! Parked shards are woken by the data that arrives, not by their park timeout: with an hour's
//! timeout, every record must still be delivered (a lost wake-up would hang; the watchdog is a
//! hang guard, not a speed assertion). Likewise `stop`, `abort` and `join` wake parked shards,
//! and a bulk load's deferred wake-ups (`Ingress::defer_wakeups`) are rung by a flush, by the
//! end of the source and by a full ring.

mod common;

use common::{seq_trade, watchdog};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use ticklane::{Config, DagBuilder, Engine, Kind, Stamped, Trade, WaitStrategy};

const HOUR: Duration = Duration::from_secs(3600);

fn engine(shards: usize, seen: Arc<AtomicU64>) -> Engine {
    engine_with(shards, 1024, seen)
}

fn engine_with(shards: usize, ring: usize, seen: Arc<AtomicU64>) -> Engine {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .sink_shard::<Trade, _, _>("count", move |_| {
            let seen = seen.clone();
            move |b: &[Stamped<Trade>]| {
                seen.fetch_add(b.len() as u64, SeqCst);
            }
        })
        .connect("feed", "count");
    let cfg = Config::builder()
        .shards(shards)
        .batch_size(1)
        .ring_capacity(ring)
        .wait(WaitStrategy::Park { spins: 1, timeout: HOUR })
        .build()
        .expect("config");
    Engine::start(g.build().expect("graph"), cfg).expect("start")
}

#[test]
fn records_reach_parked_shards_without_waiting_for_the_timeout() {
    watchdog(Duration::from_secs(120), || {
        let seen = Arc::new(AtomicU64::new(0));
        let mut e = engine(2, seen.clone());
        let mut feed = e.ingress::<Trade>("feed").expect("ingress");
        let ids: Vec<_> = (0..8).map(|i| feed.intern(&format!("S{i}")).expect("intern")).collect();
        for i in 0..300u64 {
            // Vary the moment of the send against the shard's way into parking.
            match i % 3 {
                0 => std::thread::sleep(Duration::from_micros(200)),
                1 => std::thread::yield_now(),
                _ => {}
            }
            feed.push(seq_trade(ids[i as usize % ids.len()], i as i64, i)).expect("push");
            until(&seen, i + 1);
        }
        drop(feed);
        e.join().expect("clean run");
        assert_eq!(seen.load(SeqCst), 300);
    });
}

#[test]
fn stop_abort_and_join_wake_parked_shards() {
    watchdog(Duration::from_secs(120), || {
        for how in 0..3 {
            let seen = Arc::new(AtomicU64::new(0));
            let mut e = engine(2, seen.clone());
            let mut feed = e.ingress::<Trade>("feed").expect("ingress");
            let id = feed.intern("S0").expect("intern");
            feed.push(seq_trade(id, 1, 1)).expect("push");
            until(&seen, 1);
            std::thread::sleep(Duration::from_millis(20)); // let both shards park
            match how {
                0 => {
                    e.stop().expect("graceful stop");
                    assert!(feed.push(seq_trade(id, 2, 2)).is_err(), "sends after a stop are refused");
                }
                1 => {
                    drop(feed);
                    let _ = e.abort();
                }
                _ => {
                    // The ingress stays taken but unused: `join` waits for it to end, so end it.
                    drop(feed);
                    e.join().expect("clean run");
                }
            }
        }
    });
}

/// Far more sends than any test makes: only a flush, the end or a full ring may wake.
const NEVER: std::num::NonZeroU32 = std::num::NonZeroU32::new(1_000_000).expect("nonzero");

/// Waits (yielding) until `seen` reaches `n`.
fn until(seen: &AtomicU64, n: u64) {
    while seen.load(SeqCst) < n {
        std::thread::yield_now();
    }
}

#[test]
fn a_flush_rings_the_wakeups_a_bulk_load_deferred() {
    watchdog(Duration::from_secs(120), || {
        let seen = Arc::new(AtomicU64::new(0));
        let mut e = engine(2, seen.clone());
        let mut feed = e.ingress::<Trade>("feed").expect("ingress");
        let ids: Vec<_> = (0..8).map(|i| feed.intern(&format!("S{i}")).expect("intern")).collect();
        feed.push(seq_trade(ids[0], 0, 0)).expect("push");
        until(&seen, 1);
        feed.defer_wakeups(NEVER);
        for round in 1..4u64 {
            std::thread::sleep(Duration::from_millis(20)); // let both shards park
            let pushes: Vec<Trade> =
                (0..50).map(|i| seq_trade(ids[i as usize % 8], (round * 100 + i) as i64, i)).collect();
            feed.push_all(&pushes).expect("push_all");
            feed.flush().expect("flush");
            until(&seen, 1 + round * 50);
        }
        drop(feed);
        e.join().expect("clean run");
        assert_eq!(seen.load(SeqCst), 151);
    });
}

#[test]
fn the_end_of_a_bulk_load_and_a_full_ring_wake_parked_shards() {
    watchdog(Duration::from_secs(120), || {
        let seen = Arc::new(AtomicU64::new(0));
        let mut e = engine_with(1, 4, seen.clone());
        let mut feed = e.ingress::<Trade>("feed").expect("ingress");
        let id = feed.intern("S0").expect("intern");
        feed.push(seq_trade(id, 0, 0)).expect("push");
        until(&seen, 1);
        feed.defer_wakeups(NEVER);
        // Let the shard park; then 100 sends into a ring of 4: each time it fills, the producer
        // must wake the shard.
        std::thread::sleep(Duration::from_millis(20));
        for i in 1..=100u64 {
            feed.push(seq_trade(id, i as i64, i)).expect("push");
        }
        until(&seen, 97);
        std::thread::sleep(Duration::from_millis(20));
        drop(feed); // the end: the last records and the end wake the shard
        e.join().expect("clean run");
        assert_eq!(seen.load(SeqCst), 101);
    });
}
