//! Soak: unique trade ids through dedupe (with its capacity cap) and 1 s bars on the engine,
//! sampling the process once a second — resident memory, threads, open descriptors — and
//! reporting the RSS slope after warm-up (least squares over the second half of the run).
//! Bounded state means a slope near zero and constant thread and descriptor counts.
//!
//! `target/release/soak [TRADES] [CAPACITY]` (defaults 100,000,000 and 1,000,000): 2 shards,
//! 100 instruments, one trade per microsecond of event time, dedupe horizon 10 s.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticklane::operators::prelude::*;
use ticklane::operators::{DedupeConfig, TimeBarsConfig};
use ticklane::{Config, DagBuilder, Engine, Fixed, Kind, Stamped, Trade, TradeId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let trades: u64 = args.get(1).map_or(Ok(100_000_000), |a| a.parse())?;
    let capacity: usize = args.get(2).map_or(Ok(1_000_000), |a| a.parse())?;
    let bars = Arc::new(AtomicU64::new(0));
    let counted = bars.clone();
    let mut g = DagBuilder::new();
    let dedupe = DedupeConfig::builder().ttl(Duration::from_secs(10)).capacity(capacity).build()?;
    g.source("feed", Kind::Trade)
        .dedupe("dedupe", dedupe)
        .time_bars("bars", TimeBarsConfig::builder(Duration::from_secs(1)).build()?)
        .sink_shard::<ticklane::Bar, _, _>("count", move |_| {
            let c = counted.clone();
            move |b: &[Stamped<ticklane::Bar>]| {
                c.fetch_add(b.len() as u64, Relaxed);
            }
        })
        .connect("feed", "dedupe")
        .connect("dedupe", "bars")
        .connect("bars", "count");
    let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
    let mut feed = engine.ingress::<Trade>("feed")?;
    let ids: Vec<_> = (0..100).map(|i| feed.intern(&format!("SOAK:{i:03}"))).collect::<Result<_, _>>()?;

    let done = Arc::new(AtomicBool::new(false));
    let pushed = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, pushed) = (done.clone(), pushed.clone());
        std::thread::spawn(move || sample_every_second(&done, &pushed))
    };
    let t0 = Instant::now();
    let mut chunk = Vec::with_capacity(1024);
    let start = 1_700_000_000_000_000_000i64;
    for seq in 0..trades {
        chunk.push(Trade {
            ts_event: start + seq as i64 * 1_000,
            price: Fixed::from_raw(100_000_000_000 + (seq % 1000) as i64 * 1_000_000),
            size: Fixed::from_raw(1_000_000_000),
            trade_id: TradeId::from_u64(seq),
            instrument: ids[(seq % 100) as usize],
            ..Trade::default()
        });
        if chunk.len() == chunk.capacity() {
            feed.push_all(&chunk)?;
            chunk.clear();
            pushed.store(seq + 1, Relaxed);
        }
    }
    feed.push_all(&chunk)?;
    // Sampling ends with the input: what follows is the engine winding down.
    done.store(true, Relaxed);
    drop(feed);
    let report = engine.join()?;
    let samples = sampler.join().map_err(|_| "sampler panicked")?;
    let secs = t0.elapsed().as_secs_f64();
    let evicted = report.stats.counter("dedupe", ticklane::operators::counters::DEDUPE_EVICTED);
    println!(
        "{trades} unique trades in {secs:.1} s ({:.1} M/s), capacity {capacity}: {} bars, {evicted} keys evicted",
        trades as f64 / secs / 1e6,
        bars.load(Relaxed)
    );
    summarize(&samples);
    Ok(())
}

/// One sample: seconds since start, RSS KiB, threads, open descriptors.
type Sample = (f64, u64, u64, u64);

fn sample_every_second(done: &AtomicBool, pushed: &AtomicU64) -> Vec<Sample> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if done.load(Relaxed) {
            return out;
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| -> u64 {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap_or("");
            line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        let s = (t0.elapsed().as_secs_f64(), field("VmRSS:"), field("Threads:"), fds);
        println!("t={:>5.1}s rss={:>7} KiB threads={} fds={} pushed={}", s.0, s.1, s.2, s.3, pushed.load(Relaxed));
        out.push(s);
    }
}

/// RSS slope over the second half (after warm-up), and the ranges of threads and descriptors.
fn summarize(samples: &[Sample]) {
    let half = &samples[samples.len() / 2..];
    if half.len() < 2 {
        println!("too short to fit a slope ({} samples)", samples.len());
        return;
    }
    let n = half.len() as f64;
    let (mx, my) = (half.iter().map(|s| s.0).sum::<f64>() / n, half.iter().map(|s| s.1 as f64).sum::<f64>() / n);
    let cov: f64 = half.iter().map(|s| (s.0 - mx) * (s.1 as f64 - my)).sum();
    let var: f64 = half.iter().map(|s| (s.0 - mx).powi(2)).sum();
    let range =
        |f: fn(&Sample) -> u64| (samples.iter().map(f).min().unwrap_or(0), samples.iter().map(f).max().unwrap_or(0));
    println!(
        "RSS slope over the last {} s: {:+.1} KiB/s (mean {:.0} KiB); threads {:?}; fds {:?}",
        half.len(),
        cov / var,
        my,
        range(|s| s.2),
        range(|s| s.3)
    );
}
