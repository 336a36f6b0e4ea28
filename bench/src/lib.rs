//! Shared inputs for ticklane's benchmarks: deterministic synthetic trades, and the two
//! pipelines compared in the same run (engine and hand-written), with the same pinning:
//! consumers (engine shard `i`, raw consumer) on core `i`, the producer on the last core.

/// The cores this process may use, read once before anything is pinned (`get_core_ids`
/// reports the *calling thread's* mask, so it must not be asked after pinning).
pub fn cores() -> Vec<usize> {
    static CORES: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default().iter().map(|c| c.id).collect()).clone()
}

/// Pins the calling thread (the producer) to the machine's last core, as the harness does
/// for every scenario; returns whether it was pinned.
pub fn pin_producer() -> bool {
    cores().last().is_some_and(|&id| core_affinity::set_for_current(core_affinity::CoreId { id }))
}

use ticklane::{Fixed, InstrumentId, Trade, TradeId};

/// `n` trades over `instruments` instruments (ids `0..instruments`), 1 µs apart, with a
/// deterministic pseudo-random price walk. Instrument ids must be interned in order by the
/// caller (`SYM0`, `SYM1`, …) when used with an engine.
pub fn synthetic_trades(n: usize, instruments: u32) -> Vec<Trade> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Trade {
                ts_event: 1_700_000_000_000_000_000 + i as i64 * 1_000,
                ts_recv: ticklane::NO_TS,
                price: Fixed::from_raw(100_000_000_000 + (x % 1_000_000) as i64 * 1_000),
                size: Fixed::from_raw(1_000_000_000 + (x >> 40) as i64 % 5_000_000_000),
                trade_id: TradeId::from_u64(i as u64),
                instrument: InstrumentId((x % u64::from(instruments.max(1))) as u32),
                side: ticklane::Side::None,
            }
        })
        .collect()
}

/// A hand-written two-thread pipeline with raw crossbeam: the producer fills batches of
/// `batch` stamped trades, sends them over a bounded channel of `ring` batches, and a
/// consumer thread applies `work` to each batch and counts records. Empty buffers travel
/// back on a second channel, as in the engine. This is the baseline the engine is measured
/// against in the same bench run.
pub struct RawPipeline {
    tx: Option<crossbeam_channel::Sender<Vec<ticklane::Stamped<Trade>>>>,
    back: crossbeam_channel::Receiver<Vec<ticklane::Stamped<Trade>>>,
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
    consumer: Option<std::thread::JoinHandle<()>>,
    batch: usize,
    sent: u64,
}

impl RawPipeline {
    /// Starts the consumer thread; `work` maps an input batch into an output buffer.
    pub fn start<W>(ring: usize, batch: usize, mut work: W) -> RawPipeline
    where
        W: FnMut(&[ticklane::Stamped<Trade>], &mut Vec<ticklane::Stamped<Trade>>) + Send + 'static,
    {
        use std::sync::atomic::Ordering::Release;
        let (tx, rx) = crossbeam_channel::bounded::<Vec<ticklane::Stamped<Trade>>>(ring);
        let (btx, back) = crossbeam_channel::bounded(ring + 2);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let d = done.clone();
        let consumer_core = cores().first().copied();
        let consumer = std::thread::spawn(move || {
            if let Some(id) = consumer_core {
                core_affinity::set_for_current(core_affinity::CoreId { id });
            }
            let mut out = Vec::with_capacity(batch);
            let mut n = 0u64;
            // Spin like a pinned engine shard does (blocking `recv` would add futex wake-ups).
            loop {
                let mut b = match rx.try_recv() {
                    Ok(b) => b,
                    Err(crossbeam_channel::TryRecvError::Empty) => {
                        std::hint::spin_loop();
                        continue;
                    }
                    Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                };
                work(&b, &mut out);
                n += out.len() as u64;
                out.clear();
                b.clear();
                let _ = btx.try_send(b);
                d.store(n, Release);
            }
        });
        RawPipeline { tx: Some(tx), back, done, consumer: Some(consumer), batch, sent: 0 }
    }

    /// Sends `trades` in batches and waits until the consumer has processed `expect_out`
    /// more output records.
    pub fn run(&mut self, trades: &[Trade], expect_out: u64) {
        use std::sync::atomic::Ordering::Acquire;
        let Some(tx) = &self.tx else { return };
        for chunk in trades.chunks(self.batch) {
            let mut b = self.back.try_recv().unwrap_or_else(|_| Vec::with_capacity(self.batch));
            b.extend(chunk.iter().map(|&rec| ticklane::Stamped { wm: 0, rec }));
            if tx.send(b).is_err() {
                return;
            }
        }
        self.sent += expect_out;
        while self.done.load(Acquire) < self.sent {
            std::hint::spin_loop();
        }
    }
}

impl Drop for RawPipeline {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.consumer.take() {
            let _ = h.join();
        }
    }
}

/// A started 1-source engine whose shard-thread sink counts records, for benches: push
/// trades, then wait until the sink has seen the expected count.
pub struct EnginePipeline {
    feed: Option<ticklane::Ingress<Trade>>,
    engine: Option<ticklane::Engine>,
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
    sent: u64,
}

impl EnginePipeline {
    /// `feed` → (`identity` operator if `with_operator`) → counting sink, one shard per
    /// `shards`, instruments `SYM0..SYM{instruments}` interned in order.
    pub fn start(shards: usize, ring: usize, batch: usize, instruments: u32, with_operator: bool) -> EnginePipeline {
        use std::sync::atomic::Ordering::Release;
        use ticklane::{Config, DagBuilder, Engine, Kind, Stamped, WaitStrategy};
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let d = done.clone();
        let mut g = DagBuilder::new();
        g.source("feed", Kind::Trade).sink_callback::<Trade, _, _>("count", move |_| {
            let d = d.clone();
            move |b: &[Stamped<Trade>]| {
                d.fetch_add(b.len() as u64, Release);
            }
        });
        if with_operator {
            g.transform::<Trade, Trade, _, _>("identity", |_| {
                |i: &[Stamped<Trade>], o: &mut Vec<Stamped<Trade>>| o.extend_from_slice(i)
            })
            .connect("feed", "identity")
            .connect("identity", "count");
        } else {
            g.connect("feed", "count");
        }
        let cfg = Config::new()
            .with_shards(shards)
            .and_then(|c| c.with_ring_capacity(ring))
            .and_then(|c| c.with_batch_size(batch))
            .and_then(|c| c.with_flush_every(1 << 20))
            .map(|c| c.with_wait(WaitStrategy::SpinThenYield { spins: 1 << 16 }))
            .map(|c| c.with_placement(ticklane::Placement::Cores(cores())))
            .expect("bench config is valid");
        let dag = g.build().expect("bench graph is valid");
        let mut engine = Engine::start(dag, cfg).expect("engine starts");
        let mut feed = engine.ingress::<Trade>("feed").expect("source exists");
        for i in 0..instruments {
            feed.intern(&format!("SYM{i}")).expect("intern");
        }
        EnginePipeline { feed: Some(feed), engine: Some(engine), done, sent: 0 }
    }

    /// Pushes `trades`, flushes, and waits until the sink counted `expect_out` more.
    pub fn run(&mut self, trades: &[Trade], expect_out: u64) {
        use std::sync::atomic::Ordering::Acquire;
        let Some(feed) = &mut self.feed else { return };
        for &t in trades {
            if feed.push(t).is_err() {
                return;
            }
        }
        if feed.flush().is_err() {
            return;
        }
        self.sent += expect_out;
        while self.done.load(Acquire) < self.sent {
            std::hint::spin_loop();
        }
    }
}

impl Drop for EnginePipeline {
    fn drop(&mut self) {
        self.feed = None;
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
    }
}
